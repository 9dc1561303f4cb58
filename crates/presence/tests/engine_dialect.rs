//! The Microsoft dialect through the engine: category publishing over
//! SERVICE (versions, 409 WrongDelta, deletion), category-document
//! watchers, and one presentity seen alike by a PIDF watcher and a
//! dialect watcher, in both orders of conflicting publications.
//!
//! Bodies are SIPE's (../shared/captures/sipe/SERVICE-category-publish-away.txt)
//! with the availability changed where a test needs another.

mod common;

use common::*;
use presence::msrtc::categories;
use presence::msrtc::category::CategoryValue;
use presence::{EngineConfig, StoreOp, XmlLimits};
use sip::HeaderName;

/// SIPE's publication of a manual user state and a machine state (into the
/// state input containers 2 and 3) and a note (into 200, 300, 400), with
/// `availability` and the versions given.
fn sipe_publish(user: &str, availability: u32, state_version: u32, note_version: u32) -> String {
    let state = |instance: u32, container: u32, kind: &str, manual: bool, expire: &str| {
        format!(
            "<publication categoryName=\"state\" instance=\"{instance}\" container=\"{container}\" \
             version=\"{state_version}\" expireType=\"{expire}\"><state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" \
             manual=\"{manual}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"{kind}\">\
             <availability>{availability}</availability><endpointLocation/></state></publication>"
        )
    };
    let note = |container: u32| {
        format!(
            "<publication categoryName=\"note\" instance=\"0\" container=\"{container}\" version=\"{note_version}\" \
             expireType=\"static\"><note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\">\
             <body type=\"personal\" uri=\"\">lab status message</body></note></publication>"
        )
    };
    format!(
        "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\"><publications uri=\"{user}\">{}{}{}{}{}{}{}</publications></publish>",
        state(536870912, 2, "userState", true, "static"),
        state(536870912, 3, "userState", true, "static"),
        state(861322412, 2, "machineState", false, "endpoint"),
        state(861322412, 3, "machineState", false, "endpoint"),
        note(200),
        note(300),
        note(400),
    )
}

fn service(user: &str, body: &str, n: u64) -> sip::Request {
    parse(
        &format!(
            "SERVICE {user} SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKs{n}\nMax-Forwards: 70\n\
             From: <{user}>;tag=s{n}\nTo: <{user}>\nCall-ID: svc{n}\nCSeq: {n} SERVICE\n\
             Content-Type: application/msrtc-category-publish+xml\n"
        ),
        body,
    )
}

/// The availability and note of a category document.
fn shown(body: &str) -> (Option<u32>, Option<String>) {
    let doc = categories::parse(body.as_bytes(), &XmlLimits::DEFAULT).expect("a category document");
    let mut availability = None;
    let mut note = None;
    for entry in doc.entries {
        let categories::EntryValue::Raw(xml) = entry.value else {
            continue;
        };
        match xml.value {
            Some(CategoryValue::State(s)) => availability = s.availability,
            Some(CategoryValue::Note(n)) => note = Some(n.text),
            _ => {}
        }
    }
    (availability, note)
}

fn dialect_watcher(h: &mut Harness, watcher: &str, presentity: &str, call_id: &str) -> String {
    let sub = Sub::new(watcher, presentity, call_id).header(ACCEPT_DIALECT);
    let actions = h.request(sub.request(), at(0));
    assert_eq!(status(&actions), 200);
    let n = notifies(&actions);
    assert_eq!(
        header(&n[0].1.headers, HeaderName::ContentType),
        "application/msrtc-event-categories+xml"
    );
    let first = body(n[0].1);
    h.ok_all(&actions, at(0));
    first
}

