//! LDAP entries → address-book entries, sans-IO.
//!
//! The runtime searches an Active-Directory-shaped server (seed 003's
//! "LDAP Data Manager", seed 000's `msRTCSIP-PrimaryUserAddress`) and
//! hands each result over as an [`LdapRecord`]: its DN and its
//! attributes as text, exactly what `ldap3::SearchEntry` holds. What
//! becomes of it is decided here, so every case is a unit test:
//!
//! - an entry without a `msRTCSIP-PrimaryUserAddress`, or whose address is
//!   not a `sip:user@host` URI, is skipped with the reason (the runtime
//!   logs it with the DN);
//! - its kind follows `objectClass`: one of the configured contact
//!   classes (AD's `contact`) makes a contact, one of the resource
//!   classes (a VTC endpoint, a room system) a resource, anything else
//!   a user;
//! - the name shown is `displayName`, else the DN's first `CN`, else the
//!   address's user part;
//! - attribute names compare without case (LDAP's rule), and a
//!   multi-valued attribute gives its first value;
//! - users may carry their digest credentials ([`credentials`]).

use std::collections::HashMap;

use super::{Entry, Kind, Origin};

pub mod credentials;

pub use credentials::{CredentialAttributes, CredentialError, Credentials};

/// The attributes the search asks for (and nothing else, so an AD entry's
/// photo or group memberships never cross the wire).
pub const ATTRIBUTES: [&str; 10] = [
    "msRTCSIP-PrimaryUserAddress",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "telephoneNumber",
    "title",
    "department",
    "company",
    "objectClass",
];

/// One search result as the LDAP client gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdapRecord {
    /// The entry's distinguished name.
    pub dn: String,
    /// Attribute name (any case) → values.
    pub attrs: HashMap<String, Vec<String>>,
}

/// How object classes map to kinds (`[directory]` `contact_classes`,
/// `resource_classes`), lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Classes that make a contact (default `contact`).
    pub contact_classes: Vec<String>,
    /// Classes that make a resource (default `device`; an AD forest
    /// whose VTC endpoints are Exchange resources names its own class).
    pub resource_classes: Vec<String>,
    /// Where users' digest HA1 hashes are ([`credentials`]); none by
    /// default.
    pub credentials: CredentialAttributes,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            contact_classes: vec!["contact".into()],
            resource_classes: vec!["device".into()],
            credentials: CredentialAttributes::default(),
        }
    }
}

/// Why an LDAP entry is not in the address book.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skipped {
    /// It has no `msRTCSIP-PrimaryUserAddress` (not SIP-enabled).
    #[error("no msRTCSIP-PrimaryUserAddress")]
    NoAddress,
    /// Its address is not `sip:user@host`.
    #[error("msRTCSIP-PrimaryUserAddress {0:?} is not a sip:user@host URI")]
    BadAddress(String),
}

impl LdapRecord {
    /// The first value of `name`, compared without case; empty values
    /// count as absent.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.iter().map(|v| v.trim()).find(|v| !v.is_empty()))
    }

    /// Every value of `name`.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, values)| values.iter().map(|v| v.trim()))
    }

    /// The value of the DN's first `CN=` component, unescaped of the
    /// common `\,` form.
    fn common_name(&self) -> Option<String> {
        let first = split_dn(&self.dn).into_iter().next()?;
        let (attr, value) = first.split_once('=')?;
        attr.trim()
            .eq_ignore_ascii_case("cn")
            .then(|| value.trim().replace("\\,", ","))
            .filter(|v| !v.is_empty())
    }
}

/// The DN's components, split at unescaped commas.
fn split_dn(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => {
                parts.push(&dn[start..i]);
                start = i + 1;
            }
            _ => escaped = false,
        }
    }
    parts.push(&dn[start..]);
    parts
}

/// `sip:user@host` with the scheme lowercased and the host lowercased,
/// as presentity keys have it; `None` when it is not one.
pub fn normalize_uri(address: &str) -> Option<String> {
    let (scheme, rest) = address.trim().split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") {
        return None;
    }
    let rest = rest.split(';').next().unwrap_or(rest);
    let (user, host) = rest.rsplit_once('@')?;
    let bad = |s: &str| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '<');
    if bad(user) || bad(host) {
        return None;
    }
    Some(format!("sip:{user}@{}", host.to_ascii_lowercase()))
}

impl Mapping {
    /// The attributes a refresh asks for: [`ATTRIBUTES`] and the
    /// credential attributes when configured.
    pub fn attributes(&self) -> Vec<&str> {
        ATTRIBUTES
            .iter()
            .copied()
            .chain(self.credentials.names())
            .collect()
    }

