//! Tests over real sockets with a raw HTTP/1.1 client, so they check the bytes on the wire.
//! No test sleeps to make timing work: each waits for a counter (bounded), or for a response.

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::time::SystemTime;

/// Bound on every wait in these tests; generous for a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(10);

struct Client {
    reader: BufReader<TcpStream>,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

impl Client {
    fn connect(server: &Server) -> Client {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    fn send_request(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut raw = format!("{method} {target} HTTP/1.1\r\nhost: loopback\r\n");
        for (n, v) in headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() {
            raw.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(body);
        self.send(&raw);
    }

    fn get(&mut self, target: &str) -> Resp {
        self.send_request("GET", target, &[], b"");
        self.read_response(false).expect("connection closed")
    }

    /// The next response, or `None` if the server closed the connection first.
    fn read_response(&mut self, head_only: bool) -> Option<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "header line {line:?}");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(": ").unwrap();
            headers.push((n.to_owned(), v.to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            if let Some(n) = resp.header("content-length") {
                let n: usize = n.parse().unwrap();
                resp.body.resize(n, 0);
                self.reader.read_exact(&mut resp.body).unwrap();
            }
        }
        Some(resp)
    }

    /// Whether the server closed: EOF (or a reset) with nothing more to read.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }
}

/// Polls `cond` until it holds; panics after [`PATIENCE`].
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn keep_alive_reuses_one_connection() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    for path in ["/", "/ok", "/ok?x=1"] {
        let r = c.get(path);
        assert_eq!((r.status, r.text()), (200, "ok"));
        assert_eq!(r.header("content-length"), Some("2"));
        assert_eq!(r.header("connection"), None);
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.open_connections(), 1);
    assert_eq!(server.requests(), 3);
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.requests_for("/ok"), 2);
    assert_eq!(server.requests_for("/"), 3);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    c.send(
        b"GET /status/201 HTTP/1.1\r\n\r\nGET /bytes/3 HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
    );
    assert_eq!(c.read_response(false).unwrap().status, 201);
    assert_eq!(c.read_response(false).unwrap().body, b"xxx");
    assert_eq!(c.read_response(false).unwrap().text(), "ok");
    assert_eq!(server.accepted(), 1);
}

#[test]
fn seq_follows_its_script_per_key() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let got: Vec<u16> = (0..5)
        .map(|_| c.get("/seq/a?s=503,429,200").status)
        .collect();
    assert_eq!(got, [503, 429, 200, 200, 200]);
    // Another key, and the same key under another route, count apart.
    assert_eq!(c.get("/seq/b?s=500,200").status, 500);
    assert_eq!(c.get("/flaky/a?fail=1").status, 503);
    assert_eq!(c.get("/flaky/a?fail=1").status, 200);

    let r = c.get("/seq/r?s=503,200&retry_after=7");
    assert_eq!((r.status, r.text()), (503, "503"));
    assert_eq!(r.header("retry-after"), Some("7"));
    let r = c.get("/seq/r?s=503,200&retry_after=7");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("retry-after"),
        None,
        "2xx answers carry no Retry-After"
    );

    // The date is at least 30 s ahead, and less than 31 s (plus the time this test takes).
    let before = SystemTime::now();
    let r = c.get("/seq/d?s=429&retry_after_date=30");
    let after = SystemTime::now();
    let date = r.header("retry-after").unwrap();
    let candidates: Vec<String> = (30..=32)
        .map(|s| http_date(before + Duration::from_secs(s)))
        .chain((30..=32).map(|s| http_date(after + Duration::from_secs(s))))
        .collect();
    assert!(
        candidates.iter().any(|c| c == date),
        "{date} not in {candidates:?}"
    );
    assert_ne!(date, http_date(before + Duration::from_secs(29)));

    assert_eq!(c.get("/seq/x").status, 400, "missing script");
    assert_eq!(c.get("/seq/x?s=200,abc").status, 400);
    assert_eq!(c.get("/seq/x?s=200&retry_after=-1").status, 400);

    server.reset_counters();
    assert_eq!(
        c.get("/seq/a?s=503,429,200").status,
        503,
        "reset restarts sequences"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn flaky_and_limited() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let got: Vec<u16> = (0..4)
        .map(|_| c.get("/flaky/k?fail=2&status=502").status)
        .collect();
    assert_eq!(got, [502, 502, 200, 200]);

    let got: Vec<(u16, Option<String>)> = (0..4)
        .map(|_| {
            let r = c.get("/limited/k?n=2&retry_after=3");
            (r.status, r.header("retry-after").map(str::to_owned))
        })
        .collect();
    assert_eq!(
        got,
        [
            (200, None),
            (200, None),
            (429, Some("3".to_owned())),
            (429, Some("3".to_owned()))
        ]
    );
    assert_eq!(c.get("/limited/q").status, 400, "n is required");
}

