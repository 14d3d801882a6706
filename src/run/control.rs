//! The thread-safe handle that pauses, resumes and cancels runs.
//!
//! Invariants:
//! - `paused` is the one source of truth; it is written under `listeners`' lock, so a listener
//!   registered while a pause or resume is under way sees the state it was registered under and
//!   then every later change.
//! - Listeners run on the thread that paused or resumed, outside no lock of the engine's: they only
//!   set flags and wake waiters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::execute::CancelToken;

type Listener = Arc<dyn Fn(bool) + Send + Sync>;

struct Inner {
    cancel: CancelToken,
    paused: AtomicBool,
    next_id: AtomicU64,
    listeners: Mutex<Vec<(u64, Listener)>>,
}

/// Pauses, resumes and cancels the runs it is given to, from any thread.
///
/// Pass it with [`BatchOptions::control`](crate::BatchOptions::control). Cloning gives another
/// handle to the same control; one control may steer several runs at once.
///
/// - [`pause`](Self::pause) stops dispatch: requests in flight finish, nothing new starts. The
///   run's deadline keeps running while it is paused, so a paused run that reaches its deadline
///   ends with every request not started settled [`NotRun`](crate::Outcome::NotRun).
/// - [`resume`](Self::resume) continues dispatch where it stopped.
/// - [`cancel`](Self::cancel) ends the run, paused or not: every request not started settles
///   [`Cancelled`](crate::Outcome::Cancelled) and requests in flight are interrupted.
///
/// ```
/// use httpbatch::BatchControl;
/// let control = BatchControl::new();
/// control.pause();
/// assert!(control.is_paused());
/// control.resume();
/// assert!(!control.is_paused());
/// control.cancel();
/// assert!(control.is_cancelled());
/// ```
#[derive(Clone)]
pub struct BatchControl {
    inner: Arc<Inner>,
}

impl Default for BatchControl {
    fn default() -> Self {
        BatchControl::new()
    }
}

impl fmt::Debug for BatchControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchControl")
            .field("paused", &self.is_paused())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl BatchControl {
    /// A control that is neither paused nor cancelled.
    pub fn new() -> BatchControl {
        BatchControl::with_cancel(CancelToken::new())
    }

    /// A control whose [`cancel`](Self::cancel) is `token`'s.
    pub fn with_cancel(token: CancelToken) -> BatchControl {
        BatchControl {
            inner: Arc::new(Inner {
                cancel: token,
                paused: AtomicBool::new(false),
                next_id: AtomicU64::new(0),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Stops dispatch in every run under this control; requests in flight finish. Idempotent.
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// Continues dispatch. Idempotent.
    pub fn resume(&self) {
        self.set_paused(false);
    }

    /// Whether dispatch is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Acquire)
    }

    /// Cancels every run under this control (paused or not). Idempotent and final.
    pub fn cancel(&self) {
        self.inner.cancel.cancel();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// The cancel token behind [`cancel`](Self::cancel).
    pub fn cancel_token(&self) -> &CancelToken {
        &self.inner.cancel
    }

    fn set_paused(&self, paused: bool) {
        let listeners: Vec<Listener> = {
            let ls = self.inner.listeners.lock();
            if self.inner.paused.swap(paused, Ordering::AcqRel) == paused {
                return;
            }
            ls.iter().map(|(_, f)| f.clone()).collect()
        };
        for f in listeners {
            f(paused);
        }
    }

    /// Calls `f(paused)` on every change of the paused state while the guard lives; returns the
    /// state as of registration.
    pub(crate) fn on_change(&self, f: Listener) -> (bool, ControlGuard) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut ls = self.inner.listeners.lock();
        ls.push((id, f));
        let paused = self.is_paused();
        drop(ls);
        (
            paused,
            ControlGuard {
                control: self.clone(),
                id,
            },
        )
    }
}

/// Unregisters a pause listener when dropped.
pub(crate) struct ControlGuard {
    control: BatchControl,
    id: u64,
}

impl Drop for ControlGuard {
    fn drop(&mut self) {
        self.control
            .inner
            .listeners
            .lock()
            .retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn listeners_see_each_change_once_until_dropped() {
        let c = BatchControl::new();
        let n = Arc::new(AtomicUsize::new(0));
        let seen = n.clone();
        let (paused, guard) = c.on_change(Arc::new(move |p| {
            seen.fetch_add(if p { 1 } else { 10 }, Ordering::SeqCst);
        }));
        assert!(!paused);
        c.pause();
        c.pause();
        c.resume();
        assert_eq!(n.load(Ordering::SeqCst), 11);
        drop(guard);
        c.pause();
        assert_eq!(n.load(Ordering::SeqCst), 11);
        let (paused, _g) = c.on_change(Arc::new(|_| {}));
        assert!(paused);
    }
}
