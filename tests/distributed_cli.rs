//! `httpbatch submit` / `worker` processes against a real `redis-server` and the loopback test
//! server: a shared rate measured at the target, `kill -9` of a worker, Redis restarted and
//! connections dropped mid-run.
//!
//! The shared rate is held to the bounds, measured so that a loaded 2-core machine does
//! not move them: the rate at the target within 1 %, from the moment every worker is warm and
//! read over the admitted span with robust ends (see `span_rate`); no one-second window over
//! rate + burst on the schedule the limiter decided (each slot on the Redis server's clock). The other tests' bounds cover a few late wake-ups; benches/distributed.rs
//! reports the exact figures.

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
    // The switch, the recovery and reclaims are logged at `info` (on stderr, collected).
    worker_logging(redis, list, name, extra, "httpbatch::redis=info")
}

fn worker_logging(
    redis: &RedisServer,
    list: &str,
    name: &str,
    extra: &[&str],
    rust_log: &str,
) -> Child {
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
        .env("RUST_LOG", rust_log)
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

/// Arrival times at the target of the requests whose path starts with `prefix`, in seconds from
/// the first.
fn arrivals(server: &Server, prefix: &str) -> Vec<f64> {
    let a: Vec<_> = server
        .arrivals()
        .into_iter()
        .filter(|a| a.path.starts_with(prefix))
        .collect();
    let Some(t0) = a.first().map(|a| a.at) else {
        return Vec::new();
    };
    a.iter().map(|x| (x.at - t0).as_secs_f64()).collect()
}

/// The rate over the admitted span, `(last − first) / (t_last − t_first)` in arrivals, where
/// `first` and `last` are the first paced arrival and the last one. Each end's time is the
/// median of its `m` neighbours' times, each moved along the nominal spacing `1/nominal` to that
/// end's index: a late wake-up or a cold connection at an end moves a median not at all, while
/// any error of the rate shows in full as drift between the two ends (moving a neighbour by at
/// most `m` spacings adds an error of `m / span` of the rate error itself).
fn span_rate(times: &[f64], first: usize, nominal: f64, m: usize) -> f64 {
    let last = times.len() - 1;
    let anchor = |end: usize, range: std::ops::Range<usize>| {
        let mut at: Vec<f64> = range
            .map(|k| times[k] + (end as f64 - k as f64) / nominal)
            .collect();
        at.sort_by(f64::total_cmp);
        at[at.len() / 2]
    };
    let t_first = anchor(first, first..first + m);
    let t_last = anchor(last, last + 1 - m..last + 1);
    (last - first) as f64 / (t_last - t_first)
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

fn sigterm(child: &Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn four_workers_share_one_rate() {
    let redis = RedisServer::start();
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let list = WorkList::open(&redis.url(), "rate").unwrap();
    let (n, burst) = (800, 10);
    submit(&redis, "rate", &urls(&server, n));
    let args = ["--rate", "200/s", "--burst", "10"];
    // Each admission logs its slot on the Redis server's clock (trace).
    let log = "httpbatch::redis=info,httpbatch::redis::slot=trace";
    let workers: Vec<Child> = (0..4)
        .map(|i| worker_logging(&redis, "rate", &format!("w{i}"), &args, log))
        .collect();
    // The measured part starts once every worker is warm (its process up, connected to Redis
    // and holding open connections to the target, seen as 8 outcomes recorded by each): a
    // process that starts late sends its first requests on cold connections, behind requests
    // admitted after them, and that start-up is not the shared rate.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let st = list.status().unwrap();
        if st.workers.len() == 4 && st.workers.iter().all(|w| w.done >= 8) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the workers never all started: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let warm = server.arrivals().len();
    let logs = wait_all(workers);
    assert_one_outcome_each(&list, n as u64);
    let all = arrivals(&server, "/ok");
    assert_eq!(all.len(), n);
    let t = &all[warm..];
    assert!(
        t.len() >= 500,
        "only {} arrivals after the warm-up",
        t.len()
    );
    // Four busy workers ask for more than 200/s, so the slots (on the Redis server's clock)
    // follow one another every 5 ms: 500 arrivals span 2.5 s at least, so 1 % is 25 ms of drift.
    // Each end is read from 50 arrivals (250 ms), so a stall of a process there moves it little.
    let rate = span_rate(t, 0, 200.0, 50);
    // The windows, on the schedule the limiter decided: every slot the four processes took,
    // on the Redis server's clock, from the first (burst included). At the target each
    // request also carries its own process's delay (a thread scheduled late on a loaded
    // machine sends a slot late, bunched with later ones), which no limiter in the client
    // controls; the benchmark reports the windows at the target.
    let mut slots: Vec<f64> = logs
        .lines()
        .filter(|l| l.contains("[httpbatch::redis::slot]"))
        .filter_map(|l| {
            l.split("slot at ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map(|us| us as f64 / 1e6)
        .collect();
    slots.sort_by(f64::total_cmp);
    assert_eq!(slots.len(), n, "one slot per request");
    let most = max_in_window(&slots, 1.0);
    eprintln!(
        "{} arrivals measured: {rate:.3}/s; at most {most} slots in one second of the schedule, \
         {} arrivals in one second at the target",
        t.len(),
        max_in_window(t, 1.0)
    );
    assert!((rate - 200.0).abs() <= 2.0, "rate {rate:.3}/s");
    assert!(most <= 200 + burst, "{most} slots in one second");
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
    let logs = wait_all(others);
    assert!(
        logs.contains("entries of other workers"),
        "no reclaim logged: {logs}"
    );
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
    // And logged them.
    assert!(summaries.contains("Redis unreachable"), "{summaries}");
    assert!(summaries.contains("Redis answers again"), "{summaries}");
    (quiet, summaries)
}

#[test]
fn redis_restart_fail_closed_waits_and_loses_nothing() {
    let (during_outage, summaries) = redis_restart(false);
    assert_eq!(during_outage, 0, "requests sent while Redis was down");
    assert_eq!(figure(&summaries, "fallback"), 0, "{summaries}");
    assert!(
        summaries.contains("admissions wait and retry"),
        "{summaries}"
    );
}

#[test]
fn redis_restart_fail_open_keeps_going_at_its_share() {
    let (_, summaries) = redis_restart(true);
    // The requests a worker holds (read before the outage) that had no token yet went out
    // through the local limiter at its share. (New ones cannot be read without Redis.)
    assert!(figure(&summaries, "fallback") > 0, "{summaries}");
    assert!(summaries.contains("local fallback at 0.5"), "{summaries}");
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
    sigterm(&w);
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
