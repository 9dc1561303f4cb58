//! The sync engine's side of the engine (issue 11): an agent's state
//! enters its presentity as the `Sync` source, aggregated with the rest
//! and notified in every watcher's format with its texts per LCID; the
//! presentities of bound agents report their aggregate after every kind
//! of change, so the rules can sync UC changes toward the contact center.

mod common;

use common::*;
use presence::availability::{Availability, CustomTexts, Lcid};
use presence::{EngineConfig, Input, SyncState, TrackedChange};

const DAVE: &str = "sip:dave@example.com";

fn sync(presentity: &str, state: Option<SyncState>) -> Input<Flow> {
    Input::Sync {
        presentity: presentity.to_owned(),
        state,
    }
}

fn in_call() -> SyncState {
    SyncState {
        availability: Availability::new(7001),
        texts: CustomTexts::new()
            .with(Lcid::EN_US, "Working with customer, do not disturb")
            .with(Lcid::DE_DE, "Im Kundengespräch, bitte nicht stören"),
    }
}

/// A PIDF watcher (carol) and a dialect batch (dave) on alice.
fn watched() -> Harness {
    let mut h = Harness::new(EngineConfig::default());
    h.subscribed(&Sub::new(CAROL, ALICE, "c1"), at(0));
    let out = h.request(batched(DAVE, &[ALICE], "subscribe", "b1", None, 1), at(0));
    h.ok_until_quiet(&out, at(0));
    h
}

#[test]
fn the_agent_state_reaches_both_dialects_with_every_text() {
    let mut h = watched();
    let out = h.engine.handle(sync(ALICE, Some(in_call())), at(1));
    let sent = notifies(&out);
    assert_eq!(sent.len(), 2, "one PIDF watcher, one batch: {out:?}");
    let texts: Vec<String> = sent.iter().map(|(_, r)| body(r)).collect();
    let dialect = texts
        .iter()
        .find(|t| t.contains("<availability>"))
        .expect("a category document");
    assert!(
        dialect.contains("<availability>7001</availability>"),
        "{dialect}"
    );
    assert!(
        dialect.contains("LCID=\"1033\">Working with customer, do not disturb<"),
        "{dialect}"
    );
    assert!(
        dialect.contains("LCID=\"1031\">Im Kundengespräch"),
        "{dialect}"
    );
    let pidf = texts
        .iter()
        .find(|t| t.contains("<basic>"))
        .expect("a PIDF document");
    assert!(pidf.contains("busy"), "Busy class as RPID busy: {pidf}");
    h.ok_until_quiet(&out, at(1));

    // The same state again: nothing to tell anyone.
    let out = h.engine.handle(sync(ALICE, Some(in_call())), at(2));
    assert!(notifies(&out).is_empty(), "{out:?}");

    // Taken out (the agent unbound): the Busy goes.
    let out = h.engine.handle(sync(ALICE, None), at(3));
    let sent = notifies(&out);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, r)| !body(r).contains("7001")));
    assert_eq!(h.engine.aggregate_availability(ALICE), None);
}

#[test]
fn tracked_presentities_report_every_kind_of_change_once() {
    let mut h = watched();
    h.engine.track(ALICE, true);
    assert!(h.engine.take_tracked().is_empty());

    // A PUBLISH by the user is reported with the aggregate after it.
    let (_, out) = h.published(publish(ALICE, None, &pidf(ALICE, "open", "here"), 1), at(1));
    h.ok_until_quiet(&out, at(1));
    let got = h.engine.take_tracked();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].presentity, ALICE);
    assert!(got[0].availability.value() < 6000, "{got:?}");
    assert_eq!(
        Some(got[0].availability),
        h.engine.aggregate_availability(ALICE)
    );

    // The sync source is a change of the aggregate too: the busiest
    // source wins.
    let out = h.engine.handle(sync(ALICE, Some(in_call())), at(2));
    h.ok_until_quiet(&out, at(2));
    assert_eq!(
        h.engine.take_tracked(),
        vec![TrackedChange {
            presentity: ALICE.to_owned(),
            availability: Availability::new(7001),
        }]
    );
    assert!(h.engine.take_tracked().is_empty(), "taken once");

    // An untracked presentity is never reported.
    let (_, out) = h.published(publish(BOB, None, &pidf(BOB, "open", "x"), 2), at(3));
    h.ok_until_quiet(&out, at(3));
    assert!(h.engine.take_tracked().is_empty());

    // Untracked again: quiet.
    h.engine.track(ALICE, false);
    let out = h.engine.handle(sync(ALICE, None), at(4));
    h.ok_until_quiet(&out, at(4));
    assert!(h.engine.take_tracked().is_empty());
}

