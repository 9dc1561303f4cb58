//! Cutting a byte stream (TCP, TLS) into messages by Content-Length.
//!
//! Stream transports deliver arbitrary chunks; the framer accumulates them,
//! finds the end of each header block, reads Content-Length, and hands out
//! complete messages as frozen `Bytes` so the parser can borrow from them.
//! CRLF keep-alives (RFC 5626 §3.5.1) are reported so the transport can
//! answer a double-CRLF ping with a single-CRLF pong.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ParseError;
use crate::grammar;
use crate::limits::Limits;
use crate::message::Message;
use crate::parse::{self, Framing};

/// What the framer found next in the stream.
///
/// Not boxed although `Message` dwarfs the keep-alive variants: frames are
/// moved once, straight into the dispatcher, and a box would cost one
/// allocation per message on the hot path for the sake of rare pings.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Frame {
    /// A complete message, parsed, with its raw bytes for logging.
    Message(Result<Message, ParseError>, Bytes),
    /// A `CRLFCRLF` ping; answer with `CRLF`.
    Ping,
    /// A lone `CRLF` pong.
    Pong,
}

/// Accumulates stream bytes and yields frames.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    /// Where the search for the end of the header block resumes.
    scanned: usize,
}

/// A stream error that leaves the byte stream unusable: the connection must
/// be closed, since the next message boundary cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream framing lost: {0}")]
pub struct FramingError(pub ParseError);

impl StreamFramer {
    /// A framer with the given limits.
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            limits,
            scanned: 0,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into directly, avoiding a copy through `push`.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes held that do not yet form a message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            self.scanned = 0;
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") && self.buf.len() >= 3 && self.buf[2] != b'\r' {
            self.buf.advance(2);
            self.scanned = 0;
            return Ok(Some(Frame::Pong));
        }
        if self.buf.as_ref() == b"\r\n" || self.buf.as_ref() == b"\r\n\r" {
            return Ok(None);
        }
        let from = self.scanned.saturating_sub(3);
        let Some(end) = memchr::memmem::find(&self.buf[from..], b"\r\n\r\n").map(|p| from + p + 4)
        else {
            self.scanned = self.buf.len();
            if self.buf.len() > self.limits.max_message_size {
                return Err(FramingError(ParseError::MessageTooLarge {
                    limit: self.limits.max_message_size,
                }));
            }
            return Ok(None);
        };
        let body_len = content_length(&self.buf[..end]).map_err(FramingError)?;
        if body_len > self.limits.max_body {
            return Err(FramingError(ParseError::BodyTooLarge {
                limit: self.limits.max_body,
            }));
        }
        let total = end + body_len;
        if total > self.limits.max_message_size {
            return Err(FramingError(ParseError::MessageTooLarge {
                limit: self.limits.max_message_size,
            }));
        }
        if self.buf.len() < total {
            // Resume the search just before this header block's end, so the
            // next call finds the same end again (the search starts three
            // bytes before `scanned`). Resuming at `end` itself would skip
            // it and cut at the next message's header end instead, merging
            // two messages into one (found by the load generator over TCP).
            self.scanned = end - 4;
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let raw = self.buf.split_to(total).freeze();
        self.scanned = 0;
        let parsed = parse::parse(raw.clone(), Framing::Stream, &self.limits);
        Ok(Some(Frame::Message(parsed, raw)))
    }
}

/// Finds Content-Length in a header block; a missing one means no body.
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (a, b) = grammar::trim(line, 0, colon);
        let name = &line[a..b];
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let (va, vb) = grammar::trim(line, colon + 1, line.len());
            let v = line[va..vb].strip_suffix(b"\r").unwrap_or(&line[va..vb]);
            let v = &v[..grammar::trim(v, 0, v.len()).1];
            let n = grammar::parse_decimal(v, u64::from(u32::MAX)).ok_or(ParseError::Header(
                crate::typed::TypedError::Invalid(
                    crate::header::HeaderName::ContentLength,
                    "value is not a number in range",
                ),
            ))? as usize;
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::Header(crate::typed::TypedError::Multiple(
                    crate::header::HeaderName::ContentLength,
                )));
            }
            found = Some(n);
        }
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK3\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:h>\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\nl: 2\r\n\r\nhi";

    #[test]
    fn splits_messages_across_chunks() {
        let mut f = StreamFramer::new(Limits::DEFAULT);
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        let mut frames = Vec::new();
        for chunk in stream.chunks(7) {
            f.push(chunk);
            while let Some(frame) = f.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert!(matches!(frames[0], Frame::Ping));
        assert_eq!(frames.len(), 3);
        for frame in &frames[1..] {
            let Frame::Message(Ok(m), raw) = frame else {
                panic!("{frame:?}")
            };
            assert_eq!(m.body(), "hi");
            assert_eq!(&raw[..], MSG);
        }
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn bad_content_length_loses_framing() {
        let mut f = StreamFramer::new(Limits::DEFAULT);
        f.push(b"OPTIONS sip:h SIP/2.0\r\nContent-Length: -5\r\n\r\n");
        assert!(f.next_frame().is_err());
        let mut f = StreamFramer::new(Limits {
            max_message_size: 100,
            ..Limits::DEFAULT
        });
        f.push(&[b'a'; 200]);
        assert!(f.next_frame().is_err());
    }

    #[test]
    fn a_syntax_error_does_not_lose_the_stream() {
        let mut f = StreamFramer::new(Limits::DEFAULT);
        f.push(b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        f.push(MSG);
        let Some(Frame::Message(Err(_), _)) = f.next_frame().unwrap() else {
            panic!()
        };
        let Some(Frame::Message(Ok(_), _)) = f.next_frame().unwrap() else {
            panic!()
        };
    }

    #[test]
    fn a_body_arriving_later_does_not_merge_two_messages() {
        let body = "<presence/>";
        let one = format!(
            "NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n\
             To: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let two = one.replace("CSeq: 1", "CSeq: 2");
        let mut f = StreamFramer::new(Limits::DEFAULT);
        // The first message's headers and three bytes of its body, then the rest.
        let cut = one.len() - body.len() + 3;
        f.push(&one.as_bytes()[..cut]);
        assert!(f.next_frame().unwrap().is_none());
        f.push(&one.as_bytes()[cut..]);
        f.push(two.as_bytes());
        for expected in [&one, &two] {
            let Some(Frame::Message(Ok(_), raw)) = f.next_frame().unwrap() else {
                panic!("expected a message");
            };
            assert_eq!(&raw[..], expected.as_bytes());
        }
        assert!(f.next_frame().unwrap().is_none());
    }
}
