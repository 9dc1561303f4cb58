//! Composing a presentity's live publications into the one document its
//! watchers receive.
//!
//! RFC 3903 §4 leaves composition to server policy ("the ESC composes the
//! event state from all the publications"). The policy here is the common
//! one, chosen so that each source owns the parts it publishes:
//!
//! - **tuples** merge by id: distinct ids are all kept (one service per
//!   device or client), and for the same id the newest publication wins;
//! - **person**: a presentity is one human (RFC 4479 §3.4.1), so the result
//!   has at most one person, the newest publication's; publications without
//!   a person do not erase it;
//! - **devices** merge by id, newest wins;
//! - **notes** and top-level **extensions** come from the newest
//!   publication that has any.
//!
//! "Newest" is [`PublicationRef::published_at`], a monotonic sequence the
//! publication store assigns; ties (which a correct store never produces)
//! are broken by entity-tag so the result never depends on input order.
//! The output order is deterministic too, so an unchanged state renders to
//! the same bytes and the same entity-tag.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::document::{Basic, Device, PresenceDocument, Tuple};

/// What composition needs to know about a publication besides its document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicationRef {
    /// The publication's entity-tag (RFC 3903 §4.1), for tie-breaking and
    /// for tracing which publication a composed part came from.
    pub etag: String,
    /// When the publication was last written, as a monotonic sequence
    /// number (not wall-clock time, which can step backwards). Larger is
    /// newer; a refresh without a body (RFC 3903 §4.4) does not change it.
    pub published_at: u64,
}

/// The presentity `entity`'s document composed from its live publications,
/// in any order. No publications give a document without tuples; callers
/// that want to say "offline" explicitly use [`PresenceDocument::closed`].
pub fn compose(
    entity: &str,
    publications: &[(PublicationRef, &PresenceDocument)],
) -> PresenceDocument {
    let mut by_age: Vec<&(PublicationRef, &PresenceDocument)> = publications.iter().collect();
    by_age.sort_by(|(a, _), (b, _)| (a.published_at, &a.etag).cmp(&(b.published_at, &b.etag)));

    let mut composed = PresenceDocument::new(entity);
    // Oldest first, so a newer publication overwrites an older one.
    let mut tuples: BTreeMap<&str, (usize, &Tuple)> = BTreeMap::new();
    let mut devices: BTreeMap<&str, &Device> = BTreeMap::new();
    for (age, (_, document)) in by_age.iter().enumerate() {
        for tuple in &document.tuples {
            tuples.insert(&tuple.id, (age, tuple));
        }
        for device in &document.devices {
            devices.insert(&device.id, device);
        }
    }
    composed.tuples = ordered_tuples(tuples);
    composed.devices = devices.into_values().cloned().collect();

    let newest_first = || by_age.iter().rev().map(|(_, document)| *document);
    if let Some(person) = newest_first().find_map(|d| d.persons.first()) {
        composed.persons.push(person.clone());
    }
    if let Some(document) = newest_first().find(|d| !d.notes.is_empty()) {
        composed.notes = document.notes.clone();
    }
    if let Some(document) = newest_first().find(|d| !d.extensions.is_empty()) {
        composed.extensions = document.extensions.clone();
    }
    composed
}

/// Open tuples first, then the newest publication's, then by id. Many
/// watchers (pjsua among them) show only the first tuple, so the first one
/// should be the one that makes the presentity reachable, and among those
/// the freshest.
/// Whether [`compose`] of `document` alone for `entity` gives `document`
/// unchanged: its entity is `entity` and it has at most one tuple, person
/// and device, so nothing is merged, dropped or reordered. The presentity
/// with one publication (nearly every one) then renders that document
/// itself instead of a copy of it.
pub fn composes_to_itself(entity: &str, document: &PresenceDocument) -> bool {
    document.entity == entity
        && document.tuples.len() <= 1
        && document.persons.len() <= 1
        && document.devices.len() <= 1
}

