//! Who may subscribe: watcher authorization, unknown presentities, the
//! per-watcher bound, and presence.winfo (RFC 3857/3858).

mod common;

use common::*;
use presence::subscription::SubscriptionConfig;
use presence::{Authorization, EngineConfig, NotifyOutcome, StoreOp, UnknownPresentity, Unlisted};
use sip::HeaderName;

fn with(config: EngineConfig) -> Harness {
    Harness::new(config)
}

#[test]
fn same_domain_refuses_strangers() {
    let mut h = with(EngineConfig {
        authorization: Authorization::SameDomain,
        ..EngineConfig::default()
    });
    let actions = h.request(Sub::new(CAROL, ALICE, "c1").request(), at(0));
    // The runtime logs and counts the refusal the engine reports.
    assert_eq!(kinds(&actions), ["respond", "refused"]);
    assert_eq!(status(&actions), 403);
    assert_eq!(refusals(&actions), [("watcher_not_authorized", CAROL)]);
    assert_eq!(
        status(&h.request(Sub::new(BOB, ALICE, "c2").request(), at(0))),
        200
    );
}

fn pending_list() -> EngineConfig {
    EngineConfig {
        authorization: Authorization::AllowList {
            allow: vec!["@example.com".into()],
            unlisted: Unlisted::Pending,
        },
        ..EngineConfig::default()
    }
}

#[test]
fn pending_then_authorized_becomes_active() {
    let mut h = with(pending_list());
    let actions = h.request(Sub::new(CAROL, ALICE, "c1").request(), at(0));
    assert_eq!(kinds(&actions), ["store", "respond", "notify"]);
    match &stores(&actions)[..] {
        [StoreOp::PutSubscription(r)] => assert_eq!(r.state, "pending"),
        other => panic!("{other:?}"),
    }
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "pending;expires=600"
    );
    assert!(n.body.is_empty(), "a pending watcher learns nothing");
    h.ok_all(&actions, at(0));
    assert_eq!(h.engine.stats().subscriptions_pending, 1);

    let actions = h.engine.authorize(ALICE, CAROL, true, at(10));
    assert_eq!(kinds(&actions), ["store", "notify"]);
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=590"
    );
    assert!(body(n).contains("<presence"));
    assert_eq!(h.engine.stats().subscriptions_active, 1);
    // The decision holds for the watcher's next subscription.
    let again = h.request(Sub::new(CAROL, ALICE, "c2").request(), at(20));
    assert_eq!(
        header(
            &notifies(&again)[0].1.headers,
            HeaderName::SubscriptionState
        ),
        "active;expires=600"
    );
}

#[test]
fn pending_then_refused_is_terminated_rejected() {
    let mut h = with(pending_list());
    let actions = h.request(Sub::new(CAROL, ALICE, "c1").request(), at(0));
    let tag = ok_tag(&actions);
    h.ok_all(&actions, at(0));
    let actions = h.engine.authorize(ALICE, CAROL, false, at(10));
    assert_eq!(kinds(&actions), ["store", "notify"]);
    assert!(matches!(
        stores(&actions)[..],
        [StoreOp::DeleteSubscription { .. }]
    ));
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=rejected"
    );
    assert!(n.body.is_empty());
    assert!(!h.engine.contains_dialog(b"c1", tag.as_bytes(), b"w-c1"));
    assert_eq!(
        status(&h.request(Sub::new(CAROL, ALICE, "c2").request(), at(20))),
        403
    );
}

#[test]
fn unknown_presentity_closed_rejected_or_provisioned() {
    let mut closed = with(EngineConfig::default());
    let actions = closed.request(
        Sub::new(BOB, "sip:nobody@example.com", "c1").request(),
        at(0),
    );
    assert!(body(notifies(&actions)[0].1).contains("<basic>closed</basic>"));

    let reject = EngineConfig {
        unknown_presentity: UnknownPresentity::Reject,
        provisioned: vec!["sip:room@example.com".into()],
        ..EngineConfig::default()
    };
    let mut h = with(reject);
    let nobody = h.request(
        Sub::new(BOB, "sip:nobody@example.com", "c1").request(),
        at(0),
    );
    assert_eq!(kinds(&nobody), ["respond"]);
    assert_eq!(status(&nobody), 404);
    assert_eq!(
        status(&h.request(Sub::new(BOB, "sip:room@example.com", "c2").request(), at(0))),
        200
    );
    h.published(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(0));
    assert_eq!(
        status(&h.request(Sub::new(BOB, ALICE, "c3").request(), at(0))),
        200
    );
}

