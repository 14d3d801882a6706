//! A scripted HTTP/1.1 server on `127.0.0.1`, for httpbatch's tests, benchmarks, examples and
//! its CLI's `demo` and `serve`. Not part of the httpbatch library or its C ABI: C, C++ and Go
//! tests run it as a process, `httpbatch serve --port 0 --exit-on-stdin-eof`.
//!
//! [`Server`] answers by URL path (and query), so any client in any language can script it:
//! a C test, a Go test and a Rust benchmark all drive the same behaviours with nothing but URLs.
//! It counts what it sees exactly ([`accepted`](Server::accepted),
//! [`requests`](Server::requests), [`max_in_flight`](Server::max_in_flight), …) so tests can
//! assert on what actually reached the wire, and it can be told to misbehave as a whole
//! ([`Mode`]) to test health checks and circuit breaking.
//!
//! # Routes
//!
//! | Path | Answer |
//! |------|--------|
//! | `/`, `/ok` | `200`, body `ok` |
//! | `/status/{code}` | that status (100–599), body = the code as text |
//! | `/bytes/{n}` | `200` with `n` bytes of body, all `x` (at most 1 GiB) |
//! | `/delay/{ms}` | waits `ms` (at most a day), then `200` `ok`; `?status=N` answers `N` instead |
//! | `/echo` | body = the request body; headers `x-echo-method`, `x-echo-path` (with query), `x-echo-body-len`, and every request header `Name: v` as `x-echo-h-name: v` |
//! | `/close` | `200` `ok` with `Connection: close`, then closes |
//! | `/reset` | closes the connection without answering |
//! | `/seq/{key}?s=503,503,200` | the nth request to `key` gets the nth status (the last repeats), body = the code; `&retry_after=S` adds `Retry-After: S` to non-2xx answers, `&retry_after_date=S` an HTTP-date at least `S` seconds ahead |
//! | `/flaky/{key}?fail=N&status=503` | the first `N` (default `1`) requests to `key` get `status` (default `503`), then `200` `ok`; takes `retry_after`/`retry_after_date` like `/seq` |
//! | `/limited/{key}?n=N&retry_after=S` | the first `N` requests to `key` get `200` `ok`, the rest `429` with `Retry-After: S` (default `1`) |
//! | `/redirect/{n}` | `302` to the relative `/redirect/{n-1}`; `/redirect/0` answers `200` `ok` |
//! | `/redirect-to?url=U&status=S` | `S` (a 3xx, default `302`) with `Location: U`, `U` percent-decoded |
//! | `/pages/link/{total}?per=N&page=P` | page `P` (from 1) of `total` items `{"id":1}`… `per` to a page (default 10), as `{"items":[…]}`, with `Link: <{total}?…&page=1>; rel="first", <{total}?…&page=P+1>; rel="next"` (relative references; no `next` on the last page) |
//! | `/pages/cursor/{total}?per=N&after=C` | the page after cursor `C` (none: the first) as `{"data":[…],"meta":{"next":"C2"}}`, `"next":null` on the last page |
//! | `/pages/numbered/{total}?per=N&page=P` or `&offset=O` | `{"total":T,"page":P,"items":[…]}`; past the end, an empty `items` |
//! | `/pages/…&fail=KEY&fail_page=F` | as above, but the first request for page `F` under `KEY` answers `500` (once) |
//! | `/big-header/{n}` | `200` `ok` with an `x-big` header of `n` bytes (at most 1 MiB) |
//! | `/cacheable/{key}?cc=…&cc304=…&expires=S&etag=1&lm=1&vary=H&size=N` | the caching headers asked for (percent-encoded `Cache-Control`, `Expires` S seconds ahead or `past`, `ETag: "key"`, a fixed `Last-Modified`, `Vary`), `304` to matching validators (with `cc304`'s `Cache-Control`), `x-served: n` on every answer; body `key:{varied header}:` padded to `N` bytes |
//! | `/gunzip-echo` | echoes the request body after undoing `Content-Encoding: gzip`, with `x-content-encoding`, `x-wire-len`, `x-decoded-len`; `400` for bad gzip |
//! | `/encoded/{coding}` | `200` with `Content-Encoding: coding` and a body that decodes to [`ENCODED_TEXT`] 20 times (900 bytes); `coding` is `gzip`, `deflate` (zlib), `deflate-raw` (raw deflate, sent as `deflate`), `br` (uncompressed meta-blocks) or `identity` (no header) |
//! | `/bomb/{mib}` | `200` with `Content-Encoding: gzip` and a body that decodes to `mib` MiB of zero bytes (1–1024) from about 1 KiB per MiB on the wire |
//! | `/jsonrpc` | JSON-RPC 2.0 over `POST` with the spec's batch rules: methods `echo` (result = params), `add` (sum of an array), `fail` (error `-32000`), others `-32601`; parse error `-32700`, invalid call or empty batch `-32600`; notifications unanswered, a batch of only notifications gets `204`; batch answers in **reverse order** (`?order=same` keeps it); `?drop=ID` leaves the answer for id `ID` out, `?dup=ID` sends it twice; `?limit=N` enforces and advertises a quota of `N` HTTP requests per second as `/quota/jsonrpc?limit=N` does |
//! | `/json-array?in=PTR&out=PTR&short=N` | the array at JSON pointer `in` of the body (default: the body) answered as `[{"index":i,"item":x},…]`, wrapped at pointer `out` (default: bare array); `short=N` leaves the last `N` out |
//! | `/quota/{key}?limit=N&window_ms=W&style=S` | at most `N` requests per `W` ms (≥ 1000, default 1000) per key, bursts up to `N` (token bucket); over quota `429` with `Retry-After`; every answer advertises the quota — `S=ietf`: `RateLimit: limit=N, remaining=R, reset=SECS` and `RateLimit-Policy: N;w=W/1000`; `S=x`: `X-RateLimit-Limit`/`-Remaining`/`-Reset` (delta seconds); `S=both` (default) both |
//! | `/__stats` | control: the counters as one JSON object, `{"accepted":N,"open_connections":N,"requests":N,"in_flight":N,"max_in_flight":N}`; `?prefix=P` adds `"requests_for":N` |
//! | `/__reset` | control: [`Server::reset_counters`], then `200` `ok` |
//! | anything else | `404` |
//!
//! Control routes (paths starting `/__`) let a test that runs the server in another process
//! (`httpbatch serve`) read and reset what the [`Server`] methods give in-process. They are
//! answered in every [`Mode`] and counted nowhere: not in the requests, per-path counts or
//! arrivals, and a connection whose first request is a control request is not in
//! [`accepted`](Server::accepted) or [`open_connections`](Server::open_connections) either, so
//! reading the counters does not change them.
//!
//! Bad parameters answer `400`. Statuses 1xx, 204 and 304 are sent without a body (HTTP forbids
//! one); a 1xx also closes the connection, since clients take it for an interim answer.
//! `HEAD` gets the `GET` headers without the body. Keys of `/seq`, `/flaky` and `/limited` are
//! separate namespaces: `/seq/a` and `/flaky/a` count apart.
//!
//! # Protocol
//!
//! HTTP/1.1 with keep-alive by default (HTTP/1.0 closes unless it asks for keep-alive), request
//! bodies by `Content-Length` or `Transfer-Encoding: chunked` (at most 64 MiB), `Expect:
//! 100-continue` honoured, pipelining works. Every answer carries `Content-Length` (except those
//! that may carry no body). Malformed requests get `400` (or `431`, `413`, `505`) and the
//! connection is closed; nothing a client sends can panic the server.
//!
//! ```
//! use httpbatch_testserver::{Mode, Server};
//!
//! let server = Server::start()?;
//! let agent: ureq::Agent = ureq::Agent::config_builder()
//!     .http_status_as_error(false)
//!     .build()
//!     .into();
//!
//! let mut res = agent.get(&server.url("/seq/job?s=503,200")).call()?;
//! assert_eq!(res.status(), 503);
//! assert_eq!(res.body_mut().read_to_string()?, "503");
//! let res = agent.get(&server.url("/seq/job?s=503,200")).call()?;
//! assert_eq!(res.status(), 200);
//!
//! // Both requests reused one keep-alive connection.
//! assert_eq!(server.requests_for("/seq/job"), 2);
//! assert_eq!(server.accepted(), 1);
//!
//! // The host "goes down": every request is answered 503 until it comes back.
//! server.set_mode(Mode::Unavailable);
//! assert_eq!(agent.get(&server.url("/ok")).call()?.status(), 503);
//! server.set_mode(Mode::Normal);
//! assert_eq!(agent.get(&server.url("/ok")).call()?.status(), 200);
//!
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Engine invariants (who touches what):
//
// - Threads: one accept thread, plus one handler thread per open connection. `Server` (any
//   thread) only reads counters, flips `mode`/`stopping` and, in `stop`, shuts sockets down and
//   joins threads. Nothing else ever blocks on the server's behalf.
// - Every handler wait that is not socket I/O (`/delay`, `Mode::Hang`) waits on `wake` under
//   `wake_lock`, and `mode` and `stopping` are only changed while holding `wake_lock` followed by
//   `notify_all`. So a waiter that checked them under the lock cannot miss a change: stop and
//   mode changes reach every sleeping handler at once.
// - Every blocking socket call of a handler is on a socket registered in `conns`. The accept
//   thread registers a connection under the `conns` lock only after checking `stopping` under
//   that same lock, and `stop` sets `stopping` before taking that lock to shut every registered
//   socket down. So no connection escapes the shutdown: either `stop` sees it, or the accept
//   thread sees `stopping` and drops it.
// - Handler `JoinHandle`s are pushed only by the accept thread; `stop` joins the accept thread
//   first, so when it drains `handlers` the list is final.
// - Counters are relaxed atomics: each is exact on its own, and no code relies on an order
//   between two of them. A request is counted (`requests`, `in_flight`, arrivals, per-path) before
//   it is handled and leaves `in_flight` just before its answer is written, so once a client holds
//   its answer the counters already include it. Likewise a connection the server closes leaves
//   `open_connections` before the socket closes.
// - Per-path counts are sharded by connection id: a handler only ever locks its own shard on the
//   hot path, so 32 connections don't contend on one lock; readers sum all shards.

