//! The server's configuration: one TOML file, validated as a whole.
//!
//! The file is read into a raw, serde-shaped form that keeps the position of
//! every value a later check may reject, then turned into the typed
//! [`Config`] the rest of the server uses. Errors therefore always name the
//! file, the line and the field, whether the TOML syntax broke or a value is
//! out of range. Every key has a documented default, so the server runs with
//! no file at all.
//!
//! ```toml
//! [sip]
//! listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060", "tls:[::1]:5061"]
//! tls_cert = "cert.pem"        # PEM chain; relative to this file
//! tls_key = "key.pem"          # PEM private key (both reloaded on change)
//! tls_client_ca = "ca.pem"     # mutual TLS: CA of trusted peers' certificates
//! idle_timeout_secs = 300      # close TCP/TLS connections silent this long
//! max_message_size = 65535     # bytes, whole message
//! queue_depth = 16384          # messages waiting for the core before 503
//! max_connections = 4096       # open TCP/TLS connections
//! overload_retry_after_secs = 5
//! t1_ms = 500                  # RFC 3261 timers
//! t2_ms = 4000
//! t4_ms = 5000
//! ```
//!
//! `[store]` and `[http]` (config/runtime.rs), `[presence]`
//! (config/presence.rs), `[registrar]` (config/registrar.rs) and
//! `[service]` (config/service.rs), `[sync]` (config/sync.rs), `[auth]`
//! (config/auth.rs), `[provider]` (config/provider.rs), `[limits]`
//! (config/limits.rs), `[directory]` (config/directory.rs) and `[console]`
//! (config/console.rs) are validated in their own files;
//! docs/config.md lists every key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

mod auth;
mod console;
mod directory;
mod limits;
mod presence;
mod provider;
mod registrar;
mod runtime;
mod service;
mod sync;

pub use console::{ConsoleSettings, ConsoleUser};
pub use directory::{DirectorySettings, LdapSettings, LdapTls};
pub use presence::{
    AuthorizationPolicy, PresenceSettings, UnknownPresentityPolicy, UnlistedWatchers,
};
pub use provider::{
    ProviderSettings, UpstreamCredentials, UpstreamSpec, UpstreamSpecError, UpstreamTls,
};
pub use registrar::RegistrarSettings;
pub use runtime::{parse_http_listen, HttpSettings, StoreMode, StoreSettings};
pub use service::ServiceSettings;
pub use sync::SyncSettings;

/// The transports SIP runs over (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Datagrams, one message each.
    Udp,
    /// A byte stream framed by Content-Length.
    Tcp,
    /// TCP wrapped in TLS (rustls).
    Tls,
}

impl TransportKind {
    /// The lowercase name used in listen specs and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        }
    }

    /// True for the stream transports, whose messages are never
    /// retransmitted by the transaction layer (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address to listen on, written `udp:127.0.0.1:5060` or `tls:[::1]:5061`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    /// The transport.
    pub transport: TransportKind,
    /// The local address; port 0 asks the system for a free port.
    pub addr: SocketAddr,
}

/// Why a listen spec was rejected; the text is shown to whoever wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenSpecError {
    /// No `transport:` prefix.
    #[error("listen address {0:?} must look like udp:127.0.0.1:5060, tcp:[::1]:5060 or tls:0.0.0.0:5061")]
    Shape(String),
    /// A prefix other than udp, tcp or tls.
    #[error("unknown transport {0:?} in listen address (expected udp, tcp or tls)")]
    Transport(String),
    /// Not an IP address and port (host names are not resolved here).
    #[error("{0:?} is not an IP address with a port (IPv6 goes in brackets: [::1]:5060)")]
    Addr(String),
}

