//! `par_map` efficiency (issue 5), against a loopback server started here.
//!
//! 2,000 GETs of `/delay/20` at concurrency 100 through `par_map` over the `HttpClient` leaf
//! (idle cap 128 per origin, so no connection churns). The ideal wall time is
//! `2,000 / 100 × 20 ms = 400 ms`; efficiency = ideal ÷ wall time.
//!
//! Reported: one cold run (the first, which also opens the 100 connections), then `ROUNDS` warm
//! runs (best and median). As a ceiling, the same workload on 100 plain threads each looping
//! over one shared `ureq::Agent` — what the loopback server and the machine allow without any
//! pool at all.
//!
//! Run: `cargo bench --bench par_map` (set `PAR_REQUESTS` to change the request count).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use httpbatch::prelude::*;
use httpbatch::{HttpClient, HttpClientConfig, ParExecutor, Request};
use httpbatch_testserver::Server;

const CONCURRENCY: usize = 100;
const DELAY_MS: u64 = 20;
const ROUNDS: usize = 5;

fn ideal(n: usize) -> Duration {
    Duration::from_millis((n / CONCURRENCY) as u64 * DELAY_MS)
}

fn run_par(par: &ParExecutor<HttpClient>, url: &str, n: usize) -> Duration {
    let requests: Vec<_> = (0..n).map(|_| Request::get(url)).collect();
    let t = Instant::now();
    let ok = requests.par_map(par, |res| res.is_ok_and(|r| r.status() == 200));
    let d = t.elapsed();
    assert!(ok.iter().all(|ok| *ok), "every request answered 200");
    d
}

fn run_raw(url: &str, n: usize) -> Duration {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_idle_connections(CONCURRENCY * 2)
        .max_idle_connections_per_host(CONCURRENCY * 2)
        .build()
        .into();
    // Open the connections first, like the warm par runs.
    let warm = |count: usize| {
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let threads: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (agent, next, url) = (agent.clone(), next.clone(), url.to_owned());
                std::thread::spawn(move || {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        let mut res = agent.get(&url).call().unwrap();
                        res.body_mut().read_to_vec().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        t.elapsed()
    };
    warm(CONCURRENCY);
    warm(n)
}

fn line(label: &str, n: usize, d: Duration) {
    println!(
        "{label:<28} {n} requests in {:>7.1} ms  {:>7.0} req/s  efficiency {:>5.1} %",
        d.as_secs_f64() * 1e3,
        n as f64 / d.as_secs_f64(),
        ideal(n).as_secs_f64() / d.as_secs_f64() * 100.0
    );
}

fn main() {
    let n: usize = std::env::var("PAR_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let server = Server::start().expect("loopback server");
    let url = server.url(&format!("/delay/{DELAY_MS}"));
    let client = HttpClient::with_config(HttpClientConfig::default().max_idle_per_origin(128));
    let par = ParExecutor::new(client, CONCURRENCY).expect("par executor");
    println!(
        "par_map: {n} × GET /delay/{DELAY_MS} at concurrency {CONCURRENCY}, ideal {:.0} ms",
        ideal(n).as_secs_f64() * 1e3
    );

    line("par_map, cold (connects)", n, run_par(&par, &url, n));
    let mut warm: Vec<Duration> = (0..ROUNDS).map(|_| run_par(&par, &url, n)).collect();
    for (i, d) in warm.iter().enumerate() {
        line(&format!("par_map, warm run {}", i + 1), n, *d);
    }
    warm.sort();
    line("par_map, warm best", n, warm[0]);
    line("par_map, warm median", n, warm[ROUNDS / 2]);
    let conns = par.get_ref().connection_stats();
    println!(
        "connections: opened {}, reused {} of {} requests; peak in flight {}",
        conns.opened,
        conns.reused,
        conns.requests,
        par.stats().peak_in_flight
    );

    let mut raw: Vec<Duration> = (0..3).map(|_| run_raw(&url, n)).collect();
    raw.sort();
    line("ceiling: 100 raw threads", n, raw[1]);

    // One request alone, on a warm connection: what a "20 ms" exchange really takes here
    // (the server's timed wait plus both HTTP stacks). No schedule of sequential rounds can
    // beat rounds × this.
    let agent: ureq::Agent = ureq::Agent::new_with_defaults();
    let alone = |u: &str| {
        agent
            .get(u)
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap();
        let t = Instant::now();
        for _ in 0..50 {
            agent
                .get(u)
                .call()
                .unwrap()
                .body_mut()
                .read_to_vec()
                .unwrap();
        }
        t.elapsed() / 50
    };
    let zero = alone(&server.url("/delay/0"));
    let one = alone(&url);
    println!(
        "one request alone: /delay/0 {:.3} ms, /delay/{DELAY_MS} {:.3} ms",
        zero.as_secs_f64() * 1e3,
        one.as_secs_f64() * 1e3
    );
    println!(
        "=> best possible efficiency for {} sequential rounds: {:.1} %",
        n / CONCURRENCY,
        DELAY_MS as f64 / (one.as_secs_f64() * 1e3) * 100.0
    );
}
