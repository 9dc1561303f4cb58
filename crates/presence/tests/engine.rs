//! The engine's subscription rules (RFC 6665, RFC 3856) driven with real
//! SUBSCRIBE and PUBLISH texts at explicit times.

mod common;

use common::*;
use presence::{Action, EngineConfig, NotifyOutcome, StoreOp};
use sip::{HeaderAccess, HeaderName};

fn harness() -> Harness {
    Harness::new(EngineConfig::default())
}

#[test]
fn subscribe_is_stored_then_answered_then_notified() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").request(), at(0));
    assert_eq!(kinds(&actions), ["store", "respond", "notify"]);
    match &stores(&actions)[..] {
        [StoreOp::PutSubscription(r)] => {
            assert_eq!(r.presentity, ALICE);
            assert_eq!(r.watcher, BOB);
            assert_eq!(r.state, "active");
        }
        other => panic!("{other:?}"),
    }
    let ok = responses(&actions)[0];
    let tag = ok_tag(&actions);
    assert_eq!(header(&ok.headers, HeaderName::Expires), "600");
    assert_eq!(
        header(&ok.headers, HeaderName::Contact),
        format!("<{CONTACT}>")
    );

    let (_, n) = notifies(&actions)[0];
    assert_eq!(n.uri.to_string(), "sip:watcher@192.0.2.1:5070");
    assert_eq!(n.header_from().unwrap().tag().unwrap(), tag.as_str());
    assert_eq!(n.header_from().unwrap().uri.to_string(), ALICE);
    assert_eq!(n.header_to().unwrap().tag().unwrap(), "w-c1");
    assert_eq!(n.call_id().unwrap(), "c1");
    assert_eq!(header(&n.headers, HeaderName::CSeq), "1 NOTIFY");
    assert_eq!(header(&n.headers, HeaderName::Event), "presence");
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=600"
    );
    assert_eq!(
        header(&n.headers, HeaderName::Contact),
        format!("<{CONTACT}>")
    );
    assert_eq!(
        header(&n.headers, HeaderName::ContentType),
        "application/pidf+xml"
    );
    assert!(!header(&n.headers, HeaderName::SipEtag).is_empty());
    // Nobody published: the presentity shows offline.
    assert!(body(n).contains("<basic>closed</basic>"), "{}", body(n));
    assert!(h.engine.contains_dialog(b"c1", tag.as_bytes(), b"w-c1"));
    assert_eq!(h.engine.stats().subscriptions_active, 1);
}

#[test]
fn event_id_and_record_route_shape_the_notify() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1")
        .event("presence;id=42")
        .header("Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>");
    let actions = h.request(sub.request(), at(0));
    let rr: Vec<_> = responses(&actions)[0]
        .headers
        .values(HeaderName::RecordRoute)
        .collect();
    assert_eq!(rr, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
    let (_, n) = notifies(&actions)[0];
    let routes: Vec<_> = n.headers.values(HeaderName::Route).collect();
    assert_eq!(
        routes,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(header(&n.headers, HeaderName::Event), "presence;id=42");
}

#[test]
fn expires_below_minimum_gets_423_with_min_expires() {
    let mut h = harness();
    let actions = h.request(
        Sub::new(BOB, ALICE, "c1").expires(Some(10)).request(),
        at(0),
    );
    assert_eq!(kinds(&actions), ["respond"]);
    let r = responses(&actions)[0];
    assert_eq!(r.status, 423);
    assert_eq!(header(&r.headers, HeaderName::MinExpires), "60");
}

#[test]
fn expires_is_clamped_and_defaulted() {
    let mut h = harness();
    let long = h.request(
        Sub::new(BOB, ALICE, "c1").expires(Some(99_999)).request(),
        at(0),
    );
    assert_eq!(
        header(&responses(&long)[0].headers, HeaderName::Expires),
        "3600"
    );
    let none = h.request(Sub::new(BOB, ALICE, "c2").expires(None).request(), at(0));
    assert_eq!(
        header(&responses(&none)[0].headers, HeaderName::Expires),
        "3600"
    );
    let (_, n) = notifies(&none)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=3600"
    );
}

