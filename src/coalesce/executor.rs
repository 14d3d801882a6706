//! [`CoalescingExecutor`]: holds same-key requests and sends them as one.
//!
//! Invariants:
//! - `State` is only touched under its mutex. A member is in exactly one place: an open batch
//!   (keyed, filling), the ready queue (full or due), or a flusher's hands (in flight). `held`
//!   counts the members of the first two; the bound applies to it.
//! - Callers never send: they join a batch and park until their slot holds an outcome. Flush
//!   threads take ready batches first, then due open batches, and send each under a context of
//!   its own (the first member's admissions, a token no caller holds, the latest member
//!   deadline), so one caller's cancel or deadline never stops the combined request.
//! - A caller that gives up (cancel, deadline) removes itself from a batch not yet taken, or
//!   marks its slot abandoned; a slot takes one outcome at most, and an abandoned slot's
//!   outcome is dropped. Every taken member gets exactly one outcome, even if the codec or the
//!   inner executor panics.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::codec::{Codec, ItemError, copy_error};
use super::stats::{CoalesceStats, Counters};
use crate::error::{Error, ErrorKind};
use crate::execute::{CancelToken, Context, Execute};
use crate::request::Request;
use crate::response::Response;

enum SlotState {
    Waiting,
    Done(Result<Response, Error>),
    Abandoned,
}

struct Slot {
    state: Mutex<SlotState>,
    thread: Thread,
}

impl Slot {
    fn deliver(&self, outcome: Result<Response, Error>) {
        let mut st = self.state.lock();
        if matches!(*st, SlotState::Waiting) {
            *st = SlotState::Done(outcome);
            drop(st);
            self.thread.unpark();
        }
    }
}

struct Member {
    request: Request,
    ctx: Context,
    slot: Arc<Slot>,
}

struct Batch {
    members: Vec<Member>,
    due: Instant,
}

#[derive(Default)]
struct State {
    open: HashMap<String, Batch>,
    ready: VecDeque<Batch>,
    held: usize,
    closed: bool,
}

pub(super) struct Config {
    pub(super) max_batch_size: usize,
    pub(super) max_delay: Duration,
    pub(super) max_queued: usize,
    pub(super) flushers: usize,
}

struct Shared<E, C> {
    inner: E,
    codec: C,
    config: Config,
    state: Mutex<State>,
    wake: Condvar,
    counters: Counters,
}

/// A layer that combines requests with the same batch key into one HTTP request through a
/// [`Codec`], and splits the answer back into one outcome per request.
///
/// A request waits until its batch holds [`max_batch_size`](CoalescingExecutorBuilder::max_batch_size)
/// requests or its first request has waited [`max_delay`](CoalescingExecutorBuilder::max_delay);
/// then a flush thread sends the combined request through the inner executor (put retries, rate
/// limits and the pool below this layer: the combined request pays, retries and counts as one).
/// Each caller blocks in [`execute`](Execute::execute) until its own outcome is known: calls come
/// from many threads at once (a [`BatchExecutor`](crate::BatchExecutor)'s workers), which is what
/// fills batches.
///
/// - Per-item errors stay per item ([`ItemError`] as the error's source).
/// - A combined request that fails fails every member: a transport error is copied to each, a
///   non-2xx answer is handed to each as its response.
/// - A caller's cancel or deadline releases that caller alone, with
///   [`ErrorKind::Cancelled`] or [`ErrorKind::DeadlineExceeded`]; the combined request goes on
///   for the others.
/// - At most [`max_queued`](CoalescingExecutorBuilder::max_queued) requests are held; one more
///   fails at once with [`ErrorKind::QueueFull`] ([`ItemError::QueueFull`]).
/// - Requests the codec gives no key are sent on alone ([`Codec::batch_key`]).
///
/// ```
/// use httpbatch::coalesce::{CoalescingExecutor, JsonRpcCodec};
/// use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request};
/// use httpbatch_testserver::Server;
/// use std::time::Duration;
///
/// let server = Server::start()?;
/// let exec = CoalescingExecutor::builder(HttpClient::new(), JsonRpcCodec::new())
///     .max_batch_size(10)
///     .max_delay(Duration::from_millis(20))
///     .build()?;
/// let batch = BatchExecutor::builder().workers(10).build(exec)?;
/// let reqs: Vec<Request> = (0..20)
///     .map(|i| {
///         let call = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{i}],"id":{i}}}"#);
///         Request::post(&server.url("/jsonrpc"), call)
///     })
///     .collect::<Result<_, _>>()?;
/// let result = batch.execute_batch(reqs, BatchOptions::new());
/// for (i, outcome) in result.outcomes.iter().enumerate() {
///     let res = outcome.response().unwrap();
///     assert!(res.text().contains(&format!(r#""result":[{i}]"#)));
/// }
/// let stats = batch.get_ref().stats();
/// assert_eq!(stats.logical, 20);
/// assert_eq!(stats.http_requests, server.requests_for("/jsonrpc"));
/// assert!(stats.http_requests < 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CoalescingExecutor<E: Execute + 'static, C: Codec + 'static> {
    shared: Arc<Shared<E, C>>,
    threads: Vec<JoinHandle<()>>,
}

