//! Each presentity's recent history of changes (issue 14: "a presentity's
//! page with its recent history of changes"), kept at the edge: the SIP
//! core notes what a changed presentity shows after each step
//! (`Engine::take_changed`, then `Engine::shown`), and the console's
//! presentity page and `GET /api/v1/presentities/{uri}/history` read it.
//!
//! Bounded twice, so it fits the capacity budget (../shared/DESIGN.md):
//! [`DEPTH`] changes per presentity (a ring: the oldest goes), and
//! [`PRESENTITIES`] presentities (the one whose last change is oldest is
//! forgotten first). A change that shows the same as the last one kept
//! (a republication, a refresh) is not a change and is not kept.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use presence::{Shown, ShownBy};
use serde::Serialize;

/// Changes kept per presentity.
pub const DEPTH: usize = 50;

/// Presentities with a history kept at once.
pub const PRESENTITIES: usize = 10_000;

/// One change: when, and what the presentity showed from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// When the core saw it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Microsoft's availability number.
    pub availability: u32,
    /// Its class (`Online`, `Busy`, `Away`, `Offline`, …).
    pub class: &'static str,
    /// The activity token, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The activity's text in US English, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_text: Option<String>,
    /// What decided it: the winning source's kind (`user`, `machine`,
    /// `phone`, `calendar`, `pidf`, `sync`, `service`, `upstream`), a
    /// `room` or `gateway` card, or `none` (nothing: Offline).
    pub source: &'static str,
}

impl Change {
    /// What `shown` says, at `now`.
    pub fn of(shown: &Shown, now: SystemTime) -> Change {
        let (activity, activity_text) = activity(shown);
        Change {
            at_ms: now
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            availability: shown.state.availability.value(),
            class: shown.state.class().name(),
            activity,
            activity_text,
            source: match shown.by {
                ShownBy::Sources => shown.state.decided_by.map_or("sources", |k| k.name()),
                ShownBy::Room => "room",
                ShownBy::Gateway => "gateway",
                ShownBy::Nothing => "none",
            },
        }
    }

    /// Whether two changes show the same (their times aside).
    fn same_as(&self, other: &Change) -> bool {
        // Field by field, without copies; naming every field makes a new
        // one a compile error here until it is compared too.
        let Change {
            at_ms: _,
            availability,
            class,
            activity,
            activity_text,
            source,
        } = self;
        *availability == other.availability
            && *class == other.class
            && *activity == other.activity
            && *activity_text == other.activity_text
            && *source == other.source
    }
}

/// What the SIP core saw recently, shared with the HTTP side (the
/// console and the API): each presentity's changes and the NOTIFY
/// latency of the last seconds.
#[derive(Debug, Default)]
pub struct Recent {
    /// Each presentity's recent changes.
    pub history: PresenceHistory,
    /// NOTIFY latency per second (`crate::latency`).
    pub notify_latency: crate::latency::NotifyLatency,
}

/// What `shown`'s activity is: its token and its text in US English
/// (what the console and the API show of it).
pub fn activity(shown: &Shown) -> (Option<String>, Option<String>) {
    let activity = shown.state.activity.as_ref();
    (
        activity
            .and_then(|a| a.token.as_ref())
            .map(|t| t.as_str().to_owned()),
        activity
            .and_then(|a| a.custom.get(presence::availability::Lcid::EN_US))
            .map(str::to_owned),
    )
}

/// The rings, sans-IO.
#[derive(Debug)]
pub struct Rings {
    depth: usize,
    max: usize,
    /// Presentity → (its last sequence number, its changes, oldest first).
    by_presentity: HashMap<String, (u64, VecDeque<Change>)>,
    /// Sequence of each presentity's last change → presentity: the
    /// oldest first, to forget.
    order: BTreeMap<u64, String>,
    next: u64,
}

