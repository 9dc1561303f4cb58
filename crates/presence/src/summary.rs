//! The few facts about a document that decide what a watcher is shown.
//!
//! Later layers map presence to Microsoft's availability numbers and
//! contact-centre statuses; they need "reachable or not", "doing what" and
//! "saying what", not the whole tree. Computing that in one place keeps the
//! precedence rules (which note wins, when a presentity counts as open)
//! consistent across every mapping.

use crate::activity::Activity;
use crate::document::{Basic, Note, PresenceDocument};

/// A digest of a presence document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// [`Basic::Open`] if any tuple is open: a presentity is reachable when
    /// any one of its services is (RFC 4479 §3.4.2 treats services as
    /// independent). A document without tuples is closed.
    pub basic: Basic,
    /// The person's activities (every person's, for a document that has
    /// more than one), without repeats, in document order.
    pub activities: Vec<Activity>,
    /// The most specific note: the person's activity note, then the
    /// person's note, then the document's, then a tuple's (open tuples
    /// first). This is the order pjsua reads them in, and the order of
    /// specificity the data model implies.
    pub note: Option<Note>,
}

impl PresenceDocument {
    /// The document's [`Summary`].
    pub fn summary(&self) -> Summary {
        let open = self.tuples.iter().any(|t| t.basic == Some(Basic::Open));
        let mut activities: Vec<Activity> = Vec::new();
        for activity in self.persons.iter().flat_map(|p| &p.activities) {
            if !activities.contains(activity) {
                activities.push(activity.clone());
            }
        }
        Summary {
            basic: if open { Basic::Open } else { Basic::Closed },
            activities,
            note: self.leading_note().cloned(),
        }
    }

    fn leading_note(&self) -> Option<&Note> {
        let person_notes = self
            .persons
            .iter()
            .flat_map(|p| p.activities_notes.iter().chain(&p.notes));
        let open_tuple_notes = self
            .tuples
            .iter()
            .filter(|t| t.basic == Some(Basic::Open))
            .flat_map(|t| &t.notes);
        let other_tuple_notes = self
            .tuples
            .iter()
            .filter(|t| t.basic != Some(Basic::Open))
            .flat_map(|t| &t.notes);
        person_notes
            .chain(&self.notes)
            .chain(open_tuple_notes)
            .chain(other_tuple_notes)
            .next()
    }
}

#[cfg(test)]
mod tests {
    use crate::activity::Activity;
    use crate::document::{Basic, Note, Person, PresenceDocument, Tuple};

    fn doc(basics: &[Option<Basic>]) -> PresenceDocument {
        let mut doc = PresenceDocument::new("sip:alice@example.com");
        for (i, basic) in basics.iter().enumerate() {
            doc.tuples.push(Tuple::new(format!("t{i}"), *basic));
        }
        doc
    }

    #[test]
    fn open_if_any_tuple_is_open() {
        assert_eq!(
            doc(&[Some(Basic::Closed), Some(Basic::Open)])
                .summary()
                .basic,
            Basic::Open
        );
        assert_eq!(
            doc(&[Some(Basic::Closed), None]).summary().basic,
            Basic::Closed
        );
        assert_eq!(doc(&[]).summary().basic, Basic::Closed);
        let closed = PresenceDocument::closed("sip:alice@example.com");
        assert_eq!(closed.summary().basic, Basic::Closed);
    }

    #[test]
    fn activities_of_all_persons_without_repeats() {
        let mut d = doc(&[Some(Basic::Open)]);
        let mut p1 = Person::new("p1");
        p1.activities = vec![Activity::Busy, Activity::OnThePhone];
        let mut p2 = Person::new("p2");
        p2.activities = vec![Activity::OnThePhone, Activity::Meeting];
        d.persons = vec![p1, p2];
        assert_eq!(
            d.summary().activities,
            vec![Activity::Busy, Activity::OnThePhone, Activity::Meeting]
        );
    }

    #[test]
    fn note_precedence_person_then_document_then_open_tuple() {
        let mut d = doc(&[Some(Basic::Closed), Some(Basic::Open)]);
        d.tuples[0].notes.push(Note::new("closed tuple"));
        assert_eq!(d.summary().note, Some(Note::new("closed tuple")));
        d.tuples[1].notes.push(Note::new("open tuple"));
        assert_eq!(d.summary().note, Some(Note::new("open tuple")));
        d.notes.push(Note::new("document"));
        assert_eq!(d.summary().note, Some(Note::new("document")));
        let mut person = Person::new("p");
        person.notes.push(Note::new("person"));
        d.persons.push(person);
        assert_eq!(d.summary().note, Some(Note::new("person")));
        d.persons[0].activities_notes.push(Note::new("activity"));
        assert_eq!(d.summary().note, Some(Note::new("activity")));
    }
}