/// Builds a [`CoalescingExecutor`].
pub struct CoalescingExecutorBuilder<E, C> {
    inner: E,
    codec: C,
    config: Config,
}

impl<E: Execute + 'static, C: Codec + 'static> CoalescingExecutorBuilder<E, C> {
    /// Most requests in one combined request; a batch that reaches it is sent at once.
    /// Defaults to `50`.
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.config.max_batch_size = n;
        self
    }

    /// Longest a batch's first request waits for others before the batch is sent.
    /// Defaults to `5 ms`.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.config.max_delay = d;
        self
    }

    /// Most requests held (waiting to be sent) at once; one more fails with
    /// [`ErrorKind::QueueFull`]. Defaults to `10_000`.
    pub fn max_queued(mut self, n: usize) -> Self {
        self.config.max_queued = n;
        self
    }

    /// Threads that send combined requests (at most this many in flight at once).
    /// Defaults to `4`.
    pub fn flushers(mut self, n: usize) -> Self {
        self.config.flushers = n;
        self
    }

    /// Starts the flush threads. Fails with [`ErrorKind::InvalidConfig`] if `max_batch_size`,
    /// `max_queued` or `flushers` is zero (`usize::MAX` and `Duration::MAX` mean no limit).
    pub fn build(self) -> Result<CoalescingExecutor<E, C>, Error> {
        let c = &self.config;
        if c.max_batch_size == 0 || c.max_queued == 0 || c.flushers == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "coalescing: max_batch_size, max_queued and flushers must be at least 1",
            ));
        }
        let flushers = c.flushers.min(256);
        let shared = Arc::new(Shared {
            inner: self.inner,
            codec: self.codec,
            config: self.config,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            counters: Counters::default(),
        });
        let mut threads = Vec::with_capacity(flushers);
        for i in 0..flushers {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("httpbatch-coalesce-{i}"))
                .spawn(move || s.flush_loop())
                .map_err(|e| Error::with_source(ErrorKind::Io, "spawn a flush thread", e));
            match t {
                Ok(t) => threads.push(t),
                Err(e) => {
                    close(&shared, &mut threads);
                    return Err(e);
                }
            }
        }
        Ok(CoalescingExecutor { shared, threads })
    }
}

fn close<E: Execute, C: Codec>(shared: &Shared<E, C>, threads: &mut Vec<JoinHandle<()>>) {
    shared.state.lock().closed = true;
    shared.wake.notify_all();
    for t in threads.drain(..) {
        let _ = t.join();
    }
}

impl<E: Execute + 'static, C: Codec + 'static> CoalescingExecutor<E, C> {
    /// A builder over `inner` with `codec`.
    pub fn builder(inner: E, codec: C) -> CoalescingExecutorBuilder<E, C> {
        CoalescingExecutorBuilder {
            inner,
            codec,
            config: Config {
                max_batch_size: 50,
                max_delay: Duration::from_millis(5),
                max_queued: 10_000,
                flushers: 4,
            },
        }
    }

    /// The inner executor.
    pub fn get_ref(&self) -> &E {
        &self.shared.inner
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.shared.codec
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> CoalesceStats {
        self.shared.counters.snapshot()
    }

    /// Zeroes the statistics.
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }

    /// Requests held right now (waiting for their batch to be sent).
    pub fn held(&self) -> usize {
        self.shared.state.lock().held
    }
}

impl<E: Execute + 'static, C: Codec + 'static> Drop for CoalescingExecutor<E, C> {
    fn drop(&mut self) {
        close(&self.shared, &mut self.threads);
    }
}

impl<E: Execute + 'static, C: Codec + 'static> Execute for CoalescingExecutor<E, C> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.check()?;
        let s = &*self.shared;
        let Some(key) = s.codec.batch_key(&request)? else {
            s.counters.passed_through.fetch_add(1, Ordering::Relaxed);
            return s.inner.execute(request, ctx);
        };
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting),
            thread: std::thread::current(),
        });
        s.join(key.clone(), request, ctx, &slot)?;
        let _guard = ctx
            .cancel_token()
            .map(|t| t.unpark_on_cancel(std::thread::current()));
        loop {
            {
                let mut st = slot.state.lock();
                if let SlotState::Done(_) = *st {
                    let SlotState::Done(out) = std::mem::replace(&mut *st, SlotState::Abandoned)
                    else {
                        unreachable!()
                    };
                    return out;
                }
            }
            if let Err(e) = ctx.check() {
                if s.leave(&key, &slot) {
                    s.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                continue; // the outcome arrived meanwhile
            }
            match ctx.remaining() {
                Some(left) => std::thread::park_timeout(left),
                None => std::thread::park(),
            }
        }
    }
}

