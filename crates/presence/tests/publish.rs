//! PUBLISH handling (RFC 3903) through the public API, with the requests
//! pjsua2 and baresip really sent (`crates/sip/tests/vectors/clients/`) and
//! real PIDF bodies (`tests/vectors/pidf/`), at explicit times.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use presence::{
    PresenceDocument, Presentities, PublicationConfig, PublicationRecord, PublishOutcome, StoreOp,
};
use sip::parse::Framing;
use sip::{HeaderName, Message, Request, Response};

/// The flows of these tests: a connection number.
type Flow = u32;

const ALICE: &str = "sip:alice@127.0.0.1";
const TAG: &str = "srv1";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn parse(bytes: Vec<u8>) -> Request {
    match sip::parse::parse(Bytes::from(bytes), Framing::Datagram, &sip::Limits::DEFAULT) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// A request a client sent, as captured.
fn client(name: &str) -> Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/vectors/clients")
        .join(name);
    parse(std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn pidf(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/pidf")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A PUBLISH to `uri` with extra header lines and a body.
fn request(uri: &str, extra: &[(&str, &str)], body: &[u8]) -> Request {
    let mut text = format!(
        "PUBLISH {uri} SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKp1\r\n\
         Max-Forwards: 70\r\nFrom: <{uri}>;tag=f1\r\nTo: <{uri}>\r\nCall-ID: c1\r\n\
         CSeq: 1 PUBLISH\r\n"
    );
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    parse(bytes)
}

/// An initial PUBLISH of a PIDF vector.
fn initial(uri: &str, body: &[u8], expires: Option<u32>) -> Request {
    let expires = expires.map(|e| e.to_string());
    let mut extra = vec![
        ("Event", "presence"),
        ("Content-Type", "application/pidf+xml"),
    ];
    if let Some(e) = &expires {
        extra.push(("Expires", e));
    }
    request(uri, &extra, body)
}

/// A refresh (no body) or modification of `etag`.
fn conditional(uri: &str, etag: &str, body: &[u8], expires: Option<u32>) -> Request {
    let mut req = initial(uri, body, expires);
    req.headers.set(HeaderName::SipIfMatch, etag.to_string());
    req
}

fn header(resp: &Response, name: HeaderName) -> Option<String> {
    resp.headers
        .value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn etag_of(out: &PublishOutcome<Flow>) -> String {
    header(&out.response, HeaderName::SipEtag).expect("SIP-ETag on the 200")
}

fn reason(resp: &Response) -> String {
    String::from_utf8_lossy(&resp.reason).into_owned()
}

fn server() -> Presentities<Flow> {
    Presentities::new(PublicationConfig::default(), 7)
}

/// Asserts an error answer that changed nothing.
fn refused(ps: &mut Presentities<Flow>, req: &Request, status: u16, now: SystemTime) -> Response {
    let before: Vec<_> = ps.publications(ALICE);
    let version = ps.state(ALICE).version;
    let out = ps.publish(req, &1, false, TAG, now);
    assert_eq!(out.response.status, status, "{}", reason(&out.response));
    assert!(out.store.is_empty());
    assert_eq!(out.changed, None);
    assert_eq!(ps.publications(ALICE), before);
    assert_eq!(ps.state(ALICE).version, version);
    assert_eq!(header(&out.response, HeaderName::SipEtag), None);
    out.response
}

#[test]
fn pjsua2_create_refresh_remove() {
    let mut ps = server();
    let out = ps.publish(&client("pjsua2-publish-1.sip"), &1, false, TAG, at(0));
    assert_eq!(out.response.status, 200);
    // pjsua2 sends no Expires: the presence default (RFC 3856 §6.4).
    assert_eq!(
        header(&out.response, HeaderName::Expires).as_deref(),
        Some("3600")
    );
    let to = header(&out.response, HeaderName::To).unwrap();
    assert!(to.ends_with(";tag=srv1"), "{to}");
    let first = etag_of(&out);
    assert_eq!(out.changed.as_deref(), Some(ALICE));
    let [StoreOp::PutPublication(record)] = out.store.as_slice() else {
        panic!("{:?}", out.store)
    };
    assert_eq!(
        (record.presentity.as_str(), record.etag.as_str()),
        (ALICE, first.as_str())
    );
    assert_eq!(record.expires_at_ms, 1_700_003_600_000);
    assert_eq!(record.flow, None);
    let state = ps.state(ALICE);
    assert!(state.known && state.version == 1);
    assert!(String::from_utf8_lossy(&state.body).contains("<rpid:busy/>"));

    // Refresh without a body: a new entity-tag, the same state.
    let mut refresh = client("pjsua2-publish-2.sip");
    refresh.headers.set(HeaderName::SipIfMatch, first.clone());
    let out = ps.publish(&refresh, &1, false, TAG, at(3000));
    assert_eq!(out.response.status, 200);
    let second = etag_of(&out);
    assert_ne!(second, first);
    assert_eq!(out.changed, None);
    let [StoreOp::DeletePublication { etag, .. }, StoreOp::PutPublication(record)] =
        out.store.as_slice()
    else {
        panic!("{:?}", out.store)
    };
    assert_eq!((etag, &record.etag), (&first, &second));
    assert_eq!(record.expires_at_ms, 1_700_006_600_000);
    assert_eq!(ps.state(ALICE), state);
    assert_eq!(ps.poll_timeout(), Some(at(6600)));

    // The old tag is gone (RFC 3903 §4.1).
    refused(&mut ps, &refresh, 412, at(3001));

    // Removal.
    let mut remove = client("pjsua2-publish-3.sip");
    remove.headers.set(HeaderName::SipIfMatch, second.clone());
    let out = ps.publish(&remove, &1, false, TAG, at(3002));
    assert_eq!(out.response.status, 200);
    assert_eq!(
        header(&out.response, HeaderName::Expires).as_deref(),
        Some("0")
    );
    assert_eq!(out.changed.as_deref(), Some(ALICE));
    assert_eq!(
        out.store,
        [StoreOp::DeletePublication {
            presentity: ALICE.into(),
            etag: second
        }]
    );
    let closed = ps.state(ALICE);
    assert_eq!((closed.version, closed.known), (2, false));
    assert_eq!(
        closed.body,
        presence::pidf::render_bytes(&PresenceDocument::closed(ALICE))
    );
    assert_eq!((ps.len(), ps.poll_timeout()), (0, None));
}

#[test]
fn baresip_modify_and_refresh_with_empty_body() {
    // baresip publishes every 5 s whatever the server grants.
    let config = PublicationConfig {
        min_expires: 5,
        ..PublicationConfig::default()
    };
    let mut ps = Presentities::new(config, 1);
    let out = ps.publish(&client("baresip-publish-1.sip"), &1, false, TAG, at(0));
    assert_eq!(out.response.status, 200);
    assert_eq!(
        header(&out.response, HeaderName::Expires).as_deref(),
        Some("5")
    );
    let open = ps.state(ALICE);
    assert!(String::from_utf8_lossy(&open.body).contains("<basic>open</basic>"));

    let mut modify = client("baresip-publish-2.sip");
    modify.headers.set(HeaderName::SipIfMatch, etag_of(&out));
    let out = ps.publish(&modify, &1, false, TAG, at(4));
    assert_eq!(out.response.status, 200);
    assert_eq!(out.changed.as_deref(), Some(ALICE));
    assert_eq!(out.store.len(), 2);
    let closed = ps.state(ALICE);
    assert_eq!(closed.version, open.version + 1);
    assert_ne!(closed.etag, open.etag);
    assert!(String::from_utf8_lossy(&closed.body).contains("<basic>closed</basic>"));

    // Content-Type with Content-Length: 0 is a refresh, not a bad body.
    let mut refresh = client("baresip-publish-3.sip");
    refresh.headers.set(HeaderName::SipIfMatch, etag_of(&out));
    let out = ps.publish(&refresh, &1, false, TAG, at(8));
    assert_eq!(out.response.status, 200, "{}", reason(&out.response));
    assert_eq!(out.changed, None);

    let mut remove = client("baresip-publish-4.sip");
    remove.headers.set(HeaderName::SipIfMatch, etag_of(&out));
    let out = ps.publish(&remove, &1, false, TAG, at(9));
    assert_eq!(out.response.status, 200);
    assert!(ps.is_empty());
}

#[test]
fn interval_too_brief_gets_423_with_min_expires() {
    let mut ps = server();
    let resp = refused(&mut ps, &client("baresip-publish-1.sip"), 423, at(0));
    assert_eq!(header(&resp, HeaderName::MinExpires).as_deref(), Some("60"));
}

#[test]
fn long_intervals_are_cut_to_the_maximum() {
    let mut ps = server();
    let req = initial(ALICE, &pidf("pjsua2-2.15.1-online.xml"), Some(86_400));
    let out = ps.publish(&req, &1, false, TAG, at(0));
    assert_eq!(
        header(&out.response, HeaderName::Expires).as_deref(),
        Some("3600")
    );
    assert_eq!(ps.poll_timeout(), Some(at(3600)));
}

#[test]
fn unknown_entity_tag_gets_412() {
    let mut ps = server();
    refused(&mut ps, &client("pjsua2-publish-2.sip"), 412, at(0));
    // Also for a removal, and ahead of an Expires that is too brief.
    refused(&mut ps, &client("pjsua2-publish-3.sip"), 412, at(0));
    refused(&mut ps, &client("baresip-publish-3.sip"), 412, at(0));
}

#[test]
fn an_entity_tag_belongs_to_one_presentity() {
    let mut ps = server();
    let bob = "sip:bob@127.0.0.1";
    let out = ps.publish(
        &initial(bob, &pidf("pjsua2-2.15.1-busy.xml"), None),
        &1,
        false,
        TAG,
        at(0),
    );
    refused(
        &mut ps,
        &conditional(ALICE, &etag_of(&out), b"", None),
        412,
        at(1),
    );
    assert_eq!(ps.publications(bob).len(), 1);
}

#[test]
fn other_media_types_get_415_with_accept() {
    let mut ps = server();
    let mut req = client("pjsua2-publish-1.sip");
    req.headers
        .set(HeaderName::ContentType, "application/xpidf+xml");
    let resp = refused(&mut ps, &req, 415, at(0));
    assert_eq!(
        header(&resp, HeaderName::Accept).as_deref(),
        Some("application/pidf+xml")
    );
    req.headers.remove(HeaderName::ContentType);
    refused(&mut ps, &req, 415, at(0));
    // Parameters and case do not matter in a media type.
    req.headers.set(
        HeaderName::ContentType,
        "Application/PIDF+XML;charset=UTF-8",
    );
    let out = ps.publish(&req, &1, false, TAG, at(0));
    assert_eq!(out.response.status, 200);
}

#[test]
fn other_events_get_489_with_allow_events() {
    let mut ps = server();
    let mut req = client("pjsua2-publish-1.sip");
    req.headers.set(HeaderName::Event, "dialog");
    let resp = refused(&mut ps, &req, 489, at(0));
    assert_eq!(
        header(&resp, HeaderName::AllowEvents).as_deref(),
        Some("presence")
    );
    // Event types compare byte by byte (RFC 6665 §8.2.1).
    req.headers.set(HeaderName::Event, "Presence");
    refused(&mut ps, &req, 489, at(0));
    req.headers.remove(HeaderName::Event);
    let resp = refused(&mut ps, &req, 489, at(0));
    assert_eq!(
        header(&resp, HeaderName::AllowEvents).as_deref(),
        Some("presence")
    );
}

#[test]
fn bad_bodies_get_400_naming_the_problem() {
    let mut ps = server();
    let req = initial(ALICE, &pidf("reject-bad-basic.xml"), None);
    let resp = refused(&mut ps, &req, 400, at(0));
    let text = reason(&resp);
    assert!(text.starts_with("Bad PIDF body: invalid basic"), "{text}");
    for name in [
        "reject-doctype.xml",
        "reject-truncated.xml",
        "reject-not-pidf-msrtc.xml",
    ] {
        refused(&mut ps, &initial(ALICE, &pidf(name), None), 400, at(0));
    }
    // The reason phrase stays on one line, whatever the error quotes.
    let body = b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:a@b'>\
        <tuple id='t'><status><basic>op\nen</basic></status></tuple></presence>";
    let resp = refused(&mut ps, &initial(ALICE, body, None), 400, at(0));
    assert!(!reason(&resp).contains('\n'));
}

#[test]
fn initial_publish_without_body_gets_400() {
    let mut ps = server();
    let resp = refused(&mut ps, &initial(ALICE, b"", None), 400, at(0));
    assert_eq!(reason(&resp), "Missing body in initial PUBLISH");
    let req = initial(ALICE, &pidf("pjsua2-2.15.1-online.xml"), Some(0));
    let resp = refused(&mut ps, &req, 400, at(0));
    assert_eq!(reason(&resp), "Expires 0 without SIP-If-Match");
}

#[test]
fn errors_leave_a_live_publication_alone() {
    let mut ps = server();
    let out = ps.publish(&client("pjsua2-publish-1.sip"), &1, false, TAG, at(0));
    let etag = etag_of(&out);
    let bad = conditional(ALICE, &etag, &pidf("reject-bad-basic.xml"), None);
    refused(&mut ps, &bad, 400, at(1));
    let brief = conditional(ALICE, &etag, b"", Some(10));
    refused(&mut ps, &brief, 423, at(1));
    let mut wrong_type = conditional(ALICE, &etag, &pidf("pjsua2-2.15.1-busy.xml"), None);
    wrong_type
        .headers
        .set(HeaderName::ContentType, "text/plain");
    refused(&mut ps, &wrong_type, 415, at(1));
    // The entity-tag still works.
    let out = ps.publish(&conditional(ALICE, &etag, b"", None), &1, false, TAG, at(2));
    assert_eq!(out.response.status, 200);
}

#[test]
fn too_many_publications_get_403() {
    let config = PublicationConfig {
        max_per_presentity: 2,
        ..PublicationConfig::default()
    };
    let mut ps = Presentities::new(config, 1);
    let body = pidf("pjsua2-2.15.1-online.xml");
    let first = ps.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0));
    ps.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0));
    let resp = refused(&mut ps, &initial(ALICE, &body, None), 403, at(0));
    assert_eq!(reason(&resp), "Too many publications");
    let again = ps.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0));
    assert_eq!(again.refused, Some(presence::Refusal::TooManyPublications));
    // Other presentities and refreshes are not affected.
    let bob = ps.publish(
        &initial("sip:bob@127.0.0.1", &body, None),
        &1,
        false,
        TAG,
        at(0),
    );
    assert_eq!(bob.response.status, 200);
    let refresh = conditional(ALICE, &etag_of(&first), b"", None);
    assert_eq!(
        ps.publish(&refresh, &1, false, TAG, at(1)).response.status,
        200
    );
    assert_eq!(ps.len(), 3);
}

