//! The hostile-server suite: a scripted raw-TCP peer (`tests/support/faults.rs`) misbehaves in
//! every way issue 10 lists, and each scenario asserts, through the library (a batch over a
//! retrying client) and for a subset through the `httpbatch` binary: exactly one outcome per
//! request, its specific kind or status, the number of attempts, a return well before the
//! deadline, and the process's descriptor and thread counts back to their baseline.
//!
//! Stalls use timeouts of a few hundred milliseconds, so the whole file runs in seconds.

#[path = "support/faults.rs"]
mod faults;
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faults::{Conn, RawServer, answer_and_hold, fd_count};
use httpbatch::{
    BatchExecutor, BatchOptions, ErrorKind, HttpClient, HttpClientConfig, Jitter, Outcome, Request,
    RetryExecutor, RetryPolicy,
};
use support::{eventually, thread_count};

const BIN: &str = env!("CARGO_BIN_EXE_httpbatch");

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Kind(ErrorKind),
    Status(u16),
}

type Script = Arc<dyn Fn(Conn) + Send + Sync>;

struct Scenario {
    name: &'static str,
    script: Script,
    /// Path on the scripted server, or a whole URL.
    target: String,
    /// Applied to a client with a 2 s timeout.
    config: fn(HttpClientConfig) -> HttpClientConfig,
    /// Attempts the retry layer may make.
    max_attempts: u32,
    /// Requests sent, one after the other; each must end as `expect`.
    requests: usize,
    expect: Expect,
    attempts: u32,
    /// Connections the server must have accepted (`None`: not checked).
    accepted: Option<usize>,
    /// Run through the binary too.
    cli: bool,
}

fn sc(name: &'static str, script: impl Fn(Conn) + Send + Sync + 'static) -> Scenario {
    Scenario {
        name,
        script: Arc::new(script),
        target: "/".into(),
        config: |c| c,
        max_attempts: 2,
        requests: 1,
        expect: Expect::Status(200),
        attempts: 1,
        accepted: None,
        cli: false,
    }
}

impl Scenario {
    fn kind(mut self, k: ErrorKind, attempts: u32) -> Self {
        self.expect = Expect::Kind(k);
        self.attempts = attempts;
        self
    }
    fn status(mut self, s: u16, attempts: u32) -> Self {
        self.expect = Expect::Status(s);
        self.attempts = attempts;
        self
    }
    fn config(mut self, f: fn(HttpClientConfig) -> HttpClientConfig) -> Self {
        self.config = f;
        self
    }
    fn target(mut self, t: impl Into<String>) -> Self {
        self.target = t.into();
        self
    }
    fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }
    fn requests(mut self, n: usize) -> Self {
        self.requests = n;
        self
    }
    fn accepted(mut self, n: usize) -> Self {
        self.accepted = Some(n);
        self
    }
    fn cli(mut self) -> Self {
        self.cli = true;
        self
    }
}

fn short(c: HttpClientConfig) -> HttpClientConfig {
    c.timeout(Duration::from_millis(300))
}

fn small_body(c: HttpClientConfig) -> HttpClientConfig {
    c.max_body_size(64 * 1024)
}

/// Reads one request, answers `answer`, closes.
fn once(answer: &'static str) -> impl Fn(Conn) + Send + Sync {
    move |mut c: Conn| {
        if c.read_request().is_some() {
            c.write(answer);
        }
    }
}

/// Reads one request, writes `answer`, resets.
fn then_reset(answer: &'static str) -> impl Fn(Conn) + Send + Sync {
    move |mut c: Conn| {
        if c.read_request().is_some() {
            c.write(answer);
            c.reset();
        }
    }
}

