//! Round trips of Microsoft's dialect where both sides exist: every
//! interpreted category value the writer produces reads back, unchanged,
//! through the category publication reader; and every writer produces
//! well-formed XML carrying arbitrary strings intact.

mod sipe_xml;

use presence::msrtc::categories::{self, CategoryEntry, EntryValue};
use presence::msrtc::category::{
    Capability, CategoryValue, ContactCard, Note, NoteType, Phone, Photo, Service, Services, State,
    StateActivity, StateType,
};
use presence::msrtc::contacts::{self, Contact, ContactList, Group};
use presence::msrtc::publish::{self, ExpireType};
use presence::msrtc::roaming::{self, RoamingData, Subscriber};
use presence::XmlLimits;
use proptest::prelude::*;

/// Any text XML can carry, whitespace controls included.
fn text() -> impl Strategy<Value = String> {
    "[\\PC\t\n\r]{0,16}"
}

/// Text the reader trims (token-like values): non-empty, no surrounding
/// whitespace.
fn trimmed() -> impl Strategy<Value = String> {
    "[^\\s\\p{C}]([\\PC\t\n\r]{0,12}[^\\s\\p{C}])?"
}

fn state() -> impl Strategy<Value = State> {
    let kind = prop_oneof![
        Just(StateType::User),
        Just(StateType::Machine),
        Just(StateType::Phone),
        Just(StateType::Calendar),
        Just(StateType::Aggregate),
        Just(StateType::AggregateMachine),
    ];
    let activity = (
        proptest::option::of(trimmed()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec((any::<u32>(), text()), 0..3),
    )
        .prop_map(|(token, min, max, custom)| StateActivity {
            token,
            min_availability: min,
            max_availability: max,
            custom,
        });
    (
        kind,
        any::<bool>(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(activity),
    )
        .prop_map(|(state_type, manual, availability, activity)| State {
            state_type,
            manual,
            availability,
            activity,
        })
}

fn card() -> impl Strategy<Value = ContactCard> {
    let phone = (text(), trimmed(), proptest::option::of(trimmed())).prop_map(
        |(phone_type, uri, display)| Phone {
            phone_type,
            uri,
            display,
        },
    );
    let photo = (trimmed(), trimmed()).prop_map(|(uri, hash)| Photo { uri, hash });
    (
        (
            proptest::option::of(trimmed()),
            proptest::option::of(trimmed()),
            proptest::option::of(trimmed()),
            any::<bool>(),
        ),
        (
            proptest::option::of(trimmed()),
            proptest::option::of(trimmed()),
            proptest::collection::vec(phone, 0..3),
            proptest::option::of(photo),
        ),
    )
        .prop_map(
            |((display_name, email, description, automaton), (title, company, phones, photo))| {
                ContactCard {
                    display_name,
                    email,
                    description,
                    automaton,
                    title,
                    company,
                    phones,
                    photo,
                }
            },
        )
}

fn services() -> impl Strategy<Value = Services> {
    let capability = (
        prop_oneof![Just("text"), Just("voice"), Just("video"), Just("gifInk")],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(name, render, capture, device_availability)| Capability {
            name: name.into(),
            render,
            capture,
            device_availability,
        });
    let service = (text(), proptest::collection::vec(capability, 0..4))
        .prop_map(|(uri, capabilities)| Service { uri, capabilities });
    proptest::collection::vec(service, 0..3).prop_map(|services| Services { services })
}

fn value() -> impl Strategy<Value = CategoryValue> {
    let note = (
        prop_oneof![Just(NoteType::Personal), Just(NoteType::Oof)],
        text(),
    )
        .prop_map(|(note_type, text)| Note { note_type, text });
    prop_oneof![
        state().prop_map(CategoryValue::State),
        note.prop_map(CategoryValue::Note),
        card().prop_map(CategoryValue::ContactCard),
        services().prop_map(CategoryValue::Services),
    ]
}

fn entry() -> impl Strategy<Value = CategoryEntry> {
    let expire = prop_oneof![
        Just(ExpireType::Endpoint),
        Just(ExpireType::Static),
        Just(ExpireType::User),
        Just(ExpireType::Time),
    ];
    (
        (
            text(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
        ),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(text()),
            proptest::option::of(expire),
        ),
        proptest::option::of(value()),
    )
        .prop_map(
            |((name, instance, container), (version, publish_time, expire_type), value)| {
                CategoryEntry {
                    name,
                    instance,
                    container,
                    version,
                    publish_time,
                    expire_type,
                    value: value.map_or(EntryValue::Cleared, EntryValue::Value),
                }
            },
        )
}

proptest! {
    #[test]
    fn category_documents_round_trip(uri in text(), entries in proptest::collection::vec(entry(), 0..4)) {
        let body = categories::render(&uri, &entries);
        let document = categories::parse(&body, &XmlLimits::DEFAULT)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(&document.uri, &uri);
        prop_assert_eq!(document.entries.len(), entries.len());
        for (read, written) in document.entries.iter().zip(&entries) {
            prop_assert_eq!(&read.name, &written.name);
            prop_assert_eq!(read.instance, written.instance);
            prop_assert_eq!(read.container, written.container);
            prop_assert_eq!(read.version, written.version);
            prop_assert_eq!(&read.publish_time, &written.publish_time);
            prop_assert_eq!(read.expire_type, written.expire_type);
            match (&read.value, &written.value) {
                (EntryValue::Cleared, EntryValue::Cleared) => {}
                (EntryValue::Raw(xml), EntryValue::Value(value)) => {
                    prop_assert_eq!(xml.value.as_ref(), Some(value));
                    let raw = std::str::from_utf8(&xml.raw).expect("utf-8");
                    prop_assert_eq!(raw, categories::write_value_string(value));
                }
                (read, written) => prop_assert!(false, "{:?} read as {:?}", written, read),
            }
        }
        // Rendering what was read gives the same bytes: raw values are
        // echoed verbatim.
        prop_assert_eq!(categories::render(&document.uri, &document.entries), body);
    }

    #[test]
    fn category_values_round_trip(value in value(), instance in any::<u32>(), version in any::<u32>()) {
        let element = categories::write_value_string(&value);
        let body = format!(
            r#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="sip:a@x"><publication categoryName="c" instance="{instance}" container="2" version="{version}" expireType="time" expires="60">{element}</publication></publications></publish>"#
        );
        let publish = publish::parse(body.as_bytes(), &XmlLimits::DEFAULT)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        let publication = &publish.publications[0];
        prop_assert_eq!(publication.instance, instance);
        prop_assert_eq!(publication.version, version);
        prop_assert_eq!(publication.expires, Some(60));
        let xml = publication.body.as_ref().expect("body");
        prop_assert_eq!(xml.value.as_ref(), Some(&value));
        prop_assert_eq!(std::str::from_utf8(&xml.raw).expect("utf-8"), element.as_str());
    }

    #[test]
    fn category_documents_are_well_formed(uri in text(), name in text(), value in value()) {
        let entry = CategoryEntry {
            name: name.clone(),
            instance: Some(1),
            container: None,
            version: Some(2),
            publish_time: None,
            expire_type: None,
            value: EntryValue::Value(value),
        };
        let doc = sipe_xml::parse(&categories::render(&uri, &[entry]));
        prop_assert_eq!(doc.attr("uri"), Some(uri.as_str()));
        prop_assert_eq!(doc.child("category").and_then(|c| c.attr("name")), Some(name.as_str()));
    }

    #[test]
    fn contact_lists_carry_any_names(names in proptest::collection::vec(text(), 1..4), alias in text()) {
        let groups: Vec<Group> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Group { id: i as u32 + 1, name: name.clone(), external_uri: None })
            .collect();
        let list = ContactList {
            delta_num: 1,
            groups,
            contacts: vec![Contact {
                uri: "sip:b@x".into(),
                name: alias.clone(),
                groups: vec![1],
                subscribed: false,
                external_uri: None,
            }],
        };
        let doc = sipe_xml::parse(&contacts::render_list(&list));
        let read: Vec<_> = doc.all("group").iter().filter_map(|g| g.attr("name")).collect();
        prop_assert_eq!(read, names.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(doc.child("contact").and_then(|c| c.attr("name")), Some(alias.as_str()));
    }

    #[test]
    fn roaming_subscribers_carry_any_names(user in text(), display in text()) {
        let data = RoamingData {
            uri: "sip:a@x".into(),
            categories: None,
            containers: None,
            subscribers: Some(vec![Subscriber {
                user: user.clone(),
                display_name: display.clone(),
                acknowledged: true,
                subscriber_type: None,
            }]),
        };
        let doc = sipe_xml::parse(&roaming::render(&data));
        let subscriber = doc.child("subscribers/subscriber").expect("subscriber");
        prop_assert_eq!(subscriber.attr("user"), Some(user.as_str()));
        prop_assert_eq!(subscriber.attr("displayName"), Some(display.as_str()));
    }
}
