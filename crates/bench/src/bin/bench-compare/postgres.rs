//! A PostgreSQL of our own for Kamailio's durable mode.
//!
//! presenced answers 2xx only after a group-committed fsync of its redb
//! store, so the durable comparison needs a Kamailio whose 2xx also means
//! "on disk". db_text writes its files only at shutdown and db_sqlite
//! fails with several processes, which leaves a database server:
//! PostgreSQL, with `fsync=on` and `synchronous_commit=on` (a COMMIT
//! returns after its WAL record was fsync'ed).
//!
//! Every Kamailio start gets a fresh cluster (`initdb` into its run
//! directory, on the same file system as presenced's data directory, so
//! both pay the same fsync), listening on 127.0.0.1 only (no unix socket,
//! so no path of the system's packaged cluster is touched), with
//! trust authentication for the loopback (throwaway data). PostgreSQL
//! refuses to run as root: as root, initdb and postgres run as the
//! `postgres` system user (created by the Debian package). The server is a
//! child in a process group of its own and is stopped by its PID.
//!
//! SQL goes through `psql` (the client package comes with the server), so
//! the driver needs no database crate.

use std::ffi::{CString, OsString};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::servers;

/// The Debian packages of the durable comparison: the server (with its
/// client, psql) and Kamailio's db_postgres module with its SQL schema.
pub const POSTGRES_PACKAGES: &str = "postgresql kamailio-postgres-modules";
/// Where kamailio-postgres-modules keeps the `kamdbctl` schema.
pub const SCHEMA_DIR: &str = "/usr/share/kamailio/postgres";
/// Kamailio's SQL, in load order: the `version` table first (every module
/// checks its tables' versions there at start), then the presence tables
/// (presentity, active_watchers, watchers, xcap, pua).
pub const SCHEMA_FILES: [&str; 2] = ["standard-create.sql", "presence-create.sql"];
/// Database and role Kamailio uses (the superuser of the throwaway cluster).
pub const DB_NAME: &str = "kamailio";
pub const DB_USER: &str = "kamailio";
/// The unprivileged user postgres runs as when we are root.
const SYSTEM_USER: &str = "postgres";
/// Where Debian installs the server binaries (one directory per version).
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";

/// The server settings that make a COMMIT durable, passed explicitly
/// (they are PostgreSQL's defaults, but the comparison depends on them).
pub const DURABILITY_SETTINGS: [(&str, &str); 3] = [
    ("fsync", "on"),
    ("synchronous_commit", "on"),
    ("full_page_writes", "on"),
];

/// The programs used.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
    pub psql: PathBuf,
}

impl Binaries {
    /// initdb and postgres from PATH or the newest /usr/lib/postgresql/N/bin
    /// (Debian keeps them off PATH), psql from PATH or beside them.
    pub fn find() -> Option<Binaries> {
        let lib_bin = newest_version_dir(Path::new(DEBIAN_PG_LIB)).map(|d| d.join("bin"));
        let find = |name: &str| {
            servers::which(name).or_else(|| {
                lib_bin
                    .as_ref()
                    .map(|d| d.join(name))
                    .filter(|p| p.is_file())
            })
        };
        Some(Binaries {
            initdb: find("initdb")?,
            postgres: find("postgres")?,
            psql: find("psql")?,
        })
    }
}

/// The directory of the highest numeric version under `root` (15 before 9).
fn newest_version_dir(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path()))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, p)| p)
}

/// The schema files, in load order.
pub fn schema_paths(dir: &Path) -> Vec<PathBuf> {
    SCHEMA_FILES.iter().map(|f| dir.join(f)).collect()
}

/// Why PostgreSQL for Kamailio cannot be used here, or `None` when it can.
pub fn missing() -> Option<String> {
    if Binaries::find().is_none() {
        return Some("PostgreSQL (initdb, postgres, psql) is not installed".into());
    }
    if servers::kamailio_module("db_postgres.so").is_none() {
        return Some("Kamailio's db_postgres module is not installed".into());
    }
    if let Some(p) = schema_paths(Path::new(SCHEMA_DIR))
        .into_iter()
        .find(|p| !p.is_file())
    {
        return Some(format!("Kamailio's schema {} is missing", p.display()));
    }
    None
}

/// Installs the PostgreSQL packages when missing (as root; else fails with
/// the apt-get command).
pub fn ensure_installed() -> anyhow::Result<()> {
    servers::ensure_packages("PostgreSQL for Kamailio", POSTGRES_PACKAGES, || {
        missing().is_none()
    })
}

