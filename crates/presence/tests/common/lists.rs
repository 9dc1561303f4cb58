//! Helpers of the list-subscription tests (`engine_lists.rs`,
//! `engine_adhoc_lists.rs`): Alice's stored list, the SUBSCRIBEs standard
//! clients send, and a reader of RLMI multipart bodies.

use presence::contacts::{Contact, Group, ListContent};
use presence::{ContactOp, EngineConfig};
use sip::HeaderName;

use super::*;

/// Alice's contact list, as RFC 4662's `sip:adam-friends@...` names one.
pub const LIST: &str = "sip:alice-contacts@example.com";
pub const DAVE: &str = "sip:dave@example.com";
pub const ERIN: &str = "sip:erin@example.com";

pub fn config() -> EngineConfig {
    EngineConfig {
        contact_list_suffix: "-contacts".into(),
        ..EngineConfig::default()
    }
}

/// A contact named after its user part ("bob").
pub fn contact(uri: &str, subscribed: bool) -> Contact {
    let user = uri
        .trim_start_matches("sip:")
        .split('@')
        .next()
        .unwrap_or_default();
    Contact {
        uri: uri.into(),
        name: user.into(),
        groups: vec![1].into(),
        subscribed,
        external_uri: None,
    }
}

/// Replaces Alice's list (the operator's PUT).
pub fn put_list(
    h: &mut Harness,
    contacts: &[(&str, bool)],
    secs: u64,
) -> Vec<presence::Action<Flow>> {
    let list = ListContent {
        groups: vec![Group {
            id: 1,
            name: "Friends".into(),
        }],
        contacts: contacts.iter().map(|(u, s)| contact(u, *s)).collect(),
    };
    let op = ContactOp::Replace {
        user: ALICE.into(),
        list,
    };
    let (_, actions) = h
        .engine
        .change_contacts(op, at(secs))
        .expect("a valid list");
    actions
}

/// Alice's SUBSCRIBE to her list, as a standard client sends it.
pub fn list_sub(call_id: &str) -> Sub {
    Sub::new(ALICE, LIST, call_id)
        .header("Supported: eventlist")
        .header("Accept: multipart/related, application/rlmi+xml, application/pidf+xml")
}

/// One RLMI `<resource>`: its URI, instance state, reason, and the
/// document of its part (found by the instance's `cid`).
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub uri: String,
    pub state: String,
    pub reason: Option<String>,
    pub part: Option<String>,
}

/// Reads a multipart/related RLMI body of Alice's list.
pub fn read(content_type: &str, body: &str) -> (u32, bool, Vec<Entry>) {
    read_any(content_type, body, LIST)
}

/// Reads a multipart/related RLMI body of `list`: (version, fullState,
/// resources).
pub fn read_any(content_type: &str, body: &str, list: &str) -> (u32, bool, Vec<Entry>) {
    assert!(
        content_type.starts_with("multipart/related; type=\"application/rlmi+xml\""),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let parts: Vec<(String, String)> = body
        .split(delimiter.as_str())
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (head, content) = p.trim_start_matches("\r\n").split_once("\r\n\r\n").unwrap();
            (head.to_owned(), content.trim_end().to_owned())
        })
        .collect();
    let (root_head, root) = &parts[0];
    assert!(
        root_head.contains("Content-Type: application/rlmi+xml"),
        "{root_head}"
    );
    let attr = |text: &str, name: &str| {
        text.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let list_tag = root
        .split("<list ")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert_eq!(attr(list_tag, "uri").as_deref(), Some(list));
    let version = attr(list_tag, "version").unwrap().parse().unwrap();
    let full = attr(list_tag, "fullState").unwrap() == "true";
    let entries = root
        .split("<resource ")
        .skip(1)
        .map(|r| {
            let cid = attr(r, "cid");
            let part = cid.map(|cid| {
                let (head, content) = parts
                    .iter()
                    .find(|(h, _)| h.contains(&format!("Content-Id: {cid}\r\n")))
                    .expect("the part the cid names");
                assert!(
                    head.contains("Content-Type: application/pidf+xml"),
                    "{head}"
                );
                content.clone()
            });
            Entry {
                uri: attr(&format!(" {r}"), "uri").unwrap(),
                // A resource without an instance: its state follows.
                state: attr(r, "state").unwrap_or_else(|| "none".into()),
                reason: attr(r, "reason"),
                part,
            }
        })
        .collect();
    (version, full, entries)
}

pub fn read_notify(req: &sip::Request) -> (u32, bool, Vec<Entry>) {
    read(&header(&req.headers, HeaderName::ContentType), &body(req))
}

pub fn active(uri: &str, basic: &str) -> (String, String, Option<String>) {
    (uri.to_owned(), "active".to_owned(), Some(basic.to_owned()))
}

/// (uri, state, basic status of the part) of each entry.
pub fn summary(entries: &[Entry]) -> Vec<(String, String, Option<String>)> {
    entries
        .iter()
        .map(|e| {
            let basic = e.part.as_ref().map(|p| {
                p.split("<basic>")
                    .nth(1)
                    .and_then(|b| b.split('<').next())
                    .unwrap_or_default()
                    .to_owned()
            });
            let state = match &e.reason {
                Some(r) => format!("{}:{r}", e.state),
                None => e.state.clone(),
            };
            (e.uri.clone(), state, basic)
        })
        .collect()
}

/// liblinphone's SUBSCRIBE to its RLS URI (RFC 5367): the list is in the
/// body.
pub fn adhoc_sub(target: &str, call_id: &str, uris: &[&str], eventlist: bool) -> sip::Request {
    let entries: String = uris
        .iter()
        .map(|u| format!("  <entry uri=\"{u}\"/>\n"))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<resource-lists xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\n <list>\n{entries} </list>\n</resource-lists>\n"
    );
    let supported = if eventlist {
        "Supported: eventlist\n"
    } else {
        ""
    };
    parse(
        &format!(
            "SUBSCRIBE {target} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK{call_id}\n\
             From: <{ALICE}>;tag=f-{call_id}\nTo: {target}\nCSeq: 20 SUBSCRIBE\nCall-ID: {call_id}\n\
             Max-Forwards: 70\n{supported}Event: presence\nExpires: 3600\n\
             Content-Type: application/resource-lists+xml\n\
             Contact: <sip:alice@192.0.2.1;gr=urn:uuid:49fe3f87>\nRequire: recipient-list-subscribe\n\
             Accept: multipart/related\nAccept: application/pidf+xml\nAccept: application/rlmi+xml\n\
             Content-Disposition: recipient-list\n"
        ),
        &body,
    )
}
