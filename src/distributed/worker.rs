//! [`Worker`]: runs the entries of a [`WorkList`] through a [`BatchExecutor`], recording one
//! outcome per request id.
//!
//! Invariants:
//! - The engine pulls entries lazily through `Feed` (its input iterator) on the calling thread,
//!   and outcomes come back on the same thread, so the map from the engine's index to the entry
//!   is a plain `RefCell` shared by the two.
//! - An entry is acknowledged only by recording its outcome (or, when its id already has one,
//!   by a plain XACK): an entry cancelled or never run stays pending, and another worker claims
//!   it after the visibility timeout. So stopping never loses a request.
//! - Redis errors never end the loop: reads and records are retried with backoff until they
//!   succeed or the worker is cancelled.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::worklist::{Entry, WorkList};
use crate::batch::{BatchExecutor, Outcome};
use crate::error::Error;
use crate::execute::{CancelToken, Context, Execute};
use crate::request::Request;
use crate::run::BatchOptions;

/// What one [`Worker::run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerSummary {
    /// Entries handed to the engine.
    pub started: u64,
    /// Outcomes this worker recorded first.
    pub recorded: u64,
    /// Outcomes that found one already recorded (a duplicate delivery).
    pub duplicates: u64,
    /// Entries acknowledged without running: their id already had an outcome.
    pub skipped: u64,
    /// Entries claimed from other workers after the visibility timeout.
    pub reclaimed: u64,
    /// Entries dead-lettered by this worker.
    pub dead: u64,
    /// Entries left pending (cancelled or not run) for another worker.
    pub released: u64,
    /// Redis calls that failed (each retried).
    pub redis_errors: u64,
}

/// A worker of a [`WorkList`]: reads entries through the consumer group under its name, runs
/// them through the caller's stack with [`BatchExecutor::execute_streaming`], and records each
/// outcome.
#[derive(Debug)]
pub struct Worker<'a> {
    list: &'a WorkList,
    name: String,
    visibility: Duration,
    max_deliveries: u64,
    read_batch: usize,
    stop: CancelToken,
    cancel: CancelToken,
    exit_when_complete: bool,
    last_reclaim: Cell<Option<Instant>>,
    backoff: Cell<Backoff>,
}

impl<'a> Worker<'a> {
    /// A worker of `list` named `name` (unique among the workers: it names the consumer).
    pub fn new(list: &'a WorkList, name: impl Into<String>) -> Self {
        Worker {
            list,
            name: name.into(),
            visibility: Duration::from_secs(30),
            max_deliveries: 5,
            read_batch: 16,
            stop: CancelToken::new(),
            cancel: CancelToken::new(),
            exit_when_complete: false,
            last_reclaim: Cell::new(None),
            backoff: Cell::new(Backoff::default()),
        }
    }

    /// How long another worker's entry may stay unacknowledged before this worker claims it.
    /// Defaults to `30 s`.
    pub fn visibility_timeout(mut self, d: Duration) -> Self {
        self.visibility = d.max(Duration::from_millis(1));
        self
    }

    /// Deliveries after which an entry without an outcome is dead-lettered. Defaults to `5`.
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// Entries read per round trip, and read ahead of the engine. Defaults to `16`.
    pub fn read_batch(mut self, n: usize) -> Self {
        self.read_batch = n.max(1);
        self
    }

    /// Graceful stop: cancelling it stops reading; entries already read finish and are
    /// recorded, then [`run`](Self::run) returns.
    pub fn stop_on(mut self, token: CancelToken) -> Self {
        self.stop = token;
        self
    }