#[test]
fn too_many_subscriptions_from_one_watcher_get_403() {
    let mut h = with(EngineConfig {
        subscription: SubscriptionConfig {
            max_per_watcher: 2,
            ..SubscriptionConfig::default()
        },
        ..EngineConfig::default()
    });
    for i in 0..2 {
        let p = format!("sip:p{i}@example.com");
        assert_eq!(
            status(&h.request(Sub::new(BOB, &p, &format!("c{i}")).request(), at(0))),
            200
        );
    }
    let third = h.request(Sub::new(BOB, "sip:p9@example.com", "c9").request(), at(0));
    assert_eq!(status(&third), 403);
    assert_eq!(
        String::from_utf8_lossy(&responses(&third)[0].reason),
        "Too many subscriptions from this watcher"
    );
    assert_eq!(refusals(&third), [("too_many_subscriptions", BOB)]);
    // Others are not affected.
    assert_eq!(
        status(&h.request(Sub::new(CAROL, ALICE, "c10").request(), at(0))),
        200
    );
}

#[test]
fn winfo_is_only_for_the_presentity_itself() {
    let mut h = with(EngineConfig::default());
    let sub = Sub::new(BOB, ALICE, "w1").event("presence.winfo");
    assert_eq!(status(&h.request(sub.request(), at(0))), 403);
}

#[test]
fn winfo_owner_gets_full_then_partial_documents() {
    let mut h = with(pending_list());
    h.subscribed(&Sub::new(BOB, ALICE, "c1"), at(0));
    let winfo = Sub::new(ALICE, ALICE, "w1").event("presence.winfo");
    let actions = h.request(winfo.request(), at(5));
    assert_eq!(kinds(&actions), ["store", "respond", "notify"]);
    let (first, n) = notifies(&actions)[0];
    assert_eq!(header(&n.headers, HeaderName::Event), "presence.winfo");
    assert_eq!(
        header(&n.headers, HeaderName::ContentType),
        "application/watcherinfo+xml"
    );
    let doc = body(n);
    assert!(doc.contains("version=\"0\" state=\"full\""), "{doc}");
    assert!(doc.contains("resource=\"sip:alice@example.com\" package=\"presence\""));
    assert!(doc.contains("status=\"active\""));
    assert!(doc.contains(">sip:bob@example.com</watcher>"));
    assert!(h
        .outcome(first, NotifyOutcome::Response(200), at(5))
        .is_empty());

    // A new (pending) watcher: a partial document with just that watcher.
    let actions = h.request(Sub::new(CAROL, ALICE, "c2").request(), at(10));
    let sent = notifies(&actions);
    assert_eq!(sent.len(), 2, "the watcher's NOTIFY and the winfo NOTIFY");
    let (carol, _) = sent[0];
    let (second, n) = sent[1];
    let doc = body(n);
    assert!(doc.contains("version=\"1\" state=\"partial\""), "{doc}");
    assert!(
        doc.contains("status=\"pending\" event=\"subscribe\""),
        "{doc}"
    );
    assert!(doc.contains(">sip:carol@example.org</watcher>"));
    assert!(!doc.contains("sip:bob@example.com"));
    assert!(h
        .outcome(carol, NotifyOutcome::Response(200), at(10))
        .is_empty());
    assert!(h
        .outcome(second, NotifyOutcome::Response(200), at(10))
        .is_empty());

    // Approval is reported too.
    let actions = h.engine.authorize(ALICE, CAROL, true, at(20));
    let doc = body(notifies(&actions)[1].1);
    assert!(doc.contains("version=\"2\" state=\"partial\""), "{doc}");
    assert!(
        doc.contains("status=\"active\" event=\"approved\""),
        "{doc}"
    );
    assert_eq!(h.engine.stats().winfo, 1);
}

