//! Generated PIDF documents: text full of markup characters, whitespace
//! controls and non-ASCII, every optional part present or absent, and
//! extensions of several shapes. Shared by the round-trip properties
//! (`pidf_roundtrip.rs`) and the pinned outputs (`pidf_golden.rs`).

#![allow(dead_code)]

use presence::{
    Activity, Basic, Contact, Device, Extension, Mood, Note, Person, PlaceIs, PresenceDocument,
    RpidToken, Tuple,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Free text: markup characters, quotes, whitespace controls, non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&'\"\t\r\n;:/éß€😀]{0,16}"
}

/// Token-like values (URIs, timestamps, device ids), which the reader trims.
pub fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9:@.;=+&<>-]{0,15}"
}

/// Element names for RPID tokens; `note` and `other` have meanings of their own.
pub fn ncname() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}".prop_filter("reserved", |s| s != "note" && s != "other")
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
}

pub fn extension() -> impl Strategy<Value = Extension> {
    (0..3u8, ncname(), text(), text(), any::<bool>()).prop_map(
        |(ns, name, attr, content, nested)| {
            let xml = if nested {
                format!(
                    r#"<{name} xmlns="urn:example:d{ns}" a="{}"><c>{}</c><c/></{name}>"#,
                    escape(&attr),
                    escape(&content)
                )
            } else {
                format!(
                    r#"<x:{name} xmlns:x="urn:example:x{ns}" x:a="{}">{}</x:{name}>"#,
                    escape(&attr),
                    escape(&content)
                )
            };
            Extension::parse(&xml).unwrap()
        },
    )
}

pub fn note() -> impl Strategy<Value = Note> {
    (option::of("[a-z]{2}(-[A-Z]{2})?"), text()).prop_map(|(lang, text)| Note { lang, text })
}

pub fn notes() -> impl Strategy<Value = Vec<Note>> {
    vec(note(), 0..3)
}

pub fn extensions() -> impl Strategy<Value = Vec<Extension>> {
    vec(extension(), 0..3)
}

pub fn basic() -> impl Strategy<Value = Basic> {
    prop_oneof![Just(Basic::Open), Just(Basic::Closed)]
}

pub fn contact() -> impl Strategy<Value = Contact> {
    (token(), option::of(0..=1000u32)).prop_map(|(uri, p)| Contact {
        uri,
        priority: p.map(|p| p as f32 / 1000.0),
    })
}

pub fn tuple() -> impl Strategy<Value = Tuple> {
    (
        (text(), option::of(basic()), option::of(contact()), notes()),
        (
            option::of(token()),
            vec(token(), 0..3),
            extensions(),
            extensions(),
        ),
    )
        .prop_map(
            |((id, basic, contact, notes), (timestamp, device_ids, status_ext, ext))| Tuple {
                id,
                basic,
                contact,
                notes,
                timestamp,
                device_ids,
                status_extensions: status_ext,
                extensions: ext,
            },
        )
}

pub fn activity() -> impl Strategy<Value = Activity> {
    let tokens: Vec<Activity> = Activity::all_tokens().collect();
    prop_oneof![
        3 => proptest::sample::select(tokens),
        1 => text().prop_map(Activity::Other),
    ]
}

pub fn rpid_token() -> impl Strategy<Value = RpidToken> {
    prop_oneof![
        ncname().prop_map(RpidToken::Token),
        text().prop_map(RpidToken::Other)
    ]
}

pub fn mood() -> impl Strategy<Value = Mood> {
    (vec(rpid_token(), 0..3), notes()).prop_map(|(values, notes)| Mood { values, notes })
}

pub fn place_is() -> impl Strategy<Value = PlaceIs> {
    (
        option::of(ncname()),
        option::of(ncname()),
        option::of(ncname()),
        notes(),
    )
        .prop_map(|(audio, video, text, notes)| PlaceIs {
            audio,
            video,
            text,
            notes,
        })
}

pub fn person() -> impl Strategy<Value = Person> {
    (
        (
            text(),
            vec(activity(), 0..4),
            notes(),
            option::of(token()),
            option::of(token()),
        ),
        (
            option::of(mood()),
            option::of(place_is()),
            notes(),
            option::of(token()),
            extensions(),
        ),
    )
        .prop_map(
            |(
                (id, activities, activities_notes, from, until),
                (mood, place_is, notes, ts, ext),
            )| {
                Person {
                    id,
                    activities,
                    activities_notes,
                    activities_from: from,
                    activities_until: until,
                    mood,
                    place_is,
                    notes,
                    timestamp: ts,
                    extensions: ext,
                }
            },
        )
}

pub fn device() -> impl Strategy<Value = Device> {
    (
        text(),
        option::of(token()),
        notes(),
        option::of(token()),
        extensions(),
    )
        .prop_map(|(id, device_id, notes, timestamp, extensions)| Device {
            id,
            device_id,
            notes,
            timestamp,
            extensions,
        })
}

pub fn document() -> impl Strategy<Value = PresenceDocument> {
    (
        text(),
        vec(tuple(), 0..3),
        vec(person(), 0..2),
        vec(device(), 0..2),
        notes(),
        extensions(),
    )
        .prop_map(
            |(entity, tuples, persons, devices, notes, extensions)| PresenceDocument {
                entity,
                tuples,
                persons,
                devices,
                notes,
                extensions,
            },
        )
}
