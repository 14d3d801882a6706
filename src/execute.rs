//! The one blocking trait every layer implements, and the context that carries cancellation and
//! deadlines down the stack.
//!
//! Invariants:
//! - A [`CancelToken`] moves from live to cancelled once, never back. Listeners registered with
//!   [`CancelToken::on_cancel`] run exactly once: at cancel time, or at once if registered after.
//! - The listener list is only touched under its mutex; listeners run outside it, so a listener may
//!   itself register or drop guards.
//! - Admissions registered on a context form an immutable list shared by its clones (newest
//!   first); only [`Context::admit`] runs them, and only the leaf calls it, right before each
//!   write. A prepaid node's flag is cleared by the first admit through any clone, exactly once.
//! - Every wait in the crate goes through [`Context::wait_until`] (directly or through a
//!   [`Clock`](crate::Clock)), so cancellation and the deadline reach it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

mod answer;

pub use answer::Answer;

use crate::agent::InflightSlot;
use crate::error::{Error, ErrorKind};
use crate::request::Request;
use crate::response::Response;

/// Sends one request and blocks until its outcome.
///
/// Every layer of httpbatch implements it, and every wrapper takes an inner `Execute`, so the
/// layers chain: `BatchExecutor<RateLimitedExecutor<ConnectionPool>>`. Implement it to put your
/// own layer (or a fake) into a stack.
///
/// Implementations must honour `ctx`: return [`ErrorKind::Cancelled`] once its token is
/// cancelled and [`ErrorKind::DeadlineExceeded`] once its deadline passes, from every wait.
///
/// A **leaf** — an implementation that sends requests itself instead of passing them to an
/// inner `Execute` (a fake, a mock, your own transport) — calls [`Context::admit`] immediately
/// before each request it writes, so the rate limiters registered above it are honoured (see
/// [`Admission`]). A layer that passes requests on never calls it.
///
/// ```
/// use httpbatch::{Context, Error, Execute, Request, Response};
///
/// /// Answers every request with 204, without a network.
/// struct NoContent;
///
/// impl Execute for NoContent {
///     fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
///         ctx.check()?;
///         ctx.admit(&req)?; // a leaf passes the admission gate before each "write"
///         Ok(Response::new(204, Vec::new()).with_tag(req.tag()))
///     }
/// }
///
/// let res = NoContent.execute(Request::get("http://127.0.0.1/").unwrap(), &Context::new());
/// assert_eq!(res.unwrap().status(), 204);
/// ```
pub trait Execute: Send + Sync {
    /// Sends `request`, honouring `ctx`'s cancel token and deadline.
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error>;
}

impl<E: Execute + ?Sized> Execute for &E {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        (**self).execute(request, ctx)
    }
}

impl<E: Execute + ?Sized> Execute for Arc<E> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        (**self).execute(request, ctx)
    }
}

impl<E: Execute + ?Sized> Execute for Box<E> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        (**self).execute(request, ctx)
    }
}

/// Why a token was cancelled; decides the error the waits report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CancelReason {
    /// The user cancelled.
    User = 1,
    /// The batch deadline passed.
    Deadline = 2,
    /// The executor is shutting down.
    Shutdown = 4,
}

impl CancelReason {
    fn from_u8(v: u8) -> Option<CancelReason> {
        Some(match v {
            1 => CancelReason::User,
            2 => CancelReason::Deadline,
            4 => CancelReason::Shutdown,
            _ => return None,
        })
    }

    pub(crate) fn error(self) -> Error {
        match self {
            CancelReason::User => Error::cancelled(),
            CancelReason::Deadline => Error::deadline_exceeded(),
            CancelReason::Shutdown => Error::new(ErrorKind::Cancelled, "executor shut down"),
        }
    }
}

type Listener = Arc<dyn Fn() + Send + Sync>;

/// What a cancel does for one registration: call a function, or unpark a waiting thread (the
/// one wait primitive: a cancel-aware wait costs no allocation beyond this entry).
enum Wake {
    Call(Listener),
    Unpark(std::thread::Thread),
}

