//! The CLI's cache and compression options, with the tool run as separate processes: two
//! processes filling one disk cache at once, a third answered from it without the network.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::Server;

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

fn spawn(args: &[String]) -> std::process::Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httpbatch")
}

/// The outcome lines (stdout) and the summary (`--summary-json` writes it on stderr, as its
/// last JSON line, never among the results).
fn parse(out: &Output) -> (Vec<Value>, Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = err
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .expect("a summary line on stderr")["summary"]
        .clone();
    (lines, summary)
}

#[test]
fn two_processes_share_one_disk_cache_and_a_third_runs_offline() {
    let server = Server::start().unwrap();
    let dir = std::env::temp_dir().join(format!("httpbatch-cli-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let urls: Vec<String> = (0..40)
        .map(|k| server.url(&format!("/cacheable/c{k}?cc=max-age%3D600&size=3000")))
        .collect();
    let mut args: Vec<String> = ["--cache", dir.to_str().unwrap(), "--summary-json", "-q"]
        .map(String::from)
        .to_vec();
    args.extend(["--body".into(), "text".into()]);
    args.extend(urls.iter().cloned());

    let a = spawn(&args);
    let b = spawn(&args);
    for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (lines, _) = parse(&out);
        assert_eq!(lines.len(), 40);
        for (k, l) in lines.iter().enumerate() {
            let body = l["body"].as_str().unwrap();
            assert!(
                body.starts_with(&format!("c{k}::")) && body.len() == 3000,
                "{l}"
            );
        }
    }
    let wire = server.requests();
    assert!((40..=80).contains(&wire), "{wire} requests");

    let mut offline = args.clone();
    offline.extend(["--cache-mode".into(), "only-cached".into()]);
    let out = spawn(&offline).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (lines, summary) = parse(&out);
    assert!(lines.iter().all(|l| l["status"] == 200));
    assert_eq!(summary["cache"]["hits"], 40);
    assert_eq!(summary["cache"]["misses"], 0);
    assert_eq!(summary["attempts"], 0);
    assert_eq!(server.requests(), wire, "nothing on the wire");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_counts_revalidations_and_bodies_can_be_gzipped() {
    let server = Server::start().unwrap();
    let url = server.url("/cacheable/rv?cc=no-cache&etag=1");
    let args = [
        "--cache-mem",
        "1MiB",
        "--summary-json",
        "-q",
        &url,
        &url,
        &url,
    ];
    let out = Command::new(BIN).args(args).output().unwrap();
    let (_, summary) = parse(&out);
    // One batch: the three requests may run at once, so each is a miss or a revalidation.
    let c = &summary["cache"];
    assert_eq!(
        c["misses"].as_u64().unwrap() + c["revalidations"].as_u64().unwrap(),
        3
    );
    assert_eq!(c["revalidations"], c["not_modified"]);

    let body = "a,b,c\n".repeat(2000);
    let out = Command::new(BIN)
        .args([
            "-X",
            "POST",
            "-d",
            &body,
            "--compress-body",
            "--body",
            "text",
            "-q",
        ])
        .arg(server.url("/gunzip-echo"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["body"].as_str().unwrap(), body);
    // /echo sends back what arrived: the compressed bytes, far fewer than were given.
    let out = Command::new(BIN)
        .args(["-X", "POST", "-d", &body, "--compress-body", "-q"])
        .arg(server.url("/echo"))
        .output()
        .unwrap();
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let wire = line["bytes"].as_u64().unwrap();
    assert!(
        wire > 0 && wire < body.len() as u64 / 10,
        "{wire} bytes on the wire"
    );

    let out = Command::new(BIN)
        .args(["--cache-mode", "refresh", &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a mode without a cache is a usage error"
    );
}
