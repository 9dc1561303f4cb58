//! The message parser (RFC 3261 §7, §20, §25).
//!
//! One pass splits the start line and header lines, a second validates the
//! headers this crate models, so that a message that leaves here is one a
//! server can act on without further checks. Values are slices of the input
//! `Bytes`; the only allocations are the header vector, URI parameter lists
//! and the rare unfolded (multi-line) header value.

use bytes::Bytes;

use crate::error::ParseError;
use crate::grammar;
use crate::header::{Header, HeaderName, Headers};
use crate::limits::Limits;
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::typed::{
    self, CSeq, ContentType, Event, NameAddr, RetryAfter, SubscriptionState, TypedError, Via,
    Warning,
};
use crate::uri::Uri;

pub mod plain_response;

/// How the message was delimited, which decides what Content-Length means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: the body is the rest of the datagram, cut to
    /// Content-Length when that is shorter (RFC 3261 §18.3).
    Datagram,
    /// A stream transport that already cut the message by Content-Length.
    Stream,
}

/// Parses one complete message.
pub fn parse(buf: Bytes, framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
    let message = frame(buf, framing, limits)?;
    validate(&message)?;
    Ok(message)
}

/// Frames one complete message (start line, header lines, body) without
/// validating the headers [`parse`] checks: for a peer that reads a few
/// headers of messages it trusts and must not spend a validation on each
/// of them — a load generator reading a server's NOTIFYs, where the
/// validation was over half of its work. Typed accessors still check
/// what they read.
pub fn parse_unvalidated(
    buf: Bytes,
    framing: Framing,
    limits: &Limits,
) -> Result<Message, ParseError> {
    frame(buf, framing, limits)
}

/// What [`parse`] and [`parse_unvalidated`] share.
fn frame(buf: Bytes, framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
    if buf.len() > limits.max_message_size {
        return Err(ParseError::MessageTooLarge {
            limit: limits.max_message_size,
        });
    }
    let mut lines = Lines {
        buf: &buf,
        pos: skip_leading_crlf(&buf),
    };
    let start = lines.next_line().ok_or(ParseError::Incomplete)?;
    if start.1 - start.0 > limits.max_header_line {
        return Err(ParseError::HeaderLineTooLong {
            limit: limits.max_header_line,
        });
    }
    let headers = parse_headers(&buf, &mut lines, limits)?;
    let body = body(&buf, lines.pos, &headers, framing, limits)?;
    let line = &buf[start.0..start.1];
    if has_control(line) {
        return Err(ParseError::StartLine("start line: control character"));
    }
    let message = if line.starts_with(b"SIP/") {
        Message::Response(parse_status_line(&buf, start, headers, body)?)
    } else {
        Message::Request(parse_request_line(&buf, start, headers, body)?)
    };
    Ok(message)
}

/// Parses a UDP datagram with the default limits.
pub fn parse_datagram(buf: Bytes) -> Result<Message, ParseError> {
    parse(buf, Framing::Datagram, &Limits::DEFAULT)
}

fn skip_leading_crlf(buf: &[u8]) -> usize {
    let mut i = 0;
    while i < buf.len() && (buf[i] == b'\r' || buf[i] == b'\n') {
        i += 1;
    }
    i
}

/// Iterates over lines ending in CRLF (a bare LF is tolerated, as every
/// deployed stack does), returning `(start, end)` without the terminator.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Lines<'_> {
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let rest = &self.buf[self.pos..];
        let nl = memchr::memchr(b'\n', rest)?;
        let start = self.pos;
        let mut end = start + nl;
        if end > start && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        self.pos = start + nl + 1;
        Some((start, end))
    }

    fn peek_is_fold(&self) -> bool {
        matches!(self.buf.get(self.pos), Some(b' ' | b'\t'))
    }
}

