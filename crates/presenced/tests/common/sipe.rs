//! pidgin-sipe as a test peer: an independent client of Microsoft's
//! Lync / Skype for Business dialect, run headless.
//!
//! The two C files in `tests/peers/sipe/` (a libpurple client with no UI,
//! and an LD_PRELOAD shim for Debian 12's libxml2; their headers say why)
//! are compiled once per test run into this test binary's
//! `CARGO_TARGET_TMPDIR`, with exactly:
//!
//! ```text
//! gcc -Wall -o sipe_client tests/peers/sipe/sipe_client.c $(pkg-config --cflags --libs purple)
//! gcc -shared -fPIC -o sax1fix.so tests/peers/sipe/sax1fix.c -ldl $(pkg-config --cflags libxml-2.0)
//! ```
//!
//! and each client runs as
//!
//! ```text
//! SIPE_PURPLE_HOME=$(mktemp -d) LD_PRELOAD=$TMPDIR/sipe/sax1fix.so \
//!     $TMPDIR/sipe/sipe_client 'alice@lab.test,LAB\alice' secret 127.0.0.1:PORT tcp ntlm SECONDS [STATUS]
//! ```
//!
//! (with `SIPE_SEARCH=vtc,alice SIPE_ADD_FOUND=user@host` in the
//! environment for the directory search, see `sipe_client.c`)
//!
//! Its stdout (libpurple's debug log in unsafe mode: every SIP message SIPE
//! sends and receives, between `MESSAGE START >>>>` / `<<<<` and
//! `MESSAGE END` lines, plus the client's own `SIPE-CLIENT:` lines) is
//! collected line by line; every wait is bounded, and the process is
//! stopped by its PID. The packages: `pidgin-sipe libpurple-dev
//! libglib2.0-dev pkg-config gcc` (`scripts/install-test-peers`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The built client and shim.
#[derive(Debug)]
pub struct Build {
    client: PathBuf,
    shim: PathBuf,
}

fn sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/sipe")
}

/// Builds the client and the shim once per test binary; `Err` says what
/// is missing.
pub fn build() -> Result<&'static Build, String> {
    static BUILD: OnceLock<Result<Build, String>> = OnceLock::new();
    BUILD.get_or_init(build_now).as_ref().map_err(Clone::clone)
}

