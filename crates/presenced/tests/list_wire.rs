//! RFC 4662 list subscriptions on the wire: the real binary, raw SIP over
//! UDP. Alice's contact list, provisioned over HTTP, is subscribed to as
//! `sip:alice-contacts@127.0.0.1`; the multipart/related NOTIFYs are
//! taken apart as a client would (RLMI root, parts found by `cid`).

mod common;

use std::net::SocketAddr;

use common::ua::{pidf, text, value, Dialog, Ua};
use common::{http_send, Presenced};
use sip::{HeaderName, Request};

const LIST_PATH: &str = "/api/v1/users/sip%3Aalice%40127.0.0.1/contacts";

fn start() -> Presenced {
    Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [presence]\nsubscribe_min_expires = 5\npublish_min_expires = 5\n",
        1,
    )
}

fn put_list(http: SocketAddr, contacts: &[&str]) {
    let contacts: Vec<String> = contacts
        .iter()
        .map(|uri| format!("{{\"uri\": \"{uri}\", \"name\": \"\", \"groups\": [1]}}"))
        .collect();
    let body = format!(
        "{{\"groups\": [{{\"id\": 1, \"name\": \"Friends\"}}], \"contacts\": [{}]}}",
        contacts.join(", ")
    );
    let (status, answer) = http_send(http, "PUT", LIST_PATH, Some(&body));
    assert_eq!(status, 200, "{answer}");
}

/// One resource of an RLMI NOTIFY: URI, instance state (with the reason
/// when terminated) and the `<basic>` of its PIDF part.
type Entry = (String, String, Option<String>);

/// Takes a list NOTIFY apart: (version, fullState, resources).
fn read(notify: &Request) -> (u32, bool, Vec<Entry>) {
    assert_eq!(value(&notify.headers, HeaderName::Require), "eventlist");
    let content_type = value(&notify.headers, HeaderName::ContentType);
    assert!(
        content_type.starts_with("multipart/related;")
            && content_type.contains("type=\"application/rlmi+xml\""),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"')
        .to_owned();
    let body = text(&notify.body);
    let delimiter = format!("--{boundary}");
    assert!(
        body.trim_end().ends_with(&format!("{delimiter}--")),
        "closed"
    );
    let parts: Vec<(String, String)> = body
        .split(delimiter.as_str())
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (head, content) = p
                .trim_start_matches("\r\n")
                .split_once("\r\n\r\n")
                .expect("part headers end");
            (head.to_owned(), content.trim_end().to_owned())
        })
        .collect();
    let (root_head, root) = parts.first().expect("the RLMI root");
    assert!(root_head.contains("application/rlmi+xml"), "{root_head}");
    let attr = |text: &str, name: &str| {
        text.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let list = root.split("<list ").nth(1).expect("<list>");
    assert_eq!(
        attr(list, "uri").as_deref(),
        Some("sip:alice-contacts@127.0.0.1")
    );
    let version = attr(list, "version").unwrap().parse().unwrap();
    let full = attr(list, "fullState").unwrap() == "true";
    let entries = root
        .split("<resource ")
        .skip(1)
        .map(|r| {
            let uri = attr(&format!(" {r}"), "uri").unwrap();
            let mut state = attr(r, "state").unwrap();
            if let Some(reason) = attr(r, "reason") {
                state = format!("{state}:{reason}");
            }
            let basic = attr(r, "cid").map(|cid| {
                let (head, doc) = parts
                    .iter()
                    .find(|(h, _)| h.lines().any(|l| l == format!("Content-Id: {cid}")))
                    .expect("the part the cid names");
                assert!(head.contains("application/pidf+xml"), "{head}");
                doc.split("<basic>")
                    .nth(1)
                    .and_then(|b| b.split('<').next())
                    .unwrap_or_default()
                    .to_owned()
            });
            (uri, state, basic)
        })
        .collect();
    (version, full, entries)
}

fn entry(uri: &str, state: &str, basic: Option<&str>) -> Entry {
    (uri.to_owned(), state.to_owned(), basic.map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_list_subscribed_as_a_resource_list() {
    let server = start();
    let addr = server.addr("udp", false);
    let http = server.http_addr();
    let alice = Ua::new(addr, "alice").await;
    let bob = Ua::new(addr, "bob").await;
    let (bob_uri, carol_uri, dave_uri) = (
        "sip:bob@127.0.0.1",
        "sip:carol@127.0.0.1",
        "sip:dave@127.0.0.1",
    );
    put_list(http, &[bob_uri, carol_uri]);
    let list_uri = "sip:alice-contacts@127.0.0.1";

    // Without `Supported: eventlist`: 421, and what is required.
    let plain = Dialog::new();
    let refused = alice
        .send(alice.subscribe(list_uri, &plain, 1, 60, ""))
        .await;
    assert_eq!(refused.status, 421);
    assert_eq!(value(&refused.headers, HeaderName::Require), "eventlist");

    // With it: one dialog, the whole list in the first NOTIFY.
    let mut sub = Dialog::new();
    let extra = "Supported: eventlist\r\nAccept: multipart/related, application/rlmi+xml\r\n";
    let ok = alice
        .send(alice.subscribe(list_uri, &sub, 1, 60, extra))
        .await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    assert_eq!(value(&ok.headers, HeaderName::Require), "eventlist");
    sub.established(&ok);
    let first = alice.next_notify().await;
    assert_eq!(
        read(&first),
        (
            0,
            true,
            vec![
                entry(bob_uri, "active", Some("closed")),
                entry(carol_uri, "active", Some("closed")),
            ]
        )
    );

    // Bob publishes: a partial NOTIFY with Bob alone.
    let body = pidf(bob_uri, "pc", "open", Some("busy"), "In a meeting");
    let ok = bob
        .send(bob.publish(&Dialog::new(), 1, 60, None, Some(&body)))
        .await;
    assert_eq!(ok.status, 200);
    let partial = alice.next_notify().await;
    assert_eq!(
        read(&partial),
        (1, false, vec![entry(bob_uri, "active", Some("open"))])
    );
    assert!(text(&partial.body).contains("In a meeting"));

    // The operator replaces the list: Dave in, Carol out, same dialog.
    put_list(http, &[bob_uri, dave_uri]);
    let changed = alice.next_notify().await;
    assert_eq!(
        value(&changed.headers, HeaderName::CallId),
        sub.call_id,
        "the same dialog"
    );
    assert_eq!(
        read(&changed),
        (
            2,
            false,
            vec![
                entry(carol_uri, "terminated:noresource", None),
                entry(dave_uri, "active", Some("closed")),
            ]
        )
    );

    // Unsubscribe: the final NOTIFY ends the dialog.
    let ok = alice
        .send(alice.subscribe(list_uri, &sub, 2, 0, extra))
        .await;
    assert_eq!(ok.status, 200);
    let last = alice.next_notify().await;
    assert!(value(&last.headers, HeaderName::SubscriptionState).starts_with("terminated"));
}
