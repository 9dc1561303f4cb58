//! The sync engine's agents as the directory sees them: each bound
//! presentity's contact-center status, written by the SIP core (which
//! owns the agents, `crate::sync::SyncHub`) and read by the directory
//! (the merge, the HTTP search, the console's live stream).
//!
//! The core writes one entry per agent change (`Changes::directory`),
//! O(1) under a short lock, so the sync engine's hot path pays nothing
//! per directory reader. Readers take two things:
//! - [`AgentRoster::entries`]: the agents as directory entries for the
//!   merge, with a generation that tells [`super::DirectoryHub`] whether
//!   its book is stale (it rebuilds at most once per
//!   [`super::AGENT_REBUILD`] for agent changes);
//! - [`AgentRoster::statuses`]: the statuses of the entries a page
//!   shows, read fresh at each search, so a state change shows in the
//!   next search and the next event of the live stream even while the
//!   merged book is older.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rules::address_book::ldap::normalize_uri;
use rules::address_book::CcStatus;
use rules::Entry;

/// The agents' statuses by directory key (`sip:user@host`).
#[derive(Debug, Default)]
pub struct AgentRoster {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_uri: HashMap<String, CcStatus>,
    /// Bumped by every change that alters an entry.
    generation: u64,
}

impl AgentRoster {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the hub's changes: each presentity's status now, or `None`
    /// when it has no agent any more. Presentities that are no `sip:`
    /// address are not directory entries and are left out.
    pub fn apply(&self, changes: Vec<(String, Option<CcStatus>)>) {
        if changes.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for (presentity, status) in changes {
            let Some(uri) = normalize_uri(&presentity) else {
                continue;
            };
            let changed = match status {
                Some(status) => inner.by_uri.insert(uri, status.clone()) != Some(status),
                None => inner.by_uri.remove(&uri).is_some(),
            };
            if changed {
                inner.generation += 1;
            }
        }
    }

    /// The generation now: it differs from an earlier one when an entry
    /// changed since.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Every agent as a directory entry, and the generation they are of.
    pub fn entries(&self) -> (u64, Vec<Entry>) {
        let inner = self.lock();
        let entries = inner
            .by_uri
            .iter()
            .filter_map(|(uri, status)| status.entry(uri))
            .collect();
        (inner.generation, entries)
    }

    /// The status of each of `uris` (directory keys), in order; `None`
    /// for those with no agent.
    pub fn statuses<'a>(&self, uris: impl IntoIterator<Item = &'a str>) -> Vec<Option<CcStatus>> {
        let inner = self.lock();
        uris.into_iter()
            .map(|uri| inner.by_uri.get(uri).cloned())
            .collect()
    }

    /// How many agents there are.
    pub fn len(&self) -> usize {
        self.lock().by_uri.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> CcStatus {
        CcStatus {
            agent: "4711".into(),
            state: text.into(),
            device: "Idle",
            user_state: "LoggedInToClient",
            text: text.into(),
        }
    }

    #[test]
    fn changes_bump_the_generation_and_repeats_do_not() {
        let roster = AgentRoster::default();
        assert_eq!(roster.generation(), 0);
        roster.apply(vec![(
            "sip:alice@EXAMPLE.com".into(),
            Some(status("Ready")),
        )]);
        assert_eq!(roster.generation(), 1);
        roster.apply(vec![(
            "sip:alice@example.com".into(),
            Some(status("Ready")),
        )]);
        assert_eq!(roster.generation(), 1, "the same status is no change");
        roster.apply(vec![
            ("tel:+31612345678".into(), Some(status("Ready"))),
            ("sip:bob@example.com".into(), None),
        ]);
        assert_eq!(roster.generation(), 1, "nothing a directory holds");
        assert_eq!(
            roster.statuses(["sip:alice@example.com", "sip:bob@example.com"]),
            vec![Some(status("Ready")), None]
        );
        let (generation, entries) = roster.entries();
        assert_eq!(generation, 1);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].uri, "sip:alice@example.com");
        roster.apply(vec![("sip:alice@example.com".into(), None)]);
        assert_eq!(roster.generation(), 2);
        assert!(roster.is_empty());
    }
}
