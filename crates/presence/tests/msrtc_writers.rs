//! The writers of Microsoft's dialect, checked the way pidgin-sipe reads
//! them: every document is parsed with `sipe_xml` (local names, namespaces
//! ignored, like SIPE's `sipe-xml.c`) and the exact elements and attributes
//! SIPE's `sipe-notify.c` / `sipe-ocs2007.c` / `sipe-group.c` look up are
//! asserted.

mod sipe_xml;

use presence::msrtc::categories::{self, CategoryEntry, EntryValue};
use presence::msrtc::category::{
    Capability, CategoryValue, ContactCard, Note, NoteType, Phone, Photo, Service, Services, State,
    StateActivity, StateType,
};
use presence::msrtc::contacts::{self, Contact, ContactDelta, ContactList, Group};
use presence::msrtc::container::Member;
use presence::msrtc::fault::{self, Fault, Operation};
use presence::msrtc::provisioning::{self, ProvisionGroup};
use presence::msrtc::publish;
use presence::msrtc::roaming::{self, Container, RoamingData, Subscriber, SubscriberType};
use presence::XmlLimits;

fn entry(name: &str, instance: u32, value: EntryValue) -> CategoryEntry {
    CategoryEntry {
        name: name.into(),
        instance: Some(instance),
        container: Some(200),
        version: Some(3),
        publish_time: Some("2026-12-03T09:30:00.000Z".into()),
        expire_type: None,
        value,
    }
}

fn room_categories() -> Vec<CategoryEntry> {
    let state = State {
        state_type: StateType::Aggregate,
        manual: false,
        availability: Some(6500),
        activity: Some(StateActivity {
            token: Some("in-a-meeting".into()),
            min_availability: None,
            max_availability: None,
            custom: vec![
                (1033, "Board <review> & lunch".into()),
                (1043, "Overleg".into()),
            ],
        }),
    };
    let card = ContactCard {
        display_name: Some("Alice's \"meeting\" room".into()),
        email: Some("room@example.com".into()),
        description: Some("Seats 12 & a projector".into()),
        automaton: true,
        title: Some("Room".into()),
        company: Some("Example".into()),
        phones: vec![Phone {
            phone_type: "work".into(),
            uri: "tel:+31201234567".into(),
            display: Some("+31 20 123 4567".into()),
        }],
        photo: Some(Photo {
            uri: "https://example.com/room.jpg?a=1&b=2".into(),
            hash: "d41d8cd9".into(),
        }),
    };
    let services = Services {
        services: vec![Service {
            uri: "sip:room@example.com".into(),
            capabilities: vec![
                Capability {
                    name: "text".into(),
                    render: true,
                    capture: true,
                    device_availability: Some(3500),
                },
                Capability {
                    name: "not a name".into(),
                    render: true,
                    capture: true,
                    device_availability: None,
                },
            ],
        }],
    };
    vec![
        entry("state", 0, EntryValue::Value(CategoryValue::State(state))),
        entry(
            "note",
            0,
            EntryValue::Value(CategoryValue::Note(Note {
                note_type: NoteType::Oof,
                text: "Away until Monday".into(),
            })),
        ),
        entry(
            "contactCard",
            0,
            EntryValue::Value(CategoryValue::ContactCard(card)),
        ),
        entry(
            "services",
            0,
            EntryValue::Value(CategoryValue::Services(services)),
        ),
    ]
}

