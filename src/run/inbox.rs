//! How runners hand outcomes to the run's calling thread, and how anything wakes that thread.
//!
//! Invariants:
//! - Runners append to `msgs` under the mutex; the caller takes everything at once (one lock per
//!   batch of outcomes, not per outcome) by swapping in its own emptied vector.
//! - The caller sleeps only in [`Inbox::wait`]: it marks itself `waiting` under the same lock in
//!   which it found `msgs` empty, then parks. A runner that appends while `waiting` is set clears
//!   it and unparks the caller, so one wake-up serves every outcome that arrives before the caller
//!   runs again, and a runner makes no syscall while the caller is awake.
//! - Anything else that must wake the caller (a cancel, a pause, a resume) calls
//!   [`Bell::ring`], which unparks it. A thread's park token survives until its next park, so a
//!   wake-up between the caller's last check and its park is never lost; a spurious one only
//!   costs a turn of the caller's loop.
//! - Nothing here spins or yields: the caller blocks in the kernel (futex) or not at all.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::Instant;

struct State<M> {
    msgs: Vec<M>,
    waiting: bool,
}

pub(super) struct Inbox<M> {
    state: Mutex<State<M>>,
    caller: Thread,
}

/// Wakes the run's calling thread; `'static`, for cancel and pause listeners.
#[derive(Clone)]
pub(super) struct Bell(Thread);

impl Bell {
    pub(super) fn ring(&self) {
        self.0.unpark();
    }
}

impl<M> Inbox<M> {
    /// An inbox whose reader is the calling thread.
    pub(super) fn new() -> Inbox<M> {
        Inbox {
            state: Mutex::new(State {
                msgs: Vec::new(),
                waiting: false,
            }),
            caller: thread::current(),
        }
    }

    pub(super) fn bell(&self) -> Bell {
        Bell(self.caller.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `msg` to the caller (from a runner).
    pub(super) fn send(&self, msg: M) {
        let mut st = self.lock();
        st.msgs.push(msg);
        let wake = std::mem::take(&mut st.waiting);
        drop(st);
        if wake {
            self.caller.unpark();
        }
    }

    /// Moves every message received so far into `into` (which the caller has emptied), without
    /// blocking.
    pub(super) fn take(&self, into: &mut Vec<M>) {
        debug_assert!(into.is_empty());
        let mut st = self.lock();
        std::mem::swap(&mut st.msgs, into);
    }

    /// Like [`take`](Self::take), but when nothing has arrived, sleeps until a message arrives,
    /// the bell rings, or `until` passes (`None`: no timer), then takes what arrived. May return
    /// with nothing (a bell, the timer, a spurious wake-up): the caller then looks at its state
    /// again.
    pub(super) fn wait(&self, into: &mut Vec<M>, until: Option<Instant>) {
        {
            let mut st = self.lock();
            if !st.msgs.is_empty() {
                std::mem::swap(&mut st.msgs, into);
                return;
            }
            st.waiting = true;
        }
        match until {
            None => thread::park(),
            Some(u) => {
                let now = Instant::now();
                if u > now {
                    thread::park_timeout(u - now);
                }
            }
        }
        let mut st = self.lock();
        st.waiting = false;
        std::mem::swap(&mut st.msgs, into);
    }
}
