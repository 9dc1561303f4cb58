//! Reading a SUBSCRIBE: the event package, Accept, Expires and the dialog
//! parts, validated once so the engine's rules work on plain values.

use bytes::Bytes;
use sip::typed::{parse_delta, ContentType, Event, NameAddr};
use sip::{HeaderAccess, HeaderName, Request};

use super::{DialogKey, Format, Package};

/// Why a SUBSCRIBE cannot be acted on; each maps to one response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// A header is missing or malformed: 400 with this text.
    #[error("{0}")]
    Malformed(String),
    /// No Event header, or a package we do not serve: 489 with
    /// Allow-Events (RFC 6665 §8.3.2).
    #[error("Bad Event")]
    BadEvent,
    /// The Accept header excludes the package's body type: 406 with
    /// Accept (RFC 6665 §8.3.3).
    #[error("Not Acceptable: {0} required")]
    NotAcceptable(&'static str),
    /// The body's Content-Encoding is one we cannot undo: 415 with
    /// Accept-Encoding (RFC 3261 §21.4.13).
    #[error("Unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
}

impl SubscribeError {
    /// The response status.
    pub fn status(&self) -> u16 {
        match self {
            SubscribeError::Malformed(_) => 400,
            SubscribeError::BadEvent => 489,
            SubscribeError::NotAcceptable(_) => 406,
            SubscribeError::UnsupportedEncoding(_) => 415,
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> SubscribeError {
    SubscribeError::Malformed(e.to_string())
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a SUBSCRIBE says, read once and validated, so the engine's rules
/// work on plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The event package.
    pub package: Package,
    /// The body format its NOTIFYs carry.
    pub format: Format,
    /// The Event header's `id` parameter.
    pub event_id: Option<String>,
    /// The Expires header, if any.
    pub expires: Option<u64>,
    /// Call-ID.
    pub call_id: String,
    /// The watcher's tag.
    pub from_tag: String,
    /// Our tag, on an in-dialog SUBSCRIBE.
    pub to_tag: Option<String>,
    /// The From header value, which NOTIFYs carry as To.
    pub remote_party: String,
    /// The To URI, which NOTIFYs carry as From.
    pub local_party: String,
    /// The watcher's AOR.
    pub watcher: String,
    /// The presentity's key: the Request-URI's AOR (RFC 3856 §6.2).
    pub presentity: String,
    /// The Contact URI, the dialog's remote target.
    pub remote_target: Option<String>,
    /// The Record-Route values in order: the route set of a UAS
    /// (RFC 3261 §12.1.1).
    pub route_set: Vec<String>,
    /// The CSeq number.
    pub cseq: u32,
    /// RFC 5839 Suppress-If-Match.
    pub suppress_if_match: Option<String>,
    /// A batched subscription's body (`application/msrtc-adrl-categorylist+xml`):
    /// the resources to add or remove.
    pub batch: Option<crate::msrtc::batch::BatchSubscribe>,
    /// `Supported: ms-benotify`: updates may go as BENOTIFY.
    pub benotify: bool,
    /// `Supported: ms-piggyback-first-notify`: the first notification's
    /// body may ride in the 200.
    pub piggyback: bool,
    /// `Supported: eventlist` (RFC 4662 §4.1): the watcher takes RLMI
    /// notifications, so it may subscribe to a list URI.
    pub eventlist: bool,
    /// An RFC 5367 ad-hoc list (`application/resource-lists+xml` body):
    /// the URIs of its entries.
    pub recipient_list: Option<Vec<String>>,
    /// The User-Agent is liblinphone's (`Linphonec/5.1.65`,
    /// `LinphoneAndroid/…`): its list subscriptions need `Event: Presence`
    /// (see [`super::Batch`]).
    pub linphone: bool,
}

impl SubscribeRequest {
    /// Reads a SUBSCRIBE. The Event package is checked before anything
    /// else (489 wins over 406 and 400, as RFC 6665 §4.2.1.1 orders them).
    pub fn parse(req: &Request) -> Result<SubscribeRequest, SubscribeError> {
        let event = req
            .headers
            .value(HeaderName::Event)
            .ok_or(SubscribeError::BadEvent)?;
        let event = Event::parse(event).map_err(|_| SubscribeError::BadEvent)?;
        let package = Package::of_event(&event).ok_or(SubscribeError::BadEvent)?;
        let format = check_accept(req, package)?;
        let expires = match req.headers.value(HeaderName::Expires) {
            Some(v) => Some(parse_delta(HeaderName::Expires, v, u64::MAX).map_err(malformed)?),
            None => None,
        };
        let from = req.header_from().map_err(malformed)?;
        let to = req.header_to().map_err(malformed)?;
        let from_tag = from
            .tag()
            .ok_or_else(|| SubscribeError::Malformed("From has no tag".into()))?;
        let call_id = req.call_id().map_err(malformed)?;
        let cseq = req.cseq().map_err(malformed)?;
        let remote_target = match req.headers.value(HeaderName::Contact) {
            Some(v) => Some(
                NameAddr::parse_for(HeaderName::Contact, v)
                    .map_err(malformed)?
                    .uri
                    .to_string(),
            ),
            None => None,
        };
        let route_set = req
            .headers
            .values(HeaderName::RecordRoute)
            .map(|v| text(&v))
            .collect();
        Ok(SubscribeRequest {
            package,
            format,
            event_id: event.id().map(|b| text(&b)),
            expires,
            call_id: text(&call_id),
            from_tag: text(&from_tag),
            to_tag: to.tag().map(|t| text(&t)),
            remote_party: req
                .headers
                .value(HeaderName::From)
                .map(text)
                .unwrap_or_default(),
            local_party: to.uri.to_string(),
            watcher: from.uri.aor(),
            presentity: req.uri.aor(),
            remote_target,
            route_set,
            cseq: cseq.seq,
            suppress_if_match: req.headers.value(HeaderName::SuppressIfMatch).map(text),
            batch: batch(req)?,
            benotify: supports(req, "ms-benotify"),
            piggyback: supports(req, "ms-piggyback-first-notify"),
            eventlist: supports(req, "eventlist"),
            recipient_list: recipient_list(req)?,
            linphone: req
                .headers
                .value(HeaderName::UserAgent)
                .is_some_and(|ua| ua.starts_with(b"Linphone")),
        })
    }

    /// The dialog this SUBSCRIBE belongs to, given our tag for it.
    pub fn key(&self, local_tag: &str) -> DialogKey {
        DialogKey::new(&self.call_id, local_tag, &self.from_tag)
    }
}

/// An absent Accept means the package default (RFC 6665 §8.3.3); a
/// present one must list the package's type or a wildcard covering it.
/// Whether the SUBSCRIBE lists `tag` in a Supported header.
fn supports(req: &Request, tag: &str) -> bool {
    req.headers
        .values(HeaderName::Supported)
        .any(|t| t.eq_ignore_ascii_case(tag.as_bytes()))
}

/// A batched subscription's body, if the SUBSCRIBE carries one; a body
/// that does not read is a 400 naming the element.
fn batch(req: &Request) -> Result<Option<crate::msrtc::batch::BatchSubscribe>, SubscribeError> {
    if !req.content_type_is("application", "msrtc-adrl-categorylist+xml") {
        return Ok(None);
    }
    crate::msrtc::batch::parse(&req.body, &crate::XmlLimits::DEFAULT)
        .map(Some)
        .map_err(|e| SubscribeError::Malformed(format!("Bad batch subscription: {e}")))
}

/// An RFC 5367 list body, if the SUBSCRIBE carries one; one that does
/// not read is a 400 saying why.
fn recipient_list(req: &Request) -> Result<Option<Vec<String>>, SubscribeError> {
    if !req.content_type_is("application", "resource-lists+xml") {
        return Ok(None);
    }
    let limits = crate::XmlLimits::DEFAULT;
    let body = decoded(req, limits.max_document_size)?;
    crate::resource_lists::entries(&body, &limits)
        .map(Some)
        .map_err(|e| SubscribeError::Malformed(format!("Bad resource list: {e}")))
}

/// The Content-Encodings a SUBSCRIBE body may have (RFC 3261 §20.12).
pub const ACCEPT_ENCODING: &str = "deflate, identity";

/// The body with its Content-Encoding undone: `deflate` (zlib, RFC 1950,
/// what liblinphone means by it when it compresses its list) inflated to
/// at most `limit` bytes, so a small body cannot inflate into a large one.
fn decoded(req: &Request, limit: usize) -> Result<std::borrow::Cow<'_, [u8]>, SubscribeError> {
    let Some(encoding) = req.headers.value(HeaderName::ContentEncoding) else {
        return Ok(std::borrow::Cow::Borrowed(&req.body));
    };
    let encoding = text(encoding).trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(&req.body)),
        "deflate" => miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&req.body, limit)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| {
                SubscribeError::Malformed(format!(
                    "Bad resource list: deflate: {:?} (at most {limit} bytes inflated)",
                    e.status
                ))
            }),
        _ => Err(SubscribeError::UnsupportedEncoding(encoding)),
    }
}