fn parse_headers(
    buf: &Bytes,
    lines: &mut Lines<'_>,
    limits: &Limits,
) -> Result<Headers, ParseError> {
    let mut headers = Headers::new();
    loop {
        let (a, b) = lines.next_line().ok_or(ParseError::Incomplete)?;
        if a == b {
            return Ok(headers);
        }
        if b - a > limits.max_header_line {
            return Err(ParseError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let line = &buf[a..b];
        if line[0] == b' ' || line[0] == b'\t' {
            // A continuation line with no header before it.
            return Err(ParseError::HeaderLine);
        }
        let colon = memchr::memchr(b':', line).ok_or(ParseError::HeaderLine)?;
        let (ns, ne) = grammar::trim(line, 0, colon);
        if ns != 0 || !grammar::is_token_str(&line[ns..ne]) {
            return Err(ParseError::HeaderLine);
        }
        let raw_name = buf.slice(a..a + ne);
        let name = HeaderName::from_bytes(&raw_name);
        if value_has_control(&line[colon + 1..]) {
            return Err(TypedError::Invalid(name, "control character in value").into());
        }
        let (vs, ve) = grammar::trim(line, colon + 1, line.len());
        let value = if lines.peek_is_fold() {
            unfold(buf, lines, &line[vs..ve], limits)?
        } else {
            buf.slice(a + vs..a + ve)
        };
        headers.push(Header {
            name,
            raw_name,
            value,
        });
    }
}

/// True when a value holds a control character other than HTAB; a bare CR
/// or NUL in a header would change the message's meaning when forwarded.
fn has_control(s: &[u8]) -> bool {
    // Branch-free within each chunk so the compiler can vectorise it: a
    // short-circuiting `any` walked every header byte by byte.
    s.chunks(32).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
        })
    })
}

fn value_has_control(s: &[u8]) -> bool {
    // Almost every value has no control character at all: that is one
    // vectorised pass, where the quote-aware walk below costs several
    // instructions a byte on every header of every message.
    if !has_control(s) {
        return false;
    }
    // A quoted-pair inside a quoted string may escape any byte up to 0x7F
    // except CR and LF (RFC 3261 §25.1), so NUL, BEL and DEL are legal
    // there (RFC 4475 intmeth); everywhere else they are not.
    let mut quoted = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if quoted && b == b'\\' {
            match s.get(i + 1) {
                Some(&n) if n <= 0x7f && n != b'\r' && n != b'\n' => {
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        if b == b'"' {
            quoted = !quoted;
        } else if (b < 0x20 && b != b'\t') || b == 0x7f {
            return true;
        }
        i += 1;
    }
    false
}

/// Joins a folded header value into one line, each fold becoming a single
/// space (RFC 3261 §7.3.1). This is the one place a value is copied.
fn unfold(
    buf: &Bytes,
    lines: &mut Lines<'_>,
    first: &[u8],
    limits: &Limits,
) -> Result<Bytes, ParseError> {
    let mut value = first.to_vec();
    while lines.peek_is_fold() {
        let (a, b) = lines.next_line().ok_or(ParseError::Incomplete)?;
        let (s, e) = grammar::trim(buf, a, b);
        if value_has_control(&buf[s..e]) {
            return Err(ParseError::HeaderLine);
        }
        if s < e {
            if !value.is_empty() {
                value.push(b' ');
            }
            value.extend_from_slice(&buf[s..e]);
        }
        if value.len() > limits.max_header_line {
            return Err(ParseError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
    }
    Ok(Bytes::from(value))
}

/// The one Content-Length of a message, if any (RFC 4475 mcl01 has two).
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for h in headers.all(HeaderName::ContentLength) {
        if found.is_some() {
            return Err(TypedError::Multiple(HeaderName::ContentLength).into());
        }
        let n = typed::parse_delta(HeaderName::ContentLength, &h.value, u64::from(u32::MAX))?;
        found = Some(n as usize);
    }
    Ok(found)
}

fn body(
    buf: &Bytes,
    at: usize,
    headers: &Headers,
    framing: Framing,
    limits: &Limits,
) -> Result<Bytes, ParseError> {
    let available = buf.len() - at;
    let declared = content_length(headers)?;
    let len = match (declared, framing) {
        (Some(n), _) if n > available => {
            return Err(ParseError::BodyTruncated {
                declared: n,
                available,
            })
        }
        (Some(n), _) => n,
        (None, Framing::Datagram) => available,
        (None, Framing::Stream) => 0,
    };
    if len > limits.max_body {
        return Err(ParseError::BodyTooLarge {
            limit: limits.max_body,
        });
    }
    Ok(buf.slice(at..at + len))
}

fn parse_version(v: &[u8]) -> Result<(), ParseError> {
    // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; "SIP" is case-insensitive.
    if v.len() < 7 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::StartLine("SIP version"));
    }
    let rest = &v[4..];
    let dot = memchr::memchr(b'.', rest).ok_or(ParseError::StartLine("SIP version"))?;
    let (major, minor) = (&rest[..dot], &rest[dot + 1..]);
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !digits(major) || !digits(minor) {
        return Err(ParseError::StartLine("SIP version"));
    }
    if major.iter().skip_while(|&&b| b == b'0').ne(b"2".iter()) || minor.iter().any(|&b| b != b'0')
    {
        return Err(ParseError::Version);
    }
    Ok(())
}

fn parse_request_line(
    buf: &Bytes,
    (a, b): (usize, usize),
    headers: Headers,
    body: Bytes,
) -> Result<Request, ParseError> {
    let line = &buf[a..b];
    // Exactly one SP between the three elements (RFC 4475 lwsstart, trws, lwsruri).
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine("request line"))?;
    let sp2 = memchr::memrchr(b' ', line).ok_or(ParseError::StartLine("request line"))?;
    if sp1 == 0 || sp2 <= sp1 + 1 || sp2 + 1 == line.len() || line[sp1 + 1..sp2].contains(&b' ') {
        return Err(ParseError::StartLine("request line"));
    }
    let method =
        Method::from_bytes(buf.slice(a..a + sp1)).ok_or(ParseError::StartLine("request method"))?;
    parse_version(&line[sp2 + 1..])?;
    let uri = Uri::parse(buf.slice(a + sp1 + 1..a + sp2)).map_err(ParseError::RequestUri)?;
    if uri.headers().is_some() {
        return Err(ParseError::RequestUriHeaders);
    }
    Ok(Request {
        method,
        uri,
        headers,
        body,
    })
}

