//! The messages a notifier sends: NOTIFY requests and the 2xx to SUBSCRIBE.
//!
//! A NOTIFY is a request inside the subscription's dialog (RFC 3261 §12.2.1,
//! RFC 6665 §4.2.2): Request-URI = the remote target, From = our side with
//! our tag, To = the watcher's From with its tag, the dialog's Call-ID, our
//! next CSeq, Route = the route set. The runtime adds the Via when it sends
//! it through a client transaction ([`Notify::encode_with_via`]).

use std::time::SystemTime;

use bytes::Bytes;
use sip::header::Header;
use sip::{HeaderName, Request, Response, Uri};

use crate::subscription::Subscription;

/// Names one NOTIFY the engine asked the runtime to send; the runtime hands
/// it back with the outcome, so the engine can find the dialog and send
/// the next coalesced state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotifyId(pub u64);

/// A NOTIFY body and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Content-Type.
    pub content_type: &'static str,
    /// The bytes, shared between every watcher of the same state.
    pub bytes: Bytes,
}

/// The Max-Forwards of the NOTIFYs this server originates
/// (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;

/// A NOTIFY on the wire but for its Via, which names the branch of the
/// client transaction the runtime starts for it (RFC 3261 §8.1.1.7).
///
/// The per-NOTIFY hot path (a fan-out builds one per watcher) writes the
/// dialog's stored parts straight into this one buffer: no `Request`, no
/// header values allocated one by one, no remote target parsed again
/// (it was checked once, when the dialog was made or restored). Storing
/// each dialog's fixed headers pre-serialised would save the copying too,
/// but would add 200–300 bytes per subscription on top of the strings
/// other paths need (store records, winfo, refreshes), against a budget
/// of 1 KiB; copying ~300 bytes costs less than one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The request line, then every header but Via, then the body.
    bytes: Vec<u8>,
    /// Where the Via goes: right after the request line.
    via_at: usize,
    /// A BENOTIFY ([MS-SIP]): the watcher sends no response, so the
    /// runtime sends it without a client transaction.
    benotify: bool,
}

impl Notify {
    /// A NOTIFY from a [`Request`] built some other way (tests, rare
    /// paths); any Via it has stays below the one the runtime adds.
    pub fn from_request(req: &Request) -> Notify {
        let bytes = req.encode();
        let via_at = memchr_crlf(&bytes).map_or(bytes.len(), |i| i + 2);
        Notify {
            benotify: req.method == sip::Method::Benotify,
            bytes,
            via_at,
        }
    }

    /// The Request-URI (the dialog's remote target), for a runtime that
    /// must find another way to the watcher than the subscription's flow.
    pub fn target(&self) -> &[u8] {
        let line = &self.bytes[..self.via_at];
        // The request line's two spaces, found by a vectorised search
        // (the runtime reads this for every NOTIFY).
        let Some(start) = memchr::memchr(b' ', line).map(|at| at + 1) else {
            return &[];
        };
        let end = memchr::memchr(b' ', &line[start..]).map_or(line.len(), |at| start + at);
        &line[start..end]
    }

    /// Whether this is a BENOTIFY, which expects no response.
    pub fn is_benotify(&self) -> bool {
        self.benotify
    }

    /// The wire form with `via` (the value, as in `SIP/2.0/UDP
    /// host:port;branch=...`) as its top Via: one allocation of the exact
    /// size.
    pub fn encode_with_via(&self, via: &[u8]) -> Vec<u8> {
        const NAME: &[u8] = b"Via: ";
        let mut out = Vec::with_capacity(self.bytes.len() + NAME.len() + via.len() + 2);
        out.extend_from_slice(&self.bytes[..self.via_at]);
        out.extend_from_slice(NAME);
        out.extend_from_slice(via);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.bytes[self.via_at..]);
        out
    }

    /// [`Notify::encode_with_via`] in the NOTIFY's own buffer, which
    /// [`build`] leaves room in: no second allocation and copy per NOTIFY
    /// of a fan-out, only the move of what follows the request line.
    pub fn into_wire_with_via(mut self, via: &[u8]) -> Vec<u8> {
        const NAME: &[u8] = b"Via: ";
        let (at, len) = (self.via_at, self.bytes.len());
        let insert = NAME.len() + via.len() + 2;
        self.bytes.resize(len + insert, 0);
        self.bytes.copy_within(at..len, at + insert);
        let line = &mut self.bytes[at..at + insert];
        line[..NAME.len()].copy_from_slice(NAME);
        line[NAME.len()..insert - 2].copy_from_slice(via);
        line[insert - 2..].copy_from_slice(b"\r\n");
        self.bytes
    }

    /// The message without a Via, as bytes (for logs and tests).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parsed back into a [`Request`] without a Via, for tests and
    /// diagnostics (the parser insists on a Via, so one is put in and
    /// taken out again).
    pub fn to_request(&self) -> Request {
        let wire = self.encode_with_via(b"SIP/2.0/UDP invalid;branch=z9hG4bKx");
        match sip::parse::parse_datagram(Bytes::from(wire)) {
            Ok(sip::Message::Request(mut req)) => {
                req.headers.remove(HeaderName::Via);
                req
            }
            other => panic!("a NOTIFY we built does not parse: {other:?}"),
        }
    }
}

