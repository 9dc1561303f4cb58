//! A real OpenLDAP slapd standing in for Active Directory: a throwaway
//! database in a temp dir, the schema of `tests/peers/slapd/msrtc.schema`
//! (AD's `msRTCSIP-PrimaryUserAddress`, `user`, `contact`), loaded with
//! `slapadd` before the start, changed with `ldapmodify` while it runs,
//! listening on one loopback port, stopped by PID.
//!
//! By hand (what [`Slapd::start`] runs):
//!
//! ```text
//! slapadd -f DIR/slapd.conf -l DIR/data.ldif
//! slapd -f DIR/slapd.conf -h ldap://127.0.0.1:PORT/ -d 0
//!   (with TLS: -h "ldap://127.0.0.1:PORT/ ldaps://127.0.0.1:TLSPORT/")
//! ldapmodify -x -H ldap://127.0.0.1:PORT -D cn=admin,dc=example,dc=com -w secret -f CHANGE.ldif
//! ```

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::{free_port, peers_dir};

/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=com";
/// Its administrator, who may read and write everything.
pub const ADMIN: &str = "cn=admin,dc=example,dc=com";
/// The administrator's password.
pub const PASSWORD: &str = "secret";

/// The suffix's own entry, which every test's data starts with.
pub const ROOT_ENTRY: &str = "dn: dc=example,dc=com\nobjectClass: dcObject\n\
                              objectClass: organization\no: Example\ndc: example\n";

/// An AD-style `user` under the suffix: `name` is "Given Surname", the
/// CN and displayName; `extra` adds attribute lines (`mail: …\n`).
pub fn user(name: &str, address: &str, extra: &str) -> String {
    let (given, surname) = name.split_once(' ').unwrap_or((name, name));
    format!(
        "\ndn: cn={name},{SUFFIX}\nobjectClass: user\ncn: {name}\nsn: {surname}\n\
         givenName: {given}\ndisplayName: {name}\n{extra}msRTCSIP-PrimaryUserAddress: {address}\n"
    )
}

/// A VTC endpoint: a `device` with the address and displayName of the
/// auxiliary `msRTCSIP-Endpoint`.
pub fn device(name: &str, address: &str) -> String {
    format!(
        "\ndn: cn={name},{SUFFIX}\nobjectClass: device\nobjectClass: msRTCSIP-Endpoint\n\
         cn: {name}\ndisplayName: {name}\nmsRTCSIP-PrimaryUserAddress: {address}\n"
    )
}

/// True when the test should not run (slapd missing and
/// `PRESENCED_SKIP_PEERS=1`); panics with what to install otherwise.
pub fn skip_or_require() -> bool {
    super::peers::skip_without_tools(
        &["slapd", "slapadd", "ldapmodify"],
        "the directory test",
        "OpenLDAP: as root `echo \"slapd slapd/no_configuration boolean true\" | \
         debconf-set-selections` then `apt-get install -y --no-install-recommends slapd ldap-utils`",
    )
}

fn tool(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// A running slapd; stopped when dropped.
pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Its loopback port (`ldap://`, StartTLS offered when TLS is on).
    pub port: u16,
    /// Its `ldaps://` port, when started with TLS.
    pub tls_port: Option<u16>,
}

impl Slapd {
    /// Loads `ldif` (entries under [`SUFFIX`], the suffix's own entry
    /// included) and starts slapd; returns once it answers.
    pub fn start(ldif: &str) -> Slapd {
        Slapd::start_with(ldif, None)
    }

    /// Like [`Slapd::start`], with TLS from the PEM `cert` and `key`:
    /// StartTLS on the `ldap://` port and an `ldaps://` port beside it.
    pub fn start_tls(ldif: &str, cert: &Path, key: &Path) -> Slapd {
        Slapd::start_with(ldif, Some((cert, key)))
    }

    fn start_with(ldif: &str, tls: Option<(&Path, &Path)>) -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        let schema = peers_dir().join("slapd/msrtc.schema");
        let tls_conf = tls.map_or_else(String::new, |(cert, key)| {
            format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                cert.display(),
                key.display()
            )
        });
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include {schema}\n\
             pidfile {dir}/slapd.pid\nargsfile {dir}/slapd.args\n{tls_conf}\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nmaxsize 10485760\nsuffix \"{SUFFIX}\"\n\
             rootdn \"{ADMIN}\"\nrootpw {PASSWORD}\ndirectory {db}\n",
            schema = schema.display(),
            dir = dir.path().display(),
            db = db.display(),
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("write slapd.conf");
        std::fs::write(dir.path().join("data.ldif"), ldif).expect("write data.ldif");
        let out = Command::new(tool("slapadd"))
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .arg("-l")
            .arg(dir.path().join("data.ldif"))
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut slapd = Slapd {
            child: None,
            dir,
            port: free_port(),
            tls_port: tls.map(|_| free_port()),
        };
        slapd.run();
        slapd
    }

    /// Starts the daemon on the same database and port.
    pub fn run(&mut self) {
        let child = Command::new(tool("slapd"))
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(match self.tls_port {
                Some(tls) => format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{tls}/", self.port),
                None => format!("ldap://127.0.0.1:{}/", self.port),
            })
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "slapd did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Applies an LDIF change (`changetype: add`, `modify`, `delete`).
    pub fn modify(&self, ldif: &str) {
        let path = self.dir.path().join("change.ldif");
        std::fs::write(&path, ldif).expect("write change");
        let out = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url(), "-D", ADMIN, "-w", PASSWORD, "-f"])
            .arg(&path)
            .output()
            .expect("run ldapmodify");
        assert!(
            out.status.success(),
            "ldapmodify failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the daemon (by its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
