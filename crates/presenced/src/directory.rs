//! The company directory at run time: the last good LDAP snapshot, its
//! refresh task, and the merged address book that the HTTP API, the
//! console and dialect clients' searches read.
//!
//! - [`ldap`] reads the server (the edge); `rules::address_book` maps
//!   and merges (sans-IO).
//! - The refresh task ([`spawn_refresh`]) replaces the snapshot only
//!   when a whole refresh succeeded: an LDAP server that is down, slow or
//!   refuses the bind leaves the last good directory in place, which
//!   `/health` reports ([`DirectoryHub::health`]), the log says (`ldap
//!   refresh failed`) and the metrics count
//!   (`presenced_directory_refreshes_total{result="failed"}`,
//!   `presenced_directory_up`).
//! - The merged book is rebuilt on first use after the LDAP snapshot or
//!   the running `[service]` (a reload) changed, so a search always sees
//!   both as they are, and nothing rebuilds it while neither changes.
//!
//! The contact-center agents of the sync engine join as one more source
//! of [`rules::Entry`] (`Origin::Agent`), after LDAP (whose names win),
//! from the [`AgentRoster`] the SIP core keeps up to date ([`agents`]).
//! Their changes rebuild the book at most once per [`AGENT_REBUILD`]
//! (an agent binding shows in a search within that); their statuses are
//! read fresh for each page, so a state change shows at once.
//!
//! With `directory.ha1_sha256_attribute` / `ha1_md5_attribute`, each
//! refresh also yields the users who may sign in with digest
//! (`rules::address_book::ldap::credentials`): the hub is the
//! authenticator's [`UserDirectory`], so a user added to LDAP signs in
//! after the next refresh and one deleted (or whose hashes were removed)
//! no longer does. A failed refresh keeps the last good users, as it
//! keeps the last good entries.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use presence::address_book::SearchRow;
use presence::SearchAnswer;
use rules::address_book::ldap::{credentials, Credentials, LdapRecord, Mapping};
use rules::{AddressBook, Entry};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Identities, User, UserDirectory};
use crate::config::LdapSettings;
use crate::reload::LiveConfig;

pub mod agents;
pub mod ldap;

pub use agents::AgentRoster;

/// How often agent changes alone may rebuild the merged book: a
/// contact center binding thousands of agents, or posting thousands of
/// states a second, costs one merge a second at most, and only while
/// someone reads the directory.
pub const AGENT_REBUILD: Duration = Duration::from_secs(1);

/// The entries of the last successful LDAP refresh.
#[derive(Debug, Default)]
struct Snapshot {
    entries: Vec<Entry>,
}

/// The users of the last successful LDAP refresh who may sign in, by
/// digest username.
type Users = std::collections::HashMap<String, Arc<User>>;

/// The merged book and what it was built from.
#[derive(Debug)]
pub struct Merged {
    /// The merged address book.
    pub book: AddressBook,
    ldap: Arc<Snapshot>,
    services: Arc<rules::Directory>,
    /// The roster's generation the agents were taken at.
    agents: u64,
    /// When it was built.
    built: Instant,
}

impl Merged {
    /// Merges LDAP (first: its names and fields win), the agents, and
    /// the rooms and gateway rules of `services`.
    fn build(
        ldap: Arc<Snapshot>,
        services: Arc<rules::Directory>,
        agents: &AgentRoster,
        now: Instant,
    ) -> Merged {
        let (generation, agent_entries) = agents.entries();
        let book = AddressBook::merge(
            [ldap.entries.as_slice(), agent_entries.as_slice()],
            &services,
        );
        Merged {
            book,
            ldap,
            services,
            agents: generation,
            built: now,
        }
    }
}

