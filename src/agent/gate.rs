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
//! - Waiters queue in arrival order, each on a condition variable of its own, so an event wakes
//!   at most one of them, the one it can let through: a connection back in an origin's idle pool
//!   wakes the first waiter for that origin (the returning thread's request was to that origin:
//!   [`ORIGIN`]); a connection closed or a reservation given back (room for one more) wakes the
//!   first waiter. Waking every waiter on every return (as this gate did) cost W7 about 1.7
//!   futex calls and most of a context switch per request, and let later requests take a
//!   returned connection before the waiters that were woken for it got to run.
//! - A waiter registers (`waiters`, and its entry in the queue) under `lock` before it
//!   re-checks; whoever returns a connection to an idle pool or closes one changes the counts
//!   first and then, if anybody waits, takes `lock` before notifying: so no wake-up is lost.
//!   A waiter also re-checks every [`SLICE`] (for its cancellation and deadline), which bounds
//!   what a wake-up aimed at the wrong waiter can cost.
//! - A wait never exceeds [`MAX_WAIT`], the request's deadline or its cancellation: the gate
//!   can only delay a connection, never refuse one.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
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
    /// The origin of this thread's last pass, by the address of its counters (an identity,
    /// never dereferenced): the origin whose idle pool this thread's connection goes back to.
    static ORIGIN: Cell<usize> = const { Cell::new(0) };
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
    /// The requests waiting, in arrival order.
    lock: Mutex<VecDeque<Waiter>>,
}

/// A request waiting at the gate.
#[derive(Debug)]
struct Waiter {
    /// Its origin's identity (see [`ORIGIN`]).
    origin: usize,
    /// Woken and not yet run: the next event goes to the next waiter.
    woken: bool,
    wake: Arc<Condvar>,
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
                // The idle connection it had claimed is there for the origin's next waiter.
                self.counters.claims.fetch_sub(1, SeqCst);
                self.gate.wake(Some(origin_of(self.counters)));
            }
            Ticket::Reservation => {
                self.counters.opening.fetch_sub(1, SeqCst);
                self.gate.held.fetch_sub(1, SeqCst);
                self.gate.wake(None);
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

    /// A connection closed: room for one more, for whoever waits first.
    pub(crate) fn closed(&self) {
        self.held.fetch_sub(1, SeqCst);
        self.wake(None);
    }

    /// A connection went back to its origin's idle pool: called by the thread whose request
    /// used it, so it is for the first waiter of the origin of that thread's last pass.
    pub(crate) fn returned(&self) {
        self.wake(Some(ORIGIN.get()));
    }

    /// Wakes the first waiter not woken yet (of `origin`, when given); nobody when none waits.
    fn wake(&self, origin: Option<usize>) {
        if self.waiters.load(SeqCst) == 0 {
            return;
        }
        let mut queue = self.lock.lock();
        if let Some(w) = queue
            .iter_mut()
            .find(|w| !w.woken && origin.is_none_or(|o| o == w.origin))
        {
            w.woken = true;
            w.wake.notify_one();
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
        let origin = origin_of(counters);
        ORIGIN.set(origin);
        let pass = Pass {
            gate: self,
            counters,
        };
        // Not ahead of an earlier request to the same origin that waits: a connection coming
        // back is for it (else a request that arrives as the waiter is being woken takes it).
        if !self.queued(origin) && self.try_pass(counters) {
            return pass;
        }
        let start = Instant::now();
        let until = deadline.map_or(start + MAX_WAIT, |d| d.min(start + MAX_WAIT));
        let wake = Arc::new(Condvar::new());
        let mut queue = self.lock.lock();
        self.waiters.fetch_add(1, SeqCst);
        queue.push_back(Waiter {
            origin,
            woken: false,
            wake: wake.clone(),
        });
        let mine = |w: &Waiter| Arc::ptr_eq(&w.wake, &wake);
        while !self.try_pass(counters) && ctx.check().is_ok() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            if let Some(w) = queue.iter_mut().find(|w| mine(w)) {
                w.woken = false;
            }
            wake.wait_for(&mut queue, SLICE.min(until - now));
        }
        queue.retain(|w| !mine(w));
        self.waiters.fetch_sub(1, SeqCst);
        pass
    }
}

impl Gate {
    /// Whether a request to `origin` waits.
    fn queued(&self, origin: usize) -> bool {
        self.waiters.load(SeqCst) > 0 && self.lock.lock().iter().any(|w| w.origin == origin)
    }
}

