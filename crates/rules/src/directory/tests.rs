use std::collections::BTreeMap;

use presence::{Dialect, ServiceContacts};

use super::*;
use crate::theme::DEFAULT_IMAGE;

#[derive(serde::Deserialize)]
struct File {
    service: RawService,
}

const EXAMPLE: &str = r#"
[service]
themes_dir = "themes"
occupancy_token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[[service.rooms]]
aliases = ["meet.alice@VC.example.com", "sip:alice.room@vc.example.com"]
name = "Alice's meeting room"
description = "Weekly team meeting"
theme = "blue"
[[service.gateway_rules]]
name = "vtc endpoints"
match = '([a-z]+)-room(\d\d\d)@vc\.example\.com'
dialects = ["microsoft"]
theme = "blue"
display_name = "VTC $1 room $2"
[[service.gateway_rules]]
name = "anything at vc"
match = '.+@vc\.example\.com'
dialects = ["microsoft", "ietf"]
"#;

fn themes(blue: &[u8]) -> BTreeMap<String, ThemeSource> {
    let mut themes = BTreeMap::new();
    themes.insert("default".to_owned(), ThemeSource::Builtin);
    themes.insert(
        "blue".to_owned(),
        ThemeSource::File {
            path: "themes/blue/presence_avatar_image.jpg".to_owned(),
            bytes: blue.to_vec(),
        },
    );
    themes
}

fn build(text: &str) -> Result<Directory, ServiceError> {
    let file: File = toml::from_str(text).expect("TOML parses");
    Directory::build(
        &file.service,
        &themes(DEFAULT_IMAGE),
        Some("http://127.0.0.1:8080"),
        text,
    )
}

fn example() -> Directory {
    build(EXAMPLE).expect("the example is valid")
}

#[test]
fn a_room_answers_for_every_alias_and_both_dialects() {
    let d = example();
    for uri in [
        "sip:meet.alice@vc.example.com",
        "sip:alice.room@vc.example.com",
        "sips:meet.alice@vc.example.com",
    ] {
        for dialect in Dialect::ALL {
            let card = d.answer(uri, dialect).expect(uri);
            assert_eq!(card.display_name, "Alice's meeting room");
            assert_eq!(card.description.as_deref(), Some("Weekly team meeting"));
            assert_eq!(card.room.as_deref(), Some("meet.alice@vc.example.com"));
        }
    }
}

#[test]
fn a_pin_suffix_resolves_to_the_room_and_is_dropped() {
    let d = example();
    let card = d
        .answer("sip:meet.alice**1234@vc.example.com", Dialect::Ietf)
        .expect("answers");
    assert_eq!(card.display_name, "Alice's meeting room");
    let shown = format!("{card:?}");
    assert!(!shown.contains("1234"), "{shown}");
    assert_eq!(
        d.canonical("sip:meet.alice**1234@vc.example.com")
            .as_deref(),
        Some("sip:meet.alice@vc.example.com")
    );
    assert_eq!(d.canonical("sip:meet.alice@vc.example.com"), None);
    // Not a service contact: the key stays as it is.
    assert_eq!(d.canonical("sip:bob**12@example.com"), None);
}

#[test]
fn rules_go_in_order_and_respect_dialects() {
    let d = example();
    let vtc = d
        .answer("sip:oslo-room042@vc.example.com", Dialect::Microsoft)
        .expect("the first rule");
    assert_eq!(vtc.display_name, "VTC oslo room 042");
    assert_eq!(vtc.room, None);
    let photo = vtc.photo.expect("a photo");
    assert!(
        photo
            .uri
            .starts_with("http://127.0.0.1:8080/service/themes/blue/")
            && photo.uri.ends_with(".jpg"),
        "{}",
        photo.uri
    );
    // The IETF watcher skips the Microsoft-only rule and gets the next.
    let ietf = d
        .answer("sip:oslo-room042@vc.example.com", Dialect::Ietf)
        .expect("the second rule");
    assert_eq!(ietf.display_name, "oslo-room042@vc.example.com");
    assert_eq!(
        d.resolve("sip:oslo-room042@vc.example.com", Dialect::Ietf)
            .map(|(a, _)| a),
        Some(Answerer::Rule(1))
    );
}

#[test]
fn a_non_matching_alias_gets_no_answer() {
    let d = example();
    for uri in [
        "sip:oslo-room042@vc.example.org",
        "sip:x@vc.example.com.evil",
        "sip:alice@example.com",
    ] {
        for dialect in Dialect::ALL {
            assert_eq!(d.answer(uri, dialect), None, "{uri}");
        }
    }
    // The whole alias must match: a rule is anchored at both ends.
    let text = "[service]\n[[service.gateway_rules]]\nname = \"r\"\nmatch = 'room\\d'\ndialects = [\"ietf\"]\n";
    let d = build(text).unwrap();
    assert!(d.answer("sip:room1@h", Dialect::Ietf).is_none());
    assert!(d.answer("sip:aroom1", Dialect::Ietf).is_none());
    assert!(d.answer("sip:room1", Dialect::Ietf).is_some());
}

