//! Proxies against the real thing: Debian's `tinyproxy` (HTTP forwarding and CONNECT) and
//! `microsocks` (SOCKS5), installed by scripts/setup.sh and started here on a free loopback port
//! with a generated configuration. Both proxies bind their outgoing connections to 127.0.0.2,
//! so the target servers (on 127.0.0.1) tell a proxied request from a direct one by its peer
//! address alone.

#[path = "support/faults.rs"]
mod faults;
#[path = "support/proxies.rs"]
mod proxies;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use httpbatch::{
    Context, ErrorKind, Execute, HttpClient, HttpClientConfig, Request, RetryExecutor, RetryPolicy,
};
use proxies::{Proxy, microsocks, tinyproxy};
use tls_server::{Ca, TestServer, server_config};

const VIA_PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn client(config: HttpClientConfig) -> HttpClient {
    HttpClient::try_with_config(config.proxy_from_env(false)).unwrap()
}

fn get(client: &HttpClient, url: &str) -> Result<httpbatch::Response, httpbatch::Error> {
    client.execute(Request::get(url).unwrap(), &Context::new())
}

/// Every request the target saw came from the proxy.
fn all_via_proxy(target: &TestServer, n: usize) {
    let seen = target.requests();
    assert_eq!(seen.len(), n, "{seen:?}");
    for (peer, head) in &seen {
        assert_eq!(peer.ip(), VIA_PROXY, "not through the proxy: {head}");
    }
}

#[test]
fn http_through_tinyproxy_is_forwarded_in_absolute_form_and_counted_exactly() {
    let proxy = tinyproxy(None);
    let target = TestServer::plain("127.0.0.1");
    let client = client(HttpClientConfig::default().proxy(proxy.url("http", "")));
    // tinyproxy closes each client connection after one response without saying
    // `Connection: close`, so a quick next request may find its pooled socket dead: retried,
    // as a stack does.
    let stack = RetryExecutor::new(client.clone(), RetryPolicy::default()).unwrap();
    for i in 0..3 {
        let url = target.url("http", &format!("/page/{i}?q=1"));
        let res = stack
            .execute(Request::get(&url).unwrap(), &Context::new())
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    all_via_proxy(&target, 3);
    for (_, head) in target.requests() {
        assert!(head.contains("httpbatch-test"), "no Via header: {head}");
    }
    let log = proxy.log();
    let absolute = format!("GET http://127.0.0.1:{}/page/2?q=1 HTTP/1.1", target.port());
    assert!(log.contains(&absolute), "{log}");
    // The client's count of connections is the proxy's count of accepted ones (less the
    // readiness probe, which closed before sending anything).
    let stats = client.connection_stats();
    let accepted = log.matches("Connect (file descriptor").count()
        - log.matches("closed socket before read").count();
    assert_eq!(stats.opened as usize, accepted, "{stats:?}\n{log}");
    assert!(stats.requests >= 3, "{stats:?}");
}

#[test]
fn https_through_tinyproxy_tunnels_with_connect() {
    let proxy = tinyproxy(None);
    let ca = Ca::new("proxy CA");
    let target = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let client = client(
        HttpClientConfig::default()
            .add_root_certificates_pem(&ca.cert.pem)
            .proxy(proxy.url("http", "")),
    );
    for _ in 0..2 {
        assert_eq!(
            get(&client, &target.url("https", "/")).unwrap().status(),
            200
        );
    }
    all_via_proxy(&target, 2);
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", target.port())),
        "{log}"
    );
    let stats = client.connection_stats();
    assert_eq!(
        (stats.opened, stats.requests),
        (1, 2),
        "one tunnel, kept alive"
    );
}