/// Builds the NOTIFY carrying CSeq `cseq` (a BENOTIFY when `benotify`):
/// `body` when there is one, and
/// `etag` as SIP-ETag (RFC 5839 §4.2: also on a NOTIFY whose body was
/// suppressed, so the watcher knows its copy is current).
///
/// RFC 3261 §12.2.1, RFC 6665 §4.2.2: Request-URI = the remote target,
/// Route = the route set, From = our side with our tag, To = the watcher's
/// From with its tag, the dialog's Call-ID. Headers in this order: Route,
/// From, To, Call-ID, CSeq, Contact, Event, Subscription-State, SIP-ETag,
/// Content-Type, Max-Forwards, Content-Length.
pub fn build<F>(
    sub: &Subscription<F>,
    cseq: u32,
    now: SystemTime,
    body: Option<&Body>,
    etag: Option<&str>,
    benotify: bool,
) -> Notify {
    let method: &[u8] = if benotify { b"BENOTIFY" } else { b"NOTIFY" };
    let body_bytes: &[u8] = body.map_or(&[], |b| &b.bytes);
    let routes: usize = sub.route_set.iter().map(|r| r.len() + 9).sum();
    let key: &str = std::borrow::Borrow::borrow(&sub.key);
    // Names, separators and numbers take well under 256 bytes; the other
    // 128 are for the Via the runtime puts in (`into_wire_with_via`).
    let capacity = 256
        + 128
        + sub.remote_target.len()
        + routes
        + sub.local_party.len()
        + sub.remote_party.len()
        + key.len()
        + sub.contact.len()
        + etag.map_or(0, str::len)
        + body_bytes.len();
    let mut out = Vec::with_capacity(capacity);
    // The constant text between the dialog's parts is written in as few
    // pieces as it takes (a header's end, the next one's name and the
    // punctuation before its value in one literal): a NOTIFY is mostly
    // short pieces, and copying each of a variable-length list on its own
    // was about a tenth of the server's instructions per NOTIFY. The
    // literals are the canonical names (`HeaderName::as_str`; a test
    // holds them to it).
    put(
        &mut out,
        &[method, b" ", sub.remote_target.as_bytes(), b" SIP/2.0\r\n"],
    );
    let via_at = out.len();
    for route in &sub.route_set {
        put(&mut out, &[b"Route: ", route.as_bytes(), b"\r\n"]);
    }
    let (call_id, local_tag, _) = sub.key.parts();
    put(
        &mut out,
        &[
            b"From: <",
            sub.local_party.as_bytes(),
            b">;tag=",
            local_tag.as_bytes(),
            b"\r\nTo: ",
            sub.remote_party.as_bytes(),
            b"\r\nCall-ID: ",
            call_id.as_bytes(),
            b"\r\nCSeq: ",
        ],
    );
    decimal(&mut out, u64::from(cseq));
    let package: &[u8] = match sub.extra.as_deref() {
        Some(crate::subscription::Extra::Batch(b)) if b.capitalized_event => b"Presence",
        _ => sub.package.as_str().as_bytes(),
    };
    put(
        &mut out,
        &[
            b" ",
            method,
            b"\r\nContact: <",
            sub.contact.as_bytes(),
            b">\r\nEvent: ",
            package,
        ],
    );
    if let Some(id) = &sub.event_id {
        put(&mut out, &[b";id=", id.as_bytes()]);
    }
    // RFC 4662 §4: a standard client's list notifications require the
    // extension (the dialect's batches go without, as Lync sends them).
    let batched = matches!(
        sub.extra.as_deref(),
        Some(crate::subscription::Extra::Batch(_))
    );
    if batched && sub.format == crate::subscription::Format::Pidf {
        out.extend_from_slice(b"\r\nRequire: eventlist");
    }
    out.extend_from_slice(b"\r\nSubscription-State: ");
    sub.write_state_header(&mut out, now);
    if let Some(etag) = etag {
        put(&mut out, &[b"\r\nSIP-ETag: ", etag.as_bytes()]);
    }
    if let Some(body) = body {
        put(
            &mut out,
            &[b"\r\nContent-Type: ", body.content_type.as_bytes()],
        );
    }
    out.extend_from_slice(MAX_FORWARDS_THEN_LENGTH);
    decimal(&mut out, body_bytes.len() as u64);
    put(&mut out, &[b"\r\n\r\n", body_bytes]);
    debug_assert_eq!(out.capacity(), capacity, "the NOTIFY outgrew its estimate");
    Notify {
        bytes: out,
        via_at,
        benotify,
    }
}

fn memchr_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// Appends `n` in decimal, without `fmt` (every NOTIFY carries three or
/// four numbers).
pub(crate) use sip::encode::decimal;