mod api;
mod cache_routes;
mod conn;
mod date;
mod inner;
mod pages;
mod routes;

pub use date::http_date;
pub use routes::ENCODED_TEXT;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::inner::{Inner, accept_loop};

/// How the server as a whole behaves, set with [`Server::set_mode`].
///
/// Used to simulate a host that stops answering and comes back (health checks, circuit
/// breakers). A mode change reaches requests already waiting (`/delay`, [`Mode::Hang`]) at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Answer by route. The default.
    #[default]
    Normal,
    /// Answer every request `503 Service Unavailable`, body `503`.
    Unavailable,
    /// Close every connection on its next request, without answering.
    Reset,
    /// Read each request and never answer it until the mode changes (then the request is
    /// handled under the new mode) or the server stops (then its connection is closed).
    Hang,
}

impl Mode {
    pub(crate) fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Unavailable,
            2 => Mode::Reset,
            3 => Mode::Hang,
            _ => Mode::Normal,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        match self {
            Mode::Normal => 0,
            Mode::Unavailable => 1,
            Mode::Reset => 2,
            Mode::Hang => 3,
        }
    }
}

/// One request as it arrived, recorded when
/// [`ServerBuilder::record_arrivals`] is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// When the request head was completely read.
    pub at: Instant,
    /// The request method, e.g. `GET`.
    pub method: String,
    /// The request target as sent: the path with its query, e.g. `/seq/a?s=503,200`.
    pub path: String,
}

