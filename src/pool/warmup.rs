//! Warmup: open n connections to a host at once.
//!
//! Why a barrier: ureq checks a connection out of the idle pool for a request and returns it when
//! the response body has been read. n requests sent one after another would all reuse the first
//! socket. So n threads each send a request and, once the response head has arrived, hold the
//! response (body unread, connection checked out) until all n have arrived; only then do they
//! read their bodies and give the connections back to the idle pool, which now holds n.
//!
//! Bounded threads: at most [`MAX_THREADS`] threads per host, whatever `n` is. A thread opens its
//! share of the `n` connections by sending each next request from inside the hold hook of the
//! one before (`chain`), so it holds all of them at once; at most [`MAX_PER_THREAD`] deep, which
//! caps one call at `MAX_THREADS × MAX_PER_THREAD` connections per host.
//!
//! Invariants:
//! - Every request arrives at the barrier exactly once: after its response head (inside the
//!   leaf's hold hook) or, if it failed before that, right after the failure. The requests of a
//!   thread that could not be spawned are arrived for by the spawning thread. So the barrier
//!   opens as soon as every request has either connected or failed.
//! - A thread waits at the barrier once, after its last request (innermost in the chain), so it
//!   holds every connection it opened until all have arrived.
//! - Every wait is bounded by one deadline, a warmup timeout after the start: each request's
//!   timeout is the time left before it, a request with no time left is not sent (it fails as a
//!   timeout), and the barrier opens at the deadline.
//! - Warmup requests are real traffic and pass the admission gate like any request: each is sent
//!   under the caller's context, so the leaf charges every admission registered on it (one token
//!   per warmup request).
//! - Counters are read from the origin's exact connection counters before and after; warmup
//!   never estimates them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::agent::HttpClient;
use crate::error::{Error, ErrorKind};
use crate::execute::Context;
use crate::request::{Method, Request, Url};

/// What [`ConnectionPool::warmup`](crate::ConnectionPool::warmup) did, per host.
#[derive(Debug)]
#[non_exhaustive]
pub struct WarmupReport {
    /// One entry per host given, in the order given.
    pub hosts: Vec<HostWarmup>,
    /// Wall time of the whole warmup.
    pub elapsed: Duration,
}

impl WarmupReport {
    /// Sockets opened over all hosts.
    pub fn opened(&self) -> u64 {
        self.hosts.iter().map(|h| h.opened).sum()
    }

    /// Warmup requests answered with a 2xx or 3xx status, over all hosts.
    pub fn ok(&self) -> usize {
        self.hosts.iter().map(|h| h.ok).sum()
    }

    /// Warmup requests that failed (error, or a 4xx/5xx status), over all hosts.
    pub fn failed(&self) -> usize {
        self.hosts.iter().map(|h| h.failed).sum()
    }

    /// Whether every warmup request of every host was answered with a 2xx or 3xx status.
    pub fn all_ok(&self) -> bool {
        self.hosts.iter().all(HostWarmup::all_ok)
    }
}

/// The warmup of one host.
///
/// `ok + failed == attempted`. A request answered with a 4xx or 5xx status did open (or reuse) a
/// connection, but is counted as `failed` and its status listed in `statuses`: a 404 on the
/// warmup path is a misconfiguration to report, not a warm success.
#[derive(Debug)]
#[non_exhaustive]
pub struct HostWarmup {
    /// The host as given.
    pub host: String,
    /// Its origin (`scheme://host:port`), or empty if the host could not be parsed.
    pub origin: String,
    /// Connections asked for.
    pub requested: usize,
    /// Requests actually sent: `requested`, capped at the idle-connection cap per origin (more
    /// would be closed as soon as they were released).
    pub attempted: usize,
    /// Sockets opened during the warmup, from the exact connection counters (before/after).
    pub opened: u64,
    /// Sockets open to the origin after the warmup (a level, from the same counters).
    pub live: u64,
    /// Requests answered with a 2xx or 3xx status.
    pub ok: usize,
    /// Requests that failed: transport errors and 4xx/5xx statuses.
    pub failed: usize,
    /// Every status seen, with how many requests got it, sorted by status.
    pub statuses: Vec<(u16, usize)>,
    /// The transport errors, one per failed request that got no response.
    pub errors: Vec<Error>,
    /// Wall time of this host's warmup.
    pub elapsed: Duration,
}

