//! Test vectors of Microsoft's dialect (`tests/vectors/msrtc/`, origins in
//! its README): what pidgin-sipe sent on the wire, and the examples of
//! [MS-PRES] and [MS-SIP]. Every vector parses to the values written here;
//! a vector file that no test reads fails the suite.

use std::path::PathBuf;

use presence::msrtc::batch::{self, ActionKind};
use presence::msrtc::categories::{self, EntryValue};
use presence::msrtc::category::{CategoryValue, NoteType, StateType};
use presence::msrtc::contacts::{self, Contact, Group, Operation};
use presence::msrtc::container::{self, Member, MemberAction};
use presence::msrtc::provisioning;
use presence::msrtc::publish::{self, ExpireType};
use presence::msrtc::roaming::{self, RoamingType};
use presence::XmlLimits;

const VECTORS: &[&str] = &[
    "sipe-category-publish-away.xml",
    "sipe-batch-subscribe.xml",
    "sipe-roaming-list.xml",
    "sipe-provisioning-request.xml",
    "sipe-setcontainermembers.xml",
    "sipe-soap-add-group.xml",
    "sipe-soap-modify-group.xml",
    "sipe-soap-delete-group.xml",
    "sipe-soap-set-contact.xml",
    "sipe-soap-delete-contact.xml",
    "ms-pres-4.4.1-roaming-list.xml",
    "ms-pres-4.8.1-set-subscribers.xml",
    "ms-pres-2.2.2.7.3-services-publish.xml",
    "ms-sip-4.6-set-contact.xml",
    "ms-pres-4.4.3-categories.xml",
    "ocs-2007-r2-sdk-card-and-note-publish.xml",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/msrtc")
}

fn read(name: &str) -> Vec<u8> {
    assert!(VECTORS.contains(&name), "{name} is not listed in VECTORS");
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const LIMITS: XmlLimits = XmlLimits::DEFAULT;

#[test]
fn every_vector_file_is_listed() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .expect("vector directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".xml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = VECTORS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn sipe_away_publication() {
    let body = read("sipe-category-publish-away.xml");
    let publish = publish::parse(&body, &LIMITS).expect("parses");
    assert_eq!(publish.uri, "sip:alice@lab.test");
    let keys: Vec<_> = publish
        .publications
        .iter()
        .map(|p| (p.category.as_str(), p.instance, p.container, p.version))
        .collect();
    assert_eq!(
        keys,
        [
            ("state", 0x2000_0000, 2, 0),
            ("state", 0x2000_0000, 3, 0),
            ("state", 861_322_412, 2, 0),
            ("state", 861_322_412, 3, 0),
            ("note", 0, 200, 0),
            ("note", 0, 300, 0),
            ("note", 0, 400, 0),
        ]
    );
    let user = &publish.publications[0];
    assert_eq!(user.expire_type, ExpireType::Static);
    assert_eq!(user.expires, None);
    let body = user.body.as_ref().expect("state element");
    let Some(CategoryValue::State(state)) = &body.value else {
        panic!("state not interpreted: {:?}", body.value);
    };
    assert_eq!(state.state_type, StateType::User);
    assert!(state.manual);
    assert_eq!(state.availability, Some(15500));
    assert_eq!(state.activity, None);
    // The raw element is exactly what SIPE sent (it declares its own
    // namespaces, so nothing is added).
    let text = std::str::from_utf8(&body.raw).expect("utf-8");
    assert!(text.starts_with(
        r#"<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" manual="true""#
    ));
    assert!(text.ends_with("<availability>15500</availability><endpointLocation/></state>"));
    assert!(std::str::from_utf8(&read("sipe-category-publish-away.xml"))
        .expect("utf-8")
        .contains(text));

    let machine = &publish.publications[2];
    assert_eq!(machine.expire_type, ExpireType::Endpoint);
    match machine.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(CategoryValue::State(state)) => {
            assert_eq!(state.state_type, StateType::Machine);
            assert!(!state.manual);
        }
        other => panic!("machine state: {other:?}"),
    }
    match publish.publications[4]
        .body
        .as_ref()
        .and_then(|b| b.value.as_ref())
    {
        Some(CategoryValue::Note(note)) => {
            assert_eq!(note.note_type, NoteType::Personal);
            assert_eq!(note.text, "lab status message");
        }
        other => panic!("note: {other:?}"),
    }
}

#[test]
fn ms_pres_services_instance() {
    let publish =
        publish::parse(&read("ms-pres-2.2.2.7.3-services-publish.xml"), &LIMITS).expect("parses");
    let publication = &publish.publications[0];
    assert_eq!(publication.expire_type, ExpireType::User);
    let Some(CategoryValue::Services(services)) =
        publication.body.as_ref().and_then(|b| b.value.as_ref())
    else {
        panic!("services not interpreted");
    };
    let uris: Vec<_> = services.services.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["sip:bob@contoso.com", "tel:+11234567890;ext=67890"]);
    let text = &services.services[0].capabilities[0];
    assert_eq!(text.name, "text");
    assert!(text.render && text.capture);
    assert_eq!(text.device_availability, Some(3500));
    assert_eq!(services.services[0].capabilities.len(), 5);
    assert_eq!(
        services.services[1].capabilities[0].name,
        "remoteCallControl"
    );
}

