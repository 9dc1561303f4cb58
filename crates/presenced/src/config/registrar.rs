//! The `[registrar]` section: how long REGISTER bindings live (RFC 3261
//! §10.3) and how many one address-of-record may hold.
//!
//! Plain settings; the server turns them into `presence::RegistrarConfig`.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};

/// The `[registrar]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarSettings {
    /// A binding's expiry below this (and not 0) gets 423 + Min-Expires.
    pub min_expires: u32,
    /// A binding's expiry above this is granted this.
    pub max_expires: u32,
    /// A Contact with neither `expires` nor an Expires header gets this.
    pub default_expires: u32,
    /// A binding made over TCP/TLS ends this long after its connection
    /// closes, unless its client reconnects and refreshes it first.
    pub flow_grace: Duration,
    /// Bindings one AOR may hold.
    pub max_bindings_per_aor: usize,
}

/// Longest expiry accepted in the file: a day. A registration that lives
/// longer than this outlives any client that stopped refreshing it by far.
const MAX_EXPIRES: u32 = 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRegistrar {
    min_expires: Spanned<u32>,
    max_expires: Spanned<u32>,
    default_expires: Spanned<u32>,
    flow_grace_secs: Spanned<u64>,
    max_bindings_per_aor: Spanned<usize>,
}

impl Default for RawRegistrar {
    fn default() -> Self {
        let d = presence::RegistrarConfig::default();
        RawRegistrar {
            min_expires: unspanned(d.min_expires),
            max_expires: unspanned(d.max_expires),
            default_expires: unspanned(d.default_expires),
            flow_grace_secs: unspanned(d.flow_grace.as_secs()),
            max_bindings_per_aor: unspanned(d.max_bindings),
        }
    }
}

impl Source<'_> {
    pub(super) fn registrar(&self, raw: RawRegistrar) -> Result<RegistrarSettings, ConfigError> {
        let min = self.range("registrar.min_expires", &raw.min_expires, 1, MAX_EXPIRES)?;
        let max = self.range("registrar.max_expires", &raw.max_expires, min, MAX_EXPIRES)?;
        let default = self.range("registrar.default_expires", &raw.default_expires, min, max)?;
        let grace = self.range("registrar.flow_grace_secs", &raw.flow_grace_secs, 0, 3600)?;
        let max_bindings = self.range(
            "registrar.max_bindings_per_aor",
            &raw.max_bindings_per_aor,
            1,
            1000,
        )?;
        Ok(RegistrarSettings {
            min_expires: min,
            max_expires: max,
            default_expires: default,
            flow_grace: Duration::from_secs(grace),
            max_bindings_per_aor: max_bindings,
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
    fn defaults_are_the_registrars() {
        assert_eq!(
            Config::default().registrar,
            RegistrarSettings {
                min_expires: 60,
                max_expires: 7200,
                default_expires: 3600,
                flow_grace: Duration::from_secs(30),
                max_bindings_per_aor: 16,
            }
        );
    }

    #[test]
    fn values_are_read_and_checked_against_each_other() {
        let c = parse("[registrar]\nmin_expires = 5\nmax_expires = 12\ndefault_expires = 12\nflow_grace_secs = 0\nmax_bindings_per_aor = 2\n")
            .unwrap();
        assert_eq!(
            (
                c.registrar.min_expires,
                c.registrar.max_expires,
                c.registrar.default_expires
            ),
            (5, 12, 12)
        );
        assert_eq!(c.registrar.flow_grace, Duration::ZERO);
        assert_eq!(c.registrar.max_bindings_per_aor, 2);
        let e = parse("[registrar]\nmin_expires = 600\nmax_expires = 300\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/presenced/presenced.toml:3:15: registrar.max_expires: 300 is out of range (600 to 86400)"), "{e}");
        let e = parse("[registrar]\nttl = 1\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `ttl`"), "{e}");
    }
}
