//! Answers to requests that could not be parsed.
//!
//! RFC 3261 §8.2 asks a server to answer a malformed request with 400 and a
//! reason phrase, but the answer itself must be routable: it needs the
//! request's Via, From, To, Call-ID and CSeq. This module salvages those
//! lines verbatim with a lenient scan, so a request whose Contact or Expires
//! is broken still gets a precise 400 instead of silence and client
//! retransmissions. Responses and ACKs are never answered.

use crate::error::ParseError;
use crate::grammar;
use crate::header::HeaderName;

/// The wire form of the error response to the unparsable request in `buf`,
/// or `None` when it is not a request or lacks what an answer needs.
pub fn answer_unparsable(buf: &[u8], err: &ParseError) -> Option<Vec<u8>> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let buf = &buf[start..];
    let head_end = memchr::memmem::find(buf, b"\r\n\r\n").unwrap_or(buf.len());
    let head = &buf[..head_end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next()?;
    let method_end = memchr::memchr(b' ', request_line)?;
    let method = &request_line[..method_end];
    if request_line.starts_with(b"SIP/") || !grammar::is_token_str(method) || method == b"ACK" {
        return None;
    }
    let wanted = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let mut kept: Vec<(HeaderName, &[u8])> = Vec::new();
    for line in lines {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = HeaderName::from_bytes(&line[..grammar::trim(line, 0, colon).1]);
        if wanted.contains(&name) {
            let (a, b) = grammar::trim(line, colon + 1, line.len());
            if a < b {
                kept.push((name, &line[a..b]));
            }
        }
    }
    if wanted.iter().any(|w| !kept.iter().any(|(n, _)| n == w)) {
        return None;
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {} {}\r\n", err.status(), err.reason()).as_bytes());
    for want in wanted {
        for (name, value) in kept.iter().filter(|(n, _)| *n == want) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            if *name == HeaderName::To && memchr::memmem::find(value, b"tag=").is_none() {
                out.extend_from_slice(b";tag=rejected");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_datagram;
    use bytes::Bytes;

    #[test]
    fn answers_with_the_reason_and_routing_headers() {
        let text = b"SUBSCRIBE sip:bob@h SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK9\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:bob@h>\r\nCall-ID: z\r\nCSeq: 3 SUBSCRIBE\r\nExpires: soon\r\n\r\n";
        let err = parse_datagram(Bytes::from_static(text)).unwrap_err();
        let answer = String::from_utf8(answer_unparsable(text, &err).unwrap()).unwrap();
        assert!(
            answer.starts_with("SIP/2.0 400 Bad Expires header"),
            "{answer}"
        );
        assert!(answer.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK9\r\n"));
        assert!(answer.contains("To: <sip:bob@h>;tag=rejected\r\n"));
        let parsed = parse_datagram(Bytes::from(answer.into_bytes())).unwrap();
        assert_eq!(parsed.headers().len(), 6);
    }

    #[test]
    fn never_answers_responses_acks_or_headless_requests() {
        let err = ParseError::HeaderLine;
        assert!(answer_unparsable(b"SIP/2.0 200 OK\r\n\r\n", &err).is_none());
        assert!(answer_unparsable(
            b"ACK sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n",
            &err
        )
        .is_none());
        assert!(answer_unparsable(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", &err).is_none());
    }
}
