//! The side-by-side runner (scripts/bench-compare.sh builds everything and runs it; see
//! benches/compare/README.md for what each figure means).
//!
//! Usage: `compare --bins DIR --build DIR --cli PATH [--quick] [--rounds N]
//! [--only W1,W1L,W2,W3,W7,CG,ST] [--clients httpbatch,ureq,...]`
//!
//! Runs each workload in interleaved rounds (the client order rotates every round), each client
//! a process of its own against one loopback server process, and prints one markdown table.

mod clients;
mod measure;
mod proc;
mod table;
mod workloads;

use std::path::PathBuf;
use std::time::Instant;

/// The runner's options.
#[derive(Debug, Clone)]
pub struct Opts {
    pub quick: bool,
    pub rounds: Option<usize>,
    pub only: Vec<String>,
    pub clients: Vec<String>,
    pub bins: PathBuf,
    pub build: PathBuf,
    pub cli: PathBuf,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            quick: false,
            rounds: None,
            only: Vec::new(),
            clients: Vec::new(),
            bins: PathBuf::new(),
            build: PathBuf::new(),
            cli: PathBuf::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut val = || args.next().ok_or(format!("{a} wants a value"));
            match a.as_str() {
                "--quick" => o.quick = true,
                "--rounds" => {
                    let v = val()?;
                    o.rounds = Some(v.parse().ok().filter(|&r| r > 0).ok_or("bad --rounds")?);
                }
                "--only" => o.only = list(&val()?),
                "--clients" => o.clients = list(&val()?),
                "--bins" => o.bins = val()?.into(),
                "--build" => o.build = val()?.into(),
                "--cli" => o.cli = val()?.into(),
                _ => return Err(format!("unknown argument {a}")),
            }
        }
        if o.bins.as_os_str().is_empty() || o.build.as_os_str().is_empty() {
            return Err("--bins and --build are required".into());
        }
        Ok(o)
    }

    /// Whether workload `w` is to run.
    pub fn wants(&self, w: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(w))
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn main() {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("compare: {e}");
            eprintln!(
                "usage: compare --bins DIR --build DIR --cli PATH [--quick] [--rounds N] \
                 [--only W1,W1L,W2,W3,W7,CG,ST] [--clients NAME,...]"
            );
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let (mut all, mut notes) = clients::all(&opts.bins, &opts.build, &opts.cli);
    if !opts.clients.is_empty() {
        for c in &opts.clients {
            if c != "wrk" && !all.iter().any(|k| k.name == c) {
                notes.push(format!("unknown or unbuilt client {c}"));
            }
        }
        all.retain(|k| opts.clients.iter().any(|c| c == k.name));
    }
    let wrk = (opts.clients.is_empty() || opts.clients.iter().any(|c| c == "wrk"))
        && std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok();
    if !wrk {
        notes.push("wrk not installed (or not chosen): no wrk figures".into());
    }
    let work = opts.build.join("run");
    std::fs::create_dir_all(&work).expect("work directory");
    let mut h = workloads::Harness::new(&opts, all, wrk, work, notes);
    let rows = h.run_all();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{}", table::markdown(&rows));
    println!(
        "Rounds: {} ({}); took {:.0} s; load average at the end: {}",
        h.rounds,
        if opts.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for n in &h.notes {
        println!("- {n}");
    }
}
