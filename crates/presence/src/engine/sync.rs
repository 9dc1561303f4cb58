//! The engine's side of the sync engine (issue 11): a contact-center
//! agent's state entering its presentity as the [`SourceKey::Sync`]
//! source, and the presentity's aggregated availability reported back
//! after every change, so the rules can sync UC changes toward the
//! contact center.
//!
//! The rules themselves (profiles, mappings, loop prevention) are the
//! `rules` crate's; the engine only puts the source in and reports. The
//! source is aggregated like any other (a manual user state still wins,
//! the busiest live source otherwise), dialect watchers get its texts in
//! their language, PIDF watchers the conversion table's row.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use super::{Action, Engine};
use crate::availability::{Availability, CustomTexts, SourceKind, SourceState, StateActivity};
use crate::flow::Flow;
use crate::source::{Source, SourceKey};

/// What the sync engine publishes for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// The availability number.
    pub availability: Availability,
    /// The activity text per LCID (may be empty).
    pub texts: CustomTexts,
}

/// A tracked presentity's aggregate after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedChange {
    /// The presentity key.
    pub presentity: String,
    /// Its aggregated availability now.
    pub availability: Availability,
}

/// The presentities the runtime asked to hear about, and their changes
/// (the latest aggregate per presentity: one input can change many, a
/// reload of the sync rules every bound agent's, so noting one is O(1)).
#[derive(Debug, Default)]
pub(super) struct Tracked {
    presentities: HashSet<String>,
    changes: HashMap<String, Availability>,
}

impl<F: Flow> Engine<F> {
    /// Puts in (or takes out) the agent's sync source of `presentity`.
    pub(super) fn sync_state(
        &mut self,
        presentity: &str,
        state: Option<SyncState>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        self.state_source(presentity, SourceKey::Sync, SourceKind::Sync, state, now)
    }

    /// Puts in (or takes out) a source of `presentity` that is a state
    /// (an availability and texts) rather than a document: the sync
    /// engine's, and the presence provider's attendant and PSTN sources.
    pub(super) fn state_source(
        &mut self,
        presentity: &str,
        key: SourceKey,
        kind: SourceKind,
        state: Option<SyncState>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let changed = match state {
            Some(state) => {
                let sequence = self.presentities.next_sequence();
                let mut meaning =
                    SourceState::new(kind, kind.name(), now).with_availability(state.availability);
                if !state.texts.is_empty() {
                    // Shown while the aggregate is in the published class
                    // (or its idle companion): a manual Away hides it.
                    meaning = meaning.with_activity(
                        StateActivity::custom(state.texts.clone())
                            .within_class(state.availability.class()),
                    );
                }
                let body = format!("{} {}", kind.name(), state.availability);
                let source = Source::state(meaning, body, sequence);
                self.presentities.put(presentity, key, source, now)
            }
            None => self
                .presentities
                .take(presentity, &key, now)
                .is_some_and(|(_, changed)| changed),
        };
        let mut out = Vec::new();
        if changed {
            self.presentity_changed(presentity, now, &mut out);
        }
        out
    }

    /// Starts (`true`) or stops reporting `presentity`'s aggregate
    /// through [`Engine::take_tracked`]: the presentities of bound agents.
    pub fn track(&mut self, presentity: &str, on: bool) {
        if on {
            self.tracked.presentities.insert(presentity.to_owned());
        } else {
            self.tracked.presentities.remove(presentity);
        }
    }

    /// Notes a change of `presentity` if it is tracked (called wherever
    /// watchers are poked, so every kind of change is seen: a PUBLISH, a
    /// category, an expiry, a fade, a sync source).
    pub(super) fn note_tracked(&mut self, presentity: &str) {
        self.note_changed(presentity);
        if !self.tracked.presentities.contains(presentity) {
            return;
        }
        let Some(availability) = self
            .presentities
            .aggregate(presentity)
            .map(|a| a.availability)
        else {
            return;
        };
        match self.tracked.changes.get_mut(presentity) {
            Some(latest) => *latest = availability,
            None => {
                self.tracked
                    .changes
                    .insert(presentity.to_owned(), availability);
            }
        }
    }

    /// The tracked presentities that changed since the last call, with
    /// their aggregate now (one entry per presentity, the latest; in no
    /// particular order). The runtime calls it after each input, like
    /// [`Engine::take_interest`].
    pub fn take_tracked(&mut self) -> Vec<TrackedChange> {
        self.tracked
            .changes
            .drain()
            .map(|(presentity, availability)| TrackedChange {
                presentity,
                availability,
            })
            .collect()
    }

    /// Notes a change of `presentity` for [`Engine::take_changed`], when
    /// the runtime asked for them.
    pub(super) fn note_changed(&mut self, presentity: &str) {
        if let Some(changed) = &mut self.changed {
            if !changed.contains(presentity) {
                changed.insert(presentity.to_owned());
            }
        }
    }

    /// Starts (`true`) or stops noting every presentity that changes, for
    /// [`Engine::take_changed`] (the runtime's history of changes).
    pub fn record_changes(&mut self, on: bool) {
        self.changed = on.then(Default::default);
    }

    /// The presentities that changed (any source, a service contact's
    /// answer included) since the last call, each once, in no particular
    /// order; empty unless [`Engine::record_changes`] is on. The runtime
    /// calls it after each step and asks [`Engine::shown`] what they show.
    pub fn take_changed(&mut self) -> Vec<String> {
        match &mut self.changed {
            Some(changed) if !changed.is_empty() => changed.drain().collect(),
            _ => Vec::new(),
        }
    }

    /// A presentity's aggregated availability now (`None`: unknown).
    pub fn aggregate_availability(&self, presentity: &str) -> Option<Availability> {
        self.presentities
            .aggregate(presentity)
            .map(|a| a.availability)
    }
}