#[test]
fn category_publication_reaches_dialect_and_pidf_watchers() {
    let mut h = Harness::new(EngineConfig::default());
    let first = dialect_watcher(&mut h, BOB, ALICE, "d1");
    assert_eq!(
        shown(&first),
        (Some(18500), None),
        "nobody published: Offline"
    );
    h.subscribed(&Sub::new(CAROL, ALICE, "p1"), at(0));

    let actions = h.request(service(ALICE, &sipe_publish(ALICE, 15500, 0, 0), 1), at(1));
    assert_eq!(
        kinds(&actions),
        ["store", "notify", "respond", "notify"],
        "stored before the NOTIFYs and the 200, which follows the first NOTIFY"
    );
    assert_eq!(status(&actions), 200);
    let puts = stores(&actions)
        .iter()
        .filter(|op| matches!(op, StoreOp::PutPublication(_)))
        .count();
    assert_eq!(puts, 7, "one record per (category, instance, container)");
    let n = notifies(&actions);
    assert_eq!(n.len(), 2, "both watchers are told");
    let dialect = n
        .iter()
        .find(|(_, r)| header(&r.headers, HeaderName::ContentType).contains("msrtc"))
        .map(|(_, r)| body(r))
        .unwrap();
    // Bob is a colleague (same domain): container 200 holds the note.
    assert_eq!(
        shown(&dialect),
        (Some(15500), Some("lab status message".to_owned()))
    );
    let pidf = n
        .iter()
        .find(|(_, r)| header(&r.headers, HeaderName::ContentType) == "application/pidf+xml")
        .map(|(_, r)| body(r))
        .unwrap();
    assert!(pidf.contains("<rpid:away/>"), "{pidf}");
    assert!(pidf.contains("<basic>open</basic>"), "{pidf}");
}

#[test]
fn stale_versions_get_409_wrong_delta_and_change_nothing() {
    let mut h = Harness::new(EngineConfig::default());
    assert_eq!(
        status(&h.request(service(ALICE, &sipe_publish(ALICE, 3500, 0, 0), 1), at(1))),
        200
    );
    let before = h.engine.presentities().publications(ALICE);
    // The same versions again: every one is now stale (the server holds 1).
    let actions = h.request(service(ALICE, &sipe_publish(ALICE, 6500, 0, 0), 2), at(2));
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 409);
    assert_eq!(
        header(&resp.headers, HeaderName::ContentType),
        "application/msrtc-fault+xml"
    );
    let fault = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(
        fault.contains("<Faultcode>Client.BadCall.WrongDelta</Faultcode>"),
        "{fault}"
    );
    assert!(fault.contains("index=\"1\""), "{fault}");
    assert!(fault.contains("curVersion=\"1\""), "{fault}");
    assert!(stores(&actions).is_empty());
    assert_eq!(h.engine.presentities().publications(ALICE), before);
    // With the current versions it is taken.
    let actions = h.request(service(ALICE, &sipe_publish(ALICE, 6500, 1, 1), 3), at(3));
    assert_eq!(status(&actions), 200);
}

#[test]
fn expires_zero_deletes_an_instance() {
    let mut h = Harness::new(EngineConfig::default());
    h.request(service(ALICE, &sipe_publish(ALICE, 6500, 0, 0), 1), at(1));
    let delete = "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\"><publications uri=\"sip:alice@example.com\">\
        <publication categoryName=\"note\" instance=\"0\" container=\"200\" version=\"1\" expireType=\"static\" expires=\"0\"/>\
        </publications></publish>";
    let first = dialect_watcher(&mut h, BOB, ALICE, "d1");
    assert_eq!(shown(&first).1.as_deref(), Some("lab status message"));
    let actions = h.request(service(ALICE, delete, 2), at(2));
    assert_eq!(status(&actions), 200);
    assert!(matches!(
        stores(&actions)[..],
        [StoreOp::DeletePublication { .. }]
    ));
    let n = notifies(&actions);
    assert_eq!(shown(&body(n[0].1)), (Some(6500), None));
}

#[test]
fn bad_publications_are_refused_with_a_reason() {
    let mut h = Harness::new(EngineConfig::default());
    let missing_version = "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\"><publications uri=\"sip:alice@example.com\">\
        <publication categoryName=\"note\" instance=\"0\" container=\"200\" expireType=\"static\"/></publications></publish>";
    let actions = h.request(service(ALICE, missing_version, 1), at(1));
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 400);
    let reason = String::from_utf8_lossy(&resp.reason).into_owned();
    assert!(reason.contains("version"), "{reason}");
    assert!(reason.contains("publication"), "{reason}");
    // Someone else's categories.
    let other = sipe_publish("sip:mallory@example.com", 3500, 0, 0);
    assert_eq!(status(&h.request(service(ALICE, &other, 2), at(2))), 403);
    // Not a category publication.
    let mut req = service(ALICE, "<x/>", 3);
    req.headers.set(HeaderName::ContentType, "text/plain");
    let actions = h.request(req, at(3));
    assert_eq!(status(&actions), 415);
    assert!(h.engine.presentities().publications(ALICE).is_empty());
}