/// An origin's identity: the address of its counters (compared, never dereferenced).
fn origin_of(counters: &ConnCounters) -> usize {
    std::ptr::from_ref(counters) as usize
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    use super::*;

    /// Blocks until `n` requests wait at `gate` (observed state, no sleeps).
    fn until_waiting(gate: &Gate, n: usize) {
        while gate.waiters.load(SeqCst) != n {
            std::thread::yield_now();
        }
    }

    /// A gate with `origins` origins whose client holds `held` connections, none idle: a
    /// request to an origin with a connection open waits until one more may be opened.
    fn full_gate(origins: usize, held: usize) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        for _ in 0..origins {
            gate.add_origin();
        }
        for _ in 0..held {
            gate.opened();
        }
        gate
    }

    fn origin(gate: &Arc<Gate>, open: u64) -> Arc<ConnCounters> {
        let c = Arc::new(ConnCounters::new(gate.clone()));
        c.opened.store(open, Ordering::SeqCst);
        c
    }

    /// Two requests wait; one connection closes: exactly one gets through, with a reservation
    /// (the room), and the other keeps waiting until that reservation is given back unused.
    #[test]
    fn a_freed_connection_lets_one_waiter_through_and_its_return_the_next() {
        // Two origins and two requests in flight: room for 4 connections, and 4 are held.
        let gate = full_gate(2, 4);
        let (a, b) = (origin(&gate, 1), origin(&gate, 1));
        let (passed, got) = mpsc::channel();
        let mut releases = Vec::new();
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for (label, counters) in [("a", &a), ("b", &b)] {
                let (release, hold) = mpsc::channel::<()>();
                releases.push((label, release));
                let (g, p) = (&gate, passed.clone());
                // Its request stays in flight (room for a connection) until joined.
                handles.push(s.spawn(move || {
                    let in_flight = g.enter();
                    let pass = g.pass(counters, &Context::new(), None);
                    // A reservation held (not taken: no connection is opened with it).
                    p.send((label, TICKET.get() == Ticket::Reservation))
                        .unwrap();
                    hold.recv().unwrap();
                    drop(pass);
                    in_flight
                }));
                until_waiting(&gate, handles.len());
            }
            gate.closed();
            let (first, reserved) = got.recv().unwrap();
            assert!(reserved, "{first} got through with the room");
            assert_eq!(gate.waiters.load(SeqCst), 1, "the other still waits");
            // The first gives its reservation back unused: room for the other.
            let release = |label| {
                releases
                    .iter()
                    .find(|(l, _)| *l == label)
                    .unwrap()
                    .1
                    .send(())
            };
            release(first).unwrap();
            let (second, reserved) = got.recv().unwrap();
            assert!(
                second != first && reserved,
                "{second} after {first}: {reserved}"
            );
            release(second).unwrap();
            for h in handles {
                drop(h.join().unwrap());
            }
        });
    }

    /// B's request waits for B's connection being opened; the opening fails and B's pool gets
    /// a connection back: B's request goes on (opening its own), while A's, which waited
    /// first, still waits for room.
    #[test]
    fn an_origins_waiter_goes_on_when_its_origin_changes_and_the_others_wait() {
        let gate = full_gate(2, 4);
        let a = origin(&gate, 1);
        // B has nothing open but a connection being opened: its request waits for that one.
        let b = origin(&gate, 0);
        b.opening.store(1, SeqCst);
        let (passed, got) = mpsc::channel();
        std::thread::scope(|s| {
            let (g, p) = (&gate, passed.clone());
            s.spawn(move || {
                let _in = g.enter();
                let _pass = g.pass(&a, &Context::new(), None);
                p.send("a").unwrap();
            });
            until_waiting(&gate, 1);
            let (g, p, b2) = (&gate, passed, &b);
            let second = s.spawn(move || {
                let in_flight = g.enter();
                let _pass = g.pass(b2, &Context::new(), None);
                p.send(if take_reservation() { "b" } else { "b late" })
                    .unwrap();
                in_flight
            });
            until_waiting(&gate, 2);
            // The opening failed (nothing open at B now), and this thread's last request was
            // to B: what it returns wakes B's waiter, which may open B's connection.
            b.opening.store(0, SeqCst);
            ORIGIN.set(origin_of(&b));
            gate.returned();
            assert_eq!(got.recv().unwrap(), "b");
            assert_eq!(gate.waiters.load(SeqCst), 1, "A's request still waits");
            // B's reservation made 5 held for a room of 4: two connections close.
            gate.closed();
            gate.closed();
            assert_eq!(got.recv().unwrap(), "a");
            drop(second.join().unwrap());
        });
    }
}
