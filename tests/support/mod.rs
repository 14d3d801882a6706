//! Shared by the integration tests (`mod support;`): the loopback server and small helpers.
//!
//! Not every test file uses every helper, hence the module-wide `dead_code` allowance.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub use httpbatch_testserver::*;

/// The number of threads in this process, from `Threads:` in `/proc/self/status`.
///
/// Linux only; panics elsewhere, so a test that relies on it fails loudly rather than passing
/// without checking anything. Other tests of the same binary run in parallel threads, so
/// compare counts only in a test that holds [`serial`].
pub fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line in /proc/self/status")
}

/// The number of threads in this process whose OS name starts with `prefix`, from
/// `/proc/self/task/*/comm`. Linux truncates thread names to 15 bytes, so the loopback server's
/// threads (`httpbatch-loopback-…`) all show as `httpbatch-loopb`. Exact even while other tests
/// come and go, as long as none of them runs such threads.
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end().starts_with(prefix))
        .count()
}

/// The OS-visible (truncated) name prefix of the loopback server's threads.
pub const LOOPBACK_THREADS: &str = "httpbatch-loopb";

/// The server's URL for each path.
pub fn urls(server: &Server, paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| server.url(p)).collect()
}

/// `n` URLs of `path` on `server` (e.g. a batch of identical requests).
pub fn repeat_url(server: &Server, path: &str, n: usize) -> Vec<String> {
    vec![server.url(path); n]
}

/// Polls `cond` until it holds, for at most `within`; returns whether it did. For counters
/// that settle a moment after a client acts (e.g. `open_connections` after a client closes).
pub fn eventually(within: Duration, cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Waits until `value()` has not changed for `quiet` (at most `within` in all); returns the
/// value it settled at, or `None` if it never did. For "the client has stopped sending" after an
/// asynchronous pause (a signal, another thread), without guessing how long that takes.
pub fn steady<T: PartialEq>(within: Duration, quiet: Duration, value: impl Fn() -> T) -> Option<T> {
    let end = Instant::now() + within;
    let mut last = value();
    let mut since = Instant::now();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
        let now = value();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return Some(last);
        }
    }
    None
}

/// Holds a process-wide lock for tests that must not overlap others in the same binary (thread
/// counts, timing-sensitive throughput). A test that panicked while holding it does not poison
/// it for the rest.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
