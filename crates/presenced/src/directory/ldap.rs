//! The LDAP client at the edge: one refresh is connect (LDAPS, StartTLS
//! or plain), bind (simple, or anonymous without a bind DN), one paged
//! subtree search (RFC 2696) for the address book's attributes, unbind.
//! What the entries mean is decided in `rules::address_book::ldap`.

use ldap3::adapters::PagedResults;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use rules::address_book::ldap::LdapRecord;

use crate::config::{LdapSettings, LdapTls};

/// The most entries one refresh takes: far above any company's
/// directory, so a filter that matches a whole forest's objects fails
/// loudly instead of filling memory.
pub const MAX_ENTRIES: usize = 2_000_000;

/// Why a refresh failed; the last good directory stays in place.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The server said no, or the connection broke, at `stage`.
    #[error("{stage}: {source}")]
    Ldap {
        /// connect, bind, search.
        stage: &'static str,
        /// What ldap3 reported (the result code and the server's text).
        source: LdapError,
    },
    /// The CA file of `directory.ca_file` is unusable.
    #[error("tls: {0}")]
    Tls(#[from] crate::transport::tls::TlsError),
    /// The search matched more than [`MAX_ENTRIES`].
    #[error("more than {MAX_ENTRIES} entries; narrow directory.filter or directory.base")]
    TooMany,
    /// The refresh took longer than `directory.timeout_secs`.
    #[error("no answer within {0} s")]
    Timeout(u64),
}

fn at(stage: &'static str) -> impl Fn(LdapError) -> RefreshError {
    move |source| RefreshError::Ldap { stage, source }
}

/// Reads `attributes` of every entry the settings' base and filter
/// select.
pub async fn fetch(
    settings: &LdapSettings,
    attributes: &[&str],
) -> Result<Vec<LdapRecord>, RefreshError> {
    let mut conn = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout)
        .set_starttls(settings.tls == LdapTls::StartTls);
    if let Some(ca) = &settings.ca_file {
        conn = conn.set_config(crate::transport::tls::client_config(ca)?);
    }
    let (driver, mut ldap) = LdapConnAsync::with_settings(conn, &settings.url)
        .await
        .map_err(at("connect"))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = driver.drive().await {
            tracing::debug!(error = %e, "ldap connection ended");
        }
    });
    let result = async {
        if let Some(dn) = &settings.bind_dn {
            ldap.simple_bind(dn, &settings.password)
                .await
                .and_then(|r| r.success())
                .map_err(at("bind"))?;
        }
        let mut stream = ldap
            .streaming_search_with(
                PagedResults::new(settings.page_size),
                &settings.base,
                Scope::Subtree,
                &settings.filter,
                attributes.to_vec(),
            )
            .await
            .map_err(at("search"))?;
        let mut records = Vec::new();
        while let Some(entry) = stream.next().await.map_err(at("search"))? {
            if records.len() == MAX_ENTRIES {
                return Err(RefreshError::TooMany);
            }
            let entry = SearchEntry::construct(entry);
            records.push(LdapRecord {
                dn: entry.dn,
                attrs: entry.attrs,
            });
        }
        stream.finish().await.success().map_err(at("search"))?;
        Ok(records)
    }
    .await;
    // Best effort: the server drops the connection either way.
    let _ = ldap.unbind().await;
    driver.abort();
    result
}
