//! Starting and stopping the two servers, each in a process group of its
//! own on a loopback port, and reading what memory they use.
//!
//! Kamailio runs in the foreground with children (`-DD -E`), its process
//! group id being its PID; it is stopped with SIGTERM to that group (SIGKILL
//! after a grace period). presenced is one process, stopped the same way.
//! Every server is started fresh for every measurement, so no run sees the
//! state an earlier one left behind. Kamailio on PostgreSQL (`--mode
//! durable`) gets a fresh PostgreSQL cluster of its own with every start,
//! stopped after it (postgres.rs).

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::postgres::{self, Postgres};

/// The Debian packages Kamailio's presence server needs.
pub const KAMAILIO_PACKAGES: &str = "kamailio kamailio-presence-modules";
/// Where the Debian package keeps the db_text tables.
const DBTEXT_TABLES: &str = "/usr/share/kamailio/dbtext/kamailio";
/// Where the Debian packages keep the modules (amd64, arm64, older layout).
const MODULE_DIRS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
];

/// The database behind Kamailio's durable mode (`--kamailio-db`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KamailioDb {
    /// PostgreSQL with fsync and synchronous commit (presence-bench-pg.cfg):
    /// truly durable, the default.
    Postgres,
    /// db_text (presence-bench-db.cfg): Kamailio's DB-mode code path, but
    /// its files are written only at shutdown, so not crash-durable.
    Text,
}

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Kamailio,
    Presenced,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Kamailio => "kamailio",
            Which::Presenced => "presenced",
        }
    }
}

/// How each server keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// presenced `--memory`; Kamailio subs_db_mode=0 (bench/kamailio/presence-bench.cfg).
    Memory,
    /// presenced `--data-dir`; Kamailio write-through DB mode
    /// (presence-bench-pg.cfg, or -db.cfg with `--kamailio-db text`).
    Durable,
}

/// What a 2xx from `which` guarantees in `mode`: the words of the table
/// header and of results.json (`durability`).
pub fn durability(which: Which, mode: Mode, db: KamailioDb) -> &'static str {
    match (which, mode, db) {
        (Which::Presenced, Mode::Memory, _) => "memory only (--memory): lost on a crash",
        (Which::Presenced, Mode::Durable, _) => {
            "redb (--data-dir): every 2xx after its group-committed fsync"
        }
        (Which::Kamailio, Mode::Memory, _) => {
            "memory only (subs_db_mode=0, db_text in memory): lost on a crash"
        }
        (Which::Kamailio, Mode::Durable, KamailioDb::Text) => {
            "write-through to db_text, files written at shutdown only: lost on a crash"
        }
        (Which::Kamailio, Mode::Durable, KamailioDb::Postgres) => {
            "write-through to PostgreSQL (fsync=on, synchronous_commit=on): SUBSCRIBE 2xx \
             after its commit; PUBLISH 2xx before its COMMIT, which follows the NOTIFYs"
        }
    }
}

/// What a server is started with.
#[derive(Debug, Clone)]
pub struct Setup {
    pub port: u16,
    pub mode: Mode,
    /// Scratch directory of this start (logs, db tables, data dir).
    pub run_dir: PathBuf,
    pub kamailio_cfg: PathBuf,
    /// Durable mode: Kamailio's database, and PostgreSQL's port.
    pub kamailio_db: KamailioDb,
    pub pg_port: u16,
    pub kamailio_children: u32,
    pub kamailio_shm_mb: u32,
    pub kamailio_pkg_mb: u32,
    pub presenced_bin: PathBuf,
    pub min_expires: u32,
    pub max_expires: u32,
}

/// A running server; stopped (by PID) when dropped at the latest.
pub struct Server {
    pub which: Which,
    pub addr: SocketAddr,
    child: Option<Child>,
    run_dir: PathBuf,
    /// Kamailio's database server (durable mode on PostgreSQL), stopped
    /// after Kamailio.
    postgres: Option<Postgres>,
}

/// Where the Debian packages keep the Kamailio module `name`, if installed.
pub fn kamailio_module(name: &str) -> Option<PathBuf> {
    MODULE_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// True when Kamailio and its presence modules are installed.
pub fn kamailio_installed() -> bool {
    which("kamailio").is_some()
        && kamailio_module("presence_xml.so").is_some()
        && Path::new(DBTEXT_TABLES).is_dir()
}

/// Installs Kamailio with apt-get when missing: only as root; otherwise
/// fails with the command to run.
pub fn ensure_kamailio() -> anyhow::Result<()> {
    ensure_packages(
        "Kamailio with its presence modules",
        KAMAILIO_PACKAGES,
        kamailio_installed,
    )
}

/// Installs the Debian `packages` (`what`, for the messages) with apt-get
/// unless `installed()`: only as root; otherwise fails with the command.
pub fn ensure_packages(
    what: &str,
    packages: &str,
    installed: impl Fn() -> bool,
) -> anyhow::Result<()> {
    if installed() {
        return Ok(());
    }
    let cmd = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
         --no-install-recommends {packages}"
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} is not installed; as root run:\n  {cmd}");
    }
    eprintln!("bench-compare: installing {what}: {cmd}");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .status()
        .context("run apt-get")?
        .success();
    if !ok || !installed() {
        bail!("installing {what} failed; run by hand:\n  {cmd}");
    }
    Ok(())
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Fails when something already uses the port (UDP or TCP) on 127.0.0.1.
pub fn check_port_free(port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    UdpSocket::bind(addr).with_context(|| format!("udp port {port} is in use"))?;
    std::net::TcpListener::bind(addr).with_context(|| format!("tcp port {port} is in use"))?;
    Ok(())
}