/// The table's rows for conflicting publications of one presentity, in
/// both orders: a manual dialect state wins over a PIDF busy; without a
/// manual state the busiest source wins.
#[test]
fn pidf_and_dialect_publications_aggregate_in_either_order() {
    let manual_online = sipe_publish(ALICE, 3500, 0, 0);
    let machine_only = |availability: u32| {
        format!(
            "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\"><publications uri=\"{ALICE}\">\
             <publication categoryName=\"state\" instance=\"861322412\" container=\"2\" version=\"0\" expireType=\"endpoint\">\
             <state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" manual=\"false\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"machineState\">\
             <availability>{availability}</availability></state></publication></publications></publish>"
        )
    };
    let busy = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
        xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:alice@example.com\"><tuple id=\"t\"><status><basic>open</basic></status></tuple>\
        <dm:person id=\"p\"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>";
    let cases: [(&str, String, u32); 2] = [
        ("manual Online beats PIDF busy", manual_online, 3500),
        (
            "PIDF busy beats an active machine",
            machine_only(3500),
            6500,
        ),
    ];
    for (what, dialect, expected) in cases {
        for pidf_first in [true, false] {
            let mut h = Harness::new(EngineConfig::default());
            let publish_pidf = |h: &mut Harness| h.published(publish(ALICE, None, busy, 1), at(1));
            if pidf_first {
                publish_pidf(&mut h);
                assert_eq!(status(&h.request(service(ALICE, &dialect, 2), at(2))), 200);
            } else {
                assert_eq!(status(&h.request(service(ALICE, &dialect, 2), at(2))), 200);
                publish_pidf(&mut h);
            }
            let dialect_view = dialect_watcher(&mut h, BOB, ALICE, "d1");
            assert_eq!(
                shown(&dialect_view).0,
                Some(expected),
                "{what} (PIDF first: {pidf_first})"
            );
            let pidf_sub = Sub::new(CAROL, ALICE, "p1");
            let actions = h.request(pidf_sub.request(), at(3));
            let pidf_view = body(notifies(&actions)[0].1);
            let busy_shown = pidf_view.contains("<rpid:busy/>");
            assert_eq!(
                busy_shown,
                expected == 6500,
                "{what} (PIDF first: {pidf_first}): {pidf_view}"
            );
        }
    }
}

#[test]
fn a_pidf_busy_is_6500_for_a_dialect_watcher_and_dnd_maps_back() {
    let mut h = Harness::new(EngineConfig::default());
    let busy = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
        xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:alice@example.com\"><tuple id=\"t\"><status><basic>open</basic></status></tuple>\
        <dm:person id=\"p\"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>";
    h.published(publish(ALICE, None, busy, 1), at(1));
    assert_eq!(
        shown(&dialect_watcher(&mut h, BOB, ALICE, "d1")).0,
        Some(6500)
    );

    // Bob sets Do Not Disturb (9500) by hand; a PIDF watcher sees the
    // documented row: open + busy with the do-not-disturb marker.
    let dnd = sipe_publish(BOB, 9500, 0, 0);
    assert_eq!(status(&h.request(service(BOB, &dnd, 2), at(2))), 200);
    let actions = h.request(Sub::new(CAROL, BOB, "p2").request(), at(3));
    let pidf = body(notifies(&actions)[0].1);
    assert!(pidf.contains("<basic>open</basic>"), "{pidf}");
    assert!(pidf.contains("<rpid:busy/>"), "{pidf}");
    assert!(pidf.contains("do-not-disturb"), "{pidf}");
}

fn set_container_members(user: &str, body: &str, n: u64) -> sip::Request {
    parse(
        &format!(
            "SERVICE {user} SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKc{n}\nMax-Forwards: 70\n\
             From: <{user}>;tag=c{n}\nTo: <{user}>\nCall-ID: cm{n}\nCSeq: {n} SERVICE\n\
             Content-Type: application/msrtc-setcontainermembers+xml\n"
        ),
        body,
    )
}

