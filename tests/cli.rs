//! The `httpbatch` binary, run as a user would, against loopback servers started here.
//!
//! Every run is bounded: a child that outlives its time limit is killed and the test fails.

mod support;

#[path = "cli/limits.rs"]
mod limits;
#[path = "cli/streaming.rs"]
mod streaming;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, eventually, steady};

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");
const LIMIT: Duration = Duration::from_secs(30);

/// What a finished run left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("exited, not killed by a signal")
    }

    /// The JSON lines of stdout.
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn spawn(args: &[&str], stdin: Option<&str>) -> Child {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httpbatch");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child
}

/// Waits for `child` (at most `limit`), collecting its output.
fn finish(mut child: Child, limit: Duration) -> Run {
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).map(|_| s)
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            err.read_to_string(&mut s).map(|_| s)
        }),
    );
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for httpbatch") {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("httpbatch did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: readers.0.join().unwrap().expect("read stdout"),
        stderr: readers.1.join().unwrap().expect("read stderr"),
    }
}

fn run(args: &[&str]) -> Run {
    finish(spawn(args, None), LIMIT)
}

fn run_stdin(args: &[&str], stdin: &str) -> Run {
    finish(spawn(args, Some(stdin)), LIMIT)
}

/// The `--summary-json` object, which goes to stderr (never among the results on stdout).
fn summary_of(run: &Run) -> Value {
    for line in run.lines() {
        assert!(line.get("index").is_some(), "a result line: {line}");
    }
    let last = run
        .stderr
        .lines()
        .rfind(|l| l.starts_with("{\"summary\""))
        .unwrap_or_else(|| panic!("a summary line on stderr: {}", run.stderr));
    let v: Value = serde_json::from_str(last).expect("summary JSON");
    v["summary"].clone()
}

#[test]
fn outcomes_are_json_lines_in_input_order() {
    let server = Server::start().unwrap();
    // The first request is the slowest: input order must hold its line back.
    let urls = [
        server.url("/delay/300"),
        server.url("/ok"),
        server.url("/status/404"),
        server.url("/bytes/10"),
    ];
    let args: Vec<&str> = ["-c", "4", "-q"]
        .into_iter()
        .chain(urls.iter().map(String::as_str))
        .collect();
    let r = run(&args);
    let lines = r.lines();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    for (i, (line, status)) in lines.iter().zip([200, 200, 404, 200]).enumerate() {
        assert_eq!(line["index"], i);
        assert_eq!(line["url"], urls[i].as_str());
        assert_eq!(line["method"], "GET");
        assert_eq!(line["outcome"], "response");
        assert_eq!(line["status"], status);
        assert_eq!(line["attempts"], 1);
        assert!(line["timings"]["total_ms"].as_f64().unwrap() >= 0.0);
    }
    assert!(lines[0]["timings"]["wire_ms"].as_f64().unwrap() >= 290.0);
    assert_eq!(lines[3]["bytes"], 10);
    assert_eq!(r.code(), 1, "a 404 is a failure for the exit status");
}

#[test]
fn order_completed_prints_as_requests_finish() {
    let server = Server::start().unwrap();
    let (slow, fast) = (server.url("/delay/400"), server.url("/ok"));
    let r = run(&["-c", "2", "-q", "--order", "completed", &slow, &fast]);
    let indices: Vec<_> = r.lines().iter().map(|l| l["index"].clone()).collect();
    assert_eq!(indices, [1, 0]);
    assert_eq!(r.code(), 0);
}

#[test]
fn exit_status_is_0_when_all_succeed_and_1_when_some_fail() {
    let server = Server::start().unwrap();
    let ok = run(&["-q", &server.url("/ok"), &server.url("/status/204")]);
    assert_eq!(ok.code(), 0, "{}", ok.stderr);
    let failed = run(&["-q", &server.url("/ok"), &server.url("/status/500")]);
    assert_eq!(failed.code(), 1);
    let refused = run(&["-q", "http://127.0.0.1:1/"]);
    assert_eq!(refused.code(), 1);
    assert_eq!(refused.lines()[0]["error"]["kind"], "connect_refused");
}

