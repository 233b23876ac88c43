//! taskweave: a work-stealing async runtime that can replace tokio's multi-thread
//! runtime.
//!
//! This is the facade crate; it re-exports the runtime from `taskweave-executor`.
//!
//! ```
//! let rt = taskweave::Runtime::new().unwrap();
//! let v = rt.block_on(async {
//!     let h = taskweave::spawn(async { 1 + 2 });
//!     taskweave::time::sleep(std::time::Duration::from_millis(1)).await;
//!     h.await.unwrap()
//! });
//! assert_eq!(v, 3);
//! ```
#![deny(missing_docs)]

pub use taskweave_executor::*;
