//! The properties the fuzzers check, shared with the stable test that
//! replays the corpus (`crates/sip/tests/fuzz_corpus.rs`), so a crash found
//! on nightly stays a failing test on stable.

use bytes::Bytes;
use sip::framing::{Frame, StreamFramer};
use sip::parse::{parse, Framing};
use sip::{Limits, Message, Uri};

/// Parses `data` as a datagram and as a stream; whatever parses must
/// serialize to text that parses to the same headers and body.
pub fn check_message(data: &[u8]) {
    if let Ok(m) = parse(
        Bytes::copy_from_slice(data),
        Framing::Datagram,
        &Limits::DEFAULT,
    ) {
        let again = parse(Bytes::from(m.encode()), Framing::Stream, &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("serialized message does not re-parse: {e}"));
        assert_eq!(strip(&again), strip(&m), "headers changed in a round trip");
        assert_eq!(again.body(), m.body(), "body changed in a round trip");
    } else if let Err(e) = parse(
        Bytes::copy_from_slice(data),
        Framing::Datagram,
        &Limits::DEFAULT,
    ) {
        let answer = sip::rejection::answer_unparsable(data, &e);
        if let Some(a) = answer {
            assert!(a.starts_with(b"SIP/2.0 "), "a rejection is a status line");
        }
    }
    let mut framer = StreamFramer::new(Limits::DEFAULT);
    for chunk in data.chunks(97) {
        framer.push(chunk);
        while let Ok(Some(Frame::Message(..) | Frame::Ping | Frame::Pong)) = framer.next_frame() {}
    }
}

fn strip(m: &Message) -> Vec<sip::Header> {
    m.headers()
        .iter()
        .filter(|h| h.name != sip::HeaderName::ContentLength)
        .cloned()
        .collect()
}

/// Parses `data` as a URI; a parsed URI prints as its input and re-parses
/// to an equal value, and its address-of-record form parses too.
pub fn check_uri(data: &[u8]) {
    if let Ok(uri) = Uri::parse(Bytes::copy_from_slice(data)) {
        assert_eq!(uri.as_bytes().as_ref(), data);
        let again = Uri::parse(uri.as_bytes().clone()).expect("re-parse");
        assert_eq!(again, uri);
        if uri.is_sip() || uri.scheme() == sip::uri::Scheme::Tel {
            let aor = uri.aor();
            if let Err(e) = Uri::parse_str(&aor) {
                panic!("address of record {aor:?} does not parse: {e}");
            }
        }
    }
}