/// SIPE's block: Bob into container 32000 (`sipe-ocs2007.c`'s
/// setContainerMembers shape).
fn block(who: &str, version: u32) -> String {
    format!(
        "<setContainerMembers xmlns=\"http://schemas.microsoft.com/2006/09/sip/container-management\">\
         <container id=\"32000\" version=\"{version}\"><member action=\"add\" type=\"user\" value=\"{who}\"/></container>\
         </setContainerMembers>"
    )
}

#[test]
fn a_blocked_watcher_sees_offline_and_nothing_else() {
    let mut h = Harness::new(EngineConfig::default());
    h.request(service(ALICE, &sipe_publish(ALICE, 3500, 0, 0), 1), at(1));
    let first = dialect_watcher(&mut h, BOB, ALICE, "d1");
    assert_eq!(
        shown(&first),
        (Some(3500), Some("lab status message".to_owned()))
    );
    let actions = h.request(
        set_container_members(ALICE, &block("bob@example.com", 0), 2),
        at(2),
    );
    assert_eq!(status(&actions), 200);
    assert!(matches!(stores(&actions)[..], [StoreOp::PutRoaming(_)]));
    let n = notifies(&actions);
    assert_eq!(n.len(), 1);
    assert_eq!(
        shown(&body(n[0].1)),
        (Some(18500), None),
        "blocked: Offline only"
    );
    // A stale container version is refused like a stale publication.
    let actions = h.request(
        set_container_members(ALICE, &block("eve@example.com", 0), 3),
        at(3),
    );
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 409);
    assert!(String::from_utf8_lossy(&resp.body).contains("curVersion=\"1\""));
    // A PIDF watcher blocked the same way? PIDF has no containers; the
    // dialect's blocking applies to dialect watchers.
}

fn self_subscribe(
    user: &str,
    event: &str,
    accept: &str,
    call_id: &str,
    body: &str,
) -> sip::Request {
    parse(
        &format!(
            "SUBSCRIBE {user} SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bK{call_id}\nMax-Forwards: 70\n\
             From: <{user}>;tag=f-{call_id}\nTo: <{user}>\nCall-ID: {call_id}\nCSeq: 1 SUBSCRIBE\n\
             Contact: <{user};opaque=user:epid:x;gruu>\nEvent: {event}\nAccept: {accept}\n\
             Supported: ms-benotify\nExpires: 3600\n{}",
            if body.is_empty() { String::new() } else { format!("Content-Type: {accept}\n") }
        ),
        body,
    )
}

#[test]
fn roaming_self_lists_own_categories_containers_and_new_watchers() {
    let mut h = Harness::new(EngineConfig::default());
    let roaming_list = "<roamingList xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-self\"><roaming type=\"categories\"/><roaming type=\"containers\"/><roaming type=\"subscribers\"/></roamingList>";
    let actions = h.request(
        self_subscribe(
            ALICE,
            "vnd-microsoft-roaming-self",
            "application/vnd-microsoft-roaming-self+xml",
            "rs1",
            roaming_list,
        ),
        at(0),
    );
    assert_eq!(status(&actions), 200);
    let first = body(notifies(&actions)[0].1);
    assert!(first.contains("<roamingData"), "{first}");
    h.ok_all(&actions, at(0));

    // Her publication shows with the versions she must name next.
    let actions = h.request(service(ALICE, &sipe_publish(ALICE, 6500, 0, 0), 1), at(1));
    let roaming = notifies(&actions)
        .into_iter()
        .map(|(_, r)| body(r))
        .find(|b| b.contains("<roamingData"))
        .expect("a roaming-self NOTIFY");
    assert!(roaming.contains("name=\"note\""), "{roaming}");
    assert!(roaming.contains("version=\"1\""), "{roaming}");
    h.ok_until_quiet(&actions, at(1));

    // Bob starts watching her: a new, unacknowledged subscriber.
    let actions = h.request(
        Sub::new(BOB, ALICE, "w1").header(ACCEPT_DIALECT).request(),
        at(2),
    );
    let roaming = notifies(&actions)
        .into_iter()
        .map(|(_, r)| body(r))
        .find(|b| b.contains("<roamingData"))
        .expect("told of the new watcher");
    assert!(roaming.contains("user=\"bob@example.com\""), "{roaming}");
    assert!(roaming.contains("acknowledged=\"false\""), "{roaming}");
    h.ok_until_quiet(&actions, at(2));

    // She acknowledges him.
    let ack = parse(
        "SERVICE sip:alice@example.com SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKa1\nMax-Forwards: 70\n\
         From: <sip:alice@example.com>;tag=a1\nTo: <sip:alice@example.com>\nCall-ID: ack1\nCSeq: 1 SERVICE\n\
         Content-Type: application/msrtc-presence-setsubscriber+xml\n",
        "<setSubscribers xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-subscribers\"><subscriber user=\"bob@example.com\" acknowledged=\"true\"/></setSubscribers>",
    );
    let actions = h.request(ack, at(3));
    assert_eq!(status(&actions), 200);
    assert!(matches!(stores(&actions)[..], [StoreOp::PutRoaming(_)]));
    let roaming = body(notifies(&actions)[0].1);
    assert!(roaming.contains("acknowledged=\"true\""), "{roaming}");

    // Only the user may subscribe to its own roaming data.
    let actions = h.request(
        self_subscribe(
            ALICE,
            "vnd-microsoft-roaming-self",
            "application/vnd-microsoft-roaming-self+xml",
            "rs2",
            roaming_list,
        )
        .clone(),
        at(4),
    );
    assert_eq!(status(&actions), 200);
    let mut other = self_subscribe(
        BOB,
        "vnd-microsoft-roaming-self",
        "application/vnd-microsoft-roaming-self+xml",
        "rs3",
        roaming_list,
    );
    other.uri = sip::Uri::parse_str(ALICE).unwrap();
    assert_eq!(status(&h.request(other, at(5))), 403);
}