fn parse_status_line(
    buf: &Bytes,
    (a, b): (usize, usize),
    headers: Headers,
    body: Bytes,
) -> Result<Response, ParseError> {
    let line = &buf[a..b];
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine("status line"))?;
    parse_version(&line[..sp1])?;
    let rest = &line[sp1 + 1..];
    let code_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let code = &rest[..code_end];
    if code.len() != 3 {
        return Err(ParseError::Status);
    }
    let status = grammar::parse_decimal(code, 699)
        .filter(|&c| c >= 100)
        .ok_or(ParseError::Status)? as u16;
    let reason_start = (a + sp1 + 1 + code_end + 1).min(b);
    Ok(Response {
        status,
        reason: buf.slice(reason_start..b),
        headers,
        body,
    })
}

/// Checks the headers this crate models, so errors name the header at fault.
/// Checks the headers whose grammar this crate knows.
///
/// Requests are checked whole: every known header is parsed, so a handler
/// never meets a malformed one. Responses are checked for what finds their
/// transaction and dialog — the top Via, CSeq, Call-ID, one From and one
/// To — and the rest, name-addr headers included (From and To's URIs,
/// Contact, Record-Route), is read when someone asks, through accessors
/// that return an error. A server receives one 200 per NOTIFY it sends,
/// and parsing the URIs of a response nobody reads was a third of taking
/// it (`crates/bench/README.md`, "Fan-out and one watcher").
fn validate(message: &Message) -> Result<(), ParseError> {
    let headers = message.headers();
    let mut seen = Seen {
        response: matches!(message, Message::Response(_)),
        ..Seen::default()
    };
    for h in headers.iter() {
        validate_header(h, &mut seen)?;
    }
    for (name, count) in [
        (HeaderName::Via, seen.via),
        (HeaderName::From, seen.from),
        (HeaderName::To, seen.to),
        (HeaderName::CallId, seen.call_id),
        (HeaderName::CSeq, seen.cseq),
    ] {
        if count == 0 {
            return Err(TypedError::Missing(name).into());
        }
    }
    if let Message::Request(req) = message {
        let cseq = headers
            .value(HeaderName::CSeq)
            .map(CSeq::parse)
            .transpose()?;
        if cseq.is_some_and(|c| c.method != req.method) {
            if matches!(req.method, Method::Extension(_)) {
                return Err(ParseError::UnknownMethodCSeqMismatch);
            }
            return Err(ParseError::CSeqMismatch);
        }
    }
    Ok(())
}

