//! Streaming input, URL globbing, scheme-less URLs, response headers, `--resume`, and the
//! summary's wire/waiting split.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::{Server, eventually};
use super::{BIN, LIMIT, Run, run, summary_of};

/// Spawns httpbatch with its stdin left open; returns the child, the stdin pipe and a channel of
/// stdout lines as they are printed.
fn spawn_streaming(
    args: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    mpsc::Receiver<String>,
) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httpbatch");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx)
}

/// Waits for `child` (at most [`LIMIT`]) without collecting its output.
fn exits_within_limit(mut child: Child) -> ExitStatus {
    let end = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for httpbatch") {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("httpbatch did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn first_result_arrives_before_the_input_ends() {
    let server = Server::start().unwrap();
    let (child, mut stdin, lines) = spawn_streaming(&["-q", "-c", "2"]);
    let url = server.url("/ok");
    for _ in 0..20 {
        writeln!(stdin, "{url}").unwrap();
    }
    stdin.flush().unwrap();
    // The input is still open: a tool that reads to the end first prints nothing here.
    let first = lines
        .recv_timeout(LIMIT)
        .expect("a result before the input ended");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        (v["index"].clone(), v["status"].clone()),
        (0.into(), 200.into())
    );
    for _ in 0..5 {
        writeln!(stdin, "{url}").unwrap();
    }
    drop(stdin);
    let status = exits_within_limit(child);
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(rest.len() + 1, 25);
    assert_eq!(server.requests(), 25);
}

#[test]
fn a_producer_that_pauses_gets_every_result_of_what_it_wrote() {
    let server = Server::start().unwrap();
    // Concurrency 8 reads a window of 24 ahead; the producer writes 3 lines and pauses with
    // stdin open. Each of the 3 is sent and printed while the run waits for more.
    let (child, mut stdin, lines) = spawn_streaming(&["-q", "-c", "8"]);
    let url = server.url("/ok");
    for _ in 0..3 {
        writeln!(stdin, "{url}").unwrap();
    }
    stdin.flush().unwrap();
    let mut indices: Vec<u64> = (0..3)
        .map(|_| {
            let line = lines
                .recv_timeout(LIMIT)
                .expect("every written line's result, with stdin still open");
            let v: Value = serde_json::from_str(&line).unwrap();
            v["index"].as_u64().unwrap()
        })
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    writeln!(stdin, "{url}").unwrap();
    drop(stdin);
    assert_eq!(exits_within_limit(child).code(), Some(0));
    assert_eq!(lines.iter().count(), 1);
    assert_eq!(server.requests(), 4);
}

#[test]
fn ctrl_c_stops_reading_a_streamed_input() {
    let server = Server::start().unwrap();
    let (mut child, mut stdin, lines) = spawn_streaming(&["-c", "2"]);
    let mut stderr = child.stderr.take().unwrap();
    // Two workers read six lines ahead (two running, four queued); the last two stay unread.
    for _ in 0..8 {
        writeln!(stdin, "{}", server.url("/delay/60000")).unwrap();
    }
    stdin.flush().unwrap();
    assert!(eventually(Duration::from_secs(10), || server.in_flight() == 2));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // stdin stays open: the tool must not wait for its end.
    let status = exits_within_limit(child);
    drop(stdin);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let outcomes: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(&l).unwrap()["outcome"].to_string())
        .collect();
    assert_eq!(
        outcomes.len(),
        6,
        "the lines read get a line each, the rest none"
    );
    assert_eq!(outcomes.iter().filter(|o| *o == "\"cancelled\"").count(), 2);
    assert_eq!(outcomes.iter().filter(|o| *o == "\"not_run\"").count(), 4);
    assert!(err.contains("the rest of the input was not read"), "{err}");
    assert!(err.contains("2 ran"), "{err}");
}

