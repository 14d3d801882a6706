//! Tests of the leaf client itself (the wire behaviour is tested in tests/leaf.rs).

use super::*;

fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<HttpClient>();
}

/// Serves one connection: answers each request with `head` and then `body_len` bytes; with
/// `keep` false, closes the connection after the first answer.
fn canned(head: &'static str, body_len: usize, keep: bool) -> String {
    canned_until_closed(head, body_len, keep).0
}

/// [`canned`], and a receiver that hears once the client has closed the connection.
fn canned_until_closed(
    head: &'static str,
    body_len: usize,
    keep: bool,
) -> (String, std::sync::mpsc::Receiver<()>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (closed, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    let _ = closed.send(());
                    return;
                }
                if line == "\r\n" {
                    break;
                }
            }
            w.write_all(head.as_bytes()).unwrap();
            w.write_all(&vec![b'x'; body_len]).unwrap();
            if !keep {
                return;
            }
        }
    });
    (format!("http://127.0.0.1:{port}/"), heard)
}

#[test]
fn each_client_finds_its_own_origin_and_never_keeps_one_alive() {
    const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n";
    let (url, closed) = canned_until_closed(HEAD, 2, true);
    let get = |c: &HttpClient| {
        let res = c.execute(Request::get(&url).unwrap(), &Context::new());
        assert_eq!(res.unwrap().body(), b"xx");
    };
    let a = HttpClient::new();
    get(&a);
    get(&a);
    // Another client on this thread, same origin: its own agent (the canned server takes one
    // connection only, so it is refused or never answered; either way not `a`'s connection).
    let b = HttpClient::with_config(
        HttpClientConfig::default().connect_timeout(Duration::from_secs(2)),
    );
    let _ = b.execute(
        Request::builder(Method::Get, &url)
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
        &Context::new(),
    );
    assert_eq!(b.connection_stats().opened, 1);
    get(&a);
    let stats = a.connection_stats();
    assert_eq!((stats.opened, stats.requests), (1, 3), "{stats:?}");
    // The thread's last origin is `a`'s: dropping `a` still closes its idle connection.
    drop(a);
    closed
        .recv_timeout(Duration::from_secs(10))
        .expect("the dropped client's connection closed");
}

#[test]
fn kept_responses_hold_exact_sized_parts() {
    assert_eq!(std::mem::size_of::<Response>(), 136);
    let url = canned(
        "HTTP/1.1 200 OK\r\ncontent-length: 64\r\nx-a: b\r\nx-a: c\r\n\r\n",
        64,
        true,
    );
    let client = HttpClient::new();
    let res = client
        .execute(Request::get(&url).unwrap(), &Context::new())
        .unwrap();
    assert_eq!(res.body(), &[b'x'; 64][..]);
    assert_eq!(res.headers().len(), 3, "{:?}", res.headers());
    assert_eq!(res.url(), url);
    // A HEAD answer announces a length it does not send: nothing read, nothing reserved.
    let req = Request::builder(Method::Head, &url).build().unwrap();
    let res = client.execute(req, &Context::new()).unwrap();
    assert!(res.body().is_empty());
    assert_eq!(client.connection_stats().opened, 1);
}

#[test]
fn a_body_shorter_than_its_length_fails_and_a_longer_one_is_refused() {
    let client = HttpClient::with_config(HttpClientConfig::default().max_body_size(100));
    let url = canned(
        "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n",
        5000,
        true,
    );
    let err = client
        .execute(Request::get(&url).unwrap(), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err:?}");
    let url = canned("HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n", 10, false);
    let err = client
        .execute(Request::get(&url).unwrap(), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err:?}");
}

#[test]
fn refused_is_typed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = HttpClient::new();
    let err = client
        .execute(
            Request::get(&format!("http://127.0.0.1:{port}/")).unwrap(),
            &Context::new(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectRefused, "{err:?}");
    // No connection, so no request went out and nothing was reused.
    assert_eq!(client.connection_stats(), ConnectionStats::default());
}

