//! Service contacts through the engine: rooms and gateway aliases answer
//! PIDF watchers, dialect watchers and batched lists; a person who
//! publishes wins; a PIN suffix is held without its PIN; reloads and
//! occupancy notify exactly the watchers whose answer changed.
//!
//! The directory here is a fixed table (the `rules` crate's is tested in
//! its own crate); what is checked is the engine's part.

mod common;

use std::sync::Arc;

use common::*;
use presence::{
    Dialect, EngineConfig, Input, ServiceCard, ServiceContacts, StoreOp, UnknownPresentity,
};
use sip::HeaderName;

const ROOM: &str = "sip:meet.alice@vc.example.com";
const PINNED: &str = "sip:meet.alice**1234@vc.example.com";
const VTC: &str = "sip:oslo-room042@vc.example.com";
const TYPO: &str = "sip:oslo-rom042@vc.example.com";

/// Rooms answer both dialects; `microsoft_only` answers Microsoft
/// watchers only, like a rule with `dialects = ["microsoft"]`.
#[derive(Debug, Clone)]
struct Table {
    room_name: &'static str,
    microsoft_only: &'static str,
}

impl Table {
    fn card(&self, name: &str, room: bool) -> ServiceCard {
        ServiceCard {
            room: room.then(|| Arc::from(ROOM)),
            display_name: name.to_owned(),
            description: Some(format!("{name} description")),
            photo: None,
        }
    }
}

impl ServiceContacts for Table {
    fn answer(&self, presentity: &str, dialect: Dialect) -> Option<ServiceCard> {
        let plain = presentity.replace("**1234", "");
        if plain == ROOM {
            return Some(self.card(self.room_name, true));
        }
        (plain == self.microsoft_only && dialect == Dialect::Microsoft)
            .then(|| self.card("VTC oslo", false))
    }

    fn canonical(&self, presentity: &str) -> Option<String> {
        presentity
            .contains("**1234")
            .then(|| presentity.replace("**1234", ""))
    }
}

fn harness(config: EngineConfig, room_name: &'static str) -> Harness {
    let mut h = Harness::new(config);
    let services = Arc::new(Table {
        room_name,
        microsoft_only: VTC,
    });
    let out = h.engine.handle(Input::Reconfigure { services }, at(0));
    assert!(out.is_empty(), "nothing is watched yet: {out:?}");
    h
}

/// Subscribes, answers the NOTIFY, returns its body.
fn first_body(h: &mut Harness, sub: &Sub) -> String {
    let actions = h.request(sub.request(), at(1));
    assert_eq!(status(&actions), 200, "{actions:?}");
    let n = notifies(&actions);
    let text = body(n[0].1);
    h.ok_all(&actions, at(1));
    text
}

#[test]
fn a_room_is_open_with_a_note_for_pidf_and_a_card_for_the_dialect() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    let pidf = first_body(&mut h, &Sub::new(BOB, ROOM, "p1"));
    assert!(pidf.contains("<basic>open</basic>"), "{pidf}");
    assert!(pidf.contains("Alice's room description"), "{pidf}");
    let dialect = first_body(&mut h, &Sub::new(BOB, ROOM, "d1").header(ACCEPT_DIALECT));
    assert!(
        dialect.contains("<availability>3500</availability>"),
        "{dialect}"
    );
    assert!(
        dialect.contains("<displayName>Alice's room</displayName>"),
        "{dialect}"
    );
    assert!(dialect.contains("<automaton>true</automaton>"), "{dialect}");
}

