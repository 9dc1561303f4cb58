//! The contact-center event stream's log: every event presenced sends a
//! contact center (T-Server's EventDNDOn / EventDNDOff, UC-derived status
//! changes) gets an id and stays in a bounded history, so a client that
//! reconnects with the last id it saw (`Last-Event-ID`) is given what it
//! missed, and one that missed more than the history holds is told so
//! instead of silently losing events.
//!
//! Ids start at the server's start time in microseconds, so they keep
//! growing across restarts: a client's id from before a restart is older
//! than anything the new history holds and gets the `gap` answer (the
//! history is not stored; the agents' states are, and a client re-reads
//! them after a gap).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rules::sync::CcChange;
use serde::Serialize;
use tokio::sync::watch;

/// Events kept for reconnecting clients.
pub const HISTORY: usize = 4096;

/// One event for the contact center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncEvent {
    /// Its id (the SSE `id:`), increasing.
    pub id: u64,
    /// The agent it is about.
    pub agent: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// Pull mode: DND on (EventDNDOn) or off (EventDNDOff).
    Dnd {
        /// On or off.
        on: bool,
    },
    /// A mapping's contact-center status, from a UC change.
    Status {
        /// The status to set.
        status: String,
    },
}

impl EventKind {
    /// The SSE event name: `dnd` or `status`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Dnd { .. } => "dnd",
            EventKind::Status { .. } => "status",
        }
    }
}

impl From<CcChange> for EventKind {
    fn from(change: CcChange) -> EventKind {
        match change {
            CcChange::Dnd(on) => EventKind::Dnd { on },
            CcChange::Status(status) => EventKind::Status { status },
        }
    }
}

/// What a reconnecting client is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The events after its id, oldest first.
    pub events: Vec<Arc<SyncEvent>>,
    /// Some events it missed are no longer held (it reconnected too
    /// late, or from before a restart): it should read its agents'
    /// states again.
    pub gap: bool,
    /// The newest id the log held when asked: where the client is now,
    /// whichever agents it wants.
    pub upto: u64,
}

#[derive(Debug)]
struct Inner {
    next: u64,
    history: VecDeque<Arc<SyncEvent>>,
    capacity: usize,
}

/// The log, shared by the core (which appends) and the HTTP side (which
/// streams); cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    /// The newest id, for streams waiting for more.
    newest: watch::Sender<u64>,
}

impl Default for EventLog {
    fn default() -> EventLog {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        EventLog::starting_at(start, HISTORY)
    }
}

impl EventLog {
    /// A log whose first id is `first`, keeping `capacity` events.
    pub fn starting_at(first: u64, capacity: usize) -> EventLog {
        let first = first.max(1);
        EventLog {
            inner: Arc::new(Mutex::new(Inner {
                next: first,
                history: VecDeque::with_capacity(capacity.min(HISTORY)),
                capacity: capacity.max(1),
            })),
            newest: watch::channel(first - 1).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an event and wakes the streams; returns it.
    pub fn push(&self, agent: &str, kind: EventKind) -> Arc<SyncEvent> {
        let event = {
            let mut inner = self.lock();
            let event = Arc::new(SyncEvent {
                id: inner.next,
                agent: agent.to_owned(),
                kind,
            });
            inner.next += 1;
            if inner.history.len() == inner.capacity {
                inner.history.pop_front();
            }
            inner.history.push_back(event.clone());
            event
        };
        self.newest.send_replace(event.id);
        event
    }

    /// The id of the newest event so far (the first id minus one when
    /// there is none): where a client without `Last-Event-ID` starts.
    pub fn newest(&self) -> u64 {
        *self.newest.borrow()
    }

    /// A receiver that changes whenever an event is pushed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// The events after `last`, for the agents `wanted` accepts, and
    /// whether any event after `last` is no longer held.
    pub fn since(&self, last: u64, wanted: impl Fn(&str) -> bool) -> Replay {
        let inner = self.lock();
        let oldest = inner.history.front().map_or(inner.next, |e| e.id);
        let gap = last.saturating_add(1) < oldest;
        let upto = (inner.next - 1).max(last);
        let events = inner
            .history
            .iter()
            .skip_while(|e| e.id <= last)
            .filter(|e| wanted(&e.agent))
            .cloned()
            .collect();
        Replay { events, gap, upto }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dnd(on: bool) -> EventKind {
        EventKind::Dnd { on }
    }

    #[test]
    fn a_reconnect_gets_what_it_missed_for_its_agents() {
        let log = EventLog::starting_at(100, 8);
        assert_eq!(log.newest(), 99);
        let a = log.push("a", dnd(true));
        log.push("b", dnd(true));
        let c = log.push("a", dnd(false));
        assert_eq!((a.id, c.id), (100, 102));
        assert_eq!(log.newest(), 102);
        let replay = log.since(100, |agent| agent == "a");
        assert_eq!(replay.events, vec![c.clone()]);
        assert!(!replay.gap);
        assert!(log.since(102, |_| true).events.is_empty());
        // A fresh client starting at the newest id misses nothing.
        assert_eq!(log.since(99, |_| true).events.len(), 3);
    }

    #[test]
    fn beyond_the_history_a_gap_is_told() {
        let log = EventLog::starting_at(1, 2);
        for on in [true, false, true, false] {
            log.push("a", dnd(on));
        }
        // Ids 1..=4, history keeps 3 and 4: a client at 1 lost 2.
        let replay = log.since(1, |_| true);
        assert!(replay.gap);
        assert_eq!(
            replay.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![3, 4]
        );
        // A client from before a restart (an id below the first one).
        let after_restart = EventLog::starting_at(1_000, 8);
        after_restart.push("a", dnd(true));
        assert!(after_restart.since(4, |_| true).gap);
        assert!(!log.since(2, |_| true).gap, "3 and 4 are all it missed");
    }

    #[test]
    fn events_serialise_as_the_api_documents() {
        let event = SyncEvent {
            id: 7,
            agent: "4711".into(),
            kind: EventKind::Status {
                status: "Away from Desk".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"id":7,"agent":"4711","event":"status","status":"Away from Desk"}"#
        );
        assert_eq!(
            serde_json::to_string(&SyncEvent {
                id: 8,
                agent: "4711".into(),
                kind: dnd(true)
            })
            .unwrap(),
            r#"{"id":8,"agent":"4711","event":"dnd","on":true}"#
        );
    }
}
