//! The `[auth]` section: who may speak for whom.
//!
//! Absent, nobody is authenticated (the built-in default, so the README's
//! first run works without a file). Present, it names the realm, the
//! users with their RFC 8760 HA1 hashes (never a clear password:
//! `presenced passwd` prints an entry), each user's delegate rights, and
//! the trusted peers that may assert identities. docs/security.md says
//! what each of these stops.
//!
//! ```toml
//! [auth]
//! realm = "example.com"
//! nonce_lifetime_secs = 300
//! algorithms = ["SHA-256", "MD5"]         # challenges, preferred first
//! md5_only_user_agents = ["baresip"]      # clients that choke on SHA-256
//!
//! [[auth.users]]
//! aor = "sip:alice@example.com"
//! username = "alice"                      # default: the AOR's user part
//! ha1_sha256 = "…64 hex digits…"
//! ha1_md5 = "…32 hex digits…"             # for clients that know only MD5
//! publish_for = ["sip:bob@example.com"]   # delegate: may publish and register for bob
//!
//! [[auth.trusted_peers]]
//! name = "contact-center"
//! addresses = ["192.0.2.10", "198.51.100.0/24"]
//! certificate_names = ["cc.example.com"]  # DNS names of its client certificate (mutual TLS)
//! may_assert = ["@example.com"]           # identities it may assert and act for
//! ```

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};
use crate::auth::{AuthSettings, Identities, Network, TrustedPeer, User};
use sip::digest::Algorithm;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    realm: Spanned<String>,
    #[serde(default = "default_lifetime")]
    nonce_lifetime_secs: Spanned<u64>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    trusted_peers: Vec<RawPeer>,
    #[serde(default = "default_algorithms")]
    algorithms: Vec<Spanned<String>>,
    #[serde(default = "default_md5_only")]
    md5_only_user_agents: Vec<String>,
}

fn default_lifetime() -> Spanned<u64> {
    unspanned(300)
}

fn default_algorithms() -> Vec<Spanned<String>> {
    ["SHA-256", "MD5"].map(|a| unspanned(a.to_owned())).to_vec()
}