#[test]
fn sipe_batch_subscribe() {
    let batch = batch::parse(&read("sipe-batch-subscribe.xml"), &LIMITS).expect("parses");
    assert_eq!(batch.uri, "sip:alice@lab.test");
    assert_eq!(batch.name.as_deref(), Some(""));
    assert_eq!(batch.actions.len(), 1);
    let action = &batch.actions[0];
    assert_eq!(action.kind, ActionKind::Subscribe);
    assert_eq!(action.id.as_deref(), Some("63792024"));
    assert_eq!(action.resources, ["sip:bob@lab.test"]);
    assert_eq!(
        action.categories,
        ["calendarData", "contactCard", "note", "state"]
    );
}

#[test]
fn roaming_lists() {
    use RoamingType::*;
    let sipe = roaming::parse_roaming_list(&read("sipe-roaming-list.xml"), &LIMITS);
    assert_eq!(sipe, Ok(vec![Categories, Containers, Subscribers]));
    let spec = roaming::parse_roaming_list(&read("ms-pres-4.4.1-roaming-list.xml"), &LIMITS);
    assert_eq!(
        spec,
        Ok(vec![Categories, Containers, Subscribers, Delegates])
    );
}

#[test]
fn sipe_provisioning_request() {
    let groups = provisioning::parse_request(&read("sipe-provisioning-request.xml"), &LIMITS);
    assert_eq!(
        groups.expect("parses"),
        [
            provisioning::SERVER_CONFIGURATION,
            provisioning::MEETING_POLICY,
            provisioning::PERSISTENT_CHAT_CONFIGURATION,
            provisioning::UC_POLICY
        ]
    );
}

#[test]
fn sipe_container_members() {
    let changes =
        container::parse_set_container_members(&read("sipe-setcontainermembers.xml"), &LIMITS)
            .expect("parses");
    assert_eq!(changes.len(), 2);
    assert_eq!((changes[0].id, changes[0].version), (200, 0));
    assert_eq!(changes[0].members[0].action, MemberAction::Add);
    assert_eq!(changes[0].members[0].member, Member::SameEnterprise);
    assert_eq!((changes[1].id, changes[1].version), (100, 0));
    assert_eq!(changes[1].members[0].member, Member::Federated);
}

#[test]
fn ms_pres_set_subscribers() {
    let acks =
        container::parse_set_subscribers(&read("ms-pres-4.8.1-set-subscribers.xml"), &LIMITS)
            .expect("parses");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].user, "alice@contoso.com");
    assert!(acks[0].acknowledged);
}