    /// The entry an LDAP record makes, or why it makes none.
    pub fn map(&self, record: &LdapRecord) -> Result<Entry, Skipped> {
        let address = record
            .first("msRTCSIP-PrimaryUserAddress")
            .ok_or(Skipped::NoAddress)?;
        let uri = normalize_uri(address).ok_or_else(|| Skipped::BadAddress(address.to_owned()))?;
        let has_class = |classes: &[String]| {
            record
                .all("objectClass")
                .any(|c| classes.iter().any(|k| k.eq_ignore_ascii_case(c)))
        };
        let kind = if has_class(&self.contact_classes) {
            Kind::Contact
        } else if has_class(&self.resource_classes) {
            Kind::Resource
        } else {
            Kind::User
        };
        let text = |name: &str| record.first(name).map(str::to_owned);
        let display_name = text("displayName")
            .or_else(|| record.common_name())
            .unwrap_or_else(|| {
                let user = uri.trim_start_matches("sip:");
                user.split('@').next().unwrap_or(user).to_owned()
            });
        Ok(Entry {
            uri,
            display_name,
            kind,
            given_name: text("givenName"),
            surname: text("sn"),
            title: text("title"),
            department: text("department"),
            company: text("company"),
            mail: text("mail"),
            phone: text("telephoneNumber"),
            dn: Some(record.dn.clone()),
            origins: vec![Origin::Ldap],
            gateway_rule: None,
            cc_status: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dn: &str, attrs: &[(&str, &[&str])]) -> LdapRecord {
        LdapRecord {
            dn: dn.to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn a_user_with_every_attribute() {
        let alice = record(
            "CN=Alice Smith,CN=Users,DC=example,DC=com",
            &[
                (
                    "objectClass",
                    &["top", "person", "organizationalPerson", "user"],
                ),
                ("msRTCSIP-PrimaryUserAddress", &["sip:alice@Example.COM"]),
                ("displayName", &["Alice Smith"]),
                ("givenName", &["Alice"]),
                ("sn", &["Smith"]),
                ("mail", &["alice@example.com"]),
                ("telephoneNumber", &["+31 20 555 0101"]),
                ("title", &["Engineer"]),
                ("department", &["Development"]),
            ],
        );
        let e = Mapping::default().map(&alice).unwrap();
        assert_eq!(e.uri, "sip:alice@example.com");
        assert_eq!(e.kind, Kind::User);
        assert_eq!(e.display_name, "Alice Smith");
        assert_eq!(e.given_name.as_deref(), Some("Alice"));
        assert_eq!(e.surname.as_deref(), Some("Smith"));
        assert_eq!(e.mail.as_deref(), Some("alice@example.com"));
        assert_eq!(e.phone.as_deref(), Some("+31 20 555 0101"));
        assert_eq!(e.title.as_deref(), Some("Engineer"));
        assert_eq!(e.department.as_deref(), Some("Development"));
        assert_eq!(e.origins, [Origin::Ldap]);
        assert_eq!(
            e.dn.as_deref(),
            Some("CN=Alice Smith,CN=Users,DC=example,DC=com")
        );
    }

    #[test]
    fn contacts_and_resources_by_object_class_without_case() {
        let m = Mapping::default();
        let partner = record(
            "CN=Partner VTC,OU=Contacts,DC=example,DC=com",
            &[
                ("objectclass", &["top", "person", "Contact"]),
                (
                    "msrtcsip-primaryuseraddress",
                    &["SIP:partner-vtc@vc.example.com"],
                ),
            ],
        );
        let e = m.map(&partner).unwrap();
        assert_eq!(e.kind, Kind::Contact);
        assert_eq!(e.uri, "sip:partner-vtc@vc.example.com");
        // No displayName: the DN's CN.
        assert_eq!(e.display_name, "Partner VTC");

        let vtc = record(
            "cn=VTC Oslo\\, 4th floor,ou=Resources,dc=example,dc=com",
            &[
                ("objectClass", &["device", "msRTCSIP-Endpoint"]),
                (
                    "msRTCSIP-PrimaryUserAddress",
                    &["sip:oslo-room042@vc.example.com"],
                ),
            ],
        );
        let e = m.map(&vtc).unwrap();
        assert_eq!(e.kind, Kind::Resource);
        assert_eq!(e.display_name, "VTC Oslo, 4th floor");

        let custom = Mapping {
            contact_classes: vec![],
            resource_classes: vec!["msexchresource".into()],
            ..Mapping::default()
        };
        let room = record(
            "CN=Board room,DC=example,DC=com",
            &[
                ("objectClass", &["user", "msExchResource"]),
                ("msRTCSIP-PrimaryUserAddress", &["sip:board@example.com"]),
            ],
        );
        assert_eq!(custom.map(&room).unwrap().kind, Kind::Resource);
        assert_eq!(custom.map(&partner).unwrap().kind, Kind::User);
    }

    #[test]
    fn entries_without_a_usable_address_are_skipped() {
        let m = Mapping::default();
        let none = record("CN=Bob,DC=example,DC=com", &[("displayName", &["Bob"])]);
        assert_eq!(m.map(&none), Err(Skipped::NoAddress));
        let empty = record(
            "CN=Bob,DC=example,DC=com",
            &[("msRTCSIP-PrimaryUserAddress", &["  "])],
        );
        assert_eq!(m.map(&empty), Err(Skipped::NoAddress));
        for bad in [
            "bob@example.com",
            "tel:+3120555",
            "sip:@example.com",
            "sip:bob",
        ] {
            let r = record(
                "CN=Bob,DC=example,DC=com",
                &[("msRTCSIP-PrimaryUserAddress", &[bad])],
            );
            assert_eq!(m.map(&r), Err(Skipped::BadAddress(bad.into())), "{bad}");
        }
    }

    #[test]
    fn no_name_at_all_shows_the_user_part() {
        let r = record(
            "OU=x,DC=example,DC=com",
            &[(
                "msRTCSIP-PrimaryUserAddress",
                &["sip:desk7@example.com;transport=tcp"],
            )],
        );
        let e = Mapping::default().map(&r).unwrap();
        assert_eq!(e.uri, "sip:desk7@example.com");
        assert_eq!(e.display_name, "desk7");
    }
}