#[test]
fn url_patterns_expand_like_curl_unless_globbing_is_off() {
    let server = Server::start().unwrap();
    let sets = server.url("/status/{200,204}");
    let range = server.url("/bytes/[08-10]");
    let r = run(&["-q", &sets, &range]);
    let lines = r.lines();
    let got: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            let url = l["url"].as_str().unwrap();
            (
                url[url.rfind('/').unwrap()..].to_owned(),
                l["index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/200".into(), 0),
            ("/204".into(), 1),
            ("/08".into(), 2),
            ("/09".into(), 3),
            ("/10".into(), 4)
        ]
    );
    assert_eq!(lines[2]["bytes"], 8);
    assert_eq!(lines[4]["bytes"], 10);
    assert_eq!(r.code(), 0);

    let off = run(&["-q", "-g", &range]);
    assert_eq!(off.lines().len(), 1);
    assert!(off.lines()[0]["url"].as_str().unwrap().ends_with("[08-10]"));
    let too_many = run(&["-q", &server.url("/ok?[1-100000][1-1000]")]);
    assert_eq!(too_many.lines()[0]["error"]["kind"], "invalid_url");
    assert_eq!(server.requests(), 6);
}

#[test]
fn methods_are_case_insensitive_and_unknown_ones_are_a_usage_error() {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let r = run(&["-q", "-X", "delete", &server.url("/ok")]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.lines()[0]["method"], "DELETE");
    assert_eq!(server.arrivals()[0].method, "DELETE");
    // ureq's protocol layer sends the standard methods only: refused before anything is sent.
    let bad = run(&["-q", "-X", "PURGE", &server.url("/ok")]);
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr.contains("PURGE"), "{}", bad.stderr);
    assert_eq!(server.requests(), 1);
}

#[test]
fn schemeless_urls_get_http_and_include_adds_headers() {
    let server = Server::start().unwrap();
    let bare = server.url("/bytes/3").replacen("http://", "", 1);
    let r = run(&["-q", "-i", &bare]);
    let line = &r.lines()[0];
    assert_eq!(line["url"], server.url("/bytes/3"));
    assert_eq!(line["status"], 200);
    assert_eq!(line["headers"]["content-length"], "3");
    let plain = run(&["-q", &bare]);
    assert!(plain.lines()[0].get("headers").is_none());
}

