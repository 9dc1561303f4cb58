//! RFC 4662 list subscriptions of standard clients: a user's stored
//! contact list as a list URI, served by the batched-subscription
//! machinery with PIDF parts.

mod common;

use common::*;
use presence::contacts::{Contact, Group, ListContent};
use presence::{Authorization, ContactOp, EngineConfig};
use sip::HeaderName;

/// Alice's contact list, as RFC 4662's `sip:adam-friends@...` names one.
const LIST: &str = "sip:alice-contacts@example.com";
const DAVE: &str = "sip:dave@example.com";
const ERIN: &str = "sip:erin@example.com";

fn config() -> EngineConfig {
    EngineConfig {
        contact_list_suffix: "-contacts".into(),
        ..EngineConfig::default()
    }
}

/// A contact named after its user part ("bob").
fn contact(uri: &str, subscribed: bool) -> Contact {
    let user = uri
        .trim_start_matches("sip:")
        .split('@')
        .next()
        .unwrap_or_default();
    Contact {
        uri: uri.into(),
        name: user.into(),
        groups: vec![1].into(),
        subscribed,
        external_uri: None,
    }
}

/// Replaces Alice's list (the operator's PUT).
fn put_list(h: &mut Harness, contacts: &[(&str, bool)], secs: u64) -> Vec<presence::Action<Flow>> {
    let list = ListContent {
        groups: vec![Group {
            id: 1,
            name: "Friends".into(),
        }],
        contacts: contacts.iter().map(|(u, s)| contact(u, *s)).collect(),
    };
    let op = ContactOp::Replace {
        user: ALICE.into(),
        list,
    };
    let (_, actions) = h
        .engine
        .change_contacts(op, at(secs))
        .expect("a valid list");
    actions
}

/// Alice's SUBSCRIBE to her list, as a standard client sends it.
fn list_sub(call_id: &str) -> Sub {
    Sub::new(ALICE, LIST, call_id)
        .header("Supported: eventlist")
        .header("Accept: multipart/related, application/rlmi+xml, application/pidf+xml")
}

/// One RLMI `<resource>`: its URI, instance state, reason, and the
/// document of its part (found by the instance's `cid`).
#[derive(Debug, PartialEq)]
struct Entry {
    uri: String,
    state: String,
    reason: Option<String>,
    part: Option<String>,
}

/// Reads a multipart/related RLMI body of Alice's list.
fn read(content_type: &str, body: &str) -> (u32, bool, Vec<Entry>) {
    read_any(content_type, body, LIST)
}

/// Reads a multipart/related RLMI body of `list`: (version, fullState,
/// resources).
fn read_any(content_type: &str, body: &str, list: &str) -> (u32, bool, Vec<Entry>) {
    assert!(
        content_type.starts_with("multipart/related; type=\"application/rlmi+xml\""),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let parts: Vec<(String, String)> = body
        .split(delimiter.as_str())
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (head, content) = p.trim_start_matches("\r\n").split_once("\r\n\r\n").unwrap();
            (head.to_owned(), content.trim_end().to_owned())
        })
        .collect();
    let (root_head, root) = &parts[0];
    assert!(
        root_head.contains("Content-Type: application/rlmi+xml"),
        "{root_head}"
    );
    let attr = |text: &str, name: &str| {
        text.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let list_tag = root
        .split("<list ")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert_eq!(attr(list_tag, "uri").as_deref(), Some(list));
    let version = attr(list_tag, "version").unwrap().parse().unwrap();
    let full = attr(list_tag, "fullState").unwrap() == "true";
    let entries = root
        .split("<resource ")
        .skip(1)
        .map(|r| {
            let cid = attr(r, "cid");
            let part = cid.map(|cid| {
                let (head, content) = parts
                    .iter()
                    .find(|(h, _)| h.contains(&format!("Content-Id: {cid}\r\n")))
                    .expect("the part the cid names");
                assert!(
                    head.contains("Content-Type: application/pidf+xml"),
                    "{head}"
                );
                content.clone()
            });
            Entry {
                uri: attr(&format!(" {r}"), "uri").unwrap(),
                state: attr(r, "state").unwrap(),
                reason: attr(r, "reason"),
                part,
            }
        })
        .collect();
    (version, full, entries)
}