impl Rings {
    /// Rings of `depth` changes for at most `max` presentities.
    pub fn new(depth: usize, max: usize) -> Rings {
        Rings {
            depth: depth.max(1),
            max: max.max(1),
            by_presentity: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// Keeps `change` of `presentity`, unless it shows what the last
    /// one kept shows.
    pub fn record(&mut self, presentity: &str, change: Change) {
        let seq = self.next;
        self.next += 1;
        if let Some((last, ring)) = self.by_presentity.get_mut(presentity) {
            if ring.back().is_some_and(|b| b.same_as(&change)) {
                return;
            }
            if ring.len() == self.depth {
                ring.pop_front();
            }
            ring.push_back(change);
            // The presentity's name moves to its new place in the order.
            let name = self
                .order
                .remove(last)
                .unwrap_or_else(|| presentity.to_owned());
            *last = seq;
            self.order.insert(seq, name);
            return;
        }
        if self.by_presentity.len() == self.max {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.by_presentity.remove(&oldest);
            }
        }
        self.by_presentity
            .insert(presentity.to_owned(), (seq, VecDeque::from([change])));
        self.order.insert(seq, presentity.to_owned());
    }

    /// The changes of `presentity`, newest first.
    pub fn of(&self, presentity: &str) -> Vec<Change> {
        self.by_presentity
            .get(presentity)
            .map(|(_, ring)| ring.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// How many presentities have a history.
    pub fn len(&self) -> usize {
        self.by_presentity.len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.by_presentity.is_empty()
    }
}

/// The rings shared by the SIP core (which writes) and the HTTP side.
#[derive(Debug)]
pub struct PresenceHistory {
    rings: Mutex<Rings>,
}

impl Default for PresenceHistory {
    fn default() -> PresenceHistory {
        PresenceHistory {
            rings: Mutex::new(Rings::new(DEPTH, PRESENTITIES)),
        }
    }
}

impl PresenceHistory {
    /// Keeps the changes of one step (one lock for all of them).
    pub fn record(&self, changes: impl IntoIterator<Item = (String, Change)>) {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        for (presentity, change) in changes {
            rings.record(&presentity, change);
        }
    }

    /// The changes of `presentity` (its key, `sip:user@host`), newest
    /// first.
    pub fn of(&self, presentity: &str) -> Vec<Change> {
        self.rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .of(presentity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at_ms: u64, availability: u32) -> Change {
        Change {
            at_ms,
            availability,
            class: "Online",
            activity: None,
            activity_text: None,
            source: "pidf",
        }
    }

    #[test]
    fn rings_keep_the_newest_changes_of_the_latest_presentities() {
        let mut rings = Rings::new(3, 2);
        for (i, a) in [3500, 3500, 6500, 9500, 3500, 6500].into_iter().enumerate() {
            rings.record("sip:a@x", change(i as u64, a));
        }
        let kept: Vec<(u64, u32)> = rings
            .of("sip:a@x")
            .iter()
            .map(|c| (c.at_ms, c.availability))
            .collect();
        assert_eq!(
            kept,
            [(5, 6500), (4, 3500), (3, 9500)],
            "newest first, 3 kept, repeats not"
        );

        rings.record("sip:b@x", change(6, 3500));
        rings.record("sip:a@x", change(7, 18000));
        // c comes: b changed least recently, so b is forgotten.
        rings.record("sip:c@x", change(8, 3500));
        assert_eq!(rings.len(), 2);
        assert!(rings.of("sip:b@x").is_empty());
        assert_eq!(rings.of("sip:a@x")[0].availability, 18000);
        assert_eq!(rings.of("sip:c@x").len(), 1);
    }

    #[test]
    fn a_change_is_a_repeat_only_when_all_but_its_time_match() {
        let base = change(1, 3500);
        assert!(base.same_as(&change(2, 3500)));
        let differs = [
            Change {
                availability: 6500,
                ..base.clone()
            },
            Change {
                class: "Busy",
                ..base.clone()
            },
            Change {
                activity: Some("away".into()),
                ..base.clone()
            },
            Change {
                activity_text: Some("Lunch".into()),
                ..base.clone()
            },
            Change {
                source: "user",
                ..base.clone()
            },
        ];
        for other in differs {
            assert!(!base.same_as(&other), "{other:?}");
        }
    }

    #[test]
    fn a_change_says_what_decided_it() {
        use presence::availability::{AggregateState, Availability};
        let shown = Shown {
            state: AggregateState::fixed(Availability::new(6500), None),
            by: ShownBy::Gateway,
        };
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let change = Change::of(&shown, at);
        assert_eq!(change.at_ms, 1_700_000_000_123);
        assert_eq!((change.availability, change.class), (6500, "Busy"));
        assert_eq!(change.source, "gateway");
    }
}