impl HostWarmup {
    /// Whether every request was answered with a 2xx or 3xx status.
    pub fn all_ok(&self) -> bool {
        self.failed == 0 && self.ok == self.attempted
    }
}

/// Counts arrivals; opens when `expected` have arrived or at the deadline.
struct Barrier {
    arrived: Mutex<usize>,
    all_here: Condvar,
    expected: usize,
    deadline: Instant,
}

impl Barrier {
    fn arrive(&self, count: usize) {
        let mut n = self.arrived.lock();
        *n = n.saturating_add(count);
        if *n >= self.expected {
            self.all_here.notify_all();
        }
    }

    fn wait(&self) {
        let mut n = self.arrived.lock();
        while *n < self.expected {
            if self.all_here.wait_until(&mut n, self.deadline).timed_out() {
                return;
            }
        }
    }
}

/// Most threads one host's warmup runs on.
pub(crate) const MAX_THREADS: usize = 64;

/// Most connections one warmup thread holds at once (the depth of its `chain`).
pub(crate) const MAX_PER_THREAD: usize = 64;

/// Stack of a warmup thread per nested request. A plain-HTTP level takes 10–16 KiB in a debug
/// build (64 levels overflow 512 KiB, fit in 1 MiB); the rest is room for TLS handshakes and
/// for the rest of the thread. Address space: only the pages a chain touches are resident.
const STACK_PER_LEVEL: usize = 256 << 10;

/// What every request of one host's warmup shares.
struct Warm<'a> {
    client: &'a HttpClient,
    url: &'a str,
    barrier: &'a Barrier,
    deadline: Instant,
    /// The caller's context: its admissions (rate limiters) are paid by the leaf for every
    /// warmup request, its cancel token honoured.
    ctx: &'a Context,
}

/// Sends `left` requests, each from inside the hold hook of the one before, so that all the
/// connections they open are held at once; the innermost waits at the barrier. Outcomes are
/// pushed innermost first.
fn chain(w: &Warm<'_>, left: usize, out: &mut Vec<Result<u16, Error>>) {
    if left == 0 {
        w.barrier.wait();
        return;
    }
    let Some(time_left) = w
        .deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    else {
        w.barrier.arrive(1);
        chain(w, left - 1, out);
        out.push(Err(Error::new(
            ErrorKind::Timeout,
            "warmup timeout passed before this connection was tried",
        )));
        return;
    };
    // The request's own timeout bounds it (and reports a timeout as a timeout); the caller's
    // context brings its admissions and cancel token.
    let mut arrived = false;
    let res = Request::builder(Method::Get, w.url)
        .timeout(time_left)
        .build()
        .and_then(|req| {
            w.client.execute_holding(req, w.ctx, &mut || {
                arrived = true;
                w.barrier.arrive(1);
                chain(w, left - 1, out);
            })
        });
    if !arrived {
        w.barrier.arrive(1);
        chain(w, left - 1, out);
    }
    out.push(res.map(|r| r.status()));
}

/// Warms one host: `n` concurrent `GET {origin}{path}`, held until all arrived.
pub(crate) fn warm_host(
    client: &HttpClient,
    host: &str,
    n: usize,
    path: &str,
    timeout: Duration,
    ctx: &Context,
) -> HostWarmup {
    warm_host_staggered(
        client,
        host,
        n,
        path,
        timeout,
        Duration::ZERO,
        MAX_THREADS,
        ctx,
    )
}

