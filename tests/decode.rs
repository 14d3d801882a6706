//! Content decoding in the leaf, against the loopback server's encoded routes: gzip, deflate
//! (zlib and raw) and br decoded, raw on request, `Accept-Encoding` settable, the body limit on
//! the decoded size.

mod support;

use httpbatch::{Context, ErrorKind, Execute, HttpClient, HttpClientConfig, Method, Request};
use support::{ENCODED_TEXT, Server};

fn get(client: &HttpClient, url: &str) -> Result<httpbatch::Response, httpbatch::Error> {
    client.execute(Request::get(url).unwrap(), &Context::new())
}

#[test]
fn every_coding_decodes_and_loses_its_wire_headers() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let text = ENCODED_TEXT.repeat(20);
    for coding in ["gzip", "deflate", "deflate-raw", "br", "identity"] {
        let res = get(&client, &server.url(&format!("/encoded/{coding}"))).unwrap();
        assert_eq!(res.status(), 200, "{coding}");
        assert_eq!(res.text(), text, "{coding}");
        assert_eq!(res.header("content-encoding"), None, "{coding}");
        if coding != "identity" {
            assert_eq!(res.header("content-length"), None, "{coding}");
        }
    }
    // Every answer was read to its end: one connection served them all.
    let stats = client.connection_stats();
    assert_eq!((stats.opened, stats.requests), (1, 5), "{stats:?}");
}

#[test]
fn accept_encoding_is_sent_by_default_and_settable() {
    let server = Server::start().unwrap();
    let sent = |client: &HttpClient, req: Request| {
        let res = client.execute(req, &Context::new()).unwrap();
        res.header("x-echo-h-accept-encoding").map(str::to_owned)
    };
    let echo = server.url("/echo");
    let plain = Request::get(&echo).unwrap();
    assert_eq!(
        sent(&HttpClient::new(), plain.clone()).as_deref(),
        Some("gzip, deflate, br")
    );
    let client = HttpClient::with_config(HttpClientConfig::default().accept_encoding("br"));
    assert_eq!(sent(&client, plain.clone()).as_deref(), Some("br"));
    let client = HttpClient::with_config(HttpClientConfig::default().accept_encoding(""));
    assert_eq!(sent(&client, plain.clone()), None);
    let raw = HttpClient::with_config(HttpClientConfig::default().decompress(false));
    assert_eq!(sent(&raw, plain), None);
    // A request's own header wins.
    let own = Request::builder(Method::Get, &echo)
        .header("accept-encoding", "identity")
        .build()
        .unwrap();
    assert_eq!(sent(&HttpClient::new(), own).as_deref(), Some("identity"));

    let bad = HttpClientConfig::default().accept_encoding("gzip\u{1}");
    assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::InvalidConfig);
}

#[test]
fn raw_mode_returns_the_bytes_and_header_as_sent() {
    let server = Server::start().unwrap();
    let raw = HttpClient::with_config(HttpClientConfig::default().decompress(false));
    let res = get(&raw, &server.url("/encoded/gzip")).unwrap();
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    let len: usize = res.header("content-length").unwrap().parse().unwrap();
    assert_eq!(res.body().len(), len);
    assert_eq!(&res.body()[..2], &[0x1f, 0x8b], "a gzip member");
    assert!(len < ENCODED_TEXT.len() * 20);

    // Raw, a bomb is just its few compressed bytes.
    let res = get(&raw, &server.url("/bomb/8")).unwrap();
    assert!(res.body().len() < 64 * 1024, "{}", res.body().len());
}

#[test]
fn the_body_limit_applies_to_the_decoded_size_so_a_bomb_stops_at_it() {
    let server = Server::start().unwrap();
    let mib = 1u64 << 20;
    let client = HttpClient::with_config(HttpClientConfig::default().max_body_size(2 * mib));
    // Exactly at the limit: accepted.
    let res = get(&client, &server.url("/bomb/2")).unwrap();
    assert_eq!(res.body().len() as u64, 2 * mib);
    assert!(res.body().iter().all(|&b| b == 0));
    // 256 MiB from about 256 KiB on the wire: stopped at 2 MiB, not retried, not buffered.
    let err = get(&client, &server.url("/bomb/256")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err:?}");
    assert_eq!(err.attempts(), 1);
    // One byte over: refused too.
    let client = HttpClient::with_config(HttpClientConfig::default().max_body_size(2 * mib - 1));
    let err = get(&client, &server.url("/bomb/2")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err:?}");
}
