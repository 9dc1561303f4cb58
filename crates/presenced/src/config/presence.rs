//! The `[presence]` and `[presence.authorization]` sections: expiry
//! bounds, limits, and who may watch whom.
//!
//! These are plain settings; the server turns them into the engine's
//! configuration (`presence::EngineConfig`), so this file does not depend
//! on engine types.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};

/// What a SUBSCRIBE to a presentity nobody published gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPresentityPolicy {
    /// 200 and a closed (offline) document, so presentities are not
    /// enumerable by probing.
    Closed,
    /// 404, unless published or provisioned.
    Reject,
}

/// What a watcher not on the allow list gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlistedWatchers {
    /// 403.
    Reject,
    /// 200 and a pending subscription, awaiting approval.
    Pending,
}

/// Who may subscribe to whose presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationPolicy {
    /// Anybody.
    AllowAll,
    /// Watchers in the presentity's own domain.
    SameDomain,
    /// Watchers on the list; the rest per `unlisted`.
    AllowList {
        /// AORs (`sip:bob@example.com`, normalized) or domains
        /// (`@example.com`, lowercased).
        allow: Vec<String>,
        /// What the others get.
        unlisted: UnlistedWatchers,
    },
}

/// The `[presence]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceSettings {
    /// SUBSCRIBE Expires below this (and not 0) gets 423 + Min-Expires.
    pub subscribe_min_expires: u32,
    /// SUBSCRIBE Expires above this is granted this.
    pub subscribe_max_expires: u32,
    /// SUBSCRIBE without Expires gets this.
    pub subscribe_default_expires: u32,
    /// PUBLISH Expires below this (and not 0) gets 423 + Min-Expires.
    pub publish_min_expires: u32,
    /// PUBLISH Expires above this is granted this.
    pub publish_max_expires: u32,
    /// PUBLISH without Expires gets this.
    pub publish_default_expires: u32,
    /// Subscriptions one watcher may hold at once.
    pub max_subscriptions_per_watcher: usize,
    /// Publications one presentity may have at once (its devices and
    /// integrations); a PUBLISH past it gets 403 "Too many publications".
    pub max_publications_per_presentity: usize,
    /// A publication made over TCP/TLS ends this long after its connection
    /// closes.
    pub flow_grace: Duration,
    /// What a subscription to an unknown presentity gets.
    pub unknown_presentity: UnknownPresentityPolicy,
    /// Presentity AORs known without any publication (normalized).
    pub provisioned: Vec<String>,
    /// Who may watch.
    pub authorization: AuthorizationPolicy,
    /// The user-part suffix that makes a user's URI its contact list's
    /// URI (RFC 4662 list subscriptions); empty for none.
    pub contact_list_suffix: String,
}

/// Longest Expires accepted in the file: a year. SIP allows 2^32-1, but a
/// subscription living longer than this is a configuration mistake.
const MAX_EXPIRES: u32 = 31_536_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPresence {
    subscribe_min_expires: Spanned<u32>,
    subscribe_max_expires: Spanned<u32>,
    subscribe_default_expires: Spanned<u32>,
    publish_min_expires: Spanned<u32>,
    publish_max_expires: Spanned<u32>,
    publish_default_expires: Spanned<u32>,
    max_subscriptions_per_watcher: Spanned<usize>,
    max_publications_per_presentity: Spanned<usize>,
    flow_grace_secs: Spanned<u64>,
    unknown_presentity: Spanned<String>,
    provisioned: Vec<Spanned<String>>,
    contact_list_suffix: Spanned<String>,
    authorization: RawAuthorization,
}

