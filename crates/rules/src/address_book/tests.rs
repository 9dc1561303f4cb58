use std::collections::BTreeMap;

use presence::address_book::SearchRow;
use presence::AddressBook as _;

use super::ldap::{LdapRecord, Mapping};
use super::*;
use crate::{RawService, ThemeSource};

const SERVICE: &str = r#"
[service]
[[service.rooms]]
aliases = ["meet.alice@vc.example.com"]
name = "Alice's meeting room"
[[service.gateway_rules]]
name = "vtc endpoints"
match = '[a-z]+-room\d\d\d@vc\.example\.com'
dialects = ["microsoft"]
"#;

fn services() -> Directory {
    #[derive(serde::Deserialize)]
    struct File {
        service: RawService,
    }
    let file: File = toml::from_str(SERVICE).unwrap();
    let themes = BTreeMap::from([("default".to_owned(), ThemeSource::Builtin)]);
    Directory::build(&file.service, &themes, None, SERVICE).unwrap()
}

fn ldap(dn: &str, address: &str, name: &str, classes: &[&str]) -> Entry {
    let mut attrs = std::collections::HashMap::new();
    attrs.insert(
        "msRTCSIP-PrimaryUserAddress".to_owned(),
        vec![address.to_owned()],
    );
    attrs.insert("displayName".to_owned(), vec![name.to_owned()]);
    attrs.insert(
        "objectClass".to_owned(),
        classes.iter().map(|c| (*c).to_owned()).collect(),
    );
    attrs.insert(
        "mail".to_owned(),
        vec![format!(
            "{}@example.com",
            name.split(' ').next().unwrap_or("x").to_lowercase()
        )],
    );
    Mapping::default()
        .map(&LdapRecord {
            dn: dn.to_owned(),
            attrs,
        })
        .unwrap()
}

fn entries() -> Vec<Entry> {
    vec![
        ldap(
            "cn=Alice",
            "sip:alice@example.com",
            "Alice Smith",
            &["user"],
        ),
        ldap("cn=Bob", "sip:bob@example.com", "Bob Jones", &["user"]),
        ldap(
            "cn=VTC Oslo",
            "sip:oslo-room042@vc.example.com",
            "VTC Oslo",
            &["device"],
        ),
        ldap(
            "cn=Partner",
            "sip:partner@vc.partner.example",
            "Partner VTC",
            &["contact"],
        ),
        // The room's own alias is in LDAP too: one entry, two origins.
        ldap(
            "cn=Meet",
            "sip:meet.alice@VC.example.com",
            "Meeting Alice",
            &["device"],
        ),
    ]
}

fn book() -> AddressBook {
    AddressBook::merge([entries().as_slice()], &services())
}

#[test]
fn merges_by_uri_with_origins() {
    let book = book();
    assert_eq!(book.len(), 5, "the room and its LDAP entry are one");
    let room = book.get("sip:meet.alice@vc.example.com").unwrap();
    assert_eq!(room.origins, [Origin::Ldap, Origin::Room]);
    assert_eq!(
        room.display_name, "Meeting Alice",
        "LDAP, the first source, wins"
    );
    let vtc = book.get("sip:oslo-room042@VC.EXAMPLE.COM").unwrap();
    assert_eq!(vtc.origins, [Origin::Ldap, Origin::Gateway]);
    assert_eq!(vtc.gateway_rule.as_deref(), Some("vtc endpoints"));
    assert_eq!(vtc.kind, Kind::Resource);
    let partner = book.get("sip:partner@vc.partner.example").unwrap();
    assert_eq!(partner.origins, [Origin::Ldap]);
    assert_eq!(partner.kind, Kind::Contact);
    assert_eq!(book.count(Origin::Gateway), 1);
    assert_eq!(book.count(Origin::Ldap), 5);
}

