//! Transaction layer tests: real SIP messages (parsed from text, as they
//! would arrive) driven through [`Layer`] with explicit time. `t0` is an
//! arbitrary `Instant`; every other instant is `t0` plus a number of
//! milliseconds, so each test reads as a timeline.

mod client;
mod layer;
mod matching;
mod server;

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Config, Input, Key, Layer, Output, State};
use crate::message::{Message, Request, Response};
use crate::parse::parse_datagram;

/// Peers are plain names here; the runtime uses socket addresses or flows.
type Peer = &'static str;

const UDP: bool = false;
const TCP: bool = true;

/// The watcher / caller on the other side.
const PEER: Peer = "peer";

/// Parses a test vector written with `\n` line ends, as a datagram.
fn msg(text: &str) -> Message {
    parse_datagram(Bytes::from(text.replace('\n', "\r\n"))).expect("test vector parses")
}

fn request(text: &str) -> Request {
    match msg(text) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("test vector is a response"),
    }
}

/// The TU's answer to `req`, built the way a UAS core builds it (§8.2.6).
fn answer(req: &str, status: u16) -> Response {
    Response::to_request(&request(req), status, Some("srv-tag"))
}

// --- Requests this server sends (client transactions) -------------------

/// A NOTIFY to a watcher; the most common client transaction of a
/// presence server.
const NOTIFY: &str = "NOTIFY sip:alice@192.0.2.10:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnotify1
Max-Forwards: 70
From: <sip:bob@example.com>;tag=srv1
To: <sip:alice@example.com>;tag=wat1
Call-ID: sub1@192.0.2.10
CSeq: 2 NOTIFY
Event: presence
Subscription-State: active;expires=3600
Content-Length: 0

";

const NOTIFY_100: &str = "SIP/2.0 100 Trying
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnotify1
From: <sip:bob@example.com>;tag=srv1
To: <sip:alice@example.com>;tag=wat1
Call-ID: sub1@192.0.2.10
CSeq: 2 NOTIFY
Content-Length: 0

";

const NOTIFY_200: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnotify1
From: <sip:bob@example.com>;tag=srv1
To: <sip:alice@example.com>;tag=wat1
Call-ID: sub1@192.0.2.10
CSeq: 2 NOTIFY
Content-Length: 0

";

/// An INVITE this server sends (through two proxies, with a second Via
/// value in the same header line that the ACK must not copy).
const INVITE_OUT: &str = "INVITE sip:carol@192.0.2.20:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKinv1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKinner
Route: <sip:proxy1.example.com;lr>
Route: <sip:proxy2.example.com;lr>
Max-Forwards: 70
From: \"Presence\" <sip:presence@example.com>;tag=inv-from
To: <sip:carol@example.com>
Call-ID: call-inv1@198.51.100.1
CSeq: 31 INVITE
Contact: <sip:presence@198.51.100.1:5060>
Content-Type: application/sdp
Content-Length: 3

v=0";

/// Builds a response to [`INVITE_OUT`] with this status line and To tag.
fn invite_out_response(status_line: &str, to_tag: &str) -> String {
    format!(
        "SIP/2.0 {status_line}
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKinv1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKinner
From: \"Presence\" <sip:presence@example.com>;tag=inv-from
To: <sip:carol@example.com>;tag={to_tag}
Call-ID: call-inv1@198.51.100.1
CSeq: 31 INVITE
Content-Length: 0

"
    )
}

/// The ACK §17.1.1.3 asks for in answer to a 486 to [`INVITE_OUT`]: its
/// Request-URI, top Via only, Routes, From, Call-ID and CSeq number; the
/// response's To; no body.
const ACK_OUT: &str = "ACK sip:carol@192.0.2.20:5060 SIP/2.0\r
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKinv1\r
Route: <sip:proxy1.example.com;lr>\r
Route: <sip:proxy2.example.com;lr>\r
Max-Forwards: 70\r
From: \"Presence\" <sip:presence@example.com>;tag=inv-from\r
To: <sip:carol@example.com>;tag=callee-9\r
Call-ID: call-inv1@198.51.100.1\r
CSeq: 31 ACK\r
Content-Length: 0\r
\r
";

// --- Requests this server receives (server transactions) ----------------

/// A SUBSCRIBE from a watcher.
const SUBSCRIBE: &str = "SUBSCRIBE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsub1;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=wat1
To: <sip:bob@example.com>
Call-ID: sub1@192.0.2.10
CSeq: 1 SUBSCRIBE
Event: presence
Expires: 3600
Contact: <sip:alice@192.0.2.10:5060>
Content-Length: 0

";

/// An INVITE to a service contact (a room the server answers for).
const INVITE_IN: &str = "INVITE sip:room1@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKsinv1
Max-Forwards: 70
From: <sip:dave@example.com>;tag=d1
To: <sip:room1@example.com>
Call-ID: sinv1@192.0.2.30
CSeq: 7 INVITE
Contact: <sip:dave@192.0.2.30>
Timestamp: 54
Content-Length: 0

";

