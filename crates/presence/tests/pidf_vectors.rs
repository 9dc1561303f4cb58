//! PIDF test vectors (`tests/vectors/pidf/`): RFC examples, bodies real
//! clients send, and hostile documents.
//!
//! Every accepted vector must also survive `parse → render → parse`
//! unchanged, and rendering must be a fixed point. Every `reject-*.xml`
//! must fail with the error named in [`REJECTED`]. A vector file that is in
//! neither table fails the suite, so none goes untested.

use std::path::PathBuf;

use presence::pidf::{self, PidfError};
use presence::{Activity, Basic, PresenceDocument, RpidToken, XmlError, XmlLimits};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pidf")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse(name: &str) -> PresenceDocument {
    let doc = pidf::parse(&read(name), &XmlLimits::DEFAULT)
        .unwrap_or_else(|e| panic!("{name} should parse: {e}"));
    let rendered = pidf::render(&doc);
    let again = pidf::parse(rendered.as_bytes(), &XmlLimits::DEFAULT)
        .unwrap_or_else(|e| panic!("{name} re-rendered should parse: {e}\n{rendered}"));
    assert_eq!(again, doc, "{name}: parse(render(doc)) differs\n{rendered}");
    assert_eq!(
        pidf::render(&again),
        rendered,
        "{name}: render is not a fixed point"
    );
    doc
}

fn reject(name: &str) -> PidfError {
    match pidf::parse(&read(name), &XmlLimits::DEFAULT) {
        Ok(doc) => panic!("{name} should be rejected, parsed as {doc:#?}"),
        Err(e) => e,
    }
}

type Check = fn(&PresenceDocument);

/// Every vector that must be accepted, with what must be read from it.
const ACCEPTED: &[(&str, Check)] = &[
    ("rfc3863-two-tuples.xml", rfc3863_two_tuples),
    ("rfc3863-prefixed-pidf.xml", rfc3863_prefixed),
    ("rfc3863-status-extension.xml", rfc3863_status_extension),
    ("rfc4480-rich.xml", rfc4480_rich),
    ("rfc4480-activities-all.xml", rfc4480_all_activities),
    ("pjsua2-2.15.1-busy.xml", pjsua_busy),
    ("pjsua2-2.15.1-online.xml", pjsua_online),
    ("pjsua2-2.15.1-offline.xml", pjsua_offline),
    ("pjsua2-2.15.1-ampersand-note.xml", pjsua_ampersand),
    ("baresip-1.0.0-open.xml", baresip_open),
    ("baresip-1.0.0-closed.xml", baresip_closed),
    ("baresip-1.0.0-startup-unknown.xml", baresip_unknown),
    ("jitsi-online.xml", jitsi_online),
    ("asterisk-chansip-eyebeam.xml", asterisk_eyebeam),
    ("asterisk-chansip-digium-presence.xml", asterisk_digium),
    ("asterisk-pjsip-eyebeam-text.xml", asterisk_pjsip_text),
    ("xlite-activity-text.xml", xlite_activity_text),
    ("rpid-person-prefix.xml", rpid_person_prefix),
    ("no-namespace.xml", no_namespace),
    ("extensions-vendor.xml", extensions_vendor),
];

type Expect = fn(&PidfError) -> bool;

