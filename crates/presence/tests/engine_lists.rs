//! RFC 4662 list subscriptions of standard clients: a user's stored
//! contact list as a list URI, served by the batched-subscription
//! machinery with PIDF parts.

mod common;

use common::lists::*;
use common::*;
use presence::{Authorization, ContactOp, EngineConfig};
use sip::HeaderName;

#[test]
fn a_list_uri_without_eventlist_gets_421() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true)], 0);
    let plain = Sub::new(ALICE, LIST, "l0");
    let actions = h.request(plain.request(), at(1));
    assert_eq!(status(&actions), 421);
    let resp = responses(&actions)[0];
    assert_eq!(header(&resp.headers, HeaderName::Require), "eventlist");
    assert!(notifies(&actions).is_empty());
    assert!(stores(&actions).is_empty(), "no dialog");
}

#[test]
fn only_the_owner_may_subscribe_to_a_list() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true)], 0);
    let sub = Sub::new(BOB, LIST, "l1").header("Supported: eventlist");
    assert_eq!(status(&h.request(sub.request(), at(1))), 403);
}

#[test]
fn without_a_suffix_a_list_uri_is_a_presentity() {
    let mut h = Harness::new(EngineConfig::default());
    put_list(&mut h, &[(BOB, true)], 0);
    let actions = h.request(Sub::new(ALICE, LIST, "l2").request(), at(1));
    assert_eq!(status(&actions), 200);
    let n = notifies(&actions);
    assert_eq!(
        header(&n[0].1.headers, HeaderName::ContentType),
        "application/pidf+xml"
    );
}

#[test]
fn full_state_first_then_only_what_changed() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true), (CAROL, true), (DAVE, false)], 0);
    h.published(publish(BOB, None, &pidf(BOB, "open", "here"), 1), at(1));

    let actions = h.request(list_sub("l3").request(), at(2));
    assert_eq!(status(&actions), 200);
    let ok = responses(&actions)[0];
    assert_eq!(header(&ok.headers, HeaderName::Require), "eventlist");
    assert_eq!(stores(&actions).len(), 1, "one dialog stored");
    let n = notifies(&actions);
    assert_eq!(n.len(), 1, "one NOTIFY for the whole list");
    assert_eq!(header(&n[0].1.headers, HeaderName::Require), "eventlist");
    let (version, full, entries) = read_notify(n[0].1);
    assert_eq!((version, full), (0, true));
    // Each resource has the name the list gives it (RLMI `<name>`).
    assert!(
        body(n[0].1).contains(&format!(
            "<resource uri=\"{BOB}\"><name>bob</name><instance "
        )),
        "{}",
        body(n[0].1)
    );
    // Dave is on the list but not subscribed to: not a resource.
    assert_eq!(
        summary(&entries),
        [active(BOB, "open"), active(CAROL, "closed")]
    );
    h.ok_all(&actions, at(2));

    // Bob goes offline: the next NOTIFY carries Bob alone.
    let (_, actions) = h.published(publish(BOB, None, &pidf(BOB, "closed", "gone"), 2), at(3));
    let n = notifies(&actions);
    assert_eq!(n.len(), 1);
    let (version, full, entries) = read_notify(n[0].1);
    assert_eq!((version, full), (1, false));
    assert_eq!(summary(&entries), [active(BOB, "closed")]);
    h.ok_all(&actions, at(3));

    // The PIDF part is the one a single subscription gets.
    let actions = h.request(Sub::new(ERIN, BOB, "s1").request(), at(4));
    let single = body(notifies(&actions)[0].1);
    assert_eq!(entries[0].part.as_deref(), Some(single.trim_end()));
}

#[test]
fn a_refresh_sends_full_state_again() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true)], 0);
    let sub = list_sub("l4");
    let actions = h.request(sub.request(), at(1));
    let tag = ok_tag(&actions);
    h.ok_all(&actions, at(1));
    let actions = h.request(sub.in_dialog(&tag, 2).request(), at(2));
    assert_eq!(status(&actions), 200);
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::Require),
        "eventlist"
    );
    let (version, full, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!((version, full), (1, true));
    assert_eq!(summary(&entries), [active(BOB, "closed")]);
}

