//! Property: composition depends on the publications, never on the order
//! they are handed over in (the store iterates them in whatever order it
//! keeps them), and composing is stable enough to render identically.

use presence::pidf;
use presence::{compose, Activity, Basic, Person, PresenceDocument, PublicationRef, Tuple};
use proptest::collection::vec;
use proptest::prelude::*;

fn publication() -> impl Strategy<Value = PresenceDocument> {
    let tuple = ("t[0-3]", any::<bool>()).prop_map(|(id, open)| {
        Tuple::new(id, Some(if open { Basic::Open } else { Basic::Closed }))
    });
    let person = ("p[0-2]", any::<bool>()).prop_map(|(id, busy)| {
        let mut person = Person::new(id);
        person
            .activities
            .push(if busy { Activity::Busy } else { Activity::Away });
        person
    });
    (vec(tuple, 0..3), proptest::option::of(person)).prop_map(|(tuples, person)| {
        let mut doc = PresenceDocument::new("sip:alice@example.com");
        doc.tuples = tuples;
        doc.persons.extend(person);
        doc
    })
}

proptest! {
    #[test]
    fn input_order_does_not_matter(docs in vec(publication(), 0..6), rotate in 0usize..6) {
        let mut refs: Vec<(PublicationRef, &PresenceDocument)> = docs
            .iter()
            .enumerate()
            .map(|(i, doc)| (PublicationRef { etag: format!("e{i}"), published_at: i as u64 }, doc))
            .collect();
        let forward = compose("sip:alice@example.com", &refs);
        refs.reverse();
        let len = refs.len().max(1);
        refs.rotate_left(rotate % len);
        let shuffled = compose("sip:alice@example.com", &refs);
        prop_assert_eq!(pidf::render(&forward), pidf::render(&shuffled));
        prop_assert_eq!(&forward, &shuffled);
        // Tuple ids are unique after composition, and the newest person wins.
        let mut ids: Vec<_> = forward.tuples.iter().map(|t| &t.id).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), forward.tuples.len());
        let newest_person = docs.iter().rev().find_map(|d| d.persons.first());
        prop_assert_eq!(forward.persons.first(), newest_person);
    }
}
