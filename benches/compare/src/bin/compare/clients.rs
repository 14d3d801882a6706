//! The clients under comparison and how each is run and read.
//!
//! Every client but the CLI takes `N C RATE BURST URL...` and prints one JSON line (see the
//! crate docs); the `httpbatch` CLI reads its URLs from a file and prints one JSON line per
//! outcome, so its wall time is the process's (start-up included).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::proc::Exit;

/// One workload run: `n` GETs, `c` at once, at most `rate`/s (0: unlimited).
#[derive(Debug, Clone)]
pub struct Job {
    pub n: usize,
    pub c: usize,
    pub rate: f64,
    pub burst: u32,
    pub urls: Vec<String>,
    /// Body bytes each response must have.
    pub body_len: u64,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Speaks the harness's command line and JSON line.
    Json(PathBuf),
    /// The `httpbatch` command-line tool.
    Cli(PathBuf),
}

/// A client.
#[derive(Debug, Clone)]
pub struct Client {
    pub name: &'static str,
    kind: Kind,
}

/// What a run came to.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub wall_s: f64,
    pub max_rss: u64,
}

/// Every client, in table order; those whose program is missing are left out (with a note).
pub fn all(bins: &Path, build: &Path, cli: &Path) -> (Vec<Client>, Vec<String>) {
    let candidates = [
        ("httpbatch", Kind::Json(bins.join("client-httpbatch"))),
        (
            "httpbatch-stream",
            Kind::Json(bins.join("client-httpbatch-stream")),
        ),
        ("ureq", Kind::Json(bins.join("client-ureq"))),
        ("reqwest", Kind::Json(bins.join("client-reqwest"))),
        ("c-abi", Kind::Json(build.join("client-c"))),
        (
            "go-httpbatch",
            Kind::Json(build.join("client-go-httpbatch")),
        ),
        ("go-nethttp", Kind::Json(build.join("client-go-nethttp"))),
        ("cli", Kind::Cli(cli.to_path_buf())),
    ];
    let mut notes = Vec::new();
    let clients = candidates
        .into_iter()
        .filter_map(|(name, kind)| {
            let (Kind::Json(p) | Kind::Cli(p)) = &kind;
            if p.is_file() {
                Some(Client { name, kind })
            } else {
                notes.push(format!("client {name} left out: {} not built", p.display()));
                None
            }
        })
        .collect();
    (clients, notes)
}

impl Client {
    /// The command line of `job` (the CLI's URL list is written into `work`).
    pub fn argv(&self, job: &Job, work: &Path) -> std::io::Result<Vec<String>> {
        match &self.kind {
            Kind::Json(bin) => {
                let mut v = vec![
                    bin.display().to_string(),
                    job.n.to_string(),
                    job.c.to_string(),
                    job.rate.to_string(),
                    job.burst.to_string(),
                ];
                v.extend(job.urls.iter().cloned());
                Ok(v)
            }
            Kind::Cli(bin) => {
                let list = work.join(format!("cli-urls-{}-{}.txt", job.n, job.urls.len()));
                let mut text = String::with_capacity(job.n * 40);
                for i in 0..job.n {
                    let _ = writeln!(text, "{}", job.urls[i % job.urls.len()]);
                }
                std::fs::write(&list, text)?;
                let mut v = vec![
                    bin.display().to_string(),
                    "-q".into(),
                    "-g".into(),
                    "-c".into(),
                    job.c.to_string(),
                    "-a".into(),
                    list.display().to_string(),
                ];
                if job.rate > 0.0 {
                    v.extend([
                        "--rate".into(),
                        format!("{}/s", job.rate),
                        "--burst".into(),
                        job.burst.to_string(),
                    ]);
                }
                Ok(v)
            }
        }
    }

    /// Reads a run's result; an error says why the run does not count (a failed request, a
    /// short body, a crash, the time bound).
    pub fn outcome(&self, job: &Job, exit: &Exit) -> Result<Outcome, String> {
        if exit.timed_out {
            return Err(format!("killed after {:.0} s", exit.wall.as_secs_f64()));
        }
        let (ok, bytes, wall_s, why) = match &self.kind {
            Kind::Json(_) => {
                let line = exit.stdout.lines().last().unwrap_or("");
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("bad output {line:?}: {e}"))?;
                (
                    v["ok"].as_u64().unwrap_or(0),
                    v["bytes"].as_u64().unwrap_or(0),
                    v["wall_s"].as_f64().unwrap_or(f64::NAN),
                    v["first_error"].as_str().unwrap_or("").to_string(),
                )
            }
            Kind::Cli(_) => {
                let (mut ok, mut bytes, mut why) = (0, 0, String::new());
                for line in exit.stdout.lines() {
                    let v: serde_json::Value = serde_json::from_str(line)
                        .map_err(|e| format!("bad output {line:?}: {e}"))?;
                    if v["status"].as_u64() == Some(200) {
                        ok += 1;
                        bytes += v["bytes"].as_u64().unwrap_or(0);
                    } else if why.is_empty() {
                        why = line.to_string();
                    }
                }
                (ok, bytes, exit.wall.as_secs_f64(), why)
            }
        };
        if ok != job.n as u64 || exit.code != Some(0) {
            return Err(format!(
                "{ok} of {} ok (exit {:?}); first error: {why}",
                job.n, exit.code
            ));
        }
        if bytes != job.n as u64 * job.body_len {
            return Err(format!(
                "{bytes} body bytes, want {}",
                job.n as u64 * job.body_len
            ));
        }
        Ok(Outcome {
            wall_s,
            max_rss: exit.max_rss,
        })
    }
}
