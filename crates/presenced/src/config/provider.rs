//! The `[provider]` section: presenced as the presence provider of seed
//! 004, holding one subscription per watched presentity on an upstream
//! presence server. Option names follow the seed's
//! `<PresenceProvider>` attributes so its users recognise them.
//!
//! Off unless `upstream` is set. The password is read from a file or the
//! environment, never from the config text, and is never printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use rules::sources::{SourceKind, Sources, SourcesError};

use super::{unspanned, ConfigError, Source, TransportKind};

/// The environment variable that may hold the upstream password.
pub const PASSWORD_ENV: &str = "PRESENCED_PROVIDER_PASSWORD";

/// The `[provider]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// The upstream presence server; `None` turns the provider off.
    pub upstream: Option<UpstreamSpec>,
    /// The From of every upstream SUBSCRIBE.
    pub from: sip::Uri,
    /// Digest credentials toward the upstream, when it challenges.
    pub credentials: Option<UpstreamCredentials>,
    /// Only presentities in these domains are subscribed upstream (lower
    /// case); empty: every watched presentity.
    pub domains: Vec<String>,
    /// The provider's rules (throttle, retries, linger, Expires).
    pub rules: presence::provider::Settings,
    /// Which source serves each presentity (seed 004: attendant
    /// patterns, E.164 lines, the upstream as the fallback).
    pub sources: rules::sources::Sources,
    /// How a `tls:` upstream is verified and whether we present a
    /// certificate; `None` for udp and tcp.
    pub tls: Option<UpstreamTls>,
}

/// TLS toward the upstream: its certificate is verified against a CA we
/// name (an internal UC server's CA is rarely a public one), for the
/// configured host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `provider.tls_ca_file`: PEM CA certificates the upstream's
    /// certificate must chain to.
    pub ca_file: PathBuf,
    /// `provider.tls_client_certificate`: present `[sip]`'s
    /// `tls_cert`/`tls_key` to an upstream that asks (mutual TLS).
    pub client_certificate: bool,
}

/// Where the upstream presence server is: `udp:host:port`,
/// `tcp:host:port` or `tls:host:port`, the host an IP address (IPv6 in
/// brackets) or a DNS name. A name is kept as
/// written so that it is resolved when presenced starts, not when the
/// config is read (a reload check must not depend on DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// The transport.
    pub transport: TransportKind,
    /// The host: an IP address or a DNS name, without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// Why an upstream was refused; the text is shown to whoever wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamSpecError {
    /// Not `transport:host:port`.
    #[error("{0:?} must look like udp:upstream.example.com:5060, tcp:192.0.2.10:5060 or tls:[2001:db8::1]:5061")]
    Shape(String),
    /// A prefix other than udp, tcp or tls.
    #[error("unknown transport {0:?} (expected udp, tcp or tls)")]
    Transport(String),
    /// A host that is neither an IP address nor a DNS name.
    #[error("{0:?} is neither an IP address nor a host name")]
    Host(String),
    /// A port that is not 1–65535.
    #[error("{0:?} is not a port (1-65535)")]
    Port(String),
}

impl std::str::FromStr for UpstreamSpec {
    type Err = UpstreamSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || UpstreamSpecError::Shape(s.to_owned());
        let (transport, rest) = s.split_once(':').ok_or_else(shape)?;
        let transport = match transport.to_ascii_lowercase().as_str() {
            "udp" => TransportKind::Udp,
            "tcp" => TransportKind::Tcp,
            "tls" => TransportKind::Tls,
            _ => return Err(UpstreamSpecError::Transport(transport.to_owned())),
        };
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, port) = v6.split_once("]:").ok_or_else(shape)?;
                host.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| UpstreamSpecError::Host(host.to_owned()))?;
                (host, port)
            }
            None => rest.rsplit_once(':').ok_or_else(shape)?,
        };
        let is_name = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        };
        if !rest.starts_with('[') && host.parse::<std::net::IpAddr>().is_err() && !is_name(host) {
            return Err(UpstreamSpecError::Host(host.to_owned()));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| UpstreamSpecError::Port(port.to_owned()))?;
        Ok(UpstreamSpec {
            transport,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for UpstreamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}:[{}]:{}", self.transport, self.host, self.port)
        } else {
            write!(f, "{}:{}:{}", self.transport, self.host, self.port)
        }
    }
}

