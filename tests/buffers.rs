//! A connection's buffers (src/agent/buffers.rs, `HttpClientConfig::buffer_size`) against the
//! loopback server: bodies much larger than the buffers cross intact both ways, on one kept-alive
//! connection, at the default size and at the smallest; a request line up to the output buffer
//! goes out, a longer one is a typed error, not a panic or a hang.

mod support;

use httpbatch::{Context, ErrorKind, Execute, HttpClient, HttpClientConfig, Method, Request};
use support::Server;

fn echo(client: &HttpClient, url: &str, body: &[u8]) -> httpbatch::Response {
    let req = Request::builder(Method::Post, url)
        .body(body.to_vec())
        .build()
        .unwrap();
    client.execute(req, &Context::new()).unwrap()
}

#[test]
fn large_bodies_cross_intact_both_ways_and_small_ones_follow_on_the_same_connection() {
    let server = Server::start().unwrap();
    // Bytes that differ from one position to the next, so a lost or repeated chunk shows.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for config in [
        HttpClientConfig::default(),
        HttpClientConfig::default().buffer_size(1024),
    ] {
        let client = HttpClient::with_config(config.clone());
        let url = server.url("/echo");
        for (i, body) in [&big[..], b"small", &big[..1_000_001], b""]
            .iter()
            .enumerate()
        {
            let res = echo(&client, &url, body);
            assert_eq!(res.status(), 200, "{i} at {config:?}");
            assert!(res.body() == *body, "{i}: {} bytes back", res.body().len());
        }
        // And downloads: a large one, then a small one on the same connection.
        for n in [2_500_000, 64, 200_000, 0] {
            let res = client
                .execute(
                    Request::get(&server.url(&format!("/bytes/{n}"))).unwrap(),
                    &Context::new(),
                )
                .unwrap();
            assert_eq!((res.status(), res.body().len()), (200, n));
            assert!(res.body().iter().all(|&b| b == b'x'));
        }
        let stats = client.connection_stats();
        assert_eq!((stats.opened, stats.requests), (1, 8), "{stats:?}");
    }
}

/// The output buffer bounds the longest request line (ureq writes a head line by line): at the
/// default 16 KiB, a 12 KiB URL goes out (servers such as Node's and Go's take up to 16 KiB and
/// more); past the configured size it is a typed error, and the client goes on working.
#[test]
fn request_lines_up_to_the_output_buffer_go_out_and_longer_ones_are_a_typed_error() {
    let server = Server::start().unwrap();
    let get = |client: &HttpClient, url: &str| {
        client.execute(Request::get(url).unwrap(), &Context::new())
    };
    let long = server.url(&format!("/echo?q={}", "a".repeat(12 * 1024)));
    let res = get(&HttpClient::new(), &long).unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("x-echo-path").map(str::len), Some(12 * 1024 + 8));

    let small = HttpClient::with_config(HttpClientConfig::default().buffer_size(4096));
    let err = get(&small, &long).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    // The message says what was too long and which option sends it.
    assert!(
        err.to_string()
            .contains("longer than the 4096 byte output buffer")
            && err.to_string().contains("buffer_size"),
        "{err}"
    );
    assert_eq!(get(&small, &server.url("/ok")).unwrap().status(), 200);
}
