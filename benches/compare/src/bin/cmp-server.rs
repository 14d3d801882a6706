//! The harness's loopback server, a process of its own (so its CPU is not charged to the client
//! under callgrind or strace): `ORIGINS` instances of httpbatch's test server
//! (`httpbatch-testserver`: `/bytes/N`, `/delay/MS`, …), one port each, on 127.0.0.1.
//!
//! Usage: `cmp-server ORIGINS [--arrivals]`. Prints `{"ports":[…]}`, then answers one JSON line
//! per command read from stdin, and stops at end of input:
//! - `reset`: zeroes the counters and forgets the arrivals of every instance;
//! - `stats`: `{"accepted":A,"requests":R}`, connections accepted and requests, all instances;
//! - `arrivals US`: (with `--arrivals`) the intervals between consecutive request arrivals at
//!   the first instance against the expected `US` microseconds: `{"n":…,"span_s":…,
//!   "p50_us":…,"p99_dev_us":…,"max_dev_us":…}` (dev: |interval − US|).

use std::io::{BufRead, Write};

use httpbatch_testserver::Server;
use serde_json::json;

fn main() {
    let mut argv = std::env::args().skip(1);
    let origins: usize = match argv.next().and_then(|a| a.parse().ok()) {
        Some(n) if n > 0 => n,
        _ => {
            eprintln!("usage: cmp-server ORIGINS [--arrivals]");
            std::process::exit(2);
        }
    };
    let arrivals = argv.any(|a| a == "--arrivals");
    let servers: Vec<Server> = (0..origins)
        .map(|_| {
            Server::builder()
                .record_arrivals(arrivals)
                .start()
                .expect("bind a loopback port")
        })
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.addr().port()).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", json!({ "ports": ports })).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        let reply = match words.next() {
            Some("reset") => {
                servers.iter().for_each(Server::reset_counters);
                json!({})
            }
            Some("stats") => json!({
                "accepted": servers.iter().map(Server::accepted).sum::<u64>(),
                "requests": servers.iter().map(Server::requests).sum::<u64>(),
            }),
            Some("arrivals") => {
                let us: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0);
                intervals(&servers[0], us)
            }
            _ => json!({ "error": format!("unknown command {line:?}") }),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
    servers.iter().for_each(Server::stop);
}

fn intervals(server: &Server, expected_us: f64) -> serde_json::Value {
    let at: Vec<_> = server.arrivals().into_iter().map(|a| a.at).collect();
    if at.len() < 2 {
        return json!({ "n": at.len() });
    }
    let mut gaps: Vec<f64> = at
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1e6)
        .collect();
    let mut devs: Vec<f64> = gaps.iter().map(|g| (g - expected_us).abs()).collect();
    gaps.sort_by(f64::total_cmp);
    devs.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({
        "n": at.len(),
        "span_s": at[at.len() - 1].duration_since(at[0]).as_secs_f64(),
        "p50_us": pct(&gaps, 0.5),
        "p99_dev_us": pct(&devs, 0.99),
        "max_dev_us": devs[devs.len() - 1],
    })
}