#[derive(Default)]
struct Seen {
    /// Checking a response: see [`validate`].
    response: bool,
    via: usize,
    from: usize,
    to: usize,
    call_id: usize,
    cseq: usize,
    /// The headers seen that may appear at most once, one bit per name (a
    /// set without an allocation per message).
    once: u128,
}

impl Seen {
    /// Counts a header that may appear at most once.
    fn once(&mut self, name: HeaderName) -> Result<(), TypedError> {
        // A fieldless enum of fewer than 128 names (checked below).
        let bit = 1u128 << (name as u32);
        if self.once & bit != 0 {
            return Err(TypedError::Multiple(name));
        }
        self.once |= bit;
        Ok(())
    }
}

// `Seen::once` keeps one bit per header name.
const _: () = assert!((HeaderName::Other as u32) < 128);

const U32: u64 = u32::MAX as u64;

fn validate_header(h: &Header, seen: &mut Seen) -> Result<(), TypedError> {
    let v = &h.value;
    match h.name {
        // A response's transaction is found by its top Via alone; the
        // others are the requester's business (RFC 3261 §8.1.3.3, §17.1.3).
        HeaderName::Via if seen.response => {
            if seen.via == 0 {
                let parts = grammar::split_commas(v)
                    .map_err(|_| TypedError::Invalid(h.name, "unbalanced quotes or brackets"))?;
                match parts.first() {
                    Some(&(a, b)) if a < b => Via::parse(&v.slice(a..b))?,
                    _ => return Err(TypedError::Invalid(h.name, "empty list element")),
                };
            }
            seen.via += 1;
        }
        HeaderName::Via => {
            for part in split(h)? {
                Via::parse(&part)?;
                seen.via += 1;
            }
        }
        HeaderName::From | HeaderName::To => {
            if !seen.response {
                NameAddr::parse_for(h.name, v)?;
            }
            if h.name == HeaderName::From {
                seen.from += 1;
            } else {
                seen.to += 1;
            }
            seen.once(h.name)?;
        }
        HeaderName::CallId => {
            call_id(v)?;
            seen.call_id += 1;
            seen.once(h.name)?;
        }
        HeaderName::CSeq => {
            CSeq::parse(v)?;
            seen.cseq += 1;
            seen.once(h.name)?;
        }
        HeaderName::MaxForwards => {
            typed::parse_delta(h.name, v, 255)?;
            seen.once(h.name)?;
        }
        HeaderName::Expires | HeaderName::MinExpires => {
            typed::parse_delta(h.name, v, U32)?;
            seen.once(h.name)?;
        }
        HeaderName::Contact
        | HeaderName::Route
        | HeaderName::RecordRoute
        | HeaderName::Path
        | HeaderName::ReplyTo
        | HeaderName::ReferTo
        | HeaderName::ReferredBy
            if seen.response => {}
        HeaderName::Contact if &v[..] != b"*" => {
            for part in split(h)? {
                let c = NameAddr::parse_for(h.name, &part)?;
                if let Some(e) = c.params.value("expires") {
                    typed::parse_delta(h.name, &e, U32)?;
                }
            }
        }
        HeaderName::Route | HeaderName::RecordRoute | HeaderName::Path => {
            for part in split(h)? {
                NameAddr::parse_for(h.name, &part)?;
            }
        }
        HeaderName::ReplyTo | HeaderName::ReferTo | HeaderName::ReferredBy => {
            NameAddr::parse_for(h.name, v)?;
        }
        HeaderName::ContentType => {
            ContentType::parse(v)?;
            seen.once(h.name)?;
        }
        HeaderName::Accept if !v.is_empty() => {
            for part in split(h)? {
                ContentType::parse(&part)
                    .map_err(|_| TypedError::Invalid(h.name, "malformed media range"))?;
            }
        }
        HeaderName::Require
        | HeaderName::ProxyRequire
        | HeaderName::Supported
        | HeaderName::Unsupported
        | HeaderName::Allow
        | HeaderName::AllowEvents
            if !v.is_empty() =>
        {
            for part in split(h)? {
                if !grammar::is_token_str(&part) {
                    return Err(TypedError::Invalid(h.name, "expected a list of tokens"));
                }
            }
        }
        HeaderName::Event => {
            Event::parse(v)?;
            seen.once(h.name)?;
        }
        HeaderName::SubscriptionState => {
            SubscriptionState::parse(v)?;
        }
        HeaderName::Date => {
            typed::parse_date(v)?;
        }
        HeaderName::RetryAfter => {
            RetryAfter::parse(v)?;
        }
        HeaderName::Warning => {
            for part in split(h)? {
                Warning::parse(&part)?;
            }
        }
        HeaderName::SipEtag | HeaderName::SipIfMatch | HeaderName::SuppressIfMatch => {
            if !grammar::is_token_str(v) {
                return Err(TypedError::Invalid(h.name, "entity-tag is not a token"));
            }
            seen.once(h.name)?;
        }
        _ => {}
    }
    Ok(())
}

