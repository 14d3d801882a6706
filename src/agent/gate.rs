//! Keeps a client's connections close to what its concurrency needs across many origins.
//!
//! Each origin's agent opens a connection whenever its idle pool is empty. With requests spread
//! over many origins, a request often finds its origin's only connection still busy with the
//! previous request while other origins' connections sit idle, and the connections opened add up
//! to the sum of every origin's peak concurrency (W7, 64 origins at 64 in flight: 147–182 opened
//! where 128 do). The gate holds such a request back, briefly, for its origin's connection to
//! come back, but only while the client already holds more connections than its requests in
//! flight plus one per origin could use; otherwise it opens one at once.
//!
//! Invariants:
//! - `held` is every counted connection of the client open now (the origins' `opened - closed`
//!   summed) plus those reserved by requests on their way to open one; `in_flight` counts the
//!   requests inside the leaf, `origins` the agents created. A request holds at most one ticket
//!   (a claim on an idle connection of its origin, or a reservation), given back when the
//!   connection is checked out or opened, or when its pass is dropped.
//! - An idle connection counts once ureq has put it back in its pool (after the request that
//!   used it), so a claim is never made on a connection the pool does not hold yet.
//! - A waiter registers in `waiters` under `lock` before it re-checks; whoever returns a
//!   connection to an idle pool or closes one changes the counts first and then, if anybody
//!   waits, takes `lock` before notifying: so no wake-up is lost.
//! - A wait never exceeds [`MAX_WAIT`], the request's deadline or its cancellation: the gate
//!   can only delay a connection, never refuse one.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::connector::ConnCounters;
use crate::execute::Context;

/// The longest a request waits for its origin's busy connection before it opens its own:
/// about what a new connection costs over a network (TCP and TLS handshakes).
const MAX_WAIT: Duration = Duration::from_millis(200);

/// How often a waiter looks at its cancellation and deadline.
const SLICE: Duration = Duration::from_millis(1);

thread_local! {
    /// What this thread's request holds: nothing, a claim on an idle connection of its origin,
    /// or a reservation of a new connection.
    static TICKET: Cell<Ticket> = const { Cell::new(Ticket::None) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ticket {
    None,
    Claim,
    Reservation,
}

/// Called when the current request opens a connection: whether it had reserved it (else the
/// connection is counted now).
pub(crate) fn take_reservation() -> bool {
    take(Ticket::Reservation)
}

/// Called when the current request checks a connection out of the idle pool: whether it had
/// claimed one.
pub(crate) fn take_claim() -> bool {
    take(Ticket::Claim)
}

fn take(ticket: Ticket) -> bool {
    TICKET.with(|t| {
        let held = t.get() == ticket;
        if held {
            t.set(Ticket::None);
        }
        held
    })
}

#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Connections open plus connections reserved.
    held: AtomicUsize,
    in_flight: AtomicUsize,
    origins: AtomicUsize,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight<'a>(&'a Gate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

/// Gives back what a request's pass through the gate still holds once it is written (or failed).
pub(crate) struct Pass<'a> {
    gate: &'a Gate,
    counters: &'a ConnCounters,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        match TICKET.with(|t| t.replace(Ticket::None)) {
            Ticket::None => {}
            Ticket::Claim => {
                self.counters.claims.fetch_sub(1, SeqCst);
                self.gate.wake();
            }
            Ticket::Reservation => {
                self.counters.opening.fetch_sub(1, SeqCst);
                self.gate.held.fetch_sub(1, SeqCst);
                self.gate.wake();
            }
        }
    }
}

impl Gate {
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        InFlight(self)
    }

    pub(crate) fn add_origin(&self) {
        self.origins.fetch_add(1, SeqCst);
    }

    /// A connection opened that was not reserved.
    pub(crate) fn opened(&self) {
        self.held.fetch_add(1, SeqCst);
    }

    pub(crate) fn closed(&self) {
        self.held.fetch_sub(1, SeqCst);
        self.wake();
    }

    /// A connection went back to its origin's idle pool.
    pub(crate) fn returned(&self) {
        self.wake();
    }

    fn wake(&self) {
        if self.waiters.load(SeqCst) > 0 {
            drop(self.lock.lock());
            self.changed.notify_all();
        }
    }

    /// Lets a request to the origin of `counters` through when it can claim one of the
    /// origin's idle connections, when the origin has no connection open or being opened to
    /// wait for, or when the
    /// client holds fewer connections than its requests in flight plus one per origin (it then
    /// reserves the connection it may open).
    fn try_pass(&self, counters: &ConnCounters) -> bool {
        let idle = counters.idle();
        let mut claims = counters.claims.load(SeqCst);
        while claims < idle {
            match counters
                .claims
                .compare_exchange(claims, claims + 1, SeqCst, SeqCst)
            {
                Ok(_) => {
                    TICKET.set(Ticket::Claim);
                    return true;
                }
                Err(now) => claims = now,
            }
        }
        if counters.live() == 0
            && counters
                .opening
                .compare_exchange(0, 1, SeqCst, SeqCst)
                .is_ok()
        {
            self.held.fetch_add(1, SeqCst);
            TICKET.set(Ticket::Reservation);
            return true;
        }
        let room = self.in_flight.load(SeqCst) + self.origins.load(SeqCst);
        let mut held = self.held.load(SeqCst);
        while held < room {
            match self.held.compare_exchange(held, held + 1, SeqCst, SeqCst) {
                Ok(_) => {
                    counters.opening.fetch_add(1, SeqCst);
                    TICKET.set(Ticket::Reservation);
                    return true;
                }
                Err(now) => held = now,
            }
        }
        false
    }

    /// Waits, at most [`MAX_WAIT`], until a request to the origin of `counters` may go ahead
    /// (see [`try_pass`](Self::try_pass)); returns at once when it may, when `ctx` is cancelled
    /// and at `deadline`. The request goes ahead in every case; the pass gives back what it
    /// holds when dropped, after the request.
    pub(crate) fn pass<'a>(
        &'a self,
        counters: &'a ConnCounters,
        ctx: &Context,
        deadline: Option<Instant>,
    ) -> Pass<'a> {
        TICKET.set(Ticket::None);
        let pass = Pass {
            gate: self,
            counters,
        };
        if self.try_pass(counters) {
            return pass;
        }
        let start = Instant::now();
        let until = deadline.map_or(start + MAX_WAIT, |d| d.min(start + MAX_WAIT));
        let mut guard = self.lock.lock();
        self.waiters.fetch_add(1, SeqCst);
        while !self.try_pass(counters) && ctx.check().is_ok() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            self.changed.wait_for(&mut guard, SLICE.min(until - now));
        }
        self.waiters.fetch_sub(1, SeqCst);
        pass
    }
}
