//! Driving one future on the calling thread, inside a runtime's context.
//!
//! The calling thread polls the future itself and parks between polls; tasks it spawns
//! run on the runtime's workers. A thread that already drives a runtime (a worker, or
//! inside another `block_on`) is refused: blocking it would stall the tasks it runs.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::context;
use super::park::Parker;
use super::{BlockOnError, Handle};

struct ParkWaker(Parker);

impl Wake for ParkWaker {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.unpark();
    }
}

crate::sync::thread_local! {
    static CACHED: (Parker, Waker) = {
        let parker = Parker::new();
        let waker = Waker::from(StdArc::new(ParkWaker(parker.clone())));
        (parker, waker)
    };
}

pub(crate) fn try_block_on<F: Future>(
    handle: &Handle,
    future: F,
) -> Result<F::Output, BlockOnError> {
    let _driving = context::try_enter_blocking().ok_or(BlockOnError(()))?;
    let _entered = context::enter(handle.clone());
    Ok(run_until_complete(future))
}

#[track_caller]
pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    match try_block_on(handle, future) {
        Ok(output) => output,
        Err(e) => panic!("{e}"),
    }
}

/// Polls `future` on this thread, parking between polls, until it completes.
pub(crate) fn run_until_complete<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let (parker, waker) = CACHED.with(|(p, w)| (p.clone(), w.clone()));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        parker.park();
    }
}