fn soap(name: &str) -> contacts::ContactRequest {
    contacts::parse_request(&read(name), &LIMITS).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn sipe_contact_list_requests() {
    let add = soap("sipe-soap-add-group.xml");
    assert_eq!(add.delta_num, 2);
    assert_eq!(
        add.operation,
        Operation::AddGroup {
            name: "Lab & friends".into(),
            external_uri: None
        }
    );
    let modify = soap("sipe-soap-modify-group.xml");
    assert_eq!(
        modify.operation,
        Operation::ModifyGroup(Group {
            id: 3,
            name: "Team".into(),
            external_uri: None
        })
    );
    assert_eq!(
        soap("sipe-soap-delete-group.xml").operation,
        Operation::DeleteGroup { id: 3 }
    );
    let set = soap("sipe-soap-set-contact.xml");
    assert_eq!(set.delta_num, 5);
    assert_eq!(
        set.operation,
        Operation::SetContact(Contact {
            uri: "sip:bob@lab.test".into(),
            name: "Bob".into(),
            groups: vec![1, 3],
            subscribed: true,
            external_uri: None,
        })
    );
    assert_eq!(
        soap("sipe-soap-delete-contact.xml").operation,
        Operation::DeleteContact {
            uri: "sip:bob@lab.test".into()
        }
    );
}

#[test]
fn ms_sip_add_contact_example() {
    let request = soap("ms-sip-4.6-set-contact.xml");
    assert_eq!(request.delta_num, 12);
    assert_eq!(
        request.operation,
        Operation::SetContact(Contact {
            uri: "sip:user4@server.contoso.com".into(),
            name: "buddy 1".into(),
            groups: vec![],
            subscribed: true,
            external_uri: None,
        })
    );
}

#[test]
fn ms_pres_roaming_categories() {
    let document =
        categories::parse(&read("ms-pres-4.4.3-categories.xml"), &LIMITS).expect("parses");
    assert_eq!(document.uri, "sip:alice@contoso.com");
    let entry = &document.entries[0];
    assert_eq!(entry.name, "state");
    assert_eq!(
        (entry.instance, entry.container, entry.version),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(
        entry.publish_time.as_deref(),
        Some("2008-01-22T23:41:05.450")
    );
    assert_eq!(entry.expire_type, Some(ExpireType::User));
    let EntryValue::Raw(xml) = &entry.value else {
        panic!("a value: {:?}", entry.value);
    };
    match &xml.value {
        Some(CategoryValue::State(state)) => {
            assert_eq!(state.state_type, StateType::Aggregate);
            assert!(!state.manual);
            assert_eq!(state.availability, Some(3500));
        }
        other => panic!("aggregate state: {other:?}"),
    }
}

#[test]
fn sdk_card_and_note() {
    let publish = publish::parse(&read("ocs-2007-r2-sdk-card-and-note-publish.xml"), &LIMITS)
        .expect("parses");
    match publish.publications[0]
        .body
        .as_ref()
        .and_then(|b| b.value.as_ref())
    {
        Some(CategoryValue::ContactCard(card)) => {
            assert_eq!(card.email.as_deref(), Some("joan@contoso.com"));
            assert_eq!(card.company.as_deref(), Some("Contoso Corporation"));
            assert_eq!(card.title.as_deref(), Some("Developer"));
            assert_eq!(card.display_name, None);
            assert!(!card.automaton);
        }
        other => panic!("contact card: {other:?}"),
    }
    match publish.publications[1]
        .body
        .as_ref()
        .and_then(|b| b.value.as_ref())
    {
        Some(CategoryValue::Note(note)) => {
            assert_eq!(note.note_type, NoteType::Personal);
            assert_eq!(note.text, "I will be away from the office until June 3.");
        }
        other => panic!("note: {other:?}"),
    }
}
