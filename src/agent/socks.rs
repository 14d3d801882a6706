//! SOCKS proxies (SOCKS4, SOCKS4a, SOCKS5 and SOCKS5 with remote names) over the leaf's own TCP
//! transport, so a socket opened through a SOCKS proxy is counted, swept for `CLOSE_WAIT`,
//! bounded by the request's deadline and cancelled like any other (ureq's SOCKS connector
//! builds a transport of its own that the leaf cannot see into).
//!
//! Invariants:
//! - The socket is registered for shutdown before the handshake, so a cancel reaches a proxy
//!   that never answers.
//! - The handshake runs within the connect budget; its failures are I/O errors that name the
//!   proxy's answer, and a refused connection to the proxy stays `ConnectionRefused` (the
//!   counting connector names the proxy).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};

use ureq::unversioned::transport::{ConnectionDetails, Connector, Either, Transport};
use ureq::{Proxy, ProxyProtocol};

use super::tcp::{self, TcpTransport};

#[derive(Debug, Default)]
pub(crate) struct SocksConnector;

/// Where the proxy is asked to connect.
enum Target<'a> {
    Ip(SocketAddr),
    Name(&'a str, u16),
}

fn is_socks(p: ProxyProtocol) -> bool {
    matches!(
        p,
        ProxyProtocol::Socks4
            | ProxyProtocol::Socks4A
            | ProxyProtocol::Socks5
            | ProxyProtocol::Socks5h
    )
}

impl<In: Transport> Connector<In> for SocksConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let proxy = match details.config.proxy() {
            Some(p) if is_socks(p.protocol()) && chained.is_none() => p,
            _ => return Ok(chained.map(Either::A)),
        };
        if proxy.is_no_proxy(details.uri) {
            // Reached directly, by the TCP connector after us.
            return Ok(None);
        }
        let target = target(details, proxy)?;
        let addrs = details
            .resolver
            .resolve(proxy.uri(), details.config, details.timeout)?;
        let stream = tcp::connect(&addrs, details.timeout)?;
        let mut transport = TcpTransport::open(stream, details)?;
        transport.handshake(details.timeout, |s| match proxy.protocol() {
            ProxyProtocol::Socks5 | ProxyProtocol::Socks5h => socks5(s, proxy, &target),
            _ => socks4(s, &target),
        })?;
        Ok(Some(Either::B(transport)))
    }
}

/// The target as the proxy gets it: the address ureq resolved when the client resolves
/// (SOCKS4, SOCKS5), else the host name (SOCKS4a, SOCKS5h), an IP literal as an address.
fn target<'a>(details: &'a ConnectionDetails, proxy: &Proxy) -> Result<Target<'a>, ureq::Error> {
    if proxy.resolve_target() {
        let addr = details.addrs.first().ok_or(ureq::Error::HostNotFound)?;
        return Ok(Target::Ip(*addr));
    }
    let uri = details.uri;
    let host = uri
        .host()
        .ok_or_else(|| ureq::Error::BadUri(format!("{uri} has no host")))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(match bare.parse::<IpAddr>() {
        Ok(ip) => Target::Ip(SocketAddr::new(ip, port)),
        Err(_) => Target::Name(host, port),
    })
}

fn refused(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// SOCKS4 CONNECT (SOCKS4a for a name: address 0.0.0.1, the name after the empty user id).
fn socks4(mut s: &TcpStream, target: &Target) -> io::Result<()> {
    let mut req = vec![4u8, 1];
    match target {
        Target::Ip(SocketAddr::V4(a)) => {
            req.extend_from_slice(&a.port().to_be_bytes());
            req.extend_from_slice(&a.ip().octets());
            req.push(0);
        }
        Target::Ip(SocketAddr::V6(_)) => {
            return Err(refused("a SOCKS4 proxy cannot reach an IPv6 address"));
        }
        Target::Name(name, port) => {
            req.extend_from_slice(&port.to_be_bytes());
            req.extend_from_slice(&[0, 0, 0, 1, 0]);
            req.extend_from_slice(name.as_bytes());
            req.push(0);
        }
    }
    s.write_all(&req)?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply)?;
    match (reply[0], reply[1]) {
        (0, 90) => Ok(()),
        (0, code) => Err(refused(format!(
            "the SOCKS4 proxy refused the connection (code {code})"
        ))),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a SOCKS4 reply from the proxy",
        )),
    }
}

/// SOCKS5 CONNECT (RFC 1928), with username/password authentication (RFC 1929) when the proxy
/// URL carries credentials.
fn socks5(mut s: &TcpStream, proxy: &Proxy, target: &Target) -> io::Result<()> {
    let user = proxy.username();
    // Methods offered: none (0), and username/password (2) with credentials.
    let hello: &[u8] = match user {
        Some(_) => &[5, 2, 0, 2],
        None => &[5, 1, 0],
    };
    s.write_all(hello)?;
    let mut chosen = [0u8; 2];
    s.read_exact(&mut chosen)?;
    if chosen[0] != 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a SOCKS5 reply from the proxy",
        ));
    }
    match (chosen[1], user) {
        (0, _) => {}
        (2, Some(user)) => {
            let pass = proxy.password().unwrap_or_default();
            let (Ok(ul), Ok(pl)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
                return Err(refused("SOCKS5 credentials longer than 255 bytes"));
            };
            let mut auth = vec![1u8, ul];
            auth.extend_from_slice(user.as_bytes());
            auth.push(pl);
            auth.extend_from_slice(pass.as_bytes());
            s.write_all(&auth)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status)?;
            if status[1] != 0 {
                return Err(refused("the SOCKS5 proxy refused the credentials"));
            }
        }
        (0xff, _) | (2, None) => {
            return Err(refused(
                "the SOCKS5 proxy accepts none of the offered authentication methods",
            ));
        }
        (m, _) => {
            return Err(refused(format!(
                "the SOCKS5 proxy chose an unknown authentication method ({m})"
            )));
        }
    }
    let mut req = vec![5u8, 1, 0];
    let port = match target {
        Target::Ip(SocketAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Target::Ip(SocketAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        Target::Name(name, port) => {
            let len = u8::try_from(name.len())
                .map_err(|_| refused("host name longer than 255 bytes for SOCKS5"))?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(name.as_bytes());
            *port
        }
    };
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req)?;
    // Version, reply code, reserved, address type; then the bound address and port.
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a SOCKS5 reply from the proxy",
        ));
    }
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "not allowed by its rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown reply",
        };
        let e = format!("the SOCKS5 proxy could not connect: {why}");
        return Err(match head[1] {
            5 => io::Error::new(io::ErrorKind::ConnectionRefused, e),
            _ => refused(e),
        });
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unknown address type in the SOCKS5 reply",
            ));
        }
    };
    let mut bound = [0u8; 18 + 255];
    s.read_exact(&mut bound[..rest])?;
    Ok(())
}
