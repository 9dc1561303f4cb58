//! Framing of what the server sends over TCP.
//!
//! A thin wrapper over `sip::framing::StreamFramer` that restarts the
//! framer's search after every incomplete read. The framer (as of this
//! writing) resumes its search for the end of the header block just past
//! the current message's own terminator once the headers are complete but
//! the body is not, so the next read makes it cut at the *following*
//! message's terminator: two messages become one and the second is lost
//! (see `split_body_keeps_both_messages`). Handing the pending bytes to a
//! fresh framer costs no copy and makes every search start at the
//! beginning of the message.

use bytes::BytesMut;
use sip::framing::{Frame, FramingError, StreamFramer};
use sip::Limits;

/// What the client accepts over a stream: larger than the server's own
/// inbound limits, because the first NOTIFY of a batched dialog carries a
/// category part per contact (about 500 bytes each: 160 contacts pass
/// the 60 000-byte default).
pub const LIMITS: Limits = Limits {
    max_message_size: 4 << 20,
    max_body: 4 << 20,
    ..Limits::DEFAULT
};

/// Cuts a byte stream into messages.
#[derive(Debug)]
pub struct Stream {
    framer: StreamFramer,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            framer: StreamFramer::new(LIMITS),
        }
    }
}

impl Stream {
    /// The buffer to read into.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        self.framer.buffer_mut()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        let frame = self.framer.next_frame()?;
        if frame.is_none() {
            let pending = self.framer.buffer_mut().split();
            self.framer = StreamFramer::new(LIMITS);
            self.framer.buffer_mut().unsplit(pending);
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::{HeaderAccess, Message};

    fn notify(n: u32, body: &str) -> String {
        format!(
            "NOTIFY sip:a@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK{n}\r\n\
             From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c{n}\r\n\
             CSeq: {n} NOTIFY\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn call_ids(stream: &mut Stream) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Some(frame)) = stream.next_frame() {
            match frame {
                Frame::Message(Ok(Message::Request(r)), _) => {
                    let id = r
                        .call_id()
                        .map(|c| String::from_utf8_lossy(&c).into_owned());
                    out.push(id.unwrap_or_default());
                }
                Frame::Message(..) => out.push("unparsable".into()),
                Frame::Ping | Frame::Pong => out.push("ping".into()),
            }
        }
        out
    }

    #[test]
    fn split_body_keeps_both_messages() {
        for body in ["0123456789abcdef", "0123\r\n\r\n456789"] {
            let (a, b) = (notify(1, body), notify(2, body));
            let cut = a.find("\r\n\r\n").expect("header end") + 4 + 3;
            let mut s = Stream::default();
            s.buffer_mut().extend_from_slice(&a.as_bytes()[..cut]);
            assert!(call_ids(&mut s).is_empty());
            s.buffer_mut().extend_from_slice(&a.as_bytes()[cut..]);
            s.buffer_mut().extend_from_slice(b.as_bytes());
            assert_eq!(call_ids(&mut s), ["c1", "c2"], "body {body:?}");
        }
    }

    #[test]
    fn byte_by_byte_delivery_yields_every_message() {
        let text = notify(1, "x") + &notify(2, "") + "\r\n\r\n" + &notify(3, "yz");
        let mut s = Stream::default();
        let mut ids = Vec::new();
        for b in text.as_bytes() {
            s.buffer_mut().extend_from_slice(&[*b]);
            ids.extend(call_ids(&mut s));
        }
        assert_eq!(ids, ["c1", "c2", "ping", "c3"]);
    }
}