fn read_notify(req: &sip::Request) -> (u32, bool, Vec<Entry>) {
    read(&header(&req.headers, HeaderName::ContentType), &body(req))
}

fn active(uri: &str, basic: &str) -> (String, String, Option<String>) {
    (uri.to_owned(), "active".to_owned(), Some(basic.to_owned()))
}

/// (uri, state, basic status of the part) of each entry.
fn summary(entries: &[Entry]) -> Vec<(String, String, Option<String>)> {
    entries
        .iter()
        .map(|e| {
            let basic = e.part.as_ref().map(|p| {
                p.split("<basic>")
                    .nth(1)
                    .and_then(|b| b.split('<').next())
                    .unwrap_or_default()
                    .to_owned()
            });
            let state = match &e.reason {
                Some(r) => format!("{}:{r}", e.state),
                None => e.state.clone(),
            };
            (e.uri.clone(), state, basic)
        })
        .collect()
}

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
    // Each resource has the name the list gives it (RFC 4662 §5.4).
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

/// liblinphone's SUBSCRIBE to its RLS URI (RFC 5367): the list is in the
/// body.
fn adhoc_sub(target: &str, call_id: &str, uris: &[&str], eventlist: bool) -> sip::Request {
    let entries: String = uris
        .iter()
        .map(|u| format!("  <entry uri=\"{u}\"/>\n"))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<resource-lists xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\n <list>\n{entries} </list>\n</resource-lists>\n"
    );
    let supported = if eventlist {
        "Supported: eventlist\n"
    } else {
        ""
    };
    parse(
        &format!(
            "SUBSCRIBE {target} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK{call_id}\n\
             From: <{ALICE}>;tag=f-{call_id}\nTo: {target}\nCSeq: 20 SUBSCRIBE\nCall-ID: {call_id}\n\
             Max-Forwards: 70\n{supported}Event: presence\nExpires: 3600\n\
             Content-Type: application/resource-lists+xml\n\
             Contact: <sip:alice@192.0.2.1;gr=urn:uuid:49fe3f87>\nRequire: recipient-list-subscribe\n\
             Accept: multipart/related\nAccept: application/pidf+xml\nAccept: application/rlmi+xml\n\
             Content-Disposition: recipient-list\n"
        ),
        &body,
    )
}

#[test]
fn an_adhoc_list_in_the_body_is_a_batch_too() {
    let mut h = Harness::new(config());
    h.published(publish(BOB, None, &pidf(BOB, "open", "here"), 1), at(1));
    let rls = "sip:rls@example.com";
    let actions = h.request(adhoc_sub(rls, "a1", &[BOB, CAROL], false), at(2));
    assert_eq!(status(&actions), 421, "RFC 5367 lists need eventlist too");

    let actions = h.request(adhoc_sub(rls, "a2", &[BOB, CAROL, BOB], true), at(2));
    assert_eq!(status(&actions), 200);
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::Require),
        "eventlist"
    );
    let n = notifies(&actions);
    let content_type = header(&n[0].1.headers, HeaderName::ContentType);
    let (version, full, entries) = read_any(&content_type, &body(n[0].1), rls);
    assert_eq!((version, full), (0, true));
    assert_eq!(
        summary(&entries),
        [active(BOB, "open"), active(CAROL, "closed")],
        "each resource once"
    );
    h.ok_all(&actions, at(2));
    let (_, actions) = h.published(publish(CAROL, None, &pidf(CAROL, "open", "x"), 2), at(3));
    let n = notifies(&actions);
    let content_type = header(&n[0].1.headers, HeaderName::ContentType);
    let (version, full, entries) = read_any(&content_type, &body(n[0].1), rls);
    assert_eq!((version, full), (1, false));
    assert_eq!(summary(&entries), [active(CAROL, "open")]);

    // To a list URI the stored list wins over the body.
    put_list(&mut h, &[(DAVE, true)], 4);
    let actions = h.request(adhoc_sub(LIST, "a3", &[BOB], true), at(5));
    let (_, _, entries) = read_notify(notifies(&actions)[0].1);
    assert_eq!(summary(&entries), [active(DAVE, "closed")]);

    // A body that does not read is a 400 naming the problem.
    let mut bad = adhoc_sub(rls, "a4", &[BOB], true);
    bad.body = bytes::Bytes::from_static(b"<list/>");
    bad.headers.set(HeaderName::ContentLength, "7");
    let actions = h.request(bad, at(6));
    assert_eq!(status(&actions), 400);
    assert!(
        responses(&actions)[0]
            .reason
            .starts_with(b"Bad resource list"),
        "{:?}",
        responses(&actions)[0].reason
    );
}