impl FromStr for ListenSpec {
    type Err = ListenSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (transport, addr) = s
            .split_once(':')
            .ok_or_else(|| ListenSpecError::Shape(s.to_owned()))?;
        let transport = match transport.to_ascii_lowercase().as_str() {
            "udp" => TransportKind::Udp,
            "tcp" => TransportKind::Tcp,
            "tls" => TransportKind::Tls,
            _ => return Err(ListenSpecError::Transport(transport.to_owned())),
        };
        let addr = addr
            .parse()
            .map_err(|_| ListenSpecError::Addr(addr.to_owned()))?;
        Ok(ListenSpec { transport, addr })
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// PEM files for the TLS listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf certificate.
    pub key: PathBuf,
    /// CA certificates whose client certificates identify trusted peers
    /// (mutual TLS); `None`: no client certificates asked for.
    pub client_ca: Option<PathBuf>,
}

/// RFC 3261 §17 timer values, handed to the transaction layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate; retransmissions start here.
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests.
    pub t2: Duration,
    /// How long a message may stay in the network.
    pub t4: Duration,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Addresses to listen on, at least one.
    pub listen: Vec<ListenSpec>,
    /// Certificate and key, present whenever a TLS listener is.
    pub tls: Option<TlsFiles>,
    /// A TCP or TLS connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Parser bounds; `max_message_size` comes from the file.
    pub limits: sip::Limits,
    /// Messages that may wait for the core; beyond this the transports
    /// answer 503 themselves instead of queueing.
    pub queue_depth: usize,
    /// Open TCP and TLS connections accepted at once.
    pub max_connections: usize,
    /// The Retry-After value, in seconds, of a 503 sent under overload.
    pub retry_after_secs: u32,
    /// Transaction timers.
    pub timers: Timers,
    /// The durable store.
    pub store: StoreSettings,
    /// The metrics and health endpoint.
    pub http: HttpSettings,
    /// The presence service.
    pub presence: PresenceSettings,
    /// The registrar (REGISTER bindings).
    pub registrar: RegistrarSettings,
    /// Service contacts: rooms, gateway rules, themes (`[service]`); the
    /// part a reload swaps.
    pub service: ServiceSettings,
    /// The sync engine's rules (`[sync]`); a reload swaps them.
    pub sync: SyncSettings,
    /// Authentication, publisher rights and trusted peers (`[auth]`);
    /// `None` (the default): nobody is authenticated.
    pub auth: Option<crate::auth::AuthSettings>,
    /// The presence provider (`[provider]`): upstream subscriptions.
    pub provider: ProviderSettings,
    /// Flood limits (`[limits]`): per source address and per user.
    pub flood: crate::flood::FloodSettings,
    /// The company directory's LDAP source (`[directory]`).
    pub directory: DirectorySettings,
    /// The web console's users and sessions (`[console]`).
    pub console: ConsoleSettings,
}

