//! Real proxies for the tests, started on a free loopback port with a generated configuration
//! and killed when dropped: Debian's `tinyproxy` (HTTP forwarding and CONNECT) and `microsocks`
//! (SOCKS5), both installed by scripts/setup.sh. Both bind their outgoing side to 127.0.0.2, so
//! a target on 127.0.0.1 tells a proxied request from a direct one by its peer address.
#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A proxy process, killed when dropped.
pub struct Proxy {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Proxy {
    pub fn url(&self, scheme: &str, creds: &str) -> String {
        format!("{scheme}://{creds}127.0.0.1:{}", self.port)
    }

    /// What the proxy logged so far (tinyproxy's log file, microsocks's standard error).
    pub fn log(&self) -> String {
        let mut all = String::new();
        for f in ["log", "stderr"] {
            if let Ok(mut file) = std::fs::File::open(self.dir.join(f)) {
                let _ = file.read_to_string(&mut all);
            }
        }
        all
    }

    fn start(name: &str, mut cmd: impl FnMut(u16, &PathBuf) -> Command) -> Proxy {
        let dir = std::env::temp_dir().join(format!(
            "httpbatch-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        let child = cmd(port, &dir)
            .stdout(stderr.try_clone().unwrap())
            .stderr(stderr)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (run scripts/setup.sh): {e}"));
        let proxy = Proxy { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} never listened: {}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        proxy
    }
}

pub fn tinyproxy(basic_auth: Option<(&str, &str)>) -> Proxy {
    Proxy::start("tinyproxy", |port, dir| {
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nBind 127.0.0.2\nTimeout 30\nMaxClients 32\n\
             Allow 127.0.0.1\nViaProxyName \"httpbatch-test\"\nLogLevel Connect\n\
             LogFile \"{}\"\n",
            dir.join("log").display()
        );
        if let Some((user, pass)) = basic_auth {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
        let mut c = Command::new("tinyproxy");
        c.arg("-d").arg("-c").arg(dir.join("tinyproxy.conf"));
        c
    })
}

pub fn microsocks(auth: Option<(&str, &str)>) -> Proxy {
    Proxy::start("microsocks", |port, _| {
        let mut c = Command::new("microsocks");
        c.args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-b",
            "127.0.0.2",
        ]);
        if let Some((user, pass)) = auth {
            c.args(["-u", user, "-P", pass]);
        }
        c
    })
}