impl Wake {
    fn wake(self) {
        match self {
            Wake::Call(f) => f(),
            Wake::Unpark(t) => t.unpark(),
        }
    }
}

struct TokenInner {
    reason: AtomicU8,
    next_id: AtomicU64,
    listeners: Mutex<Vec<(u64, Wake)>>,
}

/// A cancellation signal that any thread can trigger.
///
/// Cloning gives another handle to the same signal. Cancelling wakes every wait that runs under
/// it (queue, rate limiter, retry backoff) and shuts down the sockets of requests in flight.
///
/// ```
/// use httpbatch::CancelToken;
/// let token = CancelToken::new();
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<TokenInner>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A live token.
    pub fn new() -> CancelToken {
        CancelToken {
            inner: Arc::new(TokenInner {
                reason: AtomicU8::new(0),
                next_id: AtomicU64::new(0),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Cancels: every wait under this token returns [`ErrorKind::Cancelled`]. Idempotent.
    pub fn cancel(&self) {
        self.cancel_with(CancelReason::User);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.inner.reason.load(Ordering::Acquire) != 0
    }

    pub(crate) fn reason(&self) -> Option<CancelReason> {
        CancelReason::from_u8(self.inner.reason.load(Ordering::Acquire))
    }

    /// Cancels with `reason`; the first reason wins. Returns whether this call cancelled.
    pub(crate) fn cancel_with(&self, reason: CancelReason) -> bool {
        if self
            .inner
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let listeners = std::mem::take(&mut *self.inner.listeners.lock());
        for (_, w) in listeners {
            w.wake();
        }
        true
    }

    /// Runs `f` once when the token is cancelled (at once if it already is). Dropping the guard
    /// before that unregisters `f`.
    pub(crate) fn on_cancel(&self, f: Listener) -> CancelGuard {
        self.register(Wake::Call(f))
    }

    /// Unparks `thread` once when the token is cancelled (at once if it already is), while the
    /// guard lives. For waits that park: they re-check the token after every wake-up.
    pub(crate) fn unpark_on_cancel(&self, thread: std::thread::Thread) -> CancelGuard {
        self.register(Wake::Unpark(thread))
    }

    fn register(&self, wake: Wake) -> CancelGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut ls = self.inner.listeners.lock();
            if !self.is_cancelled() {
                ls.push((id, wake));
                return CancelGuard {
                    token: Some(self.clone()),
                    id,
                };
            }
        }
        wake.wake();
        CancelGuard { token: None, id }
    }

    /// The error a wait under this token reports, if it is cancelled.
    #[inline]
    pub(crate) fn error(&self) -> Option<Error> {
        // Checked on every request: the live token's answer is one load, inlined.
        if self.is_cancelled() {
            self.reason().map(CancelReason::error)
        } else {
            None
        }
    }
}

/// Unregisters a cancel listener when dropped.
pub(crate) struct CancelGuard {
    token: Option<CancelToken>,
    id: u64,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.token {
            t.inner.listeners.lock().retain(|(id, _)| *id != self.id);
        }
    }
}

/// Admission control that every request on the wire must pass: first attempts, retries and
/// redirect hops alike.
///
/// **One gate.** A layer that limits traffic
/// (a [`RateLimitedExecutor`](crate::RateLimitedExecutor)) does not take anything as a request passes it: it *registers* its admission on the
/// [`Context`] it hands down ([`Context::with_admission`]). The leaf — the code that writes a
/// request to a socket, [`HttpClient`](crate::HttpClient) or your own [`Execute`] fake — calls
/// [`Context::admit`] immediately before each request it writes, which runs every registered
/// admission. So every request on the wire pays exactly once, whatever order the layers are
/// chained in and whichever path sent it.
pub trait Admission: Send + Sync {
    /// Blocks until `request` may go on the wire (honouring `ctx`), or fails.
    fn admit(&self, request: &Request, ctx: &Context) -> Result<(), Error>;

