//! Requests and responses (RFC 3261 §7).
//!
//! A message owns its header list and shares the receive buffer through
//! `Bytes` slices, so it can move between tasks without lifetimes and without
//! copying the wire text. Typed views of headers are computed on demand by
//! the accessors here and in [`crate::typed`].

use bytes::Bytes;

use crate::header::{Header, HeaderName, Headers};
use crate::method::Method;
use crate::typed::{CSeq, NameAddr, TypedError, Via};
use crate::uri::Uri;

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method of the request line.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Header fields in wire order.
    pub headers: Headers,
    /// The body (empty when there is none).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100–699.
    pub status: u16,
    /// Reason phrase as received (may be empty or UTF-8).
    pub reason: Bytes,
    /// Header fields in wire order.
    pub headers: Headers,
    /// The body (empty when there is none).
    pub body: Bytes,
}

/// Either kind of message, as the parser returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The header list of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The body of either kind.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }
}

/// Accessors for the headers every message must carry (RFC 3261 §8.1.1).
/// They re-parse on each call; the parser has already validated them, so on
/// a parsed message they only fail if a caller edited the headers. Each
/// reads no more than it returns: the top Via without the Vias under it,
/// a tag without the URI it follows.
pub trait HeaderAccess {
    /// The header list.
    fn header_list(&self) -> &Headers;

    /// The topmost Via value, which names the transaction (RFC 3261 §17.2.3).
    fn top_via(&self) -> Result<Via, TypedError> {
        Via::parse(&top_via_value(self.header_list())?)
    }

    /// The topmost Via value's text, for readers that scan it
    /// ([`crate::typed::SentBy::of`], [`Via::branch_at`]) instead of
    /// parsing it whole.
    fn top_via_text(&self) -> Result<Bytes, TypedError> {
        top_via_value(self.header_list())
    }

    /// The branch of the topmost Via (raw text, as [`Via::branch`] has
    /// it), read by [`Via::branch_of`]'s scan.
    fn top_via_branch(&self) -> Result<Option<Bytes>, TypedError> {
        Via::branch_of(&top_via_value(self.header_list())?)
    }

    /// The From tag, read by [`NameAddr::tag_of`]'s scan; `None` when the
    /// From has none.
    fn header_from_tag(&self) -> Result<Option<Bytes>, TypedError> {
        single(self.header_list(), HeaderName::From).and_then(|v| NameAddr::tag_of(&v))
    }

    /// The From's URI alone, read by [`NameAddr::uri_of`].
    fn header_from_uri(&self) -> Result<Uri, TypedError> {
        single(self.header_list(), HeaderName::From).and_then(|v| NameAddr::uri_of(&v))
    }

    /// The To tag, read by [`NameAddr::tag_of`]'s scan; `None` outside a
    /// dialog.
    fn header_to_tag(&self) -> Result<Option<Bytes>, TypedError> {
        single(self.header_list(), HeaderName::To).and_then(|v| NameAddr::tag_of(&v))
    }

    /// All Via values in order.
    fn vias(&self) -> Result<Vec<Via>, TypedError> {
        self.header_list()
            .values(HeaderName::Via)
            .map(|v| Via::parse(&v))
            .collect()
    }

    /// The From header.
    fn header_from(&self) -> Result<NameAddr, TypedError> {
        single(self.header_list(), HeaderName::From).and_then(|v| NameAddr::parse(&v))
    }

    /// The To header.
    fn header_to(&self) -> Result<NameAddr, TypedError> {
        single(self.header_list(), HeaderName::To).and_then(|v| NameAddr::parse(&v))
    }

    /// The Call-ID.
    fn call_id(&self) -> Result<Bytes, TypedError> {
        single(self.header_list(), HeaderName::CallId)
    }

    /// The CSeq header.
    fn cseq(&self) -> Result<CSeq, TypedError> {
        single(self.header_list(), HeaderName::CSeq).and_then(|v| CSeq::parse(&v))
    }

    /// Whether the body is `kind/subtype` (media types compare without
    /// regard to case, RFC 3261 §7.3.1): what a handler that serves one
    /// body type asks before reading it. False without a readable
    /// Content-Type.
    fn content_type_is(&self, kind: &str, subtype: &str) -> bool {
        self.header_list()
            .value(HeaderName::ContentType)
            .and_then(|v| crate::typed::ContentType::parse(v).ok())
            .is_some_and(|c| c.matches(kind, subtype))
    }
}

