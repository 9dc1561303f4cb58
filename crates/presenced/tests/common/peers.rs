//! Real SIP user agents driven from tests: a Python driver per peer
//! (`tests/peers/*.py`), its JSON events read line by line, commands sent on
//! its stdin, stopped by PID when dropped. Shared by the interop tests of
//! the IETF dialect (pjsua2, baresip) and of the Microsoft dialect (pjsua2
//! beside pidgin-sipe).

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the peer drivers live.
pub fn peers_dir() -> PathBuf {
    repo().join("tests/peers")
}

/// True when pjsua2 is missing and `PRESENCED_SKIP_PEERS=1` says to skip;
/// panics with what to install when it is missing otherwise.
pub fn skip_without_pjsua() -> bool {
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: interop test skipped");
        return true;
    }
    let ok = Command::new("python3")
        .args(["-c", "import pjsua2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        panic!(
            "real-peer interop test needs pjsua2 for python3: `python3 -m pip install pjsua2-python` \
             (or run scripts/install-test-peers); set PRESENCED_SKIP_PEERS=1 to skip it"
        );
    }
    false
}

/// True when a peer's `tools` (found on PATH or in /usr/sbin) are missing
/// and `PRESENCED_SKIP_PEERS=1` says to skip the test; panics naming
/// `what` needs `install` when they are missing otherwise.
pub fn skip_without_tools(tools: &[&str], what: &str, install: &str) -> bool {
    let present = tools.iter().all(|tool| {
        Command::new("sh")
            .args([
                "-c",
                &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
            ])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if present {
        return false;
    }
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: {what} skipped");
        return true;
    }
    panic!(
        "{what} needs {install} (or scripts/install-test-peers); set PRESENCED_SKIP_PEERS=1 to \
         skip it"
    );
}

/// A loopback port in 26000-26999 free for UDP and TCP, with the next two
/// free as well (baresip opens TLS on +1, its `cons` module listens on +2).
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 26000 + (std::process::id() % 100) as u16 * 10;
    for _ in 0..1000 {
        let offset = NEXT.fetch_add(3, Ordering::Relaxed) % 990;
        let port = 26000 + (base - 26000 + offset) % 990;
        let free = (port..port + 3).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if free {
            return port;
        }
    }
    panic!("no free loopback ports in 26000-26999");
}

/// One running driver: its JSON events as they come, its stdin for commands.
pub struct Driver {
    /// The script and its arguments, for messages.
    pub name: String,
    /// The Python process.
    pub child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl Driver {
    pub fn start(script: &str, args: &[String]) -> Driver {
        let mut child = Command::new("python3")
            .arg(peers_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "unparsed", "line": line}));
                sink.lock().unwrap().push(value);
            }
        });
        let err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                // keep the tail only: pjsip logs a lot
                if s.len() > 200_000 {
                    let cut = s.len() - 100_000;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
                s.push_str(&line);
                s.push('\n');
            }
        });
        Driver {
            name: format!("{script} {}", args.join(" ")),
            stdin: Mutex::new(child.stdin.take()),
            child: Mutex::new(child),
            events,
            stderr,
        }
    }

    pub fn send(&self, command: &str) {
        self.send_quietly(command)
            .unwrap_or_else(|e| panic!("{}: cannot send {command:?}: {e}", self.name));
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The first event at index >= `from` that `pred` accepts, within `wait`.
    pub fn wait_for(
        &self,
        from: usize,
        wait: Duration,
        what: &str,
        ctx: &dyn Fn() -> String,
        pred: impl Fn(&Value) -> bool,
    ) -> (usize, Value) {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((i, v)) = self
                .events()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, v)| pred(v))
            {
                return (i, v);
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: not seen within {wait:?}\n{}\n{}",
                    self.report(),
                    ctx()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn report(&self) -> String {
        let events: Vec<String> = self.events().iter().map(|v| v.to_string()).collect();
        let stderr = self.stderr.lock().unwrap();
        let tail: String = {
            let lines: Vec<&str> = stderr.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        format!(
            "--- events of {}:\n{}\n--- its stderr (tail):\n{tail}",
            self.name,
            events.join("\n")
        )
    }

    /// Sends `quit` and waits (bounded) for the process to end.
    pub fn quit(&self) {
        let _ = self.send_quietly("quit");
        let mut child = self.child.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn send_quietly(&self, command: &str) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().unwrap();
        let stdin = stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin closed"))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A peer driver's arguments to sign in over UDP to `port` as `user` with
/// `password` (digest), for 40 s.
pub fn signed_in_args(port: u16, user: &str, password: &str) -> Vec<String> {
    [
        "--transport",
        "udp",
        "--server-port",
        &port.to_string(),
        "--local-port",
        &free_port().to_string(),
        "--user",
        user,
        "--password",
        password,
        "--duration",
        "40",
    ]
    .map(String::from)
    .to_vec()
}

pub fn pjsua_publisher(transport: &str, server_port: u16, user: &str) -> Driver {
    let args = [
        "--transport",
        transport,
        "--server-port",
        &server_port.to_string(),
        "--local-port",
        &free_port().to_string(),
        "--user",
        user,
        "--duration",
        "60",
    ];
    Driver::start("pjsua_publisher.py", &args.map(String::from))
}

pub fn pjsua_watcher(transport: &str, server_port: u16, user: &str, target: &str) -> Driver {
    let args = [
        "--transport",
        transport,
        "--server-port",
        &server_port.to_string(),
        "--local-port",
        &free_port().to_string(),
        "--user",
        user,
        "--target",
        target,
        "--duration",
        "60",
    ];
    Driver::start("pjsua_watcher.py", &args.map(String::from))
}

/// Starts `linphonec` with the linphonerc `rc`, written into `dir` (which
/// also holds its log and database); its stdout is piped for the caller
/// to read or drain.
pub fn spawn_linphonec(dir: &std::path::Path, rc: &str) -> Child {
    let rc_path = dir.join("linphonerc");
    std::fs::write(&rc_path, rc).expect("write linphonerc");
    Command::new("linphonec")
        .arg("-c")
        .arg(&rc_path)
        .args(["-d", "6", "-l"])
        .arg(dir.join("linphonec.log"))
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start linphonec (apt-get install linphone-cli)")
}