/// Every vector that must be refused, with the error it must be refused with.
const REJECTED: &[(&str, Expect)] = &[
    ("reject-billion-laughs.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::Doctype { position: 39 }))
    }),
    ("reject-external-entity.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::Doctype { .. }))
    }),
    ("reject-doctype.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::Doctype { .. }))
    }),
    (
        "reject-entity-without-dtd.xml",
        |e| matches!(e, PidfError::Xml(XmlError::UnknownEntity { name, .. }) if name == "lol9"),
    ),
    ("reject-deep-nesting.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::TooDeep { limit: 32, .. }))
    }),
    ("reject-too-many-elements.xml", |e| {
        matches!(
            e,
            PidfError::Xml(XmlError::TooManyElements { limit: 2048, .. })
        )
    }),
    ("reject-huge.xml", |e| {
        matches!(
            e,
            PidfError::Xml(XmlError::TooLarge {
                size: 70_145,
                limit: 65_536
            })
        )
    }),
    (
        "reject-not-pidf-msrtc.xml",
        |e| matches!(e, PidfError::NotPresence { found, position: 22 } if found == "presentity"),
    ),
    ("reject-missing-entity.xml", |e| {
        matches!(
            e,
            PidfError::MissingAttribute {
                element: "presence",
                attribute: "entity",
                ..
            }
        )
    }),
    (
        "reject-bad-basic.xml",
        |e| matches!(e, PidfError::InvalidValue { what: "basic", value, .. } if value == "open | closed"),
    ),
    (
        "reject-bad-priority.xml",
        |e| matches!(e, PidfError::InvalidValue { what: "contact priority", value, .. } if value == "high"),
    ),
    (
        "reject-unbound-prefix.xml",
        |e| matches!(e, PidfError::Xml(XmlError::UnboundPrefix { prefix, .. }) if prefix == "dm"),
    ),
    ("reject-mismatched-tags.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::Malformed { .. }))
    }),
    ("reject-truncated.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::UnexpectedEof { .. }))
    }),
    ("reject-trailing-content.xml", |e| {
        matches!(
            e,
            PidfError::Xml(XmlError::TrailingContent { position: 118 })
        )
    }),
    ("reject-invalid-utf8.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::InvalidUtf8 { position: 125 }))
    }),
    // pjsua 2.15.1 does not escape notes: "Back at 3 & <soon>" arrives as
    // markup. The lone `&` is tolerated; `<soon>` opens an element that
    // never closes, which no reader can repair.
    ("reject-pjsua2-2.15.1-unescaped-note.xml", |e| {
        matches!(e, PidfError::Xml(XmlError::Malformed { .. }))
    }),
];

#[test]
fn accepted_vectors_parse_and_round_trip() {
    for (name, check) in ACCEPTED {
        check(&parse(name));
    }
}

#[test]
fn rejected_vectors_fail_with_the_named_error() {
    for (name, expect) in REJECTED {
        let error = reject(name);
        assert!(
            expect(&error),
            "{name}: unexpected error {error:?} ({error})"
        );
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn every_vector_file_is_in_a_table() {
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".xml") {
            continue;
        }
        let listed =
            ACCEPTED.iter().any(|(n, _)| *n == name) || REJECTED.iter().any(|(n, _)| *n == name);
        assert!(listed, "{name} is in no table");
        assert_eq!(
            name.starts_with("reject-"),
            REJECTED.iter().any(|(n, _)| *n == name)
        );
    }
}

#[test]
fn errors_say_where() {
    let e = reject("reject-deep-nesting.xml");
    assert!(
        e.to_string().contains("deeper than 32 levels at byte"),
        "{e}"
    );
    let e = reject("reject-billion-laughs.xml");
    assert_eq!(
        e.to_string(),
        "DOCTYPE at byte 39: DTDs and entity declarations are not accepted"
    );
    assert_eq!(e.position(), Some(39));
}

#[test]
fn tighter_limits_apply() {
    let limits = XmlLimits {
        max_depth: 4,
        ..XmlLimits::DEFAULT
    };
    // presence/person/activities/away is 4 deep: allowed; status adds one.
    assert!(pidf::parse(&read("pjsua2-2.15.1-busy.xml"), &limits).is_ok());
    let e = pidf::parse(&read("asterisk-chansip-eyebeam.xml"), &limits).unwrap_err();
    assert!(
        matches!(e, PidfError::Xml(XmlError::TooDeep { limit: 4, .. })),
        "{e:?}"
    );
    let limits = XmlLimits {
        max_elements: 5,
        ..XmlLimits::DEFAULT
    };
    let e = pidf::parse(&read("pjsua2-2.15.1-busy.xml"), &limits).unwrap_err();
    assert!(
        matches!(
            e,
            PidfError::Xml(XmlError::TooManyElements { limit: 5, .. })
        ),
        "{e:?}"
    );
}

