//! The transaction layer: RFC 3261 §17 with the RFC 6026 corrections, as
//! pure state machines.
//!
//! A transaction is one request and its responses (plus the ACK of a
//! non-2xx final response to an INVITE). It hides the unreliability of UDP
//! from the layers above: it retransmits requests and final responses,
//! absorbs retransmissions arriving from the peer, and tells the
//! transaction user (TU) once a transaction has timed out. None of that
//! needs a socket or a clock, so this module has neither: the runtime feeds
//! [`Layer::handle`] what arrived and what the TU wants to send, calls
//! [`Layer::handle_timeout`] when [`Layer::poll_timeout`] says a timer is
//! due, and carries out the returned [`Output`]s in order. Time is always
//! the `now` it is given, which makes every timer case a unit test with
//! explicit time (the quinn-proto split).
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use bytes::Bytes;
//! use sip::transaction::{Config, Input, Layer, Output};
//!
//! let mut layer: Layer<&str> = Layer::new(Config::default());
//! let text = "OPTIONS sip:presence@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-doc\r\n\
//!     From: <sip:alice@example.com>;tag=1\r\nTo: <sip:presence@example.com>\r\n\
//!     Call-ID: doc@192.0.2.1\r\nCSeq: 1 OPTIONS\r\n\r\n";
//! let msg = sip::parse::parse_datagram(Bytes::from_static(text.as_bytes())).unwrap();
//! let now = Instant::now();
//! let received = Input::Received { msg, from: "192.0.2.1:5060", reliable: false };
//! for output in layer.handle(received, now) {
//!     if let Output::Request { key, req, .. } = output {
//!         let resp = sip::Response::to_request(&req, 200, Some("t1"));
//!         let sent = layer.handle(Input::SendResponse { key, resp }, now);
//!         assert!(matches!(&sent[..], [Output::Transmit { to, .. }] if *to == "192.0.2.1:5060"));
//!     }
//! }
//! // Timer J keeps the transaction to answer retransmissions for 64*T1.
//! assert_eq!(layer.poll_timeout(), Some(now + Duration::from_secs(32)));
//! let done = layer.handle_timeout(now + Duration::from_secs(32));
//! assert!(matches!(&done[..], [Output::Terminated { .. }]));
//! assert!(layer.is_empty());
//! ```
//!
//! The four machines live in their own modules, each citing the section it
//! implements:
//!
//! | machine | RFC | timers |
//! |---|---|---|
//! | `client_invite` | §17.1.1, RFC 6026 §7.2 | A, B, D, M |
//! | `client_non_invite` | §17.1.2 | E, F, K |
//! | `server_invite` | §17.2.1, RFC 6026 §7.1 | G, H, I, L, 100 Trying |
//! | `server_non_invite` | §17.2.2 | J |
//!
//! `key` implements matching (§17.1.3, §17.2.3), `timers` the timer values
//! (RFC 3261 Appendix A), and `layer` the table of transactions with its
//! deadline index.

mod client_invite;
mod client_non_invite;
mod completed;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timers;
mod wakeups;

#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use key::{Key, Role};
pub use layer::Layer;
pub use timers::Config;

use crate::message::{Message, Request, Response};
use crate::typed::TypedError;

/// What the runtime feeds into the [`Layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<A> {
    /// A message arrived from `from`. `reliable` is true for TCP, TLS and
    /// WebSocket flows: no retransmissions are sent on them and the
    /// "wait for retransmissions" timers are zero (RFC 3261 §17.1.1.2).
    Received {
        /// The parsed message.
        msg: Message,
        /// Where it came from; responses of a server transaction go back here.
        from: A,
        /// Whether the flow it arrived on is reliable.
        reliable: bool,
    },
    /// The TU starts a client transaction (a NOTIFY the server sends, say).
    ///
    /// The request must already carry its top Via with an RFC 3261 branch
    /// (`z9hG4bK…`, §8.1.1.7): the branch names the transaction and the
    /// layer will not invent one behind the TU's back. A request without
    /// one, or a duplicate of a live client transaction, is dropped and
    /// yields no output; call [`Layer::send_request`] to get the reason as
    /// a [`TransactionError`]. An ACK (the TU's ACK for a 2xx, which is not
    /// a transaction, §13.2.2.4) is only put on the wire.
    SendRequest {
        /// The request, complete with Via branch and CSeq.
        req: Request,
        /// The next hop.
        to: A,
        /// Whether the flow to `to` is reliable.
        reliable: bool,
    },
    /// The TU answers a server transaction. Unknown or terminated keys
    /// yield no output; [`Layer::send_response`] reports them.
    SendResponse {
        /// The server transaction, from [`Output::Request`].
        key: Key,
        /// The response (provisional or final).
        resp: Response,
    },
}