#[test]
fn echo_round_trips_a_binary_body_and_headers() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    c.send_request(
        "PUT",
        "/echo?a=1&b=2",
        &[("X-Custom-Thing", "Hello, World"), ("Accept", "*/*")],
        &body,
    );
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.header("x-echo-method"), Some("PUT"));
    assert_eq!(r.header("x-echo-path"), Some("/echo?a=1&b=2"));
    assert_eq!(r.header("x-echo-body-len"), Some("100000"));
    assert_eq!(r.header("x-echo-h-x-custom-thing"), Some("Hello, World"));
    assert_eq!(r.header("x-echo-h-accept"), Some("*/*"));
    assert_eq!(r.header("x-echo-h-host"), Some("loopback"));
    assert_eq!(r.header("x-echo-h-content-length"), Some("100000"));

    // Chunked request bodies are decoded; the connection stays usable.
    c.send(b"POST /echo HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\ntrailer: x\r\n\r\n");
    let r = c.read_response(false).unwrap();
    assert_eq!(r.text(), "abc0123456789abcdef");
    assert_eq!(r.header("x-echo-body-len"), Some("19"));

    // Expect: 100-continue gets its interim answer before the body is sent.
    c.send(b"POST /echo HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n");
    let interim = c.read_response(false).unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"ping");
    assert_eq!(c.read_response(false).unwrap().text(), "ping");
    assert_eq!(server.accepted(), 1);
}

#[test]
fn bytes_head_and_bodiless_statuses_keep_the_connection_in_sync() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let r = c.get("/bytes/200000");
    assert_eq!(r.body.len(), 200_000);
    assert!(r.body.iter().all(|&b| b == b'x'));
    assert_eq!(c.get("/bytes/0").body, b"");

    c.send_request("HEAD", "/bytes/10", &[], b"");
    let r = c.read_response(true).unwrap();
    assert_eq!(r.header("content-length"), Some("10"));

    let r = c.get("/status/204");
    assert_eq!((r.status, r.header("content-length")), (204, None));
    let r = c.get("/status/418");
    assert_eq!((r.status, r.text()), (418, "418"));
    assert_eq!(
        c.get("/ok").text(),
        "ok",
        "nothing stray was left on the connection"
    );
    assert_eq!(server.accepted(), 1);
}

#[test]
fn unknown_paths_and_bad_parameters() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    for (path, status) in [
        ("/nope", 404),
        ("/ok/more", 404),
        ("/status", 400),
        ("/status/99", 400),
        ("/status/600", 400),
        ("/status/abc", 400),
        ("/bytes/-1", 400),
        ("/bytes/2000000000", 400),
        ("/delay/x", 400),
        ("/delay/1?status=9", 400),
        ("/seq/", 404),
    ] {
        assert_eq!(c.get(path).status, status, "{path}");
    }
    assert_eq!(server.accepted(), 1, "bad parameters keep the connection");
}