#[test]
fn liblinphone_list_notifies_spell_the_event_its_way() {
    // liblinphone hands a list NOTIFY to its friend list only when the
    // Event reads `Presence` (as Flexisip writes it).
    let mut h = Harness::new(config());
    put_list(&mut h, &[(BOB, true)], 0);
    let mut req = adhoc_sub(LIST, "ua1", &[BOB], true);
    req.headers.push(sip::Header::new(
        HeaderName::UserAgent,
        "Linphonec/5.1.65 (belle-sip/5.1.64)",
    ));
    let actions = h.request(req, at(1));
    assert_eq!(status(&actions), 200);
    let n = notifies(&actions);
    assert_eq!(header(&n[0].1.headers, HeaderName::Event), "Presence");
    h.ok_all(&actions, at(1));
    let (_, actions) = h.published(publish(BOB, None, &pidf(BOB, "open", "x"), 1), at(2));
    assert_eq!(
        header(&notifies(&actions)[0].1.headers, HeaderName::Event),
        "Presence"
    );

    // Everyone else gets RFC 3856's `presence`.
    let actions = h.request(list_sub("ua2").request(), at(3));
    assert_eq!(
        header(&notifies(&actions)[0].1.headers, HeaderName::Event),
        "presence"
    );
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
fn a_deflated_list_body_is_inflated() {
    // liblinphone compresses its list when it is built with zlib.
    let mut h = Harness::new(config());
    let deflated = |mut req: sip::Request, encoding: &'static str| {
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(&req.body, 6);
        req.headers
            .set(HeaderName::ContentLength, packed.len().to_string());
        req.headers
            .push(sip::Header::new(HeaderName::ContentEncoding, encoding));
        req.body = bytes::Bytes::from(packed);
        req
    };
    let rls = "sip:rls@example.com";
    let req = deflated(adhoc_sub(rls, "z1", &[BOB, CAROL], true), "deflate");
    let actions = h.request(req, at(1));
    assert_eq!(status(&actions), 200);
    let n = notifies(&actions);
    let content_type = header(&n[0].1.headers, HeaderName::ContentType);
    let (_, _, entries) = read_any(&content_type, &body(n[0].1), rls);
    assert_eq!(
        summary(&entries),
        [active(BOB, "closed"), active(CAROL, "closed")]
    );

    // An encoding we cannot undo: 415, saying which we can.
    let req = deflated(adhoc_sub(rls, "z2", &[BOB], true), "gzip");
    let actions = h.request(req, at(2));
    assert_eq!(status(&actions), 415);
    assert_eq!(
        header(&responses(&actions)[0].headers, HeaderName::AcceptEncoding),
        "deflate, identity"
    );

    // A small body that would inflate past the XML size limit: 400.
    let mut bomb = adhoc_sub(rls, "z3", &[BOB], true);
    bomb.body = bytes::Bytes::from(vec![b' '; 4 << 20]);
    let actions = h.request(deflated(bomb, "deflate"), at(3));
    assert_eq!(status(&actions), 400);
    assert!(
        responses(&actions)[0]
            .reason
            .starts_with(b"Bad resource list: deflate"),
        "{:?}",
        responses(&actions)[0].reason
    );
}