fn split(h: &Header) -> Result<Vec<Bytes>, TypedError> {
    let parts = grammar::split_commas(&h.value)
        .map_err(|_| TypedError::Invalid(h.name, "unbalanced quotes or brackets"))?;
    parts
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                Err(TypedError::Invalid(h.name, "empty list element"))
            } else {
                Ok(h.value.slice(a..b))
            }
        })
        .collect()
}

/// callid = word [ "@" word ] (RFC 3261 §25.1).
fn call_id(v: &[u8]) -> Result<(), TypedError> {
    let bad = TypedError::Invalid(HeaderName::CallId, "not a word or word@word");
    let (left, right) = match memchr::memchr(b'@', v) {
        Some(at) => (&v[..at], Some(&v[at + 1..])),
        None => (v, None),
    };
    let word = |w: &[u8]| !w.is_empty() && w.iter().all(|&b| grammar::is_word(b));
    if !word(left) || right.is_some_and(|r| !word(r)) {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderAccess;

    fn req(text: &str) -> Result<Message, ParseError> {
        parse_datagram(Bytes::from(text.replace('\n', "\r\n")))
    }

    const OK: &str = "SUBSCRIBE sip:bob@example.com SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\n\
From: <sip:alice@example.com>;tag=a1\n\
To: <sip:bob@example.com>\n\
Call-ID: c1@127.0.0.1\n\
CSeq: 1 SUBSCRIBE\n\
Event: presence\n\
Expires: 600\n\
Content-Length: 0\n\n";

    /// A response is checked for what finds its transaction; a header
    /// nobody has read yet fails when read, not when received. The same
    /// header in a request is refused at once.
    #[test]
    fn a_response_is_checked_for_what_routes_it() {
        let response = "SIP/2.0 200 OK\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1, bad via\n\
From: <sip:alice@example.com>;tag=a1\n\
To: <not a uri>;tag=b1\n\
Call-ID: c1@127.0.0.1\n\
CSeq: 7 NOTIFY\n\
Contact: <:::>\n\
Content-Length: 0\n\n";
        let Message::Response(r) = req(response).expect("routable response") else {
            panic!("not a response")
        };
        assert_eq!(r.cseq().expect("cseq").seq, 7);
        assert!(r.top_via().expect("top via").branch().is_some());
        assert!(
            r.header_to().is_err(),
            "the To is read, and refused, on demand"
        );

        let bad_top = response.replace(
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1, bad via",
            "Via: nonsense",
        );
        assert!(req(&bad_top).is_err(), "the top Via finds the transaction");
        let no_to = response.replace("To: <not a uri>;tag=b1\n", "");
        assert!(req(&no_to).is_err(), "To is still required");

        let request = OK.replace("Expires: 600\n", "Contact: <:::>\n");
        assert!(req(&request).is_err(), "a request is checked whole");
    }

    #[test]
    fn parses_a_subscribe() {
        let Message::Request(r) = req(OK).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Subscribe);
        assert_eq!(r.uri.to_string(), "sip:bob@example.com");
        assert_eq!(r.headers.len(), 8);
        assert!(r.body.is_empty());
    }

    #[test]
    fn folded_and_compact_headers() {
        let text = OK
            .replace("Event: presence\n", "o:\n presence\n")
            .replace("Expires: 600", "Expires:\n\t600");
        let m = req(&text).unwrap();
        assert_eq!(m.headers().value(HeaderName::Event).unwrap(), "presence");
        assert_eq!(m.headers().value(HeaderName::Expires).unwrap(), "600");
    }

    #[test]
    fn errors_name_what_broke() {
        let cases = [
            (
                OK.replace("CSeq: 1 SUBSCRIBE", "CSeq: 1 NOTIFY"),
                "Bad CSeq header: method does not match the request method",
            ),
            (
                OK.replace("Call-ID: c1@127.0.0.1\n", ""),
                "Missing Call-ID header",
            ),
            (
                OK.replace("Expires: 600", "Expires: 10000000000000000"),
                "Bad Expires header: value is not a number in range",
            ),
            (
                OK.replace("SIP/2.0\n", "SIP/7.0\n"),
                "SIP version not supported",
            ),
            (
                OK.replace("Content-Length: 0", "Content-Length: 10"),
                "Content-Length 10 exceeds the 0 body bytes received",
            ),
            (
                OK.replace(
                    "To: <sip:bob@example.com>\n",
                    "To: <sip:bob@example.com>\nTo: <sip:carol@example.com>\n",
                ),
                "Multiple To headers",
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(req(&text).unwrap_err().reason(), reason);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let small = Limits {
            max_headers: 3,
            ..Limits::DEFAULT
        };
        let e = parse(
            Bytes::from(OK.replace('\n', "\r\n")),
            Framing::Datagram,
            &small,
        )
        .unwrap_err();
        assert_eq!(e, ParseError::TooManyHeaders { limit: 3 });
        let tiny = Limits {
            max_message_size: 10,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            parse(Bytes::from(OK), Framing::Datagram, &tiny),
            Err(ParseError::MessageTooLarge { .. })
        ));
        let long = OK.replace("Event: presence", &format!("X-Long: {}", "a".repeat(9000)));
        assert!(matches!(
            req(&long),
            Err(ParseError::HeaderLineTooLong { .. })
        ));
    }

    #[test]
    fn datagram_body_is_cut_to_content_length() {
        let text = OK.replace("Content-Length: 0\n\n", "Content-Length: 3\n\nabcdef");
        assert_eq!(req(&text).unwrap().body(), "abc");
        let text = OK.replace("Content-Length: 0\n\n", "\nabc");
        assert_eq!(req(&text).unwrap().body(), "abc");
    }

    #[test]
    fn status_lines() {
        let resp = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: x\nCSeq: 1 OPTIONS\n\n";
        let Message::Response(r) = req(resp).unwrap() else {
            panic!("not a response")
        };
        assert_eq!((r.status, &r.reason[..]), (200, &b"OK"[..]));
        assert_eq!(
            req(&resp.replace("200 OK", "4294967301 better not break")).unwrap_err(),
            ParseError::Status
        );
        let Message::Response(r) = req(&resp.replace("200 OK", "100 ")).unwrap() else {
            panic!()
        };
        assert!(r.reason.is_empty());
    }
}