#[test]
fn categories_document_reads_as_sipe_reads_it() {
    let body = categories::render("sip:room@example.com", &room_categories());
    let doc = sipe_xml::parse(&body);
    assert_eq!(doc.name, "categories");
    assert_eq!(doc.attr("uri"), Some("sip:room@example.com"));
    let categories = doc.all("category");
    let names: Vec<_> = categories.iter().filter_map(|c| c.attr("name")).collect();
    assert_eq!(names, ["state", "note", "contactCard", "services"]);
    for category in &categories {
        assert_eq!(
            category.attr("publishTime"),
            Some("2026-12-03T09:30:00.000Z")
        );
        assert_eq!(category.attr("instance"), Some("0"));
        assert_eq!(category.attr("container"), Some("200"));
        assert_eq!(category.attr("version"), Some("3"));
    }

    let state = categories[0].child("state").expect("state");
    assert_eq!(state.attr("type"), Some("aggregateState"));
    assert_eq!(state.data("availability"), Some("6500"));
    assert_eq!(
        state.child("activity").and_then(|a| a.attr("token")),
        Some("in-a-meeting")
    );
    let custom = state.all("activity/custom");
    assert_eq!(custom[0].attr("LCID"), Some("1033"));
    assert_eq!(custom[0].text, "Board <review> & lunch");
    assert_eq!(custom[1].text, "Overleg");

    let body = categories[1].child("note/body").expect("note body");
    assert_eq!(body.attr("type"), Some("OOF"));
    assert_eq!(body.text, "Away until Monday");

    let card = categories[2].child("contactCard").expect("card");
    assert_eq!(
        card.data("identity/name/displayName"),
        Some("Alice's \"meeting\" room")
    );
    assert_eq!(card.data("identity/email"), Some("room@example.com"));
    assert_eq!(card.data("title"), Some("Room"));
    assert_eq!(card.data("company"), Some("Example"));
    assert_eq!(card.data("description"), Some("Seats 12 & a projector"));
    assert_eq!(card.data("automaton"), Some("true"));
    let phone = card.child("phone").expect("phone");
    assert_eq!(phone.attr("type"), Some("work"));
    assert_eq!(phone.data("uri"), Some("tel:+31201234567"));
    assert_eq!(phone.data("displayString"), Some("+31 20 123 4567"));
    let photo = card.child("photo").expect("photo");
    assert_ne!(
        photo.attr("type"),
        Some("default"),
        "SIPE skips default photos"
    );
    assert_eq!(
        photo.data("uri"),
        Some("https://example.com/room.jpg?a=1&b=2")
    );
    assert_eq!(photo.data("hash"), Some("d41d8cd9"));

    let capabilities = categories[3]
        .child("services/service/capabilities")
        .expect("capabilities");
    assert_eq!(capabilities.children.len(), 1, "non-XML names are left out");
    let text = &capabilities.children[0];
    assert_eq!(text.name, "text");
    assert_eq!(text.attr("deviceAvailability"), Some("3500"));
}

#[test]
fn raw_categories_are_echoed_verbatim() {
    let body = br#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence" xmlns:c="http://schemas.microsoft.com/2006/09/sip/calendarData"><publications uri="sip:a@x"><publication categoryName="calendarData" instance="0" container="300" version="2"><c:calendarData mailboxID="a@x"><c:freeBusy startTime="2026-12-03T00:00:00Z" granularity="PT15M">AAAA</c:freeBusy></c:calendarData></publication></publications></publish>"#;
    let publish = publish::parse(body, &XmlLimits::DEFAULT).expect("parses");
    let xml = publish.publications[0].body.clone().expect("body");
    assert_eq!(xml.value, None, "calendarData is not interpreted");
    let raw = std::str::from_utf8(&xml.raw).expect("utf-8").to_owned();
    // The prefix was declared on <publish>: the fragment now declares it.
    assert!(
        raw.starts_with(
            r#"<c:calendarData xmlns:c="http://schemas.microsoft.com/2006/09/sip/calendarData""#
        ),
        "{raw}"
    );
    let document = categories::render("sip:a@x", &[entry("calendarData", 0, EntryValue::Raw(xml))]);
    assert!(std::str::from_utf8(&document)
        .expect("utf-8")
        .contains(&raw));
    let doc = sipe_xml::parse(&document);
    let free_busy = doc
        .child("category/calendarData/freeBusy")
        .expect("freeBusy");
    assert_eq!(free_busy.attr("granularity"), Some("PT15M"));
    assert_eq!(free_busy.text, "AAAA");
}

