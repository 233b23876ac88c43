//! The process-wide default runtime, started on first use by `taskweave::block_on`,
//! and by `spawn` or the time functions when called outside any runtime.
//!
//! It has one worker per available core and lives until the process exits. A program
//! that wants control over workers, names or shutdown builds its own `Runtime`.

use std::sync::OnceLock;

use super::{Builder, Handle, Runtime};

static GLOBAL: OnceLock<Runtime> = OnceLock::new();

/// The default runtime's handle, starting it if needed.
///
/// # Panics
/// If its threads cannot be started (the OS refuses to create threads); there is no
/// runtime to fall back to then.
pub(crate) fn global_handle() -> &'static Handle {
    GLOBAL
        .get_or_init(|| {
            Builder::new_multi_thread()
                .thread_name("taskweave-global")
                .build()
                .unwrap_or_else(|e| panic!("cannot start the default taskweave runtime: {e}"))
        })
        .handle()
}