fn activities(doc: &PresenceDocument) -> Vec<Activity> {
    doc.summary().activities
}

fn rfc3863_two_tuples(doc: &PresenceDocument) {
    assert_eq!(doc.entity, "pres:someone@example.com");
    let [first, second] = &doc.tuples[..] else {
        panic!("two tuples")
    };
    assert_eq!(first.id, "bs35r9");
    assert_eq!(first.basic, Some(Basic::Open));
    let contact = first.contact.as_ref().unwrap();
    assert_eq!(contact.uri, "im:someone@mobilecarrier.example.net");
    assert_eq!(contact.priority, Some(0.8));
    assert_eq!(first.notes.len(), 2);
    assert_eq!(first.notes[1].lang.as_deref(), Some("fr"));
    assert_eq!(first.notes[1].text, "Ne dérangez pas, s'il vous plaît");
    assert_eq!(first.timestamp.as_deref(), Some("2001-10-27T16:49:29Z"));
    let ext: Vec<_> = first
        .status_extensions
        .iter()
        .map(|e| e.local_name())
        .collect();
    assert_eq!(ext, ["im", "location"]);
    assert_eq!(
        first.status_extensions[0].as_str(),
        r#"<im:im xmlns:im="urn:ietf:params:xml:ns:pidf:im">busy</im:im>"#
    );
    assert_eq!(second.contact.as_ref().unwrap().priority, Some(1.0));
    assert_eq!(doc.notes[0].text, "I'll be in Tokyo next week");
}

fn rfc3863_prefixed(doc: &PresenceDocument) {
    let tuple = &doc.tuples[0];
    assert_eq!(tuple.basic, Some(Basic::Open));
    assert_eq!(tuple.contact.as_ref().unwrap().priority, Some(0.725));
    // The extension uses the impp: prefix declared on <presence>; the
    // declaration travels with it.
    let ext = &tuple.extensions[0];
    assert_eq!(ext.local_name(), "complexExtension");
    assert!(ext.as_str().starts_with(
        r#"<myex:complexExtension xmlns:myex="http://id.mycompany.example.com/presence/" xmlns:impp="urn:ietf:params:xml:ns:pidf">"#
    ));
    assert_eq!(doc.extensions[0].local_name(), "mytag");
}

fn rfc3863_status_extension(doc: &PresenceDocument) {
    let tuple = &doc.tuples[0];
    assert_eq!(tuple.contact.as_ref().unwrap().priority, None);
    assert_eq!(
        tuple.status_extensions[0].namespace(),
        "urn:example-com:pidf-status-type"
    );
}