/// The format the Accept values choose (RFC 6665 §8.3.3): the package's
/// preferred format the watcher accepts; without Accept, the package's
/// default (the last offered: PIDF for presence).
fn check_accept(req: &Request, package: Package) -> Result<Format, SubscribeError> {
    let offered = Format::offered(package);
    let default = offered[offered.len() - 1];
    let accepted: Vec<ContentType> = req
        .headers
        .values(HeaderName::Accept)
        .filter_map(|v| ContentType::parse(&v).ok())
        .collect();
    if req.headers.values(HeaderName::Accept).next().is_none() {
        return Ok(default);
    }
    let accepts = |format: &Format, exact: bool| {
        let wanted = format.content_type();
        let (kind, subtype) = wanted.split_once('/').unwrap_or((wanted, ""));
        accepted
            .iter()
            .filter(|c| !exact || (&c.subtype[..] != b"*" && &c.kind[..] != b"*"))
            .any(|c| c.matches(kind, subtype))
    };
    // A format named exactly wins; a wildcard (`application/*`) says
    // nothing about the dialect, so it gets the package's default.
    offered
        .iter()
        .copied()
        .find(|format| accepts(format, true))
        .or_else(|| accepts(&default, false).then_some(default))
        .ok_or(SubscribeError::NotAcceptable(default.content_type()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parses a test request written with bare LF line ends.
    pub(crate) fn request(text: &str) -> Request {
        match sip::parse::parse_datagram(Bytes::from(text.replace('\n', "\r\n"))) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    /// A SUBSCRIBE with every part a dialog keeps.
    pub(crate) const SUB: &str = "SUBSCRIBE sip:alice@Example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
From: \"Bob\" <sip:bob@example.com>;tag=b1
To: <sip:alice@example.com>
Call-ID: c1
CSeq: 7 SUBSCRIBE
Contact: <sip:bob@192.0.2.1:5070;transport=udp>
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>
Event: presence;id=3
Expires: 600
Max-Forwards: 70
Content-Length: 0

";

    #[test]
    fn parse_reads_dialog_parts() {
        let s = SubscribeRequest::parse(&request(SUB)).unwrap();
        assert_eq!(s.package, Package::Presence);
        assert_eq!(s.event_id.as_deref(), Some("3"));
        assert_eq!(s.expires, Some(600));
        assert_eq!(s.presentity, "sip:alice@example.com");
        assert_eq!(s.watcher, "sip:bob@example.com");
        assert_eq!(s.remote_party, "\"Bob\" <sip:bob@example.com>;tag=b1");
        assert_eq!(s.local_party, "sip:alice@example.com");
        assert_eq!(
            s.remote_target.as_deref(),
            Some("sip:bob@192.0.2.1:5070;transport=udp")
        );
        assert_eq!(
            s.route_set,
            ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
        );
        assert_eq!((s.cseq, s.to_tag), (7, None));
    }

    #[test]
    fn parse_rejects_bad_event_and_accept() {
        let e = SubscribeRequest::parse(&request(&SUB.replace("presence;id=3", "dialog")));
        assert_eq!(e.unwrap_err().status(), 489);
        // Event types compare byte by byte, as the router and PUBLISH do.
        let e = SubscribeRequest::parse(&request(&SUB.replace("presence;id=3", "Presence")));
        assert_eq!(e.unwrap_err().status(), 489);
        let no_event = SUB.replace("Event: presence;id=3\n", "");
        assert_eq!(
            SubscribeRequest::parse(&request(&no_event))
                .unwrap_err()
                .status(),
            489
        );
        let accept = SUB.replace("Expires: 600", "Accept: text/plain\nExpires: 600");
        assert_eq!(
            SubscribeRequest::parse(&request(&accept))
                .unwrap_err()
                .status(),
            406
        );
        let wild = SUB.replace("Expires: 600", "Accept: application/*\nExpires: 600");
        assert!(SubscribeRequest::parse(&request(&wild)).is_ok());
        let winfo = SUB.replace("presence;id=3", "presence.winfo");
        let winfo = winfo.replace("Expires: 600", "Accept: application/pidf+xml\nExpires: 600");
        assert_eq!(
            SubscribeRequest::parse(&request(&winfo))
                .unwrap_err()
                .status(),
            406
        );
    }
}
