//! The properties the fuzzers check, shared with the stable test that
//! replays the corpus (`crates/sip/tests/fuzz_corpus.rs`), so a crash found
//! on nightly stays a failing test on stable.

use bytes::Bytes;
use sip::framing::{Frame, StreamFramer};
use sip::parse::{parse, Framing};
use sip::{Limits, Message, Uri};

/// Parses `data` as a datagram and as a stream; whatever parses must
/// serialize to text that parses to the same headers and body, and the
/// plain-response scan answers only what the parser reads the same way.
pub fn check_message(data: &[u8]) {
    check_plain_response(data);
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

/// When `sip::parse::plain_response::scan` answers, the parser accepts the
/// datagram and reads the same status, reason, top Via, CSeq and Call-ID.
fn check_plain_response(data: &[u8]) {
    use sip::{HeaderAccess, HeaderName};
    let buf = Bytes::copy_from_slice(data);
    let Some(plain) = sip::parse::plain_response::scan(&buf, &Limits::DEFAULT) else {
        return;
    };
    let parsed = parse(buf, Framing::Datagram, &Limits::DEFAULT);
    let Ok(Message::Response(resp)) = parsed else {
        panic!("the scan answered what the parser gives as {parsed:?}");
    };
    let scanned = &plain.response;
    assert_eq!(
        (scanned.status, &scanned.reason),
        (resp.status, &resp.reason)
    );
    assert_eq!(
        scanned.headers.value(HeaderName::Via),
        resp.headers.values(HeaderName::Via).next().as_ref(),
        "top Via"
    );
    for name in [HeaderName::CSeq, HeaderName::CallId] {
        assert_eq!(scanned.headers.value(name), resp.headers.value(name));
    }
    assert_eq!(resp.cseq().ok(), Some(plain.cseq), "CSeq read");
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