#[test]
fn roaming_data_reads_as_sipe_reads_it() {
    let publish = publish::parse(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/vectors/msrtc/sipe-category-publish-away.xml"),
        )
        .expect("vector"),
        &XmlLimits::DEFAULT,
    )
    .expect("parses");
    let user_state = publish.publications[0].body.clone().expect("state");
    let data = RoamingData {
        uri: "sip:alice@lab.test".into(),
        categories: Some(vec![
            CategoryEntry {
                name: "state".into(),
                instance: Some(0x2000_0000),
                container: Some(2),
                version: Some(1),
                publish_time: Some("2026-12-03T09:30:00Z".into()),
                expire_type: Some(publish::ExpireType::Static),
                value: EntryValue::Raw(user_state),
            },
            CategoryEntry {
                name: "note".into(),
                instance: None,
                container: Some(200),
                version: None,
                publish_time: None,
                expire_type: None,
                value: EntryValue::Cleared,
            },
        ]),
        containers: Some(vec![
            Container {
                id: 200,
                version: 1,
                members: vec![Member::SameEnterprise],
            },
            Container {
                id: 32000,
                version: 4,
                members: vec![Member::User("eve@example.com".into())],
            },
            Container {
                id: 400,
                version: 0,
                members: vec![],
            },
        ]),
        subscribers: Some(vec![Subscriber {
            user: "bob@lab.test".into(),
            display_name: "Bob & co".into(),
            acknowledged: false,
            subscriber_type: Some(SubscriberType::SameEnterprise),
        }]),
    };
    let doc = sipe_xml::parse(&roaming::render(&data));
    assert_eq!(doc.name, "roamingData");
    let categories = doc.all("categories/category");
    assert_eq!(categories[0].attr("instance"), Some("536870912"));
    assert_eq!(categories[0].attr("container"), Some("2"));
    assert_eq!(categories[0].attr("version"), Some("1"));
    assert_eq!(categories[0].attr("expireType"), Some("static"));
    let state = categories[0].child("state").expect("state");
    assert_eq!(state.attr("type"), Some("userState"));
    assert_eq!(state.data("availability"), Some("15500"));
    // A cleared note: a container and no instance ("remove the
    // publications of this container").
    assert_eq!(categories[1].attr("name"), Some("note"));
    assert_eq!(categories[1].attr("container"), Some("200"));
    assert_eq!(categories[1].attr("instance"), None);

    let containers = doc.all("containers/container");
    assert_eq!(containers[0].attr("id"), Some("200"));
    assert_eq!(containers[0].attr("version"), Some("1"));
    assert_eq!(
        containers[0].child("member").and_then(|m| m.attr("type")),
        Some("sameEnterprise")
    );
    let blocked = containers[1].child("member").expect("member");
    assert_eq!(blocked.attr("type"), Some("user"));
    assert_eq!(blocked.attr("value"), Some("eve@example.com"));
    assert!(containers[2].children.is_empty());

    let subscriber = doc.child("subscribers/subscriber").expect("subscriber");
    assert_eq!(subscriber.attr("user"), Some("bob@lab.test"));
    assert_eq!(subscriber.attr("displayName"), Some("Bob & co"));
    assert_eq!(subscriber.attr("acknowledged"), Some("false"));
    assert_eq!(subscriber.attr("type"), Some("sameEnterprise"));

    // A later delta carries only what changed.
    let delta = RoamingData {
        uri: "sip:alice@lab.test".into(),
        categories: None,
        containers: None,
        subscribers: Some(vec![]),
    };
    let doc = sipe_xml::parse(&roaming::render(&delta));
    assert!(doc.child("categories").is_none() && doc.child("containers").is_none());
    assert!(doc.child("subscribers").is_some());
}

fn contact(uri: &str, groups: Vec<u32>) -> Contact {
    Contact {
        uri: uri.into(),
        name: String::new(),
        groups,
        subscribed: true,
        external_uri: None,
    }
}

#[test]
fn contact_list_and_delta_read_as_sipe_reads_them() {
    let list = ContactList {
        delta_num: 3,
        groups: vec![
            Group {
                id: 1,
                name: "~".into(),
                external_uri: None,
            },
            Group {
                id: 2,
                name: "R&D <lab>".into(),
                external_uri: None,
            },
        ],
        contacts: vec![contact("sip:bob@lab.test", vec![1, 2])],
    };
    let doc = sipe_xml::parse(&contacts::render_list(&list));
    assert_eq!(doc.name, "contactList");
    assert_eq!(doc.attr("deltaNum"), Some("3"));
    let groups = doc.all("group");
    assert_eq!(groups[1].attr("id"), Some("2"));
    assert_eq!(groups[1].attr("name"), Some("R&D <lab>"));
    let bob = doc.child("contact").expect("contact");
    assert_eq!(bob.attr("uri"), Some("bob@lab.test"), "SIPE prepends sip:");
    assert_eq!(bob.attr("groups"), Some("1 2"));
    assert_eq!(bob.attr("name"), Some(""));
    assert_eq!(bob.attr("subscribed"), Some("true"));

    let delta = ContactDelta {
        prev_delta_num: 3,
        delta_num: 4,
        added_groups: vec![Group {
            id: 3,
            name: "New".into(),
            external_uri: None,
        }],
        modified_contacts: vec![contact("sip:bob@lab.test", vec![3])],
        deleted_groups: vec![2],
        deleted_contacts: vec!["sip:carol@lab.test".into()],
        ..ContactDelta::default()
    };
    let doc = sipe_xml::parse(&contacts::render_delta(&delta));
    assert_eq!(doc.name, "contactDelta");
    assert_eq!(doc.attr("deltaNum"), Some("4"));
    assert_eq!(doc.attr("prevDeltaNum"), Some("3"));
    assert_eq!(
        doc.child("addedGroup").and_then(|g| g.attr("name")),
        Some("New")
    );
    let modified = doc.child("modifiedContact").expect("modified");
    assert_eq!(modified.attr("uri"), Some("sip:bob@lab.test"));
    assert_eq!(modified.attr("groups"), Some("3"));
    assert_eq!(
        doc.child("deletedGroup").and_then(|g| g.attr("id")),
        Some("2")
    );
    assert_eq!(
        doc.child("deletedContact").and_then(|c| c.attr("uri")),
        Some("sip:carol@lab.test")
    );
    let order: Vec<_> = doc.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "addedGroup",
            "modifiedContact",
            "deletedGroup",
            "deletedContact"
        ]
    );

    let answer = sipe_xml::parse(&contacts::render_add_group_response(7));
    assert_eq!(answer.data("Body/addGroup/groupID"), Some("7"));
}

