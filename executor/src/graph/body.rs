//! What an ExecutableTask runs: a body produces one future per attempt.
//!
//! - [`Once`]: a plain future; one attempt, never fails on its own (only by panic,
//!   timeout or cancellation).
//! - [`OnceFallible`]: a future returning `Result<T, E>`; `Err` fails the task.
//! - [`Factory`]: a closure making a fresh fallible future per attempt; the only body
//!   that can be retried.
//!
//! Every attempt's future resolves to `Result<T, BoxError>`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The error a failing task reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Something that can start attempts of a task. Implemented by [`Once`],
/// [`OnceFallible`] and [`Factory`]; built through
/// [`ExecutableTask`](super::ExecutableTask)'s constructors.
pub trait TaskBody: Send + 'static {
    /// The task's value.
    type Output: Send + 'static;
    /// One attempt.
    type Attempt: Future<Output = Result<Self::Output, BoxError>> + Send + 'static;

    /// Starts the next attempt, or `None` when this body cannot make another one.
    fn start(&mut self) -> Option<Self::Attempt>;
}

/// A single infallible future.
pub struct Once<F>(Option<F>);

/// A single fallible future.
pub struct OnceFallible<F>(Option<F>);

/// A closure making a fallible future per attempt.
pub struct Factory<M>(M);

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

impl<M> Factory<M> {
    pub(crate) fn new(make: M) -> Self {
        Factory(make)
    }
}

impl<F> TaskBody for Once<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    type Attempt = Infallible<F>;

    fn start(&mut self) -> Option<Self::Attempt> {
        self.0.take().map(Infallible)
    }
}

impl<F, T, E> TaskBody for OnceFallible<F>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Output = T;
    type Attempt = Fallible<F>;

    fn start(&mut self) -> Option<Self::Attempt> {
        self.0.take().map(Fallible)
    }
}

impl<M, F, T, E> TaskBody for Factory<M>
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Output = T;
    type Attempt = Fallible<F>;

    fn start(&mut self) -> Option<Self::Attempt> {
        Some(Fallible((self.0)()))
    }
}

/// Wraps an infallible future's output in `Ok`.
pub struct Infallible<F>(F);

impl<F: Future> Future for Infallible<F> {
    type Output = Result<F::Output, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; `Infallible` has no Drop impl,
        // is not Unpin unless F is, and never moves the field.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx).map(Ok)
    }
}

/// Boxes a fallible future's error.
pub struct Fallible<F>(F);

impl<F, T, E> Future for Fallible<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `Infallible`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx).map(|r| r.map_err(Into::into))
    }
}