    /// Hard stop: the run's cancel token. Requests in flight are cancelled and left pending
    /// (another worker claims them); records waiting for Redis give up.
    pub fn cancel_on(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Return once every submitted request has an outcome. Defaults to `false` (run until
    /// stopped).
    pub fn exit_when_complete(mut self, yes: bool) -> Self {
        self.exit_when_complete = yes;
        self
    }

    /// Runs until stopped (or, with `exit_when_complete`, until the list is done). `parse`
    /// turns an entry's payload into a request (an `Err` is recorded as that request's
    /// outcome); `render` turns an outcome into the text recorded for its id. `options` may
    /// set anything but the cancel token, which is the worker's hard stop.
    pub fn run<E: Execute>(
        &self,
        executor: &BatchExecutor<E>,
        options: BatchOptions<'_>,
        mut parse: impl FnMut(&Entry) -> Result<Request, Error>,
        mut render: impl FnMut(&Entry, &Outcome) -> String,
    ) -> WorkerSummary {
        let summary = Rc::new(RefCell::new(WorkerSummary::default()));
        let mut options = Some(
            options
                .cancel(self.cancel.clone())
                .queue_ahead(self.read_batch),
        );
        // Rounds: a round ends when a read finds nothing, so that outcomes are recorded even
        // while the stream is idle (the engine delivers them on this thread, between reads).
        while !self.stop.is_cancelled() && !self.cancel.is_cancelled() {
            let opts = match options.take() {
                Some(o) => o,
                None => BatchOptions::new()
                    .cancel(self.cancel.clone())
                    .queue_ahead(self.read_batch),
            };
            let before = summary.borrow().started;
            self.round(executor, opts, &mut parse, &mut render, &summary);
            let idle = summary.borrow().started == before;
            if idle && self.exit_when_complete {
                match self.list.status() {
                    Ok(s) if s.is_complete() => break,
                    Ok(_) => {}
                    Err(_) => summary.borrow_mut().redis_errors += 1,
                }
            }
        }
        summary.take()
    }

    fn round<E: Execute>(
        &self,
        executor: &BatchExecutor<E>,
        options: BatchOptions<'_>,
        parse: &mut impl FnMut(&Entry) -> Result<Request, Error>,
        render: &mut impl FnMut(&Entry, &Outcome) -> String,
        summary: &Rc<RefCell<WorkerSummary>>,
    ) {
        let held: Rc<RefCell<HashMap<usize, Entry>>> = Rc::default();
        // Entries whose outcome is on its way to Redis: still ours, not to be reclaimed.
        let recording: Arc<Mutex<HashSet<String>>> = Arc::default();
        let feed = Feed {
            w: self,
            buf: VecDeque::new(),
            held: held.clone(),
            recording: recording.clone(),
            summary: summary.clone(),
            next_index: 0,
            ended: false,
        };
        let requests = feed.map(|e| parse(&e));
        // Outcomes are recorded by a thread of their own, in pipelined batches, so that this
        // thread (which feeds the engine's queue) never waits for Redis per outcome.
        let (tx, rx) = crossbeam_channel::unbounded::<(Entry, String, bool)>();
        let counts = std::thread::scope(|scope| {
            let recorder = std::thread::Builder::new()
                .name("httpbatch-recorder".into())
                .spawn_scoped(scope, {
                    let (list, name, cancel) = (self.list, &self.name, &self.cancel);
                    let recording = &recording;
                    move || record_all(list, name, cancel, recording, rx)
                })
                .expect("spawn the recorder thread");
            executor.execute_streaming(requests, options, |index, outcome| {
                let Some(entry) = held.borrow_mut().remove(&index) else {
                    return;
                };
                if matches!(outcome, Outcome::Cancelled | Outcome::NotRun) {
                    summary.borrow_mut().released += 1;
                    return;
                }
                let line = render(&entry, &outcome);
                recording.lock().insert(entry.entry_id.clone());
                let _ = tx.send((entry, line, !outcome.is_success()));
            });
            drop(tx);
            recorder.join().expect("the recorder does not panic")
        });
        let mut s = summary.borrow_mut();
        s.recorded += counts.recorded;
        s.duplicates += counts.duplicates;
        s.released += counts.released;
        s.redis_errors += counts.redis_errors;
    }
}

/// Records what arrives on `rx` until it closes: up to 256 outcomes per round trip, retried
/// with backoff while Redis fails (given up only on the hard stop, `cancel`).
fn record_all(
    list: &WorkList,
    name: &str,
    cancel: &CancelToken,
    recording: &Mutex<HashSet<String>>,
    rx: crossbeam_channel::Receiver<(Entry, String, bool)>,
) -> WorkerSummary {
    let mut s = WorkerSummary::default();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(255));
        let mut backoff = Backoff::default();
        loop {
            match list.record_many(name, &batch) {
                Ok(new) => {
                    let n = new.iter().filter(|b| **b).count() as u64;
                    s.recorded += n;
                    s.duplicates += new.len() as u64 - n;
                }
                Err(_) => {
                    s.redis_errors += 1;
                    if backoff.wait(cancel) {
                        continue;
                    }
                    s.released += batch.len() as u64;
                }
            }
            break;
        }
        let mut r = recording.lock();
        for (e, _, _) in &batch {
            r.remove(&e.entry_id);
        }
    }
    s
}