#[test]
fn malformed_requests_get_400_and_close() {
    let server = Server::start().unwrap();
    let long_header = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(70_000));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"garbage\r\n\r\n".to_vec(), 400),
        (b"GET /ok HTTP/1.1 extra\r\n\r\n".to_vec(), 400),
        (b"GET ok HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET /ok HTTP/2.0\r\n\r\n".to_vec(), 505),
        (b"GET /ok HTTP/1.1\r\nno colon\r\n\r\n".to_vec(), 400),
        (b"GET /ok HTTP/1.1\r\nbad name: v\r\n\r\n".to_vec(), 400),
        (b"GET /ok HTTP/1.1\r\nx: a\rb\r\n\r\n".to_vec(), 400),
        (
            b"GET /ok HTTP/1.1\r\ncontent-length: abc\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET /ok HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"GET /ok HTTP/1.1\r\ncontent-length: 99999999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /echo HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
        (b"GET /\xff HTTP/1.1\r\n\r\n".to_vec(), 400),
        (long_header.into_bytes(), 431),
    ];
    for (raw, status) in cases {
        let mut c = Client::connect(&server);
        c.send(&raw);
        let r = c.read_response(false).unwrap();
        assert_eq!(
            r.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }
    // A client that vanishes mid-request is not an error either.
    let mut c = Client::connect(&server);
    c.send(b"POST /echo HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc");
    c.reader.get_ref().shutdown(Shutdown::Write).unwrap();
    assert!(c.closed());
    assert_eq!(Client::connect(&server).get("/ok").status, 200);
    eventually("connections to close", || server.open_connections() == 0);
    assert_eq!(server.in_flight(), 0);
}

#[test]
fn absolute_form_http10_and_connection_close() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    c.send(b"GET http://example.test/status/202?x=1 HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_response(false).unwrap().status, 202);
    assert_eq!(server.requests_for("/status/202"), 1);

    // HTTP/1.0 closes unless it asks for keep-alive.
    c.send(b"GET /ok HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
    let r = c.read_response(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET /ok HTTP/1.0\r\n\r\n");
    let r = c.read_response(false).unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = Client::connect(&server);
    c.send_request("GET", "/ok", &[("Connection", "close")], b"");
    assert_eq!(
        c.read_response(false).unwrap().header("connection"),
        Some("close")
    );
    assert!(c.closed());
}

#[test]
fn close_and_reset_routes() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let r = c.get("/close");
    assert_eq!((r.status, r.text()), (200, "ok"));
    assert_eq!(r.header("connection"), Some("close"));
    // The server uncounts a connection it closes before closing it.
    assert_eq!(server.open_connections(), 0);
    assert!(c.closed());

    let mut c = Client::connect(&server);
    c.send_request("GET", "/reset", &[], b"");
    assert!(c.read_response(false).is_none());
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.requests(), 2);
    assert_eq!(server.accepted(), 2);
}

#[test]
fn delay_waits_then_answers() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    let t0 = Instant::now();
    let r = c.get("/delay/50?status=201");
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert_eq!((r.status, r.text()), (201, "201"));
    assert_eq!(c.get("/delay/0").text(), "ok");
}

#[test]
fn stop_interrupts_delays_promptly() {
    let server = Server::start().unwrap();
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let mut c = Client::connect(&server);
            std::thread::spawn(move || {
                c.send_request("GET", "/delay/60000", &[], b"");
                c.read_response(false).is_none()
            })
        })
        .collect();
    eventually("32 requests in flight", || server.in_flight() == 32);
    let t0 = Instant::now();
    server.stop();
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(500), "stop took {took:?}");
    for c in clients {
        assert!(
            c.join().unwrap(),
            "a delayed request got an answer after stop"
        );
    }
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.in_flight(), 0);
    server.stop(); // idempotent
    assert!(TcpStream::connect(server.addr()).is_err() || server.accepted() == 32);
}

