//! Users' digest credentials from the directory, sans-IO.
//!
//! A company that keeps its users in LDAP should not have to copy each
//! one into `[[auth.users]]`. With `[directory] ha1_sha256_attribute`
//! (and, for clients that know only MD5, `ha1_md5_attribute`), each user
//! entry may carry its RFC 8760 HA1 hashes — `H(username:realm:password)`,
//! lowercase hex, what `presenced passwd` prints —, never a password.
//! The entry's `msRTCSIP-PrimaryUserAddress` is the user's AOR, and the
//! digest username is that address's user part (`sip:dora@example.com`
//! signs in as `dora`, as `presenced passwd` assumes by default).
//!
//! Only users sign in: contacts and resources carry no credentials, and
//! an entry whose hashes are malformed gets none (the runtime logs why
//! with its DN) while it stays in the address book. Two entries with the
//! same username are ambiguous: neither may sign in ([`by_username`]).

use std::collections::HashMap;

use super::{normalize_uri, LdapRecord};
use crate::address_book::{Entry, Kind};

/// The attributes that hold the HA1 hashes; both `None` (the default):
/// the directory holds no credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialAttributes {
    /// The attribute holding `SHA-256(username:realm:password)`.
    pub ha1_sha256: Option<String>,
    /// The attribute holding `MD5(username:realm:password)`.
    pub ha1_md5: Option<String>,
}

impl CredentialAttributes {
    /// True when the directory is configured to hold credentials.
    pub fn is_on(&self) -> bool {
        self.ha1_sha256.is_some() || self.ha1_md5.is_some()
    }

    /// The configured attribute names, for the search's attribute list.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.ha1_sha256
            .iter()
            .chain(&self.ha1_md5)
            .map(String::as_str)
    }
}

/// One directory user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's AOR (the entry's address, normalized).
    pub aor: String,
    /// The digest username: the AOR's user part.
    pub username: String,
    /// `SHA-256(username:realm:password)`, lowercase hex.
    pub ha1_sha256: Option<String>,
    /// `MD5(username:realm:password)`, lowercase hex.
    pub ha1_md5: Option<String>,
    /// The entry's DN, for logs.
    pub dn: String,
}

/// Why an entry's credentials were not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The attribute's value is not an HA1 hash of its algorithm.
    #[error("{attribute} is not {len} hex digits (an HA1 hash, never a password)")]
    NotHa1 {
        /// The attribute.
        attribute: String,
        /// The expected number of hex digits.
        len: usize,
    },
    /// Another entry has the same digest username.
    #[error("digest username {username:?} is also {other}'s: neither may sign in")]
    Ambiguous {
        /// The username.
        username: String,
        /// The other entry's DN.
        other: String,
    },
}