/// Configures and starts a [`Server`].
///
/// ```
/// use httpbatch_testserver::Server;
///
/// let server = Server::builder().port(0).record_arrivals(true).start()?;
/// assert_eq!(server.url("/ok"), format!("http://127.0.0.1:{}/ok", server.addr().port()));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    port: u16,
    record_arrivals: bool,
}

impl ServerBuilder {
    /// The port to bind on `127.0.0.1`; `0` lets the system pick a free one.
    ///
    /// Defaults to `0`.
    pub fn port(mut self, port: u16) -> ServerBuilder {
        self.port = port;
        self
    }

    /// Whether to record every request's arrival time, method and path, for
    /// [`Server::arrivals`] (tests of rate limiting and retry timing).
    ///
    /// Defaults to `false`.
    pub fn record_arrivals(mut self, on: bool) -> ServerBuilder {
        self.record_arrivals = on;
        self
    }

    /// Binds and starts serving.
    ///
    /// # Errors
    ///
    /// If the port cannot be bound or the accept thread cannot be spawned.
    pub fn start(self) -> io::Result<Server> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::new(self.record_arrivals));
        let accept_inner = inner.clone();
        let accept = std::thread::Builder::new()
            .name(format!("httpbatch-loopback-accept-{}", addr.port()))
            .spawn(move || accept_loop(accept_inner, listener))?;
        Ok(Server {
            inner,
            addr,
            accept: Mutex::new(Some(accept)),
        })
    }
}

/// A scripted HTTP/1.1 server on `127.0.0.1`; see the [crate docs](crate) for the routes.
///
/// Runs until [`stop`](Server::stop) or drop, both of which close every connection, wake every
/// waiting request and join every thread, promptly (well under a second) whatever is in flight.
/// All methods take `&self`, so a server can be shared between test threads (e.g. in an `Arc`).
pub struct Server {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("mode", &self.mode())
            .field("open_connections", &self.open_connections())
            .field("requests", &self.requests())
            .finish()
    }
}

