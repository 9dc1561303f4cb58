//! Refused bodies: each malformed input fails with the error that names
//! the element (and attribute) at fault, which the server turns into the
//! 400's reason phrase.

use presence::msrtc::{batch, contacts, container, publish, roaming, MsrtcError};
use presence::{XmlError, XmlLimits};

const LIMITS: XmlLimits = XmlLimits::DEFAULT;

fn publish_with(publication: &str) -> Result<publish::Publish, MsrtcError> {
    let body = format!(
        r#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="sip:a@x">{publication}</publications></publish>"#
    );
    publish::parse(body.as_bytes(), &LIMITS)
}

fn state(inner: &str, attributes: &str) -> String {
    format!(
        r#"<publication categoryName="state" instance="1" container="2" version="0"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" {attributes}>{inner}</state></publication>"#
    )
}

fn missing(element: &str, attribute: &str, error: MsrtcError) {
    match &error {
        MsrtcError::MissingAttribute {
            element: e,
            attribute: a,
            ..
        } if *e == element && *a == attribute => {}
        other => panic!("expected missing {attribute} on <{element}>, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("missing {attribute} attribute on <{element}>")),
        "{message}"
    );
}

fn invalid(element: &str, attribute: &str, error: MsrtcError) {
    match &error {
        MsrtcError::InvalidAttribute {
            element: e,
            attribute: a,
            ..
        } if *e == element && *a == attribute => {}
        other => panic!("expected invalid {attribute} on <{element}>, got {other:?}"),
    }
    assert!(error.to_string().contains(&format!("on <{element}>")));
}

#[test]
fn publication_attributes() {
    let without_version =
        publish_with(r#"<publication categoryName="note" instance="0" container="200"/>"#);
    missing("publication", "version", without_version.unwrap_err());
    let error =
        publish_with(r#"<publication instance="0" container="200" version="1"/>"#).unwrap_err();
    missing("publication", "categoryName", error);
    for instance in ["0x20000000", "-1", "4294967296", ""] {
        let body = format!(
            r#"<publication categoryName="note" instance="{instance}" container="200" version="1"/>"#
        );
        invalid("publication", "instance", publish_with(&body).unwrap_err());
    }
    let error = publish_with(
        r#"<publication categoryName="note" instance="0" container="200" version="1" expireType="forever"/>"#,
    )
    .unwrap_err();
    invalid("publication", "expireType", error);
    let error = publish_with(
        r#"<publication categoryName="note" instance="0" container="200" version="1" expires="soon"/>"#,
    )
    .unwrap_err();
    invalid("publication", "expires", error);
}

#[test]
fn publish_structure() {
    let wrong_namespace =
        br#"<publish xmlns="urn:example:other"><publications uri="sip:a@x"/></publish>"#;
    match publish::parse(wrong_namespace, &LIMITS).unwrap_err() {
        MsrtcError::UnexpectedRoot {
            expected, found, ..
        } => {
            assert_eq!(expected, "publish");
            assert_eq!(found, "publish");
        }
        other => panic!("{other:?}"),
    }
    let no_publications =
        br#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"/>"#;
    assert!(matches!(
        publish::parse(no_publications, &LIMITS).unwrap_err(),
        MsrtcError::MissingElement {
            element: "publish",
            child: "publications",
            ..
        }
    ));
    let no_uri = br#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications/></publish>"#;
    missing(
        "publications",
        "uri",
        publish::parse(no_uri, &LIMITS).unwrap_err(),
    );
}

#[test]
fn state_values() {
    let untyped = publish_with(&state("<availability>3500</availability>", "")).unwrap_err();
    missing("state", "xsi:type", untyped);
    let unknown = publish_with(&state("", r#"xsi:type="moodState""#)).unwrap_err();
    invalid("state", "xsi:type", unknown);
    let bad_number = publish_with(&state(
        "<availability>lots</availability>",
        r#"xsi:type="userState""#,
    ))
    .unwrap_err();
    assert!(matches!(
        bad_number,
        MsrtcError::InvalidValue { element: "availability", ref value, .. } if value == "lots"
    ));
    let bad_manual = publish_with(&state("", r#"xsi:type="userState" manual="yes""#)).unwrap_err();
    invalid("state", "manual", bad_manual);
    let no_lcid = publish_with(&state(
        r#"<activity token="in-a-meeting"><custom>Busy</custom></activity>"#,
        r#"xsi:type="userState""#,
    ))
    .unwrap_err();
    missing("custom", "LCID", no_lcid);
    let bad_min = publish_with(&state(
        r#"<activity token="on-the-phone" minAvailability="x"/>"#,
        r#"xsi:type="phoneState""#,
    ))
    .unwrap_err();
    invalid("activity", "minAvailability", bad_min);
}

#[test]
fn xsi_type_is_matched_by_namespace_not_prefix() {
    let other_prefix = r#"<publication categoryName="state" instance="1" container="2" version="0"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="machineState"><availability>3500</availability></state></publication>"#;
    assert!(publish_with(other_prefix).is_ok());
    let wrong_namespace = r#"<publication categoryName="state" instance="1" container="2" version="0"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="urn:not-xsi" xsi:type="machineState"/></publication>"#;
    missing(
        "state",
        "xsi:type",
        publish_with(wrong_namespace).unwrap_err(),
    );
}

#[test]
fn note_body_type() {
    let body = r#"<publication categoryName="note" instance="0" container="200" version="0"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="shouting">HI</body></note></publication>"#;
    invalid("body", "type", publish_with(body).unwrap_err());
}

#[test]
fn limits() {
    let small = XmlLimits {
        max_document_size: 64,
        ..XmlLimits::DEFAULT
    };
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/msrtc/sipe-category-publish-away.xml"),
    )
    .expect("vector");
    assert_eq!(
        publish::parse(&body, &small).unwrap_err(),
        MsrtcError::Xml(XmlError::TooLarge {
            size: 2143,
            limit: 64
        })
    );
    let deep = format!(
        r#"<publication categoryName="x" instance="0" container="2" version="0">{}{}</publication>"#,
        "<a>".repeat(40),
        "</a>".repeat(40)
    );
    assert!(matches!(
        publish_with(&deep).unwrap_err(),
        MsrtcError::Xml(XmlError::TooDeep { limit: 32, .. })
    ));
    let doctype = br#"<!DOCTYPE publish [<!ENTITY a "b">]><publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"/>"#;
    assert!(matches!(
        publish::parse(doctype, &LIMITS).unwrap_err(),
        MsrtcError::Xml(XmlError::Doctype { .. })
    ));
    let truncated = br#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="x">"#;
    assert!(matches!(
        publish::parse(truncated, &LIMITS).unwrap_err(),
        MsrtcError::Xml(XmlError::UnexpectedEof { .. })
    ));
}

#[test]
fn batch_subscribe() {
    let bad_action = br#"<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="sip:a@x"><action name="poll"/></batchSub>"#;
    invalid(
        "action",
        "name",
        batch::parse(bad_action, &LIMITS).unwrap_err(),
    );
    let no_uri = br#"<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="sip:a@x"><action name="subscribe"><adhocList><resource/></adhocList></action></batchSub>"#;
    missing(
        "resource",
        "uri",
        batch::parse(no_uri, &LIMITS).unwrap_err(),
    );
    let no_list_uri =
        br#"<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe"/>"#;
    missing(
        "batchSub",
        "uri",
        batch::parse(no_list_uri, &LIMITS).unwrap_err(),
    );
}

#[test]
fn container_members() {
    let wrap = |inner: &str| {
        format!(
            r#"<setContainerMembers xmlns="http://schemas.microsoft.com/2006/09/sip/container-management">{inner}</setContainerMembers>"#
        )
    };
    let parse =
        |inner: &str| container::parse_set_container_members(wrap(inner).as_bytes(), &LIMITS);
    missing(
        "member",
        "value",
        parse(
            r#"<container id="32000" version="1"><member action="add" type="user"/></container>"#,
        )
        .unwrap_err(),
    );
    invalid(
        "member",
        "type",
        parse(r#"<container id="1" version="1"><member action="add" type="robots"/></container>"#)
            .unwrap_err(),
    );
    invalid(
        "member",
        "action",
        parse(
            r#"<container id="1" version="1"><member action="move" type="everyone"/></container>"#,
        )
        .unwrap_err(),
    );
    missing(
        "container",
        "version",
        parse(r#"<container id="1"/>"#).unwrap_err(),
    );
    let ack = br#"<setSubscribers xmlns="http://schemas.microsoft.com/2006/09/sip/presence-subscribers"><subscriber user="a@x"/></setSubscribers>"#;
    missing(
        "subscriber",
        "acknowledged",
        container::parse_set_subscribers(ack, &LIMITS).unwrap_err(),
    );
}

#[test]
fn roaming_list() {
    let body = br#"<roamingList xmlns="http://schemas.microsoft.com/2006/09/sip/roaming-self"><roaming type="everything"/></roamingList>"#;
    invalid(
        "roaming",
        "type",
        roaming::parse_roaming_list(body, &LIMITS).unwrap_err(),
    );
}

#[test]
fn contact_requests() {
    let envelope = |inner: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body>{inner}</s:Body></s:Envelope>"#
        )
    };
    let parse = |inner: &str| contacts::parse_request(envelope(inner).as_bytes(), &LIMITS);
    assert!(matches!(
        parse("<m:deleteGroup><m:groupID>1</m:groupID></m:deleteGroup>").unwrap_err(),
        MsrtcError::MissingElement {
            element: "deleteGroup",
            child: "deltaNum",
            ..
        }
    ));
    assert!(matches!(
        parse("<m:setContact><m:groups>1 two</m:groups><m:URI>sip:b@x</m:URI><m:deltaNum>1</m:deltaNum></m:setContact>").unwrap_err(),
        MsrtcError::InvalidValue { element: "groups", ref value, .. } if value == "1 two"
    ));
    assert!(matches!(
        parse("<m:deleteGroup><m:groupID>-3</m:groupID><m:deltaNum>1</m:deltaNum></m:deleteGroup>")
            .unwrap_err(),
        MsrtcError::InvalidValue {
            element: "groupID",
            ..
        }
    ));
    assert!(matches!(
        parse("<m:setACE><m:deltaNum>1</m:deltaNum></m:setACE>").unwrap_err(),
        MsrtcError::UnsupportedElement { element: "Body", ref found, .. } if found == "m:setACE"
    ));
    assert!(matches!(
        parse("").unwrap_err(),
        MsrtcError::MissingElement {
            element: "Body",
            ..
        }
    ));
}