impl CredentialAttributes {
    /// The credentials `record` (already mapped to `entry`) carries:
    /// `Ok(None)` for an entry that is not a user or has no hash.
    pub fn read(
        &self,
        record: &LdapRecord,
        entry: &Entry,
    ) -> Result<Option<Credentials>, CredentialError> {
        if entry.kind != Kind::User {
            return Ok(None);
        }
        let hash = |attribute: &Option<String>, len: usize| match attribute {
            None => Ok(None),
            Some(name) => match record.first(name) {
                None => Ok(None),
                Some(value) if is_hex(value, len) => Ok(Some(value.to_ascii_lowercase())),
                Some(_) => Err(CredentialError::NotHa1 {
                    attribute: name.clone(),
                    len,
                }),
            },
        };
        let ha1_sha256 = hash(&self.ha1_sha256, 64)?;
        let ha1_md5 = hash(&self.ha1_md5, 32)?;
        if ha1_sha256.is_none() && ha1_md5.is_none() {
            return Ok(None);
        }
        // The entry's URI went through `normalize_uri`: `sip:user@host`.
        let Some(username) = normalize_uri(&entry.uri)
            .as_deref()
            .and_then(|uri| uri.strip_prefix("sip:"))
            .and_then(|rest| rest.rsplit_once('@'))
            .map(|(user, _)| user.to_owned())
        else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            aor: entry.uri.clone(),
            username,
            ha1_sha256,
            ha1_md5,
            dn: record.dn.clone(),
        }))
    }
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The credentials by digest username; an ambiguous username is left out
/// (and reported for each of its entries), since signing in as whichever
/// entry came first would depend on the server's search order.
pub fn by_username(
    all: Vec<Credentials>,
) -> (HashMap<String, Credentials>, Vec<(String, CredentialError)>) {
    let mut users: HashMap<String, Credentials> = HashMap::with_capacity(all.len());
    let mut ambiguous: HashMap<String, Vec<String>> = HashMap::new();
    for c in all {
        if let Some(dns) = ambiguous.get_mut(&c.username) {
            dns.push(c.dn);
            continue;
        }
        match users.remove(&c.username) {
            Some(first) => {
                ambiguous.insert(c.username.clone(), vec![first.dn, c.dn]);
            }
            None => {
                users.insert(c.username.clone(), c);
            }
        }
    }
    let mut refused = Vec::new();
    for (username, dns) in ambiguous {
        for (i, dn) in dns.iter().enumerate() {
            let other = dns[if i == 0 { 1 } else { 0 }].clone();
            let username = username.clone();
            refused.push((dn.clone(), CredentialError::Ambiguous { username, other }));
        }
    }
    refused.sort_by(|a, b| a.0.cmp(&b.0));
    (users, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address_book::ldap::Mapping;

    const SHA: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
    const MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

    fn attrs() -> CredentialAttributes {
        CredentialAttributes {
            ha1_sha256: Some("presencedHA1SHA256".into()),
            ha1_md5: Some("presencedHA1MD5".into()),
        }
    }

    fn record(dn: &str, class: &str, address: &str, hashes: &[(&str, &str)]) -> LdapRecord {
        let mut attrs: HashMap<String, Vec<String>> = HashMap::from([
            ("objectClass".to_owned(), vec![class.to_owned()]),
            (
                "msRTCSIP-PrimaryUserAddress".to_owned(),
                vec![address.to_owned()],
            ),
        ]);
        for (k, v) in hashes {
            attrs.insert((*k).to_owned(), vec![(*v).to_owned()]);
        }
        LdapRecord {
            dn: dn.to_owned(),
            attrs,
        }
    }

    fn read(
        a: &CredentialAttributes,
        r: &LdapRecord,
    ) -> Result<Option<Credentials>, CredentialError> {
        let entry = Mapping::default().map(r).unwrap();
        a.read(r, &entry)
    }

    #[test]
    fn a_user_with_hashes_signs_in_as_its_user_part() {
        let r = record(
            "cn=Dora,dc=x",
            "user",
            "sip:Dora@Example.COM",
            // Attribute names compare without case; hex is lowercased.
            &[
                ("presencedha1sha256", &SHA.to_uppercase()),
                ("presencedHA1MD5", MD5),
            ],
        );
        let c = read(&attrs(), &r).unwrap().unwrap();
        assert_eq!(c.aor, "sip:Dora@example.com");
        assert_eq!(c.username, "Dora");
        assert_eq!(c.ha1_sha256.as_deref(), Some(SHA));
        assert_eq!(c.ha1_md5.as_deref(), Some(MD5));
        assert_eq!(c.dn, "cn=Dora,dc=x");
        // One algorithm is enough.
        let md5_only = CredentialAttributes {
            ha1_sha256: None,
            ..attrs()
        };
        let c = read(&md5_only, &r).unwrap().unwrap();
        assert_eq!((c.ha1_sha256, c.ha1_md5.as_deref()), (None, Some(MD5)));
    }

    #[test]
    fn no_credentials_without_attributes_hashes_or_a_user() {
        let r = record(
            "cn=Dora,dc=x",
            "user",
            "sip:dora@example.com",
            &[("presencedHA1MD5", MD5)],
        );
        assert_eq!(read(&CredentialAttributes::default(), &r), Ok(None));
        let bare = record("cn=Eve,dc=x", "user", "sip:eve@example.com", &[]);
        assert_eq!(read(&attrs(), &bare), Ok(None));
        let contact = record(
            "cn=P,dc=x",
            "contact",
            "sip:p@partner.example",
            &[("presencedHA1MD5", MD5)],
        );
        assert_eq!(read(&attrs(), &contact), Ok(None));
    }

    #[test]
    fn a_password_or_a_short_hash_is_refused() {
        for (attribute, value, len) in [
            ("presencedHA1MD5", "password", 32),
            ("presencedHA1SHA256", MD5, 64),
            ("presencedHA1MD5", &format!("{}g", &MD5[..31]), 32),
        ] {
            let r = record(
                "cn=Dora,dc=x",
                "user",
                "sip:dora@example.com",
                &[(attribute, value)],
            );
            let want = attrs()
                .names()
                .find(|n| n.eq_ignore_ascii_case(attribute))
                .unwrap()
                .to_owned();
            assert_eq!(
                read(&attrs(), &r),
                Err(CredentialError::NotHa1 {
                    attribute: want,
                    len
                }),
                "{value}"
            );
        }
    }

    #[test]
    fn an_ambiguous_username_signs_nobody_in() {
        let c = |dn: &str, aor: &str, username: &str| Credentials {
            aor: aor.into(),
            username: username.into(),
            ha1_sha256: None,
            ha1_md5: Some(MD5.into()),
            dn: dn.into(),
        };
        let (users, refused) = by_username(vec![
            c("cn=a1", "sip:alice@a.example", "alice"),
            c("cn=dora", "sip:dora@a.example", "dora"),
            c("cn=a2", "sip:alice@b.example", "alice"),
            c("cn=a3", "sip:alice@c.example", "alice"),
        ]);
        assert_eq!(users.keys().collect::<Vec<_>>(), ["dora"]);
        let dns: Vec<&str> = refused.iter().map(|(dn, _)| dn.as_str()).collect();
        assert_eq!(dns, ["cn=a1", "cn=a2", "cn=a3"]);
        assert!(
            refused[1].1.to_string().contains("\"alice\" is also cn=a1"),
            "{}",
            refused[1].1
        );
    }
}