#[test]
fn resume_finishes_a_half_done_list_with_one_line_per_input() {
    let server = Server::start().unwrap();
    let dir = std::env::temp_dir().join(format!("httpbatch-cli-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (list, out) = (dir.join("urls.txt"), dir.join("out.jsonl"));
    let urls = [
        server.url("/ok"),
        server.url("/status/503"),
        server.url("/delay/2000"),
        server.url("/bytes/2"),
    ];
    std::fs::write(&list, urls.join("\n")).unwrap();
    let args = |timeout: &'static str| -> Vec<String> {
        ["-q", "--timeout", timeout, "--resume"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                out.display().to_string(),
                "-a".into(),
                list.display().to_string(),
            ])
            .collect()
    };
    let first = run(&args("300ms").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(first.stdout.is_empty(), "results go to the file");
    assert_eq!(server.requests(), 4);
    let lines = read_lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["error"]["kind"], "timeout");

    let second = run(&args("30s").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        second.code(),
        0,
        "this run's one request succeeded: {}",
        second.stderr
    );
    assert_eq!(server.requests(), 5, "only the timed-out input ran again");
    let mut lines = read_lines(&out);
    lines.sort_by_key(|l| l["index"].as_u64());
    let indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [0, 1, 2, 3], "one line per input");
    assert_eq!(lines[2]["status"], 200);
    assert_eq!(
        lines[1]["status"], 503,
        "a response is final, whatever its status"
    );

    // A file made from another list is refused.
    std::fs::write(&list, server.url("/other")).unwrap();
    let wrong = run(&args("30s").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(wrong.code(), 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("another input"), "{}", wrong.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn summary_reports_wire_time_apart_from_limiter_waiting() {
    let server = Server::start().unwrap();
    let urls: Vec<String> = (0..4).map(|_| server.url("/ok")).collect();
    let mut args = vec!["-q", "-c", "4", "--rate", "5/s", "--summary-json"];
    args.extend(urls.iter().map(String::as_str));
    let r: Run = run(&args);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let s = summary_of(&r);
    // 5/s with a burst of 1: the fourth request waits about 600 ms for its token.
    let waited_max = s["waited_ms"]["max"].as_f64().unwrap();
    let wire_max = s["wire_ms"]["max"].as_f64().unwrap();
    assert!(waited_max >= 500.0, "{s}");
    assert!(wire_max < waited_max, "{s}");
    assert_eq!(s["wire_ms"]["count"], 4);
    let histogram: u64 = s["wire_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram, 4);
    assert_eq!(s["ran"], 4);
    let r = run(&["--rate", "5/s", &urls[0], &urls[1]]);
    for label in ["wire ", "waiting ", "limiter and backoff", "2 ran"] {
        assert!(r.stderr.contains(label), "{label}: {}", r.stderr);
    }
}

#[test]
fn verbose_logs_each_decision_and_is_quiet_by_default() {
    let server = Server::start().unwrap();
    let (flaky, redirect, ok) = (
        server.url("/flaky/log?fail=1"),
        server.url("/redirect/1"),
        server.url("/ok"),
    );
    let args = [
        "-q",
        "-c",
        "1",
        "--rate",
        "20/s",
        "--retries",
        "1",
        "--retry-backoff",
        "10ms",
        &flaky,
        &redirect,
        &ok,
    ];
    // The verbose run first: the flaky key fails once only.
    let verbose = run(&[&["-vv"][..], &args].concat());
    assert_eq!(verbose.code(), 0, "{}", verbose.stderr);
    for expected in [
        "debug: [httpbatch::retry] attempt 1 of 2: status 503",
        "retrying in",
        "debug: [httpbatch::rate_limit] throttled GET",
        "debug: [httpbatch::redirect]",
        "answered 302: following to",
    ] {
        assert!(
            verbose.stderr.contains(expected),
            "{expected}: {}",
            verbose.stderr
        );
    }

    let only_redirects = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "httpbatch::redirect=debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&only_redirects.stderr);
    assert!(err.contains("[httpbatch::redirect]"), "{err}");
    assert!(!err.contains("[httpbatch::retry]"), "{err}");
}

#[test]
fn json_lines_take_json_bodies_string_tags_and_echo_their_own_fields() {
    let server = Server::start().unwrap();
    let echo = server.url("/echo");
    let input = format!(
        "{{\"url\":\"{echo}\",\"body\":{{\"a\":[1,2]}},\"tag\":\"job-7\",\"id\":5,\"note\":\"x\"}}\n\
         {{\"url\":\"{echo}\",\"method\":\"PUT\",\"body_base64\":\"aGk=\",\"tag\":3}}\n"
    );
    let r = super::run_stdin(&["-q", "--body", "text", "--include"], &input);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines[0]["tag"], "job-7");
    assert_eq!(
        lines[0]["fields"],
        serde_json::json!({"id": 5, "note": "x"})
    );
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["body"], "{\"a\":[1,2]}");
    assert_eq!(
        lines[0]["headers"]["x-echo-h-content-type"],
        "application/json"
    );
    assert_eq!(lines[1]["tag"], 3);
    assert_eq!(lines[1]["body"], "hi");
    assert!(lines[1].get("fields").is_none());
}

#[test]
fn completions_and_man_page_come_from_the_argument_definitions() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.code(), 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("_httpbatch()"), "{}", bash.stdout);
    assert!(bash.stdout.contains("--resume"));
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.stdout.contains("#compdef httpbatch"), "{}", zsh.stdout);
    assert_eq!(run(&["completions", "tcsh"]).code(), 2);
    let man = run(&["man"]);
    assert_eq!(man.code(), 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH httpbatch 1"), "{}", man.stdout);
    assert!(man.stdout.contains("\\-\\-summary\\-json"));
}
