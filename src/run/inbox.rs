//! How runners hand outcomes to the run's calling thread, and how anything wakes that thread.
//!
//! Invariants:
//! - Runners append to `msgs` under the mutex, one message or a runner's held batch of them at a
//!   time ([`Inbox::send_many`]); the caller takes everything at once (one lock per batch of
//!   outcomes, not per outcome) by swapping in its own emptied vector.
//! - The caller sleeps only in [`Inbox::wait`]: it marks itself `waiting` under the same lock in
//!   which it found `msgs` empty, with `wake_at`, the number of messages it needs before it has
//!   anything to do (1 when every outcome must be delivered promptly; otherwise as many as end
//!   the run or make a refill of the input due), then parks. A runner that brings `msgs` to
//!   `wake_at`, or sends a message that must not wait (one that stops the run), clears
//!   `waiting` and unparks the caller. So one wake-up serves a batch of outcomes, and a runner
//!   makes no syscall while the caller is awake or does not yet need it.
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
    wake_at: usize,
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
                wake_at: 1,
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

    /// Hands `msg` to the caller (from a runner); `urgent` wakes the caller whatever it waits
    /// for (a message that stops the run).
    pub(super) fn send(&self, msg: M, urgent: bool) {
        let mut st = self.lock();
        st.msgs.push(msg);
        let wake = st.waiting && (urgent || st.msgs.len() >= st.wake_at);
        if wake {
            st.waiting = false;
        }
        drop(st);
        if wake {
            self.caller.unpark();
        }
    }

    /// Hands every message of `msgs` (emptied) to the caller at once, like [`send`](Self::send).
    pub(super) fn send_many(&self, msgs: &mut Vec<M>, urgent: bool) {
        let mut st = self.lock();
        st.msgs.append(msgs);
        let wake = st.waiting && (urgent || st.msgs.len() >= st.wake_at);
        if wake {
            st.waiting = false;
        }
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

    /// Like [`take`](Self::take), but when fewer than `need` messages have arrived, sleeps until
    /// they have (or an urgent one), the bell rings, or `until` passes (`None`: no timer), then
    /// takes what arrived. May return with less (a bell, the timer, a spurious wake-up): the
    /// caller then looks at its state again.
    pub(super) fn wait(&self, into: &mut Vec<M>, until: Option<Instant>, need: usize) {
        {
            let mut st = self.lock();
            if st.msgs.len() >= need.max(1) {
                std::mem::swap(&mut st.msgs, into);
                return;
            }
            st.waiting = true;
            st.wake_at = need.max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes from `inbox` until `n` messages have arrived, waiting for `need` at a time.
    fn take_all(inbox: &Inbox<u32>, n: usize, need: usize) -> Vec<u32> {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while got.len() < n {
            inbox.wait(&mut buf, None, need);
            got.append(&mut buf);
        }
        got
    }

    #[test]
    fn a_caller_waiting_for_a_batch_gets_every_message_in_order() {
        for _ in 0..200 {
            let inbox = Inbox::new();
            std::thread::scope(|s| {
                s.spawn(|| (0..50).for_each(|i| inbox.send(i, false)));
                assert_eq!(take_all(&inbox, 50, 50), (0..50).collect::<Vec<_>>());
            });
        }
    }

    #[test]
    fn an_urgent_message_wakes_a_caller_waiting_for_more() {
        for _ in 0..200 {
            let inbox = Inbox::new();
            std::thread::scope(|s| {
                s.spawn(|| inbox.send(7, true));
                // Waits for 1,000: only the urgent send can end this wait.
                assert_eq!(take_all(&inbox, 1, 1000), [7]);
            });
        }
    }

    #[test]
    fn the_bell_wakes_a_waiting_caller() {
        let inbox: Inbox<u32> = Inbox::new();
        let bell = inbox.bell();
        std::thread::scope(|s| {
            s.spawn(move || bell.ring());
            let mut buf = Vec::new();
            inbox.wait(&mut buf, None, 1);
            assert!(buf.is_empty());
        });
    }
}