impl Server {
    /// Starts `which` fresh and waits (at most 20 s) until it answers OPTIONS.
    pub fn start(which: Which, setup: &Setup) -> anyhow::Result<Server> {
        check_port_free(setup.port)?;
        let run_dir = setup.run_dir.clone();
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir).with_context(|| format!("clean {}", run_dir.display()))?;
        }
        fs::create_dir_all(&run_dir).with_context(|| format!("create {}", run_dir.display()))?;
        let on_postgres = which == Which::Kamailio
            && setup.mode == Mode::Durable
            && setup.kamailio_db == KamailioDb::Postgres;
        // The database first: Kamailio's presence module connects at start.
        let postgres = if on_postgres {
            let bins = postgres::Binaries::find().context("PostgreSQL is not installed")?;
            Some(Postgres::start(&bins, &run_dir.join("pg"), setup.pg_port)?)
        } else {
            None
        };
        let mut cmd = match which {
            Which::Kamailio => kamailio_command(setup, &run_dir, postgres.as_ref())?,
            Which::Presenced => presenced_command(setup, &run_dir),
        };
        let log_path = run_dir.join(format!("{}.log", which.name()));
        let log = fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let log2 = log.try_clone().context("clone log handle")?;
        fs::write(run_dir.join("command.txt"), format!("{cmd:?}\n")).ok();
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {} ({cmd:?})", which.name()))?;
        let mut server = Server {
            which,
            addr: SocketAddr::from(([127, 0, 0, 1], setup.port)),
            child: Some(child),
            run_dir,
            postgres,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = server.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let tail = log_tail(&log_path);
                    server.child = None;
                    bail!("{} exited at start ({status}): {tail}", which.name());
                }
            }
            if probe_options(server.addr, Duration::from_millis(200)) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let tail = log_tail(&log_path);
                server.stop();
                bail!(
                    "{} did not answer OPTIONS on {}: {tail}",
                    which.name(),
                    server.addr
                );
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The binrpc control socket (Kamailio only).
    pub fn ctl_socket(&self) -> PathBuf {
        self.run_dir.join("kamailio_ctl")
    }

    /// The log file of this start.
    pub fn log_path(&self) -> PathBuf {
        self.run_dir.join(format!("{}.log", self.which.name()))
    }

    /// The database server behind Kamailio, when it runs on PostgreSQL.
    pub fn postgres(&self) -> Option<&Postgres> {
        self.postgres.as_ref()
    }

    /// SIGTERM to the process group, SIGKILL after 10 s; waits until gone.
    /// Then stops the database server, if any.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, libc::SIGTERM);
        }
        if let Some(mut pg) = self.postgres.take() {
            pg.stop();
        }
    }

    /// SIGKILL to the server's process group, as a crash would end it (no
    /// shutdown handler runs); its database server keeps running.
    pub fn crash(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, libc::SIGKILL);
        }
    }

    /// Memory in use, in bytes: presenced's VmRSS; for Kamailio the shared
    /// memory its allocator hands out (`core.shmmem` real_used, where the
    /// presence module keeps every subscription and presentity).
    pub fn memory_bytes(&self) -> Option<u64> {
        let pid = self.pid()?;
        match self.which {
            Which::Presenced => read_vm_rss_kib(pid).map(|k| k * 1024),
            Which::Kamailio => kamailio_shm_used(&self.ctl_socket()),
        }
    }

    /// Proportional set size summed over the process group, bytes: the
    /// physical memory of all of Kamailio's processes without counting a
    /// shared page twice (the same as RSS for presenced).
    pub fn group_pss_bytes(&self) -> Option<u64> {
        let pgid = self.pid()?;
        let mut total = 0u64;
        let mut seen = false;
        for entry in fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if process_group_of(pid) != Some(pgid) {
                continue;
            }
            let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok();
            if let Some(kib) = rollup.as_deref().and_then(|t| field_kib(t, "Pss:")) {
                total += kib * 1024;
                seen = true;
            }
        }
        seen.then_some(total)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `first` to `child`'s process group (its PID), SIGKILL after 10 s;