/// Kamailio's `db_url` for a cluster on `port`.
pub fn db_url(port: u16) -> String {
    format!("postgres://{DB_USER}@127.0.0.1:{port}/{DB_NAME}")
}

/// `initdb` arguments: superuser `kamailio`, trust on the loopback (the
/// only listener), UTF-8 with the C locale (no locale packages needed).
pub fn initdb_args(data: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["-D".into(), data.into()];
    for a in ["-U", DB_USER, "--auth=trust", "-E", "UTF8", "--locale=C"] {
        v.push(a.into());
    }
    v
}

/// `postgres` arguments: TCP on 127.0.0.1:`port` only (an empty
/// unix_socket_directories: no socket in /var/run/postgresql, which the
/// packaged cluster owns), the durability settings, connections for every
/// Kamailio process (each opens its own).
pub fn postgres_args(data: &Path, port: u16) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["-D".into(), data.into()];
    let port = port.to_string();
    let mut settings: Vec<(&str, &str)> = vec![
        ("port", &port),
        ("listen_addresses", "127.0.0.1"),
        ("unix_socket_directories", ""),
        ("max_connections", "200"),
    ];
    settings.extend(DURABILITY_SETTINGS);
    for (k, val) in settings {
        v.push("-c".into());
        v.push(format!("{k}={val}").into());
    }
    v
}

