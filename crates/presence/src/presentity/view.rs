//! What watchers are shown of a presentity: its sources composed into one
//! state, rendered once per change in each watcher format.
//!
//! Two renderings share one meaning:
//! - the **aggregate** ([`crate::availability::aggregate`]) of every
//!   source's [`crate::availability::SourceState`] — PIDF publications and
//!   the dialect's state categories alike — is what every dialect shows;
//! - the **PIDF body** is the RFC 3903 composition of the PIDF
//!   publications while they are the only sources (lossless: tuples,
//!   notes and extensions pass through), and the aggregate rendered as
//!   PIDF ([`crate::availability::render_pidf`], one row of the
//!   conversion table) once dialect sources take part, so a PIDF watcher
//!   and a Microsoft-dialect watcher of one presentity see the same state;
//! - the **category documents** (`application/msrtc-event-categories+xml`)
//!   carry the aggregate as the `state` category plus the categories
//!   published into the watcher's container, rendered lazily per container
//!   and shared by every watcher there.

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;

use super::Presentity;
use crate::availability::{
    aggregate, render_pidf, AggregateState, Availability, Lcid, SourceState,
};
use crate::composition::{compose, composes_to_itself, PublicationRef};
use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::msrtc::categories::{self, CategoryEntry, EntryValue};
use crate::msrtc::category::{self as wire, CategoryValue, StateType};
use crate::pidf;
use crate::publication::state_etag;
use crate::source::{SourceKey, STATE_INPUT_CONTAINERS};

/// The aggregate of a presentity with no sources.
pub(super) fn nothing() -> AggregateState {
    aggregate(&[], SystemTime::UNIX_EPOCH)
}

impl<F: Flow> Presentity<F> {
    /// Composes the live sources into the aggregate and the PIDF body;
    /// true when what watchers see changed (and the version went up).
    /// `language`: the text of a watcher of unknown language
    /// (`PublicationConfig::language`).
    pub(super) fn recompose(&mut self, key: &str, now: SystemTime, language: Lcid) -> bool {
        self.stale = None;
        let states = self.states();
        let aggregate = aggregate(&states, now);
        let dialect = self.sources.values().any(|s| s.document().is_none());
        // One publication whose composition is itself (nearly every
        // presentity) is rendered as it is, without the composed copy.
        let mut documents = self.sources.values().filter_map(|s| s.document());
        let lone = match (documents.next(), documents.next()) {
            (Some(document), None) if !dialect && composes_to_itself(key, document) => {
                Some(document)
            }
            _ => None,
        };
        let body = match lone {
            Some(document) => pidf::render_bytes(document),
            None => pidf::render_bytes(&self.composed(key, dialect, &aggregate, language)),
        };
        let changed = body != self.body
            || aggregate_differs(&aggregate, &self.aggregate)
            || std::mem::take(&mut self.categories_changed);
        self.aggregate = aggregate;
        if !changed {
            return false;
        }
        self.version += 1;
        self.etag = state_etag(&body).into();
        self.body = body;
        self.categories.clear();
        true
    }

    /// The document watchers are shown: closed without sources, the
    /// aggregate's rendering when a dialect source takes part, else the
    /// composition of the PIDF publications.
    fn composed(
        &self,
        key: &str,
        dialect: bool,
        aggregate: &AggregateState,
        language: Lcid,
    ) -> PresenceDocument {
        if self.sources.is_empty() {
            PresenceDocument::closed(key)
        } else if dialect {
            render_pidf(key, aggregate, None, language)
        } else {
            let parts: Vec<(PublicationRef, &PresenceDocument)> = self
                .sources
                .iter()
                .filter_map(|(source, p)| {
                    let reference = PublicationRef {
                        etag: source.etag().unwrap_or_default().to_owned(),
                        published_at: p.published_at,
                    };
                    Some((reference, p.document()?))
                })
                .collect();
            compose(key, &parts)
        }
    }