/// waits until the child is reaped and the group is gone.
pub fn stop_child(mut child: Child, first: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    signal_group(pgid, first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) && !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kamailio's command line; its `DBURL` is `postgres`' when given, else a
/// fresh copy of the db_text tables in the run directory.
fn kamailio_command(
    setup: &Setup,
    run_dir: &Path,
    postgres: Option<&Postgres>,
) -> anyhow::Result<Command> {
    let db_url = match postgres {
        Some(pg) => pg.db_url(),
        None => {
            let db = run_dir.join("db");
            copy_dir(Path::new(DBTEXT_TABLES), &db)?;
            format!("text://{}", db.display())
        }
    };
    let kamailio = which("kamailio").context("kamailio not on PATH")?;
    let mut cmd = Command::new(kamailio);
    let listen_udp = format!("udp:127.0.0.1:{}", setup.port);
    let listen_tcp = format!("tcp:127.0.0.1:{}", setup.port);
    cmd.args(["-DD", "-E"])
        .args(["-m", &setup.kamailio_shm_mb.to_string()])
        .args(["-M", &setup.kamailio_pkg_mb.to_string()])
        .args(["-n", &setup.kamailio_children.to_string()])
        .arg("-f")
        .arg(&setup.kamailio_cfg)
        .args(["-l", &listen_udp, "-l", &listen_tcp])
        .arg("-Y")
        .arg(run_dir)
        .arg("-P")
        .arg(run_dir.join("kamailio.pid"))
        .arg("-A")
        .arg(format!("DBURL=\"{db_url}\""))
        .arg("-A")
        .arg(format!("MIN_EXPIRES={}", setup.min_expires))
        .arg("-A")
        .arg(format!("MAX_EXPIRES={}", setup.max_expires))
        .arg("-A")
        .arg(format!("TCP_CHILDREN={}", setup.kamailio_children))
        .arg("-A")
        .arg(format!(
            "CTL_SOCKET=\"unix:{}\"",
            run_dir.join("kamailio_ctl").display()
        ));
    Ok(cmd)
}

fn presenced_command(setup: &Setup, run_dir: &Path) -> Command {
    let mut cmd = Command::new(&setup.presenced_bin);
    let cfg = run_dir.join("presenced.toml");
    // The same limits as Kamailio is given (presenced's defaults: 60 / 3600).
    let toml = format!(
        "[presence]\nsubscribe_min_expires = {min}\nsubscribe_max_expires = {max}\n\
         subscribe_default_expires = {max}\npublish_min_expires = {min}\n\
         publish_max_expires = {max}\npublish_default_expires = {max}\n",
        min = setup.min_expires,
        max = setup.max_expires
    );
    let _ = fs::write(&cfg, toml);
    cmd.current_dir(run_dir)
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", &format!("udp:127.0.0.1:{}", setup.port)])
        .args(["--listen", &format!("tcp:127.0.0.1:{}", setup.port)])
        .args(["--http-listen", "off"]);
    match setup.mode {
        Mode::Memory => {
            cmd.arg("--memory");
        }
        Mode::Durable => {
            cmd.arg("--data-dir").arg(run_dir.join("data"));
        }
    }
    cmd
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The last 1500 bytes of a log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(1500);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// True when something answers an OPTIONS over UDP within `wait`.
pub fn probe_options(server: SocketAddr, wait: Duration) -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(local) = sock.local_addr() else {
        return false;
    };
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let msg = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe{nonce};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{nonce}\r\nTo: <sip:{server}>\r\n\
         Call-ID: probe{nonce}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    if sock.send_to(msg.as_bytes(), server).is_err() {
        std::thread::sleep(wait);
        return false;
    }
    let _ = sock.set_read_timeout(Some(wait));
    let mut buf = [0u8; 4096];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 "))
}

fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names
    // the process group we created for the child (its own PID).
    unsafe {
        libc::kill(-pgid, sig);
    }
}

fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: as above; signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

fn process_group_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

fn field_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn read_vm_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_kib(&status, "VmRSS:")
}

/// `kamcmd core.shmmem` → real_used, bytes.
fn kamailio_shm_used(ctl: &Path) -> Option<u64> {
    let kamcmd = which("kamcmd")?;
    let out = Command::new(kamcmd)
        .arg("-s")
        .arg(format!("unix:{}", ctl.display()))
        .arg("core.shmmem")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("real_used:"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// A free port on 127.0.0.1 (UDP and TCP), for tests that start servers.
#[cfg(test)]
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if check_port_free(port).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port")
}

/// A temporary directory that other users may enter (tempfile makes it
/// 0700): as root, PostgreSQL runs as `postgres` inside it.
#[cfg(test)]
pub fn searchable_tempdir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_words_say_what_survives() {
        let k = |mode, db| durability(Which::Kamailio, mode, db);
        assert!(k(Mode::Durable, KamailioDb::Postgres).contains("synchronous_commit=on"));
        assert!(k(Mode::Durable, KamailioDb::Text).contains("lost on a crash"));
        assert!(k(Mode::Memory, KamailioDb::Postgres).contains("lost on a crash"));
        let p = durability(Which::Presenced, Mode::Durable, KamailioDb::Text);
        assert!(p.contains("fsync"));
    }

    #[test]
    fn reads_fields() {
        assert_eq!(
            field_kib("Name: x\nVmRSS:\t  1234 kB\n", "VmRSS:"),
            Some(1234)
        );
        assert_eq!(field_kib("Pss:  9 kB\n", "VmRSS:"), None);
    }
}