#[test]
fn publications_expire_at_their_time() {
    let mut ps = server();
    let req = initial(ALICE, &pidf("pjsua2-2.15.1-busy.xml"), Some(120));
    let etag = etag_of(&ps.publish(&req, &1, false, TAG, at(0)));
    assert_eq!(ps.poll_timeout(), Some(at(120)));
    let early = ps.handle_timeout(at(119));
    assert!(early.store.is_empty() && early.changed.is_empty());
    // A refresh that arrives when the time is up finds nothing.
    refused(&mut ps, &conditional(ALICE, &etag, b"", None), 412, at(120));
    let expired = ps.handle_timeout(at(120));
    assert_eq!(
        expired.store,
        [StoreOp::DeletePublication {
            presentity: ALICE.into(),
            etag
        }]
    );
    assert_eq!(expired.changed, [ALICE]);
    assert_eq!(
        (ps.len(), ps.poll_timeout(), ps.is_known(ALICE)),
        (0, None, false)
    );
    assert!(String::from_utf8_lossy(&ps.state(ALICE).body).contains("closed"));
}

#[test]
fn newest_publication_wins_each_tuple() {
    let mut ps = server();
    let open = b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:alice@127.0.0.1'>\
        <tuple id='desk'><status><basic>open</basic></status></tuple></presence>";
    let closed = b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:alice@127.0.0.1'>\
        <tuple id='desk'><status><basic>closed</basic></status></tuple></presence>";
    let a = ps.publish(&initial(ALICE, open, None), &1, false, TAG, at(0));
    let b = ps.publish(&initial(ALICE, closed, None), &2, false, TAG, at(1));
    let body =
        |ps: &mut Presentities<Flow>| String::from_utf8_lossy(&ps.state(ALICE).body).into_owned();
    assert!(body(&mut ps).contains("<basic>closed</basic>"));
    // A refresh does not make a publication newer; a modification does.
    let a = ps.publish(
        &conditional(ALICE, &etag_of(&a), b"", None),
        &1,
        false,
        TAG,
        at(2),
    );
    assert_eq!(a.changed, None);
    assert!(body(&mut ps).contains("<basic>closed</basic>"));
    let a = ps.publish(
        &conditional(ALICE, &etag_of(&a), open, None),
        &1,
        false,
        TAG,
        at(3),
    );
    assert!(body(&mut ps).contains("<basic>open</basic>"));
    assert_eq!(a.changed.as_deref(), Some(ALICE));
    // Distinct tuples are all kept.
    let c = ps.publish(&client("pjsua2-publish-1.sip"), &3, false, TAG, at(4));
    let text = body(&mut ps);
    assert!(
        text.contains("id=\"desk\"") && text.contains("pjEnDqEPdEQAKsuJ5tm9FXFY"),
        "{text}"
    );
    // Removing the newest gives the older ones back.
    let remove = conditional(ALICE, &etag_of(&c), b"", Some(0));
    assert_eq!(
        ps.publish(&remove, &3, false, TAG, at(5)).response.status,
        200
    );
    let remove = conditional(ALICE, &etag_of(&a), b"", Some(0));
    ps.publish(&remove, &1, false, TAG, at(6));
    assert!(body(&mut ps).contains("<basic>closed</basic>"));
    assert_eq!(ps.publications(ALICE)[0].etag, etag_of(&b));
}

