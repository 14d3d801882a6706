//! Fuzz targets as property tests over arbitrary bytes: the URL parser, header validation, the
//! `Retry-After` parser, the query builder and the test server's request parser. Each runs 256
//! cases in CI (proptest's default); `scripts/fuzz.sh` runs them with many more
//! (`PROPTEST_CASES`). A failing input is saved by proptest and replayed first next time.
//!
//! Not here: the CLI's JSON-lines input parser lives in the binary's private modules and is not
//! reachable from a test without changing the CLI.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, UNIX_EPOCH};

use httpbatch::{ErrorKind, Method, Request, Url, parse_retry_after};
use proptest::prelude::*;
use support::{Server, http_date};

/// Arbitrary bytes as text (invalid UTF-8 replaced), or an `http://` URL with an arbitrary tail.
fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (
            prop::sample::select(vec!["http://", "https://", "HTTP://", "http://[::1]"]),
            ".{0,40}"
        )
            .prop_map(|(s, t)| format!("{s}{t}")),
        "http://[a-z0-9.:_-]{0,20}(/[ -~ü€]{0,20})?(\\?[ -~]{0,20})?",
    ]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `application/x-www-form-urlencoded` decoding (WHATWG URL standard §5.1).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

proptest! {
    #[test]
    fn url_parser_takes_anything_and_its_output_is_a_fixed_point(text in url_text()) {
        if let Ok(url) = Url::parse(&text) {
            let s = url.as_str();
            prop_assert!(s.bytes().all(|b| b > b' ' && b < 0x7f), "{s:?}");
            prop_assert!(url.port() != 0);
            // The scheme is kept as written (`HTTP://` too); the origin spells it lowercase.
            let scheme = url.origin().split("://").next().unwrap().to_owned();
            prop_assert!(s.to_ascii_lowercase().starts_with(&scheme));
            let again = Url::parse(s).unwrap();
            prop_assert_eq!(again.as_str(), s);
            prop_assert_eq!(again.host(), url.host());
            prop_assert_eq!(again.port(), url.port());
            // What the leaf hands to ureq must be a URI to it too.
            prop_assert!(s.parse::<ureq::http::Uri>().is_ok(), "{s:?}");
        }
    }

    #[test]
    fn header_validation_is_rfc_9110_and_agrees_with_the_http_crate(
        name in prop_oneof![any::<Vec<u8>>(), "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}".prop_map(String::into_bytes)],
        value in prop_oneof![any::<Vec<u8>>(), "[ -~\t]{0,20}".prop_map(String::into_bytes)],
    ) {
        let (name, value) = (String::from_utf8_lossy(&name), String::from_utf8_lossy(&value));
        let built = Request::builder(Method::Get, "http://127.0.0.1:1/")
            .header(&name, &value)
            .build();
        let name_ok = !name.is_empty() && name.bytes().all(is_tchar);
        let value_ok = value.bytes().all(|b| (b >= b' ' || b == b'\t') && b != 0x7f);
        match built {
            Ok(_) => {
                prop_assert!(name_ok && value_ok, "accepted {name:?}: {value:?}");
                // The leaf builds an `http::Request` from it: it must not refuse it later.
                prop_assert!(ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok());
                prop_assert!(ureq::http::HeaderValue::from_bytes(value.as_bytes()).is_ok());
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidHeader);
                prop_assert!(!(name_ok && value_ok), "refused {name:?}: {value:?}");
            }
        }
    }

    #[test]
    fn retry_after_takes_anything_and_reads_what_servers_write(
        junk in any::<Vec<u8>>(),
        secs in any::<u64>(),
        ahead in 0u64..(400 * 365 * 86_400),
        now_secs in 0u64..4_000_000_000,
    ) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        let _ = parse_retry_after(&String::from_utf8_lossy(&junk), now);
        prop_assert_eq!(parse_retry_after(&secs.to_string(), now), Some(Duration::from_secs(secs)));
        prop_assert_eq!(parse_retry_after(&format!("-{}", secs.max(1)), now), None);
        // An HTTP-date written by an independent formatter (the test server's).
        let at = now + Duration::from_secs(ahead);
        prop_assert_eq!(parse_retry_after(&http_date(at), now), Some(Duration::from_secs(ahead)));
        let before = now.checked_sub(Duration::from_secs(ahead)).unwrap_or(UNIX_EPOCH);
        prop_assert_eq!(parse_retry_after(&http_date(before), now), Some(Duration::ZERO));
    }

    #[test]
    fn query_pairs_round_trip_any_text(
        pairs in prop::collection::vec((".{0,12}", ".{0,12}"), 0..5),
        path in prop::sample::select(vec!["/", "/p?x=1", "/p?", "/p?x=1&", "/p#frag"]),
    ) {
        let req = Request::builder(Method::Get, &format!("http://127.0.0.1:1{path}"))
            .query_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .build()
            .unwrap();
        let url = req.url().as_str();
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap();
        let got: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (form_decode(k), form_decode(v))
            })
            .collect();
        // The query already in the URL comes first, then the pairs in order.
        let mut want: Vec<(String, String)> = Vec::new();
        if path.contains("x=1") {
            want.push(("x".into(), "1".into()));
        }
        want.extend(pairs.iter().cloned());
        prop_assert_eq!(got, want, "{}", url);
        prop_assert_eq!(url.ends_with("#frag"), path.ends_with("#frag"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// One server for all cases: it must answer each burst with an HTTP status line or close,
    /// and stay up for the next client.
    #[test]
    fn the_test_server_survives_any_request_bytes(
        bytes in prop_oneof![
            any::<Vec<u8>>(),
            (prop::sample::select(vec!["GET / HTTP/1.1\r\n", "POST /echo HTTP/1.1\r\n", "GET /ok HTTP/1.0\r\n"]),
             any::<Vec<u8>>(),
             prop::sample::select(vec!["", "\r\n", "\r\n\r\n", "Content-Length: 5\r\n\r\nab"]))
                .prop_map(|(a, b, c)| [a.as_bytes(), &b, c.as_bytes()].concat()),
        ],
    ) {
        let server = server();
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let read = s.read_to_end(&mut answer);
        prop_assert!(
            !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "no answer and no close within 5 s"
        );
        prop_assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&answer));
        let mut ok = TcpStream::connect(server.addr()).unwrap();
        ok.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut res = String::new();
        ok.read_to_string(&mut res).unwrap();
        prop_assert!(res.starts_with("HTTP/1.1 200 "), "{res}");
    }
}

/// `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn server() -> &'static Server {
    static SERVER: std::sync::OnceLock<Server> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| Server::start().unwrap())
}
