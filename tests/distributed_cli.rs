//! `httpbatch submit` / `worker` processes against a real `redis-server` and the loopback test
//! server: a shared rate measured at the target, `kill -9` of a worker, Redis restarted and
//! connections dropped mid-run.
//!
//! Pass/fail bounds hold on a loaded 2-core machine (a late wake-up only spreads arrivals, and
//! the tolerances below cover a few of them); benches/distributed.rs reports the exact figures.

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use httpbatch::distributed::WorkList;
use redis_server::RedisServer;
use support::Server;

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

fn submit(redis: &RedisServer, list: &str, lines: &[String]) {
    let mut child = Command::new(BIN)
        .args(["submit", "--redis", &redis.url(), "--list", list])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn worker(redis: &RedisServer, list: &str, name: &str, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args([
            "worker",
            "--redis",
            &redis.url(),
            "--list",
            list,
            "--name",
            name,
        ])
        .args(["--exit-when-done", "-c", "8"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for every worker to exit successfully; returns their summary lines (stderr).
fn wait_all(workers: Vec<Child>) -> String {
    let mut text = String::new();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        text += &err;
    }
    text
}

/// The sum of the figure before `label` in every worker's summary (`…, 12 fallback, …`).
fn figure(summaries: &str, label: &str) -> u64 {
    summaries
        .split([',', ';', ':', '\n'])
        .filter_map(|part| part.trim().strip_suffix(label))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

/// Every submitted id has exactly one outcome (a hash field each) and nothing is pending.
fn assert_one_outcome_each(list: &WorkList, n: u64) {
    let st = list.status().unwrap();
    assert_eq!(
        (st.total, st.recorded, st.pending, st.queued),
        (n, n, 0, 0),
        "{st:?}"
    );
    let all = list.in_order(0, n).unwrap();
    assert_eq!(all.len() as u64, n);
    for (i, (id, outcome)) in all.iter().enumerate() {
        assert_eq!(id, &i.to_string());
        let o = outcome
            .as_deref()
            .unwrap_or_else(|| panic!("no outcome for {id}"));
        assert!(o.contains("\"status\":200"), "{o}");
    }
    assert_eq!(list.completed(0, n + 10).unwrap().len() as u64, n);
}

/// Arrival times at the target, in seconds from the first.
fn arrivals(server: &Server) -> Vec<f64> {
    let a = server.arrivals();
    let t0 = a[0].at;
    a.iter().map(|x| (x.at - t0).as_secs_f64()).collect()
}

/// Least-squares slope of the index against `times`: arrivals per second.
fn slope(times: &[f64]) -> f64 {
    let n = times.len() as f64;
    let mean_t = times.iter().sum::<f64>() / n;
    let mean_i = (n - 1.0) / 2.0;
    let (mut cov, mut var) = (0.0, 0.0);
    for (i, t) in times.iter().enumerate() {
        cov += (t - mean_t) * (i as f64 - mean_i);
        var += (t - mean_t) * (t - mean_t);
    }
    cov / var
}

fn max_in_window(times: &[f64], window: f64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn urls(server: &Server, n: usize) -> Vec<String> {
    (0..n).map(|i| server.url(&format!("/ok?i={i}"))).collect()
}

#[test]
fn four_workers_share_one_rate() {
    let redis = RedisServer::start();
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let (n, burst) = (400, 10);
    submit(&redis, "rate", &urls(&server, n));
    let args = ["--rate", "200/s", "--burst", "10"];
    let workers = (0..4)
        .map(|i| worker(&redis, "rate", &format!("w{i}"), &args))
        .collect();
    wait_all(workers);
    assert_one_outcome_each(&WorkList::open(&redis.url(), "rate").unwrap(), n as u64);
    let t = arrivals(&server);
    assert_eq!(t.len(), n);
    // Slots: `burst` at once, then one per 5 ms: 200/s exactly on the server's slots. The rate
    // is the least-squares slope of the paced arrivals (request number against time), so a
    // late first request of a freshly started process or a late wake-up moves it little; a
    // moment when no worker had a request ready (a lost slot) lowers it. 3 % holds under load;
    // the benchmark measures the error itself.
    let rate = slope(&t[burst..]);
    assert!((rate - 200.0).abs() <= 6.0, "rate {rate:.2}/s");
    // No one-second window above 200 + burst: the slots never allow more, but under load a
    // request can reach the server late and bunch with the next ones, so allow 50 ms of them.
    let most = max_in_window(&t, 1.0);
    assert!(most <= 200 + burst + 10, "{most} in one second");
}

#[test]
fn kill_9_of_a_worker_loses_nothing_and_duplicates_at_most_its_in_flight() {
    let redis = RedisServer::start();
    let server = Server::start().unwrap();
    let n = 300;
    submit(&redis, "kill", &urls(&server, n));
    let list = WorkList::open(&redis.url(), "kill").unwrap();
    let args = ["--rate", "200/s", "--burst", "5", "--visibility", "2s"];
    let mut victim = worker(&redis, "kill", "victim", &args);
    let others: Vec<Child> = (0..3)
        .map(|i| worker(&redis, "kill", &format!("w{i}"), &args))
        .collect();
    // Kill it mid-run, once it has recorded some outcomes (observed in Redis).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let st = list.status().unwrap();
        if st
            .workers
            .iter()
            .any(|w| w.name == "victim" && w.done >= 20)
        {
            break;
        }
        assert!(Instant::now() < until, "the victim never got going: {st:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    wait_all(others);
    assert_one_outcome_each(&list, n as u64);
    // Requests sent twice: only those the victim had on the wire (at most its -c 8).
    let sent = server.requests_for("/ok");
    assert!(
        sent >= n as u64 && sent - n as u64 <= 8,
        "{sent} sent for {n}"
    );
}

/// Redis killed and restarted (its data kept on disk) while workers run: nothing lost; while it
/// is down a fail-closed worker sends nothing new, a fail-open one keeps going.
fn redis_restart(fail_open: bool) -> (usize, String) {
    let mut redis = RedisServer::start_persistent();
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let n = 300;
    submit(&redis, "restart", &urls(&server, n));
    let list = WorkList::open(&redis.url(), "restart").unwrap();
    let mut args = vec!["--rate", "100/s", "--burst", "1"];
    if fail_open {
        args.extend(["--fail-open", "0.5"]);
    }
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(&redis, "restart", &format!("w{i}"), &args))
        .collect();
    let until = Instant::now() + Duration::from_secs(30);
    while list.status().unwrap().recorded < 50 {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(5));
    }
    let down = Instant::now();
    redis.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let up = Instant::now();
    redis.restart();
    let summaries = wait_all(workers);
    assert_one_outcome_each(&list, n as u64);
    assert_eq!(
        server.requests_for("/ok"),
        n as u64,
        "no request sent twice"
    );
    // Arrivals while Redis was down, after the tokens reserved before it went (at most 16
    // in flight or queued per worker at 100/s: 320 ms) had been used.
    let quiet = server
        .arrivals()
        .iter()
        .filter(|a| a.at > down + Duration::from_millis(600) && a.at < up)
        .count();
    assert_eq!(server.arrivals().len(), n);
    // Each worker saw Redis go and come back (the limiter's switch and recovery, counted).
    assert!(figure(&summaries, "switches") >= 1, "{summaries}");
    assert!(figure(&summaries, "recoveries") >= 1, "{summaries}");
    (quiet, summaries)
}

#[test]
fn redis_restart_fail_closed_waits_and_loses_nothing() {
    let (during_outage, summaries) = redis_restart(false);
    assert_eq!(during_outage, 0, "requests sent while Redis was down");
    assert_eq!(figure(&summaries, "fallback"), 0, "{summaries}");
}

#[test]
fn redis_restart_fail_open_keeps_going_at_its_share() {
    let (_, summaries) = redis_restart(true);
    // The requests a worker holds (read before the outage) that had no token yet went out
    // through the local limiter at its share. (New ones cannot be read without Redis.)
    assert!(figure(&summaries, "fallback") > 0, "{summaries}");
}

#[test]
fn dropped_connections_rejoin_without_duplicates() {
    let redis = RedisServer::start();
    let server = Server::start().unwrap();
    let n = 200;
    submit(&redis, "drop", &urls(&server, n));
    let list = WorkList::open(&redis.url(), "drop").unwrap();
    let args = ["--rate", "200/s", "--burst", "5"];
    let workers: Vec<Child> = (0..2)
        .map(|i| worker(&redis, "drop", &format!("w{i}"), &args))
        .collect();
    for target in [40, 100] {
        while list.status().unwrap().recorded < target {
            std::thread::sleep(Duration::from_millis(5));
        }
        redis.kill_clients();
    }
    wait_all(workers);
    assert_one_outcome_each(&list, n as u64);
    assert_eq!(server.requests_for("/ok"), n as u64);
}

#[test]
fn sigterm_finishes_in_flight_work_and_exits_cleanly() {
    let redis = RedisServer::start();
    let server = Server::start().unwrap();
    let n = 40;
    let slow: Vec<String> = (0..n)
        .map(|i| server.url(&format!("/delay/200?i={i}")))
        .collect();
    submit(&redis, "term", &slow);
    let list = WorkList::open(&redis.url(), "term").unwrap();
    // No --exit-when-done: it runs until signalled.
    let w = Command::new(BIN)
        .args([
            "worker",
            "--redis",
            &redis.url(),
            "--list",
            "term",
            "--name",
            "w",
        ])
        .args(["-c", "4"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while list.status().unwrap().recorded < 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = w.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What it had read ran and was recorded: nothing left pending under its name.
    let st = list.status().unwrap();
    assert_eq!(st.pending, 0, "{st:?}");
    assert!(st.recorded < n as u64, "it stopped early: {st:?}");
    // Another worker finishes the rest; every request ran exactly once.
    wait_all(vec![worker(&redis, "term", "w2", &[])]);
    assert_eq!(list.status().unwrap().recorded, n as u64);
    assert_eq!(server.requests_for("/delay/200"), n as u64);
}