#[test]
fn provisioning_is_one_shot_and_answers_the_groups_asked() {
    let mut h = Harness::new(EngineConfig::default());
    let ask = "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist\">\
        <provisioningGroup name=\"ServerConfiguration\"/><provisioningGroup name=\"ucPolicy\"/></provisioningGroupList>";
    let mut req = self_subscribe(
        ALICE,
        "vnd-microsoft-provisioning-v2",
        "application/vnd-microsoft-roaming-provisioning-v2+xml",
        "pv1",
        ask,
    );
    req.headers.set(HeaderName::Expires, "0");
    let actions = h.request(req, at(0));
    assert_eq!(status(&actions), 200);
    assert!(stores(&actions).is_empty(), "a fetch keeps nothing");
    let n = notifies(&actions);
    assert_eq!(n.len(), 1);
    assert!(header(&n[0].1.headers, HeaderName::SubscriptionState).starts_with("terminated"));
    let groups = body(n[0].1);
    assert!(groups.contains("name=\"ServerConfiguration\""), "{groups}");
    assert!(groups.contains("name=\"ucPolicy\""), "{groups}");
}

fn soap(user: &str, body: &str, n: u64) -> sip::Request {
    parse(
        &format!(
            "SERVICE {user} SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKsoap{n}\nMax-Forwards: 70\n\
             From: <{user}>;tag=so{n}\nTo: <{user}>\nCall-ID: soap{n}\nCSeq: {n} SERVICE\n\
             Content-Type: application/SOAP+xml\n"
        ),
        body,
    )
}

/// SIPE's SOAP primitives (`sip-soap.c`'s shapes) for a user's list.
fn soap_add_group(name: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">\
         <s:Body><m:addGroup><m:name>{name}</m:name><m:externalURI /><m:deltaNum>1</m:deltaNum></m:addGroup></s:Body></s:Envelope>"
    )
}

fn soap_set_contact(uri: &str, groups: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">\
         <s:Body><m:setContact><m:displayName>Bob</m:displayName><m:groups>{groups}</m:groups><m:subscribed>true</m:subscribed>\
         <m:URI>{uri}</m:URI><m:externalURI /><m:deltaNum>2</m:deltaNum></m:setContact></s:Body></s:Envelope>"
    )
}