/// The ACK for a non-2xx answer to [`INVITE_IN`]: same branch (§17.1.1.3).
const ACK_IN: &str = "ACK sip:room1@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKsinv1
Max-Forwards: 70
From: <sip:dave@example.com>;tag=d1
To: <sip:room1@example.com>;tag=srv-tag
Call-ID: sinv1@192.0.2.30
CSeq: 7 ACK
Content-Length: 0

";

/// The ACK for a 2xx answer to [`INVITE_IN`]: a new branch, its own
/// "transaction" (§13.2.2.4), and the Contact as Request-URI.
const ACK_2XX_IN: &str = "ACK sip:room1@198.51.100.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKsack2
Max-Forwards: 70
From: <sip:dave@example.com>;tag=d1
To: <sip:room1@example.com>;tag=srv-tag
Call-ID: sinv1@192.0.2.30
CSeq: 7 ACK
Content-Length: 0

";

/// A CANCEL of [`INVITE_IN`]: same branch, its own transaction (§9.1).
const CANCEL_IN: &str = "CANCEL sip:room1@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKsinv1
Max-Forwards: 70
From: <sip:dave@example.com>;tag=d1
To: <sip:room1@example.com>
Call-ID: sinv1@192.0.2.30
CSeq: 7 CANCEL
Content-Length: 0

";

// --- The harness ---------------------------------------------------------

/// A layer and a time origin.
struct Harness {
    layer: Layer<Peer>,
    t0: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(Config::default())
    }

    fn with(config: Config) -> Harness {
        Harness {
            layer: Layer::new(config),
            t0: Instant::now(),
        }
    }

    /// `t0 + ms`.
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// A message arrives from [`PEER`] at `ms`.
    fn recv(&mut self, text: &str, reliable: bool, ms: u64) -> Vec<Output<Peer>> {
        let input = Input::Received {
            msg: msg(text),
            from: PEER,
            reliable,
        };
        self.layer.handle(input, self.at(ms))
    }

    /// The TU sends a request to [`PEER`] at `ms`.
    fn send(&mut self, text: &str, reliable: bool, ms: u64) -> (Key, Vec<Output<Peer>>) {
        self.layer
            .send_request(request(text), PEER, reliable, self.at(ms))
            .expect("request accepted")
    }

    /// A new request arrives; returns the key of the server transaction it
    /// created.
    fn recv_new(&mut self, text: &str, reliable: bool, ms: u64) -> Key {
        match self.recv(text, reliable, ms).as_slice() {
            [Output::Request { key, .. }] => key.clone(),
            other => panic!("expected one new request, got {other:?}"),
        }
    }

    /// The TU answers server transaction `key` at `ms`.
    fn respond(&mut self, key: &Key, resp: Response, ms: u64) -> Vec<Output<Peer>> {
        self.layer.handle(
            Input::SendResponse {
                key: key.clone(),
                resp,
            },
            self.at(ms),
        )
    }

    /// Fires every timer up to and including `t0 + end_ms`, at the instant
    /// each is due, as a runtime would; returns each output with the time
    /// (ms after `t0`) at which it came out.
    fn run_until(&mut self, end_ms: u64) -> Vec<(u64, Output<Peer>)> {
        let end = self.at(end_ms);
        let mut log = Vec::new();
        while let Some(due) = self.layer.poll_timeout().filter(|&t| t <= end) {
            let ms = (due - self.t0).as_millis() as u64;
            log.extend(self.layer.handle_timeout(due).into_iter().map(|o| (ms, o)));
        }
        log
    }

    fn state(&self, key: &Key) -> Option<State> {
        self.layer.state(key)
    }
}

/// A one-word name per output, so that a sequence reads as a list.
fn kinds(outputs: &[Output<Peer>]) -> Vec<&'static str> {
    outputs.iter().map(kind).collect()
}

fn kind(o: &Output<Peer>) -> &'static str {
    match o {
        Output::Transmit { .. } => "transmit",
        Output::Request { .. } => "request",
        Output::Response { .. } => "response",
        Output::Timeout { .. } => "timeout",
        Output::TransportError { .. } => "transport-error",
        Output::Stray { .. } => "stray",
        Output::Terminated { .. } => "terminated",
    }
}

/// The times (ms) at which outputs of one kind came out of [`Harness::run_until`].
fn times(log: &[(u64, Output<Peer>)], which: &str) -> Vec<u64> {
    log.iter()
        .filter(|(_, o)| kind(o) == which)
        .map(|(t, _)| *t)
        .collect()
}

/// The wire text of a `Transmit`.
fn wire(o: &Output<Peer>) -> String {
    match o {
        Output::Transmit { bytes, .. } => String::from_utf8(bytes.to_vec()).expect("utf-8"),
        other => panic!("not a transmit: {other:?}"),
    }
}

/// The start line of a `Transmit`.
fn start_line(o: &Output<Peer>) -> String {
    wire(o).lines().next().unwrap_or_default().to_string()
}

/// Every transmission's start line, in order.
fn sent_lines(outputs: &[Output<Peer>]) -> Vec<String> {
    outputs
        .iter()
        .filter(|o| kind(o) == "transmit")
        .map(start_line)
        .collect()
}
