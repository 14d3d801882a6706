//! The TCP connector wrapper that counts connections exactly and lets cancellation reach a socket
//! in the middle of a request.
//!
//! Invariants:
//! - ureq calls `connect` only when its pool has no idle connection for the origin, so `opened`
//!   counts real sockets; a request counts at its first write on a connection, so one refused
//!   at connect is not counted; a transport is dropped exactly when its socket closes, so `closed` is
//!   exact and `live = opened - closed` never drifts.
//! - ureq runs every transport call on the thread that issued the request. The leaf publishes the
//!   request's [`InflightSlot`] in a thread-local for the duration of the call; each transport
//!   attaches its socket's shutdown handle to the current slot before the request's first I/O on
//!   it: when it connects (inside `connect`, so a handshake is covered too) or when ureq checks it
//!   out of the idle pool (its probe, `is_open`). Every I/O call of a request comes after one of
//!   the two, so a cancel either finds the socket attached and shuts it down, ending the call,
//!   or is seen by the attach (see the slot's invariants in `slot.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, ShutdownHandle, Transport,
};

use super::failure::LeafFailure;
use super::gate::{self, Gate};
pub(crate) use super::slot::InflightSlot;
use super::tcp;
use crate::error::ErrorKind;

/// Connection counters of one origin.
#[derive(Debug, Default)]
pub(crate) struct ConnCounters {
    pub(crate) opened: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// The open sockets by transport id, for [`sweep`](Self::sweep).
    sockets: Mutex<HashMap<u64, Arc<Socket>>>,
    /// Connections in the agent's idle pool now. A return is counted once ureq has put the
    /// connection in the pool (when the request that used it is over), a checkout at once, so
    /// the count can be one below zero for a moment.
    idle: AtomicIsize,
    /// Requests on their way to take one of those (see the gate).
    pub(crate) claims: AtomicUsize,
    /// Connections reserved by requests on their way to open them (see the gate).
    pub(crate) opening: AtomicUsize,
    /// The client's connection gate, told of every open, close and return.
    gate: Arc<Gate>,
}

/// One open socket as the origin's registry sees it.
#[derive(Debug)]
struct Socket {
    stream: Weak<TcpStream>,
    /// Back in the idle pool (between ureq's probe on return and its probe on checkout).
    idle: AtomicBool,
    /// Counted as closed already (the peer closed it while idle).
    closed: AtomicBool,
}

impl ConnCounters {
    pub(crate) fn new(gate: Arc<Gate>) -> ConnCounters {
        ConnCounters {
            gate,
            ..ConnCounters::default()
        }
    }

    /// Connections open now.
    pub(crate) fn live(&self) -> u64 {
        let closed = self.closed.load(Ordering::Acquire);
        self.opened.load(Ordering::Acquire).saturating_sub(closed)
    }

    /// Connections in the idle pool now.
    pub(crate) fn idle(&self) -> usize {
        usize::try_from(self.idle.load(Ordering::SeqCst)).unwrap_or(0)
    }

    /// Counts the idle sockets the peer has closed (`CLOSE_WAIT`) as closed: one `poll` each,
    /// nothing read. ureq drops them at its next checkout, without counting them twice.
    pub(crate) fn sweep(&self) {
        let sockets = self.sockets.lock();
        let idle: Vec<_> = sockets
            .values()
            .filter(|s| s.idle.load(Ordering::Acquire) && !s.closed.load(Ordering::Acquire))
            .filter_map(|s| Some((s, s.stream.upgrade()?)))
            .collect();
        if idle.is_empty() {
            return;
        }
        let streams: Vec<_> = idle.iter().map(|(_, t)| t.clone()).collect();
        for ((s, _), gone) in idle.iter().zip(tcp::peers_closed(&streams)) {
            if gone {
                self.close(s);
            }
        }
    }