#[test]
fn drop_interrupts_hung_requests() {
    let server = Server::start().unwrap();
    server.set_mode(Mode::Hang);
    let mut c = Client::connect(&server);
    c.send_request("GET", "/ok", &[], b"");
    eventually("the request to hang", || server.in_flight() == 1);
    let t0 = Instant::now();
    drop(server);
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert!(c.read_response(false).is_none());
}

#[test]
fn unavailable_mode_answers_503_and_recovers() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    server.set_mode(Mode::Unavailable);
    assert_eq!(server.mode(), Mode::Unavailable);
    for path in ["/ok", "/status/200", "/seq/u?s=200"] {
        let r = c.get(path);
        assert_eq!((r.status, r.text()), (503, "503"), "{path}");
    }
    server.set_mode(Mode::Normal);
    assert_eq!(c.get("/ok").status, 200);
    assert_eq!(
        c.get("/seq/u?s=201").status,
        201,
        "503s did not consume the sequence"
    );
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 5);
}

#[test]
fn reset_mode_closes_without_answering_and_recovers() {
    let server = Server::start().unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(c.get("/ok").status, 200);
    server.set_mode(Mode::Reset);
    c.send_request("GET", "/ok", &[], b"");
    assert!(c.read_response(false).is_none());
    let mut c = Client::connect(&server);
    c.send_request("GET", "/ok", &[], b"");
    assert!(c.read_response(false).is_none());
    assert_eq!(server.open_connections(), 0);
    server.set_mode(Mode::Normal);
    assert_eq!(Client::connect(&server).get("/ok").status, 200);
    assert_eq!(server.requests(), 4);
    assert_eq!(server.accepted(), 3);
}

#[test]
fn mode_changes_wake_waiting_requests() {
    let server = Server::start().unwrap();
    // A long delay is cut short by Unavailable.
    let mut delayed = Client::connect(&server);
    delayed.send_request("GET", "/delay/60000", &[], b"");
    eventually("the delay to start", || server.in_flight() == 1);
    let t0 = Instant::now();
    server.set_mode(Mode::Unavailable);
    assert_eq!(delayed.read_response(false).unwrap().status, 503);
    assert!(t0.elapsed() < Duration::from_secs(5));

    // A hung request is handled under the mode it is released into.
    server.set_mode(Mode::Hang);
    let mut hung = Client::connect(&server);
    hung.send_request("GET", "/status/203", &[], b"");
    eventually("the request to hang", || server.in_flight() == 1);
    server.set_mode(Mode::Normal);
    assert_eq!(hung.read_response(false).unwrap().status, 203);

    server.set_mode(Mode::Hang);
    hung.send_request("GET", "/ok", &[], b"");
    eventually("the request to hang", || server.in_flight() == 1);
    server.set_mode(Mode::Reset);
    assert!(hung.read_response(false).is_none());
    assert_eq!(server.in_flight(), 0);
}

#[test]
fn max_in_flight_tracks_concurrent_delays() {
    const N: u64 = 8;
    let server = Arc::new(Server::start().unwrap());
    // Hold the requests (Hang) until all N are in, so the high-water mark is exactly N.
    server.set_mode(Mode::Hang);
    let clients: Vec<_> = (0..N)
        .map(|_| {
            let mut c = Client::connect(&server);
            std::thread::spawn(move || c.get("/delay/10").status)
        })
        .collect();
    eventually("N requests in flight", || server.in_flight() == N);
    server.set_mode(Mode::Normal);
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    assert_eq!(server.max_in_flight(), N);
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.requests_for("/delay/10"), N);
    server.reset_max_in_flight();
    assert_eq!(server.max_in_flight(), 0);
    Client::connect(&server).get("/ok");
    assert_eq!(server.max_in_flight(), 1);
}

