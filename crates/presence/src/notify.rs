//! The messages a notifier sends: NOTIFY requests and the 2xx to SUBSCRIBE.
//!
//! A NOTIFY is a request inside the subscription's dialog (RFC 3261 §12.2.1,
//! RFC 6665 §4.2.2): Request-URI = the remote target, From = our side with
//! our tag, To = the watcher's From with its tag, the dialog's Call-ID, our
//! next CSeq, Route = the route set. The runtime adds Via and Max-Forwards
//! when it sends it through a client transaction.

use std::time::SystemTime;

use bytes::Bytes;
use sip::header::Header;
use sip::{HeaderName, Headers, Method, Request, Response, Uri};

use crate::subscription::Subscription;

/// Names one NOTIFY the engine asked the runtime to send; the runtime hands
/// it back with the outcome, so the engine can find the dialog and send
/// the next coalesced state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotifyId(pub u64);

/// Why a NOTIFY could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The stored remote target does not parse as a URI (only possible for
    /// a damaged store record; a live one came from a parsed Contact).
    #[error("remote target {0:?} is not a URI")]
    RemoteTarget(String),
}

/// A NOTIFY body and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Content-Type.
    pub content_type: &'static str,
    /// The bytes, shared between every watcher of the same state.
    pub bytes: Bytes,
}

/// Builds the NOTIFY carrying CSeq `cseq`: `body` when there is one, and
/// `etag` as SIP-ETag (RFC 5839 §4.2: also on a NOTIFY whose body was
/// suppressed, so the watcher knows its copy is current).
pub fn build<F>(
    sub: &Subscription<F>,
    cseq: u32,
    now: SystemTime,
    body: Option<Body>,
    etag: Option<&str>,
) -> Result<Request, NotifyError> {
    let uri = Uri::parse_str(&sub.remote_target)
        .map_err(|_| NotifyError::RemoteTarget(sub.remote_target.to_string()))?;
    let mut headers = Headers::new();
    for route in &sub.route_set {
        headers.push(Header::new(HeaderName::Route, route.to_string()));
    }
    headers.push(Header::new(
        HeaderName::From,
        format!("<{}>;tag={}", sub.local_party, sub.key.local_tag()),
    ));
    headers.push(Header::new(HeaderName::To, sub.remote_party.to_string()));
    headers.push(Header::new(
        HeaderName::CallId,
        sub.key.call_id().to_owned(),
    ));
    headers.push(Header::new(HeaderName::CSeq, format!("{cseq} NOTIFY")));
    headers.push(Header::new(
        HeaderName::Contact,
        format!("<{}>", sub.contact),
    ));
    let event = match &sub.event_id {
        Some(id) => format!("{};id={id}", sub.package.as_str()),
        None => sub.package.as_str().to_owned(),
    };
    headers.push(Header::new(HeaderName::Event, event));
    headers.push(Header::new(
        HeaderName::SubscriptionState,
        sub.state_header(now),
    ));
    if let Some(etag) = etag {
        headers.push(Header::new(HeaderName::SipEtag, etag.to_owned()));
    }
    let bytes = match body {
        Some(body) => {
            headers.push(Header::new(HeaderName::ContentType, body.content_type));
            body.bytes
        }
        None => Bytes::new(),
    };
    Ok(Request {
        method: Method::Notify,
        uri,
        headers,
        body: bytes,
    })
}

/// The 200 that accepts a SUBSCRIBE (RFC 6665 §4.2.1.1): To tag for a new
/// dialog, Expires as granted (it may be shorter than asked), our Contact
/// (the watcher's remote target for refreshes), and the Record-Route values
/// copied (RFC 3261 §12.1.1) so the watcher builds the same route set.
pub fn subscribe_ok(req: &Request, to_tag: &str, contact: &Uri, expires: u32) -> Response {
    let mut resp = Response::to_request(req, 200, Some(to_tag));
    for rr in req.headers.all(HeaderName::RecordRoute) {
        resp.headers.push(rr.clone());
    }
    resp.headers
        .push(Header::new(HeaderName::Contact, format!("<{contact}>")));
    resp.headers
        .push(Header::new(HeaderName::Expires, expires.to_string()));
    resp
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::subscription::{SubState, SubscribeRequest};
    use sip::HeaderAccess;

    fn request(text: &str) -> Request {
        match sip::parse::parse_datagram(Bytes::from(text.replace('\n', "\r\n"))) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    const SUB: &str = "SUBSCRIBE sip:alice@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
From: <sip:bob@example.com>;tag=b1
To: <sip:alice@example.com>
Call-ID: c1
CSeq: 7 SUBSCRIBE
Contact: <sip:bob@192.0.2.1:5070>
Record-Route: <sip:p2.example.com;lr>
Record-Route: <sip:p1.example.com;lr>
Event: presence;id=3
Content-Length: 0

";

    #[test]
    fn ok_copies_record_route_and_grants() {
        let req = request(SUB);
        let contact = Uri::parse_str("sip:pres@192.0.2.9:5060").unwrap();
        let resp = subscribe_ok(&req, "n1", &contact, 600);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header_to().unwrap().tag().unwrap(), "n1");
        let rr: Vec<_> = resp.headers.values(HeaderName::RecordRoute).collect();
        assert_eq!(rr, ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]);
        assert_eq!(resp.headers.value(HeaderName::Expires).unwrap(), "600");
        assert_eq!(
            resp.headers.value(HeaderName::Contact).unwrap(),
            "<sip:pres@192.0.2.9:5060>"
        );
    }

    #[test]
    fn notify_is_in_the_dialog() {
        let s = SubscribeRequest::parse(&request(SUB)).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let sub = Subscription::new(
            &s,
            "n1",
            s.remote_target.clone().unwrap(),
            "sip:pres@192.0.2.9".into(),
            SubState::Active,
            600,
            (),
            false,
            now,
        );
        let body = Body {
            content_type: "application/pidf+xml",
            bytes: Bytes::from_static(b"<presence/>"),
        };
        let n = build(&sub, 5, now, Some(body), Some("e1")).unwrap();
        let text = String::from_utf8(n.encode()).unwrap();
        assert!(text.starts_with("NOTIFY sip:bob@192.0.2.1:5070 SIP/2.0\r\n"));
        for line in [
            "Route: <sip:p2.example.com;lr>\r\nRoute: <sip:p1.example.com;lr>\r\n",
            "From: <sip:alice@example.com>;tag=n1\r\n",
            "To: <sip:bob@example.com>;tag=b1\r\n",
            "Call-ID: c1\r\n",
            "CSeq: 5 NOTIFY\r\n",
            "Contact: <sip:pres@192.0.2.9>\r\n",
            "Event: presence;id=3\r\n",
            "Subscription-State: active;expires=600\r\n",
            "SIP-ETag: e1\r\n",
            "Content-Type: application/pidf+xml\r\n",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        assert!(text.ends_with("\r\n\r\n<presence/>"));
    }
}
