//! The generator's fast path for the NOTIFYs it is sent: one scan over
//! the header lines for the handful it needs, and the 200 built by
//! copying the lines RFC 3261 §8.2.6.2 says a response copies.
//!
//! Why not the parser: framing a NOTIFY with `sip::parse` (a `Bytes` per
//! header name and value, every name looked up, the Request-URI parsed)
//! was over two thirds of the generator's instructions per NOTIFY in a
//! fan-out, and the generator shares the machine's cores with the server
//! it measures: every instruction it spends is one the server does not
//! get. SIPp answers the same way (`[last_Via:]` and friends).
//!
//! The scan is deliberately narrow: anything it is not sure of — folded
//! lines, a quoted From, a duplicate From, To, Call-ID or CSeq, a CSeq
//! that is not NOTIFY's, a short body — returns `None`, and the caller
//! takes the full parser's path, which answers and counts as before. The
//! tests hold the scan to the parser's reading of the same bytes.

use bytes::Bytes;
use sip::{HeaderAccess, HeaderName, Request};

/// What the driver needs of one NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The dialog's Call-ID.
    pub call_id: Bytes,
    /// The CSeq number.
    pub cseq: u32,
    /// The From tag (the notifier's tag of the dialog).
    pub from_tag: Option<Bytes>,
    /// `Subscription-State: terminated`.
    pub terminated: bool,
    /// The Content-Type value, if any.
    pub content_type: Option<Bytes>,
    /// The body, as long as Content-Length says.
    pub body: Bytes,
}

impl Notify {
    /// The facts as the full parser reads them (what the scan must agree
    /// with, and what the driver reads from a NOTIFY the scan left to
    /// the parser); `None` without a Call-ID or CSeq.
    pub fn of_request(req: &Request) -> Option<Notify> {
        Some(Notify {
            call_id: req.call_id().ok()?,
            cseq: req.cseq().ok()?.seq,
            from_tag: req.header_from().ok().and_then(|f| f.tag()),
            terminated: req
                .headers
                .value(HeaderName::SubscriptionState)
                .is_some_and(|v| v.len() >= 10 && v[..10].eq_ignore_ascii_case(b"terminated")),
            content_type: req.headers.value(HeaderName::ContentType).cloned(),
            body: req.body.clone(),
        })
    }
}

/// A scanned NOTIFY and the 200 that answers it.
#[derive(Debug)]
pub struct Scanned {
    /// The facts for the driver.
    pub notify: Notify,
    /// The encoded 200 OK.
    pub answer: Vec<u8>,
}

/// Scans `buf` as a NOTIFY; `None` when it is something else or anything
/// about it needs the full parser.
pub fn scan(buf: &Bytes) -> Option<Scanned> {
    if !buf.starts_with(b"NOTIFY ") {
        return None;
    }
    let mut pos = line_end(buf, 0)?.1;
    let mut answer = Vec::with_capacity(512);
    answer.extend_from_slice(b"SIP/2.0 200 OK\r\n");
    let (mut vias, mut from, mut to) = (0, None::<Bytes>, false);
    let (mut call_id, mut cseq) = (None::<Bytes>, None::<u32>);
    let (mut terminated, mut content_type, mut length) = (false, None::<Bytes>, None::<usize>);
    let body_start = loop {
        let (end, next) = line_end(buf, pos)?;
        let line = &buf[pos..end];
        if line.is_empty() {
            break next;
        }
        if matches!(line[0], b' ' | b'\t') {
            return None;
        }
        let colon = memchr::memchr(b':', line)?;
        let name = trim(&line[..colon]);
        let value_range = trimmed_range(line, colon + 1);
        let value = &line[value_range.clone()];
        let copy = match header(name) {
            Header::Via => {
                vias += 1;
                true
            }
            Header::From => {
                if from.is_some() || memchr::memchr(b'"', value).is_some() {
                    return None;
                }
                from = Some(tag_of(buf, pos + value_range.start, value)?);
                true
            }
            Header::To => {
                if to {
                    return None;
                }
                to = true;
                true
            }
            Header::CallId => {
                if call_id.is_some() || value.is_empty() {
                    return None;
                }
                call_id = Some(buf.slice(pos + value_range.start..pos + value_range.end));
                true
            }
            Header::CSeq => {
                if cseq.is_some() {
                    return None;
                }
                cseq = Some(notify_cseq(value)?);
                true
            }
            Header::SubscriptionState => {
                terminated = value.len() >= 10 && value[..10].eq_ignore_ascii_case(b"terminated");
                false
            }
            Header::ContentType => {
                if content_type.is_some() {
                    return None;
                }
                content_type = Some(buf.slice(pos + value_range.start..pos + value_range.end));
                false
            }
            Header::ContentLength => {
                if length.is_some() {
                    return None;
                }
                length = Some(decimal(value)?);
                false
            }
            Header::Other => false,
        };
        if copy {
            answer.extend_from_slice(line);
            answer.extend_from_slice(b"\r\n");
        }
        pos = next;
    };
    let (Some(from_tag), true, Some(call_id), Some(cseq)) = (from, to, call_id, cseq) else {
        return None;
    };
    if vias == 0 {
        return None;
    }
    let available = buf.len() - body_start;
    let length = length.unwrap_or(available);
    if length > available {
        return None;
    }
    answer.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(Scanned {
        notify: Notify {
            call_id,
            cseq,
            from_tag: (!from_tag.is_empty()).then_some(from_tag),
            terminated,
            content_type,
            body: buf.slice(body_start..body_start + length),
        },
        answer,
    })
}