#[test]
fn counters_are_exact_under_concurrency() {
    const THREADS: u64 = 8;
    const EACH: u64 = 250;
    let server = Arc::new(Server::start().unwrap());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&server);
                for i in 0..EACH {
                    let path = if i % 2 == 0 {
                        "/ok".to_owned()
                    } else {
                        format!("/bytes/{t}")
                    };
                    assert_eq!(c.get(&path).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.requests(), THREADS * EACH);
    assert_eq!(server.accepted(), THREADS);
    assert_eq!(server.requests_for("/ok"), THREADS * EACH / 2);
    assert_eq!(server.requests_for("/bytes/"), THREADS * EACH / 2);
    assert_eq!(server.requests_for("/bytes/3"), EACH / 2);
    assert_eq!(server.in_flight(), 0);
    assert!(server.max_in_flight() >= 1 && server.max_in_flight() <= THREADS);
    eventually("clients' connections to close", || {
        server.open_connections() == 0
    });

    server.reset_counters();
    assert_eq!((server.requests(), server.accepted()), (0, 0));
    assert_eq!(server.requests_for("/"), 0);
}

#[test]
fn arrivals_are_recorded_only_when_asked() {
    let plain = Server::start().unwrap();
    Client::connect(&plain).get("/ok");
    assert!(plain.arrivals().is_empty());

    let server = Server::builder().record_arrivals(true).start().unwrap();
    let t0 = Instant::now();
    let mut c = Client::connect(&server);
    c.get("/ok");
    c.send_request("POST", "/echo?q=1", &[], b"hi");
    c.read_response(false).unwrap();
    let arrivals = server.arrivals();
    let seen: Vec<(&str, &str)> = arrivals
        .iter()
        .map(|a| (a.method.as_str(), a.path.as_str()))
        .collect();
    assert_eq!(seen, [("GET", "/ok"), ("POST", "/echo?q=1")]);
    assert!(arrivals[0].at >= t0 && arrivals[0].at <= arrivals[1].at);
    server.clear_arrivals();
    assert!(server.arrivals().is_empty());
}

#[test]
fn urls_and_builder_port() {
    let server = Server::start().unwrap();
    let port = server.addr().port();
    assert_eq!(server.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        server.url("/ok?a=1"),
        format!("http://127.0.0.1:{port}/ok?a=1")
    );
    drop(server);
    // The port is free again after drop (the listener is closed), so it can be bound by number.
    let again = Server::builder().port(port).start();
    if let Ok(again) = again {
        assert_eq!(again.addr().port(), port);
        assert_eq!(Client::connect(&again).get("/ok").status, 200);
    }
}

#[test]
#[should_panic(expected = "must start with '/'")]
fn url_rejects_relative_paths() {
    Server::start().unwrap().url("ok");
}

#[test]
fn garbage_input_never_panics_a_handler() {
    let server = Server::start().unwrap();
    let pieces: [&[u8]; 16] = [
        b"GET ",
        b"POST ",
        b"/echo",
        b"/seq/a?s=",
        b"503,",
        b"/delay/1",
        b" HTTP/1.1",
        b"\r\n",
        b"\n",
        b"\r",
        b"content-length: 3",
        b"transfer-encoding: chunked",
        b": ",
        b"\xff\x00",
        b"?status=",
        b"ffffffffffffffff\r\n",
    ];
    // A fixed xorshift stream: deterministic, so a failure reproduces.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut raw = Vec::new();
        for _ in 0..(x % 24) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.extend_from_slice(pieces[(x % pieces.len() as u64) as usize]);
        }
        let mut c = Client::connect(&server);
        let _ = c.reader.get_mut().write_all(&raw);
        let _ = c.reader.get_ref().shutdown(Shutdown::Write);
        let mut rest = Vec::new();
        let _ = c.reader.read_to_end(&mut rest);
    }
    assert_eq!(Client::connect(&server).get("/ok").status, 200);
    eventually("every connection to close", || {
        server.open_connections() == 0
    });
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.inner.handler_panics.load(Ordering::Relaxed), 0);
}
