//! What the provider's consumers are shown for a presentity, and the one
//! log line per change of it that seed 004's provider writes
//! (`PresenceChangedEventArgs: PreviousPresence: […], NewPresence: […]`
//! with the availability name and number, the activity and the source).
//!
//! Sans-IO: [`Shown`] is read from the document a source gives (or is
//! unknown), and [`Changes`] remembers the last one per presentity and
//! says when the next one differs, so the runtime logs real changes only
//! (a refresh NOTIFY with the same state is no change).

use std::collections::HashMap;
use std::fmt;

use crate::availability::{from_pidf, Availability, PidfView};
use crate::XmlLimits;

/// One presentity's state as the provider shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// `None`: unknown (not subscribed yet, failed, ended, unreadable).
    pub availability: Option<Availability>,
    /// The activity token (`in-a-meeting`, `on-the-phone` …), if any.
    pub activity: Option<String>,
    /// The note (the custom activity text), if any.
    pub note: Option<String>,
    /// The source that gave it (`upstream`, `attendant`, `pstn`).
    pub source: &'static str,
}

impl Shown {
    /// Unknown, from `source`.
    pub fn unknown(source: &'static str) -> Shown {
        Shown {
            availability: None,
            activity: None,
            note: None,
            source,
        }
    }

    /// The state a PIDF document gives, read through the one conversion
    /// table (`docs/availability.md`); a document that does not read is
    /// unknown, as the engine takes it.
    pub fn of_pidf(body: &[u8], source: &'static str) -> Shown {
        let Ok(document) = crate::pidf::parse(body, &XmlLimits::DEFAULT) else {
            return Shown::unknown(source);
        };
        let (availability, activity) = from_pidf(&PidfView::of_document(&document)).model();
        Shown {
            availability: Some(availability),
            activity: activity
                .and_then(|a| a.token)
                .map(|t| t.as_str().to_owned()),
            note: document.summary().note.map(|n| n.text),
            source,
        }
    }
}

impl fmt::Display for Shown {
    /// `[Busy 6500, activity in-a-meeting, note "Quarterly review",
    /// source upstream]`, or `[unknown, source upstream]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.availability {
            Some(a) => write!(f, "[{} {}", a.class(), a.value())?,
            None => f.write_str("[unknown")?,
        }
        if let Some(activity) = &self.activity {
            write!(f, ", activity {activity}")?;
        }
        if let Some(note) = &self.note {
            write!(f, ", note {note:?}")?;
        }
        write!(f, ", source {}]", self.source)
    }
}

/// A change to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Whose.
    pub presentity: String,
    /// What was shown before (`None`: nothing yet).
    pub previous: Option<Shown>,
    /// What is shown now.
    pub new: Shown,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: PreviousPresence: ", self.presentity)?;
        match &self.previous {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("[]")?,
        }
        write!(f, ", NewPresence: {}", self.new)
    }
}

/// The last state shown per presentity.
#[derive(Debug, Default)]
pub struct Changes {
    last: HashMap<String, Shown>,
}

impl Changes {
    /// Records `shown` for `presentity`; the change if it differs from
    /// the last one.
    pub fn record(&mut self, presentity: &str, shown: Shown) -> Option<Change> {
        let previous = match self.last.get_mut(presentity) {
            Some(last) if *last == shown => return None,
            Some(last) => Some(std::mem::replace(last, shown.clone())),
            None => {
                self.last.insert(presentity.to_owned(), shown.clone());
                None
            }
        };
        Some(Change {
            presentity: presentity.to_owned(),
            previous,
            new: shown,
        })
    }

    /// What was last shown for `presentity`.
    pub fn last(&self, presentity: &str) -> Option<&Shown> {
        self.last.get(presentity)
    }

    /// Forgets `presentity` (its subscription was released).
    pub fn forget(&mut self, presentity: &str) {
        self.last.remove(presentity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:alice@example.com">
  <tuple id="t1"><status><basic>open</basic></status></tuple>
  <dm:person id="p1"><rpid:activities><rpid:meeting/></rpid:activities><note>Quarterly review</note></dm:person>
</presence>"#;
    const OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">
  <tuple id="t1"><status><basic>open</basic></status></tuple>
</presence>"#;

    #[test]
    fn one_line_per_change_with_previous_and_new() {
        let mut changes = Changes::default();
        let alice = "sip:alice@example.com";
        let first = changes
            .record(alice, Shown::of_pidf(OPEN.as_bytes(), "upstream"))
            .unwrap();
        assert_eq!(
            first.to_string(),
            "sip:alice@example.com: PreviousPresence: [], NewPresence: [Online 3500, source upstream]"
        );
        // A refresh with the same state is no change.
        assert_eq!(
            changes.record(alice, Shown::of_pidf(OPEN.as_bytes(), "upstream")),
            None
        );
        let busy = changes
            .record(alice, Shown::of_pidf(BUSY.as_bytes(), "upstream"))
            .unwrap();
        assert_eq!(
            busy.to_string(),
            "sip:alice@example.com: PreviousPresence: [Online 3500, source upstream], \
             NewPresence: [Busy 6500, activity in-a-meeting, note \"Quarterly review\", source upstream]"
        );
        let gone = changes.record(alice, Shown::unknown("upstream")).unwrap();
        assert!(
            gone.to_string()
                .ends_with("NewPresence: [unknown, source upstream]"),
            "{gone}"
        );
        changes.forget(alice);
        assert_eq!(
            changes
                .record(alice, Shown::unknown("upstream"))
                .unwrap()
                .previous,
            None
        );
    }

    #[test]
    fn an_unreadable_document_is_unknown() {
        assert_eq!(
            Shown::of_pidf(b"<presence", "upstream"),
            Shown::unknown("upstream")
        );
    }
}