#[test]
fn a_uri_built_on_a_known_authority_is_the_parsed_one() {
    let origin = |first: &str| {
        let o = Origin {
            key: Url::parse(first).unwrap().origin().into(),
            agent: ureq::Agent::new_with_defaults(),
            counters: Arc::new(ConnCounters::new(Arc::default())),
            authority: OnceLock::new(),
        };
        let parsed = http::Uri::try_from(Url::parse(first).unwrap().as_str()).unwrap();
        o.authority
            .set(parsed.authority().unwrap().clone())
            .unwrap();
        o
    };
    for (first, urls) in [
        (
            "http://127.0.0.1:8080/",
            &[
                "http://127.0.0.1:8080/bytes/64",
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080?q=1",
                "http://127.0.0.1:8080#top",
                "http://127.0.0.1:8080/a/b?c=d&e=%20#frag",
                "HTTP://127.0.0.1:8080/x",
                "http://127.0.0.1:8080/ü?ß",
                "http://127.0.0.1:8080/a%2Fb/../c",
            ][..],
        ),
        (
            "https://[::1]:8443/",
            &["https://[::1]:8443/x?y", "https://[::1]:8443"][..],
        ),
        // No explicit port: the URL does not start with its origin, its authority is found.
        (
            "http://example.test/",
            &[
                "http://example.test/x?y",
                "http://example.test",
                "http://example.test#f",
                "http://example.test?q=/",
            ][..],
        ),
    ] {
        let o = origin(first);
        for text in urls {
            let url = Url::parse(text).unwrap();
            let parsed = http::Uri::try_from(url.as_str()).unwrap();
            let built = o.uri(&url).expect(text);
            assert_eq!(built, parsed, "{text:?}");
            assert_eq!(built.to_string(), parsed.to_string(), "{text:?}");
            assert_eq!(built.path_and_query(), parsed.path_and_query(), "{text:?}");
        }
    }
    // What follows the origin is known from parsing only when the URL starts with it.
    let after = |text: &str| Url::parse(text).unwrap().after_origin().map(str::to_owned);
    assert_eq!(
        after("http://127.0.0.1:8080/a?b#c").as_deref(),
        Some("/a?b#c")
    );
    assert_eq!(after("http://127.0.0.1:8080").as_deref(), Some(""));
    assert_eq!(after("http://127.0.0.1:8080/ü").as_deref(), Some("/%C3%BC"));
    assert_eq!(after("http://example.test/x"), None);
    assert_eq!(after("HTTP://127.0.0.1:8080/x"), None);
    // Another spelling of the authority is parsed whole, not matched.
    let o = origin("http://127.0.0.1:8080/");
    for text in [
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://127.0.0.1:08080/",
        "HTTP://127.0.0.1:80/x",
    ] {
        assert!(o.uri(&Url::parse(text).unwrap()).is_none(), "{text:?}");
    }
}

/// Serves one connection, answering each request with an empty 200, and hands back each
/// request head as it came (lower-cased).
fn capturing() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                head.push_str(&line.to_ascii_lowercase());
                if line == "\r\n" {
                    break;
                }
            }
            let _ = tx.send(head);
            if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .is_err()
            {
                return;
            }
        }
    });
    (format!("http://127.0.0.1:{port}/"), rx)
}

/// The headers ureq would add (`Accept-Encoding`, `User-Agent`, `Accept`) go out once each, as
/// configured, on a request with no headers and on one with others; a request's own (in any
/// case) replaces the configured one rather than joining it; an empty setting sends none.
#[test]
fn default_headers_go_out_once_and_a_requests_own_win() {
    let count = |head: &str, name: &str| {
        head.lines()
            .filter(|l| l.split(':').next() == Some(name))
            .count()
    };
    let value = |head: &str, name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
    };
    let (url, heads) = capturing();
    let client = HttpClient::with_config(HttpClientConfig::default().user_agent("tester/1"));
    let send = |req: Request| {
        client.execute(req, &Context::new()).unwrap();
        heads.recv().unwrap()
    };
    for req in [
        Request::get(&url).unwrap(),
        Request::builder(Method::Get, &url)
            .header("x-other", "1")
            .build()
            .unwrap(),
    ] {
        let head = send(req);
        for (name, v) in [
            ("accept-encoding", "gzip, deflate, br"),
            ("user-agent", "tester/1"),
            ("accept", "*/*"),
        ] {
            assert_eq!(count(&head, name), 1, "{name} in {head}");
            assert_eq!(value(&head, name).as_deref(), Some(v), "{head}");
        }
    }
    let own = Request::builder(Method::Post, &url)
        .header("User-Agent", "mine")
        .header("ACCEPT", "text/plain")
        .header("accept-encoding", "identity")
        .body(b"x".to_vec())
        .build()
        .unwrap();
    let head = send(own);
    for (name, v) in [
        ("accept-encoding", "identity"),
        ("user-agent", "mine"),
        ("accept", "text/plain"),
        ("content-length", "1"),
    ] {
        assert_eq!(count(&head, name), 1, "{name} in {head}");
        assert_eq!(value(&head, name).as_deref(), Some(v), "{head}");
    }
    let (url, heads) = capturing();
    let none =
        HttpClient::with_config(HttpClientConfig::default().user_agent("").decompress(false));
    none.execute(Request::get(&url).unwrap(), &Context::new())
        .unwrap();
    let head = heads.recv().unwrap();
    assert_eq!(count(&head, "user-agent"), 0, "{head}");
    assert_eq!(count(&head, "accept-encoding"), 0, "{head}");
    assert_eq!(value(&head, "accept").as_deref(), Some("*/*"), "{head}");
}

/// A context already cancelled, or past its deadline, sends nothing: the typed error, no
/// attempt counted, and the server sees only the request after them.
#[test]
fn a_cancelled_or_expired_context_sends_nothing() {
    use std::time::Instant;
    let (url, heads) = capturing();
    let client = HttpClient::new();
    let token = crate::CancelToken::new();
    token.cancel();
    let cancelled = Context::new().with_cancel(token);
    let err = client
        .execute(Request::get(&url).unwrap(), &cancelled)
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.attempts()),
        (ErrorKind::Cancelled, 0),
        "{err}"
    );
    let expired = Context::new().with_deadline(Instant::now());
    let err = client
        .execute(Request::get(&format!("{url}late")).unwrap(), &expired)
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.attempts()),
        (ErrorKind::DeadlineExceeded, 0),
        "{err}"
    );
    client
        .execute(
            Request::get(&format!("{url}sent")).unwrap(),
            &Context::new(),
        )
        .unwrap();
    let head = heads.recv().unwrap();
    assert!(head.starts_with("get /sent "), "{head}");
    assert_eq!(client.connection_stats().requests, 1);
}
