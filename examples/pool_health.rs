//! Warmup and a health-check dashboard over two hosts.
//!
//! 1. Warmup opens 4 connections to each host at once, and reports per host.
//! 2. Health checks probe both hosts every 100 ms. Host B "goes down" (answers 503 to
//!    everything): after two failed probes its circuit opens and requests to it fail fast with
//!    `circuit_open`, without touching the network. Then B comes back, one good probe closes
//!    the circuit, and requests go through again.
//!
//! Run with `cargo run --example pool_health`. It takes about two seconds.

use std::time::{Duration, Instant};

use httpbatch::{
    ConnectionPool, Context, ErrorKind, Execute, HealthCheckConfig, HealthState, Request,
    RetryPolicy, Url,
};
use httpbatch_testserver::{Mode, Server};

const INTERVAL: Duration = Duration::from_millis(100);

fn dashboard(pool: &ConnectionPool, label: &str) {
    println!("── {label}");
    println!(
        "   {:<24} {:<10} {:>6} {:>7} {:>9}  last error",
        "host", "state", "checks", "failed", "latency"
    );
    for (origin, h) in pool.health() {
        println!(
            "   {:<24} {:<10} {:>6} {:>7} {:>9}  {}",
            origin,
            h.state.as_str(),
            h.checks,
            h.failed_checks,
            h.last_latency
                .map_or_else(|| "-".into(), |d| format!("{:.1}ms", d.as_secs_f64() * 1e3)),
            h.last_error.as_deref().unwrap_or("-")
        );
    }
}

/// Waits (bounded) until `host`'s state is `want`.
fn wait_for(pool: &ConnectionPool, host: &str, want: HealthState) -> Result<Duration, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if pool.host_health(host).is_some_and(|h| h.state == want) {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!("{host} did not become {want} within 5 s"))
}

/// Attempts the pool sent on the wire to `base_url`'s origin.
fn attempts_to(pool: &ConnectionPool, base_url: &str) -> u64 {
    let origin = Url::parse(base_url)
        .expect("a server URL")
        .origin()
        .to_owned();
    pool.host_stats()
        .iter()
        .find(|h| h.origin == origin)
        .map(|h| h.attempts)
        .expect("the pool knows the host")
}

fn get(pool: &ConnectionPool, url: &str) -> String {
    match Request::get(url).and_then(|r| pool.execute(r, &Context::new())) {
        Ok(r) => format!("status {}", r.status()),
        Err(e) => format!("error {} ({})", e.kind(), e.message()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Server::start()?;
    let b = Server::start()?;
    let pool = ConnectionPool::builder()
        .max_in_flight_per_host(8)
        .retry_policy(RetryPolicy::none())
        .health_check(HealthCheckConfig::default().unhealthy_threshold(2))
        .on_health_change(|origin, old, new| println!("   ! {origin}: {old} -> {new}"))
        .warmup_path("/ok")
        .build()?;

    let report = pool.warmup(&[&a.base_url(), &b.base_url()], 4);
    println!("warmup in {:?}:", report.elapsed);
    for h in &report.hosts {
        println!(
            "   {}: {} of {} ok, {} sockets opened, {} live",
            h.origin, h.ok, h.attempted, h.opened, h.live
        );
    }
    assert_eq!(report.opened(), 8);

    pool.enable_health_check(&[&a.base_url(), &b.base_url()], INTERVAL, "/ok")?;
    std::thread::sleep(INTERVAL * 2);
    dashboard(&pool, "both hosts up");

    b.set_mode(Mode::Unavailable);
    let took = wait_for(&pool, &b.base_url(), HealthState::Unhealthy)?;
    println!("\nhost B went down; marked unhealthy after {took:?}");
    dashboard(&pool, "B down");
    let before = attempts_to(&pool, &b.base_url());
    let answer = get(&pool, &b.url("/ok"));
    println!("   request to B: {answer}");
    assert!(answer.contains(ErrorKind::CircuitOpen.as_str()));
    assert_eq!(attempts_to(&pool, &b.base_url()), before);
    println!("   (failed fast: no attempt went on the wire; only probes test B while it is down)");
    println!("   request to A: {}", get(&pool, &a.url("/ok")));

    b.set_mode(Mode::Normal);
    let took = wait_for(&pool, &b.base_url(), HealthState::Healthy)?;
    println!("\nhost B came back; healthy again after {took:?}");
    dashboard(&pool, "recovered");
    println!("   request to B: {}", get(&pool, &b.url("/ok")));

    let s = pool.stats();
    println!(
        "\npool: {} requests, {} failed fast by an open circuit, {} sockets opened, {} reused",
        s.requests, s.circuit_open, s.connections_opened, s.connections_reused
    );
    pool.disable_health_check();
    Ok(())
}
