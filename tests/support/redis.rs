//! A real `redis-server` (Debian's package, installed by scripts/setup.sh) on a free loopback
//! port, started and stopped by the test: `--save ''` and `--appendonly no`, so nothing is
//! written to disk and a restart starts empty.

#![allow(dead_code)]
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`; stopped (SIGKILL and reaped) when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// With an append-only file here (fsync on every write), a restart keeps the data.
    aof_dir: Option<std::path::PathBuf>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl RedisServer {
    /// Starts one on a free port. Panics (with the fix) if `redis-server` is not installed.
    pub fn start() -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            child: None,
            aof_dir: None,
        };
        s.spawn();
        s
    }

    /// Like [`start`](Self::start), with an append-only file synced on every write, so that a
    /// [`restart`](Self::restart) (even after SIGKILL) loses nothing.
    pub fn start_persistent() -> RedisServer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("httpbatch-redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RedisServer {
            port,
            child: None,
            aof_dir: Some(dir),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", ""]);
        match &self.aof_dir {
            Some(dir) => cmd
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--dir", &dir.display().to_string()]),
            None => cmd
                .args(["--appendonly", "no"])
                .args(["--dir", &std::env::temp_dir().display().to_string()]),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/setup.sh");
        self.child = Some(child);
        // Ready once it accepts a connection and answers PING.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < until,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Drops every client connection (`CLIENT KILL TYPE normal`): clients must reconnect.
    pub fn kill_clients(&self) {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(b"CLIENT KILL TYPE normal SKIPME yes\r\n")
            .unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (its state is lost).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.aof_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
