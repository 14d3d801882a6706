//! The workloads (W1, W1 with `localhost`, W2, W3, W7) in interleaved rounds, the instruction
//! and system-call counts (CG, ST), and the rows they make.
//!
//! Every run starts with the server's counters reset and ends by reading them: the server must
//! have seen every request, and the connections it accepted are the ones the client opened.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::Opts;
use crate::clients::{Client, Job};
use crate::measure;
use crate::proc::Server;
use crate::table::{Row, fmt_ratios, fmt_spread, paired, ratio};

/// W1's and W7's references, and the Rust API the bindings are compared with.
const UREQ: &str = "ureq";
const REQWEST: &str = "reqwest";
const HTTPBATCH: &str = "httpbatch";
const WRK: &str = "wrk";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Srv {
    /// One origin.
    Single,
    /// 64 origins (W7).
    Multi,
    /// One origin recording arrival times (W3).
    Paced,
}

const ORIGINS_W7: usize = 64;
/// W3: 200 requests per second, so arrivals 5 ms apart.
const W3_RATE: f64 = 200.0;

#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    rss: u64,
    accepted: u64,
    jitter_p99_us: f64,
    /// First to last arrival at the server (W3).
    span_s: f64,
}

type Series = BTreeMap<&'static str, Vec<Option<Sample>>>;
type Step<'h, 'a> = &'h dyn Fn(&mut Harness<'a>) -> Result<Vec<Row>, String>;
type Figure = (&'static str, fn(&Sample) -> f64);
/// A system-call counter (perf or strace) around a client's command line.
type Counter = fn(&[String], &std::path::Path, Duration, &std::path::Path) -> Result<Calls, String>;
type Calls = BTreeMap<String, u64>;
/// Per client: a figure, and its detail (the top system calls).
type PerClient = (BTreeMap<&'static str, f64>, BTreeMap<&'static str, String>);

/// `(big[k] − small[k]) / 1500`: the marginal count per request of N=2000 over N=500.
fn marginal(big: &Calls, small: &Calls, k: &str) -> f64 {
    (*big.get(k).unwrap_or(&0) as f64 - *small.get(k).unwrap_or(&0) as f64) / 1500.0
}

/// The `n` system calls with the most marginal calls per request (0.05 and up), `name v.v`.
fn top_calls(big: &Calls, small: &Calls, n: usize) -> String {
    let mut by: Vec<(&String, f64)> = big
        .keys()
        .filter(|k| *k != "total")
        .map(|k| (k, marginal(big, small, k)))
        .collect();
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    by.iter()
        .take(n)
        .filter(|(_, v)| *v >= 0.05)
        .map(|(k, v)| format!("{k} {v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub struct Harness<'a> {
    opts: &'a Opts,
    clients: Vec<Client>,
    wrk: bool,
    work: PathBuf,
    log: PathBuf,
    pub rounds: usize,
    pub notes: Vec<String>,
    servers: Vec<(Srv, Server)>,
}

impl<'a> Harness<'a> {
    pub fn new(
        opts: &'a Opts,
        clients: Vec<Client>,
        wrk: bool,
        work: PathBuf,
        notes: Vec<String>,
    ) -> Self {
        let log = work.join("clients.log");
        let _ = std::fs::write(&log, "");
        Harness {
            opts,
            clients,
            wrk,
            log,
            work,
            rounds: opts.rounds.unwrap_or(if opts.quick { 3 } else { 7 }),
            notes,
            servers: Vec::new(),
        }
    }

    fn server(&mut self, kind: Srv) -> Result<&mut Server, String> {
        if !self.servers.iter().any(|(k, _)| *k == kind) {
            let (origins, arrivals) = match kind {
                Srv::Single => (1, false),
                Srv::Multi => (ORIGINS_W7, false),
                Srv::Paced => (1, true),
            };
            let s = Server::start(
                &self.opts.bins.join("cmp-server"),
                origins,
                arrivals,
                &self.log,
            )
            .map_err(|e| format!("server: {e}"))?;
            self.servers.push((kind, s));
        }
        Ok(&mut self
            .servers
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("started")
            .1)
    }

    fn urls(&mut self, kind: Srv, host: &str, path: &str) -> Result<Vec<String>, String> {
        let s = self.server(kind)?;
        Ok((0..s.ports.len())
            .map(|i| format!("{}{path}", s.base(host, i)))
            .collect())
    }

    pub fn run_all(&mut self) -> Vec<Row> {
        let mut rows = Vec::new();
        let quick = self.opts.quick;
        let few = if quick { 1 } else { self.rounds };
        let wrk_secs = if quick { 1 } else { 2 };
        let plan: [(&str, Step<'_, 'a>); 7] = [
            ("W1", &|h| {
                h.throughput("W1", Srv::Single, "127.0.0.1", 32, h.rounds, wrk_secs)
            }),
            ("W1L", &|h| {
                h.throughput("W1L", Srv::Single, "localhost", 32, few, wrk_secs)
            }),
            ("W2", &|h| h.w2(few, wrk_secs)),
            ("W3", &|h| h.w3(if quick { 1 } else { few.min(3) })),
            ("W7", &|h| {
                h.throughput("W7", Srv::Multi, "127.0.0.1", 64, h.rounds, 0)
            }),
            ("CG", &|h| h.instructions()),
            ("ST", &|h| h.syscalls()),
        ];
        for (name, f) in plan {
            if !self.opts.wants(name) {
                continue;
            }
            eprintln!("== {name}");
            match f(self) {
                Ok(r) => rows.extend(r),
                Err(e) => self.notes.push(format!("{name} not measured: {e}")),
            }
        }
        rows
    }

    /// One run of `client` (or wrk when `None`) on `job`.
    fn run_one(
        &mut self,
        kind: Srv,
        client: Option<&Client>,
        job: &Job,
        wrk_secs: u64,
    ) -> Result<Sample, String> {
        let argv = match client {
            Some(c) => Some(c.argv(job, &self.work).map_err(|e| e.to_string())?),
            None => None,
        };
        let log = self.log.clone();
        let srv = self.server(kind)?;
        srv.ask("reset").map_err(|e| e.to_string())?;
        let (wall, rss) = match (client, argv) {
            (Some(c), Some(argv)) => {
                let limit = Duration::from_secs(120);
                let exit = crate::proc::run(&argv, limit, &log).map_err(|e| e.to_string())?;
                let o = c.outcome(job, &exit)?;
                (o.wall_s, o.max_rss)
            }
            _ => {
                let rate = measure::wrk(&job.urls[0], job.c, wrk_secs, &log)?;
                (job.n as f64 / rate, 0)
            }
        };
        let stats = srv.ask("stats").map_err(|e| e.to_string())?;
        let requests = stats["requests"].as_u64().unwrap_or(0);
        if client.is_some() && requests < job.n as u64 {
            return Err(format!("the server saw {requests} of {} requests", job.n));
        }
        let (mut jitter, mut span) = (f64::NAN, f64::NAN);
        if kind == Srv::Paced {
            let a = srv
                .ask(&format!("arrivals {}", 1e6 / job.rate))
                .map_err(|e| e.to_string())?;
            jitter = a["p99_dev_us"].as_f64().unwrap_or(f64::NAN);
            span = a["span_s"].as_f64().unwrap_or(f64::NAN);
        }
        Ok(Sample {
            wall,
            rss,
            accepted: stats["accepted"].as_u64().unwrap_or(0),
            jitter_p99_us: jitter,
            span_s: span,
        })
    }

    /// `rounds` interleaved rounds of every client (and wrk for `wrk_secs` > 0).
    fn rounds_of(
        &mut self,
        name: &str,
        kind: Srv,
        job: &Job,
        rounds: usize,
        wrk_secs: u64,
    ) -> Series {
        let mut entries: Vec<Option<Client>> = self.clients.iter().cloned().map(Some).collect();
        if self.wrk && wrk_secs > 0 {
            entries.push(None);
        }
        let mut series: Series = BTreeMap::new();
        for r in 0..rounds {
            let k = entries.len();
            for i in 0..k {
                let entry = entries[(i + r) % k].clone();
                let label = entry.as_ref().map_or(WRK, |c| c.name);
                let s = self.run_one(kind, entry.as_ref(), job, wrk_secs);
                match &s {
                    Ok(s) => eprintln!("{name} round {} {label}: {:.3} s", r + 1, s.wall),
                    Err(e) => {
                        eprintln!("{name} round {} {label}: FAILED {e}", r + 1);
                        self.notes
                            .push(format!("{name} round {} {label}: {e}", r + 1));
                    }
                }
                series.entry(label).or_insert_with(|| vec![None; rounds])[r] = s.ok();
            }
        }
        series
    }

    fn names(&self, with_wrk: bool) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.clients.iter().map(|c| c.name).collect();
        if with_wrk && self.wrk {
            v.push(WRK);
        }
        v
    }

    fn throughput(
        &mut self,
        name: &str,
        kind: Srv,
        host: &str,
        c: usize,
        rounds: usize,
        wrk_secs: u64,
    ) -> Result<Vec<Row>, String> {
        let urls = self.urls(kind, host, "/bytes/64")?;
        let job = Job {
            n: 20_000,
            c,
            rate: 0.0,
            burst: 1,
            urls,
            body_len: 64,
        };
        let series = self.rounds_of(name, kind, &job, rounds, wrk_secs);
        let reference = if kind == Srv::Multi { REQWEST } else { UREQ };
        let rate = |s: &Option<Sample>| s.map(|s| job.n as f64 / s.wall);
        let rates = |who: &str| -> Vec<Option<f64>> {
            series
                .get(who)
                .map(|v| v.iter().map(rate).collect())
                .unwrap_or_default()
        };
        let workload = format!(
            "{name}: {} GETs of 64 B, C={c}, {}{}",
            job.n,
            host,
            if kind == Srv::Multi {
                ", 64 origins"
            } else {
                ""
            }
        );
        let mut rows = Vec::new();
        for who in self.names(wrk_secs > 0) {
            let mine = rates(who);
            let vals: Vec<f64> = mine.iter().flatten().copied().collect();
            rows.push(Row {
                workload: workload.clone(),
                figure: "req/s".into(),
                client: who.into(),
                value: fmt_spread(&vals, 0),
                vs_reference: format!(
                    "{} to {reference}",
                    fmt_ratios(&paired(&mine, &rates(reference)))
                ),
                vs_httpbatch: fmt_ratios(&paired(&mine, &rates(HTTPBATCH))),
            });
        }
        let figures: [Figure; 2] = [
            ("connections opened (server)", |s| s.accepted as f64),
            ("peak RSS, MiB", |s| s.rss as f64 / 1048576.0),
        ];
        for (figure, f) in figures {
            for who in self.names(false) {
                let vals: Vec<f64> = series
                    .get(who)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(f)
                    .collect();
                let single = |who: &str| -> Option<f64> {
                    let v: Vec<f64> = series.get(who)?.iter().flatten().map(f).collect();
                    crate::table::spread(&v).map(|s| s.0)
                };
                rows.push(Row {
                    workload: workload.clone(),
                    figure: figure.into(),
                    client: who.into(),
                    value: fmt_spread(&vals, 1),
                    vs_reference: format!(
                        "{} to {reference}",
                        ratio(single(who), single(reference))
                    ),
                    vs_httpbatch: ratio(single(who), single(HTTPBATCH)),
                });
            }
        }
        Ok(rows)
    }

    fn w2(&mut self, rounds: usize, wrk_secs: u64) -> Result<Vec<Row>, String> {
        let urls = self.urls(Srv::Single, "127.0.0.1", "/delay/20")?;
        let job = Job {
            n: 2_000,
            c: 100,
            rate: 0.0,
            burst: 1,
            urls,
            body_len: 2,
        };
        let ideal = job.n as f64 / job.c as f64 * 0.020;
        let series = self.rounds_of("W2", Srv::Single, &job, rounds, wrk_secs);
        let eff = |who: &str| -> Vec<Option<f64>> {
            series
                .get(who)
                .map(|v| v.iter().map(|s| s.map(|s| ideal / s.wall)).collect())
                .unwrap_or_default()
        };
        Ok(self
            .names(true)
            .into_iter()
            .map(|who| {
                let mine = eff(who);
                Row {
                    workload: "W2: 2,000 × /delay/20, C=100".into(),
                    figure: "efficiency (ideal 0.4 s / wall)".into(),
                    client: who.into(),
                    value: fmt_spread(&mine.iter().flatten().copied().collect::<Vec<_>>(), 3),
                    vs_reference: format!("{} to wrk", fmt_ratios(&paired(&mine, &eff(WRK)))),
                    vs_httpbatch: fmt_ratios(&paired(&mine, &eff(HTTPBATCH))),
                }
            })
            .collect())
    }

    fn w3(&mut self, rounds: usize) -> Result<Vec<Row>, String> {
        let urls = self.urls(Srv::Paced, "127.0.0.1", "/bytes/64")?;
        let job = Job {
            n: 1_000,
            c: 8,
            rate: W3_RATE,
            burst: 1,
            urls,
            body_len: 64,
        };
        let series = self.rounds_of("W3", Srv::Paced, &job, rounds, 0);
        let workload = "W3: 1,000 at 200/s, burst 1, C=8";
        let mut rows = Vec::new();
        for who in self.names(false) {
            let runs: Vec<Sample> = series
                .get(who)
                .into_iter()
                .flatten()
                .flatten()
                .copied()
                .collect();
            let err: Vec<f64> = runs.iter().map(|s| (s.wall - 5.0) / 5.0 * 100.0).collect();
            let jit: Vec<f64> = runs.iter().map(|s| s.jitter_p99_us).collect();
            // 1,000 arrivals 5 ms apart span 4.995 s: the pacing alone, without start-up.
            let span: Vec<f64> = runs
                .iter()
                .map(|s| (s.span_s - 4.995) / 4.995 * 100.0)
                .collect();
            for (figure, vals, digits) in [
                ("wall error vs 5 s, %", err, 3),
                ("arrival span error vs 4.995 s, % (server)", span, 3),
                ("arrival jitter p99, µs (server)", jit, 0),
            ] {
                rows.push(Row {
                    workload: workload.into(),
                    figure: figure.into(),
                    client: who.into(),
                    value: fmt_spread(&vals, digits),
                    vs_reference: "—".into(),
                    vs_httpbatch: "—".into(),
                });
            }
        }
        Ok(rows)
    }

    /// Marginal instructions per request: (N=2000 − N=500) / 1500 at C=8, client only.
    fn instructions(&mut self) -> Result<Vec<Row>, String> {
        let urls = self.urls(Srv::Single, "127.0.0.1", "/bytes/64")?;
        let mut per: BTreeMap<&'static str, f64> = BTreeMap::new();
        for c in self.clients.clone() {
            let mut counts = Vec::new();
            for n in [2000, 500] {
                let job = Job {
                    n,
                    c: 8,
                    rate: 0.0,
                    burst: 1,
                    urls: urls.clone(),
                    body_len: 64,
                };
                let argv = c.argv(&job, &self.work).map_err(|e| e.to_string())?;
                let out = self.work.join(format!("callgrind.{}.{n}", c.name));
                self.server(Srv::Single)?;
                match measure::instructions(&argv, &out, Duration::from_secs(900), &self.log) {
                    Ok(i) => counts.push(i),
                    Err(e) => {
                        self.notes.push(format!("CG {}: {e}", c.name));
                        break;
                    }
                }
            }
            if let [big, small] = counts[..] {
                let v = (big as f64 - small as f64) / 1500.0;
                eprintln!("CG {}: {v:.0} instructions/request", c.name);
                per.insert(c.name, v);
            }
        }
        Ok(self.count_rows(
            "CG: GETs of 64 B, C=8, callgrind, client process",
            "instructions/request (marginal: N=2000 − N=500)",
            &per,
            &BTreeMap::new(),
            0,
        ))
    }

    /// Marginal system calls per request: (N=2000 − N=500) / 1500 at C=32, client only; two
    /// rows: the exact count by `perf stat` (the figure), and `strace -f -c`'s, which ptrace
    /// disturbs (kept for its comparison with earlier notes). Without perf, strace's row only.
    fn syscalls(&mut self) -> Result<Vec<Row>, String> {
        const WORKLOAD: &str = "ST: GETs of 64 B, C=32, client process";
        let perf = match measure::perf_unavailable(&self.log) {
            None => true,
            Some(why) => {
                self.notes.push(format!(
                    "ST: no exact (perf) system-call counts: {why}; strace's figures only, \
                     which ptrace inflates (futex above all)"
                ));
                false
            }
        };
        let mut rows = Vec::new();
        if perf {
            let (per, top) = self.syscalls_by("perf", measure::syscalls_perf)?;
            rows.extend(self.count_rows(
                WORKLOAD,
                "syscalls/request, perf stat (exact, undisturbed; marginal: N=2000 − N=500)",
                &per,
                &top,
                1,
            ));
        }
        let (per, top) = self.syscalls_by("strace", measure::syscalls)?;
        rows.extend(self.count_rows(
            WORKLOAD,
            "syscalls/request, strace -f -c (disturbed: ptrace stops serialise threads, \
             inflate futex; marginal)",
            &per,
            &top,
            1,
        ));
        Ok(rows)
    }

    /// Per client: marginal system calls per request counted by `count` (perf or strace), and
    /// the five most frequent by name.
    fn syscalls_by(&mut self, tool: &str, count: Counter) -> Result<PerClient, String> {
        let urls = self.urls(Srv::Single, "127.0.0.1", "/bytes/64")?;
        let mut per: BTreeMap<&'static str, f64> = BTreeMap::new();
        let mut top: BTreeMap<&'static str, String> = BTreeMap::new();
        for c in self.clients.clone() {
            let mut counts = Vec::new();
            for n in [2000, 500] {
                let job = Job {
                    n,
                    c: 32,
                    rate: 0.0,
                    burst: 1,
                    urls: urls.clone(),
                    body_len: 64,
                };
                let argv = c.argv(&job, &self.work).map_err(|e| e.to_string())?;
                let out = self.work.join(format!("{tool}.{}.{n}", c.name));
                match count(&argv, &out, Duration::from_secs(300), &self.log) {
                    Ok(m) => counts.push(m),
                    Err(e) => {
                        self.notes.push(format!("ST ({tool}) {}: {e}", c.name));
                        break;
                    }
                }
            }
            if let [big, small] = &counts[..] {
                let total = marginal(big, small, "total");
                let t = top_calls(big, small, 5);
                eprintln!("ST ({tool}) {}: {total:.1} syscalls/request ({t})", c.name);
                per.insert(c.name, total);
                top.insert(c.name, t);
            }
        }
        Ok((per, top))
    }

    fn count_rows(
        &self,
        workload: &str,
        figure: &str,
        per: &BTreeMap<&'static str, f64>,
        detail: &BTreeMap<&'static str, String>,
        digits: usize,
    ) -> Vec<Row> {
        self.names(false)
            .into_iter()
            .map(|who| {
                let v = per.get(who).copied();
                let mut value = v.map_or("failed".into(), |v| format!("{v:.digits$}"));
                if let Some(d) = detail.get(who).filter(|d| !d.is_empty()) {
                    value += &format!(" ({d})");
                }
                Row {
                    workload: workload.into(),
                    figure: figure.into(),
                    client: who.into(),
                    value,
                    vs_reference: format!("{} to {UREQ}", ratio(v, per.get(UREQ).copied())),
                    vs_httpbatch: ratio(v, per.get(HTTPBATCH).copied()),
                }
            })
            .collect()
    }
}