/// Reads requests and answers each with `answer`, keeping the connection.
fn always(answer: &'static str) -> impl Fn(Conn) + Send + Sync {
    move |mut c: Conn| {
        while c.read_request().is_some() {
            c.write(answer);
        }
    }
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn scenarios() -> Vec<Scenario> {
    use ErrorKind::*;
    let refused = closed_port();
    let big = |n: usize| format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n", "x".repeat(n));
    let big20 = big(20 * 1024);
    let big60 = big(60 * 1024);
    let big70 = big(70 * 1024);
    let big200 = big(200 * 1024);
    let many: String = std::iter::once("HTTP/1.1 200 OK\r\n".to_owned())
        .chain((0..10_000).map(|i| format!("h{i}: v\r\n")))
        .collect();
    let storm = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n";
    let retry_after = |v: &'static str| {
        move |mut c: Conn| {
            while c.read_request().is_some() {
                c.write(format!("{storm}Retry-After: {v}\r\n\r\n"));
            }
        }
    };
    vec![
        sc("refused", |_| {})
            .target(format!("http://127.0.0.1:{refused}/"))
            .kind(ConnectRefused, 2)
            .cli(),
        sc("accept then close", |c: Conn| c.close())
            .kind(ConnectionReset, 2)
            .accepted(2)
            .cli(),
        sc("reset after the request", |mut c: Conn| {
            c.read_request();
            c.reset();
        })
        .kind(ConnectionReset, 2)
        .cli(),
        sc(
            "reset mid-headers",
            then_reset("HTTP/1.1 200 OK\r\nContent-Le"),
        )
        .kind(ConnectionReset, 2),
        sc(
            "reset mid-body",
            then_reset("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"),
        )
        .kind(ConnectionReset, 2),
        sc(
            "EOF mid-body",
            once("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"),
        )
        .kind(ConnectionReset, 2)
        .cli(),
        sc("stall before the status line", |mut c: Conn| {
            c.read_request();
            c.hold();
        })
        .config(short)
        .kind(Timeout, 2)
        .cli(),
        sc("stall mid-headers", |c: Conn| {
            answer_and_hold(c, b"HTTP/1.1 200 OK\r\nX-A: 1\r\n")
        })
        .config(short)
        .kind(Timeout, 2),
        sc("1 byte every 200 ms", |mut c: Conn| {
            if c.read_request().is_some() {
                c.drip(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                    Duration::from_millis(200),
                );
            }
        })
        .config(|c| c.timeout(Duration::from_millis(500)))
        .max_attempts(1)
        .kind(Timeout, 1),
        sc("malformed status line", once("HTTP/1.1 abc\r\n\r\n"))
            .kind(Protocol, 1)
            .cli(),
        sc("garbage", once("\u{1}\u{2}garbage garbage\r\n\r\n")).kind(Protocol, 1),
        sc(
            "header without colon",
            once("HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n"),
        )
        .kind(Protocol, 1),
        // Heads up to 64 KiB parse by default (the connection's buffer grows for them only).
        sc("20 KiB header", move |mut c: Conn| {
            while c.read_request().is_some() {
                c.write(&big20);
                c.write("Content-Length: 2\r\n\r\nok");
            }
        })
        .requests(2)
        .accepted(1)
        .status(200, 1)
        .cli(),
        sc("60 KiB header", move |mut c: Conn| {
            while c.read_request().is_some() {
                c.write(&big60);
                c.write("Content-Length: 2\r\n\r\nok");
            }
        })
        .requests(2)
        .accepted(1)
        .status(200, 1),
        // Over the limit, the client stops without waiting for the rest of the head.
        sc("70 KiB header, connection held", move |c: Conn| {
            answer_and_hold(c, big70.as_bytes())
        })
        .kind(Protocol, 1)
        .cli(),
        sc("200 KiB header", move |mut c: Conn| {
            if c.read_request().is_some() {
                c.write(&big200);
                c.write("Content-Length: 0\r\n\r\n");
            }
        })
        .kind(Protocol, 1),
        sc("10,000 headers", move |mut c: Conn| {
            if c.read_request().is_some() {
                c.write(&many);
                c.write("Content-Length: 0\r\n\r\n");
            }
        })
        .kind(Protocol, 1),
        sc(
            "negative Content-Length",
            once("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok"),
        )
        .kind(Protocol, 1),
        sc(
            "non-numeric Content-Length",
            once("HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok"),
        )
        .kind(Protocol, 1),
        sc(
            "conflicting Content-Length",
            once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"),
        )
        .kind(Protocol, 1)
        .cli(),
        sc(
            "bad chunk size",
            once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"),
        )
        .kind(Protocol, 1),
        sc(
            "oversized chunk",
            once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\nok"),
        )
        .kind(ConnectionReset, 2),
        sc(
            "missing last chunk",
            once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"),
        )
        .kind(ConnectionReset, 2),
        sc("body over the limit", |mut c: Conn| {
            if c.read_request().is_some() {
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
                c.write(vec![b'x'; 1_000_000]);
            }
        })
        .config(small_body)
        .kind(BodyTooLarge, 1)
        .cli(),
        sc("chunked body over the limit", |mut c: Conn| {
            if c.read_request().is_some() {
                c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                for _ in 0..100 {
                    c.write(format!("2710\r\n{}\r\n", "x".repeat(10_000)));
                }
                c.write("0\r\n\r\n");
            }
        })
        .config(small_body)
        .kind(BodyTooLarge, 1),
        sc("compressed bomb", |mut c: Conn| {
            if c.read_request().is_some() {
                let bomb = gzip_zeros(16 << 20);
                c.write(format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    bomb.len()
                ));
                c.write(bomb);
            }
        })
        .config(small_body)
        .kind(BodyTooLarge, 1)
        .cli(),
        sc(
            "corrupt gzip body",
            once("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"),
        )
        .kind(Protocol, 1),
        sc(
            "redirect loop",
            always("HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"),
        )
        .kind(Redirect, 1)
        .cli(),
        sc("redirect to a refused port", move |mut c: Conn| {
            while c.read_request().is_some() {
                c.write(format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{refused}/\r\n\
                     Content-Length: 0\r\n\r\n"
                ));
            }
        })
        .kind(ConnectRefused, 2),
        sc(
            "redirect to an invalid port",
            always(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:99999999/ok\r\n\
                 Content-Length: 0\r\n\r\n",
            ),
        )
        .kind(Redirect, 1)
        .cli(),
        sc(
            "CR in Location",
            always("HTTP/1.1 302 Found\r\nLocation: /a\rX-Evil: 1\r\nContent-Length: 0\r\n\r\n"),
        )
        .kind(Protocol, 1),
        sc(
            "redirect without Location",
            always("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"),
        )
        .status(302, 1),
        sc(
            "Location without scheme",
            always("HTTP/1.1 302 Found\r\nLocation: localhost:1/ok\r\nContent-Length: 0\r\n\r\n"),
        )
        .kind(Redirect, 1),
        sc("Retry-After huge", retry_after("999999999"))
            .status(503, 1)
            .cli(),
        sc("Retry-After negative", retry_after("-5")).status(503, 2),
        sc("Retry-After garbage", retry_after("soon")).status(503, 2),
        sc(
            "Retry-After in year 9999",
            retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
        )
        .status(503, 1),
        sc(
            "503 storm",
            always("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"),
        )
        .max_attempts(4)
        .status(503, 4)
        .accepted(1)
        .cli(),
        sc(
            "HTTP/1.0 body to EOF",
            once("HTTP/1.0 200 OK\r\n\r\nbody until the end"),
        )
        .status(200, 1)
        .cli(),
        sc(
            "100 Continue first",
            always("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        )
        .status(200, 1),
        // The server closes the first connection when the second request arrives on it, before
        // answering: the leaf resends it once on a new connection, unseen by the retry layer.
        sc("stale keep-alive connection", |mut c: Conn| {
            let first = c.index == 0;
            while c.read_request().is_some() {
                if first && c.requests_so_far() == 2 {
                    return c.close();
                }
                c.ok("ok");
            }
        })
        .requests(2)
        .status(200, 1)
        .accepted(2),
        sc(
            "keep-alive closed by the server after each answer",
            |mut c: Conn| {
                if c.read_request().is_some() {
                    c.ok("ok");
                    c.close();
                }
            },
        )
        .requests(5)
        .status(200, 1)
        .accepted(5),
        sc("https to a plain port", |mut c: Conn| {
            if c.read_some() {
                c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        })
        .target("https")
        .kind(Tls, 1)
        .cli(),
        sc("stalled TLS handshake", |mut c: Conn| c.hold())
            .target("https")
            .config(short)
            .kind(Timeout, 2),
    ]
}

fn gzip_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; n]).unwrap();
    e.finish().unwrap()
}

