//! Async calls without an async runtime: the blocking work runs on a thread
//! of its own and completes a future that the app's executor (Kotlin
//! coroutines, Swift concurrency, asyncio) polls through uniffi. Nothing of
//! tokio enters the library apps ship.

use crate::error::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The work thread ended (with a value, or by unwinding).
    finished: bool,
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(slot: &Shared<T>) -> MutexGuard<'_, Slot<T>> {
    // The slot holds plain data, consistent at every unlock.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// The work thread's end of the slot: filled once, or dropped unfilled when
/// the thread unwinds. Either way the waiting future wakes.
struct Completer<T>(Shared<T>);

impl<T> Completer<T> {
    fn complete(self, value: T) {
        lock(&self.0).value = Some(value);
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.finished = true;
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

struct Outcome<T>(Shared<T>);

impl<T> Future for Outcome<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.0);
        if slot.finished {
            return Poll::Ready(slot.value.take());
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Runs `work` on a new thread; the returned future completes with its
/// result. Dropping the future does not stop the work (the caller arranges
/// that, e.g. a sync's cancel flag), it only stops waiting for it.
pub(crate) async fn run<T, E>(work: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let slot: Shared<Result<T, E>> = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        finished: false,
    }));
    let completer = Completer(slot.clone());
    let spawned = std::thread::Builder::new()
        .name("silin-call".into())
        .spawn(move || completer.complete(work()));
    if let Err(e) = spawned {
        return Err(StoreError::Storage {
            detail: format!("cannot start a thread for the call ({e}); try again"),
        }
        .into());
    }
    match Outcome(slot).await {
        Some(out) => out,
        // Only a panic ends the thread without a value; it is a bug, and
        // the app still gets a typed error.
        None => Err(StoreError::Storage {
            detail: "the call stopped unexpectedly; please report this".into(),
        }
        .into()),
    }
}