/// A username and its password; the password is not shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamCredentials {
    /// The digest username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl ProviderSettings {
    /// Whether `presentity` (an address of record) is the provider's: in
    /// its domains. Which of its sources serves it is
    /// [`ProviderSettings::source_of`]'s answer.
    pub fn covers(&self, presentity: &str) -> bool {
        if self.domains.is_empty() {
            return true;
        }
        let host = presentity
            .rsplit_once('@')
            .map_or(presentity, |(_, host)| host)
            .to_ascii_lowercase();
        self.domains.contains(&host)
    }

    /// The source that serves `presentity`, if the provider covers it.
    pub fn source_of(&self, presentity: &sip::Uri) -> Option<SourceKind> {
        if !self.covers(&presentity.aor()) {
            return None;
        }
        self.sources.source_of(presentity)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProvider {
    upstream: Spanned<String>,
    from: Spanned<String>,
    username: Spanned<String>,
    password_file: Option<Spanned<PathBuf>>,
    domains: Spanned<Vec<String>>,
    max_presence_subscriptions_per_second: Spanned<u32>,
    failed_presence_subscriptions_resubscribe_delay: Spanned<u64>,
    max_failed_presence_subscriptions_per_uri: Spanned<u32>,
    linger_secs: Spanned<u64>,
    expires: Spanned<u32>,
    attendant_service_source: RawAttendantSource,
    pstn_presence_source: RawSource,
    upstream_presence_source: RawSource,
    tls_ca_file: Option<Spanned<PathBuf>>,
    tls_client_certificate: Spanned<bool>,
}

/// `[provider.attendant_service_source]` (seed: `AttendantServiceSource`
/// with its `<Match pattern>` elements).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAttendantSource {
    enabled: Spanned<bool>,
    patterns: Vec<Spanned<String>>,
}

impl Default for RawAttendantSource {
    fn default() -> Self {
        RawAttendantSource {
            enabled: unspanned(true),
            patterns: Vec::new(),
        }
    }
}

/// `[provider.pstn_presence_source]` and
/// `[provider.upstream_presence_source]`: only `enabled`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSource {
    enabled: Spanned<bool>,
}

impl Default for RawSource {
    fn default() -> Self {
        RawSource {
            enabled: unspanned(true),
        }
    }
}

impl Default for RawProvider {
    fn default() -> Self {
        let d = presence::provider::Settings::default();
        RawProvider {
            upstream: unspanned(String::new()),
            from: unspanned("sip:presenced@localhost".to_owned()),
            username: unspanned(String::new()),
            password_file: None,
            domains: unspanned(Vec::new()),
            max_presence_subscriptions_per_second: unspanned(d.max_subscriptions_per_second),
            failed_presence_subscriptions_resubscribe_delay: unspanned(
                d.resubscribe_delay.as_secs(),
            ),
            max_failed_presence_subscriptions_per_uri: unspanned(d.max_failed_per_uri),
            linger_secs: unspanned(d.linger.as_secs()),
            expires: unspanned(d.subscription.expires),
            attendant_service_source: RawAttendantSource::default(),
            pstn_presence_source: RawSource::default(),
            upstream_presence_source: RawSource::default(),
            tls_ca_file: None,
            tls_client_certificate: unspanned(false),
        }
    }
}