/// The end of Subscription-State and the lines after it up to the
/// length's value: Max-Forwards is a constant ([`MAX_FORWARDS`], which a
/// test holds this to).
const MAX_FORWARDS_THEN_LENGTH: &[u8] = b"\r\nMax-Forwards: 70\r\nContent-Length: ";

/// Appends `parts` in order. Inlined into [`build`], so each literal
/// among them is a copy of known length, not a call.
#[inline(always)]
fn put(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for part in parts {
        out.extend_from_slice(part);
    }
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
    fn the_constant_lines_are_the_canonical_ones() {
        assert_eq!(
            MAX_FORWARDS_THEN_LENGTH,
            format!(
                "\r\n{}: {MAX_FORWARDS}\r\n{}: ",
                HeaderName::MaxForwards.as_str(),
                HeaderName::ContentLength.as_str()
            )
            .as_bytes()
        );
        // The other names are held to `HeaderName::as_str` by the
        // byte-for-byte test below and, for Require, by the list tests
        // (tests/engine_lists.rs).
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
        let n = build(&sub, 5, now, Some(&body), Some("e1"), false);
        let text = String::from_utf8(n.as_bytes().to_vec()).unwrap();
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
            "Max-Forwards: 70\r\n",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
        assert!(text.ends_with("\r\n\r\n<presence/>"));
    }

    /// The builder before the NOTIFY was written straight into one buffer
    /// (a `Request` of owned header values, the remote target parsed per
    /// NOTIFY, Max-Forwards added by the runtime), kept as the reference
    /// the new one must match byte for byte.
    fn reference<F>(
        sub: &Subscription<F>,
        cseq: u32,
        now: SystemTime,
        body: Option<Body>,
        etag: Option<&str>,
    ) -> Request {
        use sip::{Headers, Method};
        let uri = Uri::parse_str(&sub.remote_target).unwrap();
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
        // What `presenced::outbound::stamp` added.
        headers.push_front(Header::new(HeaderName::Via, VIA));
        headers.push(Header::new(HeaderName::MaxForwards, "70"));
        Request {
            method: Method::Notify,
            uri,
            headers,
            body: bytes,
        }
    }

    const VIA: &str = "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc;rport";

    /// Dialogs with and without routes, event ids, states and bodies: the
    /// bytes are what the old builder produced.
    #[test]
    fn matches_the_request_builder_byte_for_byte() {
        let heads = [
            SUB.to_owned(),
            SUB.replace("Record-Route: <sip:p2.example.com;lr>\n", "")
                .replace("Record-Route: <sip:p1.example.com;lr>\n", "")
                .replace("Event: presence;id=3", "Event: presence"),
            SUB.replace("Call-ID: c1", "Call-ID: a84b4c76e66710@pc33.atlanta.com")
                .replace("tag=b1", "tag=1928301774;x=y")
                .replace(
                    "Contact: <sip:bob@192.0.2.1:5070>",
                    "Contact: <sips:bob@[2001:db8::1]:5071;transport=tls;ob>",
                ),
            SUB.replace("Event: presence;id=3", "Event: presence.winfo"),
        ];
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let body = Body {
            content_type: "application/pidf+xml",
            bytes: Bytes::from_static(b"<presence>\r\n</presence>"),
        };
        let states = [
            SubState::Active,
            SubState::Pending,
            SubState::Terminated(crate::subscription::Reason::Noresource),
        ];
        for head in &heads {
            let s = SubscribeRequest::parse(&request(head)).unwrap();
            for (i, state) in states.into_iter().enumerate() {
                let mut sub = Subscription::new(
                    &s,
                    "n1x",
                    s.remote_target.clone().unwrap(),
                    "sip:192.0.2.9:5060;transport=tcp".into(),
                    state,
                    3600,
                    (),
                    false,
                    now,
                );
                sub.local_party = "sip:alice@example.com".into();
                let cseq = [1, 999, 2_147_483_647][i];
                for (body, etag) in [
                    (Some(body.clone()), Some("e-1")),
                    (None, Some("e-2")),
                    (None, None),
                ] {
                    let old = reference(&sub, cseq, now, body.clone(), etag).encode();
                    let notify = build(&sub, cseq, now, body.as_ref(), etag, false);
                    let new = notify.encode_with_via(VIA.as_bytes());
                    let capacity = notify.bytes.capacity();
                    let in_place = notify.into_wire_with_via(VIA.as_bytes());
                    assert_eq!(in_place, new, "in place = copied");
                    assert_eq!(in_place.capacity(), capacity, "no reallocation");
                    assert_eq!(
                        String::from_utf8(new).unwrap(),
                        String::from_utf8(old).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn parses_back_without_a_via() {
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
        let req = build(&sub, 2, now, None, None, false).to_request();
        assert_eq!(req.method, sip::Method::Notify);
        assert!(req.headers.get(HeaderName::Via).is_none());
        assert_eq!(req.headers.value(HeaderName::CallId).unwrap(), "c1");
    }
}