#[test]
fn contact_list_changes_reach_every_endpoint_as_deltas() {
    let mut h = Harness::new(EngineConfig::default());
    let contacts = |h: &mut Harness, call_id: &str| {
        let actions = h.request(
            self_subscribe(
                ALICE,
                "vnd-microsoft-roaming-contacts",
                "application/vnd-microsoft-roaming-contacts+xml",
                call_id,
                "",
            ),
            at(0),
        );
        assert_eq!(status(&actions), 200);
        let first = body(notifies(&actions)[0].1);
        h.ok_all(&actions, at(0));
        first
    };
    // Two endpoints of Alice signed in; she has no list yet.
    let first = contacts(&mut h, "rc1");
    assert!(first.starts_with("<contactList"), "{first}");
    assert!(!first.contains("<contact "), "{first}");
    contacts(&mut h, "rc2");

    // One endpoint adds a group: the server picks its id and says so.
    let actions = h.request(soap(ALICE, &soap_add_group("Colleagues"), 1), at(1));
    assert_eq!(kinds(&actions)[..2], ["store", "respond"]);
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("<m:groupID>1</m:groupID>"));
    let n = notifies(&actions);
    assert_eq!(n.len(), 2, "a delta to each endpoint");
    let delta = body(n[0].1);
    assert!(delta.starts_with("<contactDelta"), "{delta}");
    assert!(
        delta.contains("<addedGroup id=\"1\" name=\"Colleagues\""),
        "{delta}"
    );
    h.outcome(n[0].0, presence::NotifyOutcome::Response(200), at(1));
    // The second endpoint's NOTIFY stays in flight.
    let second_id = n[1].0;

    // It adds Bob to the group; the delta names him with his sip: URI.
    let actions = h.request(
        soap(ALICE, &soap_set_contact("sip:bob@example.com", "1"), 2),
        at(2),
    );
    assert_eq!(status(&actions), 200);
    let n = notifies(&actions);
    assert_eq!(n.len(), 1, "the second endpoint still has one in flight");
    let delta = body(n[0].1);
    assert!(
        delta.contains("<addedContact uri=\"sip:bob@example.com\""),
        "{delta}"
    );
    assert!(delta.contains("prevDeltaNum=\"1\""), "{delta}");
    h.ok_all(&actions, at(2));
    // The operator adds Carol too.
    let (_, actions) = h
        .engine
        .change_contacts(
            presence::ContactOp::SetContact {
                user: ALICE.to_owned(),
                contact: presence::contacts::Contact {
                    uri: "sip:carol@example.org".into(),
                    name: "Carol".into(),
                    groups: vec![1].into(),
                    subscribed: true,
                    external_uri: None,
                },
            },
            at(3),
        )
        .expect("a valid change");
    assert!(matches!(actions[0], presence::Action::Store(_)));
    h.ok_all(&actions, at(3));
    // The second endpoint's NOTIFY completes: both changes in one delta.
    let after = h.outcome(second_id, presence::NotifyOutcome::Response(200), at(3));
    let merged = body(notifies(&after)[0].1);
    assert!(merged.contains("prevDeltaNum=\"1\""), "{merged}");
    assert!(merged.contains("deltaNum=\"3\""), "{merged}");
    assert!(merged.contains("sip:bob@example.com"), "{merged}");
    assert!(merged.contains("sip:carol@example.org"), "{merged}");

    // A bad request changes nothing and names what is wrong.
    let actions = h.request(
        soap(ALICE, &soap_set_contact("sip:dave@example.com", "9"), 4),
        at(4),
    );
    assert_eq!(status(&actions), 400);
    assert!(stores(&actions).is_empty());
    assert_eq!(
        h.engine
            .contact_lists()
            .get(ALICE)
            .map(|l| l.contacts().len()),
        Some(2)
    );
}

/// The RLMI resources of a batched NOTIFY: (uri, state, availability shown).
fn rlmi(body: &str) -> Vec<(String, String, Option<u32>)> {
    let mut out = Vec::new();
    for resource in body.split("<resource ").skip(1) {
        let attr = |name: &str, text: &str| {
            text.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
        };
        let uri = attr("uri", resource).unwrap_or_default();
        let state = attr("state", resource).unwrap_or_default();
        // The categories part of this resource, if any.
        let availability = body
            .split("<categories ")
            .skip(1)
            .find(|part| {
                part.starts_with(&format!(
                    "xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" uri=\"{uri}\""
                ))
            })
            .and_then(|part| part.split("<availability>").nth(1))
            .and_then(|a| a.split('<').next())
            .and_then(|a| a.parse().ok());
        out.push((uri, state, availability));
    }
    out
}