enum Header {
    Via,
    From,
    To,
    CallId,
    CSeq,
    SubscriptionState,
    ContentType,
    ContentLength,
    Other,
}

/// The headers the scan reads, by full or compact name (RFC 3261 §7.3.3).
fn header(name: &[u8]) -> Header {
    let is = |full: &[u8]| name.eq_ignore_ascii_case(full);
    match name.len() {
        1 => match name[0].to_ascii_lowercase() {
            b'v' => Header::Via,
            b'f' => Header::From,
            b't' => Header::To,
            b'i' => Header::CallId,
            b'c' => Header::ContentType,
            b'l' => Header::ContentLength,
            _ => Header::Other,
        },
        _ if is(b"via") => Header::Via,
        _ if is(b"from") => Header::From,
        _ if is(b"to") => Header::To,
        _ if is(b"call-id") => Header::CallId,
        _ if is(b"cseq") => Header::CSeq,
        _ if is(b"subscription-state") => Header::SubscriptionState,
        _ if is(b"content-type") => Header::ContentType,
        _ if is(b"content-length") => Header::ContentLength,
        _ => Header::Other,
    }
}

/// The end of the line starting at `from` (without CR LF, a bare LF
/// tolerated) and where the next one starts.
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let nl = from + memchr::memchr(b'\n', buf.get(from..)?)?;
    let end = if nl > from && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

fn trim(s: &[u8]) -> &[u8] {
    let r = trimmed_range(s, 0);
    &s[r]
}

fn trimmed_range(s: &[u8], from: usize) -> std::ops::Range<usize> {
    let (mut a, mut b) = (from, s.len());
    while a < b && matches!(s[a], b' ' | b'\t') {
        a += 1;
    }
    while b > a && matches!(s[b - 1], b' ' | b'\t') {
        b -= 1;
    }
    a..b
}

/// `N NOTIFY`: the number, or `None` for any other method or a bad one.
fn notify_cseq(value: &[u8]) -> Option<u32> {
    let space = memchr::memchr2(b' ', b'\t', value)?;
    let method = trim(&value[space..]);
    if method != b"NOTIFY" {
        return None;
    }
    // RFC 3261 §8.1.1.5: below 2^31; the parser refuses more.
    u32::try_from(decimal(&value[..space])?)
        .ok()
        .filter(|&n| n < 1 << 31)
}

