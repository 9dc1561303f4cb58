//! The contact-list API with the real binary: `PUT` and `GET
//! /api/v1/users/{uri}/contacts`, what a refusal says and that it keeps
//! the stored list, and that an acknowledged list survives SIGKILL.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{http_send, Presenced};
use serde_json::{json, Value};

const ALICE: &str = "/api/v1/users/sip%3Aalice%40example.com/contacts";

/// A durable server whose store is in `data`, so a second server on the
/// same directory finds what the first one committed.
fn server(data: &Path) -> Presenced {
    Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\ndata_dir = \"{}\"\n",
            data.display()
        ),
        1,
    )
}

fn list() -> Value {
    json!({
        "groups": [{"id": 1, "name": "Colleagues"}, {"id": 2, "name": "Friends"}],
        "contacts": [
            {"uri": "sip:bob@example.com", "name": "Bob", "groups": [1]},
            {"uri": "sip:carol@example.com", "name": "Carol", "groups": [1, 2],
             "subscribed": false, "externalUri": "ldap://directory/cn=carol"}
        ]
    })
}

/// `list` as the server answers it, at `delta_num`.
fn stored(mut list: Value, delta_num: u64) -> Value {
    list["deltaNum"] = delta_num.into();
    list
}

fn put(http: SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let (status, body) = http_send(http, "PUT", path, Some(body));
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn get(http: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http_send(http, "GET", path, None);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[test]
fn a_put_list_reads_back_counts_up_and_survives_sigkill() {
    let data = tempfile::tempdir().expect("data dir");
    let server = server(data.path());
    let http = server.http_addr();

    // A user with no list has an empty one at deltaNum 0.
    let empty = json!({"groups": [], "contacts": [], "deltaNum": 0});
    assert_eq!(get(http, ALICE), (200, empty));

    let (status, answer) = put(http, ALICE, &list().to_string());
    assert_eq!((status, &answer), (200, &stored(list(), 1)));
    assert_eq!(get(http, ALICE), (200, stored(list(), 1)));
    server.wait_for_log(&["contact list", "delta_num=1"]);

    // Every PUT is a change with its own number; the URIs are reduced to
    // their address of record, as presentities are keyed.
    let mut second = list();
    second["contacts"][0]["uri"] = "sip:bob@EXAMPLE.com;transport=tcp".into();
    second["groups"][1]["name"] = "Pals".into();
    let (status, answer) = put(http, ALICE, &second.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deltaNum"], 2);
    assert_eq!(answer["contacts"][0]["uri"], "sip:bob@example.com");
    assert_eq!(answer["groups"][1]["name"], "Pals");
    // Any form of the user's URI names the same list.
    let other_form = "/api/v1/users/sip%3Aalice%40Example.com%3Btransport%3Dtls/contacts";
    assert_eq!(get(http, other_form), (200, answer.clone()));

    // SIGKILL: no shutdown, no flush. The acknowledged list is on disk.
    drop(server);
    let server = self::server(data.path());
    let http = server.http_addr();
    server.wait_for_log(&["contact lists loaded", "contact_lists=1"]);
    assert_eq!(get(http, ALICE), (200, answer));
    let (status, answer) = put(http, ALICE, &list().to_string());
    assert_eq!((status, answer), (200, stored(list(), 3)));
}

#[test]
fn bad_input_is_refused_naming_the_field_and_keeps_the_stored_list() {
    let data = tempfile::tempdir().expect("data dir");
    let server = server(data.path());
    let http = server.http_addr();
    assert_eq!(put(http, ALICE, &list().to_string()).0, 200);

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = list();
        edit(&mut body);
        body.to_string()
    };
    let many_contacts: Vec<Value> = (0..1001)
        .map(|i| json!({"uri": format!("sip:u{i}@example.com"), "name": "", "groups": [1]}))
        .collect();
    let many_groups: Vec<Value> = (1..=65)
        .map(|i| json!({"id": i, "name": format!("g{i}")}))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        // Malformed JSON: where the parser stopped.
        (ALICE, "{\"groups\": [".into(), "groups"),
        (
            ALICE,
            "{\"groups\": [], \"contacts\": []} and more".into(),
            "body",
        ),
        (ALICE, "[]".into(), "body"),
        (
            ALICE,
            with(&|b| {
                b.as_object_mut().unwrap().remove("contacts");
            }),
            "contacts",
        ),
        (ALICE, with(&|b| b["colour"] = "blue".into()), "colour"),
        (
            ALICE,
            with(&|b| b["contacts"][1]["colour"] = "blue".into()),
            "contacts[1].colour",
        ),
        (
            ALICE,
            with(&|b| {
                b["contacts"][0].as_object_mut().unwrap().remove("name");
            }),
            "contacts[0].name",
        ),
        (
            ALICE,
            with(&|b| b["groups"][0]["id"] = "1".into()),
            "groups[0].id",
        ),
        (
            ALICE,
            with(&|b| b["groups"][0]["id"] = (-1).into()),
            "groups[0].id",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["groups"][1] = true.into()),
            "contacts[1].groups[1]",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["uri"] = "carol".into()),
            "contacts[1].uri",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["uri"] = "mailto:carol@example.com".into()),
            "contacts[1].uri",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["uri"] = "sip:bob@example.com;transport=udp".into()),
            "contacts[1].uri",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["groups"][1] = 7.into()),
            "contacts[1].groups[1]",
        ),
        (
            ALICE,
            with(&|b| b["contacts"][1]["groups"] = json!([])),
            "contacts[1].groups",
        ),
        (
            ALICE,
            with(&|b| b["groups"][1]["id"] = 1.into()),
            "groups[1].id",
        ),
        (
            ALICE,
            with(&|b| b["groups"][1]["name"] = "Colleagues".into()),
            "groups[1].name",
        ),
        (
            ALICE,
            with(&|b| b["groups"][0]["name"] = "".into()),
            "groups[0].name",
        ),
        (
            ALICE,
            with(&|b| b["groups"][0]["name"] = "x".repeat(257).into()),
            "groups[0].name",
        ),
        (
            ALICE,
            with(&|b| b["contacts"] = many_contacts.clone().into()),
            "contacts",
        ),
        (
            ALICE,
            with(&|b| b["groups"] = many_groups.clone().into()),
            "groups",
        ),
        ("/api/v1/users/alice/contacts", list().to_string(), "uri"),
        ("/api/v1/users/%FF%FE/contacts", list().to_string(), "uri"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = put(http, path, &body);
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
        assert_eq!(
            get(http, ALICE),
            (200, stored(list(), 1)),
            "after {field}: unchanged"
        );
    }
    let (status, answer) = get(http, "/api/v1/users/alice/contacts");
    assert_eq!((status, &answer["field"]), (400, &json!("uri")), "{answer}");

    // The authorization API refuses in the same shape.
    let (status, answer) = http_send(
        http,
        "POST",
        "/api/v1/authorizations",
        Some(r#"{"presentity": "sip:a@example.com", "watcher": "sip:b@example.com"}"#),
    );
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(
        (status, &answer["field"]),
        (400, &json!("allow")),
        "{answer}"
    );

    // A restart finds the list the refusals left alone.
    drop(server);
    let server = self::server(data.path());
    assert_eq!(get(server.http_addr(), ALICE), (200, stored(list(), 1)));
}