#[test]
fn a_changed_list_changes_the_dialog() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true), (CAROL, true)], 0);
    let sub = list_sub("l5");
    let actions = h.request(sub.request(), at(1));
    let tag = ok_tag(&actions);
    let key_count = h.engine.stats().subscriptions_active;
    h.ok_all(&actions, at(1));

    // Dave is added, Carol removed: one partial NOTIFY in the same dialog.
    let actions = put_list(&mut h, &[(BOB, true), (DAVE, true)], 2);
    assert!(matches!(actions[0], presence::Action::Store(_)));
    let n = notifies(&actions);
    assert_eq!(n.len(), 1);
    let (version, full, entries) = read_notify(n[0].1);
    assert_eq!((version, full), (1, false));
    assert_eq!(
        summary(&entries),
        [
            (CAROL.to_owned(), "terminated:noresource".to_owned(), None),
            active(DAVE, "closed"),
        ]
    );
    assert_eq!(
        h.engine.stats().subscriptions_active,
        key_count,
        "no new dialog"
    );
    h.ok_all(&actions, at(2));

    // Carol is no longer watched through the list; Dave is.
    let (_, actions) = h.published(publish(CAROL, None, &pidf(CAROL, "open", "x"), 3), at(3));
    assert!(notifies(&actions).is_empty(), "Carol is no longer watched");
    let (_, actions) = h.published(publish(DAVE, None, &pidf(DAVE, "open", "y"), 4), at(4));
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!(summary(&entries), [active(DAVE, "open")]);
    h.ok_all(&actions, at(4));

    // A full state after a refresh no longer lists Carol.
    let actions = h.request(sub.in_dialog(&tag, 2).request(), at(5));
    let (version, full, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!((version, full), (3, true));
    assert_eq!(
        summary(&entries),
        [active(BOB, "closed"), active(DAVE, "open")]
    );
}

#[test]
fn refused_and_unknown_resources_are_reported_per_resource() {
    let mut h = Harness::new(EngineConfig {
        authorization: Authorization::SameDomain,
        ..config()
    });
    put_list(&mut h, &[(BOB, true), (CAROL, true)], 0);
    let actions = h.request(list_sub("l6").request(), at(1));
    assert_eq!(status(&actions), 200);
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    // Carol is in another domain: the same-domain policy refuses Alice.
    assert_eq!(
        summary(&entries),
        [
            active(BOB, "closed"),
            (CAROL.to_owned(), "terminated:rejected".to_owned(), None),
        ]
    );
}