fn url_of(s: &Scenario, server: &RawServer) -> String {
    match s.target.as_str() {
        "https" => format!("https://127.0.0.1:{}/", server.port()),
        t if t.starts_with('/') => server.url(t),
        t => t.to_owned(),
    }
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(max_attempts)
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
        .jitter(Jitter::None)
        .retry_after_cap(Duration::from_secs(1))
        .build()
        .unwrap()
}

/// The outcome as (expectation, attempts).
fn seen(o: &Outcome) -> (Expect, u32) {
    match o {
        Outcome::Response(r) => (Expect::Status(r.status()), r.attempts()),
        Outcome::Error(e) => (Expect::Kind(e.kind()), e.attempts()),
        other => panic!("neither a response nor an error: {other:?}"),
    }
}

/// How long a scenario may take: its timeouts and retries, with room for a slow machine.
const WITHIN: Duration = Duration::from_secs(5);

/// One test, so no other test thread of this binary comes or goes while descriptor and thread
/// counts are compared: every scenario through the library, then the subset through the binary.
#[test]
fn hostile_server_suite() {
    through_the_library();
    through_the_binary();
}

fn through_the_library() {
    let all = scenarios();
    assert!(all.len() >= 35, "{} scenarios", all.len());
    let mut table = Vec::new();
    for s in all {
        let (fds, threads) = (fd_count(), thread_count());
        let server = RawServer::start({
            let script = s.script.clone();
            move |c| script(c)
        });
        let config = (s.config)(HttpClientConfig::default().timeout(Duration::from_secs(2)));
        let client = HttpClient::with_config(config);
        let retry = RetryExecutor::new(client.clone(), policy(s.max_attempts)).unwrap();
        let batch = BatchExecutor::new(retry, 1).unwrap();
        let url = url_of(&s, &server);
        let started = Instant::now();
        let result = batch.execute_batch(
            (0..s.requests).map(|_| Request::get(&url)),
            BatchOptions::new().concurrency(1),
        );
        let took = started.elapsed();
        assert_eq!(
            result.outcomes.len(),
            s.requests,
            "{}: one outcome each",
            s.name
        );
        for o in &result.outcomes {
            assert_eq!(seen(o), (s.expect, s.attempts), "{}: {o:?}", s.name);
        }
        assert!(took < WITHIN, "{}: took {took:?}", s.name);
        if let Some(n) = s.accepted {
            assert_eq!(server.accepted(), n, "{}: connections accepted", s.name);
        }
        table.push((s.name, s.expect, s.attempts, took));
        drop(batch);
        drop(client);
        drop(server);
        let back = eventually(Duration::from_secs(2), || {
            fd_count() == fds && thread_count() == threads
        });
        assert!(
            back,
            "{}: fds {fds} -> {}, threads {threads} -> {}",
            s.name,
            fd_count(),
            thread_count()
        );
    }
    for (name, expect, attempts, took) in table {
        println!("| {name} | {expect:?} | {attempts} | {took:.1?} |");
    }
}