#[test]
fn unknown_event_gets_489_with_allow_events() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").event("dialog").request(), at(0));
    let r = responses(&actions)[0];
    assert_eq!(r.status, 489);
    assert_eq!(
        header(&r.headers, HeaderName::AllowEvents),
        "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
    );
}

#[test]
fn accept_without_pidf_gets_406() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1").header("Accept: application/xpidf+xml");
    let actions = h.request(sub.request(), at(0));
    let r = responses(&actions)[0];
    assert_eq!(r.status, 406);
    assert_eq!(
        header(&r.headers, HeaderName::Accept),
        "application/pidf+xml"
    );
    let ok = Sub::new(BOB, ALICE, "c2").header("Accept: application/pidf+xml, text/plain");
    assert_eq!(status(&h.request(ok.request(), at(0))), 200);
}

#[test]
fn unknown_dialog_gets_481() {
    let mut h = harness();
    let stray = Sub::new(BOB, ALICE, "c1").in_dialog("nosuch", 2);
    assert_eq!(status(&h.request(stray.request(), at(0))), 481);
    assert!(!h.engine.contains_dialog(b"c1", b"nosuch", b"w-c1"));
}

#[test]
fn cseq_out_of_order_gets_500() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let tag = h.subscribed(&sub, at(0));
    let old = sub.in_dialog(&tag, 1);
    assert_eq!(status(&h.request(old.request(), at(1))), 500);
    let good = sub.in_dialog(&tag, 2);
    assert_eq!(status(&h.request(good.request(), at(2))), 200);
}

#[test]
fn refresh_extends_and_notifies_in_order() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let tag = h.subscribed(&sub, at(0));
    let refresh = sub.in_dialog(&tag, 2).expires(Some(900));
    let actions = h.request(refresh.request(), at(100));
    assert_eq!(kinds(&actions), ["store", "respond", "notify"]);
    match &stores(&actions)[..] {
        [StoreOp::PutSubscription(r)] => assert_eq!(r.remote_cseq, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::Expires),
        "900"
    );
    let (_, n) = notifies(&actions)[0];
    assert_eq!(header(&n.headers, HeaderName::CSeq), "2 NOTIFY");
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=900"
    );
    assert_eq!(h.engine.poll_timeout(), Some(at(1000)));
}

#[test]
fn expires_zero_on_a_new_subscribe_is_a_fetch() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").expires(Some(0)).request(), at(0));
    assert_eq!(
        kinds(&actions),
        ["respond", "notify"],
        "a fetch stores nothing"
    );
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::Expires),
        "0"
    );
    let (id, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=timeout"
    );
    assert!(body(n).contains("<presence"));
    let tag = ok_tag(&actions);
    assert!(!h.engine.contains_dialog(b"c1", tag.as_bytes(), b"w-c1"));
    assert!(h
        .outcome(id, NotifyOutcome::Response(200), at(0))
        .is_empty());
    assert_eq!(h.engine.stats().notifies_in_flight, 0);
    assert_eq!(h.engine.poll_timeout(), None);
}

#[test]
fn expires_zero_in_dialog_unsubscribes() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let tag = h.subscribed(&sub, at(0));
    let actions = h.request(sub.in_dialog(&tag, 2).expires(Some(0)).request(), at(10));
    assert_eq!(kinds(&actions), ["store", "respond", "notify"]);
    assert!(matches!(
        stores(&actions)[..],
        [StoreOp::DeleteSubscription { .. }]
    ));
    let (id, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=timeout"
    );
    assert!(body(n).contains("<presence"), "the final state goes along");
    assert!(!h.engine.contains_dialog(b"c1", tag.as_bytes(), b"w-c1"));
    assert!(h
        .outcome(id, NotifyOutcome::Response(200), at(10))
        .is_empty());
    assert_eq!(h.engine.stats().subscriptions_active, 0);
    assert_eq!(
        status(&h.request(sub.in_dialog(&tag, 3).request(), at(11))),
        481
    );
}