impl Server {
    /// Starts a server on `127.0.0.1` on a free port, without recording arrivals.
    ///
    /// ```
    /// let server = httpbatch_testserver::Server::start()?;
    /// assert!(server.addr().ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If no port can be bound or the accept thread cannot be spawned.
    pub fn start() -> io::Result<Server> {
        ServerBuilder::default().start()
    }

    /// A builder, to choose the port or record arrivals.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    ///
    /// # Panics
    ///
    /// If `path` does not start with `/` (a test bug, caught where it is written).
    pub fn url(&self, path: &str) -> String {
        assert!(
            path.starts_with('/'),
            "loopback url path must start with '/': {path:?}"
        );
        format!("http://{}{}", self.addr, path)
    }

    /// Connections accepted since start (or the last [`reset_counters`](Self::reset_counters)).
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now. A connection the server closes (`/close`, `/reset`, errors) stops
    /// counting before its socket closes; one the client closes stops counting once the server
    /// has noticed, which may be a moment after the client's `close`.
    pub fn open_connections(&self) -> u64 {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// Requests received (complete heads) since start (or the last reset).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Requests being handled now: received but not yet answered (or dropped).
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// The most requests that were in flight at once since start (or the last reset).
    pub fn max_in_flight(&self) -> u64 {
        self.inner.max_in_flight.load(Ordering::Relaxed)
    }

    /// Restarts the [`max_in_flight`](Self::max_in_flight) high-water mark from the current
    /// [`in_flight`](Self::in_flight).
    pub fn reset_max_in_flight(&self) {
        self.inner.reset_max_in_flight();
    }

    /// Requests (since start or the last reset) whose path, without its query, starts with
    /// `path_prefix`.
    ///
    /// ```
    /// # use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// ureq::get(&server.url("/bytes/3?x=1")).call().unwrap();
    /// ureq::get(&server.url("/bytes/4")).call().unwrap();
    /// assert_eq!(server.requests_for("/bytes/"), 2);
    /// assert_eq!(server.requests_for("/bytes/3"), 1);
    /// assert_eq!(server.requests_for("/"), 2);
    /// assert_eq!(server.requests_for("/ok"), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn requests_for(&self, path_prefix: &str) -> u64 {
        self.inner.requests_for(path_prefix)
    }

    /// The requests received since start (or the last [`clear_arrivals`](Self::clear_arrivals)
    /// or reset), in arrival order. Empty unless built with
    /// [`record_arrivals(true)`](ServerBuilder::record_arrivals).
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.arrivals.lock().clone()
    }

    /// Forgets the recorded arrivals.
    pub fn clear_arrivals(&self) {
        self.inner.arrivals.lock().clear();
    }

    /// Zeroes [`accepted`](Self::accepted), [`requests`](Self::requests), the per-path counts,
    /// the arrivals and the `/seq`, `/flaky` and `/limited` sequences, and restarts
    /// [`max_in_flight`](Self::max_in_flight). The gauges [`open_connections`](Self::open_connections)
    /// and [`in_flight`](Self::in_flight) describe the present, so they are kept.
    pub fn reset_counters(&self) {
        self.inner.reset_counters();
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode()
    }

    /// Switches the server's behaviour; requests already waiting (`/delay`, [`Mode::Hang`])
    /// see the change at once.
    pub fn set_mode(&self, mode: Mode) {
        let _g = self.inner.wake_lock.lock();
        self.inner.mode.store(mode.as_u8(), Ordering::SeqCst);
        self.inner.wake.notify_all();
    }

    /// Stops: no new connections, every open connection shut down (requests in flight get no
    /// answer), every waiting request woken, every thread joined. Idempotent; also done on drop.
    pub fn stop(&self) {
        let Some(accept) = self.accept.lock().take() else {
            return;
        };
        let inner = &self.inner;
        {
            let _g = inner.wake_lock.lock();
            inner.stopping.store(true, Ordering::SeqCst);
            inner.wake.notify_all();
        }
        for stream in inner.conns.lock().values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // `accept` blocks in the kernel and std cannot shut a listener down, so wake it with a
        // connection of our own; it then sees `stopping`. Retried in case the backlog was full.
        for _ in 0..50 {
            if accept.is_finished() {
                break;
            }
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
            if accept.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = accept.join();
        let handlers = std::mem::take(&mut *inner.handlers.lock());
        for h in handlers {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Server>();
    check::<Mode>();
    check::<Arrival>();
}

#[cfg(test)]
mod tests;