#[test]
fn proxy_credentials_are_sent_to_the_proxy() {
    let proxy = tinyproxy(Some(("user", "s3cret")));
    let target = TestServer::plain("127.0.0.1");
    let url = target.url("http", "/");

    let anonymous = client(HttpClientConfig::default().proxy(proxy.url("http", "")));
    assert_eq!(get(&anonymous, &url).unwrap().status(), 407);
    let err = get(&anonymous, &target.url("https", "/")).unwrap_err();
    assert!(err.message().contains("407"), "{err}");

    // tinyproxy answers wrong credentials with 401.
    let wrong = client(HttpClientConfig::default().proxy(proxy.url("http", "user:wrong@")));
    let status = get(&wrong, &url).unwrap().status();
    assert!(matches!(status, 401 | 407), "{status}");
    assert!(
        target.requests().is_empty(),
        "rejected requests reached the target"
    );

    let right = client(HttpClientConfig::default().proxy(proxy.url("http", "user:s3cret@")));
    assert_eq!(get(&right, &url).unwrap().status(), 200);
    all_via_proxy(&target, 1);
    let (_, head) = &target.requests()[0];
    assert!(
        !head.to_ascii_lowercase().contains("proxy-authorization"),
        "the proxy's credentials reached the target: {head}"
    );

    // The same credentials open a CONNECT tunnel.
    let ca = Ca::new("auth CA");
    let tls = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let right = client(
        HttpClientConfig::default()
            .add_root_certificates_pem(&ca.cert.pem)
            .proxy(proxy.url("http", "user:s3cret@")),
    );
    assert_eq!(get(&right, &tls.url("https", "/")).unwrap().status(), 200);
    all_via_proxy(&tls, 1);
}

#[test]
fn socks5_through_microsocks_for_http_and_https() {
    let proxy = microsocks(None);
    let plain = TestServer::plain("127.0.0.1");
    let ca = Ca::new("socks CA");
    let tls = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let client = client(
        HttpClientConfig::default()
            .add_root_certificates_pem(&ca.cert.pem)
            .proxy(proxy.url("socks5", "")),
    );
    assert_eq!(get(&client, &plain.url("http", "/")).unwrap().status(), 200);
    assert_eq!(get(&client, &plain.url("http", "/")).unwrap().status(), 200);
    assert_eq!(get(&client, &tls.url("https", "/")).unwrap().status(), 200);
    all_via_proxy(&plain, 2);
    all_via_proxy(&tls, 1);
    let stats = client.connection_stats();
    assert_eq!((stats.opened, stats.requests), (2, 3), "{stats:?}");
}

#[test]
fn socks5h_lets_the_proxy_resolve_names_and_socks_credentials_work() {
    let proxy = microsocks(Some(("sockuser", "sockpass")));
    let target = TestServer::plain("127.0.0.1");
    let url = format!("http://localhost:{}/", target.port());

    let client =
        client(HttpClientConfig::default().proxy(proxy.url("socks5h", "sockuser:sockpass@")));
    assert_eq!(get(&client, &url).unwrap().status(), 200);
    all_via_proxy(&target, 1);
    let log = proxy.log();
    assert!(
        log.contains(&format!("connected to localhost:{}", target.port())),
        "the name did not reach the proxy: {log}"
    );

    let anonymous = client_no_creds(&proxy);
    let err = get(&anonymous, &url).unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Tls, "{err}");
    assert_eq!(target.requests().len(), 1, "refused by the proxy");
}

fn client_no_creds(proxy: &Proxy) -> HttpClient {
    client(HttpClientConfig::default().proxy(proxy.url("socks5h", "")))
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let proxy = tinyproxy(None);
    let target = TestServer::plain("127.0.0.1");
    let client = client(
        HttpClientConfig::default()
            .proxy(proxy.url("http", ""))
            .no_proxy("example.test, 127.0.0.0/8"),
    );
    assert_eq!(
        get(&client, &target.url("http", "/")).unwrap().status(),
        200
    );
    let (peer, head) = &target.requests()[0];
    assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{head}");
    assert!(!head.contains("httpbatch-test"), "{head}");
    assert!(!proxy.log().contains("Request"), "{}", proxy.log());
}

