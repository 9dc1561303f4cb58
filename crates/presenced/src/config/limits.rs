//! The `[limits]` section: flood limits per source address and per user
//! (see [`crate::flood`]).
//!
//! ```toml
//! [limits]
//! per_source_rate = 200     # requests/s from one address; 0 turns it off
//! per_source_burst = 400    # back to back
//! per_user_rate = 20        # requests/s of one user; 0 turns it off
//! per_user_burst = 200
//! exempt = ["127.0.0.0/8", "::1"]  # never limited (nor are trusted peers)
//! log_interval_secs = 10    # each source's refusals, per reason, logged once per interval
//! ```
//!
//! Loopback is exempt by default: a process on the server's own host
//! (a monitor, the load generator, a co-located proxy) is not the network
//! attacker these limits are for. Set `exempt = []` to limit it too.
//!
//! The defaults let a whole office behind one NAT address sign in at
//! once (a sign-in is a REGISTER, a few SUBSCRIBEs and a PUBLISH), and a
//! user without batched subscriptions subscribe to a 100-contact list in
//! one burst, while one address sending thousands of requests a second
//! gets 503s and then silence.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};
use crate::auth::Network;
use crate::flood::{FloodSettings, Rate};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLimits {
    per_source_rate: Spanned<u32>,
    per_source_burst: Spanned<u32>,
    per_user_rate: Spanned<u32>,
    per_user_burst: Spanned<u32>,
    exempt: Vec<Spanned<String>>,
    log_interval_secs: Spanned<u32>,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            per_source_rate: unspanned(200),
            per_source_burst: unspanned(400),
            per_user_rate: unspanned(20),
            per_user_burst: unspanned(200),
            exempt: ["127.0.0.0/8", "::1"]
                .map(|n| unspanned(n.to_owned()))
                .to_vec(),
            log_interval_secs: unspanned(10),
        }
    }
}

impl Source<'_> {
    pub(super) fn limits(&self, raw: RawLimits) -> Result<FloodSettings, ConfigError> {
        let per_source = self.rate(
            "limits.per_source",
            &raw.per_source_rate,
            &raw.per_source_burst,
        )?;
        let per_user = self.rate("limits.per_user", &raw.per_user_rate, &raw.per_user_burst)?;
        let mut exempt = Vec::with_capacity(raw.exempt.len());
        for entry in &raw.exempt {
            exempt.push(
                entry
                    .get_ref()
                    .parse::<Network>()
                    .map_err(|e| self.error(entry.span().start, "limits.exempt", e))?,
            );
        }
        let log_interval =
            self.range("limits.log_interval_secs", &raw.log_interval_secs, 1, 3600)?;
        Ok(FloodSettings {
            per_source,
            per_user,
            exempt,
            log_interval: Duration::from_secs(u64::from(log_interval)),
        })
    }

    /// A rate and its burst; a rate of 0 is no limit.
    fn rate(
        &self,
        field: &str,
        rate: &Spanned<u32>,
        burst: &Spanned<u32>,
    ) -> Result<Option<Rate>, ConfigError> {
        let per_second = self.range(&format!("{field}_rate"), rate, 0, 1_000_000)?;
        let Some(per_second) = NonZeroU32::new(per_second) else {
            return Ok(None);
        };
        let burst = self.range(&format!("{field}_burst"), burst, 1, 1_000_000)?;
        Ok(Some(Rate {
            per_second,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
    }

    #[test]
    fn defaults_limit_sources_and_users() {
        let l = Config::default().flood;
        let source = l.per_source.expect("per-source limit on by default");
        assert_eq!((source.per_second.get(), source.burst.get()), (200, 400));
        let user = l.per_user.expect("per-user limit on by default");
        assert_eq!((user.per_second.get(), user.burst.get()), (20, 200));
        assert!(l
            .exempt
            .iter()
            .any(|n| n.contains("127.0.0.1".parse().unwrap())));
        assert!(l.exempt.iter().any(|n| n.contains("::1".parse().unwrap())));
        assert!(!l
            .exempt
            .iter()
            .any(|n| n.contains("192.0.2.1".parse().unwrap())));
    }

    #[test]
    fn zero_turns_a_limit_off_and_exempt_networks_are_read() {
        let l = parse("[limits]\nper_source_rate = 0\nper_user_rate = 5\nper_user_burst = 1\nexempt = [\"10.0.0.0/8\"]\n")
            .unwrap()
            .flood;
        assert!(l.per_source.is_none());
        assert_eq!(l.per_user.unwrap().burst.get(), 1);
        assert!(l.exempt[0].contains("10.9.8.7".parse().unwrap()));
        assert_eq!(l.log_interval.as_secs(), 10);
        let l = parse("[limits]\nlog_interval_secs = 2\n").unwrap().flood;
        assert_eq!(l.log_interval.as_secs(), 2);
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let e = parse("[limits]\nper_user_burst = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:") && e.contains("limits.per_user_burst"),
            "{e}"
        );
        let e = parse("[limits]\nexempt = [\"nowhere\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.exempt") && e.contains("nowhere"), "{e}");
        let e = parse("[limits]\nlog_interval_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.log_interval_secs"), "{e}");
    }
}