fn ordered_tuples(tuples: BTreeMap<&str, (usize, &Tuple)>) -> Vec<Tuple> {
    let mut ordered: Vec<(usize, &Tuple)> = tuples.into_values().collect();
    ordered.sort_by_key(|(age, tuple)| {
        (
            tuple.basic != Some(Basic::Open),
            Reverse(*age),
            tuple.id.as_str(),
        )
    });
    ordered
        .into_iter()
        .map(|(_, tuple)| tuple.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{compose, composes_to_itself, PublicationRef};
    use crate::activity::Activity;
    use crate::document::{Basic, Device, Note, Person, PresenceDocument, Tuple};
    use crate::extension::Extension;

    const ALICE: &str = "sip:alice@example.com";

    fn publication(etag: &str, at: u64) -> PublicationRef {
        PublicationRef {
            etag: etag.into(),
            published_at: at,
        }
    }

    fn with_tuples(tuples: &[(&str, Basic)]) -> PresenceDocument {
        let mut doc = PresenceDocument::new(ALICE);
        for (id, basic) in tuples {
            doc.tuples.push(Tuple::new(*id, Some(*basic)));
        }
        doc
    }

    fn ids(doc: &PresenceDocument) -> Vec<(&str, Option<Basic>)> {
        doc.tuples
            .iter()
            .map(|t| (t.id.as_str(), t.basic))
            .collect()
    }

    #[test]
    fn no_publications_give_no_tuples() {
        let doc = compose(ALICE, &[]);
        assert_eq!(doc, PresenceDocument::new(ALICE));
        assert!(doc.tuples.is_empty());
    }

    #[test]
    fn distinct_tuple_ids_are_all_kept() {
        let desk = with_tuples(&[("desk", Basic::Open)]);
        let soft = with_tuples(&[("soft", Basic::Open)]);
        let doc = compose(
            ALICE,
            &[(publication("a", 1), &desk), (publication("b", 2), &soft)],
        );
        assert_eq!(
            ids(&doc),
            [("soft", Some(Basic::Open)), ("desk", Some(Basic::Open))]
        );
    }

    #[test]
    fn same_tuple_id_newest_wins_whatever_the_input_order() {
        let old = with_tuples(&[("t", Basic::Open)]);
        let new = with_tuples(&[("t", Basic::Closed)]);
        let forward = compose(
            ALICE,
            &[(publication("a", 1), &old), (publication("b", 2), &new)],
        );
        let backward = compose(
            ALICE,
            &[(publication("b", 2), &new), (publication("a", 1), &old)],
        );
        assert_eq!(ids(&forward), [("t", Some(Basic::Closed))]);
        assert_eq!(forward, backward);
    }

    #[test]
    fn tuples_are_ordered_open_first_then_newest_then_id() {
        let old = with_tuples(&[
            ("b-old", Basic::Open),
            ("a-old", Basic::Open),
            ("z", Basic::Closed),
        ]);
        let new = with_tuples(&[("y", Basic::Closed), ("c-new", Basic::Open)]);
        let doc = compose(
            ALICE,
            &[(publication("a", 1), &old), (publication("b", 2), &new)],
        );
        assert_eq!(
            ids(&doc),
            [
                ("c-new", Some(Basic::Open)),
                ("a-old", Some(Basic::Open)),
                ("b-old", Some(Basic::Open)),
                ("y", Some(Basic::Closed)),
                ("z", Some(Basic::Closed)),
            ]
        );
    }

    #[test]
    fn equal_sequence_numbers_are_ordered_by_etag() {
        let a = with_tuples(&[("t", Basic::Open)]);
        let b = with_tuples(&[("t", Basic::Closed)]);
        let one = compose(
            ALICE,
            &[
                (publication("etag-a", 7), &a),
                (publication("etag-b", 7), &b),
            ],
        );
        let two = compose(
            ALICE,
            &[
                (publication("etag-b", 7), &b),
                (publication("etag-a", 7), &a),
            ],
        );
        assert_eq!(one, two);
        assert_eq!(ids(&one), [("t", Some(Basic::Closed))]);
    }

    fn with_person(id: &str, activity: Activity) -> PresenceDocument {
        let mut doc = with_tuples(&[]);
        let mut person = Person::new(id);
        person.activities.push(activity);
        doc.persons.push(person);
        doc
    }

    #[test]
    fn same_person_id_newest_wins() {
        let old = with_person("p", Activity::Busy);
        let new = with_person("p", Activity::Away);
        let doc = compose(
            ALICE,
            &[(publication("b", 2), &new), (publication("a", 1), &old)],
        );
        assert_eq!(doc.persons.len(), 1);
        assert_eq!(doc.persons[0].activities, [Activity::Away]);
    }

    #[test]
    fn different_person_ids_leave_only_the_newest_person() {
        let old = with_person("p-desk", Activity::Busy);
        let new = with_person("p-soft", Activity::Lunch);
        let doc = compose(
            ALICE,
            &[(publication("a", 1), &old), (publication("b", 2), &new)],
        );
        assert_eq!(doc.persons.len(), 1);
        assert_eq!(doc.persons[0].id, "p-soft");
        assert_eq!(doc.persons[0].activities, [Activity::Lunch]);
    }

    #[test]
    fn a_publication_without_person_keeps_the_older_person() {
        let old = with_person("p", Activity::Meeting);
        let new = with_tuples(&[("t", Basic::Open)]);
        let doc = compose(
            ALICE,
            &[(publication("a", 1), &old), (publication("b", 2), &new)],
        );
        assert_eq!(doc.persons[0].activities, [Activity::Meeting]);
        assert_eq!(ids(&doc), [("t", Some(Basic::Open))]);
    }

    #[test]
    fn devices_merge_by_id_newest_wins_sorted_by_id() {
        let mut old = with_tuples(&[]);
        let mut pc = Device::new("pc");
        pc.device_id = Some("urn:device:old".into());
        old.devices = vec![pc.clone(), Device::new("phone")];
        let mut new = with_tuples(&[]);
        pc.device_id = Some("urn:device:new".into());
        new.devices = vec![pc, Device::new("laptop")];
        let doc = compose(
            ALICE,
            &[(publication("b", 2), &new), (publication("a", 1), &old)],
        );
        let got: Vec<_> = doc
            .devices
            .iter()
            .map(|d| (d.id.as_str(), d.device_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("laptop", None),
                ("pc", Some("urn:device:new")),
                ("phone", None)
            ]
        );
    }

    #[test]
    fn notes_come_from_the_newest_publication_that_has_notes() {
        let mut oldest = with_tuples(&[]);
        oldest.notes.push(Note::new("oldest"));
        let mut middle = with_tuples(&[]);
        middle.notes = vec![
            Note::with_lang("en", "Lunch"),
            Note::with_lang("fr", "Déjeuner"),
        ];
        let newest = with_tuples(&[("t", Basic::Open)]);
        let doc = compose(
            ALICE,
            &[
                (publication("a", 1), &oldest),
                (publication("c", 3), &newest),
                (publication("b", 2), &middle),
            ],
        );
        assert_eq!(doc.notes, middle.notes);
    }

    #[test]
    fn top_level_extensions_come_from_the_newest_publication_that_has_any() {
        let ext =
            |v: &str| Extension::parse(&format!(r#"<x:e xmlns:x="urn:x">{v}</x:e>"#)).unwrap();
        let mut old = with_tuples(&[]);
        old.extensions.push(ext("old"));
        let mut new = with_tuples(&[]);
        new.extensions.push(ext("new"));
        let none = with_tuples(&[]);
        let doc = compose(
            ALICE,
            &[
                (publication("a", 1), &old),
                (publication("b", 2), &new),
                (publication("c", 3), &none),
            ],
        );
        assert_eq!(doc.extensions, [ext("new")]);
    }

    #[test]
    fn the_entity_is_the_presentity_not_the_publications() {
        let mut doc = with_tuples(&[("t", Basic::Open)]);
        doc.entity = "pres:alice@example.com".into();
        assert_eq!(compose(ALICE, &[(publication("a", 1), &doc)]).entity, ALICE);
    }

    #[test]
    fn a_lone_document_with_one_of_each_composes_to_itself() {
        let mut doc = with_tuples(&[("desk", Basic::Closed)]);
        doc.notes.push(Note {
            lang: Some("en".into()),
            text: "first".into(),
        });
        doc.notes.push(Note {
            lang: None,
            text: "second".into(),
        });
        let mut person = Person::new("p");
        person.activities.push(Activity::Busy);
        doc.persons.push(person);
        doc.devices.push(Device::new("d"));
        doc.extensions
            .push(Extension::parse(r#"<x:y xmlns:x="urn:x"/>"#).unwrap());
        assert!(composes_to_itself(ALICE, &doc));
        assert_eq!(compose(ALICE, &[(publication("e", 1), &doc)]), doc);
        assert!(composes_to_itself(ALICE, &PresenceDocument::new(ALICE)));

        // Two tuples are reordered (open first), two persons cut to one,
        // another entity replaced: none of those is the document itself.
        let two = with_tuples(&[("b", Basic::Closed), ("a", Basic::Open)]);
        assert!(!composes_to_itself(ALICE, &two));
        assert_ne!(compose(ALICE, &[(publication("e", 1), &two)]), two);
        let mut persons = PresenceDocument::new(ALICE);
        persons.persons.push(Person::new("p1"));
        persons.persons.push(Person::new("p2"));
        assert!(!composes_to_itself(ALICE, &persons));
        let mut devices = PresenceDocument::new(ALICE);
        devices.devices.push(Device::new("d2"));
        devices.devices.push(Device::new("d1"));
        assert!(!composes_to_itself(ALICE, &devices));
        assert!(!composes_to_itself("sip:bob@example.com", &doc));
    }
}