/// The first element of the first Via line (compact `v:` lines included:
/// the parser names them Via).
fn top_via_value(h: &Headers) -> Result<Bytes, TypedError> {
    let v = h
        .value(HeaderName::Via)
        .ok_or(TypedError::Missing(HeaderName::Via))?;
    let (a, b) = crate::grammar::first_of_list(v)
        .map_err(|_| TypedError::Invalid(HeaderName::Via, "unbalanced quotes or brackets"))?;
    Ok(v.slice(a..b))
}

fn single(h: &Headers, name: HeaderName) -> Result<Bytes, TypedError> {
    h.value(name).cloned().ok_or(TypedError::Missing(name))
}

impl HeaderAccess for Request {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl HeaderAccess for Response {
    fn header_list(&self) -> &Headers {
        &self.headers
    }
}

impl Response {
    /// Builds a response to `req` as a UAS or stateless server must
    /// (RFC 3261 §8.2.6.2): Via, From, Call-ID and CSeq copied, To copied and
    /// given `to_tag` if it has none and the status is above 100. The reason
    /// phrase is the standard one.
    pub fn to_request(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for h in req.headers.iter() {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    headers.push(h.clone())
                }
                HeaderName::To => {
                    let needs_tag = status > 100
                        && to_tag.is_some()
                        && NameAddr::tag_of(&h.value).is_ok_and(|t| t.is_none());
                    match (needs_tag, to_tag) {
                        (true, Some(tag)) => {
                            let mut v = Vec::with_capacity(h.value.len() + 5 + tag.len());
                            v.extend_from_slice(&h.value);
                            v.extend_from_slice(b";tag=");
                            v.extend_from_slice(tag.as_bytes());
                            headers.push(Header {
                                value: Bytes::from(v),
                                ..h.clone()
                            });
                        }
                        _ => headers.push(h.clone()),
                    }
                }
                HeaderName::Timestamp if status == 100 => headers.push(h.clone()),
                _ => {}
            }
        }
        Response {
            status,
            reason: Bytes::from_static(reason_phrase(status).as_bytes()),
            headers,
            body: Bytes::new(),
        }
    }

    /// Replaces the reason phrase, for answers that say what was wrong.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Response {
        self.reason = Bytes::from(reason.into());
        self
    }

    /// The response class: 1 for provisional, 2 for success, and so on.
    pub fn class(&self) -> u16 {
        self.status / 100
    }
}

/// The standard reason phrase of a status code (RFC 3261 §21 and the event,
/// publication and conditional-notification RFCs).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> Request {
        let text = format!(
            "SERVICE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 SERVICE\r\n{extra}\r\n"
        );
        match crate::parse::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    /// The scanning accessors read what the parsing ones read, from every
    /// form the top Via and the tags come in.
    #[test]
    fn scans_agree_with_the_typed_parse() {
        for (via, from, to) in [
            ("Via: SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bKa, SIP/2.0/UDP p;branch=z9hG4bKb", "<sip:a@example.com>;tag=1", "<sip:a@example.com>"),
            ("v: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKc\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKd", "\"A, B\" <sip:a@example.com>;tag=2", "sip:b@example.com;tag=3"),
            ("Via: SIP / 2.0 / UDP host ; received=192.0.2.1 ; branch = z9hG4bKe", "sip:a@example.com", "B <sip:b@example.com;tag=no>;tag=4"),
        ] {
            let r = request_with(via, from, to);
            let top = r.top_via().unwrap();
            assert_eq!(r.top_via_branch().unwrap().as_ref(), top.branch(), "{via}");
            assert_eq!(r.header_from_tag().unwrap(), r.header_from().unwrap().tag(), "{from}");
            assert_eq!(r.header_from_uri().unwrap(), r.header_from().unwrap().uri, "{from}");
            assert_eq!(r.header_to_tag().unwrap(), r.header_to().unwrap().tag(), "{to}");
        }
        let r = request_with(
            "v: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP p",
            "<sip:a@h>",
            "<sip:b@h>",
        );
        assert_eq!(r.top_via().unwrap().sent_by(), "h");
    }

    fn request_with(via: &str, from: &str, to: &str) -> Request {
        let text = format!(
            "SERVICE sip:a@example.com SIP/2.0\r\n{via}\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: c\r\nCSeq: 1 SERVICE\r\n\r\n"
        );
        match crate::parse::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_type_is_compares_without_case_and_needs_the_header() {
        let soap = request("Content-Type: application/SOAP+xml; charset=utf-8\r\n");
        assert!(soap.content_type_is("application", "soap+xml"));
        assert!(!soap.content_type_is("application", "pidf+xml"));
        assert!(!request("").content_type_is("application", "soap+xml"));
    }
}