/// `psql` arguments for database `db` on `port`: no ~/.psqlrc, stop at the
/// first error, quiet, unaligned tuples only (`a|b` per row).
pub fn psql_args(port: u16, db: &str) -> Vec<String> {
    [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        DB_USER,
        "-d",
        db,
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-A",
        "-t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// uid and gid of the `postgres` user when we are root (postgres refuses
/// to run as root), `None` when we are not (then we run it as ourselves).
fn run_as() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new(SYSTEM_USER).context("user name")?;
    // SAFETY: getpwnam reads a NUL-terminated name and returns a pointer
    // to static storage or null; we copy the two ids out at once, on this
    // (single) thread of the driver before anything else calls it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "running as root, and PostgreSQL refuses root, but there is no `{SYSTEM_USER}` \
             user (it comes with the postgresql package)"
        );
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

/// A running cluster; stopped (by PID) when dropped at the latest.
pub struct Postgres {
    pub port: u16,
    bins: Binaries,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Postgres {
    /// Makes a fresh cluster in `dir/data` (`dir` is emptied first), starts
    /// it on 127.0.0.1:`port`, creates the `kamailio` database and loads
    /// Kamailio's presence schema. `dir`'s parents must be searchable by
    /// the `postgres` user when we are root.
    pub fn start(bins: &Binaries, dir: &Path, port: u16) -> anyhow::Result<Postgres> {
        servers::check_port_free(port)?;
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("clean {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let user = run_as()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("chown {} to {SYSTEM_USER}", dir.display()))?;
        }
        let data = dir.join("data");
        let log_path = dir.join("postgres.log");
        let as_user = |cmd: &mut Command| {
            if let Some((uid, gid)) = user {
                cmd.uid(uid).gid(gid);
            }
        };

        let mut initdb = Command::new(&bins.initdb);
        initdb.args(initdb_args(&data)).current_dir(dir);
        as_user(&mut initdb);
        let out = initdb
            .output()
            .with_context(|| format!("run {}", bins.initdb.display()))?;
        if !out.status.success() {
            bail!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let log = fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let log2 = log.try_clone().context("clone log handle")?;
        let mut cmd = Command::new(&bins.postgres);
        cmd.args(postgres_args(&data, port))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        as_user(&mut cmd);
        fs::write(dir.join("command.txt"), format!("{cmd:?}\n")).ok();
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", bins.postgres.display()))?;
        let mut pg = Postgres {
            port,
            bins: bins.clone(),
            child: Some(child),
            log_path,
        };
        pg.wait_ready(Duration::from_secs(30))?;
        pg.sql("postgres", &format!("CREATE DATABASE {DB_NAME}"))?;
        pg.load(&schema_paths(Path::new(SCHEMA_DIR)))?;
        Ok(pg)
    }

    /// Polls `SELECT 1` until the server answers (it accepts connections
    /// before it is ready, answering "starting up").
    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    bail!(
                        "postgres exited at start ({status}): {}",
                        servers::log_tail(&self.log_path)
                    );
                }
            }
            if self.sql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let tail = servers::log_tail(&self.log_path);
                self.stop();
                bail!("postgres did not answer on port {}: {tail}", self.port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the SQL files in one psql session, stopping at the first error.
    fn load(&self, files: &[PathBuf]) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.bins.psql);
        cmd.args(psql_args(self.port, DB_NAME));
        for f in files {
            cmd.arg("-f").arg(f);
        }
        run_psql(cmd)
            .map(drop)
            .with_context(|| format!("load {files:?}"))
    }

    /// Runs `sql` in database `db`; the rows as `a|b` lines.
    pub fn sql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.bins.psql);
        cmd.args(psql_args(self.port, db)).args(["-c", sql]);
        run_psql(cmd).with_context(|| format!("psql: {sql}"))
    }

    /// Runs `sql` in Kamailio's database.
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        self.sql(DB_NAME, sql)
    }

    /// The durability settings as the running server reports them.
    pub fn settings(&self) -> anyhow::Result<Vec<(String, String)>> {
        DURABILITY_SETTINGS
            .iter()
            .map(|(k, _)| Ok((k.to_string(), self.query(&format!("SHOW {k}"))?)))
            .collect()
    }

    pub fn db_url(&self) -> String {
        db_url(self.port)
    }

    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fast shutdown (SIGINT to the postmaster: roll back open
    /// transactions, checkpoint, exit), SIGKILL to its group after 10 s.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            servers::stop_child(child, libc::SIGINT);
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_psql(mut cmd: Command) -> anyhow::Result<String> {
    let out = cmd.stdin(Stdio::null()).output().context("run psql")?;
    if !out.status.success() {
        bail!(
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn command_lines() {
        let data = Path::new("/run/x/data");
        assert_eq!(
            strings(initdb_args(data)).join(" "),
            "-D /run/x/data -U kamailio --auth=trust -E UTF8 --locale=C"
        );
        let pg = strings(postgres_args(data, 27360)).join(" ");
        assert!(pg.starts_with("-D /run/x/data -c port=27360 "), "{pg}");
        for want in [
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories= ",
            "-c fsync=on",
            "-c synchronous_commit=on",
        ] {
            assert!(pg.contains(want), "{want} missing from {pg}");
        }
        assert_eq!(
            psql_args(5, "kamailio")[..8].join(" "),
            "-h 127.0.0.1 -p 5 -U kamailio -d kamailio"
        );
        assert_eq!(
            db_url(27360),
            "postgres://kamailio@127.0.0.1:27360/kamailio"
        );
    }

    #[test]
    fn schema_in_load_order() {
        let p = schema_paths(Path::new("/s"));
        assert_eq!(
            p,
            [
                PathBuf::from("/s/standard-create.sql"),
                PathBuf::from("/s/presence-create.sql")
            ]
        );
    }

    #[test]
    fn newest_version_is_numeric() {
        let dir = tempfile::tempdir().expect("tempdir");
        for v in ["9", "15", "common", "13"] {
            fs::create_dir(dir.path().join(v)).expect("mkdir");
        }
        assert_eq!(newest_version_dir(dir.path()), Some(dir.path().join("15")));
    }

    /// Starts a real cluster: skipped (with the reason printed) when the
    /// packages are missing. By hand: `initdb -D D -U kamailio --auth=trust`,
    /// `postgres -D D -c port=P -c listen_addresses=127.0.0.1 ...`.
    #[test]
    fn starts_durable_with_kamailio_schema_and_stops() {
        if let Some(why) = missing() {
            eprintln!("skipped: {why} (apt-get install {POSTGRES_PACKAGES})");
            return;
        }
        let Some(bins) = Binaries::find() else {
            return;
        };
        let dir = crate::servers::searchable_tempdir().expect("tempdir");
        let port = crate::servers::free_port().expect("free port");
        let mut pg = Postgres::start(&bins, &dir.path().join("pg"), port).expect("start");
        let versions = pg
            .query("SELECT table_name FROM version ORDER BY table_name")
            .expect("query");
        for t in ["active_watchers", "presentity", "watchers", "version"] {
            assert!(versions.lines().any(|l| l == t), "{t} in {versions}");
        }
        let settings = pg.settings().expect("settings");
        assert!(settings.iter().all(|(_, v)| v == "on"), "{settings:?}");
        let pid = pg.pid().expect("pid");
        pg.stop();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