/// A configuration that could not be loaded, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A syntax error or a value the checks rejected.
    #[error("{path}:{line}:{column}: {field}{message}")]
    Invalid {
        /// The file (`<defaults>` for settings not from a file).
        path: PathBuf,
        /// 1-based line of the offending value (0 when unknown).
        line: usize,
        /// 1-based column.
        column: usize,
        /// `sip.listen: ` and the like, empty when the error names no field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

const DEFAULT_LISTEN: [&str; 2] = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"];

/// The file as serde reads it; positions are kept for later checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    sip: RawSip,
    #[serde(default)]
    store: runtime::RawStore,
    #[serde(default)]
    http: runtime::RawHttp,
    #[serde(default)]
    presence: presence::RawPresence,
    #[serde(default)]
    registrar: registrar::RawRegistrar,
    #[serde(default)]
    service: rules::RawService,
    auth: Option<auth::RawAuth>,
    #[serde(default)]
    sync: rules::sync::RawSync,
    #[serde(default)]
    provider: provider::RawProvider,
    #[serde(default)]
    limits: limits::RawLimits,
    #[serde(default)]
    directory: directory::RawDirectory,
    #[serde(default)]
    console: console::RawConsole,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSip {
    /// Kept as text so that a bad entry is reported at its own line.
    listen: Spanned<Vec<Spanned<String>>>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
    tls_client_ca: Option<Spanned<PathBuf>>,
    idle_timeout_secs: Spanned<u64>,
    max_message_size: Spanned<usize>,
    queue_depth: Spanned<usize>,
    max_connections: Spanned<usize>,
    overload_retry_after_secs: Spanned<u32>,
    t1_ms: Spanned<u64>,
    t2_ms: Spanned<u64>,
    t4_ms: Spanned<u64>,
}

/// A span for defaults that no file wrote.
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

impl Default for RawSip {
    fn default() -> Self {
        let listen = DEFAULT_LISTEN
            .iter()
            .map(|s| unspanned(s.to_string()))
            .collect();
        RawSip {
            listen: unspanned(listen),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            idle_timeout_secs: unspanned(300),
            max_message_size: unspanned(sip::Limits::DEFAULT.max_message_size),
            queue_depth: unspanned(16384),
            max_connections: unspanned(4096),
            overload_retry_after_secs: unspanned(5),
            t1_ms: unspanned(500),
            t2_ms: unspanned(4000),
            t4_ms: unspanned(5000),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let source = Source {
            path: Path::new("<defaults>"),
            text: "",
            anchor: None,
        };
        // The defaults pass every check; a failure here is a bug in this file.
        source
            .validate(RawConfig::default())
            .expect("built-in defaults are valid")
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Validates configuration text; `path` names it in errors and anchors
    /// relative certificate paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let source = Source {
            path,
            text,
            anchor: path.parent(),
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            source.error(e.span().map_or(0, |s| s.start), "", message)
        })?;
        source.validate(raw)
    }

    /// Replaces the listen addresses (the `--listen` command-line option),
    /// checking again that TLS listeners have a certificate.
    pub fn with_listen(mut self, listen: Vec<ListenSpec>) -> Result<Config, ConfigError> {
        let invalid = |message: &str| ConfigError::Invalid {
            path: PathBuf::from("<command line>"),
            line: 0,
            column: 0,
            field: "--listen: ".to_owned(),
            message: message.to_owned(),
        };
        if listen.is_empty() {
            return Err(invalid("at least one address is needed"));
        }
        if self.tls.is_none() && listen.iter().any(|l| l.transport == TransportKind::Tls) {
            return Err(invalid(
                "a tls: address needs sip.tls_cert and sip.tls_key in the config file",
            ));
        }
        self.listen = listen;
        Ok(self)
    }

    /// Replaces the data directory (`--data-dir`, relative to the cwd).
    pub fn with_data_dir(mut self, dir: PathBuf) -> Config {
        self.store.data_dir = dir;
        self
    }

    /// Keeps nothing on disk (`--memory`).
    pub fn with_memory(mut self) -> Config {
        self.store.mode = StoreMode::Memory;
        self
    }

    /// Replaces the HTTP listen address (`--http-listen`); `None` is off.
    pub fn with_http_listen(mut self, listen: Option<SocketAddr>) -> Config {
        self.http.listen = listen;
        self
    }
}

/// The text being validated, for turning byte offsets into lines.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    /// Where relative paths start: the file's directory, `None` for the
    /// built-in defaults (then the cwd).
    anchor: Option<&'a Path>,
}