#[test]
fn provisioning_groups_read_as_sipe_reads_them() {
    let groups = [
        ProvisionGroup::ServerConfiguration(vec![
            (
                "focusFactoryUri".into(),
                "sip:alice@lab.test;gruu;opaque=app:conf:focusfactory".into(),
            ),
            (
                "absInternalServerUrl".into(),
                "https://lab.test/abs?x=1&y=2".into(),
            ),
            ("not a name".into(), "dropped".into()),
        ]),
        ProvisionGroup::empty(provisioning::MEETING_POLICY),
        ProvisionGroup::PropertyEntryList {
            name: provisioning::PERSISTENT_CHAT_CONFIGURATION.into(),
            properties: vec![("EnablePersistentChat".into(), "false".into())],
        },
        ProvisionGroup::Instance {
            name: provisioning::UC_POLICY.into(),
            properties: vec![("enabledelegation".into(), "true".into())],
        },
    ];
    let doc = sipe_xml::parse(&provisioning::render(&groups));
    assert_eq!(doc.name, "provisionGroupList");
    let names: Vec<_> = doc
        .all("provisionGroup")
        .iter()
        .filter_map(|g| g.attr("name"))
        .collect();
    assert_eq!(
        names,
        [
            "ServerConfiguration",
            "meetingPolicy",
            "persistentChatConfiguration",
            "ucPolicy"
        ]
    );
    let server = doc.child("provisionGroup").expect("ServerConfiguration");
    assert_eq!(
        server.data("focusFactoryUri"),
        Some("sip:alice@lab.test;gruu;opaque=app:conf:focusfactory")
    );
    assert_eq!(
        server.data("absInternalServerUrl"),
        Some("https://lab.test/abs?x=1&y=2")
    );
    assert_eq!(server.children.len(), 2);
    let chat = doc.all("provisionGroup")[2];
    let property = chat.child("propertyEntryList/property").expect("property");
    assert_eq!(property.attr("name"), Some("EnablePersistentChat"));
    assert_eq!(property.text, "false");
    let policy = doc.all("provisionGroup")[3];
    let property = policy
        .child("instance/property")
        .expect("ucPolicy property");
    assert_eq!(property.attr("name"), Some("enabledelegation"));
    assert_eq!(property.text, "true");
    let meeting = doc.all("provisionGroup")[1];
    assert_eq!(meeting.child("instance").map(|i| i.children.len()), Some(0));
}

#[test]
fn wrong_delta_fault_has_the_spec_shape() {
    let fault = Fault::wrong_delta(vec![
        Operation {
            index: 1,
            version: Some(0),
            cur_version: 3,
        },
        Operation {
            index: 4,
            version: None,
            cur_version: 9,
        },
    ]);
    let body = fault::render(&fault);
    assert_eq!(
        std::str::from_utf8(&body).expect("utf-8"),
        r#"<Fault><Faultcode>Client.BadCall.WrongDelta</Faultcode><details><operation index="1" version="0" curVersion="3"/><operation index="4" curVersion="9"/></details></Fault>"#
    );
    let doc = sipe_xml::parse(&body);
    assert_eq!(doc.data("Faultcode"), Some(fault::WRONG_DELTA));
    let operations = doc.all("details/operation");
    assert_eq!(operations[1].attr("index"), Some("4"));
    assert_eq!(operations[1].attr("curVersion"), Some("9"));
}