#[derive(Debug, Default, Clone, Copy)]
struct Backoff(Duration);

impl Backoff {
    /// Waits the next backoff (10 ms doubling to 1 s); false if `token` was cancelled.
    fn wait(&mut self, token: &CancelToken) -> bool {
        self.0 = (self.0 * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let ctx = Context::new().with_cancel(token.clone());
        ctx.wait_until(Instant::now() + self.0).is_ok()
    }
}

/// The engine's input: entries from the work list, pulled as the workers free up.
struct Feed<'w, 'a> {
    w: &'w Worker<'a>,
    buf: VecDeque<Entry>,
    held: Rc<RefCell<HashMap<usize, Entry>>>,
    recording: Arc<Mutex<HashSet<String>>>,
    summary: Rc<RefCell<WorkerSummary>>,
    next_index: usize,
    ended: bool,
}

impl Feed<'_, '_> {
    fn refill(&mut self) -> Result<(), Error> {
        let w = self.w;
        let due = w
            .last_reclaim
            .get()
            .is_none_or(|t| t.elapsed() >= w.visibility / 4);
        if due {
            let first = w.last_reclaim.get().is_none();
            w.last_reclaim.set(Some(Instant::now()));
            let (claimed, dead) = if first {
                // Entries a previous life of this worker's name left pending.
                w.list.recover(&w.name, w.max_deliveries, w.read_batch)?
            } else {
                let buf = &self.buf;
                let held = self.held.borrow();
                let recording = self.recording.lock();
                let holds = |id: &str| {
                    buf.iter().any(|e| e.entry_id == id)
                        || held.values().any(|e| e.entry_id == id)
                        || recording.contains(id)
                };
                w.list.reclaim_except(
                    &w.name,
                    w.visibility,
                    w.max_deliveries,
                    w.read_batch,
                    &holds,
                )?
            };
            if !claimed.is_empty() {
                log::info!(target: "httpbatch::redis", "worker {}: reclaimed {} entries {}", w.name, claimed.len(), if first { "this worker's name left pending".to_owned() } else { format!("of other workers, unacknowledged for over {:?}", w.visibility) });
            }
            if dead > 0 {
                log::warn!(target: "httpbatch::redis", "worker {}: dead-lettered {dead} entries delivered {} times without an outcome", w.name, w.max_deliveries);
            }
            let mut s = self.summary.borrow_mut();
            s.dead += dead;
            for e in claimed {
                s.reclaimed += 1;
                // Its id already has an outcome (an id submitted twice): acknowledge it
                // without running. On a Redis error, run it anyway: recording deduplicates.
                if w.list.is_recorded(&e.id).unwrap_or(false) && w.list.ack(&e).is_ok() {
                    s.skipped += 1;
                } else {
                    self.buf.push_back(e);
                }
            }
            if !self.buf.is_empty() {
                return Ok(());
            }
        }
        let block = Duration::from_millis(200).min(w.visibility / 4);
        self.buf.extend(w.list.read(&w.name, w.read_batch, block)?);
        Ok(())
    }
}

impl Iterator for Feed<'_, '_> {
    type Item = Entry;

    /// The next entry; `None` ends the round: stopped, or a read found nothing (after
    /// waiting up to 200 ms for it), or Redis failed (after a backoff).
    fn next(&mut self) -> Option<Entry> {
        // Fused: the engine may ask again after the end, and must hear the end again.
        if self.ended || self.w.stop.is_cancelled() || self.w.cancel.is_cancelled() {
            self.ended = true;
            return None;
        }
        if self.buf.is_empty() {
            if self.refill().is_err() {
                self.summary.borrow_mut().redis_errors += 1;
                let mut backoff = self.w.backoff.take();
                backoff.wait(&self.w.stop);
                self.w.backoff.set(backoff);
                self.ended = true;
                return None;
            }
            self.w.backoff.set(Backoff::default());
        }
        let Some(e) = self.buf.pop_front() else {
            self.ended = true;
            return None;
        };
        self.held.borrow_mut().insert(self.next_index, e.clone());
        self.next_index += 1;
        self.summary.borrow_mut().started += 1;
        Some(e)
    }
}