impl Source<'_> {
    /// The `[provider]` section; `listener_cert` says whether `[sip]` has
    /// a certificate that `tls_client_certificate` could present.
    pub(super) fn provider(
        &self,
        raw: RawProvider,
        listener_cert: bool,
    ) -> Result<ProviderSettings, ConfigError> {
        let upstream = match raw.upstream.get_ref().trim() {
            "" => None,
            text => {
                let at = raw.upstream.span().start;
                let spec: UpstreamSpec = text
                    .parse()
                    .map_err(|e| self.error(at, "provider.upstream", format!("{e}")))?;
                Some(spec)
            }
        };
        let from = sip::Uri::parse_str(raw.from.get_ref()).map_err(|e| {
            self.error(
                raw.from.span().start,
                "provider.from",
                format!("not a SIP URI: {e}"),
            )
        })?;
        let username = raw.username.get_ref().trim().to_owned();
        let credentials = if username.is_empty() {
            None
        } else {
            let password = self
                .secret(
                    raw.password_file.as_ref(),
                    "provider.password_file",
                    PASSWORD_ENV,
                )?
                .ok_or_else(|| {
                    self.error(
                        raw.username.span().start,
                        "provider.username",
                        format!(
                            "needs provider.password_file or {PASSWORD_ENV} in the environment"
                        ),
                    )
                })?;
            Some(UpstreamCredentials { username, password })
        };
        let mut domains = Vec::new();
        for d in raw.domains.get_ref() {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() || d.contains(['@', ':', ' ']) {
                return Err(self.error(
                    raw.domains.span().start,
                    "provider.domains",
                    format!("{d:?} is not a domain name"),
                ));
            }
            domains.push(d);
        }
        let rate = self.range(
            "provider.max_presence_subscriptions_per_second",
            &raw.max_presence_subscriptions_per_second,
            1,
            10_000,
        )?;
        let delay = self.range(
            "provider.failed_presence_subscriptions_resubscribe_delay",
            &raw.failed_presence_subscriptions_resubscribe_delay,
            1,
            86_400,
        )?;
        let failures = self.range(
            "provider.max_failed_presence_subscriptions_per_uri",
            &raw.max_failed_presence_subscriptions_per_uri,
            0,
            1_000,
        )?;
        let linger = self.range("provider.linger_secs", &raw.linger_secs, 0, 3_600)?;
        let expires = self.range("provider.expires", &raw.expires, 60, 86_400)?;
        let sources = self.sources(&raw)?;
        let tls = self.upstream_tls(&raw, upstream.as_ref(), listener_cert)?;
        Ok(ProviderSettings {
            tls,
            sources,
            upstream,
            from,
            credentials,
            domains,
            rules: presence::provider::Settings {
                max_subscriptions_per_second: rate,
                resubscribe_delay: Duration::from_secs(delay),
                max_failed_per_uri: failures,
                linger: Duration::from_secs(linger),
                subscription: presence::subscriber::Settings {
                    expires,
                    ..presence::subscriber::Settings::default()
                },
            },
        })
    }
}