#[test]
fn winfo_reports_watchers_that_leave_or_vanish() {
    let mut h = with(EngineConfig::default());
    let bob = Sub::new(BOB, ALICE, "c1");
    let bob_tag = h.subscribed(&bob, at(0));
    h.subscribed(&Sub::new(CAROL, ALICE, "c2"), at(0));
    h.subscribed(&Sub::new(ALICE, ALICE, "w1").event("presence.winfo"), at(1));

    // Bob unsubscribes: a partial document with Bob terminated (timeout).
    let actions = h.request(bob.in_dialog(&bob_tag, 2).expires(Some(0)).request(), at(2));
    let sent = notifies(&actions);
    assert_eq!(sent.len(), 2);
    let doc = body(sent[1].1);
    assert!(doc.contains("state=\"partial\""), "{doc}");
    assert!(
        doc.contains("status=\"terminated\" event=\"timeout\""),
        "{doc}"
    );
    assert!(doc.contains(">sip:bob@example.com</watcher>"));
    h.ok_all(&actions, at(2));

    // Carol's NOTIFY times out: she is gone, and the owner hears of it.
    let actions = h.request(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(3));
    let (to_carol, _) = notifies(&actions)[0];
    let after = h.outcome(to_carol, NotifyOutcome::Timeout, at(4));
    assert!(matches!(
        stores(&after)[..],
        [StoreOp::DeleteSubscription { .. }]
    ));
    let doc = body(notifies(&after)[0].1);
    assert!(
        doc.contains("status=\"terminated\" event=\"timeout\""),
        "{doc}"
    );
    assert!(doc.contains(">sip:carol@example.org</watcher>"));
    assert_eq!(h.engine.stats().subscriptions_active, 0);
}

/// The reasons a subscription can end with besides timeout and rejected
/// (RFC 6665 §4.2.2), each from the situation that produces it.
#[test]
fn pending_subscription_that_runs_out_ends_with_giveup() {
    let mut h = with(pending_list());
    let actions = h.request(Sub::new(CAROL, ALICE, "c1").request(), at(0));
    h.ok_all(&actions, at(0));
    let actions = h.engine.handle_timeout(at(601));
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=giveup"
    );
}

#[test]
fn a_rejecting_server_ends_watchers_of_a_vanished_presentity_with_noresource() {
    let mut h = with(EngineConfig {
        unknown_presentity: UnknownPresentity::Reject,
        subscription: SubscriptionConfig {
            max_expires: 7200,
            ..SubscriptionConfig::default()
        },
        ..EngineConfig::default()
    });
    h.published(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(0));
    h.subscribed(&Sub::new(BOB, ALICE, "c1").expires(Some(7200)), at(0));
    // The publication (Expires 3600) runs out; nothing else makes Alice
    // exist, so her watcher is told she is gone.
    let actions = h.engine.handle_timeout(at(3601));
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=noresource"
    );
    assert!(stores(&actions)
        .iter()
        .any(|op| matches!(op, StoreOp::DeleteSubscription { .. })));
}

#[test]
fn deactivate_all_tells_every_watcher_to_retry() {
    let mut h = with(EngineConfig::default());
    h.subscribed(&Sub::new(BOB, ALICE, "c1"), at(0));
    h.subscribed(&Sub::new(CAROL, ALICE, "c2"), at(0));
    let actions = h.engine.deactivate_all(at(5));
    let states: Vec<String> = notifies(&actions)
        .iter()
        .map(|(_, n)| header(&n.headers, HeaderName::SubscriptionState))
        .collect();
    assert_eq!(states, ["terminated;reason=deactivated"; 2]);
    assert_eq!(h.engine.stats().subscriptions_active, 0);
}

#[test]
fn a_publication_over_the_bound_is_reported_for_the_refusal_log() {
    let mut h = with(EngineConfig {
        publication: presence::PublicationConfig {
            max_per_presentity: 1,
            ..presence::PublicationConfig::default()
        },
        ..EngineConfig::default()
    });
    let first = h.request(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(0));
    assert_eq!(refusals(&first), []);
    let second = h.request(publish(ALICE, None, &pidf(ALICE, "open", "y"), 2), at(0));
    assert_eq!(status(&second), 403);
    assert_eq!(kinds(&second), ["respond", "refused"]);
    assert_eq!(refusals(&second), [("too_many_publications", ALICE)]);
}
