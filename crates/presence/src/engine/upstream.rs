//! The engine's side of the presence provider: which presentities are
//! watched (so the runtime keeps one upstream subscription for each), and
//! the upstream's state entering a presentity as one of its sources.
//!
//! The engine does not know about the upstream itself ([`crate::provider`]
//! does, driven by the runtime): it reports each watcher gained or lost
//! as an interest change, and takes the upstream's documents
//! as [`SourceKey::Upstream`] sources, aggregated with whatever else the
//! presentity has (a local publication, a category publication) and
//! notified to every watcher in its format.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::SyncState;
use super::{Action, Engine};
use crate::availability::SourceKind;
use crate::flow::Flow;
use crate::source::{never, Source, SourceKey};
use crate::XmlLimits;

/// One watcher more or less for a presentity, for the provider, which
/// counts its consumers and holds one upstream subscription while any
/// is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// The presentity key (its address of record).
    pub presentity: String,
    /// True for a new watcher, false for one gone.
    pub watched: bool,
}

/// The presence provider's sources that are set through the API rather
/// than subscribed (seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvidedSource {
    /// What attendant clients set.
    Attendant,
    /// A PSTN line's call state.
    Pstn,
}

impl<F: Flow> Engine<F> {
    /// Puts in (or takes out) an attendant or PSTN state of `presentity`:
    /// an attendant's as a user state, a line's as a phone state.
    pub(super) fn provided(
        &mut self,
        presentity: &str,
        source: ProvidedSource,
        state: Option<SyncState>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let (key, kind) = match source {
            ProvidedSource::Attendant => (SourceKey::Attendant, SourceKind::User),
            ProvidedSource::Pstn => (SourceKey::Pstn, SourceKind::Phone),
        };
        self.state_source(presentity, key, kind, state, now)
    }

    /// The upstream's state of `presentity` (`None`: unknown, the source
    /// goes). A document that does not read as PIDF also makes it
    /// unknown: a stale state must not stay on show.
    pub(super) fn upstream(
        &mut self,
        presentity: &str,
        state: Option<(Bytes, Bytes)>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let document = state.and_then(|(content_type, body)| {
            let pidf = content_type.is_empty()
                || content_type
                    .to_ascii_lowercase()
                    .starts_with(b"application/pidf+xml");
            if !pidf {
                return None;
            }
            let document = crate::pidf::parse(&body, &XmlLimits::DEFAULT).ok()?;
            Some((document, String::from_utf8_lossy(&body).into_owned()))
        });
        let changed = match document {
            Some((document, body)) => {
                let sequence = self.presentities.next_sequence();
                let source = Source::pidf(document, body, sequence, never(), None, now);
                self.presentities
                    .put(presentity, SourceKey::Upstream, source, now)
            }
            None => self
                .presentities
                .take(presentity, &SourceKey::Upstream, now)
                .is_some_and(|(_, changed)| changed),
        };
        let mut out = Vec::new();
        if changed {
            self.presentity_changed(presentity, now, &mut out);
        }
        out
    }

    /// Counts one more (`up`) or one less watcher of `presentity`: a
    /// presence subscription to it, or a batch watching it. Each change is
    /// queued for [`Engine::take_interest`]; a decrease below zero (a
    /// watcher never counted) is ignored.
    pub(super) fn count_interest(&mut self, presentity: &Arc<str>, up: bool) {
        if up {
            match self.interest.get_mut(&**presentity) {
                Some(n) => *n += 1,
                None => {
                    self.interest.insert(presentity.clone(), 1);
                }
            }
        } else {
            let Some(n) = self.interest.get_mut(&**presentity) else {
                return;
            };
            *n -= 1;
            if *n == 0 {
                self.interest.remove(&**presentity);
            }
        }
        self.interest_changes.push(Interest {
            presentity: presentity.to_string(),
            watched: up,
        });
    }

    /// The watchers gained and lost since the last call, in order. The
    /// runtime calls it after each input, to count the provider's
    /// consumers (an upstream subscription lives while any is left).
    pub fn take_interest(&mut self) -> Vec<Interest> {
        std::mem::take(&mut self.interest_changes)
    }

    /// One consumer more (`up`) or less of `presentity` that watches it
    /// outside SIP (the presence provider's API event stream): counted
    /// like a watcher, so the provider subscribes upstream for it too.
    pub fn count_consumer(&mut self, presentity: &str, up: bool) {
        self.count_interest(&Arc::from(presentity), up);
    }

    /// Whether anyone watches `presentity` (a presence subscription or a
    /// batch resource).
    pub fn is_watched(&self, presentity: &str) -> bool {
        self.interest.contains_key(presentity)
    }
}