    /// Like [`admit`](Self::admit), and returns the time it waited. The default measures wall
    /// time; an admission that waits on its own [`Clock`](crate::Clock) reports that clock's
    /// time instead.
    fn admit_timed(&self, request: &Request, ctx: &Context) -> Result<Duration, Error> {
        let start = Instant::now();
        self.admit(request, ctx)?;
        Ok(start.elapsed())
    }

    /// Sees the answer to a request this admission admitted: its status and headers. The leaf
    /// calls it (through [`Context::observe`]) after each answer it reads — first attempts,
    /// retries and redirect hops alike — so an adaptive limiter can follow what the server
    /// says (`Retry-After`, `RateLimit`, `X-RateLimit-*`). Defaults to doing nothing.
    fn observe(&self, request: &Request, answer: &Answer<'_>) {
        let _ = (request, answer);
    }
}

struct AdmissionNode {
    admission: Arc<dyn Admission>,
    /// Set while the next admission through this node is already paid for (a limiter's
    /// non-blocking path took the token itself); the first [`Context::admit`] clears it instead
    /// of admitting. Shared by every clone of the context, so it is consumed once.
    prepaid: AtomicBool,
    parent: Option<Arc<AdmissionNode>>,
}

/// What a request carries down the stack: its cancel token, its deadline, and the admissions
/// (rate limiters) registered above the leaf, which the leaf passes before each write
/// ([`Context::admit`]).
///
/// [`BatchExecutor`](crate::BatchExecutor) builds one per batch; call [`Context::new`] to run a
/// layer directly.
#[derive(Clone, Default)]
pub struct Context {
    cancel: Option<CancelToken>,
    deadline: Option<Instant>,
    admissions: Option<Arc<AdmissionNode>>,
    /// A reusable in-flight slot already registered with `cancel` (set by batch workers).
    slot: Option<Arc<InflightSlot>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = 0;
        let mut at = self.admissions.as_ref();
        while let Some(node) = at {
            n += 1;
            at = node.parent.as_ref();
        }
        f.debug_struct("Context")
            .field("cancel", &self.cancel)
            .field("deadline", &self.deadline)
            .field("admissions", &n)
            .finish()
    }
}

impl Context {
    /// No cancellation, no deadline.
    pub fn new() -> Context {
        Context::default()
    }

    /// The same context under `token`.
    pub fn with_cancel(mut self, token: CancelToken) -> Context {
        self.cancel = Some(token);
        // A slot is registered with one token; under another it would not be cancelled.
        self.slot = None;
        self
    }

    /// A context for work shared by several callers (dedup's one wire request): `token` as its
    /// cancel, no deadline and no in-flight slot, and this context's admissions, so a limiter
    /// registered above still charges the shared request once.
    pub(crate) fn detached(&self, token: CancelToken) -> Context {
        Context {
            cancel: Some(token),
            deadline: None,
            admissions: self.admissions.clone(),
            slot: None,
        }
    }

    /// The same context with an in-flight slot already registered with its cancel token.
    pub(crate) fn with_slot(mut self, slot: Arc<InflightSlot>) -> Context {
        self.slot = Some(slot);
        self
    }

    pub(crate) fn slot(&self) -> Option<&Arc<InflightSlot>> {
        self.slot.as_ref()
    }

    /// The same context with a deadline (the earlier of this and any existing one).
    pub fn with_deadline(mut self, deadline: Instant) -> Context {
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        self
    }

    /// The same context with `admission` registered: the leaf passes it (with every admission
    /// registered before it) immediately before each request it writes to a socket. See
    /// [`Admission`].
    pub fn with_admission(&self, admission: Arc<dyn Admission>) -> Context {
        self.push_admission(admission, false)
    }

    /// Like [`with_admission`](Self::with_admission), for a layer that has already taken the
    /// first request's admission itself (a non-blocking `try_acquire`): the first
    /// [`admit`](Self::admit) below skips `admission` once — that write is prepaid — and every
    /// later one (a retry, a redirect hop) pays it as usual. If nothing below ever admits, the
    /// prepaid token simply goes unused.
    pub fn with_prepaid_admission(&self, admission: Arc<dyn Admission>) -> Context {
        self.push_admission(admission, true)
    }

