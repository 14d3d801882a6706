//! How many runners a run starts, and when it starts the rest.
//!
//! Invariants:
//! - A run first starts at most as many runners as the machine has cores (and its concurrency
//!   allows): items that take no time gain nothing from more threads than cores, and every extra
//!   runner costs wake-ups and contention on the queue and the inbox.
//! - While fewer runners than the run's concurrency have started and more items are outstanding
//!   than runners, the caller's thread looks at the rate outcomes settle at: [`FIRST`] after the
//!   first runner started, then at doubling intervals up to [`LONGEST`]. If the runners took more
//!   than [`FAST_ITEM`] per item on average, the items wait on something other than this
//!   machine's CPUs (the wire, a lock, a timer), and every remaining runner starts at once; so a
//!   run of slow requests reaches its full concurrency within about [`FIRST`].
//! - The checks run on the caller's thread, on the timer of its wait (never spinning); once every
//!   runner may start there is nothing more to check.

use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// When the first look at the rate comes, after the first runner started.
const FIRST: Duration = Duration::from_micros(100);

/// The longest interval between two looks.
const LONGEST: Duration = Duration::from_millis(4);

/// Items that take longer than this on average (per runner) start every runner.
const FAST_ITEM: Duration = Duration::from_micros(5);

/// The machine's cores, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

pub(super) struct Ramp {
    /// How many runners may start now.
    pub(super) allowed: usize,
    target: usize,
    /// The last look: when, and how many outcomes had settled by then.
    last: Option<(Instant, usize)>,
    every: Duration,
}

impl Ramp {
    /// A ramp towards `target` runners.
    pub(super) fn new(target: usize) -> Ramp {
        Ramp {
            allowed: target.min(cores()),
            target,
            last: None,
            every: FIRST,
        }
    }

    /// Whether runners are held back (so the caller's loop reads the clock for [`Ramp::check`]).
    #[inline]
    pub(super) fn pending(&self) -> bool {
        self.allowed < self.target
    }

    /// The first runners have started with `done` outcomes settled: the clock starts.
    #[inline]
    pub(super) fn begin(&mut self, done: usize) {
        if self.last.is_none() && self.pending() {
            self.last = Some((Instant::now(), done));
        }
    }

    /// Looks at the rate, if a look is due: `done` outcomes settled, `fed` items queued in all,
    /// `running` runners started.
    #[inline]
    pub(super) fn check(&mut self, now: Instant, done: usize, fed: usize, running: usize) {
        if !self.pending() {
            return;
        }
        let Some((at, done_then)) = self.last else {
            return;
        };
        let elapsed = now.saturating_duration_since(at);
        if elapsed < self.every {
            return;
        }
        if fed.saturating_sub(done) > running {
            let settled = done.saturating_sub(done_then) as u128;
            if settled * FAST_ITEM.as_nanos() < running as u128 * elapsed.as_nanos() {
                self.allowed = self.target;
                return;
            }
            self.every = (self.every * 2).min(LONGEST);
        }
        self.last = Some((now, done));
    }

    /// When the caller should wake for the next look, if one is needed: while runners are held
    /// back and items wait for a runner (`outstanding` beyond the `running` runners).
    #[inline]
    pub(super) fn next_check(&self, outstanding: usize, running: usize) -> Option<Instant> {
        if !self.pending() || outstanding <= running {
            return None;
        }
        self.last.and_then(|(at, _)| at.checked_add(self.every))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_items_start_every_runner_at_the_first_look() {
        let mut r = Ramp::new(100);
        r.allowed = 2;
        r.begin(0);
        let (t0, _) = r.last.unwrap();
        assert_eq!(r.next_check(2000, 2), Some(t0 + FIRST));
        // Not due yet.
        r.check(t0 + FIRST / 2, 0, 2000, 2);
        assert_eq!(r.allowed, 2);
        r.check(t0 + FIRST, 0, 2000, 2);
        assert_eq!(r.allowed, 100);
        assert!(!r.pending());
        assert_eq!(r.next_check(2000, 2), None);
    }

    #[test]
    fn fast_items_keep_the_first_runners_and_look_less_often() {
        let mut r = Ramp::new(32);
        r.allowed = 2;
        r.begin(0);
        let (t0, _) = r.last.unwrap();
        // 2 runners settled 1,000 items in 100 µs: 0.2 µs each.
        r.check(t0 + FIRST, 1000, 10_000, 2);
        assert_eq!(r.allowed, 2);
        assert_eq!(r.next_check(9000, 2), Some(t0 + FIRST + FIRST * 2));
        // Nothing waits for a runner: no look needed.
        assert_eq!(r.next_check(2, 2), None);
        // Later the items slow down: 2 settled in 200 µs.
        r.check(t0 + FIRST * 3, 1002, 10_000, 2);
        assert_eq!(r.allowed, 32);
    }
}