/// libre (baresip) up to 2.x fails on a challenge it cannot answer rather
/// than skipping it, so SHA-256 anywhere in a 401 stops it from signing in.
fn default_md5_only() -> Vec<String> {
    vec!["baresip".to_owned()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    aor: Spanned<String>,
    username: Option<Spanned<String>>,
    ha1_sha256: Option<Spanned<String>>,
    ha1_md5: Option<Spanned<String>>,
    #[serde(default)]
    publish_for: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    #[serde(default)]
    certificate_names: Vec<Spanned<String>>,
    may_assert: Vec<Spanned<String>>,
}

impl Source<'_> {
    pub(super) fn auth(&self, raw: Option<RawAuth>) -> Result<Option<AuthSettings>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let realm = raw.realm.get_ref();
        if realm.is_empty() || realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            return Err(self.error(
                raw.realm.span().start,
                "auth.realm",
                format!("{realm:?} is not a realm: it must be non-empty text without quotes"),
            ));
        }
        let lifetime = self.range(
            "auth.nonce_lifetime_secs",
            &raw.nonce_lifetime_secs,
            10,
            86_400,
        )?;
        let mut users = Vec::with_capacity(raw.users.len());
        let mut names = HashSet::new();
        for user in &raw.users {
            let user = self.user(user)?;
            if !names.insert(user.username.clone()) {
                return Err(self.error(
                    raw.users[users.len()].aor.span().start,
                    "auth.users",
                    format!("username {:?} appears twice", user.username),
                ));
            }
            users.push(user);
        }
        let mut trusted_peers = Vec::with_capacity(raw.trusted_peers.len());
        for peer in &raw.trusted_peers {
            trusted_peers.push(self.peer(peer)?);
        }
        let mut algorithms = Vec::new();
        for entry in &raw.algorithms {
            let algorithm = match Algorithm::parse(entry.get_ref()) {
                Some(a @ (Algorithm::Sha256 | Algorithm::Md5)) if !algorithms.contains(&a) => a,
                _ => {
                    return Err(self.error(
                        entry.span().start,
                        "auth.algorithms",
                        format!(
                            "{:?}: each of \"SHA-256\" and \"MD5\" at most once",
                            entry.get_ref()
                        ),
                    ))
                }
            };
            algorithms.push(algorithm);
        }
        if algorithms.is_empty() {
            return Err(self.error(0, "auth.algorithms", "at least one algorithm is needed"));
        }
        Ok(Some(AuthSettings {
            algorithms,
            md5_only_user_agents: raw
                .md5_only_user_agents
                .iter()
                .map(|ua| ua.to_ascii_lowercase())
                .collect(),
            realm: realm.clone(),
            nonce_lifetime: Duration::from_secs(lifetime),
            users,
            trusted_peers,
        }))
    }

    fn user(&self, raw: &RawUser) -> Result<User, ConfigError> {
        let aor = self.aor("auth.users.aor", &raw.aor)?;
        let username = match &raw.username {
            Some(name) if name.get_ref().is_empty() => {
                return Err(self.error(name.span().start, "auth.users.username", "empty"))
            }
            Some(name) => name.get_ref().clone(),
            None => match aor
                .split_once(':')
                .and_then(|(_, rest)| rest.split_once('@'))
            {
                Some((user, _)) => user.to_owned(),
                None => {
                    return Err(self.error(
                        raw.aor.span().start,
                        "auth.users.aor",
                        format!("{aor} has no user part: set username"),
                    ))
                }
            },
        };
        let ha1_sha256 = self.hex("auth.users.ha1_sha256", raw.ha1_sha256.as_ref(), 64)?;
        let ha1_md5 = self.hex("auth.users.ha1_md5", raw.ha1_md5.as_ref(), 32)?;
        if ha1_sha256.is_none() && ha1_md5.is_none() {
            return Err(self.error(
                raw.aor.span().start,
                "auth.users",
                format!("{aor} has no ha1_sha256 or ha1_md5 (`presenced passwd` prints them)"),
            ));
        }
        Ok(User {
            aor,
            username,
            ha1_sha256,
            ha1_md5,
            publish_for: self.identities("auth.users.publish_for", &raw.publish_for)?,
        })
    }

    fn peer(&self, raw: &RawPeer) -> Result<TrustedPeer, ConfigError> {
        let mut addresses = Vec::with_capacity(raw.addresses.len());
        for entry in &raw.addresses {
            let network = entry
                .get_ref()
                .parse::<Network>()
                .map_err(|e| self.error(entry.span().start, "auth.trusted_peers.addresses", e))?;
            addresses.push(network);
        }
        let certificate_names: Vec<String> = raw
            .certificate_names
            .iter()
            .map(|n| n.get_ref().to_ascii_lowercase())
            .collect();
        if addresses.is_empty() && certificate_names.is_empty() {
            return Err(self.error(
                raw.name.span().start,
                "auth.trusted_peers",
                format!(
                    "peer {:?} has neither addresses nor certificate_names",
                    raw.name.get_ref()
                ),
            ));
        }
        if raw.may_assert.is_empty() {
            return Err(self.error(
                raw.name.span().start,
                "auth.trusted_peers.may_assert",
                format!("peer {:?} may assert nobody", raw.name.get_ref()),
            ));
        }
        Ok(TrustedPeer {
            name: raw.name.get_ref().clone(),
            addresses,
            certificate_names,
            may_assert: self.identities("auth.trusted_peers.may_assert", &raw.may_assert)?,
        })
    }

    fn identities(&self, field: &str, raw: &[Spanned<String>]) -> Result<Identities, ConfigError> {
        let mut entries = Vec::with_capacity(raw.len());
        for entry in raw {
            entries.push(self.allowed(field, entry)?);
        }
        Ok(Identities::new(entries))
    }

    /// Lowercase hex of exactly `len` digits (an HA1 as `presenced passwd`
    /// prints it).
    fn hex(
        &self,
        field: &str,
        value: Option<&Spanned<String>>,
        len: usize,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let text = value.get_ref().to_ascii_lowercase();
        if text.len() != len || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(
                value.span().start,
                field,
                format!("expected {len} hex digits (an HA1 hash, not a password)"),
            ));
        }
        Ok(Some(text))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
    }

    const SHA: &str = "aa0c2fb6e2f9e5d1c6a1f5bc1c0c1e5e2c1c5d1d0e0f0a0b0c0d0e0f0a0b0c0d";

    #[test]
    fn off_without_the_section() {
        assert!(Config::default().auth.is_none());
    }

    #[test]
    fn users_and_peers_are_read() {
        let c = parse(&format!(
            "[auth]\nrealm = \"lab.test\"\n[[auth.users]]\naor = \"sip:Alice@LAB.test\"\nha1_sha256 = \"{SHA}\"\npublish_for = [\"sip:bob@lab.test\"]\n\
             [[auth.trusted_peers]]\nname = \"cc\"\naddresses = [\"10.0.0.0/8\", \"::1\"]\nmay_assert = [\"@lab.test\"]\n"
        ))
        .unwrap();
        let auth = c.auth.unwrap();
        assert_eq!(auth.realm, "lab.test");
        assert_eq!(auth.users[0].aor, "sip:Alice@lab.test");
        assert_eq!(auth.users[0].username, "Alice");
        assert!(auth.users[0].publish_for.contains("sip:bob@lab.test"));
        assert!(auth.trusted_peers[0].may_assert.contains("sip:x@lab.test"));
        assert!(auth.trusted_peers[0]
            .addresses
            .iter()
            .any(|n| n.contains("10.1.2.3".parse().unwrap())));
    }

    #[test]
    fn clear_passwords_and_bad_entries_are_refused() {
        let e = parse("[auth]\nrealm = \"lab.test\"\n[[auth.users]]\naor = \"sip:alice@lab.test\"\nha1_md5 = \"secret\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/presenced/presenced.toml:5:11: auth.users.ha1_md5: expected 32 hex digits"
            ),
            "{e}"
        );
        let e = parse("[auth]\nrealm = \"lab.test\"\n[[auth.users]]\naor = \"sip:alice@lab.test\"\npassword = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `password`"), "{e}");
        let e =
            parse("[auth]\nrealm = \"lab.test\"\n[[auth.users]]\naor = \"sip:alice@lab.test\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("has no ha1_sha256 or ha1_md5"), "{e}");
        let e = parse("[auth]\nrealm = \"lab.test\"\n[[auth.trusted_peers]]\nname = \"x\"\naddresses = [\"10.0.0.0/33\"]\nmay_assert = [\"@lab.test\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.trusted_peers.addresses"), "{e}");
    }

    #[test]
    fn certificate_names_need_a_client_ca() {
        let peer = "[auth]\nrealm = \"lab.test\"\n[[auth.trusted_peers]]\nname = \"cc\"\n\
                    certificate_names = [\"CC.lab.test\"]\nmay_assert = [\"@lab.test\"]\n";
        let e = parse(peer).unwrap_err().to_string();
        assert!(
            e.contains("auth.trusted_peers.certificate_names") && e.contains("sip.tls_client_ca"),
            "{e}"
        );
        let tls = "[sip]\nlisten = [\"tls:127.0.0.1:5061\"]\ntls_cert = \"c.pem\"\n\
                   tls_key = \"k.pem\"\ntls_client_ca = \"ca.pem\"\n";
        let c = parse(&format!("{tls}{peer}")).unwrap();
        assert_eq!(
            c.tls.unwrap().client_ca.unwrap(),
            Path::new("/etc/presenced/ca.pem")
        );
        assert_eq!(
            c.auth.unwrap().trusted_peers[0].certificate_names,
            ["cc.lab.test"]
        );
        let e = parse("[sip]\ntls_client_ca = \"ca.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2:") && e.contains("sip.tls_client_ca: needs sip.tls_cert"),
            "{e}"
        );
    }
}
