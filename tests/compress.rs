//! Compressed request bodies, decoded by the loopback server's `/gunzip-echo` route.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use httpbatch::{
    BodyCompression, COMPRESS_HEADER, CompressBody, Context, Error, ErrorKind, Execute, HttpClient,
    Method, Request, Response, RetryExecutor, RetryPolicy,
};
use support::Server;

/// A body that compresses but is not trivial: every byte value, in a varying order.
fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

fn post(e: &impl Execute, url: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
    let mut b = Request::builder(Method::Post, url).body(body);
    for (n, v) in headers {
        b = b.header(n, v);
    }
    e.execute(b.build().unwrap(), &Context::new()).unwrap()
}

#[test]
fn bodies_above_the_size_are_gzipped_and_decoded_byte_for_byte() {
    let server = Server::start().unwrap();
    let url = server.url("/gunzip-echo");
    let e = CompressBody::new(HttpClient::new(), BodyCompression::gzip().min_size(4096));
    let big = body(200_000);
    let r = post(&e, &url, big.clone(), &[]);
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("x-content-encoding"), Some("gzip"));
    assert_eq!(
        r.body(),
        &big[..],
        "the server's decoded body, byte for byte"
    );
    let wire: usize = r.header("x-wire-len").unwrap().parse().unwrap();
    assert!(wire < big.len() / 2, "{wire} bytes on the wire");
    let s = e.stats();
    assert_eq!(
        (s.compressed, s.bytes_in, s.bytes_out),
        (1, 200_000, wire as u64)
    );

    let small = post(&e, &url, body(100), &[]);
    assert_eq!(small.header("x-content-encoding"), Some("identity"));
    assert_eq!(small.body(), &body(100)[..]);

    // Per request: force it on a small body, or keep a big one as it is.
    let forced = post(&e, &url, body(100), &[(COMPRESS_HEADER, "gzip")]);
    assert_eq!(forced.header("x-content-encoding"), Some("gzip"));
    assert_eq!(forced.body(), &body(100)[..]);
    let off = post(&e, &url, big.clone(), &[(COMPRESS_HEADER, "off")]);
    assert_eq!(off.header("x-content-encoding"), Some("identity"));
    assert_eq!(off.header("x-wire-len"), Some("200000"));
    // The override header never reaches the server.
    let echo = post(
        &e,
        &server.url("/echo"),
        body(10),
        &[(COMPRESS_HEADER, "off")],
    );
    assert!(echo.header("x-echo-h-x-httpbatch-compress").is_none());
    // A body already encoded by the caller is left alone.
    let own = post(&e, &url, big.clone(), &[("content-encoding", "identity")]);
    assert_eq!(own.header("x-wire-len"), Some("200000"));
    assert_eq!(e.stats().compressed, 2);
}

/// Fails each request's first attempt before the wire (a transient error), and records the
/// body bytes of every attempt.
struct FailFirst<E> {
    inner: E,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl<E: Execute> Execute for FailFirst<E> {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        let first = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(req.body().to_vec());
            seen.len() == 1
        };
        if first {
            return Err(Error::new(ErrorKind::ConnectionReset, "injected"));
        }
        self.inner.execute(req, ctx)
    }
}

#[test]
fn a_retry_replays_the_compressed_bytes_compressed_once() {
    let server = Server::start().unwrap();
    let policy = RetryPolicy::builder()
        .base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let leaf = FailFirst {
        inner: HttpClient::new(),
        seen: Mutex::new(Vec::new()),
    };
    let e = CompressBody::new(
        RetryExecutor::new(leaf, policy).unwrap(),
        BodyCompression::gzip().min_size(1),
    );
    let big = body(50_000);
    let req = Request::builder(Method::Put, &server.url("/gunzip-echo"))
        .body(big.clone())
        .build()
        .unwrap();
    let r = e.execute(req, &Context::new()).unwrap();
    assert_eq!(r.attempts(), 2);
    assert_eq!(r.body(), &big[..]);
    let seen = e.get_ref().get_ref().seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0], seen[1],
        "the same compressed bytes on both attempts"
    );
    assert!(seen[0].len() < big.len() / 2 && seen[0].starts_with(&[0x1f, 0x8b]));
    assert_eq!(e.stats().compressed, 1);
}

#[test]
fn a_bad_override_is_an_error_in_its_slot() {
    let server = Server::start().unwrap();
    let e = CompressBody::new(HttpClient::new(), BodyCompression::gzip());
    let req = Request::builder(Method::Post, &server.url("/gunzip-echo"))
        .header(COMPRESS_HEADER, "brotli")
        .body(b"x".to_vec())
        .build()
        .unwrap();
    let err = e.execute(req, &Context::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(server.requests(), 0);
}