fn rfc4480_rich(doc: &PresenceDocument) {
    assert_eq!(doc.tuples.len(), 3);
    assert_eq!(doc.tuples[0].device_ids, ["urn:device:0003ba4811e3"]);
    let names: Vec<_> = doc.tuples[0]
        .extensions
        .iter()
        .map(|e| e.local_name())
        .collect();
    assert_eq!(names, ["relationship", "service-class"]);
    let device = &doc.devices[0];
    assert_eq!(device.id, "pc147");
    assert_eq!(device.device_id.as_deref(), Some("urn:device:0003ba4811e3"));
    assert_eq!(device.extensions[0].local_name(), "user-input");
    let person = &doc.persons[0];
    assert_eq!(person.activities, [Activity::Away]);
    assert_eq!(person.activities_notes[0].text, "Far away");
    assert_eq!(
        person.activities_from.as_deref(),
        Some("2005-05-30T12:00:00+05:00")
    );
    assert_eq!(
        person.activities_until.as_deref(),
        Some("2005-05-30T17:00:00+05:00")
    );
    let mood = person.mood.as_ref().unwrap();
    assert_eq!(
        mood.values,
        [
            RpidToken::Token("angry".into()),
            RpidToken::Other("brooding".into())
        ]
    );
    assert_eq!(
        person.place_is.as_ref().unwrap().audio.as_deref(),
        Some("noisy")
    );
    let names: Vec<_> = person.extensions.iter().map(|e| e.local_name()).collect();
    assert_eq!(
        names,
        [
            "class",
            "place-type",
            "privacy",
            "sphere",
            "status-icon",
            "time-offset"
        ]
    );
    assert!(person.extensions[1]
        .as_str()
        .contains(r#"xmlns:lt="urn:ietf:params:xml:ns:location-type""#));
    assert_eq!(person.notes[0].text, "Scoring 120");
    assert_eq!(
        person.timestamp.as_deref(),
        Some("2005-05-30T16:09:44+05:00")
    );
}

fn rfc4480_all_activities(doc: &PresenceDocument) {
    let mut expected: Vec<Activity> = Activity::all_tokens().collect();
    expected.push(Activity::Other("juggling".into()));
    assert_eq!(doc.persons[0].activities, expected);
}

fn pjsua_busy(doc: &PresenceDocument) {
    let tuple = &doc.tuples[0];
    assert_eq!(tuple.basic, Some(Basic::Open));
    // pjsua writes <note> after <timestamp>, against the schema's order.
    assert_eq!(tuple.notes[0].text, "In a meeting");
    assert_eq!(tuple.timestamp.as_deref(), Some("2026-11-23T02:45:54.287Z"));
    assert_eq!(activities(doc), [Activity::Busy]);
    assert_eq!(doc.summary().note.unwrap().text, "In a meeting");
}

fn pjsua_online(doc: &PresenceDocument) {
    assert!(doc.persons.is_empty());
    assert_eq!(doc.summary().basic, Basic::Open);
    assert!(doc.summary().note.is_none());
}

fn pjsua_offline(doc: &PresenceDocument) {
    assert_eq!(doc.summary().basic, Basic::Closed);
    assert_eq!(doc.summary().note.unwrap().text, "Offline");
}

fn pjsua_ampersand(doc: &PresenceDocument) {
    assert_eq!(doc.tuples[0].notes[0].text, "Lunch & Learn");
    assert_eq!(doc.persons[0].notes[0].text, "Lunch & Learn");
    assert!(pidf::render(doc).contains("<note>Lunch &amp; Learn</note>"));
}

fn baresip_open(doc: &PresenceDocument) {
    assert_eq!(doc.persons[0].id, "p4159");
    assert!(doc.persons[0].activities.is_empty());
    let tuple = &doc.tuples[0];
    assert_eq!(
        (tuple.id.as_str(), tuple.basic),
        ("t4109", Some(Basic::Open))
    );
    assert_eq!(
        tuple.contact.as_ref().unwrap().uri,
        "sip:bob@127.0.0.1:5099"
    );
}

fn baresip_closed(doc: &PresenceDocument) {
    assert_eq!(doc.summary().basic, Basic::Closed);
}

fn baresip_unknown(doc: &PresenceDocument) {
    // baresip publishes <basic>unknown</basic> until its status is set: no
    // information, which is what a missing <basic> says.
    assert_eq!(doc.tuples[0].basic, None);
    assert_eq!(doc.summary().basic, Basic::Closed);
}

fn jitsi_online(doc: &PresenceDocument) {
    assert_eq!(doc.tuples[0].notes[0].text, "Online");
    assert_eq!(doc.summary().basic, Basic::Open);
}

fn asterisk_eyebeam(doc: &PresenceDocument) {
    // ISO-8859-1 body; the legacy person has no id.
    assert_eq!(doc.notes[0].text, "Réunion");
    assert_eq!(doc.persons[0].id, "person-1");
    assert_eq!(activities(doc), [Activity::Away]);
    assert_eq!(doc.tuples[0].basic, Some(Basic::Closed));
}

fn asterisk_digium(doc: &PresenceDocument) {
    assert!(doc.persons[0].activities.is_empty());
    let digium = &doc.tuples[1];
    assert_eq!(digium.basic, None);
    assert_eq!(digium.status_extensions[0].local_name(), "digium_presence");
    assert_eq!(
        digium.status_extensions[0].namespace(),
        presence::namespace::PIDF
    );
}

fn asterisk_pjsip_text(doc: &PresenceDocument) {
    assert_eq!(activities(doc), [Activity::Busy]);
}

fn xlite_activity_text(doc: &PresenceDocument) {
    assert_eq!(activities(doc), [Activity::Away]);
    assert_eq!(doc.tuples[0].id, "9b6yhF2Gk37o4");
}

fn rpid_person_prefix(doc: &PresenceDocument) {
    let person = &doc.persons[0];
    assert_eq!(person.id, "carol");
    assert_eq!(person.activities, [Activity::Presentation]);
    assert_eq!(
        person.activities_until.as_deref(),
        Some("2026-11-23T15:00:00Z")
    );
    assert_eq!(person.activities_notes[0].lang.as_deref(), Some("en"));
}

fn no_namespace(doc: &PresenceDocument) {
    assert_eq!(
        doc.tuples[0].contact.as_ref().unwrap().uri,
        "sip:dave@192.0.2.7"
    );
}

fn extensions_vendor(doc: &PresenceDocument) {
    let tuple = &doc.tuples[0];
    assert_eq!(tuple.status_extensions[0].local_name(), "line");
    assert_eq!(
        tuple.extensions[0].namespace(),
        "urn:ietf:params:xml:ns:pidf:caps"
    );
    let person = &doc.persons[0];
    assert_eq!(person.activities, [Activity::OnThePhone]);
    let ms = person
        .extensions
        .iter()
        .find(|e| e.local_name() == "state")
        .unwrap();
    // xsi: is used by an attribute name, ms: by the QName in its value.
    assert!(ms
        .as_str()
        .contains(r#"xmlns:ms="http://schemas.microsoft.com/2006/09/sip/state""#));
    assert!(ms
        .as_str()
        .contains(r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#));
    assert!(person.extensions[0].as_str().contains("Erin &amp; Co"));
    assert!(doc.extensions[0]
        .as_str()
        .contains("<![CDATA[<b>raw</b> & more]]><!-- comment kept -->"));
}

/// The PUBLISH requests captured from real clients for the `sip` crate
/// (`crates/sip/tests/vectors/clients/`, see its README): every PIDF body
/// among them must be accepted and round-trip. Bodiless refreshes and
/// removals are skipped.
#[test]
fn captured_client_publish_bodies_parse() {
    let clients = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sip/tests/vectors/clients");
    let Ok(entries) = std::fs::read_dir(&clients) else {
        return; // captures not present in this checkout
    };
    let mut bodies = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains("-publish-") || !name.ends_with(".sip") {
            continue;
        }
        let message = std::fs::read(&path).unwrap();
        let Some(split) = message.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!("{name}: no end of headers");
        };
        let body = &message[split + 4..];
        if body.is_empty() {
            continue;
        }
        let doc = pidf::parse(body, &XmlLimits::DEFAULT).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendered = pidf::render(&doc);
        let again = pidf::parse(rendered.as_bytes(), &XmlLimits::DEFAULT).unwrap();
        assert_eq!(again, doc, "{name}");
        assert!(
            !doc.tuples.is_empty(),
            "{name}: a client PUBLISH has a tuple"
        );
        bodies += 1;
    }
    assert!(bodies > 0, "no PUBLISH with a body among the captures");
}