#[test]
fn a_pin_suffixed_alias_is_held_without_its_pin() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    let actions = h.request(Sub::new(BOB, PINNED, "pin").request(), at(1));
    let stored: Vec<String> = stores(&actions)
        .iter()
        .map(|op| match op {
            StoreOp::PutSubscription(record) => format!("{record:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert!(!stored.is_empty());
    for record in &stored {
        assert!(!record.contains("1234"), "the PIN is stored: {record}");
    }
    let n = notifies(&actions);
    let notify = n[0].1;
    assert!(body(notify).contains("<basic>open</basic>"));
    assert!(!body(notify).contains("1234"));
    assert!(!header(&notify.headers, HeaderName::From).contains("1234"));
}

#[test]
fn a_microsoft_only_answer_is_nothing_for_pidf_watchers() {
    let config = EngineConfig {
        unknown_presentity: UnknownPresentity::Reject,
        ..EngineConfig::default()
    };
    let mut h = harness(config, "Alice's room");
    // PIDF: as unknown as a typo, 404 under the Reject policy.
    let actions = h.request(Sub::new(BOB, VTC, "p").request(), at(1));
    assert_eq!(status(&actions), 404);
    let actions = h.request(Sub::new(BOB, TYPO, "t").request(), at(1));
    assert_eq!(status(&actions), 404);
    let dialect = first_body(&mut h, &Sub::new(BOB, VTC, "d").header(ACCEPT_DIALECT));
    assert!(
        dialect.contains("<availability>3500</availability>"),
        "{dialect}"
    );
    // With the default policy the PIDF watcher sees closed, never open.
    let mut h = harness(EngineConfig::default(), "Alice's room");
    let pidf = first_body(&mut h, &Sub::new(BOB, VTC, "p"));
    assert!(pidf.contains("<basic>closed</basic>"), "{pidf}");
}

#[test]
fn a_person_who_publishes_wins_over_the_service_answer() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    let sub = Sub::new(BOB, ROOM, "p1");
    first_body(&mut h, &sub);
    let (etag, actions) = h.published(
        publish(ROOM, None, &pidf(ROOM, "closed", "gone home"), 1),
        at(2),
    );
    let n = notifies(&actions);
    assert!(body(n[0].1).contains("gone home"), "{}", body(n[0].1));
    h.ok_all(&actions, at(2));
    // The publication ends: the room answers again.
    let remove = parse(
        &format!(
            "PUBLISH {ROOM} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKrm\nMax-Forwards: 70\n\
             From: <{ROOM}>;tag=rm\nTo: <{ROOM}>\nCall-ID: rm\nCSeq: 1 PUBLISH\nEvent: presence\n\
             SIP-If-Match: {etag}\nExpires: 0\n"
        ),
        "",
    );
    let (_, actions) = h.published(remove, at(3));
    let n = notifies(&actions);
    assert!(
        body(n[0].1).contains("Alice's room description"),
        "{}",
        body(n[0].1)
    );
}

#[test]
fn a_reload_notifies_the_watchers_whose_answer_changed_and_drops_nothing() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    first_body(&mut h, &Sub::new(BOB, ROOM, "room"));
    first_body(&mut h, &Sub::new(BOB, TYPO, "typo"));
    first_body(&mut h, &Sub::new(CAROL, VTC, "vtc").header(ACCEPT_DIALECT));
    let before = h.engine.stats();
    // Same answers: nothing to say.
    let same = Arc::new(Table {
        room_name: "Alice's room",
        microsoft_only: VTC,
    });
    assert!(h
        .engine
        .handle(Input::Reconfigure { services: same }, at(2))
        .is_empty());
    // The room renamed, the Microsoft-only rule now matching the typo.
    let edited = Arc::new(Table {
        room_name: "Alice's big room",
        microsoft_only: TYPO,
    });
    let actions = h
        .engine
        .handle(Input::Reconfigure { services: edited }, at(3));
    let n = notifies(&actions);
    let bodies: Vec<String> = n.iter().map(|(_, r)| body(r)).collect();
    assert_eq!(n.len(), 2, "{bodies:?}");
    assert!(bodies
        .iter()
        .any(|b| b.contains("Alice's big room description")));
    // The Microsoft watcher of the old alias sees it go Offline.
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("<availability>18500</availability>")),
        "{bodies:?}"
    );
    h.ok_all(&actions, at(3));
    assert_eq!(
        h.engine.stats().subscriptions_active,
        before.subscriptions_active
    );
}

#[test]
fn occupancy_makes_a_room_busy_in_a_meeting_and_available_again() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    first_body(&mut h, &Sub::new(BOB, ROOM, "room"));
    first_body(
        &mut h,
        &Sub::new(CAROL, PINNED, "pinned").header(ACCEPT_DIALECT),
    );
    first_body(&mut h, &Sub::new(BOB, TYPO, "typo"));
    // A batched list naming the room with a PIN (held as written).
    let list = h.request(batched(ALICE, &[PINNED], "subscribe", "b", None, 1), at(1));
    h.ok_all(&list, at(1));
    let busy = Input::Occupancy {
        room: "sip:meet.alice@vc.example.com".into(),
        participants: 3,
    };
    let actions = h.engine.handle(busy, at(2));
    let n = notifies(&actions);
    assert_eq!(n.len(), 3, "the room's three watchers only");
    for (_, notify) in &n {
        assert!(
            body(notify).contains("In a meeting (3)"),
            "{}",
            body(notify)
        );
    }
    h.ok_all(&actions, at(2));
    // The room's own address is reported as changed (its history).
    h.engine.record_changes(true);
    let busier = Input::Occupancy {
        room: "meet.alice@vc.example.com".into(),
        participants: 4,
    };
    let actions = h.engine.handle(busier, at(2));
    assert!(h
        .engine
        .take_changed()
        .contains(&"sip:meet.alice@vc.example.com".to_owned()));
    h.ok_all(&actions, at(2));
    let empty = Input::Occupancy {
        room: "sip:meet.alice@vc.example.com".into(),
        participants: 0,
    };
    let actions = h.engine.handle(empty, at(3));
    let n = notifies(&actions);
    assert_eq!(n.len(), 3);
    assert!(!body(n[0].1).contains("In a meeting"));
}

#[test]
fn a_batched_list_shows_rooms_and_rules_and_nothing_for_typos() {
    let mut h = harness(EngineConfig::default(), "Alice's room");
    let actions = h.request(
        batched(ALICE, &[PINNED, VTC, TYPO], "subscribe", "b1", None, 1),
        at(1),
    );
    assert_eq!(status(&actions), 200);
    let text = body(notifies(&actions)[0].1);
    let part = |uri: &str| {
        text.split("<categories ")
            .skip(1)
            .find(|p| p.contains(&format!("uri=\"{uri}\"")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        part(PINNED).contains("<displayName>Alice's room</displayName>"),
        "{text}"
    );
    assert!(
        part(VTC).contains("<availability>3500</availability>"),
        "{text}"
    );
    assert!(
        part(TYPO).contains("<availability>18500</availability>"),
        "{text}"
    );
}
