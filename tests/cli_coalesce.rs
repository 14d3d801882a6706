//! The CLI's `--coalesce`, `--max-batch`, `--max-delay` and `--adaptive`.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

/// Runs the tool with `stdin` as input; returns the exit code and the JSON output lines.
fn run(args: &[&str], stdin: &str) -> (i32, Vec<Value>) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("-q")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

#[test]
fn coalesce_jsonrpc_sends_one_request_per_batch() {
    let server = Server::start().unwrap();
    let url = server.url("/jsonrpc");
    let input: String = (0..30)
        .map(|i| {
            let call = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{i}],"id":{i}}}"#);
            format!(
                "{}\n",
                serde_json::json!({"method": "POST", "url": url, "body": call})
            )
        })
        .collect();
    let (code, lines) = run(
        &[
            "--coalesce",
            "jsonrpc",
            "--max-batch",
            "10",
            "--max-delay",
            "10s",
            "-c",
            "10",
        ],
        &input,
    );
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 30);
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
    assert_eq!(server.requests_for("/jsonrpc"), 3);
}

#[test]
fn a_jsonrpc_error_object_is_a_remote_error_on_its_own_line() {
    let server = Server::start().unwrap();
    let url = server.url("/jsonrpc");
    let input: String = ["echo", "fail", "echo"]
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let call = format!(r#"{{"jsonrpc":"2.0","method":"{m}","params":[{i}],"id":{i}}}"#);
            format!(
                "{}\n",
                serde_json::json!({"method": "POST", "url": url, "body": call})
            )
        })
        .collect();
    let (code, lines) = run(
        &[
            "--coalesce",
            "jsonrpc",
            "--max-batch",
            "3",
            "--max-delay",
            "10s",
            "-c",
            "3",
        ],
        &input,
    );
    assert_eq!(code, 1, "one item failed: {lines:?}");
    assert_eq!(server.requests_for("/jsonrpc"), 1);
    let failed: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "error").collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0]["index"], 1, "{lines:?}");
    assert_eq!(failed[0]["error"]["kind"], "remote", "{lines:?}");
    let message = failed[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("-32000"), "{message}");
    assert_eq!(lines.iter().filter(|l| l["status"] == 200).count(), 2);
}

#[test]
fn adaptive_follows_an_advertised_quota() {
    let server = Server::start().unwrap();
    let input = format!("{}\n", server.url("/quota/cli?limit=20")).repeat(30);
    let (code, lines) = run(&["--adaptive", "-c", "4"], &input);
    assert_eq!(code, 0, "{lines:?}");
    assert!(lines.iter().all(|l| l["status"] == 200), "{lines:?}");
    // And without it, the same run is refused past the quota.
    let server = Server::start().unwrap();
    let input = format!("{}\n", server.url("/quota/cli?limit=20")).repeat(30);
    let (_, lines) = run(&["-c", "4"], &input);
    assert!(lines.iter().any(|l| l["status"] == 429));
}

#[test]
fn coalescing_options_need_a_codec() {
    let (code, _) = run(&["--max-batch", "10"], "");
    assert_eq!(code, 2);
}