#[test]
fn errors_name_the_field_and_the_rule_at_their_offset() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[service]\n[[service.gateway_rules]]\nname = \"vtc\"\nmatch = '[a-z+'\ndialects = [\"microsoft\"]\n",
            "service.gateway_rules[0] \"vtc\".match",
            "unclosed character class",
        ),
        (
            "[service]\n[[service.gateway_rules]]\nname = \"vtc\"\nmatch = 'a'\ndialects = [\"sms\"]\n",
            "service.gateway_rules[0] \"vtc\".dialects",
            "\"sms\" is not a dialect",
        ),
        (
            "[service]\n[[service.gateway_rules]]\nname = \"vtc\"\nmatch = 'a'\ndialects = []\n",
            "service.gateway_rules[0] \"vtc\".dialects",
            "at least one dialect",
        ),
        (
            "[service]\n[[service.gateway_rules]]\nname = \"vtc\"\nmatch = '(a)'\ndialects = [\"ietf\"]\ndisplay_name = \"$2\"\n",
            "service.gateway_rules[0] \"vtc\".display_name",
            "$2 names no group",
        ),
        (
            "[service]\n[[service.rooms]]\naliases = [\"room\"]\nname = \"R\"\n",
            "service.rooms[0].aliases",
            "user@host",
        ),
        (
            "[service]\n[[service.rooms]]\naliases = [\"r@h\"]\nname = \"R\"\n[[service.rooms]]\naliases = [\"r@H\"]\nname = \"S\"\n",
            "service.rooms[1].aliases",
            "already an alias of service.rooms[0]",
        ),
        (
            "[service]\n[[service.rooms]]\naliases = [\"r**12@h\"]\nname = \"R\"\n",
            "service.rooms[0].aliases",
            "PIN",
        ),
        (
            "[service]\n[[service.rooms]]\naliases = [\"r@h\"]\nname = \"R\"\ntheme = \"green\"\n",
            "theme \"green\"",
            "no such theme",
        ),
        (
            "[service]\noccupancy_token_sha256 = \"secret\"\n",
            "service.occupancy_token_sha256",
            "64 hex digits",
        ),
    ];
    for (text, field, message) in cases {
        let e = build(text).expect_err(text);
        assert_eq!(e.field, *field, "{text}");
        assert!(e.message.contains(message), "{text}: {}", e.message);
        assert!(e.offset > 0, "{text}: no position");
    }
    // The offset is the offending value's.
    let text = "[service]\n[[service.gateway_rules]]\nname = \"vtc\"\nmatch = '[a-z+'\ndialects = [\"ietf\"]\n";
    let e = build(text).unwrap_err();
    assert_eq!(line_at(text, e.offset), 4);
}

#[test]
fn descriptions_are_under_1024_characters() {
    let long = "é".repeat(1024);
    let text = format!("[service]\n[[service.rooms]]\naliases = [\"r@h\"]\nname = \"R\"\ndescription = \"{long}\"\n");
    let e = build(&text).unwrap_err();
    assert_eq!(e.field, "service.rooms[0].description");
    assert!(e.message.contains("1024 characters"), "{}", e.message);
    let ok = format!(
        "[service]\n[[service.rooms]]\naliases = [\"r@h\"]\nname = \"R\"\ndescription = \"{}\"\n",
        &long[..1023 * 2]
    );
    assert!(build(&ok).is_ok());
}

#[test]
fn a_broken_theme_image_is_refused_with_its_path() {
    let file: File = toml::from_str(EXAMPLE).unwrap();
    let e = Directory::build(&file.service, &themes(b"GIF89a"), None, EXAMPLE).unwrap_err();
    assert_eq!(e.field, "theme \"blue\"");
    assert!(
        e.message
            .starts_with("themes/blue/presence_avatar_image.jpg: not a JPEG image"),
        "{}",
        e.message
    );
    assert_eq!(line_at(EXAMPLE, e.offset), 9);
}

#[test]
fn photos_are_served_by_theme_and_current_hash_only() {
    let d = example();
    let hash = d.themes["blue"].hash().to_owned();
    assert!(d.image("blue", &hash).is_some());
    assert!(d.image("blue", "0000").is_none());
    assert!(d.image("red", &hash).is_none());
    // Without a base URL there is no photo in the card.
    let file: File = toml::from_str(EXAMPLE).unwrap();
    let plain = Directory::build(&file.service, &themes(DEFAULT_IMAGE), None, EXAMPLE).unwrap();
    let card = plain
        .answer("sip:meet.alice@vc.example.com", Dialect::Microsoft)
        .unwrap();
    assert_eq!(card.photo, None);
}

#[test]
fn rooms_are_named_by_their_first_alias() {
    let d = example();
    assert_eq!(
        d.room_id("alice.room**99@vc.example.com").as_deref(),
        Some("meet.alice@vc.example.com")
    );
    assert_eq!(d.room_id("nobody@vc.example.com"), None);
    assert_eq!(d.occupancy_token().map(|t| t[0]), Some(0x9f));
}

#[test]
fn changes_list_what_a_reload_did() {
    let old = example();
    let edited = EXAMPLE
        .replace("([a-z]+)-room(\\d\\d\\d)", "([a-z]+)-vtc(\\d\\d\\d)")
        .replace("Weekly team meeting", "Daily stand-up");
    let text =
        format!("{edited}[[service.rooms]]\naliases = [\"new@vc.example.com\"]\nname = \"New\"\n");
    let new = build(&text).unwrap();
    let changes = old.changes(&new);
    assert_eq!(
        changes,
        [
            "room meet.alice@vc.example.com changed",
            "room new@vc.example.com added",
            "gateway rule vtc endpoints changed",
        ]
    );
    assert!(old.changes(&example()).is_empty());
}
