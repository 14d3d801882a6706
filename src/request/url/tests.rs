//! Tests of URL parsing.

use super::*;

#[test]
fn url_parsing() {
    let u = Url::parse("HTTPS://Example.COM/x").unwrap();
    assert_eq!(u.scheme(), Scheme::Https);
    assert_eq!(u.port(), 443);
    assert_eq!(u.origin(), "https://example.com:443");
    // Non-ASCII and illegal bytes in path and query are percent-encoded, escapes kept.
    for (given, sent) in [
        ("http://a/anything/ü", "http://a/anything/%C3%BC"),
        ("http://a/ü?ß=ü", "http://a/%C3%BC?%C3%9F=%C3%BC"),
        ("http://a/%C3%BC", "http://a/%C3%BC"),
        (
            "http://a/{x}|\\^`<>\"",
            "http://a/%7Bx%7D%7C%5C%5E%60%3C%3E%22",
        ),
        ("http://a/日本?q=1", "http://a/%E6%97%A5%E6%9C%AC?q=1"),
        ("http://a/plain?q=1&r=%20", "http://a/plain?q=1&r=%20"),
    ] {
        let u = Url::parse(given).unwrap();
        assert_eq!(u.as_str(), sent, "{given:?}");
        assert_eq!(u.host(), "a");
        assert_eq!(Url::parse(sent).unwrap().as_str(), sent, "idempotent");
    }
    // The origin, computed once: the URL's prefix when spelled canonically, else kept
    // after the URL in the same allocation; never part of `as_str`.
    for (given, origin, host, port) in [
        ("http://a:8080/x", "http://a:8080", "a", 8080),
        ("http://a/x", "http://a:80", "a", 80),
        (
            "https://Example.COM/x",
            "https://example.com:443",
            "example.com",
            443,
        ),
        ("HTTP://a:80", "http://a:80", "a", 80),
        ("http://a:0080/ü", "http://a:80", "a", 80),
        ("http://[::1]:9/x", "http://[::1]:9", "[::1]", 9),
        ("https://[::1]/ü", "https://[::1]:443", "[::1]", 443),
        ("http://a:65535?q", "http://a:65535", "a", 65535),
    ] {
        let u = Url::parse(given).unwrap();
        assert_eq!(u.origin(), origin, "{given:?}");
        assert_eq!(u.host(), host, "{given:?}");
        assert_eq!(u.port(), port, "{given:?}");
        assert!(!u.as_str().ends_with(origin) || given.ends_with(origin));
        assert_eq!(u, u.clone());
    }
    assert_eq!(std::mem::size_of::<Url>(), 24);
    // Internationalised names in their UTS 46 ASCII form, the rest of the URL kept.
    for (given, sent, host) in [
        (
            "http://bücher.example/",
            "http://xn--bcher-kva.example/",
            "xn--bcher-kva.example",
        ),
        (
            "https://BÜCHER.example:8443/ü?q=ß",
            "https://xn--bcher-kva.example:8443/%C3%BC?q=%C3%9F",
            "xn--bcher-kva.example",
        ),
        ("http://日本.jp", "http://xn--wgv71a.jp", "xn--wgv71a.jp"),
        ("http://faß.de/", "http://xn--fa-hia.de/", "xn--fa-hia.de"),
    ] {
        let u = Url::parse(given).unwrap();
        assert_eq!(u.as_str(), sent, "{given:?}");
        assert_eq!(u.host(), host, "{given:?}");
        assert_eq!(Url::parse(sent).unwrap(), u, "{given:?}: the same URL");
    }
    let u = Url::parse("http://[::1]:9/x").unwrap();
    assert_eq!(u.host(), "[::1]");
    assert_eq!(u.port(), 9);
    for bad in [
        "",
        "http://",
        "http:///x",
        "ftp://a/",
        "http://a:0/",
        "http://a:99999/",
        "http://a b/",
        "http://u:p@a/",
        "http://a/\r\n",
        "http://[::1/",
        "localhost:80",
        // Internationalised names UTS 46 refuses: a disallowed code point, a label mixing
        // right-to-left and left-to-right letters, a deny-listed ASCII byte.
        "http://a\u{FFFD}b.example/",
        "http://aא.example/",
        "http://ü<.example/",
        "http://[ü]/",
        "http://a/\u{7f}",
        "http://a/x\ty",
    ] {
        let e = Url::parse(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad:?}");
    }
}