fn build_now() -> Result<Build, String> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sipe");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let purple = pkg_config(&["--cflags", "--libs", "purple"])?;
    let libxml = pkg_config(&["--cflags", "libxml-2.0"])?;
    // Debian puts the SIPE plugin in /usr/lib/purple-2, beside (not in)
    // libpurple's own plugindir; libpurple searches both.
    let plugindir = pkg_config(&["--variable=plugindir", "purple"])?;
    let plugins = [Path::new(plugindir.trim()), Path::new("/usr/lib/purple-2")];
    if !plugins.iter().any(|d| d.join("libsipe.so").exists()) {
        return Err("libsipe.so is missing (package pidgin-sipe)".into());
    }
    let src = sources();
    let client = out.join("sipe_client");
    let shim = out.join("sax1fix.so");
    let mut args: Vec<String> = vec!["-Wall".into(), "-o".into()];
    args.push(client.display().to_string());
    args.push(src.join("sipe_client.c").display().to_string());
    args.extend(purple.split_whitespace().map(String::from));
    gcc(&args)?;
    let mut args: Vec<String> = vec!["-shared".into(), "-fPIC".into(), "-o".into()];
    args.push(shim.display().to_string());
    args.push(src.join("sax1fix.c").display().to_string());
    args.push("-ldl".into());
    args.extend(libxml.split_whitespace().map(String::from));
    gcc(&args)?;
    Ok(Build { client, shim })
}

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out = Command::new("pkg-config")
        .args(args)
        .output()
        .map_err(|e| format!("pkg-config: {e} (package pkg-config)"))?;
    if !out.status.success() {
        return Err(format!(
            "pkg-config {}: {} (packages libpurple-dev libglib2.0-dev)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn gcc(args: &[String]) -> Result<(), String> {
    let out = Command::new("gcc")
        .args(args)
        .output()
        .map_err(|e| format!("gcc: {e} (package gcc)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "gcc {}:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// True when the test should not run; panics with what to install when
/// SIPE cannot be built, unless `PRESENCED_SKIP_PEERS=1`.
pub fn skip_or_require() -> bool {
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: SIPE interop test skipped");
        return true;
    }
    if let Err(e) = build() {
        panic!(
            "the SIPE interop test needs pidgin-sipe and a C toolchain: as root `apt-get install -y \
             --no-install-recommends pidgin-sipe libpurple-dev libglib2.0-dev pkg-config gcc` (or \
             scripts/install-test-peers); set PRESENCED_SKIP_PEERS=1 to skip it.\n{e}"
        );
    }
    false
}

/// One SIP message SIPE logged.
#[derive(Debug, Clone)]
pub struct Logged {
    /// True for what SIPE sent, false for what it received.
    pub sent: bool,
    /// The message text, lines joined with CRLF.
    pub text: String,
}

impl Logged {
    /// The first line: `SUBSCRIBE sip:… SIP/2.0` or `SIP/2.0 200 OK`.
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// Every value of a header (exact name, case-insensitive).
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.text
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The first value of a header, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers(name).into_iter().next().unwrap_or_default()
    }

    /// Everything after the blank line that ends the headers.
    pub fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .or_else(|| self.text.split_once("\n\n"))
            .map_or("", |(_, body)| body)
    }
}

/// A running sipe_client; stopped by PID when dropped.
pub struct Sipe {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _home: tempfile::TempDir,
}

impl Sipe {
    /// Signs `user` (`alice@lab.test`) in to `server` over TCP with no
    /// authentication challenge expected, for `seconds`, optionally setting
    /// its own status after sign-in.
    pub fn start(user: &str, server: SocketAddr, seconds: u32, status: Option<&str>) -> Sipe {
        Sipe::start_over("tcp", user, server, seconds, status)
    }

    /// As [`Sipe::start`], over `transport` (`tcp` or `tls`; over TLS the
    /// client accepts the server's certificate when libpurple asks).
    pub fn start_over(
        transport: &str,
        user: &str,
        server: SocketAddr,
        seconds: u32,
        status: Option<&str>,
    ) -> Sipe {
        Sipe::start_env(transport, user, server, seconds, status, &[])
    }

    /// As [`Sipe::start`], searching the directory for each of `terms`
    /// (comma-separated, SIPE's "Contact search" with the first name
    /// filled in) after sign-on and adding the result `add` (`user@host`,
    /// as SIPE lists it) to the buddy list when a search returns it.
    pub fn start_searching(
        user: &str,
        server: SocketAddr,
        seconds: u32,
        terms: &str,
        add: &str,
    ) -> Sipe {
        let env = [("SIPE_SEARCH", terms), ("SIPE_ADD_FOUND", add)];
        Sipe::start_env("tcp", user, server, seconds, None, &env)
    }

    fn start_env(
        transport: &str,
        user: &str,
        server: SocketAddr,
        seconds: u32,
        status: Option<&str>,
        env: &[(&str, &str)],
    ) -> Sipe {
        let build = build().expect("SIPE built (skip_or_require first)");
        let home = tempfile::tempdir().expect("SIPE_PURPLE_HOME");
        let login = match user.split_once('@') {
            Some((name, _)) => format!("{user},LAB\\{name}"),
            None => user.to_owned(),
        };
        let mut command = Command::new(&build.client);
        command
            .args([
                login.as_str(),
                "secret",
                &server.to_string(),
                transport,
                "ntlm",
                &seconds.to_string(),
            ])
            .args(status)
            .env("SIPE_PURPLE_HOME", home.path())
            .env("LD_PRELOAD", &build.shim)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start sipe_client");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = lines.clone();
            std::thread::spawn(move || {
                // SIPE logs HTTP bodies as they are (a photo is binary):
                // lines are read as bytes, so one such body cannot end
                // the capture.
                for line in BufReader::new(stream).split(b'\n') {
                    let Ok(line) = line else { break };
                    let text = String::from_utf8_lossy(&line);
                    sink.lock()
                        .unwrap()
                        .push(text.trim_end_matches('\r').to_owned());
                }
            });
        }
        Sipe {
            child,
            lines,
            _home: home,
        }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (at most `limit`) for a line containing `needle`.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        self.wait_until(limit, || {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned()
        })
    }

    /// Waits (at most `limit`) for a logged message matching `pick`.
    pub fn wait_message(&self, limit: Duration, pick: impl Fn(&Logged) -> bool) -> Option<Logged> {
        self.wait_until(limit, || self.messages().into_iter().find(|m| pick(m)))
    }

    fn wait_until<T>(&self, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = probe() {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The SIP messages logged so far, in order.
    pub fn messages(&self) -> Vec<Logged> {
        let lines = self.lines.lock().unwrap();
        let mut out = Vec::new();
        let mut current: Option<(bool, Vec<&str>)> = None;
        for line in lines.iter() {
            if line.starts_with("MESSAGE START >>>>") {
                current = Some((true, Vec::new()));
            } else if line.starts_with("MESSAGE START <<<<") {
                current = Some((false, Vec::new()));
            } else if line.starts_with("MESSAGE END") {
                if let Some((sent, body)) = current.take() {
                    out.push(Logged {
                        sent,
                        text: body.join("\r\n"),
                    });
                }
            } else if let Some((_, body)) = current.as_mut() {
                body.push(line.trim_end_matches('\r'));
            }
        }
        out
    }

    /// Waits (bounded) for the client to quit by itself, which it does
    /// after its SECONDS (un-REGISTERing first); kills it otherwise.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Stops it by PID (SIGTERM, then SIGKILL if it lingers).
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(2);
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

impl Drop for Sipe {
    fn drop(&mut self) {
        self.stop();
    }
}
