//! `httpbatch --dedup` and `httpbatch --paginate …`, run as a user would, against a loopback
//! server started here.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::Server;

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run httpbatch")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn paginate_prints_items_or_pages() {
    let server = Server::start().unwrap();
    let url = server.url("/pages/cursor/35?per=10");
    let out = run(&[
        "--paginate",
        "cursor:/meta/next:after",
        "--items",
        "/data",
        &url,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u64> = lines(&out)
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=35).collect::<Vec<_>>());
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 pages, 35 items"));

    // One line per page without --items; Link targets resolved.
    let url = server.url("/pages/link/25?per=10");
    let out = run(&["--paginate", "link", "-q", &url]);
    let pages = lines(&out);
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[2]["url"], server.url("/pages/link/25?per=10&page=3"));
    assert_eq!(pages[2]["status"], 200);

    let out = run(&["--paginate", "cursor:nopointer", &url]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn resume_state_continues_a_failed_walk() {
    let server = Server::start().unwrap();
    let dir = std::env::temp_dir().join(format!("httpbatch-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    let url = server.url("/pages/numbered/42?per=10&fail=cli&fail_page=3");
    let args = [
        "--paginate",
        "page:page",
        "--items",
        "/items",
        "--total",
        "/total",
        "--resume-state",
        state.to_str().unwrap(),
        "-q",
        &url,
    ];
    let first = run(&args);
    assert_eq!(first.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&first.stderr).contains("500"));
    assert_eq!(lines(&first).len(), 20);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["next"]["number"], 3);
    let second = run(&args);
    assert_eq!(second.status.code(), Some(0));
    let ids: Vec<u64> = lines(&second)
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (21..=42).collect::<Vec<_>>());
    // Done: a third run has nothing left to fetch.
    let third = run(&args);
    assert_eq!((third.status.code(), third.stdout.len()), (Some(0), 0));
    assert_eq!(server.requests_for("/pages/numbered/42"), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dedup_sends_identical_requests_in_flight_once() {
    let server = Server::start().unwrap();
    // 40 identical slow requests, 40 at once: the server sees one.
    let url = server.url("/delay/300");
    let mut args = vec!["--dedup", "-c", "40"];
    args.extend(std::iter::repeat_n(url.as_str(), 40));
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&out).len(), 40);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let sent = server.requests_for("/delay/300");
    assert!(sent < 40, "the server saw {sent}");
    assert!(
        stderr.contains(&format!(
            "dedup: 40 requests, {sent} sent, {} shared",
            40 - sent
        )),
        "{stderr}"
    );
}
