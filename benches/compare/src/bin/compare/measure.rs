//! Counting tools around a client process: callgrind (instructions), `perf stat` on the
//! system-call tracepoints (exact system-call counts, the client undisturbed), `strace -f -c`
//! (system calls under ptrace, which disturbs them: see [`syscalls_perf`]), and wrk (a load
//! generator, for reference rates). Only the client process is counted: the server is a process
//! of its own.

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

/// The system calls [`syscalls_perf`] counts by name (the rest of the total shows as `other`):
/// what the clients use. Blocking sockets and threads (httpbatch, ureq: `recvfrom` peek + read,
/// `sendto`, `futex`, `ioctl`, `poll`, `setsockopt`); tokio (`epoll_wait`, `read`/`write`,
/// `writev`, `recvfrom`, `sendto`); Go (`epoll_pwait`, `futex`, `nanosleep`, `write`/`read`,
/// `sched_yield`); thread start and memory (`clone3`, `mmap`, `madvise`, ...).
pub const PERF_SYSCALLS: &[&str] = &[
    "futex",
    "recvfrom",
    "sendto",
    "read",
    "write",
    "readv",
    "writev",
    "recvmsg",
    "sendmsg",
    "sched_yield",
    "ioctl",
    "poll",
    "ppoll",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "nanosleep",
    "clock_nanosleep",
    "socket",
    "connect",
    "setsockopt",
    "getsockopt",
    "getsockname",
    "getpeername",
    "fcntl",
    "close",
    "mmap",
    "munmap",
    "mprotect",
    "madvise",
    "brk",
    "clone",
    "clone3",
    "rt_sigprocmask",
    "rt_sigaction",
    "sigaltstack",
    "tgkill",
    "getpid",
    "gettid",
    "getrandom",
    "sched_getaffinity",
    "openat",
    "newfstatat",
    "statx",
];

/// Why perf cannot count system calls here (`None`: it can): `perf` missing, or the
/// tracepoints not open to this user (`kernel.perf_event_paranoid`, no tracefs).
pub fn perf_unavailable(log: &Path) -> Option<String> {
    let v: Vec<String> = [
        "perf",
        "stat",
        "-x,",
        "-e",
        "raw_syscalls:sys_enter",
        "--",
        "true",
    ]
    .map(String::from)
    .into();
    match proc::run(&v, Duration::from_secs(30), log) {
        Err(e) => Some(format!(
            "perf not runnable ({e}); the Debian package is linux-perf"
        )),
        Ok(e) if e.code == Some(0) => None,
        Ok(e) => {
            let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            Some(format!(
                "perf cannot count the raw_syscalls tracepoint (exit {:?}; \
                 kernel.perf_event_paranoid = {paranoid}, tracefs needed; see clients.log)",
                e.code
            ))
        }
    }
}

/// System calls by name (with `"total"`, and `"other"` for those not in [`PERF_SYSCALLS`]),
/// counted exactly by `perf stat` on the syscall tracepoints over the client and all its
/// threads. Unlike strace, this does not stop the client at every call: under `strace -f`
/// every system call is two ptrace stops, which serialises the client's threads on the tracer
/// and turns short lock hold times into contended `futex` waits (W1's httpbatch client: 6.9
/// calls per request under strace, 3.3 counted here, futex 4 against 0.06).
pub fn syscalls_perf(
    argv: &[String],
    out: &Path,
    limit: Duration,
    log: &Path,
) -> Result<BTreeMap<String, u64>, String> {
    let mut events = String::from("raw_syscalls:sys_enter");
    for name in PERF_SYSCALLS {
        // A kernel without one of them (tracefs lists what it has) would fail the whole list.
        let have = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .iter()
            .any(|t| Path::new(&format!("{t}/events/syscalls/sys_enter_{name}")).exists());
        if have {
            events += &format!(",syscalls:sys_enter_{name}");
        }
    }
    let mut v = vec![
        "perf".to_string(),
        "stat".into(),
        "-x,".into(),
        "-o".into(),
        out.display().to_string(),
        "-e".into(),
        events,
        "--".into(),
    ];
    v.extend(argv.iter().cloned());
    let exit = proc::run(&v, limit, log).map_err(|e| e.to_string())?;
    if exit.timed_out || exit.code != Some(0) {
        return Err(format!(
            "perf stat run failed (exit {:?}, timed out {})",
            exit.code, exit.timed_out
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    perf_counts(&text).map_err(|e| format!("{}: {e}", out.display()))
}

/// Calls by system call name from `perf stat -x,` output (`count,unit,event,...` per line;
/// `#` lines are comments): `raw_syscalls:sys_enter` is `"total"`, `syscalls:sys_enter_NAME` is
/// `NAME`, and whatever the total has beyond the named ones is `"other"`. A counter perf could
/// not read (`<not counted>`, `<not supported>`) is an error: the figure would be wrong.
fn perf_counts(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let (Some(count), Some(event)) = (f.first(), f.get(2)) else {
            continue;
        };
        let name = if *event == "raw_syscalls:sys_enter" {
            "total"
        } else if let Some(n) = event.strip_prefix("syscalls:sys_enter_") {
            n
        } else {
            continue;
        };
        let n: u64 = count
            .parse()
            .map_err(|_| format!("perf could not count {event}: {count}"))?;
        calls.insert(name.to_string(), n);
    }
    let total = *calls
        .get("total")
        .ok_or("no raw_syscalls:sys_enter count")?;
    let named: u64 = calls
        .iter()
        .filter(|(k, _)| *k != "total")
        .map(|(_, v)| v)
        .sum();
    calls.insert("other".into(), total.saturating_sub(named));
    Ok(calls)
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
    fn reads_perf_stat_counts_by_name_with_the_rest_as_other() {
        let text = "# started on Mon Nov 30 14:40:01 2026\n\n\
            69500,,raw_syscalls:sys_enter,2514893,100.00,,\n\
            120,,syscalls:sys_enter_futex,2514893,100.00,,\n\
            40000,,syscalls:sys_enter_recvfrom,2514893,100.00,,\n\
            20000,,syscalls:sys_enter_sendto,2514893,100.00,,\n\
            0,,syscalls:sys_enter_sched_yield,2514893,100.00,,\n";
        let c = perf_counts(text).expect("parses");
        assert_eq!(c.get("total"), Some(&69500));
        assert_eq!(c.get("futex"), Some(&120));
        assert_eq!(c.get("recvfrom"), Some(&40000));
        assert_eq!(c.get("sendto"), Some(&20000));
        assert_eq!(c.get("sched_yield"), Some(&0));
        assert_eq!(c.get("other"), Some(&(69500 - 60120)));
        assert_eq!(c.len(), 6);
    }

    #[test]
    fn a_perf_counter_that_did_not_count_is_an_error_not_a_zero() {
        let text = "<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n";
        assert!(perf_counts(text).unwrap_err().contains("raw_syscalls"));
        let text = "5,,raw_syscalls:sys_enter,1,100.00,,\n\
            <not supported>,,syscalls:sys_enter_futex,0,0.00,,\n";
        assert!(perf_counts(text).unwrap_err().contains("futex"));
        assert!(perf_counts("# nothing\n").is_err());
    }

    #[test]
    fn reads_callgrind_totals() {
        let out = "events: Ir\nfn=main\n1 5\ntotals: 1076930\n";
        assert_eq!(callgrind_total(out), Some(1076930));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }
}