impl<E: Execute, C: Codec> Shared<E, C> {
    fn join(
        &self,
        key: String,
        request: Request,
        ctx: &Context,
        slot: &Arc<Slot>,
    ) -> Result<(), Error> {
        let c = &self.config;
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::stopped("coalescing executor"));
        }
        if st.held >= c.max_queued {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ItemError::QueueFull {
                max_queued: c.max_queued,
            }
            .into_error());
        }
        st.held += 1;
        self.counters.logical.fetch_add(1, Ordering::Relaxed);
        let member = Member {
            request,
            ctx: ctx.clone(),
            slot: slot.clone(),
        };
        let now = Instant::now();
        let batch = st.open.entry(key.clone()).or_insert_with(|| Batch {
            members: Vec::new(),
            due: now
                .checked_add(c.max_delay)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        });
        batch.members.push(member);
        let (len, first) = (batch.members.len(), batch.members.len() == 1);
        if len >= c.max_batch_size {
            if let Some(b) = st.open.remove(&key) {
                st.ready.push_back(b);
            }
            drop(st);
            self.wake.notify_one();
        } else if first {
            drop(st);
            // A new due time: a flusher may have to wake earlier than it planned.
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Takes `slot` out of a batch not yet sent, or marks it abandoned. Returns `false` if its
    /// outcome is already there (the caller then takes it).
    fn leave(&self, key: &str, slot: &Arc<Slot>) -> bool {
        let mut st = self.state.lock();
        let removed = remove_member(&mut st, key, slot);
        if removed {
            st.held -= 1;
        }
        drop(st);
        let mut ss = slot.state.lock();
        if let SlotState::Done(_) = *ss {
            return false;
        }
        *ss = SlotState::Abandoned;
        true
    }

    fn flush_loop(&self) {
        loop {
            let batch = {
                let mut st = self.state.lock();
                loop {
                    if st.closed {
                        return;
                    }
                    if let Some(b) = st.ready.pop_front() {
                        st.held -= b.members.len();
                        break b;
                    }
                    let now = Instant::now();
                    let due = st
                        .open
                        .iter()
                        .filter(|(_, b)| b.due <= now)
                        .map(|(k, _)| k.clone())
                        .next();
                    if let Some(b) = due.and_then(|k| st.open.remove(&k)) {
                        st.held -= b.members.len();
                        break b;
                    }
                    match st.open.values().map(|b| b.due).min() {
                        Some(t) => {
                            self.wake.wait_until(&mut st, t);
                        }
                        None => self.wake.wait(&mut st),
                    }
                }
            };
            if !batch.members.is_empty() {
                self.flush(batch.members);
            }
        }
    }

    fn flush(&self, members: Vec<Member>) {
        let n = members.len();
        let mut requests = Vec::with_capacity(n);
        let mut slots = Vec::with_capacity(n);
        let mut deadline = Some(Instant::now());
        let mut ctx = None;
        for m in members {
            deadline = match (deadline, m.ctx.deadline()) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            ctx.get_or_insert(m.ctx);
            requests.push(m.request);
            slots.push(m.slot);
        }
        let mut ctx = ctx
            .expect("a flushed batch has members")
            .detached(CancelToken::new());
        if let Some(d) = deadline {
            ctx = ctx.with_deadline(d);
        }
        self.counters.http_requests.fetch_add(1, Ordering::Relaxed);
        self.counters.batched.fetch_add(n as u64, Ordering::Relaxed);
        let run = catch_unwind(AssertUnwindSafe(|| {
            let combined = self.codec.encode(&requests)?;
            let res = self.inner.execute(combined, &ctx)?;
            Ok(self.codec.decode(&requests, res))
        }));
        let outcomes: Vec<Result<Response, Error>> = match run {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(e)) => {
                self.counters
                    .failed_requests
                    .fetch_add(1, Ordering::Relaxed);
                (0..n).map(|_| Err(copy_error(&e))).collect()
            }
            Err(_) => (0..n)
                .map(|_| {
                    Err(Error::new(
                        ErrorKind::Panicked,
                        "the codec or the inner executor panicked on a combined request",
                    ))
                })
                .collect(),
        };
        let mut outcomes = outcomes.into_iter();
        for slot in slots {
            let out = outcomes
                .next()
                .unwrap_or_else(|| Err(ItemError::MissingReply.into_error()));
            if out.is_err() {
                self.counters.item_errors.fetch_add(1, Ordering::Relaxed);
            }
            slot.deliver(out);
        }
    }
}

fn remove_member(st: &mut State, key: &str, slot: &Arc<Slot>) -> bool {
    let strip = |b: &mut Batch| {
        let before = b.members.len();
        b.members.retain(|m| !Arc::ptr_eq(&m.slot, slot));
        before != b.members.len()
    };
    if let Some(b) = st.open.get_mut(key) {
        if strip(b) {
            if b.members.is_empty() {
                st.open.remove(key);
            }
            return true;
        }
    }
    st.ready.iter_mut().any(strip)
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<CoalescingExecutor<Box<dyn Execute>, Box<dyn Codec>>>();
}
