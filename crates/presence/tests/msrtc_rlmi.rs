//! The batched NOTIFY body: an RLMI list and per-contact category parts,
//! assembled per watcher from parts rendered once. The list is read the way
//! SIPE's `process_incoming_notify_rlmi_resub` reads it (`resource/@uri`,
//! `instance/@state`, `@poolFqdn`), the parts by their MIME headers.

mod sipe_xml;

use bytes::Bytes;
use presence::msrtc::categories::{self, CategoryEntry, EntryValue};
use presence::msrtc::category::{CategoryValue, Note, NoteType};
use presence::msrtc::rlmi::{self, ContactPart, InstanceState, MultipartError};

fn note(text: &str) -> CategoryEntry {
    CategoryEntry {
        name: "note".into(),
        instance: Some(0),
        container: Some(200),
        version: Some(1),
        publish_time: None,
        expire_type: None,
        value: EntryValue::Value(CategoryValue::Note(Note {
            note_type: NoteType::Personal,
            text: text.into(),
        })),
    }
}

fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<(Vec<(&'a str, &'a str)>, &'a str)> {
    let delimiter = format!("--{boundary}");
    let pieces: Vec<&str> = body.split(delimiter.as_str()).collect();
    assert_eq!(pieces.first(), Some(&""), "body starts with a delimiter");
    assert_eq!(
        pieces.last(),
        Some(&"--\r\n"),
        "body ends with the close delimiter"
    );
    pieces[1..pieces.len() - 1]
        .iter()
        .map(|piece| {
            // Each part ends in a blank line: the delimiter's CRLF and the
            // one libpurple's MIME reader cuts with it (it trims four bytes).
            let piece = piece
                .strip_prefix("\r\n")
                .and_then(|p| p.strip_suffix("\r\n\r\n"))
                .expect("part framed by CRLF, ending in a blank line");
            let (head, content) = piece.split_once("\r\n\r\n").expect("headers end");
            let headers = head
                .split("\r\n")
                .map(|h| h.split_once(": ").expect("header"))
                .collect();
            (headers, content)
        })
        .collect()
}

fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[test]
fn rlmi_multipart_is_assembled_from_shared_parts() {
    let bob = categories::render("sip:bob@example.com", &[note("Back at 3 & later")]);
    let parts = [
        ContactPart::new("sip:bob@example.com", &InstanceState::Active, Some(&bob)),
        ContactPart::new("sip:carol@example.com", &InstanceState::Pending, None),
        ContactPart::new(
            "sip:dave@remote.example.net",
            &InstanceState::Resubscribe {
                pool_fqdn: Some("pool.remote.example.net".into()),
            },
            None,
        ),
        ContactPart::new(
            "sip:eve@example.com",
            &InstanceState::Terminated {
                reason: "rejected".into(),
            },
            Some(&bob),
        ),
    ];
    let notify =
        rlmi::assemble("sip:alice@example.com", 1, true, &parts, "b0undary-1").expect("assembles");
    assert_eq!(
        notify.content_type,
        r#"multipart/related; type="application/rlmi+xml"; start=resourceList; boundary=b0undary-1"#
    );
    let body = std::str::from_utf8(&notify.body).expect("utf-8");
    let mime = split_multipart(body, "b0undary-1");
    assert_eq!(mime.len(), 2, "the list and bob's categories");

    let (headers, list) = &mime[0];
    assert_eq!(header(headers, "Content-ID"), Some("resourceList"));
    assert_eq!(
        header(headers, "Content-Type"),
        Some("application/rlmi+xml")
    );
    let list = sipe_xml::parse(list.as_bytes());
    assert_eq!(list.name, "list");
    assert_eq!(list.attr("uri"), Some("sip:alice@example.com"));
    assert_eq!(list.attr("version"), Some("1"));
    assert_eq!(list.attr("fullState"), Some("true"));
    let resources = list.all("resource");
    let states: Vec<_> = resources
        .iter()
        .map(|r| {
            let instance = r.child("instance").expect("instance");
            (
                r.attr("uri").unwrap_or(""),
                instance.attr("state").unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("sip:bob@example.com", "active"),
            ("sip:carol@example.com", "pending"),
            ("sip:dave@remote.example.net", "resubscribe"),
            ("sip:eve@example.com", "terminated"),
        ]
    );
    let bob_instance = resources[0].child("instance").expect("instance");
    assert_eq!(bob_instance.attr("cid"), Some("bob@example.com"));
    assert_eq!(
        resources[1].child("instance").and_then(|i| i.attr("cid")),
        None
    );
    let dave = resources[2].child("instance").expect("instance");
    assert_eq!(dave.attr("poolFqdn"), Some("pool.remote.example.net"));
    let eve = resources[3].child("instance").expect("instance");
    assert_eq!(eve.attr("reason"), Some("rejected"));
    assert_eq!(eve.attr("cid"), None, "a terminated contact has no part");

    let (headers, document) = &mime[1];
    assert_eq!(header(headers, "Content-ID"), Some("bob@example.com"));
    assert_eq!(
        header(headers, "Content-Type"),
        Some("application/msrtc-event-categories+xml")
    );
    assert_eq!(
        document.as_bytes(),
        &bob[..],
        "the shared document, unchanged"
    );

    // The next watcher (or the next NOTIFY) reuses the same parts; only the
    // envelope differs.
    let later = rlmi::assemble("sip:zoe@example.com", 7, false, &parts[..1], "b0undary-1")
        .expect("assembles");
    let later_body = std::str::from_utf8(&later.body).expect("utf-8");
    let later_list = sipe_xml::parse(split_multipart(later_body, "b0undary-1")[0].1.as_bytes());
    assert_eq!(later_list.attr("version"), Some("7"));
    assert_eq!(later_list.attr("fullState"), Some("false"));
}

#[test]
fn rlmi_boundaries_are_checked() {
    let document = Bytes::from_static(b"<categories uri=\"sip:b@x\">--clash</categories>");
    let parts = [ContactPart::new(
        "sip:b@x",
        &InstanceState::Active,
        Some(&document),
    )];
    assert_eq!(
        rlmi::assemble("sip:a@x", 1, true, &parts, "clash"),
        Err(MultipartError::BoundaryInPart("clash".into()))
    );
    assert_eq!(
        rlmi::assemble("sip:a@x", 1, true, &parts, "needs quoting"),
        Err(MultipartError::InvalidBoundary("needs quoting".into()))
    );
    assert!(rlmi::assemble("sip:a@x", 1, true, &parts, "").is_err());
    let injected = ContactPart::new(
        "sip:b@x\r\nX-Evil: 1",
        &InstanceState::Active,
        Some(&document),
    );
    let notify = rlmi::assemble("sip:a@x", 1, true, &[injected], "ok").expect("assembles");
    let body = std::str::from_utf8(&notify.body).expect("utf-8");
    assert!(!body.contains("\r\nX-Evil"), "CR LF never reach a header");
}

/// RFC 4662 §5's example list (Adam's friends, `sip:adam-friends@...`),
/// as a standard client's list subscription gets it: the `<list>` with
/// `uri`, `version` and `fullState`; a `<resource uri>` per member with
/// its `<name>`; an
/// `<instance>` with `id` and `state`, a `cid` naming the part with the
/// member's PIDF document when active, a `reason` when terminated.
#[test]
fn rfc4662_example_list_shape() {
    let pidf = Bytes::from_static(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:bob@vancouver.example.com\"><tuple id=\"z98075\"><status><basic>closed</basic></status></tuple></presence>",
    );
    let parts = [
        ContactPart::with_document(
            "sip:bob@vancouver.example.com",
            Some("Bob Smith"),
            &InstanceState::Active,
            Some(("application/pidf+xml", &pidf)),
        ),
        ContactPart::with_document(
            "sip:dave@vancouver.example.com",
            Some("Dave Jones"),
            &InstanceState::Pending,
            None,
        ),
        ContactPart::with_document(
            "sip:ed@dallas.example.net",
            Some("Ed at NET"),
            &InstanceState::Terminated {
                reason: "rejected".into(),
            },
            None,
        ),
    ];
    let multipart = rlmi::assemble(
        "sip:adam-friends@pres.example.com",
        1,
        true,
        &parts,
        "50UBfW7LSCVLtggUPe5z",
    )
    .expect("assembles");
    assert_eq!(
        multipart.content_type,
        "multipart/related; type=\"application/rlmi+xml\"; start=resourceList; boundary=50UBfW7LSCVLtggUPe5z"
    );
    let body = std::str::from_utf8(&multipart.body).unwrap();
    let split = split_multipart(body, "50UBfW7LSCVLtggUPe5z");
    assert_eq!(split.len(), 2, "the list and Bob's part: {body}");
    let (list_headers, list) = &split[0];
    assert_eq!(
        header(list_headers, "Content-Type"),
        Some("application/rlmi+xml")
    );
    assert_eq!(
        *list,
        "<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"sip:adam-friends@pres.example.com\" version=\"1\" fullState=\"true\">\
         <resource uri=\"sip:bob@vancouver.example.com\"><name>Bob Smith</name><instance id=\"0\" state=\"active\" cid=\"bob@vancouver.example.com\"/></resource>\
         <resource uri=\"sip:dave@vancouver.example.com\"><name>Dave Jones</name><instance id=\"0\" state=\"pending\"/></resource>\
         <resource uri=\"sip:ed@dallas.example.net\"><name>Ed at NET</name><instance id=\"0\" state=\"terminated\" reason=\"rejected\"/></resource>\
         </list>"
    );
    let (bob_headers, bob) = &split[1];
    assert_eq!(
        header(bob_headers, "Content-Id"),
        Some("bob@vancouver.example.com")
    );
    assert_eq!(
        header(bob_headers, "Content-Type"),
        Some("application/pidf+xml")
    );
    assert_eq!(bob.as_bytes(), &pidf[..]);
}