    fn close(&self, socket: &Socket) {
        if !socket.closed.swap(true, Ordering::AcqRel) {
            self.closed.fetch_add(1, Ordering::Release);
            self.gate.closed();
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<InflightSlot>>> = const { RefCell::new(None) };
    /// Whether the current request has been counted on a connection yet.
    static SENT: Cell<bool> = const { Cell::new(false) };
    /// Whether the current request went out on a connection that had served one before.
    static REUSED: Cell<bool> = const { Cell::new(false) };
    /// Whether any byte of an answer to the current request has arrived.
    static ANSWERED: Cell<bool> = const { Cell::new(false) };
    /// Whether a connector chain is connecting on this thread: a CONNECT proxy connector runs
    /// the whole chain again, inside, for its connection to the proxy.
    static CONNECTING: Cell<bool> = const { Cell::new(false) };
    /// When the current request's whole-exchange timeout (or its batch deadline) runs out.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// When the I/O call under way started, as [`bound`] read the clock for it: the transport
    /// beneath takes it instead of reading the clock again. `None` outside such a call.
    static IO_START: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether the current request's connection went back to its origin's idle pool.
    static RETURNED: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as connecting until dropped (on error too).
struct Connecting;

impl Connecting {
    /// `None` when already connecting: the caller is the chain run for a CONNECT proxy.
    fn enter() -> Option<Connecting> {
        (!CONNECTING.replace(true)).then_some(Connecting)
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        CONNECTING.set(false);
    }
}

/// Publishes `slot` as this thread's current request, to `counters`' origin, until dropped;
/// then detaches the socket, so a later cancel of a reused slot never shuts a connection that
/// went back to the pool.
///
/// The request's `deadline` bounds every connect, read and write of the exchange (see
/// [`bound`]): the leaf enforces its timeouts here rather than through ureq's timeout
/// bookkeeping, which costs a scan of every configured timeout at each I/O call.
pub(crate) struct CurrentSlot<'a>(&'a ConnCounters);

impl<'a> CurrentSlot<'a> {
    pub(crate) fn enter(
        slot: &Arc<InflightSlot>,
        counters: &'a ConnCounters,
        deadline: Option<Instant>,
    ) -> CurrentSlot<'a> {
        CURRENT.with(|c| *c.borrow_mut() = Some(slot.clone()));
        DEADLINE.set(deadline);
        SENT.set(false);
        REUSED.set(false);
        ANSWERED.set(false);
        CurrentSlot(counters)
    }
}

impl Drop for CurrentSlot<'_> {
    fn drop(&mut self) {
        DEADLINE.set(None);
        if let Some(slot) = CURRENT.with(|c| c.borrow_mut().take()) {
            slot.detach();
        }
        // Only the origin's own transports are used under it (ureq runs every transport call
        // of a request on its thread, inside this), so the connection that went back is one
        // of this origin's.
        if RETURNED.replace(false) {
            self.0.idle.fetch_add(1, Ordering::SeqCst);
            self.0.gate.returned();
        }
    }
}

/// Whether the last request of this thread went out on a reused connection that then failed
/// before a byte of answer came: the peer had closed it while it sat idle (a stale keep-alive
/// connection), so the request never reached the server's application and a fresh connection
/// can take it.
pub(crate) fn was_stale() -> bool {
    REUSED.get() && !ANSWERED.get()
}

fn cancelled_io() -> ureq::Error {
    ureq::Error::Io(std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "request cancelled",
    ))
}

/// Wraps the connector chain (TCP, then TLS) of one origin's agent.
pub(crate) struct CountingConnector<C> {
    inner: C,
    counters: Arc<ConnCounters>,
    /// The proxy every connection goes through (`host:port`), to name it when it refuses.
    proxy: Option<String>,
}

impl<C> CountingConnector<C> {
    pub(crate) fn new(inner: C, counters: Arc<ConnCounters>) -> Self {
        CountingConnector {
            inner,
            counters,
            proxy: None,
        }
    }

    /// Names the proxy the connections go through in connect failures.
    pub(crate) fn via(mut self, proxy: Option<String>) -> Self {
        self.proxy = proxy;
        self
    }

    /// A refused connection to the proxy names the proxy, not the origin it would have reached.
    fn blame_proxy(&self, e: ureq::Error, details: &ConnectionDetails) -> ureq::Error {
        match (&self.proxy, &e) {
            (Some(proxy), ureq::Error::Io(io))
                if io.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                LeafFailure::new(
                    ErrorKind::ConnectRefused,
                    format!("connection refused by proxy {proxy} (for {})", details.uri),
                )
                .into()
            }
            _ => e,
        }
    }
}

impl<C> fmt::Debug for CountingConnector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingConnector").finish_non_exhaustive()
    }
}