#[test]
fn state_version_and_etag_follow_the_rendered_body() {
    let mut ps = server();
    let unknown = ps.state(ALICE);
    assert_eq!((unknown.version, unknown.known), (0, false));
    let body = pidf("pjsua2-2.15.1-busy.xml");
    let out = ps.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0));
    let one = ps.state(ALICE);
    assert_eq!(one.version, 1);
    assert_eq!(one.etag.len(), 16);
    assert_ne!(one.etag, unknown.etag);
    // Republishing the same document: a new entity-tag, the same state.
    let same = ps.publish(
        &conditional(ALICE, &etag_of(&out), &body, None),
        &1,
        false,
        TAG,
        at(1),
    );
    assert_eq!(same.response.status, 200);
    assert_eq!(same.changed, None);
    assert_eq!(ps.state(ALICE), one);
    // The same body is shared, not re-rendered.
    assert_eq!(ps.state(ALICE).body.as_ptr(), one.body.as_ptr());
    let other = pidf("pjsua2-2.15.1-online.xml");
    ps.publish(
        &conditional(ALICE, &etag_of(&same), &other, None),
        &1,
        false,
        TAG,
        at(2),
    );
    let two = ps.state(ALICE);
    assert_eq!(two.version, 2);
    assert_ne!(two.etag, one.etag);
}

