//! The `[store]` and `[http]` sections: where state is kept and where
//! metrics are served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source, TlsFiles};

/// Whether state survives a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// Publications and subscriptions are committed to disk before their
    /// 2xx ("Nothing lost").
    Durable,
    /// Nothing is written; for benchmarks and deployments that accept
    /// losing state on restart.
    Memory,
}

/// The `[store]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The directory holding `presenced.redb`; a relative `data_dir` in a
    /// file is anchored at the file's directory.
    pub data_dir: PathBuf,
    /// Durable or memory-only.
    pub mode: StoreMode,
    /// Group commit: writes arriving within this window of the oldest
    /// waiting one share one fsync. Zero still groups what queued up during
    /// the previous commit, without waiting for more.
    pub commit_window: Duration,
}

/// The `[http]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where `/metrics` and `/health` are served; `None` when "off".
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate and key (reloaded when they
    /// change, as the SIP listeners' are); `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    data_dir: Spanned<PathBuf>,
    mode: Spanned<String>,
    commit_window_ms: Spanned<u64>,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            data_dir: unspanned(PathBuf::from("presenced-data")),
            mode: unspanned("durable".to_owned()),
            commit_window_ms: unspanned(2),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    listen: Spanned<String>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: unspanned("127.0.0.1:8088".to_owned()),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Parses an `[http] listen` value (also the `--http-listen` option):
/// an IP address with a port, or `off`.
pub fn parse_http_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        format!("{s:?} is not an IP address with a port (such as 127.0.0.1:8088) or \"off\"")
    })
}

impl Source<'_> {
    pub(super) fn store(&self, raw: RawStore) -> Result<StoreSettings, ConfigError> {
        if raw.data_dir.get_ref().as_os_str().is_empty() {
            return Err(self.error(
                raw.data_dir.span().start,
                "store.data_dir",
                "must not be empty",
            ));
        }
        let mode = match raw.mode.get_ref().as_str() {
            "durable" => StoreMode::Durable,
            "memory" => StoreMode::Memory,
            other => {
                return Err(self.error(
                    raw.mode.span().start,
                    "store.mode",
                    format!("{other:?} is not a mode (expected \"durable\" or \"memory\")"),
                ))
            }
        };
        let window = self.range("store.commit_window_ms", &raw.commit_window_ms, 0, 1000)?;
        Ok(StoreSettings {
            data_dir: self.path(&raw.data_dir),
            mode,
            commit_window: Duration::from_millis(window),
        })
    }

    pub(super) fn http(&self, raw: RawHttp) -> Result<HttpSettings, ConfigError> {
        let listen = parse_http_listen(raw.listen.get_ref())
            .map_err(|e| self.error(raw.listen.span().start, "http.listen", e))?;
        let tls = self.tls_files("http", &raw.tls_cert, &raw.tls_key)?;
        Ok(HttpSettings { listen, tls })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn https_needs_both_files_beside_the_config() {
        let c = parse("[http]\ntls_cert = \"web.pem\"\ntls_key = \"/keys/web.key\"\n").unwrap();
        let tls = c.http.tls.expect("tls on");
        assert_eq!(tls.cert, Path::new("/etc/presenced/web.pem"));
        assert_eq!(tls.key, Path::new("/keys/web.key"));
        assert_eq!(tls.client_ca, None);
        assert_eq!(Config::default().http.tls, None);
        let e = error("[http]\ntls_cert = \"web.pem\"\n");
        assert!(
            e.contains(":2:12: http.tls_cert: http.tls_key must be set too"),
            "{e}"
        );
        let e = error("[http]\ntls_key = \"web.key\"\n");
        assert!(
            e.contains("http.tls_key: http.tls_cert must be set too"),
            "{e}"
        );
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.store.data_dir, Path::new("presenced-data"));
        assert_eq!(c.store.mode, StoreMode::Durable);
        assert_eq!(c.store.commit_window, Duration::from_millis(2));
        assert_eq!(c.http.listen, Some("127.0.0.1:8088".parse().unwrap()));
        // With a file, the default directory sits beside it.
        let c = parse("[store]\n").unwrap();
        assert_eq!(c.store.data_dir, Path::new("/etc/presenced/presenced-data"));
    }

    #[test]
    fn values_are_read() {
        let c = parse(
            "[store]\ndata_dir = \"/var/lib/presenced\"\nmode = \"memory\"\ncommit_window_ms = 0\n\
             [http]\nlisten = \"[::1]:9000\"\n",
        )
        .unwrap();
        assert_eq!(c.store.data_dir, Path::new("/var/lib/presenced"));
        assert_eq!(c.store.mode, StoreMode::Memory);
        assert_eq!(c.store.commit_window, Duration::ZERO);
        assert_eq!(c.http.listen, Some("[::1]:9000".parse().unwrap()));
        let c = parse("[store]\ndata_dir = \"state\"\n[http]\nlisten = \"off\"\n").unwrap();
        assert_eq!(c.store.data_dir, Path::new("/etc/presenced/state"));
        assert_eq!(c.http.listen, None);
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(
            error("[store]\nmode = \"fast\"\n"),
            "/etc/presenced/presenced.toml:2:8: store.mode: \"fast\" is not a mode (expected \"durable\" or \"memory\")"
        );
        assert_eq!(
            error("[store]\ncommit_window_ms = 5000\n"),
            "/etc/presenced/presenced.toml:2:20: store.commit_window_ms: 5000 is out of range (0 to 1000)"
        );
        assert_eq!(
            error("[store]\ndata_dir = \"\"\n"),
            "/etc/presenced/presenced.toml:2:12: store.data_dir: must not be empty"
        );
        assert_eq!(
            error("\n[http]\nlisten = \"localhost:80\"\n"),
            "/etc/presenced/presenced.toml:3:10: http.listen: \"localhost:80\" is not an IP address with a port (such as 127.0.0.1:8088) or \"off\""
        );
        let e = error("[store]\ndir = \"x\"\n");
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:2:1: unknown field `dir`"),
            "{e}"
        );
    }

    #[test]
    fn http_listen_option() {
        assert_eq!(parse_http_listen("OFF"), Ok(None));
        assert_eq!(
            parse_http_listen("127.0.0.1:0"),
            Ok(Some("127.0.0.1:0".parse().unwrap()))
        );
        assert!(parse_http_listen("8088").is_err());
    }
}
