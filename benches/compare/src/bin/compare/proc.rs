//! Child processes with a time bound and their peak RSS, and the loopback server process.
//!
//! A client runs with its stdout piped (read to the end here) and its stderr appended to the
//! log; a watchdog thread kills it (SIGKILL) if it outlives its bound, so nothing here can wait
//! forever. It is reaped with `wait4`, whose rusage gives its peak RSS.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a child process ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// Exit code; `None` when killed by a signal (the watchdog's included).
    pub code: Option<i32>,
    /// Whether the watchdog killed it.
    pub timed_out: bool,
    /// Its stdout.
    pub stdout: String,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set, bytes.
    pub max_rss: u64,
}

/// Runs `argv` with a bound of `limit`, stderr appended to `log`.
pub fn run(argv: &[String], limit: Duration, log: &Path) -> std::io::Result<Exit> {
    let err = File::options().create(true).append(true).open(log)?;
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let (done, rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let fired = rx.recv_timeout(limit).is_err();
        if fired {
            // SAFETY: `pid` is our unreaped child (reaped only after this thread is joined).
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        fired
    });
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout);
    let (status, rusage) = wait4(pid);
    let wall = started.elapsed();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    // The child is reaped: make sure `Child` does not try again.
    std::mem::forget(child);
    Ok(Exit {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        timed_out,
        stdout,
        wall,
        max_rss: rusage.ru_maxrss as u64 * 1024,
    })
}

fn wait4(pid: libc::pid_t) -> (libc::c_int, libc::rusage) {
    let mut status = 0;
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    loop {
        // SAFETY: wait4 writes a status and a rusage into the pointers it is given.
        #[allow(unsafe_code)]
        let r = unsafe { libc::wait4(pid, &mut status, 0, ru.as_mut_ptr()) };
        if r == pid {
            // SAFETY: initialised by the successful wait4 (and zeroed before).
            #[allow(unsafe_code)]
            return (status, unsafe { ru.assume_init() });
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            #[allow(unsafe_code)]
            return (status, unsafe { ru.assume_init() });
        }
    }
}

/// The loopback server (`cmp-server`), driven over its stdin and stdout.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Its ports on 127.0.0.1, one per origin.
    pub ports: Vec<u16>,
}

impl Server {
    /// Starts `cmp-server ORIGINS [--arrivals]`.
    pub fn start(
        bin: &Path,
        origins: usize,
        arrivals: bool,
        log: &Path,
    ) -> std::io::Result<Server> {
        let err = File::options().create(true).append(true).open(log)?;
        let mut cmd = Command::new(bin);
        cmd.arg(origins.to_string());
        if arrivals {
            cmd.arg("--arrivals");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut s = Server {
            child,
            stdin,
            stdout,
            ports: Vec::new(),
        };
        let first = s.line()?;
        s.ports = first["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64())
                    .map(|p| p as u16)
                    .collect()
            })
            .unwrap_or_default();
        if s.ports.len() != origins {
            return Err(std::io::Error::other(format!("server said {first}")));
        }
        Ok(s)
    }

    fn line(&mut self) -> std::io::Result<serde_json::Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("the server exited"));
        }
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }

    /// Sends one command and reads its one-line answer.
    pub fn ask(&mut self, command: &str) -> std::io::Result<serde_json::Value> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        self.line()
    }

    /// `http://HOST:PORT` of origin `i`.
    pub fn base(&self, host: &str, i: usize) -> String {
        format!("http://{host}:{}", self.ports[i])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // End of input stops it; kill it if it has not gone within a few seconds.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