#[test]
fn an_empty_list_is_an_empty_full_state() {
    let mut h = Harness::new(config());
    let actions = h.request(list_sub("l7").request(), at(1));
    assert_eq!(status(&actions), 200);
    let (version, full, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!((version, full), (0, true));
    assert!(entries.is_empty());
    h.ok_all(&actions, at(1));
    // The first contact arrives as a partial notification.
    let actions = put_list(&mut h, &[(BOB, true)], 2);
    let (version, full, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!((version, full), (1, false));
    assert_eq!(summary(&entries), [active(BOB, "closed")]);
}

#[test]
fn a_restored_list_subscription_takes_the_stored_list_as_it_is_now() {
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true), (CAROL, true)], 0);
    let mut req = adhoc_sub(LIST, "r1", &[BOB], true);
    req.headers.push(sip::Header::new(
        HeaderName::UserAgent,
        "LinphoneAndroid/5.2",
    ));
    let actions = h.request(req, at(1));
    let record = stores(&actions)
        .into_iter()
        .find_map(|op| match op {
            presence::StoreOp::PutSubscription(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the dialog is stored");
    // The list changes after the last write of the dialog.
    let actions = put_list(&mut h, &[(BOB, true), (DAVE, true)], 2);
    let list = stores(&actions)
        .into_iter()
        .find_map(|op| match op {
            presence::StoreOp::PutContactList(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the list is stored");

    // A restart: lists first, then the dialogs, as the server loads them.
    let mut h = Harness::new(config());
    assert!(h.engine.restore_contacts(vec![list]).is_empty());
    let actions = h.engine.restore(Vec::new(), vec![record], at(10));
    let n = notifies(&actions);
    assert_eq!(n.len(), 1);
    assert_eq!(header(&n[0].1.headers, HeaderName::Event), "Presence");
    assert_eq!(header(&n[0].1.headers, HeaderName::Require), "eventlist");
    let (version, full, entries) = read_notify(n[0].1);
    assert_eq!((version, full), (0, true));
    assert_eq!(
        summary(&entries),
        [active(BOB, "closed"), active(DAVE, "closed")]
    );
}

#[test]
fn a_pending_resource_becomes_active_when_authorized() {
    let mut h = Harness::new(EngineConfig {
        authorization: Authorization::AllowList {
            allow: Vec::new(),
            unlisted: presence::Unlisted::Pending,
        },
        ..config()
    });
    put_list(&mut h, &[(BOB, true)], 0);
    let actions = h.request(list_sub("p1").request(), at(1));
    assert_eq!(status(&actions), 200, "the list itself is Alice's own");
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!(
        summary(&entries),
        [(BOB.to_owned(), "pending".to_owned(), None)]
    );
    h.ok_all(&actions, at(1));

    // Bob lets Alice watch: the resource turns active, with its state.
    let actions = h.engine.authorize(BOB, ALICE, true, at(2));
    let (version, full, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!((version, full), (1, false));
    assert_eq!(summary(&entries), [active(BOB, "closed")]);
}

#[test]
fn the_dialects_contact_changes_reach_the_list_dialog() {
    // SERVICE setContact / deleteContact are these operations.
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true)], 0);
    let actions = h.request(list_sub("d1").request(), at(1));
    h.ok_all(&actions, at(1));
    let op = ContactOp::SetContact {
        user: ALICE.into(),
        contact: contact(CAROL, true),
    };
    let (_, actions) = h.engine.change_contacts(op, at(2)).expect("valid");
    let (_, full, entries) = read_notify(notifies(&actions)[0].1);
    assert!(!full);
    assert_eq!(summary(&entries), [active(CAROL, "closed")]);
    h.ok_all(&actions, at(2));
    let op = ContactOp::DeleteContact {
        user: ALICE.into(),
        uri: BOB.into(),
    };
    let (_, actions) = h.engine.change_contacts(op, at(3)).expect("valid");
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!(
        summary(&entries),
        [(BOB.to_owned(), "terminated:noresource".to_owned(), None)]
    );
    h.ok_all(&actions, at(3));
    // Marking a contact unsubscribed takes it out as well.
    let op = ContactOp::SetContact {
        user: ALICE.into(),
        contact: contact(CAROL, false),
    };
    let (_, actions) = h.engine.change_contacts(op, at(4)).expect("valid");
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!(
        summary(&entries),
        [(CAROL.to_owned(), "terminated:noresource".to_owned(), None)]
    );
}

#[test]
fn a_long_list_over_udp_is_sent_in_notifies_that_fit() {
    let mut h = Harness::new(config());
    let members: Vec<String> = (0..40)
        .map(|i| format!("sip:member{i:02}@example.com"))
        .collect();
    let list: Vec<(&str, bool)> = members.iter().map(|m| (m.as_str(), true)).collect();
    put_list(&mut h, &list, 0);
    let note = "n".repeat(900);
    for (i, m) in members.iter().enumerate() {
        h.published(publish(m, None, &pidf(m, "open", &note), i as u64), at(1));
    }

    let mut actions = h.request(list_sub("big").request(), at(2));
    let mut with_state = std::collections::BTreeSet::new();
    let mut versions = Vec::new();
    while let Some((_, notify)) = notifies(&actions).first().copied() {
        let size = notify.body.len();
        assert!(size <= 17 * 1024, "a NOTIFY of {size} bytes over UDP");
        let (version, full, entries) = read_notify(notify);
        if version == 0 {
            assert!(full);
            assert_eq!(entries.len(), 40, "a full state names every member");
        } else {
            assert!(!full);
        }
        versions.push(version);
        for e in entries.iter().filter(|e| e.part.is_some()) {
            assert!(with_state.insert(e.uri.clone()), "{} sent twice", e.uri);
        }
        actions = h.ok_all(&actions, at(3));
    }
    assert_eq!(with_state.len(), 40, "every member's state went out");
    assert!(versions.len() > 2, "{versions:?}");
    assert_eq!(versions, (0..versions.len() as u32).collect::<Vec<_>>());
}
