//! What an ExecutableTask runs: a body runs one attempt at a time, in place.
//!
//! - [`Once`]: a plain future; one attempt, never fails on its own (only by panic,
//!   timeout or cancellation).
//! - [`OnceFallible`]: a future returning `Result<T, E>`; `Err` fails the task.
//! - [`Factory`]: a closure making a fresh fallible future per attempt; the only body
//!   that can be retried.
//!
//! Invariants:
//! - A body holds its current attempt's future inline and polls it where it lies: the
//!   task's cell has room for one future, not two, and starting an attempt moves
//!   nothing. (A one-shot body's future is its only attempt.)
//! - The attempt is structurally pinned: once the body is pinned it is only polled in
//!   place and dropped in place (`Pin::set`), never moved. Other fields are not
//!   pinned. No body implements `Drop` or `Unpin` by hand.
//! - Every attempt resolves to `Result<T, BoxError>`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The error a failing task reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Something that runs attempts of a task. Implemented by [`Once`], [`OnceFallible`]
/// and [`Factory`]; built through [`ExecutableTask`](super::ExecutableTask)'s
/// constructors.
pub trait TaskBody: Send + 'static {
    /// The task's value.
    type Output: Send + 'static;

    /// Makes the next attempt the current one (the previous one, if any, was
    /// [`stop`](Self::stop)ped); false when this body cannot start another.
    fn start(self: Pin<&mut Self>) -> bool;

    /// Polls the current attempt.
    fn poll_attempt(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Output, BoxError>>;

    /// Drops the current attempt in place (it finished, failed or timed out).
    fn stop(self: Pin<&mut Self>);
}

/// A single infallible future.
pub struct Once<F>(Option<F>);

/// A single fallible future.
pub struct OnceFallible<F>(Option<F>);

/// A closure making a fallible future per attempt.
pub struct Factory<M, F> {
    make: M,
    attempt: Option<F>,
}

impl<F> Once<F> {
    pub(crate) fn new(future: F) -> Self {
        Once(Some(future))
    }
}

impl<F> OnceFallible<F> {
    pub(crate) fn new(future: F) -> Self {
        OnceFallible(Some(future))
    }
}

impl<M, F> Factory<M, F> {
    pub(crate) fn new(make: M) -> Self {
        Factory {
            make,
            attempt: None,
        }
    }
}

/// The pinned attempt slot of a one-shot body.
fn one_shot<F>(slot: Pin<&mut Option<F>>) -> Pin<&mut F> {
    slot.as_pin_mut()
        .expect("the runner polls only a started, unstopped attempt")
}

impl<F> TaskBody for Once<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn start(self: Pin<&mut Self>) -> bool {
        // Its only attempt is the future it was made with (gone once stopped).
        self.0.is_some()
    }

    fn poll_attempt(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, BoxError>> {
        // SAFETY: structural pinning of the only field (module invariants).
        let slot = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        one_shot(slot).poll(cx).map(Ok)
    }

    fn stop(self: Pin<&mut Self>) {
        // SAFETY: as above; `set` drops the future in place.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.set(None);
    }
}

impl<F, T, E> TaskBody for OnceFallible<F>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Output = T;

    fn start(self: Pin<&mut Self>) -> bool {
        self.0.is_some()
    }

    fn poll_attempt(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, BoxError>> {
        // SAFETY: structural pinning of the only field (module invariants).
        let slot = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        one_shot(slot).poll(cx).map(|r| r.map_err(Into::into))
    }

    fn stop(self: Pin<&mut Self>) {
        // SAFETY: as above; `set` drops the future in place.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.set(None);
    }
}

impl<M, F> Factory<M, F> {
    /// The closure (not pinned) and the pinned attempt slot.
    fn project(self: Pin<&mut Self>) -> (&mut M, Pin<&mut Option<F>>) {
        // SAFETY: `attempt` is structurally pinned and never moved (module
        // invariants); `make` is not pinned, so handing out `&mut M` is fine.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `attempt` lies in the pinned body and is only dropped in place.
        let attempt = unsafe { Pin::new_unchecked(&mut this.attempt) };
        (&mut this.make, attempt)
    }
}

impl<M, F, T, E> TaskBody for Factory<M, F>
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Output = T;

    fn start(self: Pin<&mut Self>) -> bool {
        let (make, mut attempt) = self.project();
        // The runner stopped the previous attempt; `set` would drop it here otherwise.
        attempt.set(Some(make()));
        true
    }

    fn poll_attempt(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, BoxError>> {
        let (_, attempt) = self.project();
        one_shot(attempt).poll(cx).map(|r| r.map_err(Into::into))
    }

    fn stop(self: Pin<&mut Self>) {
        let (_, mut attempt) = self.project();
        attempt.set(None);
    }
}
