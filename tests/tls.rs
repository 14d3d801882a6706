//! TLS against real rustls servers on loopback, with certificates generated at test time: every
//! certificate, handshake and protocol failure is `ErrorKind::Tls` with its reason, and each
//! TLS option (extra CA roots, client certificates, minimum version, turning verification off)
//! does what it says.

#[path = "support/tls_server.rs"]
mod tls_server;

use httpbatch::{Context, ErrorKind, Execute, HttpClient, HttpClientConfig, Request, TlsVersion};
use tls_server::{Ca, TestServer, self_signed, server_config};

fn get(client: &HttpClient, url: &str) -> Result<httpbatch::Response, httpbatch::Error> {
    client.execute(Request::get(url).unwrap(), &Context::new())
}

fn tls_err(client: &HttpClient, url: &str) -> httpbatch::Error {
    let err = get(client, url).expect_err("the request must fail");
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(!err.is_retryable(), "a TLS failure is not retried: {err}");
    err
}

fn trusting(ca: &Ca) -> HttpClientConfig {
    HttpClientConfig::default().add_root_certificates_pem(&ca.cert.pem)
}

#[test]
fn a_private_ca_added_to_the_roots_is_trusted_and_connections_are_reused() {
    let ca = Ca::new("test CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let client = HttpClient::try_with_config(trusting(&ca)).unwrap();
    for _ in 0..3 {
        let res = get(&client, &server.url("https", "/ok")).unwrap();
        assert_eq!((res.status(), &*res.text()), (200, "ok"));
    }
    let stats = client.connection_stats();
    assert_eq!((stats.opened, stats.requests, stats.reused), (1, 3, 2));
    assert_eq!(server.requests().len(), 3);
    assert!(server.tls_failures().is_empty());
}

/// Over TLS the input buffer is the TLS transport's: a head that fills it to the limit is a
/// protocol error naming the limit (never a reset), and one under it parses, on the same
/// connection as before.
#[test]
fn a_response_head_over_the_limit_is_a_protocol_error_over_tls_too() {
    let ca = Ca::new("test CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let client = HttpClient::try_with_config(trusting(&ca).max_response_head(16 * 1024)).unwrap();
    for n in [12 * 1024, 100] {
        let res = get(&client, &server.url("https", &format!("/big-header/{n}"))).unwrap();
        assert_eq!(res.header("x-big").map(str::len), Some(n));
    }
    assert_eq!(client.connection_stats().opened, 1);
    let err = get(&client, &server.url("https", "/big-header/20000")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("larger than 16384 bytes"), "{err}");
}

#[test]
fn the_ca_can_come_from_a_file() {
    let ca = Ca::new("file CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["localhost"], false), None, false));
    let dir = std::env::temp_dir().join(format!("httpbatch-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.cert.pem).unwrap();
    let client = HttpClient::try_with_config(
        HttpClientConfig::default()
            .builtin_roots(false)
            .add_root_certificates_file(&path),
    )
    .unwrap();
    let url = format!("https://localhost:{}/", server.port());
    assert_eq!(get(&client, &url).unwrap().status(), 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_issuer_is_a_tls_error_naming_it() {
    let ca = Ca::new("unknown CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let err = tls_err(&HttpClient::new(), &server.url("https", "/"));
    assert!(err.message().contains("UnknownIssuer"), "{err}");
    assert!(err.message().contains("127.0.0.1"), "{err}");
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_self_signed_certificate_is_a_tls_error() {
    let server = TestServer::tls(server_config(&self_signed(&["127.0.0.1"]), None, false));
    let err = tls_err(&HttpClient::new(), &server.url("https", "/"));
    assert!(err.message().contains("invalid peer certificate"), "{err}");
}

#[test]
fn a_certificate_for_another_name_is_a_tls_error() {
    let ca = Ca::new("name CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["other.test"], false), None, false));
    let err = tls_err(&HttpClient::new_trusting(&ca), &server.url("https", "/"));
    assert!(err.message().contains("not valid for name"), "{err}");
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    let ca = Ca::new("expiry CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], true), None, false));
    let err = tls_err(&HttpClient::new_trusting(&ca), &server.url("https", "/"));
    assert!(err.message().contains("certificate expired"), "{err}");
}

#[test]
fn https_to_a_plain_http_port_is_a_tls_error() {
    let server = TestServer::plain("127.0.0.1");
    let err = tls_err(&HttpClient::new(), &server.url("https", "/"));
    assert!(err.message().contains("handshake"), "{err}");
}

#[test]
fn insecure_mode_accepts_any_certificate() {
    let server = TestServer::tls(server_config(&self_signed(&["wrong.name"]), None, false));
    let client =
        HttpClient::with_config(HttpClientConfig::default().danger_accept_invalid_certs(true));
    assert_eq!(
        get(&client, &server.url("https", "/")).unwrap().status(),
        200
    );
}

#[test]
fn mutual_tls_succeeds_with_the_client_certificate_and_fails_without() {
    let ca = Ca::new("mtls CA");
    let server_cert = ca.leaf(&["127.0.0.1"], false);
    let client_cert = ca.leaf(&["client.test"], false);
    let server = TestServer::tls(server_config(&server_cert, Some(&ca), false));
    let url = server.url("https", "/");

    let with = HttpClient::try_with_config(
        trusting(&ca).client_certificate_pem(&client_cert.pem, &client_cert.key_pem),
    )
    .unwrap();
    assert_eq!(get(&with, &url).unwrap().status(), 200);
    assert_eq!(server.requests().len(), 1);

    let err = tls_err(&HttpClient::new_trusting(&ca), &url);
    assert!(err.message().contains("CertificateRequired"), "{err}");
    assert_eq!(
        server.requests().len(),
        1,
        "the server served nobody without a certificate"
    );
    assert_eq!(
        server.tls_failures().len(),
        1,
        "{:?}",
        server.tls_failures()
    );
}

#[test]
fn a_minimum_version_the_server_cannot_meet_is_a_tls_error() {
    let ca = Ca::new("version CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], true), None, true));
    let client = HttpClient::with_config(trusting(&ca).min_tls_version(TlsVersion::Tls13));
    let err = tls_err(&client, &server.url("https", "/"));
    assert!(err.message().contains("handshake"), "{err}");
    // The same server, allowed TLS 1.2, gets as far as its (expired) certificate.
    let err = tls_err(&HttpClient::new_trusting(&ca), &server.url("https", "/"));
    assert!(err.message().contains("certificate expired"), "{err}");
}

#[test]
fn unusable_tls_options_are_invalid_config() {
    let err = HttpClient::try_with_config(
        HttpClientConfig::default().add_root_certificates_file("/nonexistent/ca.pem"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    // Built anyway, the client fails each https request the same way (and no panic).
    let client = HttpClient::with_config(
        HttpClientConfig::default().add_root_certificates_pem("not a certificate"),
    );
    let server = TestServer::tls(server_config(&self_signed(&["127.0.0.1"]), None, false));
    let err = get(&client, &server.url("https", "/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}

trait Trusting {
    fn new_trusting(ca: &Ca) -> HttpClient;
}

impl Trusting for HttpClient {
    fn new_trusting(ca: &Ca) -> HttpClient {
        HttpClient::try_with_config(trusting(ca)).unwrap()
    }
}

#[cfg(feature = "platform-verifier")]
#[test]
fn the_platform_verifier_checks_certificates_and_takes_extra_roots() {
    let ca = Ca::new("platform CA");
    let server = TestServer::tls(server_config(&ca.leaf(&["127.0.0.1"], false), None, false));
    let platform = HttpClientConfig::default().platform_verifier(true);
    let err = tls_err(
        &HttpClient::try_with_config(platform.clone()).unwrap(),
        &server.url("https", "/"),
    );
    assert!(err.message().contains("invalid peer certificate"), "{err}");
    let with_ca =
        HttpClient::try_with_config(platform.add_root_certificates_pem(&ca.cert.pem)).unwrap();
    assert_eq!(
        get(&with_ca, &server.url("https", "/")).unwrap().status(),
        200
    );
}

#[cfg(not(feature = "platform-verifier"))]
#[test]
fn the_platform_verifier_needs_its_feature() {
    let err = HttpClient::try_with_config(HttpClientConfig::default().platform_verifier(true))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.message().contains("platform-verifier"), "{err}");
}

#[test]
fn cancel_reaches_a_stalled_handshake() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    // A server that accepts and never answers the ClientHello.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let (accepted, on_accept) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        accepted.send(()).unwrap();
        // Hold the connection until the client gives up on it.
        let mut buf = [0u8; 1024];
        let mut conn = conn;
        while std::io::Read::read(&mut conn, &mut buf).is_ok_and(|n| n > 0) {}
    });
    let token = httpbatch::CancelToken::new();
    let canceller = token.clone();
    let cancel = std::thread::spawn(move || {
        on_accept.recv().unwrap();
        let at = Instant::now();
        canceller.cancel();
        at
    });
    let client = HttpClient::with_config(
        HttpClientConfig::default().connect_timeout(Duration::from_secs(20)),
    );
    let err = client
        .execute(
            Request::get(&url).unwrap(),
            &Context::new().with_cancel(token),
        )
        .unwrap_err();
    let returned = Instant::now();
    let cancelled_at = cancel.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let late = returned.duration_since(cancelled_at);
    assert!(
        late < Duration::from_secs(2),
        "returned {late:?} after the cancel"
    );
    server.join().unwrap();
}
