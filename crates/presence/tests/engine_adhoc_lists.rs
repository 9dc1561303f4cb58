//! RFC 5367 ad-hoc lists (the list in the SUBSCRIBE body, as liblinphone
//! sends it), served as batches like stored lists; liblinphone's own needs.

mod common;

use common::lists::*;
use common::*;
use sip::HeaderName;

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

#[test]
fn linphonecs_own_subscribe_is_served_the_stored_list() {
    // Byte for byte what linphonec 5.1.65 sent for its friend list with
    // `rls_uri=sip:alice-contacts@127.0.0.1` (crates/sip/tests/vectors/clients).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sip/tests/vectors/clients/linphonec-subscribe-1.sip"
    );
    let bytes = std::fs::read(path).expect("the capture");
    let req = match sip::parse::parse_datagram(bytes::Bytes::from(bytes)) {
        Ok(sip::Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    };
    let mut h = Harness::new(config());
    let alice = "sip:alice@127.0.0.1";
    let op = presence::ContactOp::Replace {
        user: alice.into(),
        list: presence::contacts::ListContent {
            groups: vec![presence::contacts::Group {
                id: 1,
                name: "Friends".into(),
            }],
            contacts: vec![contact("sip:bob@127.0.0.1", true)],
        },
    };
    h.engine.change_contacts(op, at(0)).expect("a valid list");
    let actions = h.request(req, at(1));
    assert_eq!(status(&actions), 200);
    let ok = responses(&actions)[0];
    assert_eq!(header(&ok.headers, HeaderName::Require), "eventlist");
    let n = notifies(&actions);
    assert_eq!(header(&n[0].1.headers, HeaderName::Event), "Presence");
    let content_type = header(&n[0].1.headers, HeaderName::ContentType);
    let (version, full, entries) =
        read_any(&content_type, &body(n[0].1), "sip:alice-contacts@127.0.0.1");
    assert_eq!((version, full), (0, true));
    assert_eq!(summary(&entries), [active("sip:bob@127.0.0.1", "closed")]);
}