/// How the LDAP source is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    /// No `[directory] url`: the book holds the rooms of `[service]`.
    Off,
    /// The first refresh has not finished.
    Starting,
    /// The last refresh succeeded.
    Ok {
        /// When it finished.
        at: SystemTime,
        /// Entries taken.
        entries: usize,
        /// Entries skipped (no or a bad `msRTCSIP-PrimaryUserAddress`).
        skipped: usize,
    },
    /// The last refresh failed; the last good snapshot (if any) stays.
    Failing {
        /// When the failures began.
        since: SystemTime,
        /// The last failure.
        error: String,
        /// When the snapshot in use was taken, if one was.
        last_good: Option<SystemTime>,
    },
}

/// The directory shared by the HTTP side, the SIP core (through
/// [`presence::AddressBook`]) and the refresh task.
#[derive(Debug)]
pub struct DirectoryHub {
    live: LiveConfig,
    ldap: ArcSwap<Snapshot>,
    users: ArcSwap<Users>,
    merged: ArcSwap<Merged>,
    status: Mutex<SyncStatus>,
    agents: Arc<AgentRoster>,
}

impl DirectoryHub {
    /// An empty directory over the running configuration's `[service]`;
    /// `ldap_on` says whether a refresh task will fill it.
    pub fn new(live: LiveConfig, ldap_on: bool) -> Arc<DirectoryHub> {
        let ldap = Arc::new(Snapshot::default());
        let services = live.load().service.directory.clone();
        let agents = Arc::new(AgentRoster::default());
        let merged = Merged::build(ldap.clone(), services, &agents, Instant::now());
        Arc::new(DirectoryHub {
            live,
            ldap: ArcSwap::from(ldap),
            users: ArcSwap::from_pointee(Users::new()),
            merged: ArcSwap::from_pointee(merged),
            agents,
            status: Mutex::new(if ldap_on {
                SyncStatus::Starting
            } else {
                SyncStatus::Off
            }),
        })
    }

    /// The contact-center agents' statuses, which the SIP core writes.
    pub fn agents(&self) -> Arc<AgentRoster> {
        self.agents.clone()
    }

    /// The merged book as of now: rebuilt if the LDAP snapshot or
    /// `[service]` changed, or if the agents changed and the book is
    /// older than [`AGENT_REBUILD`].
    pub fn book(&self) -> Arc<Merged> {
        self.book_at(Instant::now())
    }

    /// [`DirectoryHub::book`] at `now`.
    fn book_at(&self, now: Instant) -> Arc<Merged> {
        let merged = self.merged.load_full();
        let ldap = self.ldap.load_full();
        let services = self.live.load().service.directory.clone();
        let same_sources =
            Arc::ptr_eq(&merged.ldap, &ldap) && Arc::ptr_eq(&merged.services, &services);
        let agents_settled = merged.agents == self.agents.generation()
            || now.saturating_duration_since(merged.built) < AGENT_REBUILD;
        if same_sources && agents_settled {
            return merged;
        }
        let fresh = Arc::new(Merged::build(ldap, services, &self.agents, now));
        crate::metrics::set_directory_entries(&fresh.book);
        self.merged.store(fresh.clone());
        fresh
    }

    /// How the LDAP source is doing.
    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_status(&self, status: SyncStatus) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    /// Takes a successful refresh: maps the records (skipping, with a
    /// debug line each, those that make no entry) and replaces the
    /// snapshot and the users who may sign in.
    pub fn refreshed(&self, records: &[LdapRecord], mapping: &Mapping, now: SystemTime) {
        let mut entries = Vec::with_capacity(records.len());
        let mut signing_in = Vec::new();
        let mut skipped = 0;
        for record in records {
            match mapping.map(record) {
                Ok(entry) => {
                    match mapping.credentials.read(record, &entry) {
                        Ok(found) => signing_in.extend(found),
                        Err(why) => {
                            tracing::warn!(dn = %record.dn, %why, "ldap user may not sign in");
                        }
                    }
                    entries.push(entry);
                }
                Err(why) => {
                    skipped += 1;
                    tracing::debug!(dn = %record.dn, %why, "ldap entry skipped");
                }
            }
        }
        let users = self.take_users(signing_in);
        let taken = entries.len();
        if matches!(self.status(), SyncStatus::Failing { .. }) {
            tracing::info!(entries = taken, "ldap refresh succeeded again");
        }
        tracing::info!(entries = taken, skipped, users, "ldap directory refreshed");
        self.ldap.store(Arc::new(Snapshot { entries }));
        self.set_status(SyncStatus::Ok {
            at: now,
            entries: taken,
            skipped,
        });
        crate::metrics::directory_refreshed(true, now);
        self.book();
    }

