//! The shared limiter and work list on a real local `redis-server` (issue 13), short and bounded:
//!
//! 1. Redis round trips per admitted request, without and with leasing (k = 10).
//! 2. Admission latency p50/p99 of an admission that does not wait (one script call).
//! 3. Aggregate rate error of 4 worker processes sharing 1,000/s, at the target server.
//! 4. Throughput of 4 worker processes against 1 on a latency-bound workload (50 ms answers).
//! 5. What the C, C++ and Go worker loop adds per request to the CLI's: parsing the payload
//!    (`request_from_payload`) and writing the outcome (`outcome_line`).
//!
//! Run: `cargo bench --features redis --bench distributed` (needs `redis-server`:
//! scripts/setup.sh installs it).

#[path = "../tests/support/redis.rs"]
mod redis_server;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use httpbatch::distributed::{
    Entry, RedisRateLimiter, WorkList, outcome_line, request_from_payload,
};
use httpbatch::{BatchExecutor, BatchOptions, Context, HttpClient, Rate, Request};
use httpbatch_testserver::Server;
use redis_server::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

fn round_trips_and_latency(redis: &RedisServer) {
    let req = Request::get("http://127.0.0.1:9/").unwrap();
    for lease in [1, 10] {
        let l = RedisRateLimiter::builder(redis.url(), Rate::parse("1000000/s").unwrap(), 1000)
            .key(format!("bench-rt-{lease}"))
            .lease(lease)
            .build()
            .unwrap();
        let n = 20_000;
        let threads = 4;
        let mut lat: Vec<Duration> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let ctx = Context::new();
                        (0..n / threads)
                            .map(|_| {
                                let t = Instant::now();
                                l.acquire(&req, &ctx).unwrap();
                                t.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        lat.sort();
        let s = l.stats();
        println!(
            "lease {lease:>2}: {} admitted by {threads} threads, {} round trips = {:.3} per admission; \
             admission latency p50 {:?} p99 {:?}",
            s.limiter.admitted,
            s.round_trips,
            s.round_trips as f64 / s.limiter.admitted as f64,
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
        );
    }
}

fn submit(redis: &RedisServer, list: &str, urls: impl Iterator<Item = String>) {
    let mut child = Command::new(BIN)
        .args(["submit", "--redis", &redis.url(), "--list", list])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text: Vec<String> = urls.collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.join("\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn workers(redis: &RedisServer, list: &str, n: usize, extra: &[&str]) -> Vec<Child> {
    (0..n)
        .map(|i| {
            Command::new(BIN)
                .args(["worker", "--redis", &redis.url(), "--list", list])
                .args(["--name", &format!("w{i}"), "--exit-when-done"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait(ws: Vec<Child>) {
    for mut w in ws {
        assert!(w.wait().unwrap().success());
    }
}

fn rate_error(redis: &RedisServer, lease: &str) {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let (n, burst, rate) = (3000usize, 10usize, 1000.0);
    let list = format!("rate-{lease}");
    submit(
        redis,
        &list,
        (0..n).map(|i| server.url(&format!("/ok?i={i}"))),
    );
    let c = std::env::var("BENCH_C").unwrap_or_else(|_| "32".into());
    let ws = workers(
        redis,
        &list,
        4,
        &[
            "-c", &c, "--rate", "1000/s", "--burst", "10", "--lease", lease,
        ],
    );
    // The warm point, as tests/distributed_cli.rs takes it: every worker has recorded 32.
    let wl = WorkList::open(&redis.url(), &list).unwrap();
    loop {
        let st = wl.status().unwrap();
        if st.workers.len() == 4 && st.workers.iter().all(|w| w.done >= 32) || st.is_complete() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let warm = server.arrivals().len();
    wait(ws);
    let mut at: Vec<Instant> = server.arrivals().iter().map(|a| a.at).collect();
    at.sort();
    assert_eq!(at.len(), n);
    let span = (at[n - 1] - at[burst - 1]).as_secs_f64();
    let measured = (n - burst) as f64 / span;
    let t: Vec<f64> = at.iter().map(|a| (*a - at[0]).as_secs_f64()).collect();
    // Least-squares slope of the paced arrivals: less sensitive to one late request at an end.
    let paced = &t[burst..];
    let k = paced.len() as f64;
    let (mt, mi) = (paced.iter().sum::<f64>() / k, (k - 1.0) / 2.0);
    let (mut cov, mut var) = (0.0, 0.0);
    for (i, x) in paced.iter().enumerate() {
        cov += (x - mt) * (i as f64 - mi);
        var += (x - mt) * (x - mt);
    }
    let fitted = cov / var;
    // As tests/distributed_cli.rs measures it: over the admitted span, each end the median of
    // 25 neighbours moved along the nominal spacing.
    let anchor = |end: usize, range: std::ops::Range<usize>| {
        let mut v: Vec<f64> = range
            .map(|k| t[k] + (end as f64 - k as f64) / rate)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (first, last) = (burst - 1, n - 1);
    let robust = (last - first) as f64
        / (anchor(last, last - 49..last + 1) - anchor(first, first..first + 50));
    let warm_rate =
        (last - warm) as f64 / (anchor(last, last - 49..last + 1) - anchor(warm, warm..warm + 50));
    let (mut warm_most, mut lo) = (0, warm);
    for hi in warm..t.len() {
        while t[hi] - t[lo] >= 1.0 {
            lo += 1;
        }
        warm_most = warm_most.max(hi - lo + 1);
    }
    let (mut most, mut lo) = (0, 0);
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= 1.0 {
            lo += 1;
        }
        most = most.max(hi - lo + 1);
    }
    println!(
        "4 processes x {c} threads at 1000/s (burst 10, lease {lease}): {n} requests, {measured:.2}/s \
         at the server = {:+.3} % error (fitted slope {fitted:.2}/s = {:+.3} %; span with robust \
         ends {robust:.2}/s = {:+.3} %); most in any 1 s window: {most} (bound {}); from the warm point (arrival {warm}) \
         on: {warm_rate:.2}/s = {:+.3} %, most in any 1 s window {warm_most}",
        (measured / rate - 1.0) * 100.0,
        (fitted / rate - 1.0) * 100.0,
        (robust / rate - 1.0) * 100.0,
        rate as usize + burst,
        (warm_rate / rate - 1.0) * 100.0,
    );
}

fn throughput(redis: &RedisServer) {
    let server = Server::start().unwrap();
    // Long enough that starting the processes (included) weighs little.
    let n = 800;
    let mut times = Vec::new();
    for w in [1, 4] {
        let list = format!("tp-{w}");
        submit(
            redis,
            &list,
            (0..n).map(|i| server.url(&format!("/delay/50?i={i}"))),
        );
        let wl = WorkList::open(&redis.url(), &list).unwrap();
        let start = Instant::now();
        let ws = workers(redis, &list, w, &["-c", "8"]);
        // Until every outcome is recorded (the workers notice and exit a little later).
        while wl.status().unwrap().recorded < n as u64 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let el = start.elapsed();
        wait(ws);
        println!(
            "{w} worker(s) x 8 in flight, {n} requests answered after 50 ms: {el:.2?} = {:.1} req/s",
            n as f64 / el.as_secs_f64()
        );
        times.push(el.as_secs_f64());
    }
    println!("4 workers against 1: {:.2}x", times[0] / times[1]);
}

/// The worker loop of C, C++ and Go runs the same `Worker` as the CLI; what differs per request is
/// the payload parse and the outcome line, timed here on real outcomes (loopback GETs).
fn c_worker_formats() {
    let server = Server::start().unwrap();
    let exec = BatchExecutor::new(HttpClient::new(), 4).unwrap();
    let url = server.url("/ok");
    let payloads = [
        url.clone(),
        format!(
            r#"{{"url":"{url}","method":"POST","headers":{{"x-a":"1"}},"body":{{"a":[1,2]}}}}"#
        ),
    ];
    let n = 20_000;
    for payload in &payloads {
        let entry = Entry {
            entry_id: "1-0".into(),
            id: "request-17".into(),
            seq: 17,
            payload: payload.clone(),
            deliveries: 1,
        };
        let req = request_from_payload(payload).unwrap();
        let outcome = exec
            .execute_batch([req], BatchOptions::new())
            .outcomes
            .remove(0);
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(request_from_payload(std::hint::black_box(payload)).unwrap());
        }
        let parse = start.elapsed() / n;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(outcome_line(&entry, std::hint::black_box(&outcome), "w1"));
        }
        let render = start.elapsed() / n;
        let kind = if payload.starts_with('{') {
            "JSON spec"
        } else {
            "URL"
        };
        println!(
            "C/Go worker formats, {kind} payload: parse {parse:?}, outcome line {render:?} per request"
        );
    }
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average: {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let redis = RedisServer::start();
    round_trips_and_latency(&redis);
    rate_error(&redis, "1");
    rate_error(&redis, "10");
    throughput(&redis);
    c_worker_formats();
}