#[test]
fn a_refused_proxy_and_a_bad_proxy_url_are_typed() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = TestServer::plain("127.0.0.1");
    let refused = client(HttpClientConfig::default().proxy(format!("http://127.0.0.1:{port}")));
    let err = get(&refused, &target.url("http", "/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectRefused, "{err}");
    let named = format!("proxy 127.0.0.1:{port}");
    assert!(err.message().contains(&named), "{err}");
    for scheme in ["socks5", "http"] {
        let c = client(HttpClientConfig::default().proxy(format!("{scheme}://127.0.0.1:{port}")));
        let err = get(&c, &target.url("https", "/")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectRefused, "{err}");
        assert!(err.message().contains(&named), "{scheme}: {err}");
    }
    assert!(target.requests().is_empty());

    let err =
        HttpClient::try_with_config(HttpClientConfig::default().proxy("ftp://p:1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let built = HttpClient::with_config(HttpClientConfig::default().proxy("ftp://p:1"));
    let err = get(&built, &target.url("http", "/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}

#[test]
fn cancel_reaches_a_proxy_that_never_answers() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    for (scheme, target) in [
        ("http", "https://127.0.0.1:9/"),
        ("socks5h", "http://127.0.0.1:9/"),
    ] {
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = format!("{scheme}://{}", silent.local_addr().unwrap());
        let (accepted, on_accept) = mpsc::channel();
        let holder = std::thread::spawn(move || {
            let (mut conn, _) = silent.accept().unwrap();
            accepted.send(()).unwrap();
            let mut buf = [0u8; 512];
            while std::io::Read::read(&mut conn, &mut buf).is_ok_and(|n| n > 0) {}
        });
        let token = httpbatch::CancelToken::new();
        let canceller = token.clone();
        let cancel = std::thread::spawn(move || {
            on_accept.recv().unwrap();
            canceller.cancel();
            Instant::now()
        });
        let c = client(
            HttpClientConfig::default()
                .connect_timeout(Duration::from_secs(20))
                .proxy(proxy),
        );
        let err = c
            .execute(
                Request::get(target).unwrap(),
                &Context::new().with_cancel(token),
            )
            .unwrap_err();
        let late = Instant::now().duration_since(cancel.join().unwrap());
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{scheme}: {err}");
        assert!(
            late < Duration::from_secs(2),
            "{scheme}: {late:?} after the cancel"
        );
        holder.join().unwrap();
        assert_eq!(
            c.connection_stats().live,
            0,
            "{scheme}: {:?}",
            c.connection_stats()
        );
    }
}

#[test]
fn tinyproxys_silently_closed_connections_are_resent_inside_the_leaf() {
    // tinyproxy closes each client connection after one response without saying
    // `Connection: close`. The leaf finds the dead pooled socket at checkout, or, when the
    // close comes after the request went out, resends it once on a new connection: no error
    // and no retry layer needed.
    let proxy = tinyproxy(None);
    let target = TestServer::plain("127.0.0.1");
    let client = client(HttpClientConfig::default().proxy(proxy.url("http", "")));
    for i in 0..10 {
        let res = get(&client, &target.url("http", &format!("/s/{i}"))).unwrap();
        assert_eq!((res.status(), res.attempts()), (200, 1));
    }
    all_via_proxy(&target, 10);
    let stats = client.connection_stats();
    assert_eq!(stats.opened, stats.closed + stats.live, "{stats:?}");
}

#[test]
fn socks_sockets_the_peer_closed_are_not_counted_live() {
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};
    // The target closes its side once the client holds its answer (without `Connection:
    // close`); microsocks passes the close on, so the client's socket to the proxy sits in its
    // idle pool in CLOSE_WAIT.
    let proxy = microsocks(None);
    let answered = Arc::new(Barrier::new(2));
    let target = faults::RawServer::start({
        let answered = answered.clone();
        move |mut c: faults::Conn| {
            if c.read_request().is_some() {
                c.ok("ok");
                if c.index == 0 {
                    answered.wait();
                    c.close();
                }
            }
        }
    });
    let client = client(HttpClientConfig::default().proxy(proxy.url("socks5", "")));
    assert_eq!(get(&client, &target.url("/")).unwrap().status(), 200);
    let before = client.connection_stats();
    assert_eq!((before.opened, before.live), (1, 1), "{before:?}");
    answered.wait();
    let end = Instant::now() + Duration::from_secs(5);
    while client.connection_stats().live != 0 {
        assert!(Instant::now() < end, "{:?}", client.connection_stats());
        std::thread::sleep(Duration::from_millis(1));
    }
    let after = client.connection_stats();
    assert_eq!((after.opened, after.closed), (1, 1), "{after:?}");
    // The next request drops the dead socket and opens another through the proxy.
    assert_eq!(get(&client, &target.url("/")).unwrap().status(), 200);
    let s = client.connection_stats();
    assert_eq!((s.opened, s.requests), (2, 2), "{s:?}");
    assert_eq!(s.live, s.opened - s.closed, "{s:?}");
}
