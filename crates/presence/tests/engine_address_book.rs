//! The address book through the engine: a dialect client's
//! `directorySearch` SERVICE is answered from the runtime's
//! [`AddressBook`] in the dialect's result format, a broken one is
//! refused with 400 naming the element, and `Engine::shown` says what a
//! presentity shows now (a person's aggregate, a service card, or
//! Offline).
//!
//! The address book here is a fixed table; the merged one is tested in
//! the `rules` crate.

mod common;

use std::sync::Arc;

use common::*;
use presence::address_book::{SearchHit, SearchRow};
use presence::{
    AddressBook, Dialect, EngineConfig, Input, SearchAnswer, ServiceCard, ServiceContacts, ShownBy,
};
use sip::HeaderName;

#[derive(Debug)]
struct Book;

impl AddressBook for Book {
    fn search(&self, rows: &[SearchRow], max: usize) -> SearchAnswer {
        let all = [
            "sip:vtc-oslo@vc.example.com",
            "sip:vtc-bergen@vc.example.com",
        ];
        let wanted: Vec<SearchHit> = all
            .iter()
            .filter(|uri| rows.iter().all(|r| uri.contains(&r.value)))
            .map(|uri| SearchHit {
                uri: (*uri).to_owned(),
                display_name: Some(uri.to_uppercase()),
                ..SearchHit::default()
            })
            .collect();
        SearchAnswer {
            more: wanted.len() > max,
            hits: wanted.into_iter().take(max).collect(),
        }
    }
}

#[derive(Debug)]
struct Gateway;

impl ServiceContacts for Gateway {
    fn answer(&self, presentity: &str, dialect: Dialect) -> Option<ServiceCard> {
        (presentity.starts_with("sip:vtc-") && dialect == Dialect::Microsoft).then(|| ServiceCard {
            room: None,
            display_name: "VTC".into(),
            description: None,
            photo: None,
        })
    }

    fn canonical(&self, _: &str) -> Option<String> {
        None
    }
}

fn search(rows: &str, max: u32) -> sip::Request {
    parse(
        "SERVICE sip:example.com SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKs1\nMax-Forwards: 70\n\
         From: <sip:bob@example.com>;tag=b1\nTo: <sip:example.com>\nCall-ID: search1\nCSeq: 5 SERVICE\n\
         Content-Type: application/SOAP+xml\n",
        &format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">\
             <s:Body><m:directorySearch><m:filter m:href=\"#searchArray\"/><m:maxResults>{max}</m:maxResults></m:directorySearch>\
             <m:Array m:id=\"searchArray\">{rows}</m:Array></s:Body></s:Envelope>"
        ),
    )
}

#[test]
fn a_directory_search_is_answered_from_the_address_book() {
    let mut h = Harness::new(EngineConfig::default());
    h.engine.set_address_book(Arc::new(Book));
    let actions = h.request(
        search(r#"<m:row m:attrib="givenName" m:value="vtc"/>"#, 1),
        at(0),
    );
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        header(&resp.headers, HeaderName::ContentType),
        "application/SOAP+xml"
    );
    let text = String::from_utf8_lossy(&resp.body);
    assert!(
        text.contains(r#"<m:row uri="sip:vtc-oslo@vc.example.com" displayName="SIP:VTC-OSLO@VC.EXAMPLE.COM"/>"#),
        "{text}"
    );
    assert!(!text.contains("bergen"), "one result asked for: {text}");
    assert!(
        text.contains("<m:moreAvailable>true</m:moreAvailable>"),
        "{text}"
    );

    // Nothing found is an empty array, not an error.
    let actions = h.request(
        search(r#"<m:row m:attrib="givenName" m:value="nobody"/>"#, 10),
        at(0),
    );
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 200);
    assert!(
        String::from_utf8_lossy(&resp.body).contains("<m:moreAvailable>false</m:moreAvailable>")
    );
}

#[test]
fn a_broken_search_is_refused_naming_the_element() {
    let mut h = Harness::new(EngineConfig::default());
    let actions = h.request(search(r#"<m:row m:attrib="givenName"/>"#, 10), at(0));
    let resp = responses(&actions)[0];
    assert_eq!(resp.status, 400);
    let reason = String::from_utf8_lossy(&resp.reason).into_owned();
    assert!(
        reason.contains("Bad search") && reason.contains("missing value attribute on <row>"),
        "{reason}"
    );
}

#[test]
fn shown_prefers_a_person_then_a_service_card_then_offline() {
    let mut h = Harness::new(EngineConfig::default());
    h.engine.handle(
        Input::Reconfigure {
            services: Arc::new(Gateway),
        },
        at(0),
    );
    let gateway = h.engine.shown("sip:vtc-oslo@vc.example.com");
    assert_eq!(gateway.by, ShownBy::Gateway);
    assert_eq!(gateway.state.availability.value(), 3500);

    let nobody = h.engine.shown("sip:nobody@example.com");
    assert_eq!(nobody.by, ShownBy::Nothing);
    assert!(nobody.state.availability.value() >= 18000 || nobody.state.availability.value() == 0);

    h.published(
        publish(
            "sip:vtc-oslo@vc.example.com",
            None,
            &pidf("sip:vtc-oslo@vc.example.com", "closed", "off"),
            1,
        ),
        at(1),
    );
    let person = h.engine.shown("sip:vtc-oslo@vc.example.com");
    assert_eq!(person.by, ShownBy::Sources, "a person publishing wins");
}
