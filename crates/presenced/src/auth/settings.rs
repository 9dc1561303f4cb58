//! What `[auth]` configures: users, their delegate rights, trusted peers,
//! and the small matchers they use (sets of identities, networks).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// The validated `[auth]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The digest realm (RFC 3261 §22.1): part of every HA1.
    pub realm: String,
    /// How long a nonce is good for; later answers get `stale=true`.
    pub nonce_lifetime: Duration,
    /// Users who sign in with a password.
    pub users: Vec<User>,
    /// Servers that act for many users.
    pub trusted_peers: Vec<TrustedPeer>,
    /// The algorithms challenged with, in order of preference (RFC 8760
    /// §2.4: one challenge each, the preferred first).
    pub algorithms: Vec<sip::digest::Algorithm>,
    /// User-Agent prefixes (lowercase) that are challenged with MD5 only:
    /// clients that give up on a challenge they cannot answer instead of
    /// skipping it (baresip 1.0's libre aborts on SHA-256).
    pub md5_only_user_agents: Vec<String>,
}

/// A user who signs in with digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's address of record, normalized (`sip::Uri::aor`).
    pub aor: String,
    /// The digest username.
    pub username: String,
    /// `SHA-256(username:realm:password)`, lowercase hex (RFC 8760).
    pub ha1_sha256: Option<String>,
    /// `MD5(username:realm:password)`, lowercase hex, for clients that
    /// know only MD5.
    pub ha1_md5: Option<String>,
    /// Whom the user may publish and register for besides itself (an
    /// assistant, a sync integration).
    pub publish_for: Identities,
}

/// A server trusted to assert identities (P-Asserted-Identity, RFC 3325)
/// for the users it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedPeer {
    /// For logs.
    pub name: String,
    /// Where it connects from; any transport.
    pub addresses: Vec<Network>,
    /// DNS names of its client certificate (lowercase), checked over
    /// mutual TLS against the configured CA.
    pub certificate_names: Vec<String>,
    /// Whom it may assert and act for.
    pub may_assert: Identities,
}

/// A set of identities: AORs (`sip:bob@example.com`, normalized) and
/// whole domains (`@example.com`, lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identities(Vec<String>);

impl Identities {
    /// From normalized entries (config validation made them so).
    pub fn new(entries: Vec<String>) -> Identities {
        Identities(entries)
    }

    /// True when `aor` (normalized) is in the set.
    pub fn contains(&self, aor: &str) -> bool {
        self.0.iter().any(|entry| match entry.strip_prefix('@') {
            Some(domain) => aor
                .rsplit_once('@')
                .is_some_and(|(_, host)| host.eq_ignore_ascii_case(domain)),
            None => entry == aor,
        })
    }
}

/// An address or a CIDR block (`192.0.2.0/24`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// True when `ip` is in the block. An IPv4 address seen as IPv6
    /// (`::ffff:a.b.c.d`, a dual-stack socket) counts as the IPv4 one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_their_blocks() {
        let n: Network = "192.0.2.0/24".parse().unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        let one: Network = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("host".parse::<Network>().is_err());
    }

    #[test]
    fn identities_hold_aors_and_domains() {
        let set = Identities::new(vec!["sip:bob@a.test".into(), "@b.test".into()]);
        assert!(set.contains("sip:bob@a.test"));
        assert!(!set.contains("sip:carol@a.test"));
        assert!(set.contains("sip:carol@b.test"));
        assert!(!set.contains("sip:carol@bb.test"));
    }
}