#[test]
fn provisioned_presentities_are_known_without_publications() {
    let mut ps = server();
    assert!(!ps.is_known(ALICE));
    ps.provision(ALICE);
    ps.provision(ALICE);
    assert!(ps.is_known(ALICE));
    let state = ps.state(ALICE);
    assert_eq!((state.version, state.known), (0, true));
    let closed = presence::pidf::render_bytes(&PresenceDocument::closed(ALICE));
    assert_eq!(state.body, closed);
    assert_eq!(ps.presentities(), [ALICE]);
    assert!(ps.is_empty());
}

#[test]
fn presentity_keys_are_addresses_of_record() {
    let uri = sip::Uri::parse_str("sip:alice@Example.COM:5070;transport=tcp").unwrap();
    assert_eq!(presence::presentity_key(&uri), "sip:alice@example.com");
    let mut ps = server();
    let req = initial(
        "sip:alice@EXAMPLE.com;transport=tcp",
        &pidf("pjsua2-2.15.1-busy.xml"),
        None,
    );
    let out = ps.publish(&req, &1, false, TAG, at(0));
    assert_eq!(out.changed.as_deref(), Some("sip:alice@example.com"));
    assert!(ps.is_known("sip:alice@example.com"));
}

#[test]
fn entity_tags_are_fresh_every_time() {
    let mut ps = server();
    let body = pidf("pjsua2-2.15.1-online.xml");
    let mut seen = std::collections::HashSet::new();
    let mut etag = etag_of(&ps.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0)));
    for i in 0..500 {
        assert!(
            etag.len() == 16 && etag.bytes().all(|b| b.is_ascii_hexdigit()),
            "{etag}"
        );
        assert!(seen.insert(etag.clone()), "{etag} reused");
        let out = ps.publish(&conditional(ALICE, &etag, b"", None), &1, false, TAG, at(i));
        etag = etag_of(&out);
    }
    // Another seed, other tags.
    let mut other = Presentities::<Flow>::new(PublicationConfig::default(), 8);
    let first = etag_of(&other.publish(&initial(ALICE, &body, None), &1, false, TAG, at(0)));
    assert!(!seen.contains(&first));
}