fn through_the_binary() {
    for s in scenarios().into_iter().filter(|s| s.cli) {
        let server = RawServer::start({
            let script = s.script.clone();
            move |c| script(c)
        });
        let config = (s.config)(HttpClientConfig::default().timeout(Duration::from_secs(2)));
        let url = url_of(&s, &server);
        let timeout = format!("{}ms", config.get_timeout().as_millis());
        let max_body = config.get_max_body_size().to_string();
        let retries = (s.max_attempts - 1).to_string();
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(["-q", "--timeout", &timeout, "--max-body", &max_body])
            .args(["--retries", &retries, "--retry-backoff", "1ms"])
            .args(["--retry-after-cap", "1s", &url])
            .env("no_proxy", "*")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let took = started.elapsed();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<_> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{}: one outcome: {stdout}", s.name);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let got = match v["error"]["kind"].as_str() {
            Some(kind) => format!("kind {kind}"),
            None => format!("status {}", v["status"]),
        };
        let want = match s.expect {
            Expect::Kind(k) => format!("kind {}", k.as_str()),
            Expect::Status(code) => format!("status {code}"),
        };
        assert_eq!(got, want, "{}: {v}", s.name);
        assert_eq!(
            v["attempts"].as_u64(),
            Some(u64::from(s.attempts)),
            "{}: {v}",
            s.name
        );
        assert_eq!(
            out.status.success(),
            matches!(s.expect, Expect::Status(c) if c < 400)
        );
        assert!(took < WITHIN, "{}: took {took:?}", s.name);
    }
}
