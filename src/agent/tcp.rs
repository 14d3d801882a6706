//! The leaf's TCP connector and transport: ureq's, but the socket stays reachable, so the leaf
//! can tell a socket the peer closed from a live one without taking it out of the idle pool.
//!
//! Invariants:
//! - The socket is shared (`Arc<TcpStream>`) by the transport, its shutdown handle and, weakly,
//!   the origin's socket registry; all I/O goes through `&TcpStream`, so a probe from another
//!   thread needs no lock and never changes the socket's blocking mode.
//! - Probes only peek (`MSG_PEEK | MSG_DONTWAIT`, or `poll` with a zero timeout): they never
//!   consume a byte, so a probe racing with a request cannot steal its answer.
//! - A connector publishes the socket it opened in a thread-local for the counting connector
//!   (which runs on the same thread, outside it) to pick up.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, ShutdownHandle, Transport,
};

use super::buffers::GrowBuffers;

thread_local! {
    /// The socket the innermost TCP connect of this thread opened last.
    static OPENED: RefCell<Option<Weak<TcpStream>>> = const { RefCell::new(None) };
}

/// Takes the socket the last TCP connect on this thread opened.
pub(crate) fn take_opened() -> Option<Weak<TcpStream>> {
    OPENED.with(|o| o.borrow_mut().take())
}

/// Connects TCP sockets, as ureq's `TcpConnector` does (each resolved address in turn, the
/// connect timeout shared between them), into a [`TcpTransport`].
#[derive(Debug, Default)]
pub(crate) struct TcpConnector;

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            // A SOCKS connection made before us is the connection.
            return Ok(chained.map(Either::A));
        }
        let stream = connect(&details.addrs, details.timeout)?;
        Ok(Some(Either::B(TcpTransport::open(stream, details)?)))
    }
}

/// Whether a connect failure concerns only the address tried (as ureq decides it).
fn is_addr_specific(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

pub(crate) fn connect(
    addrs: &[SocketAddr],
    timeout: NextTimeout,
) -> Result<TcpStream, ureq::Error> {
    // Each address gets a share of the budget from a geometric series summing to the whole
    // (1/2, 1/4, … of it), at least 10 ms: as ureq and curl share it.
    let start = Instant::now();
    let total = timeout.not_zero().map(|d| *d);
    let weights = 2.0 * (1.0 - 0.5_f64.powi(addrs.len() as i32));
    let mut weight = 1.0_f64;
    let mut last = None;
    for addr in addrs {
        let per_addr = total.map(|t| {
            Duration::from_secs_f64(t.as_secs_f64() * weight / weights)
                .max(Duration::from_millis(10))
        });
        weight /= 2.0;
        let result = match per_addr {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                if total.is_some_and(|t| start.elapsed() >= t) {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            Err(e) if is_addr_specific(&e) => last = Some(ureq::Error::Io(e)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::ConnectionRefused).into()))
}

/// A TCP connection as ureq's `TcpTransport` runs it, its socket shared.
pub(crate) struct TcpTransport {
    stream: Arc<TcpStream>,
    buffers: GrowBuffers,
    /// The socket timeouts last set, so an unchanged one costs no syscall.
    timeout_read: Option<Duration>,
    timeout_write: Option<Duration>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

impl TcpTransport {
    /// The transport of a socket just connected for `details`: registered for shutdown (so a
    /// cancel reaches it from now on) and published for the counting connector.
    pub(crate) fn open(
        stream: TcpStream,
        details: &ConnectionDetails,
    ) -> Result<TcpTransport, ureq::Error> {
        let config = details.config;
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let stream = Arc::new(stream);
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        OPENED.with(|o| *o.borrow_mut() = Some(Arc::downgrade(&stream)));
        Ok(TcpTransport {
            stream,
            buffers: GrowBuffers::new(
                config.input_buffer_size(),
                config.output_buffer_size(),
                config.max_response_header_size(),
            ),
            timeout_read: None,
            timeout_write: None,
        })
    }

    /// Runs `exchange` on the socket itself (a proxy handshake before any HTTP), within
    /// `timeout`.
    pub(crate) fn handshake<R>(
        &mut self,
        timeout: NextTimeout,
        exchange: impl FnOnce(&TcpStream) -> io::Result<R>,
    ) -> Result<R, ureq::Error> {
        let t = left(timeout)?;
        if t != self.timeout_read {
            self.stream.set_read_timeout(t)?;
            self.timeout_read = t;
        }
        if t != self.timeout_write {
            self.stream.set_write_timeout(t)?;
            self.timeout_write = t;
        }
        exchange(&self.stream).map_err(|e| io_error(e, timeout))
    }
}

/// The time left of `timeout`, or the timeout error when none is.
fn left(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if !timeout.after.is_not_happening() && timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|d| *d))
}

fn io_error(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => e.into(),
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let t = left(timeout)?;
        if t != self.timeout_write {
            self.stream.set_write_timeout(t)?;
            self.timeout_write = t;
        }
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let t = left(timeout)?;
        if t != self.timeout_read {
            self.stream.set_read_timeout(t)?;
            self.timeout_read = t;
        }
        let input = self.buffers.input_append_buf();
        if input.is_empty() {
            // A full buffer (a head larger than it): nothing can be read; the counting
            // transport above says why.
            return Ok(false);
        }
        // Only a signal needs it (to go on with the time left), but it has to be read now; the
        // counting transport above has usually just read it.
        let started = t.map(|_| super::connector::io_start().unwrap_or_else(Instant::now));
        let n = loop {
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // A signal: go on with the time that is left, not the whole timeout again.
                    if let (Some(t), Some(started)) = (t, started) {
                        let rest = t.saturating_sub(started.elapsed());
                        if rest.is_zero() {
                            return Err(ureq::Error::Timeout(timeout.reason));
                        }
                        self.stream.set_read_timeout(Some(rest))?;
                        self.timeout_read = Some(rest);
                    }
                }
                other => break other.map_err(|e| io_error(e, timeout))?,
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    /// Reusable: no byte waiting and the peer has not closed (one non-blocking peek, where
    /// ureq's probe switches the socket to non-blocking and back around a read).
    fn is_open(&mut self) -> bool {
        probe(&self.stream) == Probe::Open
    }
}

/// What a peek at an idle socket shows.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Nothing to read, peer still there.
    Open,
    /// Bytes nobody asked for: not reusable, but the peer may still be there.
    Unexpected,
    /// The peer closed (end of stream) or reset the connection.
    Closed,
}