#[test]
fn an_unwatched_presentity_takes_the_source_too() {
    let mut h = Harness::new(EngineConfig::default());
    let out = h.engine.handle(sync(BOB, Some(in_call())), at(1));
    assert!(notifies(&out).is_empty());
    assert_eq!(
        h.engine.aggregate_availability(BOB),
        Some(Availability::new(7001))
    );
    // A later watcher gets it in its first NOTIFY.
    let out = h.request(batched(DAVE, &[BOB], "subscribe", "b1", None, 1), at(2));
    let first: Vec<String> = notifies(&out).iter().map(|(_, r)| body(r)).collect();
    assert!(
        first
            .iter()
            .any(|t| t.contains("<availability>7001</availability>")),
        "{first:?}"
    );
}

#[test]
fn the_configured_language_comes_first_and_is_the_pidf_note() {
    let mut config = EngineConfig::default();
    config.publication.language = Lcid(3082);
    let mut h = Harness::new(config);
    h.subscribed(&Sub::new(CAROL, ALICE, "c1"), at(0));
    let out = h.request(batched(DAVE, &[ALICE], "subscribe", "b1", None, 1), at(0));
    h.ok_until_quiet(&out, at(0));
    let state = SyncState {
        availability: Availability::new(7001),
        texts: CustomTexts::new()
            .with(Lcid::EN_US, "Working with customer")
            .with(Lcid(3082), "Trabajando con clientes"),
    };
    let out = h.engine.handle(sync(ALICE, Some(state)), at(1));
    let texts: Vec<String> = notifies(&out).iter().map(|(_, r)| body(r)).collect();
    let dialect = texts.iter().find(|t| t.contains("<availability>")).unwrap();
    assert!(
        dialect.find("LCID=\"3082\"") < dialect.find("LCID=\"1033\""),
        "{dialect}"
    );
    let pidf = texts.iter().find(|t| t.contains("<basic>")).unwrap();
    assert!(pidf.contains("Trabajando con clientes"), "{pidf}");
    assert!(!pidf.contains("Working with customer"), "{pidf}");
}

#[test]
fn a_new_default_language_is_shown_to_the_watchers_of_texts() {
    let mut h = watched();
    h.subscribed(&Sub::new(CAROL, BOB, "c2"), at(0));
    let (_, out) = h.published(publish(BOB, None, &pidf(BOB, "open", "here"), 1), at(0));
    h.ok_until_quiet(&out, at(0));
    let out = h.engine.handle(sync(ALICE, Some(in_call())), at(1));
    h.ok_until_quiet(&out, at(1));

    // A reload to German: alice's watchers (her aggregate has texts) see
    // German first and as the PIDF note; bob's (no texts) hear nothing.
    let out = h.engine.handle(
        Input::Language {
            language: Lcid::DE_DE,
        },
        at(2),
    );
    let sent = notifies(&out);
    assert_eq!(sent.len(), 2, "alice's two watchers only: {out:?}");
    let texts: Vec<String> = sent.iter().map(|(_, r)| body(r)).collect();
    let dialect = texts.iter().find(|t| t.contains("<availability>")).unwrap();
    assert!(
        dialect.find("LCID=\"1031\"") < dialect.find("LCID=\"1033\""),
        "{dialect}"
    );
    let pidf = texts.iter().find(|t| t.contains("<basic>")).unwrap();
    assert!(pidf.contains("Im Kundengespräch"), "{pidf}");
    assert!(pidf.contains(ALICE), "{pidf}");
    h.ok_until_quiet(&out, at(2));

    // The same language again changes nothing.
    let out = h.engine.handle(
        Input::Language {
            language: Lcid::DE_DE,
        },
        at(3),
    );
    assert!(notifies(&out).is_empty(), "{out:?}");
}

#[test]
fn every_changed_presentity_is_reported_once_when_asked() {
    let mut h = watched();
    // Off by default: nothing is kept.
    h.engine.handle(sync(ALICE, Some(in_call())), at(1));
    assert!(h.engine.take_changed().is_empty());

    h.engine.record_changes(true);
    h.engine.handle(sync(ALICE, None), at(2));
    h.engine.handle(sync(ALICE, Some(in_call())), at(3));
    h.engine.handle(sync(DAVE, Some(in_call())), at(3));
    let mut changed = h.engine.take_changed();
    changed.sort();
    assert_eq!(changed, [ALICE, DAVE], "each once, watched or not");
    assert!(h.engine.take_changed().is_empty(), "taken");
    // No change, no report.
    h.engine.handle(sync(DAVE, Some(in_call())), at(4));
    assert!(h.engine.take_changed().is_empty());
}