impl<C: Connector<()>> Connector<()> for CountingConnector<C> {
    type Out = CountedTransport<C::Out>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let slot = CURRENT.with(|c| c.borrow().clone());
        if slot.as_ref().is_some_and(|s| s.is_cancelled()) {
            return Err(cancelled_io());
        }
        // The chain run inside for a CONNECT proxy's socket is the same socket the outer run
        // returns (tunnelled): count and attach it once, outside.
        let Some(_outermost) = Connecting::enter() else {
            return Ok(self
                .inner
                .connect(details, chained)?
                .map(|inner| CountedTransport {
                    inner,
                    counters: None,
                    socket: None,
                    registered: None,
                    id: 0,
                    served: 0,
                    pooled: false,
                }));
        };
        // Capture the socket's shutdown handle as the TCP connector registers it with the agent,
        // and attach it to the request at once: a cancel must reach a socket stalled in a TLS
        // handshake or a proxy's CONNECT/SOCKS exchange, all of which run inside `connect`.
        let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
        let captured: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::default();
        let forward = details.register_shutdown.clone();
        let keep = captured.clone();
        let ours = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: bound(details.timeout)?,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |handle: Weak<dyn ShutdownHandle>| {
                *keep.lock() = Some(handle.clone());
                forward(handle.clone())?;
                match &slot {
                    Some(slot) if !slot.attach(id, &handle) => Err(cancelled_io()),
                    _ => Ok(()),
                }
            }),
        };
        tcp::take_opened();
        let connected = self.inner.connect(&ours, chained);
        let Some(inner) = connected.map_err(|e| self.blame_proxy(e, details))? else {
            return Ok(None);
        };
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        if gate::take_reservation() {
            self.counters.opening.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.counters.gate.opened();
        }
        let socket = captured.lock().take();
        let registered = tcp::take_opened().map(|stream| {
            let s = Arc::new(Socket {
                stream,
                idle: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            });
            self.counters.sockets.lock().insert(id, s.clone());
            s
        });
        let mut transport = CountedTransport {
            inner,
            counters: Some(self.counters.clone()),
            socket,
            registered,
            id,
            served: 0,
            pooled: false,
        };
        transport.attach_current()?;
        Ok(Some(transport))
    }
}

/// A transport that counts its close and can be shut down by the request using it.
pub(crate) struct CountedTransport<T> {
    inner: T,
    /// `None` for the socket to a CONNECT proxy, counted by the tunnel wrapping it.
    counters: Option<Arc<ConnCounters>>,
    socket: Option<Weak<dyn ShutdownHandle>>,
    /// The socket in the origin's registry (`None` if the chain opened no TCP socket itself).
    registered: Option<Arc<Socket>>,
    /// Never reused, unlike an address; 0 means "no socket" to [`InflightSlot`].
    id: u64,
    /// Requests written on this connection.
    served: u64,
    /// In ureq's idle pool: between its probe on return and its probe on checkout.
    pooled: bool,
}

static NEXT_TRANSPORT_ID: AtomicU64 = AtomicU64::new(1);

impl<T> CountedTransport<T> {
    /// Attaches the socket to the current request: once per request, when it opens the
    /// connection or checks it out of the idle pool.
    fn attach_current(&mut self) -> Result<(), ureq::Error> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        CURRENT.with(|c| match c.borrow().as_ref() {
            Some(slot) if !slot.attach(self.id, socket) => Err(cancelled_io()),
            _ => Ok(()),
        })
    }
}

impl<T> fmt::Debug for CountedTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountedTransport").finish_non_exhaustive()
    }
}

impl<T> Drop for CountedTransport<T> {
    fn drop(&mut self) {
        let Some(c) = &self.counters else {
            return;
        };
        if self.pooled {
            c.idle.fetch_sub(1, Ordering::SeqCst);
        }
        match &self.registered {
            Some(s) => {
                c.sockets.lock().remove(&self.id);
                c.close(s);
            }
            None => {
                c.closed.fetch_add(1, Ordering::Relaxed);
                c.gate.closed();
            }
        }
    }
}

/// ureq hands every I/O call the time left of the request's timeout, and its TCP transport
/// re-arms the socket's timeout (a `setsockopt`) whenever that value changes: before nearly every
/// read and write, two extra syscalls per request that raw ureq, with no timeout, never makes.
/// Rounded up to a 250 ms grid, the value stays the same from call to call and request to
/// request, so the syscall is skipped. Only timeouts of a second or more are rounded, so a
/// timeout fires at most 250 ms (and at most a quarter) late; shorter ones stay exact.
fn coarse(mut timeout: NextTimeout) -> NextTimeout {
    const GRID_NS: u32 = 250_000_000;
    if let ureq::unversioned::transport::time::Duration::Exact(d) = timeout.after {
        if d >= Duration::from_secs(1) {
            // A second is a whole number of grid steps: only the fraction is rounded (no
            // 128-bit division on every I/O call).
            let fraction = d.subsec_nanos().div_ceil(GRID_NS) * GRID_NS;
            let rounded = Duration::from_secs(d.as_secs())
                .saturating_add(Duration::from_nanos(u64::from(fraction)))
                .min(Duration::from_nanos(u64::MAX));
            timeout.after = ureq::unversioned::transport::time::Duration::Exact(rounded);
        }
    }
    timeout
}

/// When the I/O call under way started, if the counting transport above already read the
/// clock for it.
pub(super) fn io_start() -> Option<Instant> {
    IO_START.get()
}

/// Runs one I/O call of the transport beneath, then forgets its start (a transport used
/// outside a counted call, as in a proxy handshake, reads the clock itself).
fn io<R>(call: impl FnOnce() -> R) -> R {
    let r = call();
    IO_START.set(None);
    r
}

