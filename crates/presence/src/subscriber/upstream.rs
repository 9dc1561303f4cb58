//! An upstream presence server's answers, written out as Kamailio's
//! presence module sends them (its 200 carries Expires and Contact, its
//! NOTIFYs `Subscription-State: active;expires=N`), for the subscriber's
//! and the provider's tests.

use bytes::Bytes;
use sip::{HeaderName, Message, Request, Response};

pub(crate) fn header(req: &Request, name: HeaderName) -> String {
    String::from_utf8_lossy(req.headers.value(name).expect("header present")).into_owned()
}

/// The upstream's response to `req`, with `extra` header lines.
pub(crate) fn respond(req: &Request, status: u16, extra: &str) -> Response {
    let wire = format!(
        "SIP/2.0 {status} Whatever\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
         From: {}\r\nTo: {};tag=up1\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        header(req, HeaderName::From),
        header(req, HeaderName::To).split(";tag=").next().unwrap(),
        header(req, HeaderName::CallId),
        header(req, HeaderName::CSeq),
    );
    match sip::parse::parse_datagram(Bytes::from(wire)).unwrap() {
        Message::Response(r) => r,
        other => panic!("{other:?}"),
    }
}

/// A NOTIFY of the upstream in the dialog of `req`.
pub(crate) fn notify(req: &Request, cseq: u32, state: &str, body: &str) -> Request {
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/pidf+xml\r\n".to_owned()
    };
    let wire = format!(
        "NOTIFY sip:presenced@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn{cseq}\r\n\
         From: {};tag=up1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} NOTIFY\r\n\
         Contact: <sip:127.0.0.1:5060>\r\nEvent: presence\r\nSubscription-State: {state}\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        header(req, HeaderName::To).split(";tag=").next().unwrap_or_default(),
        header(req, HeaderName::From),
        header(req, HeaderName::CallId),
        body.len()
    );
    match sip::parse::parse_datagram(Bytes::from(wire)).unwrap() {
        Message::Request(r) => r,
        other => panic!("{other:?}"),
    }
}
