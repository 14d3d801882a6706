//! One shared request in flight and the callers waiting for it.
//!
//! Invariants:
//! - The flight table and every flight's `waiters` count change only under the table's lock, so
//!   a caller never joins a flight that its last waiter has just abandoned: the abandoning waiter
//!   removes it from the table (under the lock) before cancelling its token.
//! - A flight's token is cancelled only when its last waiter has left before the outcome: the
//!   shared request never carries one caller's cancel or deadline.
//! - The outcome is set once, after the flight left the table; waiters register their thread
//!   before looking at it, so a completion between the look and the park unparks them.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::thread::Thread;
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::Error;
use crate::execute::{CancelToken, Context};
use crate::response::Response;

/// Keys are shared by the table and the job that finishes the flight (a count, not a copy).
pub(super) type Table = Mutex<HashMap<Arc<[u8]>, Arc<Flight>>>;

pub(super) struct Flight {
    pub(super) token: CancelToken,
    /// Changed only under the table's lock.
    waiters: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    outcome: Option<Result<Response, Arc<Error>>>,
    /// Waiters that have taken their copy of the outcome.
    collected: usize,
    parked: Vec<Thread>,
}

/// How a waiter's wait ended.
pub(super) enum Waited {
    Done(Result<Response, Error>),
    /// It left (its cancel or deadline); `last` if the flight was abandoned with it.
    Left {
        error: Error,
        last: bool,
    },
}

impl Flight {
    /// A flight with its first waiter.
    pub(super) fn new() -> Flight {
        Flight {
            token: CancelToken::new(),
            waiters: 1.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// Adds a waiter; call under the table's lock.
    pub(super) fn join(&self) {
        self.waiters
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Callers waiting now; read under the table's lock.
    pub(super) fn waiters(&self) -> usize {
        self.waiters.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the outcome and wakes every waiter. The flight must already be out of the table.
    pub(super) fn finish(&self, outcome: Result<Response, Error>) {
        let parked = {
            let mut s = self.state.lock();
            s.outcome = Some(outcome.map_err(Arc::new));
            std::mem::take(&mut s.parked)
        };
        for t in parked {
            t.unpark();
        }
    }

    /// Waits for the outcome under the caller's own cancel and deadline; each caller gets its
    /// own copy, tagged with its request's tag.
    pub(super) fn wait(
        self: &Arc<Self>,
        table: &Table,
        key: &[u8],
        tag: u64,
        ctx: &Context,
    ) -> Waited {
        let me = std::thread::current();
        self.state.lock().parked.push(me.clone());
        let _guard = ctx.cancel_token().map(|t| t.unpark_on_cancel(me));
        loop {
            {
                let mut s = self.state.lock();
                if s.outcome.is_some() {
                    s.collected += 1;
                    // No join after the outcome (the flight has left the table), and a waiter
                    // that leaves never collects: once `collected` reaches `waiters`, nobody
                    // else will read the outcome, so the last collector moves it out.
                    let last = s.collected == self.waiters();
                    let outcome = if last {
                        s.outcome.take().expect("checked")
                    } else {
                        copy(s.outcome.as_ref().expect("checked"))
                    };
                    drop(s);
                    return Waited::Done(
                        outcome
                            .map(|r| r.with_tag(tag))
                            .map_err(|e| Arc::try_unwrap(e).unwrap_or_else(|e| share_error(&e))),
                    );
                }
            }
            if let Err(error) = ctx.check() {
                return self.leave(table, key, error);
            }
            match ctx.deadline() {
                Some(d) => std::thread::park_timeout(d.saturating_duration_since(Instant::now())),
                None => std::thread::park(),
            }
        }
    }

    fn leave(self: &Arc<Self>, table: &Table, key: &[u8], error: Error) -> Waited {
        let me = std::thread::current().id();
        self.state.lock().parked.retain(|t| t.id() != me);
        let last = {
            let mut table = table.lock();
            let left = self
                .waiters
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed)
                - 1;
            let abandoned = left == 0 && {
                let s = self.state.lock();
                s.outcome.is_none() && s.collected == 0
            };
            if abandoned && table.get(key).is_some_and(|f| Arc::ptr_eq(f, self)) {
                table.remove(key);
            }
            abandoned
        };
        if last {
            self.token.cancel();
        }
        // The outcome may have landed while this waiter gave up; its own cancel still wins.
        Waited::Left { error, last }
    }
}

/// A copy of the shared outcome.
fn copy(outcome: &Result<Response, Arc<Error>>) -> Result<Response, Arc<Error>> {
    match outcome {
        Ok(res) => Ok(res.clone()),
        Err(e) => Err(e.clone()),
    }
}

/// An error for one waiter: the same kind, message, attempts and `Retry-After`, with the
/// original's cause reachable through `source()`.
pub(super) fn share_error(e: &Arc<Error>) -> Error {
    let mut out = match e.source() {
        Some(_) => Error::with_source(e.kind(), e.message(), SharedCause(e.clone())),
        None => Error::new(e.kind(), e.message()),
    };
    out.set_attempts(e.attempts());
    if let Some(wait) = e.retry_after() {
        out = out.with_retry_after(wait);
    }
    out
}

/// The cause of a shared error: displays and chains like the original's cause.
struct SharedCause(Arc<Error>);

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.source() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => f.write_str("SharedCause"),
        }
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.source() {
            Some(s) => fmt::Display::fmt(s, f),
            None => f.write_str(self.0.message()),
        }
    }
}

impl StdError for SharedCause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source().and_then(|s| s.source())
    }
}