impl Source<'_> {
    fn error(&self, offset: usize, field: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = if self.text.is_empty() {
            (0, 0)
        } else {
            let before = &self.text[..offset.min(self.text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        };
        let field = if field.is_empty() {
            String::new()
        } else {
            format!("{field}: ")
        };
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            column,
            field,
            message: message.into(),
        }
    }

    /// Checks a numeric value against a range, naming the field on failure.
    fn range<T>(&self, field: &str, v: &Spanned<T>, min: T, max: T) -> Result<T, ConfigError>
    where
        T: PartialOrd + Copy + fmt::Display,
    {
        let value = *v.get_ref();
        if value < min || value > max {
            return Err(self.error(
                v.span().start,
                field,
                format!("{value} is out of range ({min} to {max})"),
            ));
        }
        Ok(value)
    }

    /// A secret (a password) from `file` (relative to this file, the
    /// trailing line end cut), else from the environment variable `env`;
    /// `None` when neither is set. Secrets are never in the config text,
    /// so a config shown or logged never carries one.
    fn secret(
        &self,
        file: Option<&Spanned<PathBuf>>,
        field: &str,
        env: &str,
    ) -> Result<Option<String>, ConfigError> {
        match file {
            Some(file) => {
                let path = self.path(file);
                std::fs::read_to_string(&path)
                    .map(|p| Some(p.trim_end_matches(['\r', '\n']).to_owned()))
                    .map_err(|e| {
                        self.error(
                            file.span().start,
                            field,
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })
            }
            None => Ok(std::env::var(env).ok()),
        }
    }

    /// A section's `tls_cert` and `tls_key` (both or neither; the error
    /// names the one given alone), relative to the file, without a
    /// client CA.
    fn tls_files(
        &self,
        section: &str,
        cert: &Option<Spanned<PathBuf>>,
        key: &Option<Spanned<PathBuf>>,
    ) -> Result<Option<TlsFiles>, ConfigError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: self.path(cert),
                key: self.path(key),
                client_ca: None,
            })),
            (Some(cert), None) => Err(self.error(
                cert.span().start,
                &format!("{section}.tls_cert"),
                format!("{section}.tls_key must be set too"),
            )),
            (None, Some(key)) => Err(self.error(
                key.span().start,
                &format!("{section}.tls_key"),
                format!("{section}.tls_cert must be set too"),
            )),
            (None, None) => Ok(None),
        }
    }

    fn path(&self, p: &Spanned<PathBuf>) -> PathBuf {
        let file = p.get_ref();
        match self.anchor {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.clone(),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let sip = raw.sip;
        let mut listen = Vec::with_capacity(sip.listen.get_ref().len());
        for entry in sip.listen.get_ref() {
            let spec: ListenSpec = entry.get_ref().parse().map_err(|e: ListenSpecError| {
                self.error(entry.span().start, "sip.listen", e.to_string())
            })?;
            listen.push((spec, entry.span().start));
        }
        if listen.is_empty() {
            return Err(self.error(
                sip.listen.span().start,
                "sip.listen",
                "at least one address is needed",
            ));
        }
        let tls = self
            .tls_files("sip", &sip.tls_cert, &sip.tls_key)?
            .map(|files| TlsFiles {
                client_ca: sip.tls_client_ca.as_ref().map(|ca| self.path(ca)),
                ..files
            });
        if let (None, Some(ca)) = (&tls, &sip.tls_client_ca) {
            return Err(self.error(
                ca.span().start,
                "sip.tls_client_ca",
                "needs sip.tls_cert and sip.tls_key",
            ));
        }
        if tls.is_none() {
            if let Some((_, at)) = listen
                .iter()
                .find(|(l, _)| l.transport == TransportKind::Tls)
            {
                return Err(self.error(
                    *at,
                    "sip.listen",
                    "a tls: address needs sip.tls_cert and sip.tls_key",
                ));
            }
        }
        let idle = self.range("sip.idle_timeout_secs", &sip.idle_timeout_secs, 1, 86_400)?;
        let max_message_size =
            self.range("sip.max_message_size", &sip.max_message_size, 512, 1 << 20)?;
        let queue_depth = self.range("sip.queue_depth", &sip.queue_depth, 1, 1 << 20)?;
        let max_connections =
            self.range("sip.max_connections", &sip.max_connections, 1, 1 << 20)?;
        let retry_after_secs = self.range(
            "sip.overload_retry_after_secs",
            &sip.overload_retry_after_secs,
            1,
            3600,
        )?;
        let t1 = self.range("sip.t1_ms", &sip.t1_ms, 1, 60_000)?;
        let t2 = self.range("sip.t2_ms", &sip.t2_ms, t1, 600_000)?;
        let t4 = self.range("sip.t4_ms", &sip.t4_ms, 1, 600_000)?;
        // The body can never exceed the whole message, so one number bounds both.
        let limits = sip::Limits {
            max_message_size,
            max_body: max_message_size,
            ..sip::Limits::DEFAULT
        };
        let store = self.store(raw.store)?;
        let http = self.http(raw.http)?;
        let presence = self.presence(raw.presence)?;
        let registrar = self.registrar(raw.registrar)?;
        let service = self.service(raw.service, http.listen)?;
        let sync = self.sync(raw.sync)?;
        let auth = self.auth(raw.auth)?;
        if let Some(auth) = &auth {
            let named = auth
                .trusted_peers
                .iter()
                .find(|p| !p.certificate_names.is_empty());
            if let (Some(peer), None) = (named, tls.as_ref().and_then(|t| t.client_ca.as_ref())) {
                return Err(self.error(
                    0,
                    "auth.trusted_peers.certificate_names",
                    format!(
                        "peer {:?} is recognised by its certificate: set sip.tls_client_ca \
                         (the CA that issued it) and a tls: listener",
                        peer.name
                    ),
                ));
            }
        }
        let provider = self.provider(raw.provider, tls.is_some())?;
        let flood = self.limits(raw.limits)?;
        let directory = self.directory(raw.directory)?;
        let console = self.console(raw.console)?;
        Ok(Config {
            flood,
            auth,
            console,
            directory,
            service,
            sync,
            provider,
            registrar,
            store,
            http,
            presence,
            listen: listen.into_iter().map(|(spec, _)| spec).collect(),
            tls,
            idle_timeout: Duration::from_secs(idle),
            limits,
            queue_depth,
            max_connections,
            retry_after_secs,
            timers: Timers {
                t1: Duration::from_millis(t1),
                t2: Duration::from_millis(t2),
                t4: Duration::from_millis(t4),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.listen[0].to_string(), "udp:127.0.0.1:5060");
        assert_eq!(c.listen[1].to_string(), "tcp:127.0.0.1:5060");
        assert_eq!(c.idle_timeout, Duration::from_secs(300));
        assert_eq!(c.timers.t1, Duration::from_millis(500));
        // A file, even empty, anchors the data directory beside itself.
        let from_file = parse("").unwrap();
        assert_eq!(
            from_file.store.data_dir,
            Path::new("/etc/presenced/presenced-data")
        );
        assert_eq!(from_file.with_data_dir("presenced-data".into()), c);
    }

    #[test]
    fn listen_specs_cover_both_families() {
        let c = parse(
            "[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"TCP:[::1]:0\", \"tls:[::]:5061\"]\ntls_cert = \"c.pem\"\ntls_key = \"/k.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.listen[1].transport, TransportKind::Tcp);
        assert!(c.listen[1].addr.is_ipv6());
        assert_eq!(c.listen[2].addr.port(), 5061);
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, Path::new("/etc/presenced/c.pem"));
        assert_eq!(tls.key, Path::new("/k.pem"));
    }

    #[test]
    fn errors_name_line_and_field() {
        let e =
            parse("[sip]\nlisten = [\n  \"udp:127.0.0.1:5060\",\n  \"sctp:127.0.0.1:5060\",\n]\n")
                .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("/etc/presenced/presenced.toml:4:"),
            "{text}"
        );
        assert!(text.contains("unknown transport \"sctp\""), "{text}");

        let e = parse("[sip]\nqueue_depth = 0\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/etc/presenced/presenced.toml:2:15: sip.queue_depth: 0 is out of range (1 to 1048576)"
        );

        let e = parse("[sip]\nlisten = [\"tls:127.0.0.1:5061\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:2:11: sip.listen: a tls: address needs"),
            "{e}"
        );

        let e = parse("[sip]\nidle_timeout = 3\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:2:1: unknown field `idle_timeout`"),
            "{e}"
        );

        let e = parse("[sip]\nt1_ms = 5000\nt2_ms = 4000\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:9: sip.t2_ms: 4000 is out of range (5000 to 600000)"),
            "{e}"
        );

        let e = parse("[sip]\nlisten = [\"udp:localhost:5060\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an IP address with a port"), "{e}");
    }

    #[test]
    fn command_line_listen_overrides() {
        let c = Config::default()
            .with_listen(vec!["udp:[::1]:0".parse().unwrap()])
            .unwrap();
        assert_eq!(c.listen.len(), 1);
        let e = Config::default()
            .with_listen(vec!["tls:[::1]:0".parse().unwrap()])
            .unwrap_err();
        assert!(e.to_string().contains("tls_cert"), "{e}");
    }
}
