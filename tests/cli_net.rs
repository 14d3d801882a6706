//! The `httpbatch` binary's TLS and proxy options (`-k`, `--cacert`, `--cert`, `--key`, `-x`,
//! `--noproxy`, and the proxy environment variables), run as a user would against loopback TLS
//! servers and real proxies started here.

#[path = "support/proxies.rs"]
mod proxies;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tls_server::{Ca, TestServer, self_signed, server_config};

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Runs the binary with `args` and only the proxy variables in `env`; returns the exit code
/// and the one outcome line.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut cmd = Command::new(BIN);
    cmd.args(["-q", "--timeout", "10s"]).args(args);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).stdin(Stdio::null());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let line = stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output; stderr: {}", String::from_utf8_lossy(&stderr)));
    (status.code().unwrap(), serde_json::from_str(line).unwrap())
}

fn error_kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or("none")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("httpbatch-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn cacert_trusts_a_private_ca_and_tls_failures_are_typed() {
    let dir = TempDir::new("cli-cacert");
    let ca = Ca::new("cli CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let url = server.url("https", "/");
    let ca_file = dir.file("ca.pem", &ca.cert.pem);

    let (code, v) = run(&[&url], &[]);
    assert_eq!((code, error_kind(&v)), (1, "tls"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UnknownIssuer"),
        "{v}"
    );

    let (code, v) = run(&["--cacert", &ca_file, &url], &[]);
    assert_eq!((code, &v["status"]), (0, &Value::from(200)), "{v}");

    let missing = dir.path().join("missing.pem").display().to_string();
    let out = Command::new(BIN)
        .args(["-q", "--cacert", &missing, &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unreadable --cacert is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pem"));
}

#[test]
fn insecure_accepts_a_self_signed_certificate() {
    let server = TestServer::tls(server_config(&self_signed(&["127.0.0.1"]), None, false));
    let url = server.url("https", "/");
    let (code, v) = run(&[&url], &[]);
    assert_eq!((code, error_kind(&v)), (1, "tls"), "{v}");
    let (code, v) = run(&["-k", &url], &[]);
    assert_eq!((code, &v["status"]), (0, &Value::from(200)), "{v}");
}

#[test]
fn cert_and_key_answer_a_server_that_requires_a_client_certificate() {
    let dir = TempDir::new("cli-mtls");
    let ca = Ca::new("cli mtls CA");
    let server = TestServer::tls(server_config(
        &ca.leaf(&["127.0.0.1"], false),
        Some(&ca),
        false,
    ));
    let client = ca.leaf(&["client.test"], false);
    let url = server.url("https", "/");
    let ca_file = dir.file("ca.pem", &ca.cert.pem);
    let cert = dir.file("client.pem", &client.pem);
    let key = dir.file("client.key", &client.key_pem);
    let both = dir.file("both.pem", &format!("{}{}", client.pem, client.key_pem));

    let (code, v) = run(&["--cacert", &ca_file, &url], &[]);
    assert_eq!((code, error_kind(&v)), (1, "tls"), "{v}");
    let (code, v) = run(
        &["--cacert", &ca_file, "--cert", &cert, "--key", &key, &url],
        &[],
    );
    assert_eq!((code, &v["status"]), (0, &Value::from(200)), "{v}");
    // Without --key, the key is read from the --cert file.
    let (code, v) = run(&["--cacert", &ca_file, "--cert", &both, &url], &[]);
    assert_eq!((code, &v["status"]), (0, &Value::from(200)), "{v}");
}

#[test]
fn proxies_from_the_option_and_the_environment() {
    let via = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let tiny = proxies::tinyproxy(None);
    let socks = proxies::microsocks(None);
    let target = TestServer::plain("127.0.0.1");
    let url = target.url("http", "/x");
    let tiny_url = tiny.url("http", "");
    let last_peer = || target.requests().last().unwrap().0.ip();

    let (code, _) = run(&["-x", &tiny_url, &url], &[]);
    assert_eq!((code, last_peer()), (0, via));
    assert!(target.requests().last().unwrap().1.contains("tinyproxy"));

    let (code, _) = run(&[&url], &[("http_proxy", &tiny_url)]);
    assert_eq!(
        (code, last_peer()),
        (0, via),
        "http_proxy from the environment"
    );

    let (code, _) = run(&[&url], &[("HTTP_PROXY", &tiny_url)]);
    assert_eq!(
        (code, last_peer()),
        (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "HTTP_PROXY is ignored"
    );

    let env = [("http_proxy", tiny_url.as_str()), ("NO_PROXY", "127.0.0.1")];
    let (code, _) = run(&[&url], &env);
    assert_eq!(
        (code, last_peer()),
        (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "NO_PROXY"
    );

    let (code, _) = run(&["--noproxy", "", &url], &env);
    assert_eq!((code, last_peer()), (0, via), "--noproxy replaces NO_PROXY");

    let (code, _) = run(&["-x", "", &url], &[("all_proxy", &tiny_url)]);
    assert_eq!(
        (code, last_peer()),
        (0, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "-x \"\" uses none"
    );

    let (code, _) = run(&[&url], &[("ALL_PROXY", &socks.url("socks5h", ""))]);
    assert_eq!((code, last_peer()), (0, via), "ALL_PROXY with SOCKS5");
    assert_eq!(target.requests().len(), 7);
}

#[test]
fn bodies_are_decoded_by_default_kept_raw_with_raw_and_bombs_stop_at_max_body() {
    let server = httpbatch_testserver::Server::start().unwrap();
    let text = httpbatch_testserver::ENCODED_TEXT.repeat(20);
    for coding in ["gzip", "deflate", "br"] {
        let url = server.url(&format!("/encoded/{coding}"));
        let (code, v) = run(&["--body", "text", &url], &[]);
        assert_eq!((code, v["status"].as_u64()), (0, Some(200)), "{v}");
        assert_eq!(v["body"].as_str(), Some(text.as_str()), "{coding}");
        let (code, v) = run(&["--compressed", "--body", "text", &url], &[]);
        assert_eq!((code, v["body"].as_str()), (0, Some(text.as_str())), "{v}");
    }
    // gzip's magic bytes 1f 8b 08 are "H4sI" in base64.
    let url = server.url("/encoded/gzip");
    let (code, v) = run(&["--raw", "--body", "base64", &url], &[]);
    assert_eq!(code, 0, "{v}");
    assert!(v["body"].as_str().unwrap().starts_with("H4sI"), "{v}");

    let url = server.url("/bomb/64");
    let (code, v) = run(&["--max-body", "1MiB", &url], &[]);
    assert_ne!(code, 0);
    assert_eq!(error_kind(&v), "body_too_large", "{v}");
}