impl Default for RawPresence {
    fn default() -> Self {
        RawPresence {
            subscribe_min_expires: unspanned(60),
            subscribe_max_expires: unspanned(3600),
            subscribe_default_expires: unspanned(3600),
            publish_min_expires: unspanned(60),
            publish_max_expires: unspanned(3600),
            publish_default_expires: unspanned(3600),
            max_subscriptions_per_watcher: unspanned(1000),
            max_publications_per_presentity: unspanned(
                presence::PublicationConfig::default().max_per_presentity,
            ),
            flow_grace_secs: unspanned(30),
            unknown_presentity: unspanned("closed".to_owned()),
            provisioned: Vec::new(),
            contact_list_suffix: unspanned("-contacts".to_owned()),
            authorization: RawAuthorization::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    #[serde(default = "allow_all")]
    policy: Spanned<String>,
    /// Options so that setting them with another policy can be reported.
    #[serde(default)]
    allow: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    unlisted: Option<Spanned<String>>,
}

fn allow_all() -> Spanned<String> {
    unspanned("allow_all".to_owned())
}

impl Default for RawAuthorization {
    fn default() -> Self {
        RawAuthorization {
            policy: allow_all(),
            allow: None,
            unlisted: None,
        }
    }
}

impl Source<'_> {
    pub(super) fn presence(&self, raw: RawPresence) -> Result<PresenceSettings, ConfigError> {
        let (subscribe_min_expires, subscribe_max_expires, subscribe_default_expires) = self
            .expires(
                "presence.subscribe",
                &raw.subscribe_min_expires,
                &raw.subscribe_max_expires,
                &raw.subscribe_default_expires,
            )?;
        let (publish_min_expires, publish_max_expires, publish_default_expires) = self.expires(
            "presence.publish",
            &raw.publish_min_expires,
            &raw.publish_max_expires,
            &raw.publish_default_expires,
        )?;
        let max_subscriptions_per_watcher = self.range(
            "presence.max_subscriptions_per_watcher",
            &raw.max_subscriptions_per_watcher,
            1,
            1_000_000,
        )?;
        let max_publications_per_presentity = self.range(
            "presence.max_publications_per_presentity",
            &raw.max_publications_per_presentity,
            1,
            10_000,
        )?;
        let flow_grace = self.range("presence.flow_grace_secs", &raw.flow_grace_secs, 0, 3600)?;
        let unknown_presentity = match raw.unknown_presentity.get_ref().as_str() {
            "closed" => UnknownPresentityPolicy::Closed,
            "reject" => UnknownPresentityPolicy::Reject,
            other => {
                return Err(self.error(
                    raw.unknown_presentity.span().start,
                    "presence.unknown_presentity",
                    format!("{other:?} is not a policy (expected \"closed\" or \"reject\")"),
                ))
            }
        };
        let provisioned = raw
            .provisioned
            .iter()
            .map(|entry| self.aor("presence.provisioned", entry))
            .collect::<Result<_, _>>()?;
        let contact_list_suffix = self.list_suffix(&raw.contact_list_suffix)?;
        Ok(PresenceSettings {
            subscribe_min_expires,
            subscribe_max_expires,
            subscribe_default_expires,
            publish_min_expires,
            publish_max_expires,
            publish_default_expires,
            max_subscriptions_per_watcher,
            max_publications_per_presentity,
            flow_grace: Duration::from_secs(flow_grace),
            unknown_presentity,
            provisioned,
            authorization: self.authorization(raw.authorization)?,
            contact_list_suffix,
        })
    }

    /// A list-URI suffix: empty, or up to 32 characters that a SIP user
    /// part holds without escaping and that cannot end it (letters,
    /// digits, `-`, `_`, `.`, `+`, `~`).
    fn list_suffix(&self, raw: &Spanned<String>) -> Result<String, ConfigError> {
        let suffix = raw.get_ref();
        let valid = suffix.len() <= 32
            && suffix.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'~')
            });
        if !valid {
            return Err(self.error(
                raw.span().start,
                "presence.contact_list_suffix",
                format!(
                    "{suffix:?} is not a user-part suffix (at most 32 of letters, digits, \"-_.+~\")"
                ),
            ));
        }
        Ok(suffix.clone())
    }

    /// min >= 1, max >= min, min <= default <= max, for `{prefix}_*_expires`.
    fn expires(
        &self,
        prefix: &str,
        min: &Spanned<u32>,
        max: &Spanned<u32>,
        default: &Spanned<u32>,
    ) -> Result<(u32, u32, u32), ConfigError> {
        let min = self.range(&format!("{prefix}_min_expires"), min, 1, MAX_EXPIRES)?;
        let max = self.range(&format!("{prefix}_max_expires"), max, min, MAX_EXPIRES)?;
        let default = self.range(&format!("{prefix}_default_expires"), default, min, max)?;
        Ok((min, max, default))
    }

    /// A SIP or tel URI, as the AOR that names a presentity.
    pub(super) fn aor(&self, field: &str, entry: &Spanned<String>) -> Result<String, ConfigError> {
        let text = entry.get_ref();
        let invalid = |why: String| self.error(entry.span().start, field, why);
        let uri = sip::Uri::parse_str(text)
            .map_err(|e| invalid(format!("{text:?} is not a URI: {e}")))?;
        if uri.scheme() == sip::uri::Scheme::Other {
            return Err(invalid(format!(
                "{text:?} is not a sip:, sips: or tel: URI"
            )));
        }
        Ok(uri.aor())
    }

    fn authorization(&self, raw: RawAuthorization) -> Result<AuthorizationPolicy, ConfigError> {
        const FIELD: &str = "presence.authorization.policy";
        let policy = raw.policy.get_ref().as_str();
        if policy != "allow_list" {
            let stray = raw
                .allow
                .as_ref()
                .map(|a| ("presence.authorization.allow", a.span().start))
                .or_else(|| {
                    let u = raw.unlisted.as_ref()?;
                    Some(("presence.authorization.unlisted", u.span().start))
                });
            if let Some((field, at)) = stray {
                return Err(self.error(at, field, "is used only with policy = \"allow_list\""));
            }
        }
        Ok(match policy {
            "allow_all" => AuthorizationPolicy::AllowAll,
            "same_domain" => AuthorizationPolicy::SameDomain,
            "allow_list" => {
                let mut allow = Vec::new();
                for entry in raw.allow.iter().flat_map(|a| a.get_ref()) {
                    allow.push(self.allowed("presence.authorization.allow", entry)?);
                }
                let unlisted = match raw.unlisted.as_ref() {
                    None => UnlistedWatchers::Reject,
                    Some(u) => match u.get_ref().as_str() {
                        "reject" => UnlistedWatchers::Reject,
                        "pending" => UnlistedWatchers::Pending,
                        other => {
                            return Err(self.error(
                                u.span().start,
                                "presence.authorization.unlisted",
                                format!("{other:?} is not a choice (expected \"reject\" or \"pending\")"),
                            ))
                        }
                    },
                };
                AuthorizationPolicy::AllowList { allow, unlisted }
            }
            other => {
                return Err(self.error(
                    raw.policy.span().start,
                    FIELD,
                    format!(
                        "{other:?} is not a policy (expected \"allow_all\", \"same_domain\" or \"allow_list\")"
                    ),
                ))
            }
        })
    }

    /// An allow-list entry: `@domain` or a watcher's URI.
    pub(super) fn allowed(
        &self,
        field: &str,
        entry: &Spanned<String>,
    ) -> Result<String, ConfigError> {
        match entry.get_ref().strip_prefix('@') {
            Some(domain) => {
                let valid = !domain.is_empty()
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
                if !valid {
                    return Err(self.error(
                        entry.span().start,
                        field,
                        format!(
                            "{:?} is not a domain such as \"@example.com\"",
                            entry.get_ref()
                        ),
                    ));
                }
                Ok(format!("@{}", domain.to_ascii_lowercase()))
            }
            None => self.aor(field, entry),
        }
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
    fn defaults() {
        let p = Config::default().presence;
        assert_eq!(
            p,
            PresenceSettings {
                subscribe_min_expires: 60,
                subscribe_max_expires: 3600,
                subscribe_default_expires: 3600,
                publish_min_expires: 60,
                publish_max_expires: 3600,
                publish_default_expires: 3600,
                max_subscriptions_per_watcher: 1000,
                max_publications_per_presentity: 32,
                flow_grace: Duration::from_secs(30),
                unknown_presentity: UnknownPresentityPolicy::Closed,
                provisioned: Vec::new(),
                authorization: AuthorizationPolicy::AllowAll,
                contact_list_suffix: "-contacts".to_owned(),
            }
        );
    }

    #[test]
    fn values_are_read_and_normalized() {
        let c = parse(
            "[presence]\nsubscribe_min_expires = 30\nsubscribe_max_expires = 7200\n\
             subscribe_default_expires = 600\npublish_default_expires = 120\n\
             max_subscriptions_per_watcher = 5\nflow_grace_secs = 0\n\
             unknown_presentity = \"reject\"\n\
             provisioned = [\"sip:Room1@Example.COM;transport=tcp\", \"tel:+31-6-1234-5678\"]\n\
             [presence.authorization]\npolicy = \"allow_list\"\n\
             allow = [\"@Example.com\", \"sip:bob@example.com:5060\"]\nunlisted = \"pending\"\n",
        )
        .unwrap()
        .presence;
        let expires = (
            c.subscribe_min_expires,
            c.subscribe_max_expires,
            c.subscribe_default_expires,
        );
        assert_eq!(expires, (30, 7200, 600));
        assert_eq!(c.publish_default_expires, 120);
        assert_eq!(c.max_subscriptions_per_watcher, 5);
        assert_eq!(c.flow_grace, Duration::ZERO);
        assert_eq!(c.unknown_presentity, UnknownPresentityPolicy::Reject);
        assert_eq!(c.provisioned, ["sip:Room1@example.com", "tel:+31612345678"]);
        assert_eq!(
            c.authorization,
            AuthorizationPolicy::AllowList {
                allow: vec!["@example.com".into(), "sip:bob@example.com".into()],
                unlisted: UnlistedWatchers::Pending,
            }
        );
        let c = parse("[presence]\ncontact_list_suffix = \"\"\n").unwrap();
        assert_eq!(c.presence.contact_list_suffix, "", "empty: no list URIs");
        let c = parse("[presence]\ncontact_list_suffix = \"+buddies\"\n").unwrap();
        assert_eq!(c.presence.contact_list_suffix, "+buddies");
        let c = parse("[presence.authorization]\npolicy = \"same_domain\"\n").unwrap();
        assert_eq!(c.presence.authorization, AuthorizationPolicy::SameDomain);
        let c = parse("[presence.authorization]\npolicy = \"allow_list\"\n").unwrap();
        assert_eq!(
            c.presence.authorization,
            AuthorizationPolicy::AllowList {
                allow: Vec::new(),
                unlisted: UnlistedWatchers::Reject
            }
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        const FILE: &str = "/etc/presenced/presenced.toml";
        let cases = [
            (
                "[presence]\nsubscribe_min_expires = 0\n",
                ":2:25: presence.subscribe_min_expires: 0 is out of range (1 to 31536000)",
            ),
            (
                "[presence]\nsubscribe_min_expires = 600\nsubscribe_max_expires = 300\n",
                ":3:25: presence.subscribe_max_expires: 300 is out of range (600 to 31536000)",
            ),
            (
                "[presence]\npublish_default_expires = 7200\n",
                ":2:27: presence.publish_default_expires: 7200 is out of range (60 to 3600)",
            ),
            (
                "[presence]\nmax_subscriptions_per_watcher = 0\n",
                ":2:33: presence.max_subscriptions_per_watcher: 0 is out of range (1 to 1000000)",
            ),
            (
                "[presence]\nflow_grace_secs = 7200\n",
                ":2:19: presence.flow_grace_secs: 7200 is out of range (0 to 3600)",
            ),
            (
                "[presence]\ncontact_list_suffix = \";list\"\n",
                ":2:23: presence.contact_list_suffix: \";list\" is not a user-part suffix (at most 32 of letters, digits, \"-_.+~\")",
            ),
            (
                "[presence]\nunknown_presentity = \"hide\"\n",
                ":2:22: presence.unknown_presentity: \"hide\" is not a policy (expected \"closed\" or \"reject\")",
            ),
            (
                "[presence]\nprovisioned = [\n  \"sip:a@example.com\",\n  \"alice\",\n]\n",
                ":4:3: presence.provisioned: \"alice\" is not a URI: missing or malformed URI scheme",
            ),
            (
                "[presence]\nprovisioned = [\"mailto:a@example.com\"]\n",
                ":2:16: presence.provisioned: \"mailto:a@example.com\" is not a sip:, sips: or tel: URI",
            ),
            (
                "[presence.authorization]\npolicy = \"friends\"\n",
                ":2:10: presence.authorization.policy: \"friends\" is not a policy (expected \"allow_all\", \"same_domain\" or \"allow_list\")",
            ),
            (
                "[presence.authorization]\nallow = [\"@example.com\"]\n",
                ":2:9: presence.authorization.allow: is used only with policy = \"allow_list\"",
            ),
            (
                "[presence.authorization]\npolicy = \"same_domain\"\nunlisted = \"pending\"\n",
                ":3:12: presence.authorization.unlisted: is used only with policy = \"allow_list\"",
            ),
            (
                "[presence.authorization]\npolicy = \"allow_list\"\nunlisted = \"ask\"\n",
                ":3:12: presence.authorization.unlisted: \"ask\" is not a choice (expected \"reject\" or \"pending\")",
            ),
            (
                "[presence.authorization]\npolicy = \"allow_list\"\nallow = [\"@\"]\n",
                ":3:10: presence.authorization.allow: \"@\" is not a domain such as \"@example.com\"",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), format!("{FILE}{expected}"), "for {text:?}");
        }
        let e = error("[presence]\nsubscribe_expires = 60\n");
        assert!(e.contains(":2:1: unknown field `subscribe_expires`"), "{e}");
    }
}