#[test]
fn expiry_terminates_with_timeout() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    h.subscribed(&sub, at(0));
    assert_eq!(h.engine.poll_timeout(), Some(at(600)));
    assert!(h.engine.handle_timeout(at(599)).is_empty());
    let actions = h.engine.handle_timeout(at(600));
    assert_eq!(kinds(&actions), ["store", "notify"]);
    let (_, n) = notifies(&actions)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=timeout"
    );
    assert_eq!(h.engine.poll_timeout(), None);
    assert_eq!(h.engine.stats().subscriptions_active, 0);
}

#[test]
fn notify_481_timeout_or_transport_error_removes_the_subscription() {
    for outcome in [
        NotifyOutcome::Response(481),
        NotifyOutcome::Timeout,
        NotifyOutcome::TransportError,
    ] {
        let mut h = harness();
        let actions = h.request(Sub::new(BOB, ALICE, "c1").request(), at(0));
        let tag = ok_tag(&actions);
        let (id, _) = notifies(&actions)[0];
        let after = h.outcome(id, outcome, at(1));
        assert!(
            matches!(stores(&after)[..], [StoreOp::DeleteSubscription { .. }]),
            "{outcome:?}: {after:?}"
        );
        assert!(notifies(&after).is_empty());
        assert!(!h.engine.contains_dialog(b"c1", tag.as_bytes(), b"w-c1"));
        assert_eq!(h.engine.stats().subscriptions_active, 0);
        assert_eq!(h.engine.poll_timeout(), None);
    }
}

#[test]
fn publish_is_stored_answered_and_notified() {
    let mut h = harness();
    let tag = h.subscribed(&Sub::new(BOB, ALICE, "c1"), at(0));
    let actions = h.request(publish(ALICE, None, &pidf(ALICE, "open", "hi"), 1), at(1));
    // The first watcher's NOTIFY goes before the publisher's 200.
    assert_eq!(kinds(&actions), ["store", "notify", "respond"]);
    let etag = header(&responses(&actions)[0].headers, HeaderName::SipEtag);
    assert!(!etag.is_empty());
    let (_, n) = notifies(&actions)[0];
    assert_eq!(n.call_id().unwrap(), "c1");
    assert_eq!(n.header_from().unwrap().tag().unwrap(), tag.as_str());
    assert!(body(n).contains("<basic>open</basic>"), "{}", body(n));
    assert!(body(n).contains("hi"));
}

#[test]
fn suppress_if_match_on_a_refresh_leaves_the_body_out() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let actions = h.request(sub.request(), at(0));
    let tag = ok_tag(&actions);
    let etag = header(&notifies(&actions)[0].1.headers, HeaderName::SipEtag);
    h.ok_all(&actions, at(0));
    let refresh = sub
        .in_dialog(&tag, 2)
        .header(&format!("Suppress-If-Match: {etag}"));
    let actions = h.request(refresh.request(), at(10));
    assert_eq!(status(&actions), 200);
    let (_, n) = notifies(&actions)[0];
    assert!(n.body.is_empty());
    assert_eq!(header(&n.headers, HeaderName::ContentType), "");
    assert_eq!(header(&n.headers, HeaderName::SipEtag), etag);
    h.ok_all(&actions, at(10));
    // A stale entity-tag gets the full state.
    let stale = sub.in_dialog(&tag, 3).header("Suppress-If-Match: nope");
    let actions = h.request(stale.request(), at(20));
    assert!(!notifies(&actions)[0].1.body.is_empty());
}