#[test]
fn usage_and_unreadable_input_exit_2() {
    let bad_usage: [&[&str]; 6] = [
        &["--no-such-flag"],
        &["--rate", "0/s", "http://127.0.0.1/"],
        &["-c", "0", "http://127.0.0.1/"],
        &["--timeout", "soon", "http://127.0.0.1/"],
        &["-H", "no colon", "http://127.0.0.1/"],
        &["--burst", "5", "http://127.0.0.1/"],
    ];
    for args in bad_usage {
        let r = run(args);
        assert_eq!(r.code(), 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let r = run(&["-a", "/nonexistent/urls.txt"]);
    assert_eq!(r.code(), 2);
    assert!(r.stderr.contains("/nonexistent/urls.txt"), "{}", r.stderr);
    let r = run(&["-d", "@/nonexistent/body", "http://127.0.0.1/"]);
    assert_eq!(r.code(), 2);
}

#[test]
fn bad_input_lines_are_reported_with_line_numbers_and_the_rest_runs() {
    let server = Server::start().unwrap();
    let input = format!(
        "{ok}\n\
         # a comment\n\
         {{\"url\": \"{ok}\", oops\n\
         {{\"url\": \"{ok}\", \"headers\": {{\"x-evil\": \"a\\r\\nb\"}}}}\n\
         ftp://127.0.0.1/not-http\n\
         {{\"url\": \"{echo}\", \"method\": \"POST\", \"body\": \"hi\", \"tag\": 42}}\n",
        ok = server.url("/ok"),
        echo = server.url("/echo"),
    );
    let r = run_stdin(&["--body", "text"], &input);
    for n in [3, 4, 5] {
        assert!(
            r.stderr.contains(&format!("line {n}:")),
            "line {n}: {}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("line 1:") && !r.stderr.contains("line 6:"));
    let lines = r.lines();
    assert_eq!(lines.len(), 5, "one slot per request line: {}", r.stdout);
    assert_eq!(lines[0]["status"], 200);
    let kinds: Vec<_> = lines[1..4]
        .iter()
        .map(|l| l["error"]["kind"].clone())
        .collect();
    assert_eq!(kinds, ["invalid_request", "invalid_header", "invalid_url"]);
    assert_eq!(lines[1]["input"], "line 3");
    assert_eq!(lines[1]["outcome"], "error");
    assert_eq!(
        (lines[4]["status"].clone(), lines[4]["body"].clone()),
        (200.into(), "hi".into())
    );
    assert_eq!(lines[4]["tag"], 42);
    assert_eq!(server.requests(), 2, "only the good lines went on the wire");
    assert_eq!(r.code(), 1);
}

#[test]
fn retries_reach_the_pool() {
    let server = Server::start().unwrap();
    let url = server.url("/seq/k?s=503,200");
    let r = run(&["-q", "--retries", "2", "--retry-backoff", "10ms", &url]);
    let line = &r.lines()[0];
    assert_eq!(
        (line["status"].clone(), line["attempts"].clone()),
        (200.into(), 2.into())
    );
    assert_eq!(r.code(), 0);

    let url = server.url("/seq/other?s=503,200");
    let r = run(&["-q", &url]);
    let line = &r.lines()[0];
    assert_eq!(
        (line["status"].clone(), line["attempts"].clone()),
        (503.into(), 1.into())
    );
    assert_eq!(r.code(), 1);
}

#[test]
fn rate_reaches_the_limiter_and_retries_pay_tokens() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let mut args = vec!["-q", "-c", "4", "--rate", "10/s", "--summary-json"];
    let urls: Vec<String> = (0..5).map(|_| server.url("/ok")).collect();
    args.extend(urls.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let s = summary_of(&r);
    assert_eq!(s["rate_limit"]["admitted"], 5);
    assert!(s["rate_limit"]["throttled"].as_u64().unwrap() >= 4);
    let at: Vec<Instant> = server.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(at.len(), 5);
    let span = *at.iter().max().unwrap() - *at.iter().min().unwrap();
    assert!(
        span >= Duration::from_millis(350),
        "5 requests at 10/s took {span:?}"
    );

    // A request that takes 3 attempts spends 3 tokens.
    let url = server.url("/flaky/tokens?fail=2");
    let r = run(&[
        "-q",
        "--rate",
        "100/s",
        "--burst",
        "10",
        "--retries",
        "2",
        "--retry-backoff",
        "10ms",
        "--summary-json",
        &url,
    ]);
    assert_eq!(r.lines()[0]["attempts"], 3);
    let s = summary_of(&r);
    assert_eq!(s["rate_limit"]["admitted"], 3);
    assert_eq!(s["retries"]["retries"], 2);
    assert_eq!(s["attempts"], 3);
}

#[test]
fn per_host_cap_and_warmup_reach_the_pool() {
    let server = Server::start().unwrap();
    let urls: Vec<String> = (0..6).map(|_| server.url("/delay/50")).collect();
    let mut args = vec![
        "-c",
        "6",
        "--per-host",
        "2",
        "--warmup",
        "2",
        "--health-path",
        "/ok",
    ];
    args.extend(urls.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        server.max_in_flight() <= 2,
        "max in flight {}",
        server.max_in_flight()
    );
    assert!(
        r.stderr.contains("warmup opened 2 connections"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hosts"), "{}", r.stderr);
}

#[test]
fn request_options_reach_the_wire() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let dir = std::env::temp_dir().join(format!("httpbatch-cli-{}", std::process::id()));
    let body_arg = format!("file:{}", dir.display());
    let r = run(&[
        "-q",
        "-X",
        "PUT",
        "-H",
        "x-a: 1",
        "-d",
        "hello",
        "--body",
        &body_arg,
        &server.url("/echo"),
    ]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let line = &r.lines()[0];
    assert_eq!(line["method"], "PUT");
    let file = line["body_file"].as_str().expect("body_file");
    assert_eq!(std::fs::read(file).unwrap(), b"hello");
    assert_eq!(server.arrivals()[0].method, "PUT");
    std::fs::remove_dir_all(&dir).unwrap();

    let r = run(&["-q", "--body", "base64", "-d", "hi", &server.url("/echo")]);
    assert_eq!(r.lines()[0]["body"], "aGk=");
    assert_eq!(
        r.lines()[0]["method"],
        "POST",
        "-d without -X posts, as in curl"
    );
}

#[test]
fn deadline_ends_the_batch_with_every_slot_filled() {
    let server = Server::start().unwrap();
    let urls: Vec<String> = (0..4).map(|_| server.url("/delay/60000")).collect();
    let mut args = vec!["-q", "-c", "2", "--deadline", "300ms"];
    args.extend(urls.iter().map(String::as_str));
    let start = Instant::now();
    let r = run(&args);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(r.code(), 1);
    let outcomes: Vec<_> = r
        .lines()
        .iter()
        .map(|l| (l["outcome"].clone(), l["error"]["kind"].clone()))
        .collect();
    assert_eq!(outcomes.len(), 4);
    for (outcome, kind) in &outcomes[..2] {
        assert_eq!(
            (outcome.as_str(), kind.as_str()),
            (Some("error"), Some("deadline_exceeded"))
        );
    }
    for (outcome, _) in &outcomes[2..] {
        assert_eq!(outcome, "not_run");
    }
}

#[test]
fn sigint_cancels_promptly_and_prints_every_slot_and_the_summary() {
    let server = Server::start().unwrap();
    let mut args: Vec<String> = vec!["-c".into(), "3".into()];
    args.extend((0..6).map(|_| server.url("/delay/60000")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = spawn(&args, None);
    assert!(
        eventually(Duration::from_secs(10), || server.in_flight() == 3),
        "3 requests in flight"
    );
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let r = finish(child, Duration::from_secs(10));
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(r.code(), 130, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 6, "every slot read is printed: {}", r.stdout);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i);
        // The three in flight were cancelled; the three queued never started.
        let expected = if i < 3 { "cancelled" } else { "not_run" };
        assert_eq!(line["outcome"], expected, "{line}");
    }
    assert!(r.stderr.contains("httpbatch summary"), "{}", r.stderr);
    assert!(r.stderr.contains("interrupted"), "{}", r.stderr);
    assert!(r.stderr.contains("cancelled 3, not run 3"), "{}", r.stderr);
    assert!(r.stderr.contains("3 ran"), "{}", r.stderr);
}

#[test]
fn demo_runs_and_exits_0() {
    let r = run(&["demo"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("rate limit"), "{}", r.stderr);
    assert!(r.stderr.contains("httpbatch summary"));
    let lines = r.lines();
    assert_eq!(lines.len(), 32);
    let flaky: Vec<_> = lines
        .iter()
        .filter(|l| l["url"].as_str().unwrap().contains("/flaky/"))
        .collect();
    assert!(!flaky.is_empty());
    for l in flaky {
        assert_eq!(
            (l["status"].clone(), l["attempts"].clone()),
            (200.into(), 3.into())
        );
    }
    assert!(lines.iter().any(|l| l["status"] == 429));
}

#[test]
fn bare_run_with_empty_stdin_runs_the_demo() {
    // `cargo run` in CI: no arguments, stdin not a terminal and empty.
    let r = run_stdin(&[], "");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("httpbatch demo"), "{}", r.stderr);
    assert_eq!(r.lines().len(), 32);
}

#[test]
fn serve_prints_its_url_and_answers() {
    let help = run(&["serve", "--help"]);
    assert!(help.stdout.contains("/bytes/{len} "), "{}", help.stdout);
    let mut child = spawn(&["serve", "--for", "3s"], None);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    out.read_line(&mut base).unwrap();
    let base = base.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let r = run(&["-q", &format!("{base}/status/201")]);
    assert_eq!(r.lines()[0]["status"], 201);
    assert_eq!(r.code(), 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve --for 3s did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
}

#[test]
fn sigusr1_pauses_and_sigusr2_resumes() {
    let server = Server::start().unwrap();
    let mut args: Vec<String> = vec!["-c".into(), "2".into()];
    args.extend((0..60).map(|_| server.url("/delay/10")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = spawn(&args, None);
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        let sent = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(sent.success());
    };
    assert!(
        eventually(Duration::from_secs(10), || server.requests() >= 6),
        "the run started"
    );
    signal("-USR1");
    // Signals arrive asynchronously: the pause has taken hold once nothing has reached the
    // server for 100 ms (the requests take 10 ms each at concurrency 2).
    let before = steady(Duration::from_secs(10), Duration::from_millis(100), || {
        (server.requests(), server.in_flight())
    })
    .expect("the run pauses");
    assert_eq!(before.1, 0, "requests in flight finish after a pause");
    let before = before.0;
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        assert_eq!(server.requests(), before, "no new request while paused");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(before < 60, "paused before the end: {before}");
    signal("-USR2");
    let r = finish(child, Duration::from_secs(20));
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.lines().len(), 60);
    assert_eq!(server.requests(), 60);
    assert!(r.stderr.contains("httpbatch: paused"), "{}", r.stderr);
    assert!(r.stderr.contains("httpbatch: resumed"), "{}", r.stderr);
}

/// Starts `httpbatch serve ARGS` with a pipe on its stdin; returns it and the base URL it printed.
fn serve(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn httpbatch serve");
    let mut base = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut base)
        .unwrap();
    (child, base.trim().to_owned())
}

/// Waits for `child` to exit by itself within `limit`; kills it and fails otherwise.
fn exits_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("httpbatch serve did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn get_text(url: &str) -> String {
    ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

#[test]
fn serve_stops_when_its_stdin_closes() {
    let (mut child, base) = serve(&["--port", "0", "--exit-on-stdin-eof"]);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(get_text(&format!("{base}/ok")), "ok");
    let stats: Value = serde_json::from_str(&get_text(&format!("{base}/__stats"))).unwrap();
    assert_eq!(
        (stats["requests"].as_u64(), stats["accepted"].as_u64()),
        (Some(1), Some(1))
    );
    // Still serving while the pipe is open.
    assert!(child.try_wait().unwrap().is_none());
    drop(child.stdin.take());
    assert!(exits_within(&mut child, Duration::from_secs(10)).success());
}

#[test]
fn serve_exits_cleanly_on_sigterm() {
    let (mut child, base) = serve(&[]);
    assert_eq!(get_text(&format!("{base}/ok")), "ok");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    // Exit status 0, not "killed by signal 15"; stdin is still open, so SIGTERM did it.
    let status = exits_within(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");
}