#[cfg(unix)]
pub(crate) fn probe(stream: &TcpStream) -> Probe {
    use rustix::net::{RecvFlags, recv};
    let mut byte = [0u8; 1];
    match recv(stream, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((_, 0)) => Probe::Closed,
        Ok(_) => Probe::Unexpected,
        Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => Probe::Open,
        Err(_) => Probe::Closed,
    }
}

#[cfg(not(unix))]
pub(crate) fn probe(stream: &TcpStream) -> Probe {
    stream.set_nonblocking(true).ok();
    let mut byte = [0u8; 1];
    let p = match stream.peek(&mut byte) {
        Ok(0) => Probe::Closed,
        Ok(_) => Probe::Unexpected,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Probe::Open,
        Err(_) => Probe::Closed,
    };
    stream.set_nonblocking(false).ok();
    p
}

/// Which of `streams` the peer has closed, even with bytes still unread (a TLS `close_notify`
/// before the FIN): one `poll` for all of them with `POLLRDHUP` where the platform has it, else
/// a peek at each.
pub(crate) fn peers_closed(streams: &[Arc<TcpStream>]) -> Vec<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds: Vec<_> = streams
            .iter()
            .map(|s| PollFd::new(&**s, PollFlags::RDHUP))
            .collect();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&zero)) {
            Ok(0) | Err(_) => vec![false; streams.len()],
            Ok(_) => fds
                .iter()
                .map(|f| {
                    f.revents()
                        .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR)
                })
                .collect(),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        streams.iter().map(|s| probe(s) == Probe::Closed).collect()
    }
}

/// Whether the peer has closed its side of `stream` (see [`peers_closed`]).
#[cfg(test)]
fn peer_closed(stream: &Arc<TcpStream>) -> bool {
    peers_closed(std::slice::from_ref(stream))[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn probes_tell_open_unexpected_and_closed_apart_without_consuming() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = Arc::new(TcpStream::connect(l.local_addr().unwrap()).unwrap());
        let (mut server, _) = l.accept().unwrap();
        assert_eq!(probe(&client), Probe::Open);
        assert!(!peer_closed(&client));
        server.write_all(b"x").unwrap();
        // Wait for the byte to arrive (observed state, not a sleep).
        let mut b = [0u8; 1];
        assert_eq!(client.peek(&mut b).unwrap(), 1);
        assert_eq!(probe(&client), Probe::Unexpected);
        drop(server);
        // The byte is still there, and the FIN is behind it: poll sees the close anyway.
        let end = Instant::now() + Duration::from_secs(5);
        while !peer_closed(&client) {
            assert!(Instant::now() < end, "FIN never seen");
            std::thread::yield_now();
        }
        assert_eq!(probe(&client), Probe::Unexpected, "peeks consume nothing");
        let mut rest = Vec::new();
        (&*client).read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"x");
        assert_eq!(probe(&client), Probe::Closed);
    }
}
