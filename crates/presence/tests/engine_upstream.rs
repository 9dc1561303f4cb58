//! The presence provider's side of the engine: each presentity's first
//! and last watcher (single or batched) is reported once, and the
//! upstream's document enters the presentity as one source, aggregated
//! with local publications and notified in every watcher's format.

mod common;

use bytes::Bytes;
use common::*;
use presence::{EngineConfig, Input, Interest};

const DAVE: &str = "sip:dave@example.com";

fn upstream(presentity: &str, body: Option<String>) -> Input<Flow> {
    Input::Upstream {
        presentity: presentity.to_owned(),
        state: body.map(|b| (Bytes::from_static(b"application/pidf+xml"), Bytes::from(b))),
    }
}

fn interest(presentity: &str, watched: bool) -> Interest {
    Interest {
        presentity: presentity.to_owned(),
        watched,
    }
}

const BUSY: &str = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" \
    entity=\"sip:alice@example.com\"><tuple id=\"t\"><status><basic>open</basic></status></tuple>\
    <dm:person id=\"p\"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>";

#[test]
fn every_watcher_gained_or_lost_is_reported() {
    let mut h = Harness::new(EngineConfig::default());
    let carol = Sub::new(CAROL, ALICE, "c1");
    let dave = Sub::new(DAVE, ALICE, "d1");
    let carol_tag = h.subscribed(&carol, at(0));
    assert_eq!(h.engine.take_interest(), vec![interest(ALICE, true)]);
    let dave_tag = h.subscribed(&dave, at(0));
    assert_eq!(
        h.engine.take_interest(),
        vec![interest(ALICE, true)],
        "each watcher counts"
    );
    assert!(h.engine.is_watched(ALICE));

    let bye = carol.in_dialog(&carol_tag, 2).expires(Some(0)).request();
    let out = h.request(bye, at(1));
    h.ok_until_quiet(&out, at(1));
    assert_eq!(h.engine.take_interest(), vec![interest(ALICE, false)]);
    assert!(h.engine.is_watched(ALICE), "dave still watches");
    let bye = dave.in_dialog(&dave_tag, 2).expires(Some(0)).request();
    let out = h.request(bye, at(1));
    h.ok_until_quiet(&out, at(1));
    assert_eq!(h.engine.take_interest(), vec![interest(ALICE, false)]);
    assert!(!h.engine.is_watched(ALICE));
}

#[test]
fn batch_resources_count_as_watchers() {
    let mut h = Harness::new(EngineConfig::default());
    let out = h.request(
        batched(CAROL, &[ALICE, BOB], "subscribe", "b1", None, 1),
        at(0),
    );
    assert_eq!(status(&out), 200, "{out:?}");
    h.ok_until_quiet(&out, at(0));
    let mut got = h.engine.take_interest();
    got.sort_by(|a, b| a.presentity.cmp(&b.presentity));
    assert_eq!(got, vec![interest(ALICE, true), interest(BOB, true)]);
    // A single subscription to alice besides the batch: a second watcher.
    h.subscribed(&Sub::new(DAVE, ALICE, "d1"), at(0));
    assert_eq!(h.engine.take_interest(), vec![interest(ALICE, true)]);
}

#[test]
fn the_upstream_state_reaches_every_watcher_and_goes_when_unknown() {
    let mut h = Harness::new(EngineConfig::default());
    let carol = Sub::new(CAROL, ALICE, "c1");
    h.subscribed(&carol, at(0));
    let out = h.request(batched(DAVE, &[ALICE], "subscribe", "b1", None, 1), at(0));
    h.ok_until_quiet(&out, at(0));

    let out = h
        .engine
        .handle(upstream(ALICE, Some(BUSY.to_owned())), at(1));
    let sent = notifies(&out);
    assert_eq!(sent.len(), 2, "one PIDF watcher, one batch: {out:?}");
    let texts: Vec<String> = sent.iter().map(|(_, r)| body(r)).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("busy") && t.contains("<basic>open</basic>")),
        "{texts:?}"
    );
    // The dialect watcher sees the same person: Busy, 6500.
    assert!(
        texts
            .iter()
            .any(|t| t.contains("<availability>6500</availability>")),
        "{texts:?}"
    );
    h.ok_until_quiet(&out, at(1));

    // The same document again: nothing changed, nothing sent.
    let out = h
        .engine
        .handle(upstream(ALICE, Some(BUSY.to_owned())), at(2));
    assert!(notifies(&out).is_empty());

    // Unknown (the upstream subscription failed): no stale Busy.
    let out = h.engine.handle(upstream(ALICE, None), at(3));
    let sent = notifies(&out);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, r)| !body(r).contains("busy")));

    // A document that does not read is unknown too.
    h.ok_until_quiet(&out, at(3));
    h.engine
        .handle(upstream(ALICE, Some(BUSY.to_owned())), at(4));
    let out = h
        .engine
        .handle(upstream(ALICE, Some("<presence".to_owned())), at(5));
    assert!(notifies(&out)
        .iter()
        .all(|(_, r)| !body(r).contains("busy")));
}

#[test]
fn a_local_publication_and_the_upstream_aggregate() {
    let mut h = Harness::new(EngineConfig::default());
    h.subscribed(&Sub::new(CAROL, ALICE, "c1"), at(0));
    // Upstream says Busy; a local publication says open with a note.
    let out = h
        .engine
        .handle(upstream(ALICE, Some(BUSY.to_owned())), at(1));
    h.ok_until_quiet(&out, at(1));
    let (_, out) = h.published(
        publish(ALICE, None, &pidf(ALICE, "open", "at my desk"), 1),
        at(2),
    );
    let sent = notifies(&out);
    assert_eq!(sent.len(), 1);
    let text = body(sent[0].1);
    assert!(text.contains("busy"), "the busiest source wins: {text}");
}

#[test]
fn attendant_and_pstn_states_are_sources_too() {
    use presence::availability::{Availability, CustomTexts, Lcid};
    use presence::{ProvidedSource, SyncState};
    let mut h = Harness::new(EngineConfig::default());
    let carol = Sub::new(CAROL, ALICE, "c1");
    h.subscribed(&carol, at(0));
    let in_a_call = SyncState {
        availability: Availability::new(6500),
        texts: CustomTexts::new().with(Lcid::EN_US, "In a call"),
    };
    let out = h.engine.handle(
        Input::Provided {
            presentity: ALICE.to_owned(),
            source: ProvidedSource::Pstn,
            state: Some(in_a_call),
        },
        at(1),
    );
    let sent = notifies(&out);
    assert_eq!(sent.len(), 1);
    let text = body(sent[0].1);
    assert!(
        text.contains("busy") && text.contains("In a call"),
        "{text}"
    );
    h.ok_until_quiet(&out, at(1));

    // The attendant source is another one of the presentity's sources;
    // taking the line's out leaves the attendant's.
    let out = h.engine.handle(
        Input::Provided {
            presentity: ALICE.to_owned(),
            source: ProvidedSource::Attendant,
            state: Some(SyncState {
                availability: Availability::new(3500),
                texts: CustomTexts::new(),
            }),
        },
        at(2),
    );
    h.ok_until_quiet(&out, at(2));
    let out = h.engine.handle(
        Input::Provided {
            presentity: ALICE.to_owned(),
            source: ProvidedSource::Pstn,
            state: None,
        },
        at(3),
    );
    let sent = notifies(&out);
    assert_eq!(sent.len(), 1);
    let text = body(sent[0].1);
    assert!(
        text.contains("<basic>open</basic>") && !text.contains("busy"),
        "{text}"
    );
}