    /// The availability inputs: every source's state, a state category
    /// counted once per instance however many input containers it was
    /// published into.
    fn states(&self) -> Cow<'_, [SourceState]> {
        // One source (nearly every presentity) is aggregated in place.
        if let (1, Some(state)) = (
            self.sources.len(),
            self.sources.values().next().and_then(|s| s.state.as_ref()),
        ) {
            return Cow::Borrowed(std::slice::from_ref(state));
        }
        let mut states: Vec<SourceState> = Vec::with_capacity(self.sources.len());
        for (key, source) in &self.sources {
            let Some(state) = &source.state else {
                continue;
            };
            if let SourceKey::Category { instance, .. } = key {
                let seen = states
                    .iter()
                    .any(|s| s.kind == state.kind && s.id == instance.to_string());
                if seen {
                    continue;
                }
            }
            states.push(state.clone());
        }
        Cow::Owned(states)
    }

    /// When the aggregate changes by itself (an idle endpoint fading to
    /// Away), so the store can recompose then.
    pub(super) fn fades_at(&self) -> Option<SystemTime> {
        self.aggregate.changes_at
    }

    /// The category document for watchers in `container`, rendered on
    /// first demand for this version.
    pub(super) fn categories(&mut self, key: &str, container: u32, language: Lcid) -> Bytes {
        if let Some((_, body)) = self.categories.iter().find(|(c, _)| *c == container) {
            return body.clone();
        }
        let body = categories::render(key, &self.category_entries(container, language));
        self.categories.push((container, body.clone()));
        body
    }

    fn category_entries(&self, container: u32, language: Lcid) -> Vec<CategoryEntry> {
        let blocked = container == crate::roaming::BLOCKED;
        // Nothing known, or nothing live, shows Offline: a watcher's list
        // has no "unknown" for a person.
        let offline = blocked || !self.known() || self.aggregate.availability.value() < 3000;
        let availability = if offline {
            Availability::OFFLINE
        } else {
            self.aggregate.availability
        };
        let activity = (!blocked)
            .then_some(self.aggregate.activity.as_ref())
            .flatten()
            .map(|a| wire_activity(a, language));
        let state = wire::State {
            state_type: StateType::Aggregate,
            manual: self.aggregate.manual && !blocked,
            availability: Some(availability.value()),
            activity,
        };
        let mut entries = vec![CategoryEntry {
            name: "state".to_owned(),
            instance: Some(0),
            container: Some(container),
            version: Some(category_version(self.version)),
            publish_time: None,
            expire_type: None,
            value: EntryValue::Value(CategoryValue::State(state)),
        }];
        if blocked {
            return entries;
        }
        for (key, source) in &self.sources {
            let (
                SourceKey::Category {
                    name,
                    instance,
                    container: published_in,
                },
                Some(category),
            ) = (key, source.category_source())
            else {
                continue;
            };
            if *published_in != container
                || STATE_INPUT_CONTAINERS.contains(published_in)
                || &**name == "state"
            {
                continue;
            }
            entries.push(CategoryEntry {
                name: name.to_string(),
                instance: Some(*instance),
                container: Some(container),
                version: Some(category.version),
                publish_time: None,
                expire_type: None,
                value: EntryValue::Raw(category.xml.clone()),
            });
        }
        entries
    }
}

/// An aggregate's activity as the `state` category writes it: the token
/// and the custom texts, no range (an aggregate is not an input). The
/// text in `language` comes first: a Lync client picks its own LCID among
/// them, a client that reads only the first (pidgin-sipe) shows the
/// configured language.
pub(crate) fn wire_activity(
    a: &crate::availability::StateActivity,
    language: Lcid,
) -> wire::StateActivity {
    let mut custom: Vec<(u32, String)> =
        a.custom.iter().map(|(l, t)| (l.0, t.to_owned())).collect();
    custom.sort_by_key(|(lcid, _)| *lcid != language.0);
    wire::StateActivity {
        token: a.token.as_ref().map(|t| t.as_str().to_owned()),
        min_availability: None,
        max_availability: None,
        custom,
    }
}

/// Category versions are 32-bit on the wire; the presentity's version
/// wraps into them (a client compares for difference, not order).
fn category_version(version: u64) -> u32 {
    (version % u64::from(u32::MAX)) as u32
}

/// Whether two aggregates differ in anything a watcher is shown (the
/// time of the next fade is bookkeeping, not state).
fn aggregate_differs(a: &AggregateState, b: &AggregateState) -> bool {
    a.availability != b.availability
        || a.activity != b.activity
        || a.manual != b.manual
        || a.machine != b.machine
        || a.device != b.device
}