fn decimal(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

/// The `tag` parameter of a From value (no quotes in it: checked by the
/// caller), as a slice of `buf`; `at` is where `value` starts in `buf`.
/// An empty `Bytes` means no tag.
fn tag_of(buf: &Bytes, at: usize, value: &[u8]) -> Option<Bytes> {
    // Parameters of the header follow the URI: after `>` in name-addr
    // form, after the URI's end otherwise (where a `;` already starts
    // them, RFC 3261 §20.10).
    let params_from = match memchr::memchr(b'<', value) {
        Some(_) => memchr::memchr(b'>', value)? + 1,
        None => memchr::memchr(b';', value).unwrap_or(value.len()),
    };
    let mut rest = params_from;
    while let Some(semi) = memchr::memchr(b';', &value[rest..]) {
        let start = rest + semi + 1;
        let end = memchr::memchr(b';', &value[start..]).map_or(value.len(), |e| start + e);
        let param = &value[start..end];
        if let Some(eq) = memchr::memchr(b'=', param) {
            if trim(&param[..eq]).eq_ignore_ascii_case(b"tag") {
                let r = trimmed_range(param, eq + 1);
                return Some(buf.slice(at + start + r.start..at + start + r.end));
            }
        }
        rest = end;
    }
    Some(Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sip::Message;

    const NOTIFY: &str = "NOTIFY sip:w1@127.0.0.1:40000;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1-2-3;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=srv1\r\n\
To: <sip:w1@example.com>;tag=wat1\r\n\
Call-ID: c1@127.0.0.1\r\n\
CSeq: 7 NOTIFY\r\n\
Contact: <sip:127.0.0.1:5060>\r\n\
Event: presence\r\n\
Subscription-State: active;expires=3600\r\n\
Content-Type: application/pidf+xml\r\n\
Content-Length: 11\r\n\
\r\n\
<presence/>";

    fn parsed(text: &[u8]) -> Request {
        match sip::parse::parse_datagram(Bytes::copy_from_slice(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    /// The facts as the full parser reads them: the oracle.
    fn oracle(req: &Request) -> Notify {
        Notify::of_request(req).expect("Call-ID and CSeq")
    }

    /// The scan agrees with the parser, and its 200 carries what the
    /// parser's answer carries.
    fn agrees(text: &[u8]) {
        let scanned = scan(&Bytes::copy_from_slice(text)).expect("scanned");
        let req = parsed(text);
        assert_eq!(scanned.notify, oracle(&req));
        let ours = match sip::parse::parse_datagram(Bytes::from(scanned.answer)) {
            Ok(Message::Response(r)) => r,
            other => panic!("the 200 does not parse: {other:?}"),
        };
        let theirs = match sip::parse::parse_datagram(Bytes::from(
            crate::template::answer(&req).expect("an answer"),
        )) {
            Ok(Message::Response(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(ours.status, 200);
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            let values = |r: &sip::Response| -> Vec<Bytes> {
                r.headers.all(name).map(|h| h.value.clone()).collect()
            };
            assert_eq!(values(&ours), values(&theirs), "{name:?}");
        }
        assert!(ours.body.is_empty());
    }

    #[test]
    fn a_presence_notify_reads_as_the_parser_reads_it() {
        agrees(NOTIFY.as_bytes());
    }

    #[test]
    fn compact_names_two_vias_and_a_terminated_state() {
        let text = NOTIFY
            .replace("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1-2-3;rport\r\n",
                "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1-2-3\r\nVIA: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n")
            .replace("From: <sip:alice@example.com>;tag=srv1", "f: sip:alice@example.com;TAG=srv9")
            .replace("Call-ID:", "i:")
            .replace("Subscription-State: active;expires=3600", "Subscription-State: Terminated;reason=timeout")
            .replace("Content-Length: 11", "l: 11");
        agrees(text.as_bytes());
        let s = scan(&Bytes::from(text)).unwrap();
        assert!(s.notify.terminated);
        assert_eq!(s.notify.from_tag.as_deref(), Some(&b"srv9"[..]));
    }

    #[test]
    fn what_the_scan_is_unsure_of_goes_to_the_parser() {
        for text in [
            NOTIFY.replace("CSeq: 7 NOTIFY", "CSeq: 7 SUBSCRIBE"),
            NOTIFY.replace("CSeq: 7 NOTIFY", "CSeq: 2147483648 NOTIFY"),
            NOTIFY.replace("From: <sip:alice", "From: \"A, >\" <sip:alice"),
            NOTIFY.replace("Event: presence\r\n", "Event: presence\r\n presence\r\n"),
            NOTIFY.replace("Content-Length: 11", "Content-Length: 12"),
            NOTIFY.replace("To: <sip:w1@example.com>;tag=wat1\r\n", ""),
            NOTIFY.replace("Call-ID: c1@127.0.0.1\r\n", "Call-ID: c1\r\ni: c2\r\n"),
            NOTIFY.replace("NOTIFY sip:", "PUBLISH sip:"),
            NOTIFY.replace("\r\n\r\n<presence/>", "\r\n"),
        ] {
            assert!(scan(&Bytes::from(text.clone())).is_none(), "{text}");
        }
    }

    proptest! {
        /// Any header-name case, compact or full, any white space around
        /// the colon, any tag and CSeq: the scan reads what the parser
        /// reads.
        #[test]
        fn the_scan_agrees_with_the_parser(
            upper in proptest::collection::vec(any::<bool>(), 6),
            compact in proptest::collection::vec(any::<bool>(), 4),
            space in "[ \t]{0,2}",
            tag in "[a-zA-Z0-9.-]{1,12}",
            seq in 1u32..(1 << 31),
            terminated in any::<bool>(),
        ) {
            let name = |i: usize, full: &str, short: &str| {
                let n = if i < compact.len() && compact[i] { short } else { full };
                if upper[i] { n.to_ascii_uppercase() } else { n.to_owned() }
            };
            let state = if terminated { "terminated;reason=noresource" } else { "active;expires=60" };
            let text = format!(
                "NOTIFY sip:w@127.0.0.1 SIP/2.0\r\n\
    {}{space}:{space}SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n\
    {}:{space}<sip:p@example.com>;tag={tag}\r\n\
    {}: <sip:w@example.com>;tag=w\r\n\
    {}:{space}abc@h\r\n\
    {}: {seq} NOTIFY\r\n\
    Subscription-State: {state}\r\n\
    Content-Length: 0\r\n\r\n",
                name(0, "Via", "v"),
                name(1, "From", "f"),
                name(2, "To", "t"),
                name(3, "Call-ID", "i"),
                name(4, "CSeq", "CSeq"),
            );
            agrees(text.as_bytes());
        }
    }
}
