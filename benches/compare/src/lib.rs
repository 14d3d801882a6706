//! What the harness's Rust clients share: the command line every client takes (the C and Go
//! clients take the same), the pacing of clients that have no rate limiter of their own, the
//! honesty settings (timeouts, status check) and the one JSON line each client prints.
//!
//! Client command line: `CLIENT N C RATE BURST URL [URL...]`: send `N` GETs, at most `C` at
//! once, at most `RATE` per second with bursts of `BURST` (`RATE` 0: unlimited), request `i` to
//! `URL[i % len]`. Every body is read to the end, every status checked (200 counts as ok),
//! every request has a 30 s timeout and a 10 s connect timeout (httpbatch's defaults). The
//! client prints `{"client":…,"n":…,"ok":…,"bytes":…,"wall_s":…,"errors":…,"first_error":…}`
//! and exits 0 when every request was ok, 1 otherwise, 2 on a bad command line.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whole-exchange timeout of every client (httpbatch's default).
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Connect timeout of every client (httpbatch's default).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client's command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// Requests to send.
    pub n: usize,
    /// Most requests in flight.
    pub c: usize,
    /// Requests per second; 0: unlimited.
    pub rate: f64,
    /// Burst of the rate (at least 1).
    pub burst: u32,
    /// Request `i` goes to `urls[i % urls.len()]`.
    pub urls: Vec<String>,
}

impl Args {
    /// Parses the process's arguments; prints the usage and exits 2 when they are wrong.
    pub fn from_env() -> Args {
        let v: Vec<String> = std::env::args().skip(1).collect();
        match Args::parse(&v) {
            Some(a) => a,
            None => {
                eprintln!("usage: CLIENT N C RATE BURST URL [URL...]   (RATE 0: unlimited)");
                std::process::exit(2);
            }
        }
    }

    fn parse(v: &[String]) -> Option<Args> {
        if v.len() < 5 {
            return None;
        }
        let a = Args {
            n: v[0].parse().ok()?,
            c: v[1].parse().ok().filter(|&c| c > 0)?,
            rate: v[2]
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r >= 0.0)?,
            burst: v[3].parse().ok().filter(|&b| b > 0)?,
            urls: v[4..].to_vec(),
        };
        Some(a)
    }

    /// The URL of request `i`.
    pub fn url(&self, i: usize) -> &str {
        &self.urls[i % self.urls.len()]
    }

    /// The pacer for this rate, if any.
    pub fn pacer(&self) -> Option<Pacer> {
        (self.rate > 0.0).then(|| Pacer::new(self.rate, self.burst))
    }

    /// Distinct origins among the URLs (scheme://host:port), to size idle pools.
    pub fn origins(&self) -> usize {
        let mut o: Vec<&str> = self
            .urls
            .iter()
            .map(|u| {
                let after = u.find("://").map_or(0, |p| p + 3);
                let end = u[after..].find('/').map_or(u.len(), |p| after + p);
                &u[..end]
            })
            .collect();
        o.sort_unstable();
        o.dedup();
        o.len()
    }
}

/// Evenly spaced start times (GCRA): request `k` may start once `burst` slots are free. For the
/// clients that have no limiter of their own; httpbatch's clients use httpbatch's limiter.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    slack: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `rate` per second, bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Pacer {
        let interval = Duration::from_secs_f64(1.0 / rate);
        Pacer {
            interval,
            slack: interval * burst.saturating_sub(1),
            next: Mutex::new(None),
        }
    }

    /// Takes the next slot: the instant the caller may start its request.
    pub fn slot(&self) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap();
        let earliest = now.checked_sub(self.slack).unwrap_or(now);
        let slot = next.map_or(now, |n| n.max(earliest));
        *next = Some(slot + self.interval);
        slot
    }

    /// Takes the next slot and sleeps until it.
    pub fn wait(&self) {
        let slot = self.slot();
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

/// What the requests came to, shared by a client's threads or tasks.
#[derive(Debug, Default)]
pub struct Tally {
    ok: AtomicUsize,
    errors: AtomicUsize,
    bytes: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    /// A response: ok when its status is 200, an error otherwise.
    pub fn response(&self, status: u16, body_len: usize) {
        if status == 200 {
            self.ok.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(body_len as u64, Ordering::Relaxed);
        } else {
            self.error(format!("status {status}"));
        }
    }

    /// A failed request.
    pub fn error(&self, what: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(what.to_string());
        }
    }

    /// Prints the client's JSON line with the wall time since `started` and exits: 0 when all
    /// `n` requests were ok.
    pub fn finish(&self, client: &str, args: &Args, started: Instant) -> ! {
        self.finish_wall(client, args, started.elapsed())
    }

    /// [`finish`](Self::finish) with the wall time measured by the caller: for a client that
    /// tears its executor down (joins its threads, closes its connections) after the last body
    /// was read and before it exits. The wall time stops at the last body, for every client:
    /// the others exit with their pools and threads still up.
    pub fn finish_wall(&self, client: &str, args: &Args, wall: Duration) -> ! {
        let wall = wall.as_secs_f64();
        let ok = self.ok.load(Ordering::Relaxed);
        let line = serde_json::json!({
            "client": client,
            "n": args.n,
            "ok": ok,
            "bytes": self.bytes.load(Ordering::Relaxed),
            "wall_s": wall,
            "errors": self.errors.load(Ordering::Relaxed),
            "first_error": self.first_error.lock().unwrap().clone(),
        });
        println!("{line}");
        std::process::exit(if ok == args.n { 0 } else { 1 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Option<Args> {
        Args::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_and_rejects() {
        let a = args(&[
            "10",
            "2",
            "0",
            "1",
            "http://a:1/x",
            "http://b:2/y",
            "http://a:1/z",
        ])
        .unwrap();
        assert_eq!((a.n, a.c, a.urls.len()), (10, 2, 3));
        assert_eq!(a.url(4), "http://b:2/y");
        assert_eq!(a.origins(), 2);
        assert!(a.pacer().is_none());
        assert!(args(&["10", "0", "0", "1", "http://a/"]).is_none());
        assert!(args(&["10", "1", "-1", "1", "http://a/"]).is_none());
        assert!(args(&["10", "1", "5", "0", "http://a/"]).is_none());
        assert!(args(&["10", "1", "5", "1"]).is_none());
    }

    #[test]
    fn pacer_spaces_slots_and_allows_the_burst() {
        let p = Pacer::new(100.0, 1);
        let a = p.slot();
        let b = p.slot();
        assert_eq!(b - a, Duration::from_millis(10));
        let p = Pacer::new(100.0, 3);
        let first = p.slot();
        std::thread::sleep(Duration::from_millis(50));
        // After an idle spell, up to `burst` slots are due at once (not in the past beyond it).
        let s: Vec<Instant> = (0..4).map(|_| p.slot()).collect();
        assert!(s[0] >= first + Duration::from_millis(10));
        assert_eq!(s[3] - s[2], Duration::from_millis(10));
    }
}