#[test]
fn a_batched_subscription_watches_people_and_reports_unknown_uris() {
    let mut h = Harness::new(EngineConfig::default());
    h.request(service(BOB, &sipe_publish(BOB, 6500, 0, 0), 1), at(0));
    let actions = h.request(
        batched(
            ALICE,
            &[BOB, CAROL, "not a uri"],
            "subscribe",
            "b1",
            None,
            1,
        ),
        at(1),
    );
    assert_eq!(status(&actions), 200);
    assert_eq!(stores(&actions).len(), 1, "one dialog stored");
    let n = notifies(&actions);
    assert_eq!(n.len(), 1, "one NOTIFY for the whole list");
    let content_type = header(&n[0].1.headers, HeaderName::ContentType);
    assert!(
        content_type.starts_with("multipart/related; type=\"application/rlmi+xml\""),
        "{content_type}"
    );
    let first = body(n[0].1);
    assert!(first.contains("fullState=\"true\""), "{first}");
    assert_eq!(
        rlmi(&first),
        [
            (BOB.to_owned(), "active".to_owned(), Some(6500)),
            (CAROL.to_owned(), "active".to_owned(), Some(18500)),
            ("not a uri".to_owned(), "terminated".to_owned(), None),
        ]
    );
    let tag = ok_tag(&actions);
    h.ok_all(&actions, at(1));

    // Bob changes: the next NOTIFY carries Bob alone.
    let actions = h.request(service(BOB, &sipe_publish(BOB, 15500, 1, 1), 2), at(2));
    let n = notifies(&actions);
    let delta = n
        .iter()
        .map(|(_, r)| body(r))
        .find(|b| b.contains("rlmi"))
        .expect("a batched NOTIFY");
    assert!(delta.contains("fullState=\"false\""), "{delta}");
    assert_eq!(
        rlmi(&delta),
        [(BOB.to_owned(), "active".to_owned(), Some(15500))]
    );
    h.ok_until_quiet(&actions, at(2));

    // Dave is added and Carol removed in the same dialog.
    let actions = h.request(
        batched(
            ALICE,
            &["sip:dave@example.com"],
            "subscribe",
            "b1",
            Some(&tag),
            2,
        ),
        at(3),
    );
    assert_eq!(status(&actions), 200);
    let added = body(notifies(&actions)[0].1);
    assert_eq!(
        rlmi(&added),
        [(
            "sip:dave@example.com".to_owned(),
            "active".to_owned(),
            Some(18500)
        )]
    );
    h.ok_all(&actions, at(3));
    let actions = h.request(
        batched(ALICE, &[CAROL], "unsubscribe", "b1", Some(&tag), 3),
        at(4),
    );
    assert_eq!(status(&actions), 200);
    h.ok_until_quiet(&actions, at(4));
    let carol_busy = publish(CAROL, None, &pidf(CAROL, "open", "busy"), 9);
    let (_, actions) = h.published(carol_busy, at(5));
    assert!(
        notifies(&actions)
            .iter()
            .all(|(_, r)| !body(r).contains("rlmi")),
        "Carol is no longer watched"
    );
}

#[test]
fn updates_go_as_benotify_over_a_stream() {
    let mut h = Harness::new(EngineConfig::default());
    let mut req = batched(ALICE, &[BOB], "subscribe", "b2", None, 1);
    req.headers
        .set(HeaderName::Via, "SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKbx");
    // Flow 1 of the harness is "UDP"; the engine's choice rests on the flow.
    let actions = h.engine.handle(
        presence::Input::Request {
            txn: 99,
            req,
            flow: 7,
            reliable: true,
            to_tag: "tb".into(),
            contact: sip::Uri::parse_str(CONTACT).unwrap(),
        },
        at(1),
    );
    let n = notifies(&actions);
    assert_eq!(n[0].1.method, sip::Method::Notify, "the first is a NOTIFY");
    h.ok_all(&actions, at(1));
    let actions = h.request(service(BOB, &sipe_publish(BOB, 6500, 0, 0), 1), at(2));
    let update = notifies(&actions)
        .into_iter()
        .find(|(_, r)| body(r).contains("rlmi"))
        .map(|(_, r)| r.clone())
        .expect("an update");
    assert_eq!(update.method, sip::Method::Benotify);
    assert!(header(&update.headers, HeaderName::CSeq).ends_with(" BENOTIFY"));
}

