//! The `[directory]` section: the LDAP server (Active Directory, or any
//! server with the `msRTCSIP-PrimaryUserAddress` attribute) whose users,
//! contacts and resources fill the company address book, refreshed on
//! an interval (seed 003's "LDAP Data Manager queries Active Directory at
//! a specified interval").
//!
//! Off unless `url` is set. The bind password is read from a file or the
//! environment, never from the config text, and is never printed.
//!
//! ```toml
//! [directory]
//! url = "ldaps://dc1.example.com:636"      # or ldap://...:389
//! starttls = false                         # StartTLS on an ldap:// URL
//! ca_file = "ad-ca.pem"                    # trust anchor; default the system's roots
//! bind_dn = "CN=presenced,CN=Users,DC=example,DC=com"
//! password_file = "ldap.pw"                # else PRESENCED_DIRECTORY_PASSWORD
//! base = "DC=example,DC=com"
//! filter = "(msRTCSIP-PrimaryUserAddress=*)"
//! page_size = 500                          # RFC 2696 paged results
//! refresh_secs = 300
//! timeout_secs = 120                       # one refresh, connect to last page
//! contact_classes = ["contact"]
//! resource_classes = ["device"]
//! ha1_sha256_attribute = "presencedHA1SHA256"  # users' digest hashes (with [auth]); off by default
//! ha1_md5_attribute = "presencedHA1MD5"
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rules::address_book::ldap::{CredentialAttributes, Mapping};
use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};

/// The environment variable that may hold the bind password.
pub const PASSWORD_ENV: &str = "PRESENCED_DIRECTORY_PASSWORD";

/// The default filter: every SIP-enabled object (seed 003's
/// `SEARCH_FILTER`).
pub const DEFAULT_FILTER: &str = "(msRTCSIP-PrimaryUserAddress=*)";

/// The `[directory]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySettings {
    /// The LDAP server; `None` when `url` is not set (the address book
    /// then holds the rooms of `[service]` only).
    pub ldap: Option<LdapSettings>,
    /// How object classes map to entry kinds.
    pub mapping: Mapping,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapTls {
    /// Plain `ldap://` (loopback and tests).
    None,
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS (RFC 4513 §3).
    StartTls,
}

/// Where and how to read the directory.
#[derive(Clone, PartialEq, Eq)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// TLS mode.
    pub tls: LdapTls,
    /// PEM trust anchors for TLS; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The bind DN; `None` binds anonymously.
    pub bind_dn: Option<String>,
    /// The bind password (never shown by `Debug`).
    pub password: String,
    /// The search base.
    pub base: String,
    /// The search filter (RFC 4515).
    pub filter: String,
    /// Entries per page of the paged search.
    pub page_size: i32,
    /// Time between refreshes (and between a failure and the retry).
    pub refresh: Duration,
    /// The longest one refresh may take.
    pub timeout: Duration,
}

impl fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"<hidden>")
            .field("base", &self.base)
            .field("filter", &self.filter)
            .field("page_size", &self.page_size)
            .field("refresh", &self.refresh)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDirectory {
    url: Spanned<String>,
    starttls: Spanned<bool>,
    ca_file: Option<Spanned<PathBuf>>,
    bind_dn: Spanned<String>,
    password_file: Option<Spanned<PathBuf>>,
    base: Spanned<String>,
    filter: Spanned<String>,
    page_size: Spanned<i32>,
    refresh_secs: Spanned<u64>,
    timeout_secs: Spanned<u64>,
    contact_classes: Spanned<Vec<String>>,
    resource_classes: Spanned<Vec<String>>,
    ha1_sha256_attribute: Option<Spanned<String>>,
    ha1_md5_attribute: Option<Spanned<String>>,
}

impl Default for RawDirectory {
    fn default() -> Self {
        let mapping = Mapping::default();
        RawDirectory {
            url: unspanned(String::new()),
            starttls: unspanned(false),
            ca_file: None,
            bind_dn: unspanned(String::new()),
            password_file: None,
            base: unspanned(String::new()),
            filter: unspanned(DEFAULT_FILTER.to_owned()),
            page_size: unspanned(500),
            refresh_secs: unspanned(300),
            timeout_secs: unspanned(120),
            contact_classes: unspanned(mapping.contact_classes),
            resource_classes: unspanned(mapping.resource_classes),
            ha1_sha256_attribute: None,
            ha1_md5_attribute: None,
        }
    }
}