/// Beyond this, a timeout is as good as none (and `Instant + timeout` could overflow).
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// [`warm_host`], with thread `i` starting its requests `i × stagger` late (tests use it to show
/// that the barrier, not lucky timing, keeps the connections apart), on at most `max_threads`
/// threads (tests use fewer than [`MAX_THREADS`] to show deep chains).
// Private: `warm_host` plus the two knobs tests turn; a parameter struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn warm_host_staggered(
    client: &HttpClient,
    host: &str,
    n: usize,
    path: &str,
    timeout: Duration,
    stagger: Duration,
    max_threads: usize,
    ctx: &Context,
) -> HostWarmup {
    let start = Instant::now();
    let mut report = HostWarmup {
        host: host.to_owned(),
        origin: String::new(),
        requested: n,
        attempted: 0,
        opened: 0,
        live: 0,
        ok: 0,
        failed: 0,
        statuses: Vec::new(),
        errors: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let origin = match Url::parse(host) {
        Ok(u) => u.origin().to_owned(),
        Err(e) => {
            report.errors.push(e);
            report.elapsed = start.elapsed();
            return report;
        }
    };
    report.origin = origin.clone();
    let url = format!("{origin}{path}");
    if let Err(e) = Request::get(&url) {
        report.errors.push(e);
        report.elapsed = start.elapsed();
        return report;
    }
    let n = n
        .min(client.config().get_max_idle_per_origin())
        .min(MAX_THREADS * MAX_PER_THREAD);
    report.attempted = n;
    if n == 0 {
        report.live = client.stats_of(&origin).live;
        report.elapsed = start.elapsed();
        return report;
    }

    let deadline = start.checked_add(timeout).unwrap_or(start + FAR);
    let barrier = Barrier {
        arrived: Mutex::new(0),
        all_here: Condvar::new(),
        expected: n,
        deadline,
    };
    let warm = Warm {
        client,
        url: &url,
        barrier: &barrier,
        deadline,
        ctx,
    };
    let threads = n.min(max_threads.clamp(1, MAX_THREADS));
    let before = client.stats_of(&origin);
    let outcomes: Vec<Result<u16, Error>> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            // Thread i opens n / threads connections, one more for the first n % threads.
            let share = n / threads + usize::from(i < n % threads);
            let warm = &warm;
            let spawned = std::thread::Builder::new()
                .name(format!("httpbatch-warmup-{i}"))
                .stack_size(STACK_PER_LEVEL * (share + 1))
                .spawn_scoped(s, move || {
                    if !stagger.is_zero() {
                        std::thread::sleep(stagger.saturating_mul(i as u32));
                    }
                    let mut out = Vec::with_capacity(share);
                    chain(warm, share, &mut out);
                    out
                });
            let spawned = spawned.map_err(|e| {
                barrier.arrive(share);
                Error::with_source(ErrorKind::Io, "cannot spawn a warmup thread", e)
            });
            handles.push((spawned, share));
        }
        let mut outcomes = Vec::with_capacity(n);
        for (h, share) in handles {
            let failed = match h.map(|h| h.join()) {
                Ok(Ok(out)) => {
                    outcomes.extend(out);
                    continue;
                }
                Ok(Err(_)) => Error::new(ErrorKind::Panicked, "warmup thread panicked"),
                Err(e) => e,
            };
            // One failure per request the thread was to send, so that ok + failed == attempted.
            for _ in 1..share {
                outcomes.push(Err(Error::new(failed.kind(), failed.message())));
            }
            outcomes.push(Err(failed));
        }
        outcomes
    });
    let after = client.stats_of(&origin);

    let mut statuses = BTreeMap::new();
    for outcome in outcomes {
        match outcome {
            Ok(status) => {
                *statuses.entry(status).or_insert(0) += 1;
                if (200..400).contains(&status) {
                    report.ok += 1;
                } else {
                    report.failed += 1;
                }
            }
            Err(e) => {
                report.failed += 1;
                report.errors.push(e);
            }
        }
    }
    report.statuses = statuses.into_iter().collect();
    report.opened = after.opened.saturating_sub(before.opened);
    report.live = after.live;
    report.elapsed = start.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpbatch_testserver::{Mode, Server};

    #[test]
    fn the_barrier_keeps_late_starters_from_reusing_a_socket() {
        let server = Server::start().unwrap();
        let client = HttpClient::new();
        let t = Duration::from_secs(5);
        let stagger = Duration::from_millis(20);
        // Thread 0 is done long before thread 3 starts: only holding the response keeps its
        // connection out of the idle pool.
        let report = warm_host_staggered(
            &client,
            &server.base_url(),
            4,
            "/",
            t,
            stagger,
            64,
            &Context::new(),
        );
        assert_eq!(
            (report.opened, report.live, report.ok),
            (4, 4, 4),
            "{report:?}"
        );
        assert_eq!(server.accepted(), 4);
    }

    #[test]
    fn one_thread_holds_a_deep_chain_of_connections() {
        let server = Server::start().unwrap();
        let client = HttpClient::new();
        // No limit on time (Duration::MAX) is not an overflow either.
        let t = Duration::MAX;
        // One thread, MAX_PER_THREAD nested requests: every connection held at once.
        let n = MAX_PER_THREAD;
        let report = warm_host_staggered(
            &client,
            &server.base_url(),
            n,
            "/",
            t,
            Duration::ZERO,
            1,
            &Context::new(),
        );
        assert_eq!(
            (report.attempted, report.ok, report.opened, report.live),
            (n, n, n as u64, n as u64),
            "{report:?}"
        );
        assert_eq!(server.accepted(), n as u64);
    }

    #[test]
    fn a_huge_n_is_bounded_not_a_panic() {
        // A port nobody listens on: every connect is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = HttpClient::with_config(
            crate::agent::HttpClientConfig::default().max_idle_per_origin(usize::MAX),
        );
        let report = warm_host(
            &client,
            &format!("http://127.0.0.1:{port}"),
            usize::MAX,
            "/",
            Duration::from_secs(10),
            &Context::new(),
        );
        let cap = MAX_THREADS * MAX_PER_THREAD;
        assert_eq!((report.requested, report.attempted), (usize::MAX, cap));
        assert_eq!(
            (report.ok, report.failed, report.errors.len()),
            (0, cap, cap)
        );
        assert!(
            report
                .errors
                .iter()
                .all(|e| e.kind() == ErrorKind::ConnectRefused),
            "{:?}",
            &report.errors[..3]
        );
        // Duration::MAX as the timeout is "no limit", not an overflow.
        let report = warm_host(
            &client,
            &format!("http://127.0.0.1:{port}"),
            2,
            "/",
            Duration::MAX,
            &Context::new(),
        );
        assert_eq!(report.failed, 2);
    }

    #[test]
    fn failures_do_not_hold_the_others_until_the_deadline() {
        let server = Server::start().unwrap();
        server.set_mode(Mode::Reset);
        let client = HttpClient::new();
        let start = Instant::now();
        let report = warm_host(
            &client,
            &server.base_url(),
            4,
            "/",
            Duration::from_secs(10),
            &Context::new(),
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!((report.ok, report.failed, report.errors.len()), (0, 4, 4));
        assert_eq!(report.live, 0);

        // A host that never answers is bounded by the timeout.
        server.set_mode(Mode::Hang);
        let start = Instant::now();
        let report = warm_host(
            &client,
            &server.base_url(),
            2,
            "/",
            Duration::from_millis(200),
            &Context::new(),
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(report.failed, 2);
        assert!(
            report.errors.iter().all(|e| e.is_timeout()),
            "{:?}",
            report.errors
        );
    }
}