#[test]
fn the_first_notification_rides_in_the_200_when_piggyback_is_supported() {
    let mut h = Harness::new(EngineConfig::default());
    let mut req = self_subscribe(
        ALICE,
        "vnd-microsoft-roaming-contacts",
        "application/vnd-microsoft-roaming-contacts+xml",
        "pg1",
        "",
    );
    req.headers.push(sip::Header::new(
        HeaderName::Supported,
        "ms-piggyback-first-notify",
    ));
    let actions = h.request(req, at(0));
    assert_eq!(kinds(&actions), ["store", "respond"], "no separate NOTIFY");
    let ok = responses(&actions)[0];
    assert_eq!(ok.status, 200);
    assert_eq!(
        header(&ok.headers, HeaderName::Event),
        "vnd-microsoft-roaming-contacts"
    );
    assert!(header(&ok.headers, HeaderName::SubscriptionState).starts_with("active;expires="));
    assert!(
        ok.headers.iter().any(|h| h.is("ms-piggyback-cseq")),
        "SIPE reads a piggybacked body only with ms-piggyback-cseq"
    );
    assert_eq!(
        header(&ok.headers, HeaderName::ContentType),
        "application/vnd-microsoft-roaming-contacts+xml"
    );
    assert!(String::from_utf8_lossy(&ok.body).starts_with("<contactList"));

    // A batched subscription's full list rides in its 200 too; the next
    // change is a NOTIFY of its own.
    let mut req = batched(ALICE, &[BOB], "subscribe", "pg2", None, 1);
    req.headers.push(sip::Header::new(
        HeaderName::Supported,
        "ms-piggyback-first-notify",
    ));
    let actions = h.request(req, at(1));
    assert!(notifies(&actions).is_empty());
    let ok = responses(&actions)[0];
    assert!(String::from_utf8_lossy(&ok.body).contains("fullState=\"true\""));
    let actions = h.request(service(BOB, &sipe_publish(BOB, 6500, 0, 0), 1), at(2));
    let update = notifies(&actions)
        .into_iter()
        .map(|(_, r)| body(r))
        .find(|b| b.contains("rlmi"))
        .expect("the change is notified");
    assert!(update.contains("fullState=\"false\""), "{update}");
}

#[test]
fn piggybacked_subscriptions_keep_the_counters_right() {
    let mut h = Harness::new(EngineConfig::default());
    for (event, accept, call_id) in [
        (
            "vnd-microsoft-roaming-contacts",
            "application/vnd-microsoft-roaming-contacts+xml",
            "k1",
        ),
        (
            "vnd-microsoft-roaming-self",
            "application/vnd-microsoft-roaming-self+xml",
            "k2",
        ),
    ] {
        let mut req = self_subscribe(ALICE, event, accept, call_id, "");
        req.headers.push(sip::Header::new(
            HeaderName::Supported,
            "ms-piggyback-first-notify",
        ));
        let actions = h.request(req, at(0));
        assert_eq!(status(&actions), 200);
        h.ok_until_quiet(&actions, at(0));
        assert_eq!(h.engine.stats().roaming, 1 + usize::from(call_id == "k2"));
    }
    // The client signs out: each self subscription ends with Expires: 0
    // in its dialog, and its final NOTIFY fails on the closed connection.
    for (event, accept, call_id) in [
        (
            "vnd-microsoft-roaming-contacts",
            "application/vnd-microsoft-roaming-contacts+xml",
            "k1",
        ),
        (
            "vnd-microsoft-roaming-self",
            "application/vnd-microsoft-roaming-self+xml",
            "k2",
        ),
    ] {
        let mut req = self_subscribe(ALICE, event, accept, call_id, "");
        let tag = format!("t{}", if call_id == "k1" { 1 } else { 2 });
        req.headers
            .set(HeaderName::To, format!("<{ALICE}>;tag={tag}"));
        req.headers.set(HeaderName::CSeq, "2 SUBSCRIBE");
        req.headers.set(HeaderName::Expires, "0");
        let actions = h.request(req, at(1));
        assert_eq!(status(&actions), 200, "{:?}", responses(&actions)[0]);
        for (id, _) in notifies(&actions) {
            h.outcome(id, presence::NotifyOutcome::TransportError, at(1));
        }
    }
    assert_eq!(h.engine.stats().roaming, 0);
}