impl Source<'_> {
    /// `tls_ca_file` and `tls_client_certificate`: required and allowed
    /// only for a `tls:` upstream, so a setting that would be ignored is
    /// refused instead.
    fn upstream_tls(
        &self,
        raw: &RawProvider,
        upstream: Option<&UpstreamSpec>,
        listener_cert: bool,
    ) -> Result<Option<UpstreamTls>, ConfigError> {
        let is_tls = upstream.is_some_and(|u| u.transport == TransportKind::Tls);
        let client_certificate = *raw.tls_client_certificate.get_ref();
        if !is_tls {
            if let Some(ca) = &raw.tls_ca_file {
                return Err(self.error(
                    ca.span().start,
                    "provider.tls_ca_file",
                    "only for a tls: upstream",
                ));
            }
            if client_certificate {
                return Err(self.error(
                    raw.tls_client_certificate.span().start,
                    "provider.tls_client_certificate",
                    "only for a tls: upstream",
                ));
            }
            return Ok(None);
        }
        let Some(ca) = &raw.tls_ca_file else {
            return Err(self.error(
                raw.upstream.span().start,
                "provider.tls_ca_file",
                "a tls: upstream needs the CA its certificate is verified against",
            ));
        };
        if client_certificate && !listener_cert {
            return Err(self.error(
                raw.tls_client_certificate.span().start,
                "provider.tls_client_certificate",
                "needs sip.tls_cert and sip.tls_key (the certificate presented)",
            ));
        }
        Ok(Some(UpstreamTls {
            ca_file: self.path(ca),
            client_certificate,
        }))
    }

    /// The sources, refused (with the line of the pattern, or of the
    /// upstream source's `enabled`) when a pattern does not compile or a
    /// URI would be left with no source.
    fn sources(&self, raw: &RawProvider) -> Result<Sources, ConfigError> {
        let attendant = &raw.attendant_service_source;
        let patterns: Vec<String> = attendant
            .patterns
            .iter()
            .map(|p| p.get_ref().clone())
            .collect();
        let enabled = *attendant.enabled.get_ref();
        Sources::new(
            enabled.then_some(patterns.as_slice()),
            *raw.pstn_presence_source.enabled.get_ref(),
            *raw.upstream_presence_source.enabled.get_ref(),
        )
        .map_err(|e| match &e {
            SourcesError::Pattern { index, .. } => self.error(
                attendant.patterns.get(*index).map_or(0, |p| p.span().start),
                &format!("provider.attendant_service_source.patterns[{index}]"),
                e.to_string(),
            ),
            SourcesError::Uncovered => self.error(
                raw.upstream_presence_source.enabled.span().start,
                "provider.upstream_presence_source.enabled",
                e.to_string(),
            ),
        })
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

    #[test]
    fn off_by_default_with_the_seeds_numbers() {
        let p = Config::default().provider;
        assert_eq!(p.upstream, None);
        assert_eq!(p.rules.max_subscriptions_per_second, 15);
        assert_eq!(p.rules.resubscribe_delay, Duration::from_secs(900));
        assert_eq!(p.rules.max_failed_per_uri, 3);
        assert!(p.covers("sip:anyone@anywhere.example"));
    }

    #[test]
    fn upstream_credentials_and_domains_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("upstream.pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = format!(
            "[provider]\nupstream = \"udp:127.0.0.1:5080\"\nfrom = \"sip:pp@lab.test\"\n\
             username = \"pp\"\npassword_file = \"{}\"\ndomains = [\"Lab.Test\"]\n\
             max_failed_presence_subscriptions_per_uri = 0\n",
            secret.display()
        );
        let p = parse(&text).unwrap().provider;
        assert_eq!(p.upstream.as_ref().unwrap().port, 5080);
        let creds = p.credentials.clone().unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("pp", "s3cret")
        );
        assert!(
            !format!("{p:?}").contains("s3cret"),
            "the password is never shown"
        );
        assert_eq!(p.rules.max_failed_per_uri, 0);
        assert!(p.covers("sip:alice@lab.test"));
        assert!(!p.covers("sip:room@vc.example.com"));
    }

    #[test]
    fn upstreams_are_addresses_or_names() {
        let spec = |t: &str| t.parse::<UpstreamSpec>();
        let name = spec("udp:UC.Example.com:5060").unwrap();
        assert_eq!((name.host.as_str(), name.port), ("uc.example.com", 5060));
        assert_eq!(name.to_string(), "udp:uc.example.com:5060");
        let v6 = spec("udp:[::1]:5080").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.to_string().as_str()),
            ("::1", "udp:[::1]:5080")
        );
        assert_eq!(spec("udp:127.0.0.1:5080").unwrap().host, "127.0.0.1");
        assert_eq!(spec("tcp:uc:5060").unwrap().transport, TransportKind::Tcp);
        assert!(matches!(
            spec("uc.example.com"),
            Err(UpstreamSpecError::Shape(_))
        ));
        assert!(matches!(
            spec("sctp:uc:5060"),
            Err(UpstreamSpecError::Transport(_))
        ));
        assert!(matches!(
            spec("udp:uc_1:5060"),
            Err(UpstreamSpecError::Host(_))
        ));
        assert!(matches!(
            spec("udp:[nope]:5060"),
            Err(UpstreamSpecError::Host(_))
        ));
        assert!(matches!(spec("udp:uc:0"), Err(UpstreamSpecError::Port(_))));
        assert!(matches!(
            spec("udp:uc:99999"),
            Err(UpstreamSpecError::Port(_))
        ));
        let e = parse("[provider]\nupstream = \"udp:-bad-:5080\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:2:12: provider.upstream: \"-bad-\""),
            "{e}"
        );
    }

    #[test]
    fn tcp_and_tls_upstreams_are_accepted() {
        let p = parse("[provider]\nupstream = \"tcp:127.0.0.1:5080\"\n")
            .unwrap()
            .provider;
        assert_eq!(p.upstream.unwrap().transport, TransportKind::Tcp);
        assert_eq!(p.tls, None);
        let p = parse(
            "[sip]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
             [provider]\nupstream = \"tls:uc.example.com:5061\"\ntls_ca_file = \"uc-ca.pem\"\n\
             tls_client_certificate = true\n",
        )
        .unwrap()
        .provider;
        assert_eq!(p.upstream.unwrap().to_string(), "tls:uc.example.com:5061");
        assert_eq!(
            p.tls,
            Some(UpstreamTls {
                ca_file: "/etc/presenced/uc-ca.pem".into(),
                client_certificate: true,
            })
        );
    }

    #[test]
    fn bad_values_name_the_field_and_line() {
        let e = parse("[provider]\nupstream = \"tls:127.0.0.1:5081\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/presenced/presenced.toml:2:12: provider.tls_ca_file: a tls: upstream needs"
            ),
            "{e}"
        );
        let e = parse("[provider]\nupstream = \"tcp:127.0.0.1:5080\"\ntls_ca_file = \"ca.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:3:15: provider.tls_ca_file: only for a tls: upstream"),
            "{e}"
        );
        let e = parse("[provider]\nupstream = \"tls:uc.example.com:5061\"\ntls_ca_file = \"ca.pem\"\ntls_client_certificate = true\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("provider.tls_client_certificate: needs sip.tls_cert and sip.tls_key"),
            "{e}"
        );
        let e = parse("[provider]\nmax_presence_subscriptions_per_second = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("provider.max_presence_subscriptions_per_second: 0 is out of range"),
            "{e}"
        );
        let e = parse("[provider]\nupstream = \"udp:127.0.0.1:5080\"\nusername = \"pp\"\npassword_file = \"/nonexistent/pw\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("provider.password_file: cannot read /nonexistent/pw"),
            "{e}"
        );
    }

    #[test]
    fn seed_004s_imported_xml_passes_the_checks() {
        for xml in [
            include_str!("../../../rules/tests/vectors/seed004_presence_provider.xml"),
            include_str!("../../../rules/tests/vectors/seed004_presence_provider_filled.xml"),
        ] {
            let import = rules::import::provider::import(xml).unwrap();
            let config = parse(&import.toml).unwrap_or_else(|e| panic!("{e}\n{}", import.toml));
            assert_eq!(config.provider.upstream, None, "upstream is set by hand");
        }
        let import = rules::import::provider::import(include_str!(
            "../../../rules/tests/vectors/seed004_presence_provider_filled.xml"
        ))
        .unwrap();
        let p = parse(&import.toml).unwrap().provider;
        assert_eq!(p.rules.max_subscriptions_per_second, 10);
        assert_eq!(p.rules.resubscribe_delay, Duration::from_secs(60));
        assert_eq!(p.from.to_string(), "sip:ucc_app14_presence@contoso.com");
        let uri = |s: &str| sip::Uri::parse_str(s).unwrap();
        assert_eq!(
            p.source_of(&uri("sip:attendant.desk1@contoso.com")),
            Some(SourceKind::Attendant)
        );
        // PSTN is off in that file: a line falls back to the upstream.
        assert_eq!(
            p.source_of(&uri("tel:+31612345678")),
            Some(SourceKind::Upstream)
        );
    }

    #[test]
    fn sources_are_read_in_the_seeds_order() {
        let text = "[provider]\nupstream = \"udp:127.0.0.1:5080\"\n\
            [provider.attendant_service_source]\npatterns = [\"^sip:attendant\\\\.\"]\n\
            [provider.pstn_presence_source]\nenabled = true\n";
        let p = parse(text).unwrap().provider;
        let uri = |s: &str| sip::Uri::parse_str(s).unwrap();
        assert_eq!(
            p.source_of(&uri("sip:attendant.desk@example.com")),
            Some(SourceKind::Attendant)
        );
        assert_eq!(
            p.source_of(&uri("tel:+31612345678")),
            Some(SourceKind::Pstn)
        );
        assert_eq!(
            p.source_of(&uri("sip:bob@example.com")),
            Some(SourceKind::Upstream)
        );
    }

    #[test]
    fn a_uri_without_a_source_is_refused_with_file_line_and_field() {
        let e = parse(
            "[provider]\n[provider.attendant_service_source]\npatterns = [\"^sip:att\"]\n\
             [provider.upstream_presence_source]\nenabled = false\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "/etc/presenced/presenced.toml:5:11: provider.upstream_presence_source.enabled: \
                 with the upstream source disabled, a URI that matches no attendant pattern"
            ),
            "{e}"
        );
        let e = parse("[provider.attendant_service_source]\npatterns = [\"ok\", \"(\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/presenced/presenced.toml:2:19: provider.attendant_service_source.patterns[1]: \
                 pattern 1 (\"(\") is not a valid regex"
            ),
            "{e}"
        );
    }
}