    /// Replaces the users who may sign in; returns how many there are.
    fn take_users(&self, found: Vec<Credentials>) -> usize {
        let (by_name, ambiguous) = credentials::by_username(found);
        for (dn, why) in ambiguous {
            tracing::warn!(%dn, %why, "ldap user may not sign in");
        }
        let users: Users = by_name
            .into_iter()
            .map(|(username, c)| {
                // The key's form (`sip:user@host`, host lowercased) is
                // what `sip::Uri::aor` gives the requests it is compared
                // with.
                let aor = sip::Uri::parse_str(&c.aor).map_or(c.aor, |u| u.aor());
                let user = User {
                    aor,
                    username: username.clone(),
                    ha1_sha256: c.ha1_sha256,
                    ha1_md5: c.ha1_md5,
                    // A directory user publishes only as itself.
                    publish_for: Identities::default(),
                };
                (username, Arc::new(user))
            })
            .collect();
        let count = users.len();
        self.users.store(Arc::new(users));
        count
    }

    /// Takes a failed refresh: the snapshot stays, the failure is logged
    /// and shown in `/health`.
    pub fn failed(&self, error: &ldap::RefreshError, now: SystemTime) {
        let status = match self.status() {
            SyncStatus::Failing {
                since, last_good, ..
            } => SyncStatus::Failing {
                since,
                error: error.to_string(),
                last_good,
            },
            SyncStatus::Ok { at, .. } => SyncStatus::Failing {
                since: now,
                error: error.to_string(),
                last_good: Some(at),
            },
            SyncStatus::Off | SyncStatus::Starting => SyncStatus::Failing {
                since: now,
                error: error.to_string(),
                last_good: None,
            },
        };
        let kept = self.ldap.load().entries.len();
        tracing::warn!(%error, kept, "ldap refresh failed; the last good directory stays");
        self.set_status(status);
        crate::metrics::directory_refreshed(false, now);
    }

    /// One line for `/health` when the LDAP source is on: how it is doing
    /// and what the directory holds; `None` when it is off.
    pub fn health(&self, now: SystemTime) -> Option<String> {
        let ago = |t: SystemTime| now.duration_since(t).unwrap_or_default().as_secs();
        let entries = self.ldap.load().entries.len();
        match self.status() {
            SyncStatus::Off => None,
            SyncStatus::Starting => {
                Some("directory: starting, first ldap refresh under way".into())
            }
            SyncStatus::Ok { at, .. } => Some(format!(
                "directory: ok, {entries} ldap entries, refreshed {} s ago",
                ago(at)
            )),
            SyncStatus::Failing {
                since,
                error,
                last_good,
            } => Some(format!(
                "directory: ldap failing for {} s ({error}); serving {entries} entries from {}",
                ago(since),
                match last_good {
                    Some(t) => format!("the refresh {} s ago", ago(t)),
                    None => "no refresh yet".to_owned(),
                }
            )),
        }
    }
}

impl UserDirectory for DirectoryHub {
    fn user(&self, username: &str) -> Option<Arc<User>> {
        self.users.load().get(username).cloned()
    }
}

impl presence::AddressBook for DirectoryHub {
    fn search(&self, rows: &[SearchRow], max: usize) -> SearchAnswer {
        self.book().book.search(rows, max)
    }
}