#[test]
fn a_closed_flow_ends_its_publications_after_the_grace_period() {
    let mut ps = server();
    let body = pidf("pjsua2-2.15.1-busy.xml");
    let tcp = ps.publish(&initial(ALICE, &body, None), &10, true, TAG, at(0));
    let [StoreOp::PutPublication(record)] = tcp.store.as_slice() else {
        panic!()
    };
    assert_eq!(record.flow, Some(10));
    let udp = ps.publish(&initial(ALICE, &body, None), &10, false, TAG, at(0));
    ps.flow_closed(&11, at(100)); // another flow: nothing
    assert_eq!(ps.poll_timeout(), Some(at(3600)));
    ps.flow_closed(&10, at(100));
    assert_eq!(ps.poll_timeout(), Some(at(130)));
    assert!(ps.handle_timeout(at(129)).store.is_empty());
    let ended = ps.handle_timeout(at(130));
    assert_eq!(
        ended.store,
        [StoreOp::DeletePublication {
            presentity: ALICE.into(),
            etag: etag_of(&tcp)
        }]
    );
    assert_eq!(ps.publications(ALICE)[0].etag, etag_of(&udp));
    assert_eq!(ps.poll_timeout(), Some(at(3600)));
}

#[test]
fn a_refresh_over_a_new_flow_cancels_the_grace_period() {
    let mut ps = server();
    let body = pidf("pjsua2-2.15.1-busy.xml");
    let out = ps.publish(&initial(ALICE, &body, Some(600)), &10, true, TAG, at(0));
    ps.flow_closed(&10, at(100));
    let refresh = conditional(ALICE, &etag_of(&out), b"", Some(600));
    let out = ps.publish(&refresh, &20, true, TAG, at(110));
    let [_, StoreOp::PutPublication(record)] = out.store.as_slice() else {
        panic!()
    };
    assert_eq!(record.flow, Some(20));
    assert_eq!(ps.poll_timeout(), Some(at(710)));
    ps.flow_closed(&10, at(120)); // the old flow again: no effect
    assert_eq!(ps.poll_timeout(), Some(at(710)));
    assert!(ps.handle_timeout(at(200)).store.is_empty());
    // Grace never extends a publication past its expiry.
    ps.flow_closed(&20, at(700));
    assert_eq!(ps.poll_timeout(), Some(at(710)));
    assert_eq!(ps.handle_timeout(at(710)).changed, [ALICE]);
    // A refresh over UDP unties it from its flow.
    let out = ps.publish(&initial(ALICE, &body, None), &30, true, TAG, at(800));
    let out = ps.publish(
        &conditional(ALICE, &etag_of(&out), b"", None),
        &30,
        false,
        TAG,
        at(801),
    );
    assert_eq!(out.response.status, 200);
    ps.flow_closed(&30, at(802));
    assert_eq!(ps.poll_timeout(), Some(at(4401)));
    assert_eq!(ps.publications(ALICE)[0].flow, None);
}