/// Pieces the generated URLs are made of: the usual and every kind of unusual one.
const SCHEMES: [&str; 8] = [
    "http://",
    "https://",
    "HTTP://",
    "Https://",
    "ftp://",
    "http:/",
    "",
    "http://u@",
];
const HOST_BYTES: &[u8] = b"aZ09.-_:@[]/?# \t%";
const TARGET_BYTES: &[u8] = b"aZ/?#&=%:@.-_~+!\"<>\\^`{|}\x7f \t0";

fn generated(scheme: usize, host: &[u8], port: Option<u32>, target: &[u8], tail: &str) -> String {
    let mut s = String::from(SCHEMES[scheme % SCHEMES.len()]);
    for &b in host {
        s.push(HOST_BYTES[usize::from(b) % HOST_BYTES.len()] as char);
    }
    if let Some(p) = port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    for &b in target {
        s.push(TARGET_BYTES[usize::from(b) % TARGET_BYTES.len()] as char);
    }
    s.push_str(tail);
    s
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

    /// The one-pass parse of the common URL gives exactly what the full rules give, and
    /// `Url::parse` as a whole gives the full rules' answer (the same URL, or an error with
    /// the same message) for any input, usual or not.
    #[test]
    fn parse_paths_agree(
        scheme in 0usize..16,
        host in proptest::collection::vec(0u8..=255, 0..12),
        port in proptest::option::of(prop_oneof_port()),
        target in proptest::collection::vec(0u8..=255, 0..16),
        tail in proptest::sample::select(vec!["", "ü", "/ü", "?q=ß", "\r\n", "é.x"]),
    ) {
        // Mostly plain hosts, so that both paths are exercised.
        let host: Vec<u8> = match scheme >= 8 {
            true => host.iter().map(|b| b % 6).collect(),
            false => host,
        };
        let text = generated(scheme, &host, port, &target, tail);
        check_agree(&text);
    }
}

fn prop_oneof_port() -> impl proptest::strategy::Strategy<Value = u32> {
    proptest::prop_oneof![0u32..100, 65530u32..65540, proptest::strategy::Just(80)]
}

fn check_agree(text: &str) {
    let general = Url::parse_general(text);
    match (super::parse_plain(text), &general) {
        (Some(plain), Ok(full)) => assert_eq!(&plain, full, "{text:?}"),
        (Some(plain), Err(e)) => panic!("{text:?}: one pass gave {plain:?}, the full rules {e}"),
        (None, _) => {}
    }
    match (Url::parse(text), general) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
        (Err(a), Err(b)) => {
            assert_eq!((a.kind(), a.message()), (b.kind(), b.message()), "{text:?}")
        }
        (a, b) => panic!("{text:?}: {a:?} against {b:?}"),
    }
}

#[test]
fn the_one_pass_takes_the_common_urls_and_leaves_the_rest() {
    for plain in [
        "http://127.0.0.1:8080/bytes/64",
        "http://127.0.0.1:8080",
        "https://example.com/a?b=1#c",
        "HTTP://Example.COM:0080/x",
        "http://a_b-c.d:65535?q",
        "https://localhost",
    ] {
        assert!(super::parse_plain(plain).is_some(), "{plain:?}");
        check_agree(plain);
    }
    for general in [
        "http://[::1]:9/x",
        "http://u@a/",
        "http://bücher.example/",
        "http://a/ü",
        "http://a:0/",
        "http://a:65536/",
        "http://a:+80/",
        "http://a:/",
        "http://:80/",
        "http://a:b:80/",
        "http://a/x y",
        "ftp://a/",
        "http:/a",
        "",
    ] {
        assert!(super::parse_plain(general).is_none(), "{general:?}");
        check_agree(general);
    }
    let long = format!("http://a/{}", "x".repeat(usize::from(u16::MAX)));
    assert!(super::parse_plain(&long).is_none());
    check_agree(&long);
    let long = format!("http://A/{}", "x".repeat(usize::from(u16::MAX) - 20));
    check_agree(&long);
}

#[test]
fn the_kept_text_is_the_url_alone() {
    for text in ["http://a:80/x", "http://a/x", "HTTP://A/ü", "http://[::1]/"] {
        let u = Url::parse(text).unwrap();
        let want = u.as_str().to_owned();
        assert_eq!(&*u.into_boxed_str(), want, "{text:?}");
    }
}