    fn push_admission(&self, admission: Arc<dyn Admission>, prepaid: bool) -> Context {
        let mut ctx = self.clone();
        ctx.admissions = Some(Arc::new(AdmissionNode {
            admission,
            prepaid: AtomicBool::new(prepaid),
            parent: self.admissions.clone(),
        }));
        ctx
    }

    /// The admission gate: passes every registered admission (innermost first) for `request`,
    /// blocking as they require, and returns the time waited.
    ///
    /// A leaf calls it **immediately before each request it writes** — first attempt, retry and
    /// redirect hop alike — and nothing else does. [`HttpClient`](crate::HttpClient) does; an
    /// [`Execute`] fake that stands in for the network should too, so the limiters above it
    /// count what it "sends":
    ///
    /// ```
    /// use httpbatch::{Context, Error, Execute, Request, Response};
    ///
    /// struct FakeLeaf;
    /// impl Execute for FakeLeaf {
    ///     fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
    ///         let waited = ctx.admit(&req)?; // the gate, right before the "write"
    ///         let mut res = Response::new(200, Vec::new()).with_tag(req.tag());
    ///         res.timings_mut().waited += waited;
    ///         Ok(res)
    ///     }
    /// }
    /// let res = FakeLeaf.execute(Request::get("http://127.0.0.1/")?, &Context::new())?;
    /// assert_eq!(res.status(), 200);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// Fails with the first admission's error (a stopped limiter, a deadline that a wait
    /// cannot meet, a cancel); nothing should be written then.
    pub fn admit(&self, request: &Request) -> Result<Duration, Error> {
        let mut waited = Duration::ZERO;
        let mut at = self.admissions.as_ref();
        while let Some(node) = at {
            if !node.prepaid.swap(false, Ordering::AcqRel) {
                waited = waited.saturating_add(node.admission.admit_timed(request, self)?);
            }
            at = node.parent.as_ref();
        }
        Ok(waited)
    }

    /// Reports an answer to every registered admission ([`Admission::observe`]). A leaf calls it
    /// after each answer it reads (first attempt, retry, redirect hop), as it calls
    /// [`admit`](Self::admit) before each write; nothing else does.
    pub fn observe(&self, request: &Request, answer: &Answer<'_>) {
        let mut at = self.admissions.as_ref();
        while let Some(node) = at {
            node.admission.observe(request, answer);
            at = node.parent.as_ref();
        }
    }

    /// The cancel token, if any.
    pub fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (zero once passed), or `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// `Err` if the token is cancelled or the deadline has passed.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(e) = self.cancel.as_ref().and_then(CancelToken::error) {
            return Err(e);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(Error::deadline_exceeded()),
            _ => Ok(()),
        }
    }

    /// Blocks until `until` (wall clock), returning early with an error if the token is
    /// cancelled. If `until` is past the deadline, fails at once with
    /// [`ErrorKind::DeadlineExceeded`] instead of sleeping for nothing.
    pub fn wait_until(&self, until: Instant) -> Result<(), Error> {
        self.check()?;
        if let Some(d) = self.deadline {
            if until > d {
                return Err(Error::deadline_exceeded());
            }
        }
        let Some(token) = &self.cancel else {
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
            return Ok(());
        };
        // Park until `until`; a cancel unparks. Unparks may be spurious (a stale token from an
        // earlier wait on this thread), so the loop re-checks both conditions.
        let _guard = token.unpark_on_cancel(std::thread::current());
        loop {
            if token.is_cancelled() {
                break;
            }
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::park_timeout(until - now);
        }
        self.check()
    }

    /// Registers `f` to run if this context is cancelled while the guard lives.
    pub(crate) fn on_cancel(&self, f: Listener) -> Option<CancelGuard> {
        self.cancel.as_ref().map(|t| t.on_cancel(f))
    }
}

#[cfg(test)]
mod tests;
