//! Counting tools around a client process: callgrind (instructions), `strace -f -c` (system
//! calls), and wrk (a load generator, for reference rates). Only the client process is traced:
//! the server is a process of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::proc;

/// Instructions the client executed (callgrind's total over all its threads).
pub fn instructions(
    argv: &[String],
    out: &Path,
    limit: Duration,
    log: &Path,
) -> Result<u64, String> {
    // Go's asynchronous preemption (signals) crashes valgrind; with it off, Go runs under it.
    let mut v = vec![
        "env".to_string(),
        "GODEBUG=asyncpreemptoff=1".into(),
        "valgrind".into(),
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    v.extend(argv.iter().cloned());
    let exit = proc::run(&v, limit, log).map_err(|e| e.to_string())?;
    if exit.timed_out || exit.code != Some(0) {
        return Err(format!(
            "callgrind run failed (exit {:?}, timed out {})",
            exit.code, exit.timed_out
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    callgrind_total(&text).ok_or_else(|| format!("no totals in {}", out.display()))
}

/// The instruction total of a callgrind output file.
fn callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
}

/// System calls by name (with `"total"`), from `strace -f -c` of the client.
pub fn syscalls(
    argv: &[String],
    out: &Path,
    limit: Duration,
    log: &Path,
) -> Result<BTreeMap<String, u64>, String> {
    let mut v = vec![
        "strace".to_string(),
        "-f".into(),
        "-c".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    v.extend(argv.iter().cloned());
    let exit = proc::run(&v, limit, log).map_err(|e| e.to_string())?;
    if exit.timed_out || exit.code != Some(0) {
        return Err(format!(
            "strace run failed (exit {:?}, timed out {})",
            exit.code, exit.timed_out
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    let calls = strace_counts(&text);
    if !calls.contains_key("total") {
        return Err(format!("no total in {}", out.display()));
    }
    Ok(calls)
}

/// Calls by system call name (and `"total"`) from `strace -c`'s summary.
fn strace_counts(text: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        // "% time  seconds  usecs/call  calls  [errors]  syscall"
        if t.len() >= 5 && t[0].parse::<f64>().is_ok() {
            if let Ok(n) = t[3].parse::<u64>() {
                calls.insert(t[t.len() - 1].to_string(), n);
            }
        }
    }
    calls
}

/// wrk's rate on `url` at `c` connections for `secs` seconds (bodies read by wrk); an error if
/// any answer was not 2xx/3xx or any socket error happened.
pub fn wrk(url: &str, c: usize, secs: u64, log: &Path) -> Result<f64, String> {
    let v: Vec<String> = [
        "wrk".to_string(),
        "-t2".into(),
        format!("-c{c}"),
        format!("-d{secs}s"),
        "--timeout".into(),
        "30s".into(),
        url.into(),
    ]
    .into();
    let exit = proc::run(&v, Duration::from_secs(secs + 60), log).map_err(|e| e.to_string())?;
    if exit.code != Some(0) {
        return Err(format!("wrk failed (exit {:?})", exit.code));
    }
    for bad in ["Non-2xx or 3xx responses", "Socket errors"] {
        if let Some(l) = exit.stdout.lines().find(|l| l.contains(bad)) {
            return Err(format!("wrk: {}", l.trim()));
        }
    }
    exit.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|r| r.trim().parse().ok())
        .ok_or_else(|| format!("no rate in wrk's output: {}", exit.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strace_summaries_with_and_without_errors() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
             45.10    0.001000           1      3000           recvfrom\n\
             20.00    0.000500           2      1200       600 futex\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.001500           1      4200       600 total\n";
        let c = strace_counts(text);
        assert_eq!(c.get("recvfrom"), Some(&3000));
        assert_eq!(c.get("futex"), Some(&1200));
        assert_eq!(c.get("total"), Some(&4200));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn reads_callgrind_totals() {
        let out = "events: Ir\nfn=main\n1 5\ntotals: 1076930\n";
        assert_eq!(callgrind_total(out), Some(1076930));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