/// The records a store would hold after applying `ops`.
fn replay(ops: &[StoreOp<Flow>]) -> Vec<PublicationRecord<Flow>> {
    let mut table = std::collections::BTreeMap::new();
    for op in ops {
        match op {
            StoreOp::PutPublication(r) => {
                table.insert(op.key(), r.clone());
            }
            StoreOp::DeletePublication { .. } => {
                table.remove(&op.key());
            }
            _ => panic!("not a publication op: {op:?}"),
        }
    }
    table.into_values().collect()
}

#[test]
fn restore_brings_back_live_publications_and_drops_expired_ones() {
    let mut ps = server();
    let mut log = Vec::new();
    let busy = pidf("pjsua2-2.15.1-busy.xml");
    let short = ps.publish(
        &initial(ALICE, &pidf("baresip-1.0.0-open.xml"), Some(60)),
        &1,
        false,
        TAG,
        at(0),
    );
    log.extend(short.store.clone());
    let long = ps.publish(&initial(ALICE, &busy, None), &1, false, TAG, at(1));
    log.extend(long.store.clone());
    let tcp = ps.publish(
        &initial("sip:bob@127.0.0.1", &busy, None),
        &5,
        true,
        TAG,
        at(2),
    );
    log.extend(tcp.store.clone());
    let before = ps.state(ALICE);

    let mut again = server();
    let kept: Vec<bool> = replay(&log)
        .into_iter()
        .map(|r| again.restore(r, at(100)))
        .collect();
    assert_eq!(kept.iter().filter(|k| **k).count(), 2);
    assert_eq!(again.len(), 2);
    assert!(again
        .publications(ALICE)
        .iter()
        .all(|r| r.etag == etag_of(&long)));
    // Bob's flow is gone: his publication has started its grace period.
    assert_eq!(again.poll_timeout(), Some(at(130)));
    // The restored entity-tag works, and a new publication is newer than
    // every restored one.
    let refresh = conditional(ALICE, &etag_of(&long), b"", None);
    assert_eq!(
        again
            .publish(&refresh, &1, false, TAG, at(101))
            .response
            .status,
        200
    );
    let out = again.publish(
        &initial(ALICE, &pidf("pjsua2-2.15.1-offline.xml"), None),
        &1,
        false,
        TAG,
        at(102),
    );
    let [StoreOp::PutPublication(record)] = out.store.as_slice() else {
        panic!()
    };
    assert!(record.published_at > 3, "{}", record.published_at);
    assert!(String::from_utf8_lossy(&again.state(ALICE).body).contains("Offline"));
    assert_ne!(again.state(ALICE).etag, before.etag);
    // Unreadable records are refused.
    let mut broken = ps.publications(ALICE)[0].clone();
    broken.body = "<presence".into();
    assert!(!again.restore(broken, at(100)));
}

#[test]
fn restore_renders_the_same_state() {
    let mut ps = server();
    let mut log = Vec::new();
    for name in [
        "pjsua2-2.15.1-busy.xml",
        "baresip-1.0.0-open.xml",
        "rfc4480-rich.xml",
    ] {
        let out = ps.publish(&initial(ALICE, &pidf(name), None), &1, false, TAG, at(0));
        log.extend(out.store);
    }
    let before = ps.state(ALICE);
    let mut again = server();
    for record in replay(&log).into_iter().rev() {
        assert!(again.restore(record, at(10)));
    }
    let after = again.state(ALICE);
    assert_eq!(
        (after.body, after.etag, after.known),
        (before.body, before.etag, true)
    );
}