/// What the [`Layer`] asks the runtime and the TU to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<A> {
    /// Put these bytes on the wire to `to` (requests, retransmissions,
    /// responses, the ACK of a non-2xx final response).
    Transmit {
        /// The peer or flow.
        to: A,
        /// One complete encoded message.
        bytes: Bytes,
    },
    /// A request for the TU: a new server transaction (CANCEL included: it
    /// is its own transaction, [`Layer::find_invite_for_cancel`] finds the
    /// INVITE it cancels), or an ACK that matched an INVITE server
    /// transaction in the Accepted state (RFC 6026 §7.1), which then
    /// carries that INVITE's key. ACKs are never answered.
    Request {
        /// The server transaction to answer through [`Input::SendResponse`].
        key: Key,
        /// The request, boxed: an `Output` is moved several times on its
        /// way to the runtime, and the hot variants (a 200 to our NOTIFY,
        /// a NOTIFY to send) are under half the size of a `Request`, so
        /// unboxed every one of them was moved at the size of this one.
        req: Box<Request>,
        /// Where it came from.
        from: A,
    },
    /// A response for the TU's client transaction: every provisional and
    /// final response, and in the Accepted state every further 2xx to an
    /// INVITE, each of which the TU must ACK itself (RFC 6026 §7.2).
    /// Retransmitted non-2xx finals are absorbed.
    Response {
        /// The client transaction.
        key: Key,
        /// The response.
        resp: Response,
    },
    /// The peer did not answer in time: Timer B or F (client: treat as a
    /// 408, §8.1.3.1) or Timer H (server INVITE: the ACK never came,
    /// §17.2.1). Always followed by [`Output::Terminated`].
    Timeout {
        /// The transaction.
        key: Key,
    },
    /// Echo of [`Layer::transport_error`]: the runtime could not send for
    /// this transaction. A client transaction ends (§17.1.4: followed by
    /// [`Output::Terminated`]); a server transaction stays in its state
    /// (RFC 6026 §8.8, amending §17.2.4) so that it keeps absorbing
    /// retransmissions until its timers end it.
    TransportError {
        /// The transaction.
        key: Key,
    },
    /// A message no transaction claims: a response matching no client
    /// transaction (RFC 6026 §7.2: a UA discards it), an ACK matching no
    /// INVITE server transaction (usually the ACK for a 2xx, which belongs
    /// to the TU's dialog, §17.2.3), or a request so broken that it names
    /// no transaction (only possible for hand-built messages).
    Stray {
        /// The message, boxed for the reason [`Output::Request`]'s is.
        msg: Box<Message>,
        /// Where it came from.
        from: A,
    },
    /// The transaction is gone; its key will not appear again (unless the
    /// peer reuses the branch).
    Terminated {
        /// The transaction.
        key: Key,
    },
}

/// The state of one transaction, for observability and tests. The names
/// are those of the RFC 3261 §17 figures; `Accepted` is RFC 6026's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE: request sent, nothing heard yet.
    Calling,
    /// Non-INVITE: client sent / server received, no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server). A
    /// server INVITE transaction starts here (§17.2.1).
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent; the
    /// transaction lingers to absorb or answer retransmissions.
    Completed,
    /// Server INVITE: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// INVITE: a 2xx was received or sent (RFC 6026); the TU owns the
    /// retransmissions and ACKs, the transaction only routes them.
    Accepted,
}

/// Why [`Layer::send_request`] or [`Layer::send_response`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// A header that names the transaction (Via, CSeq, From, To, Call-ID)
    /// is missing or malformed.
    #[error("cannot identify the transaction: {0}")]
    Header(#[from] TypedError),
    /// The top Via has no branch starting with `z9hG4bK`. The TU must
    /// generate one, unique per transaction (RFC 3261 §8.1.1.7).
    #[error("top Via has no RFC 3261 branch (z9hG4bK...)")]
    MissingBranch,
    /// The CSeq method differs from the request method (§8.1.1.5), so
    /// responses could not be matched (§17.1.3).
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// An ACK is not a transaction of its own (§17.1.1.3 builds the one for
    /// non-2xx; the TU sends the one for 2xx, §13.2.2.4).
    #[error("ACK does not start a transaction")]
    Ack,
    /// An INVITE client transaction keeps the request itself (to build its
    /// CANCEL and the ACK of a non-2xx), so it cannot start from bytes.
    #[error("an INVITE needs send_request, not pre-encoded bytes")]
    InviteNeedsRequest,
    /// A client transaction with the same branch and method is alive.
    #[error("client transaction {0:?} already exists")]
    Duplicate(Key),
    /// No live server transaction has this key (it never existed, it was a
    /// client transaction, or it has terminated).
    #[error("no server transaction {0:?}")]
    UnknownTransaction(Key),
    /// The status code is outside 100–699.
    #[error("status {0} is not a SIP status code")]
    InvalidStatus(u16),
}

/// What one state machine asks of the layer. The machines know neither
/// keys nor addresses; the layer adds both when it turns these into
/// [`Output`]s.
#[derive(Debug)]
pub(crate) enum Event {
    /// Send these bytes to the transaction's peer.
    Transmit(Bytes),
    /// Pass this response to the TU.
    Response(Response),
    /// Timer B, F or H fired.
    Timeout,
    /// The machine reached Terminated; the layer forgets it.
    Terminated,
}
