//! A small loopback server for the TLS and proxy tests: plain HTTP or TLS (rustls), answering
//! every request with `200 ok` on a kept-alive connection, recording each request's head and the
//! address it came from, and each failed TLS handshake. Non-HTTP bytes on a plain port get a
//! `400` and a close, as a real HTTP server would answer a TLS ClientHello. Certificates are
//! generated with rcgen at test time.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// A certificate and its key, in PEM and DER.
pub struct Cert {
    pub pem: String,
    pub key_pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Cert {
    pub fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A private certificate authority.
pub struct Ca {
    pub cert: Cert,
    issuer: Issuer<'static, KeyPair>,
}

fn cert_of(cert: rcgen::Certificate, key: &KeyPair) -> Cert {
    Cert {
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = cert_of(params.self_signed(&key).unwrap(), &key);
        Ca {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names` (host names or IP addresses), valid now unless `expired`.
    pub fn leaf(&self, names: &[&str], expired: bool) -> Cert {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "httpbatch test");
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        cert_of(params.signed_by(&key, &self.issuer).unwrap(), &key)
    }
}

/// A self-signed leaf certificate for `names`.
pub fn self_signed(names: &[&str]) -> Cert {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    cert_of(params.self_signed(&key).unwrap(), &key)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `cert`; with `client_ca`, clients must present a
/// certificate issued by it; `tls12_only` offers TLS 1.2 alone.
pub fn server_config(cert: &Cert, client_ca: Option<&Ca>, tls12_only: bool) -> Arc<ServerConfig> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        rustls::ALL_VERSIONS
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.der()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(vec![cert.der()], cert.key())
            .unwrap(),
    )
}

#[derive(Default)]
struct Log {
    /// (peer address, request head) of each request.
    requests: Vec<(SocketAddr, String)>,
    /// Why each failed TLS handshake failed.
    tls_failures: Vec<String>,
}

/// A running server; stops accepting when dropped.
pub struct TestServer {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A plain-HTTP server on `ip` (a loopback address).
    pub fn plain(ip: &str) -> TestServer {
        TestServer::start(ip, None)
    }

    /// A TLS server on 127.0.0.1 with `config`.
    pub fn tls(config: Arc<ServerConfig>) -> TestServer {
        TestServer::start("127.0.0.1", Some(config))
    }

    fn start(ip: &str, tls: Option<Arc<ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("tls-test-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (l, tls) = (l.clone(), tls.clone());
                    std::thread::spawn(move || serve(conn, tls, l));
                }
            })
            .unwrap();
        TestServer {
            addr,
            log,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `scheme://127.0.0.1:port/path` (or the server's own address).
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// (peer address, request head) of each request served so far.
    pub fn requests(&self) -> Vec<(SocketAddr, String)> {
        self.log.lock().unwrap().requests.clone()
    }

    /// Why each failed handshake failed, as the server saw it.
    pub fn tls_failures(&self) -> Vec<String> {
        self.log.lock().unwrap().tls_failures.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, tls: Option<Arc<ServerConfig>>, log: Arc<Mutex<Log>>) {
    let peer = conn.peer_addr().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).ok();
    match tls {
        None => exchange(conn, peer, &log),
        Some(config) => {
            let mut stream = StreamOwned::new(ServerConnection::new(config).unwrap(), conn);
            while stream.conn.is_handshaking() {
                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                    log.lock().unwrap().tls_failures.push(e.to_string());
                    return;
                }
            }
            exchange(stream, peer, &log);
        }
    }
}

/// Answers requests on one connection until the peer closes it.
fn exchange(mut s: impl Read + Write, peer: SocketAddr, log: &Mutex<Log>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let looks_like_http = buf
                .iter()
                .take_while(|b| **b != b' ')
                .all(u8::is_ascii_uppercase);
            if !looks_like_http {
                let _ = s.write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                let _ = s.flush();
                return;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        // `GET /big-header/N`: an `x-big` header of N bytes; anything else: `ok`.
        let big = head
            .split(' ')
            .nth(1)
            .and_then(|p| p.strip_prefix("/big-header/"))
            .and_then(|n| n.parse::<usize>().ok());
        log.lock().unwrap().requests.push((peer, head));
        let answer = match big {
            Some(n) => format!(
                "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 2\r\n\r\nok",
                "b".repeat(n)
            ),
            None => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned(),
        };
        if s.write_all(answer.as_bytes())
            .and_then(|_| s.flush())
            .is_err()
        {
            return;
        }
    }
}