/// `timeout` cut to what is left of the current request's deadline; the timeout error once
/// nothing is (a socket cannot wait for zero time: it would wait forever or not at all).
fn bound(mut timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
    if let Some(deadline) = DEADLINE.get() {
        let now = Instant::now();
        IO_START.set(Some(now));
        let left = deadline.saturating_duration_since(now);
        if left < *timeout.after {
            timeout.after = ureq::unversioned::transport::time::Duration::Exact(left);
            timeout.reason = ureq::Timeout::Global;
        }
    }
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout)
}

impl<T: Transport> CountedTransport<T> {
    /// ureq asks for more input only when what it holds cannot be used; with the input buffer
    /// already full, a read could only return nothing (the transports beneath then return at
    /// once, reading nothing), which ureq would report as the peer disconnecting. It is a
    /// response head (or a line) bigger than the buffer: say so. Looked at only once a call
    /// brought nothing, which is rare, rather than before every read.
    fn overflowed(&mut self) -> Option<ureq::Error> {
        let b = self.inner.buffers();
        if b.can_use_input() || !b.input_append_buf().is_empty() {
            return None;
        }
        let held = b.input().len();
        Some(ureq::Error::LargeResponseHeader(held, held))
    }

    /// What an input call that brought `got` reports.
    fn got(&mut self, got: bool) -> Result<bool, ureq::Error> {
        if got {
            ANSWERED.set(true);
        } else if let Some(e) = self.overflowed() {
            return Err(e);
        }
        Ok(got)
    }
}

impl<T: Transport> Transport for CountedTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // A request counts once it goes out on a connection (an attempt refused at connect is
        // no request), so `reused = requests - opened` stays a measured figure.
        if let Some(c) = self.counters.as_ref().filter(|_| !SENT.replace(true)) {
            c.requests.fetch_add(1, Ordering::Relaxed);
            REUSED.set(self.served > 0);
            self.served += 1;
        }
        let timeout = coarse(bound(timeout)?);
        io(|| self.inner.transmit_output(amount, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = coarse(bound(timeout)?);
        let got = io(|| self.inner.await_input(timeout))?;
        self.got(got)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = coarse(bound(timeout)?);
        let got = io(|| self.inner.maybe_await_input(timeout))?;
        self.got(got)
    }

    /// ureq probes a connection when it returns to the idle pool and when it is checked out
    /// again. Only the checkout probes the socket (one non-blocking peek): it sees everything
    /// the return probe would (bytes after the body, a peer that closed) and more, so probing
    /// twice costs a syscall per request for nothing. Returning marks the socket idle for
    /// [`ConnCounters::sweep`]; a checkout marks it busy.
    ///
    /// A checkout also attaches the socket to the request taking it, as `connect` does a new
    /// one, so its I/O calls find it attached: a cancel from then on shuts it down, which ends
    /// any of them. A request already cancelled gets it shut down, and it is not reused.
    fn is_open(&mut self) -> bool {
        let returning = !self.pooled;
        self.pooled = returning;
        let open = returning || (self.inner.is_open() && self.attach_current().is_ok());
        if let Some(s) = &self.registered {
            s.idle.store(returning, Ordering::Release);
        }
        if let Some(c) = &self.counters {
            if returning {
                // ureq adds the connection to its pool after this probe: a request let through
                // the gate for it now could miss it. Counted when this request is over.
                RETURNED.set(true);
            } else {
                c.idle.fetch_sub(1, Ordering::SeqCst);
                if gate::take_claim() {
                    c.claims.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        open
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::time::Duration as UDuration;

    fn after(d: Duration) -> NextTimeout {
        NextTimeout {
            after: UDuration::Exact(d),
            ..NextTimeout::default()
        }
    }

    #[test]
    fn long_timeouts_round_up_to_the_grid_and_short_ones_stay_exact() {
        let ms = Duration::from_millis;
        assert_eq!(
            coarse(after(ms(29_999))).after,
            UDuration::Exact(ms(30_000))
        );
        assert_eq!(
            coarse(after(ms(29_751))).after,
            UDuration::Exact(ms(30_000))
        );
        assert_eq!(coarse(after(ms(1_001))).after, UDuration::Exact(ms(1_250)));
        assert_eq!(coarse(after(ms(999))).after, UDuration::Exact(ms(999)));
        assert_eq!(coarse(after(ms(2_000))).after, UDuration::Exact(ms(2_000)));
        assert_eq!(
            coarse(after(ms(2_000) + Duration::from_nanos(1))).after,
            UDuration::Exact(ms(2_250))
        );
        let huge = Duration::from_nanos(u64::MAX);
        assert_eq!(coarse(after(Duration::MAX)).after, UDuration::Exact(huge));
        assert_eq!(coarse(after(huge)).after, UDuration::Exact(huge));
        assert_eq!(coarse(after(ms(0))).after, UDuration::Exact(ms(0)));
        let never = NextTimeout::default();
        assert_eq!(coarse(never), never);
    }
}