#[test]
fn every_subscription_persists_and_reloads_equal() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").request(), at(0));
    let Some(Action::Store(ops)) = actions.first() else {
        panic!("{actions:?}")
    };
    let StoreOp::PutSubscription(r) = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(ops[0].table(), "subscriptions");
    assert_eq!(ops[0].key(), r.id);
    assert_eq!(r.route_set, Vec::<String>::new());
    assert_eq!(r.remote_target, "sip:watcher@192.0.2.1:5070");
    assert_eq!(r.remote_party, "<sip:bob@example.com>;tag=w-c1");
    assert_eq!(r.expires_at_ms, 1_700_000_600_000);
}

#[test]
fn subscribe_without_contact_gets_400() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").contact(None).request(), at(0));
    assert_eq!(kinds(&actions), ["respond"]);
    assert_eq!(status(&actions), 400);
}

#[test]
fn other_methods_get_405() {
    let mut h = harness();
    let req = parse(
        "MESSAGE sip:alice@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKm\n\
         From: <sip:bob@example.com>;tag=1\nTo: <sip:alice@example.com>\nCall-ID: m\n\
         CSeq: 1 MESSAGE\nMax-Forwards: 70",
        "",
    );
    let actions = h.request(req, at(0));
    assert_eq!(status(&actions), 405);
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::Allow),
        "SUBSCRIBE, PUBLISH, SERVICE"
    );
}

#[test]
fn refresh_may_move_the_remote_target() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let tag = h.subscribed(&sub, at(0));
    let moved = sub
        .in_dialog(&tag, 2)
        .contact(Some("sip:watcher@198.51.100.7:5080"));
    let actions = h.request(moved.request(), at(10));
    let (id, n) = notifies(&actions)[0];
    assert_eq!(n.uri.to_string(), "sip:watcher@198.51.100.7:5080");
    h.outcome(id, NotifyOutcome::Response(200), at(10));
    // Later NOTIFYs go there too.
    let actions = h.request(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(20));
    assert_eq!(
        notifies(&actions)[0].1.uri.to_string(),
        "sip:watcher@198.51.100.7:5080"
    );
}

#[test]
fn an_expired_publication_notifies_the_watchers() {
    let mut h = harness();
    h.published(publish(ALICE, None, &pidf(ALICE, "open", "here"), 1), at(0));
    let sub = Sub::new(BOB, ALICE, "c1").expires(Some(3600));
    h.subscribed(&sub, at(100));
    // The publication (3600 s from 0) ends before the subscription (3700).
    assert_eq!(h.engine.poll_timeout(), Some(at(3600)));
    let actions = h.engine.handle_timeout(at(3600));
    assert_eq!(kinds(&actions), ["store", "notify"]);
    assert!(matches!(
        stores(&actions)[..],
        [StoreOp::DeletePublication { .. }]
    ));
    let (_, n) = notifies(&actions)[0];
    assert!(body(n).contains("<basic>closed</basic>"), "{}", body(n));
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=100"
    );
    assert_eq!(h.engine.poll_timeout(), Some(at(3700)));
}

#[test]
fn our_cseq_is_checkpointed_before_it_runs_past_the_stored_value() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1").expires(Some(3600));
    h.subscribed(&sub, at(0));
    let mut etag: Option<String> = None;
    let mut checkpoints = Vec::new();
    for i in 0..1100u64 {
        let note = format!("n{i}");
        let (e, actions) = h.published(
            publish(ALICE, etag.as_deref(), &pidf(ALICE, "open", &note), i + 1),
            at(1),
        );
        etag = Some(e);
        for op in stores(&actions) {
            if let StoreOp::PutSubscription(r) = op {
                checkpoints.push(r.local_cseq);
            }
        }
        h.ok_all(&actions, at(1));
    }
    // NOTIFY 1 went out with the create (stored cseq 0); 1101 NOTIFYs in
    // all, so exactly one checkpoint, taken before NOTIFY 1000.
    assert_eq!(checkpoints, [999]);
}
