//! Warmup: open n connections to a host at once.
//!
//! Why a barrier: ureq checks a connection out of the idle pool for a request and returns it when
//! the response body has been read. n requests sent one after another would all reuse the first
//! socket. So n threads each send a request and, once the response head has arrived, hold the
//! response (body unread, connection checked out) until all n have arrived; only then do they
//! read their bodies and give the connections back to the idle pool, which now holds n.
//!
//! Invariants:
//! - Every thread arrives at the barrier exactly once: after its response head (inside the
//!   leaf's hold hook) or, if the request failed before that, right after the failure. A thread
//!   that could not be spawned is arrived for by the spawning thread. So the barrier opens as
//!   soon as every request has either connected or failed.
//! - Every wait is bounded: requests by the warmup timeout (their whole-exchange timeout), the
//!   barrier by a deadline one warmup timeout after the start.
//! - Warmup requests are real traffic and pass the admission gate like any request: each thread
//!   sends under the caller's context, so the leaf charges every admission registered on it
//!   (one token per warmup request).
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
    fn arrive(&self) {
        let mut n = self.arrived.lock();
        *n += 1;
        if *n >= self.expected {
            self.all_here.notify_all();
        }
    }

    fn arrive_and_wait(&self) {
        let mut n = self.arrived.lock();
        *n += 1;
        if *n >= self.expected {
            self.all_here.notify_all();
            return;
        }
        while *n < self.expected {
            if self.all_here.wait_until(&mut n, self.deadline).timed_out() {
                return;
            }
        }
    }
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
    warm_host_staggered(client, host, n, path, timeout, Duration::ZERO, ctx)
}

/// [`warm_host`], with thread `i` starting its request `i × stagger` late (tests use it to show
/// that the barrier, not lucky timing, keeps the connections apart).
fn warm_host_staggered(
    client: &HttpClient,
    host: &str,
    n: usize,
    path: &str,
    timeout: Duration,
    stagger: Duration,
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
        Ok(u) => u.origin(),
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
    let n = n.min(client.config().get_max_idle_per_origin());
    report.attempted = n;
    if n == 0 {
        report.live = client.stats_of(&origin).live;
        report.elapsed = start.elapsed();
        return report;
    }

    let deadline = start + timeout;
    let barrier = Barrier {
        arrived: Mutex::new(0),
        all_here: Condvar::new(),
        expected: n,
        deadline,
    };
    let before = client.stats_of(&origin);
    let outcomes: Vec<Result<u16, Error>> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (barrier, url) = (&barrier, &url);
            let spawned = std::thread::Builder::new()
                .name(format!("httpbatch-warmup-{i}"))
                .spawn_scoped(s, move || {
                    if !stagger.is_zero() {
                        std::thread::sleep(stagger * i as u32);
                    }
                    // The caller's context: its admissions (rate limiters) are paid by the leaf,
                    // its cancel and deadline honoured; the request's own timeout bounds it.
                    let mut arrived = false;
                    let res = Request::builder(Method::Get, url)
                        .timeout(timeout)
                        .build()
                        .and_then(|req| {
                            client.execute_holding(req, ctx, &mut || {
                                arrived = true;
                                barrier.arrive_and_wait();
                            })
                        });
                    if !arrived {
                        barrier.arrive();
                    }
                    res.map(|r| r.status())
                });
            match spawned {
                Ok(h) => handles.push(Ok(h)),
                Err(e) => {
                    barrier.arrive();
                    handles.push(Err(Error::with_source(
                        ErrorKind::Io,
                        "cannot spawn a warmup thread",
                        e,
                    )));
                }
            }
        }
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(Error::new(ErrorKind::Panicked, "warmup thread panicked"))
                }),
                Err(e) => Err(e),
            })
            .collect()
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