#[test]
fn a_later_source_fills_what_is_missing() {
    let mut agent = Entry::new("sip:alice@example.com", "A. Smith (CC)", Kind::Agent);
    agent.origins.push(Origin::Agent);
    let status = CcStatus {
        agent: "4711".into(),
        state: "Available".into(),
        device: "Idle",
        user_state: "LoggedInToClient",
        text: "Available".into(),
    };
    agent.cc_status = Some(status.clone());
    agent.title = Some("Agent".into());
    let agents = vec![agent];
    let book = AddressBook::merge([entries().as_slice(), agents.as_slice()], &services());
    let alice = book.get("sip:alice@example.com").unwrap();
    assert_eq!(alice.display_name, "Alice Smith");
    assert_eq!(alice.kind, Kind::User);
    assert_eq!(alice.origins, [Origin::Ldap, Origin::Agent]);
    assert_eq!(alice.cc_status.as_ref(), Some(&status));
    assert_eq!(book.query("4711", 0, 10).total, 1, "found by agent id");
    assert_eq!(book.query("avail", 0, 10).total, 1, "found by CC status");
    assert_eq!(alice.title.as_deref(), Some("Agent"));
}

#[test]
fn rooms_without_ldap_are_entries() {
    let book = AddressBook::merge([&[][..]], &services());
    assert_eq!(book.len(), 1);
    let room = book.get("sip:meet.alice@vc.example.com").unwrap();
    assert_eq!(room.kind, Kind::Room);
    assert_eq!(room.display_name, "Alice's meeting room");
    assert_eq!(room.origins, [Origin::Room]);
}

#[test]
fn queries_match_word_prefixes_in_display_order_and_page() {
    let book = book();
    let names =
        |p: Page<'_>| -> Vec<String> { p.entries.iter().map(|e| e.display_name.clone()).collect() };
    assert_eq!(names(book.query("vtc", 0, 10)), ["Partner VTC", "VTC Oslo"]);
    assert_eq!(names(book.query("VTC osl", 0, 10)), ["VTC Oslo"]);
    // Address parts are words too.
    assert_eq!(names(book.query("room042", 0, 10)), ["VTC Oslo"]);
    assert_eq!(names(book.query("bob@example", 0, 10)), ["Bob Jones"]);
    // Not a prefix of any word.
    assert!(book.query("mith", 0, 10).entries.is_empty());
    // Pages.
    let all = book.query("", 0, 100);
    assert_eq!(all.total, 5);
    assert_eq!(
        names(all),
        [
            "Alice Smith",
            "Bob Jones",
            "Meeting Alice",
            "Partner VTC",
            "VTC Oslo"
        ]
    );
    let second = book.query("", 2, 2);
    assert_eq!(second.total, 5);
    assert_eq!(names(second), ["Meeting Alice", "Partner VTC"]);
    assert!(book.query("", 10, 2).entries.is_empty());
}

fn row(attribute: &str, value: &str) -> SearchRow {
    SearchRow {
        attribute: attribute.to_owned(),
        value: value.to_owned(),
    }
}

#[test]
fn dialect_searches_match_attributes() {
    let book = book();
    let uris = |rows: &[SearchRow], max| -> (Vec<String>, bool) {
        let a = book.search(rows, max);
        (a.hits.into_iter().map(|h| h.uri).collect(), a.more)
    };
    // SIPE's "First name: vtc" finds the resource and the contact.
    assert_eq!(
        uris(&[row("givenName", "vtc")], 10),
        (
            vec![
                "sip:partner@vc.partner.example".to_owned(),
                "sip:oslo-room042@vc.example.com".to_owned()
            ],
            false
        )
    );
    assert!(uris(&[row("givenName", "vtc")], 1).1, "more available");
    // The SIP ID, with or without the scheme.
    assert_eq!(
        uris(&[row("msRTCSIP-PrimaryUserAddress", "sip:ali")], 10).0,
        ["sip:alice@example.com"]
    );
    assert_eq!(
        uris(&[row("msRTCSIP-PrimaryUserAddress", "bob")], 10).0,
        ["sip:bob@example.com"]
    );
    // Rows are ANDed; attributes the book does not hold match nothing.
    assert_eq!(
        uris(&[row("givenName", "alice"), row("mail", "alice@")], 10).0,
        ["sip:alice@example.com"]
    );
    assert!(uris(&[row("givenName", "alice"), row("mail", "bob")], 10)
        .0
        .is_empty());
    assert!(uris(&[row("c", "NO")], 10).0.is_empty());
    assert!(uris(&[], 10).0.is_empty(), "an empty search finds nothing");
    let hit = &book.search(&[row("sn", "smith")], 10).hits[0];
    assert_eq!(hit.display_name.as_deref(), Some("Alice Smith"));
    assert_eq!(hit.email.as_deref(), Some("alice@example.com"));
}
