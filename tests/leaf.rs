//! The leaf (`HttpClient`) against real loopback servers: redirects followed by httpbatch, each
//! hop through the admission gate; header and URL rules; response header limits; extreme
//! configuration values.

mod support;

use std::time::Duration;

use httpbatch::{
    Context, ErrorKind, Execute, HttpClient, HttpClientConfig, Method, Rate, RateLimitedExecutor,
    RateLimiter, Request, TryExecuteError,
};
use support::Server;

/// `s` percent-encoded for a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn redirect_to(server: &Server, status: u16, location: &str) -> String {
    server.url(&format!(
        "/redirect-to?status={status}&url={}",
        enc(location)
    ))
}

fn limiter() -> RateLimiter {
    RateLimiter::new(Rate::per_second(10_000.0).unwrap(), 100).unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn relative_redirects_are_followed_and_every_hop_pays_a_token() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let limited = RateLimitedExecutor::new(client.clone(), limiter());
    let res = limited
        .execute(
            Request::get(&server.url("/redirect/3")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!((res.status(), res.text().as_ref()), (200, "ok"));
    assert_eq!(res.url(), server.url("/redirect/0"));
    assert_eq!(
        res.redirects(),
        [
            server.url("/redirect/3"),
            server.url("/redirect/2"),
            server.url("/redirect/1")
        ]
    );
    assert_eq!(res.attempts(), 1);
    assert_eq!(server.requests_for("/redirect/"), 4);
    // One token per request on the wire: the first write and three hops.
    assert_eq!(limited.stats().admitted, 4);
    // The hops reused the one connection.
    assert_eq!(client.connection_stats().opened, 1);
}

#[test]
fn try_execute_prepays_the_first_write_and_the_hops_pay_their_own() {
    let server = Server::start().unwrap();
    let limited = RateLimitedExecutor::new(HttpClient::new(), limiter());
    let res = limited
        .try_execute(
            Request::get(&server.url("/redirect/2")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.redirects().len(), 2);
    assert_eq!(limited.stats().admitted, 3, "{:?}", limited.stats());

    // With no token free the request comes back untouched and nothing is sent.
    let empty = RateLimiter::new(Rate::parse("1/h").unwrap(), 1).unwrap();
    let limited = RateLimitedExecutor::new(HttpClient::new(), empty);
    limited
        .try_execute(Request::get(&server.url("/a")).unwrap(), &Context::new())
        .unwrap();
    match limited.try_execute(Request::get(&server.url("/b")).unwrap(), &Context::new()) {
        Err(TryExecuteError::WouldBlock { request, wait }) => {
            assert!(request.url().as_str().ends_with("/b"));
            assert!(wait > Duration::from_secs(3000), "{wait:?}");
        }
        other => panic!("expected WouldBlock, got {other:?}"),
    }
    assert_eq!(server.requests_for("/b"), 0);
    assert_eq!(limited.stats().admitted, 1);
}

#[test]
fn the_redirect_limit_is_an_error_and_zero_returns_the_redirect() {
    let server = Server::start().unwrap();
    assert_eq!(HttpClientConfig::default().get_max_redirects(), 10);
    let client = HttpClient::with_config(HttpClientConfig::default().max_redirects(2));
    let err = client
        .execute(
            Request::get(&server.url("/redirect/3")).unwrap(),
            &Context::new(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect, "{err}");
    assert!(err.to_string().contains("too many redirects"), "{err}");
    assert!(err.to_string().contains("/redirect/1"), "{err}");
    assert_eq!(server.requests_for("/redirect/"), 3);

    let client = HttpClient::with_config(HttpClientConfig::default().max_redirects(0));
    let res = client
        .execute(
            Request::get(&server.url("/redirect/3")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.header("location"), Some("/redirect/2"));
    assert!(res.redirects().is_empty());
}

#[test]
fn a_location_that_breaks_the_url_rules_is_a_typed_error_naming_it() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    for bad in [
        "http://127.0.0.1:99999999/ok",
        "http://127.0.0.1:0/ok",
        "ftp://127.0.0.1/ok",
        "http://u:p@127.0.0.1/ok",
    ] {
        let err = client
            .execute(
                Request::get(&redirect_to(&server, 302, bad)).unwrap(),
                &Context::new(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Redirect, "{bad}: {err}");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
        assert_eq!(err.attempts(), 1);
    }
    // Nothing but the redirects themselves went out.
    assert_eq!(server.requests(), 4);
}

#[test]
fn a_refused_redirect_target_is_blamed_on_the_target() {
    let server = Server::start().unwrap();
    let port = closed_port();
    let target = format!("http://127.0.0.1:{port}/ok");
    let start = redirect_to(&server, 302, &target);
    let err = HttpClient::new()
        .execute(Request::get(&start).unwrap(), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectRefused, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains(&format!("redirect 1 from {start}")), "{msg}");
}

/// The echo of `header` (lower-case) at the final hop, if it arrived.
fn echoed<'a>(res: &'a httpbatch::Response, header: &str) -> Option<&'a str> {
    res.header(&format!("x-echo-h-{header}"))
}

#[test]
fn method_and_body_follow_the_status_on_the_wire() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    for (status, method, body_len) in [
        (301, "GET", "0"),
        (302, "GET", "0"),
        (303, "GET", "0"),
        (307, "POST", "4"),
        (308, "POST", "4"),
    ] {
        let req = Request::builder(Method::Post, &redirect_to(&server, status, "/echo"))
            .header("content-type", "text/plain")
            .body("data")
            .build()
            .unwrap();
        let res = client.execute(req, &Context::new()).unwrap();
        assert_eq!(res.status(), 200, "{status}");
        assert_eq!(res.header("x-echo-method"), Some(method), "{status}");
        assert_eq!(res.header("x-echo-body-len"), Some(body_len), "{status}");
        assert_eq!(res.body(), if body_len == "4" { &b"data"[..] } else { b"" });
        assert_eq!(
            echoed(&res, "content-type").is_some(),
            body_len == "4",
            "{status}"
        );
    }
}

#[test]
fn credentials_are_dropped_when_the_origin_changes_and_kept_when_not() {
    let a = Server::start().unwrap();
    let b = Server::start().unwrap();
    let client = HttpClient::new();
    let send = |url: &str| {
        let req = Request::builder(Method::Get, url)
            .header("Authorization", "Bearer t")
            .header("Proxy-Authorization", "Basic cA==")
            .header("Cookie", "s=1")
            .sensitive_header("X-Api-Key", "k")
            .header("X-Keep", "1")
            .build()
            .unwrap();
        client.execute(req, &Context::new()).unwrap()
    };
    let secret = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
    ];

    let res = send(&redirect_to(&a, 302, &b.url("/echo")));
    assert_eq!(res.url(), b.url("/echo"));
    for h in secret {
        assert_eq!(echoed(&res, h), None, "{h} crossed to another origin");
    }
    assert_eq!(echoed(&res, "x-keep"), Some("1"));

    let res = send(&redirect_to(&a, 302, "/echo"));
    for h in secret {
        assert!(echoed(&res, h).is_some(), "{h} dropped on the same origin");
    }
}

#[test]
fn a_response_head_over_the_limit_is_a_protocol_error_not_a_reset() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    // Up to 64 KiB of head parse by default, over the 16 KiB buffer too, on one connection.
    for n in [15 * 1024, 8 * 1024, 17 * 1024, 40 * 1024, 60 * 1024, 100] {
        let res = client
            .execute(
                Request::get(&server.url(&format!("/big-header/{n}"))).unwrap(),
                &Context::new(),
            )
            .unwrap();
        assert_eq!(res.header("x-big").map(str::len), Some(n));
    }
    assert_eq!(client.connection_stats().opened, 1);
    for n in [64 * 1024, 200 * 1024] {
        let err = client
            .execute(
                Request::get(&server.url(&format!("/big-header/{n}"))).unwrap(),
                &Context::new(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{n}: {err}");
        assert!(!err.is_retryable(), "{n}: {err}");
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    }
    // A bigger limit accepts it.
    let big = HttpClient::with_config(HttpClientConfig::default().max_response_head(128 * 1024));
    let res = big
        .execute(
            Request::get(&server.url("/big-header/65536")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.header("x-big").map(str::len), Some(65536));
    // A smaller one refuses less.
    let small = HttpClient::with_config(HttpClientConfig::default().max_response_head(16 * 1024));
    let err = small
        .execute(
            Request::get(&server.url("/big-header/17408")).unwrap(),
            &Context::new(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    // Through a pool with retries it is one attempt.
    let pool = httpbatch::ConnectionPool::new();
    let err = pool
        .execute(
            Request::get(&server.url("/big-header/70000")).unwrap(),
            &Context::new(),
        )
        .unwrap_err();
    assert_eq!((err.kind(), err.attempts()), (ErrorKind::Protocol, 1));
    assert_eq!(server.requests_for("/big-header/70000"), 1);
}

#[test]
fn non_ascii_urls_go_on_the_wire_percent_encoded() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let res = client
        .execute(
            Request::get(&server.url("/echo?q=ü&r=\"x\"")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("x-echo-path"), Some("/echo?q=%C3%BC&r=%22x%22"));
    // A Location in raw UTF-8 is encoded the same way.
    let res = client
        .execute(
            Request::get(&redirect_to(&server, 302, "/echo?π=1")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.header("x-echo-path"), Some("/echo?%CF%80=1"));
    assert_eq!(res.url(), server.url("/echo?%CF%80=1"));
}

#[test]
fn control_bytes_in_headers_never_reach_the_wire() {
    let server = Server::start().unwrap();
    for v in ["a\u{1}b", "a\u{1b}[31m", "a\u{7f}", "a\rb", "a\nb", "a\0b"] {
        let err = Request::builder(Method::Get, &server.url("/echo"))
            .header("x-v", v)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidHeader, "{v:?}");
    }
    let res = HttpClient::new()
        .execute(
            Request::builder(Method::Get, &server.url("/echo"))
                .header("x-v", "tab\there")
                .build()
                .unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.header("x-echo-h-x-v"), Some("tab\there"));
    assert_eq!(server.requests(), 1);
}

/// A duration at one of its extremes, or an ordinary value.
fn extreme_duration() -> impl proptest::strategy::Strategy<Value = Duration> {
    proptest::sample::select(vec![
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(5),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ])
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any combination of extreme configuration values either works or fails the request with a
    /// typed error: never a panic (the batch would report `Panicked`), never a hang.
    #[test]
    fn every_config_extreme_is_no_limit_or_a_typed_error(
        connect in extreme_duration(),
        total in extreme_duration(),
        request in proptest::option::of(extreme_duration()),
        idle in extreme_duration(),
        ttl in extreme_duration(),
        body in proptest::sample::select(vec![0u64, 1 << 20, u64::MAX]),
        idle_cap in proptest::sample::select(vec![0usize, 1, usize::MAX]),
        buffer in proptest::sample::select(vec![0usize, 4096, usize::MAX]),
        redirects in proptest::sample::select(vec![0u32, 1, u32::MAX]),
    ) {
        // One server for every case: starting and stopping one per case dominates the time.
        static SERVER: std::sync::OnceLock<Server> = std::sync::OnceLock::new();
        let server = SERVER.get_or_init(|| Server::start().unwrap());
        let config = HttpClientConfig::default()
            .connect_timeout(connect)
            .timeout(total)
            .idle_timeout(idle)
            .dns_ttl(ttl)
            .max_body_size(body)
            .max_idle_per_origin(idle_cap)
            .buffer_size(buffer)
            .max_redirects(redirects);
        let client = HttpClient::with_config(config);
        for path in ["/ok", "/redirect/2"] {
            let mut b = Request::builder(Method::Get, &server.url(path));
            if let Some(t) = request {
                b = b.timeout(t);
            }
            let started = std::time::Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                client.execute(b.build().unwrap(), &Context::new())
            }));
            let outcome = outcome.map_err(|_| "panicked").unwrap();
            proptest::prop_assert!(started.elapsed() < Duration::from_secs(10));
            match outcome {
                Ok(res) => proptest::prop_assert!(
                    res.status() == 200 || (res.status() == 302 && redirects == 0),
                    "{} {}", path, res.status()
                ),
                Err(e) => {
                    let tiny = |d: Duration| d == Duration::from_nanos(1);
                    let ok = match e.kind() {
                        ErrorKind::Timeout => {
                            tiny(connect) || request.map_or(tiny(total), tiny)
                        }
                        ErrorKind::BodyTooLarge => body == 0,
                        ErrorKind::Redirect => redirects == 1 && path != "/ok",
                        _ => false,
                    };
                    proptest::prop_assert!(ok, "{}: {:?}", path, e);
                }
            }
        }
    }
}

#[test]
fn duration_max_timeouts_mean_no_limit_through_a_batch() {
    let server = Server::start().unwrap();
    let client = HttpClient::with_config(
        HttpClientConfig::default()
            .timeout(Duration::MAX)
            .connect_timeout(Duration::MAX),
    );
    let batch = httpbatch::BatchExecutor::new(client, 4).unwrap();
    let result = batch.execute_batch(
        (0..8).map(|i| {
            Request::builder(Method::Get, &server.url(&format!("/redirect/{}", i % 2)))
                .timeout(Duration::MAX)
                .build()
        }),
        httpbatch::BatchOptions::new(),
    );
    assert_eq!(result.outcomes.len(), 8);
    for o in &result.outcomes {
        assert_eq!(o.status(), Some(200), "{o:?}");
    }
}

#[test]
fn a_user_agent_that_is_no_header_value_fails_typed_and_sends_nothing() {
    let server = Server::start().unwrap();
    for ua in ["a\r\nx-injected: 1", "nul\0", ""] {
        let client = HttpClient::with_config(HttpClientConfig::default().user_agent(ua));
        let outcome = client.execute(Request::get(&server.url("/echo")).unwrap(), &Context::new());
        match outcome {
            Ok(res) => {
                assert_eq!(ua, "", "{ua:?} was sent");
                assert_eq!(res.status(), 200);
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{ua:?}: {e}"),
        }
    }
    assert_eq!(server.requests(), 1);
}

#[test]
fn retries_and_redirect_hops_each_pay_a_token() {
    let server = Server::start().unwrap();
    let retry = httpbatch::RetryExecutor::new(
        HttpClient::new(),
        httpbatch::RetryPolicy::builder()
            .base_delay(Duration::from_millis(1))
            .build()
            .unwrap(),
    )
    .unwrap();
    let limited = RateLimitedExecutor::new(retry, limiter());
    // Each attempt is two writes: the redirect and its target (503, then 200).
    let res = limited
        .execute(
            Request::get(&redirect_to(&server, 307, "/seq/k?s=503,200")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));
    assert_eq!(server.requests(), 4);
    assert_eq!(limited.stats().admitted, 4);
}

#[test]
fn a_redirect_loop_stops_at_the_limit_and_a_3xx_without_location_is_the_answer() {
    let server = Server::start().unwrap();
    // An empty Location is a reference to the same URL: a loop.
    let looping = server.url("/redirect-to?url=");
    let err = HttpClient::new()
        .execute(Request::get(&looping).unwrap(), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirect, "{err}");
    assert!(err.to_string().contains("after 10"), "{err}");
    assert_eq!(server.requests_for("/redirect-to"), 11);

    let res = HttpClient::new()
        .execute(
            Request::get(&server.url("/status/302")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(res.redirects().is_empty());
}

#[test]
fn internationalised_hosts_go_out_in_their_ascii_form() {
    let server = Server::start().unwrap();
    let port = server.addr().port();
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let client = HttpClient::with_config(HttpClientConfig::default().resolve(
        "bücher.example",
        port,
        loopback,
    ));
    let res = client
        .execute(
            Request::get(&format!("http://Bücher.example:{port}/echo")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    assert_eq!(res.status(), 200);
    let ascii = format!("xn--bcher-kva.example:{port}");
    assert_eq!(res.header("x-echo-h-host"), Some(ascii.as_str()));
    assert_eq!(res.url(), format!("http://{ascii}/echo"));
    // The xn-- form names the same origin: its connection is reused.
    let res = client
        .execute(
            Request::get(&format!("http://XN--BCHER-KVA.example:{port}/echo")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    let host = res.header("x-echo-h-host").unwrap();
    assert!(host.eq_ignore_ascii_case(&ascii), "{host}");
    let stats = client.connection_stats();
    assert_eq!((stats.opened, stats.reused), (1, 1), "{stats:?}");
    assert_eq!(server.accepted(), 1);
    // Names UTS 46 refuses are typed errors, before anything is sent.
    for bad in ["http://a\u{FFFD}b.example/", "http://aא.example/"] {
        let e = Request::get(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad:?}: {e}");
    }
}