impl Source<'_> {
    /// An LDAP attribute name (RFC 4512 §2.5: a letter, then letters,
    /// digits and hyphens), or `None` when not set.
    fn attribute(
        &self,
        raw: Option<&Spanned<String>>,
        field: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let name = raw.get_ref().trim();
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(self.error(
                raw.span().start,
                field,
                format!("{name:?} is not an LDAP attribute name"),
            ));
        }
        Ok(Some(name.to_owned()))
    }

    pub(super) fn directory(&self, raw: RawDirectory) -> Result<DirectorySettings, ConfigError> {
        let classes = |v: &Spanned<Vec<String>>, field: &str| {
            v.get_ref()
                .iter()
                .map(|c| {
                    let c = c.trim().to_ascii_lowercase();
                    if c.is_empty() || c.contains(char::is_whitespace) {
                        Err(self.error(v.span().start, field, format!("{c:?} is not a class name")))
                    } else {
                        Ok(c)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mapping = Mapping {
            contact_classes: classes(&raw.contact_classes, "directory.contact_classes")?,
            resource_classes: classes(&raw.resource_classes, "directory.resource_classes")?,
            credentials: CredentialAttributes {
                ha1_sha256: self.attribute(
                    raw.ha1_sha256_attribute.as_ref(),
                    "directory.ha1_sha256_attribute",
                )?,
                ha1_md5: self.attribute(
                    raw.ha1_md5_attribute.as_ref(),
                    "directory.ha1_md5_attribute",
                )?,
            },
        };
        let url = raw.url.get_ref().trim();
        if url.is_empty() {
            return Ok(DirectorySettings {
                ldap: None,
                mapping,
            });
        }
        let at = raw.url.span().start;
        let lower = url.to_ascii_lowercase();
        let (ldaps, rest) = if let Some(rest) = lower.strip_prefix("ldaps://") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("ldap://") {
            (false, rest)
        } else {
            return Err(self.error(
                at,
                "directory.url",
                format!("{url:?} is not an ldap:// or ldaps:// URL"),
            ));
        };
        if rest.trim_end_matches('/').is_empty() || rest.trim_end_matches('/').contains('/') {
            return Err(self.error(
                at,
                "directory.url",
                format!("{url:?} must name a host (and port) only: ldap://dc1.example.com:389"),
            ));
        }
        let tls = match (ldaps, *raw.starttls.get_ref()) {
            (true, true) => {
                return Err(self.error(
                    raw.starttls.span().start,
                    "directory.starttls",
                    "StartTLS is for ldap:// URLs; an ldaps:// URL is TLS already",
                ))
            }
            (true, false) => LdapTls::Ldaps,
            (false, true) => LdapTls::StartTls,
            (false, false) => LdapTls::None,
        };
        let ca_file = raw.ca_file.as_ref().map(|f| self.path(f));
        if let (Some(path), Some(spanned)) = (&ca_file, &raw.ca_file) {
            if tls == LdapTls::None {
                return Err(self.error(
                    spanned.span().start,
                    "directory.ca_file",
                    "set only with an ldaps:// URL or starttls = true",
                ));
            }
            if !path.is_file() {
                return Err(self.error(
                    spanned.span().start,
                    "directory.ca_file",
                    format!("{} is not a readable file", path.display()),
                ));
            }
        }
        let bind_dn = Some(raw.bind_dn.get_ref().trim().to_owned()).filter(|d| !d.is_empty());
        let password = match &bind_dn {
            None => String::new(),
            Some(_) => self
                .secret(
                    raw.password_file.as_ref(),
                    "directory.password_file",
                    PASSWORD_ENV,
                )?
                .ok_or_else(|| {
                    self.error(
                        raw.bind_dn.span().start,
                        "directory.bind_dn",
                        format!(
                            "needs directory.password_file or {PASSWORD_ENV} in the environment"
                        ),
                    )
                })?,
        };
        let base = raw.base.get_ref().trim().to_owned();
        if base.is_empty() {
            return Err(self.error(
                raw.url.span().start,
                "directory.base",
                "the search base must be set with directory.url",
            ));
        }
        let filter = raw.filter.get_ref().trim().to_owned();
        if !(filter.starts_with('(') && filter.ends_with(')')) {
            return Err(self.error(
                raw.filter.span().start,
                "directory.filter",
                format!("{filter:?} is not an LDAP filter (RFC 4515: in parentheses)"),
            ));
        }
        let page_size = self.range("directory.page_size", &raw.page_size, 1, 10_000)?;
        let refresh = self.range("directory.refresh_secs", &raw.refresh_secs, 1, 86_400)?;
        let timeout = self.range("directory.timeout_secs", &raw.timeout_secs, 1, 3_600)?;
        Ok(DirectorySettings {
            ldap: Some(LdapSettings {
                url: url.to_owned(),
                tls,
                ca_file,
                bind_dn,
                password,
                base,
                filter,
                page_size,
                refresh: Duration::from_secs(refresh),
                timeout: Duration::from_secs(timeout),
            }),
            mapping,
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
    fn off_by_default() {
        let d = Config::default().directory;
        assert_eq!(d.ldap, None);
        assert_eq!(d.mapping, Mapping::default());
    }

    #[test]
    fn values_are_read_and_the_password_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("ldap.pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let text = format!(
            "[directory]\nurl = \"ldaps://dc1.example.com:636\"\nca_file = \"{}\"\n\
             bind_dn = \"CN=presenced,CN=Users,DC=example,DC=com\"\npassword_file = \"{}\"\n\
             base = \"DC=example,DC=com\"\npage_size = 100\nrefresh_secs = 60\n\
             resource_classes = [\"Device\", \"msExchResource\"]\n",
            ca.display(),
            secret.display()
        );
        let d = parse(&text).unwrap().directory;
        let ldap = d.ldap.clone().unwrap();
        assert_eq!(ldap.tls, LdapTls::Ldaps);
        assert_eq!(ldap.password, "s3cret");
        assert_eq!(ldap.filter, DEFAULT_FILTER);
        assert_eq!(ldap.page_size, 100);
        assert_eq!(ldap.refresh, Duration::from_secs(60));
        assert_eq!(ldap.ca_file.as_deref(), Some(ca.as_path()));
        assert_eq!(d.mapping.resource_classes, ["device", "msexchresource"]);
        assert!(!format!("{d:?}").contains("s3cret"), "{d:?}");

        let anonymous = parse(
            "[directory]\nurl = \"ldap://127.0.0.1:3890\"\nstarttls = true\nbase = \"dc=test\"\n",
        )
        .unwrap()
        .directory
        .ldap
        .unwrap();
        assert_eq!(anonymous.tls, LdapTls::StartTls);
        assert_eq!(anonymous.bind_dn, None);
        assert!(!d.mapping.credentials.is_on(), "no credentials by default");

        let with_users = parse(
            "[directory]\nurl = \"ldap://127.0.0.1:3890\"\nbase = \"dc=test\"\n\
             ha1_sha256_attribute = \"presencedHA1SHA256\"\nha1_md5_attribute = \"extensionAttribute15\"\n",
        )
        .unwrap()
        .directory;
        let attrs = &with_users.mapping.credentials;
        assert_eq!(attrs.ha1_sha256.as_deref(), Some("presencedHA1SHA256"));
        assert_eq!(attrs.ha1_md5.as_deref(), Some("extensionAttribute15"));
        assert!(with_users
            .mapping
            .attributes()
            .contains(&"extensionAttribute15"));
    }

    #[test]
    fn bad_values_name_the_field_and_line() {
        let e = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            e("[directory]\nurl = \"http://dc1\"\n"),
            "/etc/presenced/presenced.toml:2:7: directory.url: \"http://dc1\" is not an ldap:// or ldaps:// URL"
        );
        assert!(
            e("[directory]\nurl = \"ldap://dc1/dc=x\"\nbase = \"dc=x\"\n")
                .contains("directory.url: \"ldap://dc1/dc=x\" must name a host")
        );
        assert!(
            e("[directory]\nurl = \"ldaps://dc1\"\nstarttls = true\nbase = \"dc=x\"\n")
                .starts_with("/etc/presenced/presenced.toml:3:12: directory.starttls:")
        );
        assert!(
            e("[directory]\nurl = \"ldap://dc1\"\n").contains("directory.base: the search base")
        );
        assert!(
            e("[directory]\nurl = \"ldap://dc1\"\nbase = \"dc=x\"\nfilter = \"uid=*\"\n")
                .contains(":4:10: directory.filter: \"uid=*\" is not an LDAP filter")
        );
        assert!(
            e("[directory]\nurl = \"ldap://dc1\"\nbase = \"dc=x\"\npage_size = 0\n")
                .contains("directory.page_size: 0 is out of range (1 to 10000)")
        );
        assert!(
            e("[directory]\nurl = \"ldap://dc1\"\nbase = \"dc=x\"\nca_file = \"ca.pem\"\n")
                .contains("directory.ca_file: set only with an ldaps:// URL or starttls = true")
        );
        assert!(e("[directory]\nurl = \"ldap://dc1\"\nbase = \"dc=x\"\nbind_dn = \"cn=x\"\npassword_file = \"/nonexistent/pw\"\n")
            .contains("directory.password_file: cannot read /nonexistent/pw"));
        assert!(e("[directory]\nresource_classes = [\"a b\"]\n")
            .contains("directory.resource_classes: \"a b\" is not a class name"));
        assert!(
            e("[directory]\nha1_md5_attribute = \"1md5 hash\"\n").contains(
                ":2:21: directory.ha1_md5_attribute: \"1md5 hash\" is not an LDAP attribute name"
            )
        );
    }
}