/// Starts the refresh task: a refresh at once, then one every
/// `refresh`, each bounded by `timeout`, until `cancel`.
pub fn spawn_refresh(
    hub: Arc<DirectoryHub>,
    settings: LdapSettings,
    mapping: Mapping,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    tracing::info!(url = %settings.url, base = %settings.base, filter = %settings.filter,
        refresh_secs = settings.refresh.as_secs(), "ldap directory on");
    tracker.spawn(async move {
        loop {
            let attributes = mapping.attributes();
            let refresh =
                tokio::time::timeout(settings.timeout, ldap::fetch(&settings, &attributes));
            let outcome = tokio::select! {
                _ = cancel.cancelled() => break,
                outcome = refresh => outcome,
            };
            let now = SystemTime::now();
            match outcome {
                Ok(Ok(records)) => hub.refreshed(&records, &mapping, now),
                Ok(Err(e)) => hub.failed(&e, now),
                Err(_) => hub.failed(
                    &ldap::RefreshError::Timeout(settings.timeout.as_secs()),
                    now,
                ),
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(settings.refresh.max(Duration::from_secs(1))) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Config;

    fn record(dn: &str, address: &str) -> LdapRecord {
        LdapRecord {
            dn: dn.to_owned(),
            attrs: HashMap::from([(
                "msRTCSIP-PrimaryUserAddress".to_owned(),
                vec![address.to_owned()],
            )]),
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_good_directory() {
        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::default()));
        let hub = DirectoryHub::new(live, true);
        assert_eq!(hub.status(), SyncStatus::Starting);
        assert!(hub.health(at(0)).unwrap().contains("starting"));
        let records = [
            record("cn=Alice,dc=x", "sip:alice@example.com"),
            record("cn=NoSip,dc=x", "alice@example.com"),
        ];
        hub.refreshed(&records, &Mapping::default(), at(10));
        assert_eq!(hub.book().book.len(), 1);
        assert_eq!(
            hub.status(),
            SyncStatus::Ok {
                at: at(10),
                entries: 1,
                skipped: 1
            }
        );
        assert_eq!(
            hub.health(at(15)).unwrap(),
            "directory: ok, 1 ldap entries, refreshed 5 s ago"
        );

        let refused = ldap::RefreshError::Timeout(5);
        hub.failed(&refused, at(20));
        hub.failed(&refused, at(30));
        assert_eq!(hub.book().book.len(), 1, "the last good directory stays");
        assert_eq!(
            hub.health(at(40)).unwrap(),
            "directory: ldap failing for 20 s (no answer within 5 s); serving 1 entries from the refresh 30 s ago"
        );

        hub.refreshed(&[], &Mapping::default(), at(50));
        assert!(hub.book().book.is_empty(), "an empty answer is an answer");
    }

    #[test]
    fn agents_merge_with_ldap_entries_of_their_address() {
        use rules::address_book::CcStatus;
        use rules::{Kind, Origin};

        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::default()));
        let hub = DirectoryHub::new(live, true);
        let start = Instant::now();
        hub.refreshed(
            &[record("cn=Alice,dc=x", "sip:alice@example.com")],
            &Mapping::default(),
            at(0),
        );
        let status = |text: &str| CcStatus {
            agent: "4711".into(),
            state: text.into(),
            device: "Idle",
            user_state: "LoggedInToClient",
            text: text.into(),
        };
        let roster = hub.agents();
        roster.apply(vec![
            ("sip:alice@example.com".into(), Some(status("Ready"))),
            ("sip:carol@example.com".into(), Some(status("Not ready"))),
        ]);
        let later = start + AGENT_REBUILD * 2;
        let book = hub.book_at(later);
        assert_eq!(book.book.len(), 2);
        let alice = book.book.get("sip:alice@example.com").unwrap();
        assert_eq!(alice.kind, Kind::User, "LDAP names the kind");
        assert_eq!(alice.origins, [Origin::Ldap, Origin::Agent]);
        assert_eq!(alice.cc_status, Some(status("Ready")));
        let carol = book.book.get("sip:carol@example.com").unwrap();
        assert_eq!(
            (carol.kind, carol.display_name.as_str()),
            (Kind::Agent, "carol")
        );

        // A state change alone waits for the next rebuild; a page reads
        // the roster for it meanwhile.
        roster.apply(vec![(
            "sip:alice@example.com".into(),
            Some(status("In a call")),
        )]);
        assert!(Arc::ptr_eq(&book, &hub.book_at(later)));
        assert_eq!(
            roster.statuses(["sip:alice@example.com"]),
            vec![Some(status("In a call"))]
        );
        let rebuilt = hub.book_at(later + AGENT_REBUILD);
        assert_eq!(
            rebuilt.book.get("sip:alice@example.com").unwrap().cc_status,
            Some(status("In a call"))
        );
    }

    #[test]
    fn directory_users_follow_the_refreshes() {
        use rules::address_book::ldap::CredentialAttributes;
        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::default()));
        let hub = DirectoryHub::new(live, true);
        let mapping = Mapping {
            credentials: CredentialAttributes {
                ha1_sha256: Some("presencedHA1SHA256".into()),
                ha1_md5: Some("presencedHA1MD5".into()),
            },
            ..Mapping::default()
        };
        let sha = "ab".repeat(32);
        let with_hash = |dn: &str, address: &str, attribute: &str, hash: &str| {
            let mut r = record(dn, address);
            r.attrs.insert(attribute.into(), vec![hash.into()]);
            r
        };
        let dora = with_hash(
            "cn=Dora,dc=x",
            "sip:dora@Example.com",
            "presencedHA1SHA256",
            &sha,
        );
        let records = [
            dora.clone(),
            // Ambiguous: two entries sign in as "alice"; neither may.
            with_hash(
                "cn=A1,dc=x",
                "sip:alice@a.example",
                "presencedHA1MD5",
                &"cd".repeat(16),
            ),
            with_hash(
                "cn=A2,dc=x",
                "sip:alice@b.example",
                "presencedHA1MD5",
                &"cd".repeat(16),
            ),
            // A password where a hash belongs: no sign-in, still listed.
            with_hash(
                "cn=Eve,dc=x",
                "sip:eve@example.com",
                "presencedHA1MD5",
                "password",
            ),
            record("cn=Bob,dc=x", "sip:bob@example.com"),
        ];
        hub.refreshed(&records, &mapping, at(1));
        let user = hub.user("dora").expect("dora signs in");
        assert_eq!(user.aor, "sip:dora@example.com");
        assert_eq!(user.ha1_sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(user.publish_for, Identities::default());
        for nobody in ["alice", "eve", "bob"] {
            assert!(hub.user(nobody).is_none(), "{nobody}");
        }
        assert_eq!(hub.book().book.len(), 5);
        // A failed refresh keeps the users; a refresh without dora drops her.
        hub.failed(&ldap::RefreshError::Timeout(5), at(2));
        assert!(hub.user("dora").is_some());
        hub.refreshed(&records[1..], &mapping, at(3));
        assert!(hub.user("dora").is_none());
        // Without the attributes configured, nobody signs in.
        hub.refreshed(&[dora], &Mapping::default(), at(4));
        assert!(hub.user("dora").is_none());
    }

    #[test]
    fn the_book_follows_a_reload_of_service() {
        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::default()));
        let hub = DirectoryHub::new(live.clone(), false);
        assert_eq!(hub.health(at(0)), None, "no ldap, nothing to report");
        assert!(hub.book().book.is_empty());
        let text = "[[service.rooms]]\naliases = [\"meet.alice@vc.example.com\"]\nname = \"Alice's room\"\n";
        let reloaded = Config::parse(std::path::Path::new("/tmp/p.toml"), text).unwrap();
        live.store(Arc::new(reloaded));
        let book = hub.book();
        assert_eq!(book.book.len(), 1);
        assert!(
            Arc::ptr_eq(&book, &hub.book()),
            "not rebuilt while nothing changed"
        );
    }
}
