//! A scripted raw-TCP server for the hostile-server suite (`tests/faults.rs`): each accepted
//! connection runs the test's script, which reads requests and writes whatever bytes it likes
//! (broken heads, resets, stalls, drips), so a test can play any misbehaving peer.
//!
//! Invariants: one accept thread plus one thread per connection, all joined by `stop` (and on
//! drop), so a test that stops the server gets its thread and descriptor counts back. A script
//! that stalls waits on [`Conn::hold`], which returns when the client closes or the server
//! stops (stop shuts every connection's socket down).
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a script is given: the connection, and the running count of requests on this server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Index of this connection on the server (0 for the first accepted).
    pub index: usize,
    requests: Arc<AtomicUsize>,
    /// Heads of every request read on the server, in order.
    heads: Arc<Mutex<Vec<String>>>,
    /// The server's copies of the sockets (to shut them down on stop).
    conns: Arc<Mutex<Vec<(usize, TcpStream)>>>,
}

impl Conn {
    /// Reads one request (head, and a `Content-Length` body); returns its head, or `None` at
    /// end of stream. Counts it on the server.
    pub fn read_request(&mut self) -> Option<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    if !self.fill() {
                        return None;
                    }
                }
                self.buf.drain(..end + 4 + len);
                self.requests.fetch_add(1, Ordering::SeqCst);
                self.heads.lock().unwrap().push(head.clone());
                return Some(head);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Reads whatever arrives first (a TLS hello, say); false at end of stream.
    pub fn read_some(&mut self) -> bool {
        self.fill()
    }

    /// Requests read on the whole server so far.
    pub fn requests_so_far(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Writes `bytes` (errors ignored: the client may be gone, which is the point).
    pub fn write(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(bytes.as_ref());
        let _ = self.stream.flush();
    }

    /// Writes a complete `200` answer with `body` (keep-alive).
    pub fn ok(&mut self, body: &str) {
        self.write(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }

    /// Writes `bytes` one byte at a time, `every` apart, until done or the client leaves.
    pub fn drip(&mut self, bytes: &[u8], every: Duration) {
        for b in bytes {
            if self.stream.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    }

    /// Waits until the client closes the connection (or the server stops), discarding input.
    pub fn hold(&mut self) {
        let mut chunk = [0u8; 4096];
        while matches!(self.stream.read(&mut chunk), Ok(n) if n > 0) {}
    }

    /// Closes with a TCP reset (`SO_LINGER` 0) instead of a FIN.
    pub fn reset(self) {
        let _ = rustix::net::sockopt::set_socket_linger(&self.stream, Some(Duration::ZERO));
        // Dropped: the socket closes (with the reset) when its last descriptor does.
    }

    /// Closes normally (FIN).
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for Conn {
    /// A script that returns closes its connection: the server's copy goes too.
    fn drop(&mut self) {
        self.conns.lock().unwrap().retain(|(i, _)| *i != self.index);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

type Script = dyn Fn(Conn) + Send + Sync + 'static;

/// The server: a loopback listener whose every connection runs `script`.
pub struct RawServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    conns: Arc<Mutex<Vec<(usize, TcpStream)>>>,
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl RawServer {
    /// Starts a server on a free loopback port.
    pub fn start(script: impl Fn(Conn) + Send + Sync + 'static) -> RawServer {
        RawServer::start_on("127.0.0.1:0".parse().unwrap(), Arc::new(script))
    }

    fn start_on(addr: SocketAddr, script: Arc<Script>) -> RawServer {
        let listener = TcpListener::bind(addr).expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stopping = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stopping, accepted, requests, heads, conns) = (
                stopping.clone(),
                accepted.clone(),
                requests.clone(),
                heads.clone(),
                conns.clone(),
            );
            std::thread::Builder::new()
                .name("faults-accept".into())
                .spawn(move || {
                    let mut handlers = Vec::new();
                    for stream in listener.incoming() {
                        if stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let index = accepted.load(Ordering::SeqCst);
                        {
                            let mut all = conns.lock().unwrap();
                            if stopping.load(Ordering::SeqCst) {
                                break;
                            }
                            all.push((index, stream.try_clone().unwrap()));
                        }
                        accepted.fetch_add(1, Ordering::SeqCst);
                        let conn = Conn {
                            stream,
                            buf: Vec::new(),
                            index,
                            requests: requests.clone(),
                            heads: heads.clone(),
                            conns: conns.clone(),
                        };
                        let script = script.clone();
                        handlers.push(
                            std::thread::Builder::new()
                                .name("faults-conn".into())
                                .spawn(move || script(conn))
                                .unwrap(),
                        );
                    }
                    handlers
                })
                .unwrap()
        };
        RawServer {
            addr,
            stopping,
            accepted,
            requests,
            heads,
            conns,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests read by scripts so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The heads of the requests read so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Stops accepting, shuts every connection down and joins every thread.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        for (_, c) in self.conns.lock().unwrap().iter() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let handlers = accept.join().expect("accept thread");
        for (_, c) in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        for h in handlers {
            h.join().expect("script panicked");
        }
    }

    /// Stops, then listens again on the same port with `script` (a server restart).
    pub fn restart(&mut self, script: impl Fn(Conn) + Send + Sync + 'static) {
        self.stop();
        let next = RawServer::start_on(self.addr, Arc::new(script));
        let old = std::mem::replace(self, next);
        drop(old);
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Open file descriptors of this process (`/proc/self/fd`).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Writes `head` then holds the connection open (for answers that must not end by a close).
pub fn answer_and_hold(mut c: Conn, answer: &[u8]) {
    if c.read_request().is_some() {
        c.write(answer);
        c.hold();
    }
}

/// Ignores `io::Error`s of a best-effort write.
pub fn quiet(_: io::Result<()>) {}
