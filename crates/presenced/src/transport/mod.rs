//! SIP over sockets: UDP, TCP and TLS (RFC 3261 §18).
//!
//! Transport tasks own the sockets. They cut bytes into messages, parse
//! them, answer what cannot be parsed, and hand the rest to the core task
//! through one bounded queue (the [`Intake`]). The core never touches a
//! socket either: it sends through the [`Connections`] table, which maps the
//! [`Flow`] a request arrived on to the socket or connection that carries
//! its responses back (RFC 3261 §18.2.2: over the same connection for
//! streams, to the `received`/`rport` address for UDP).
//!
//! The one connection the server opens itself, to the presence
//! provider's tcp: or tls: upstream, is [`uplink`]'s: registered in the
//! same table and served by the same loop as accepted ones.
//!
//! Every message that is not delivered produces exactly one `dropped
//! message` log line with the transport, the peer and the reason.

pub mod datagram;
pub mod redial;
pub mod source_limit;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod uplink;
pub mod via;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use sip::{Header, HeaderName, Message, ParseError, Request, Response};
use tokio::sync::mpsc;

pub use crate::config::TransportKind;
use crate::endpoint::ToTags;
use crate::flood::Verdict;
pub use datagram::Outbox;
use datagram::{Datagram, DatagramLink};

/// Identifies one socket (UDP) or one connection (TCP, TLS) for the life of
/// the process; never reused, so a late response cannot leak onto a newer
/// connection that happens to come from the same address.
///
/// Ids also differ across restarts (each process starts its count at a
/// random-ish base), because flows are persisted with subscriptions: a flow
/// stored by the previous process must not name a new process's connection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConnId(u64);

impl ConnId {
    /// A fixed id, for tests that build flows by hand.
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> ConnId {
        ConnId(n)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The peer end of a message: the address type the transaction layer is
/// generic over. It names both who sent a request and how to reach them:
/// for UDP, `remote` is where responses go (RFC 3581) and `conn` the local
/// socket to send from; for streams, `conn` is the connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// The transport the message came over.
    pub transport: TransportKind,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Our address on the flow: what our Contact and Via name, and, for
    /// UDP, which socket to send from when the flow's socket id is from an
    /// earlier process.
    pub local: SocketAddr,
    /// The socket or connection.
    pub conn: ConnId,
}

impl Flow {
    /// True for TCP and TLS, where the transaction layer does not retransmit.
    pub fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            TransportKind::Udp => write!(f, "udp:{}", self.remote),
            kind => write!(f, "{kind}:{}#{}", self.remote, self.conn),
        }
    }
}

/// Why bytes the core wanted sent were not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection closed, or the socket is gone (shutting down).
    /// RFC 3261 §18.2.2 would open a new connection to the Via address;
    /// this server opens only one connection itself, to the presence
    /// provider's upstream ([`uplink`]), and answers over the connection a
    /// request came on or not at all.
    #[error("connection {0} is closed")]
    Closed(ConnId),
    /// The connection's write queue is full: the peer does not read.
    #[error("connection {0} write queue is full")]
    Backlogged(ConnId),
    /// The socket refused the datagram.
    #[error("send failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How bytes reach one socket or connection.
#[derive(Debug, Clone)]
enum Link {
    /// A UDP socket, shared by every peer that talks to it.
    Datagram(DatagramLink),
    /// The write queue of one TCP or TLS connection task.
    Stream(mpsc::Sender<Bytes>),
}

/// The connection table: every live socket and connection by [`ConnId`].
/// Cloning shares the table.
#[derive(Debug, Clone)]
pub struct Connections {
    inner: Arc<Table>,
}

#[derive(Debug)]
struct Table {
    next: AtomicU64,
    links: RwLock<HashMap<ConnId, Link>>,
    /// The DNS names of each mutual-TLS connection's verified client
    /// certificate: what trusted peers are recognised by.
    certificate_names: RwLock<HashMap<ConnId, Arc<[String]>>>,
}

impl Default for Connections {
    fn default() -> Self {
        // The high bits come from the start time, so ids of different
        // processes (persisted with subscriptions) do not collide; 2^32 ids
        // per process before they could meet the next boot's.
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or_default()
            << 32;
        Connections {
            inner: Arc::new(Table {
                next: AtomicU64::new(base),
                links: RwLock::new(HashMap::new()),
                certificate_names: RwLock::new(HashMap::new()),
            }),
        }
    }
}

impl Connections {
    fn insert(&self, link: Link) -> ConnId {
        let id = ConnId(self.inner.next.fetch_add(1, Ordering::Relaxed));
        self.inner
            .links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, link);
        id
    }

    /// Registers a UDP socket ([`datagram`]); it stays for the life of
    /// the table.
    pub fn add_socket(&self, link: DatagramLink) -> ConnId {
        self.insert(Link::Datagram(link))
    }

    /// Registers a connection's write queue; the registration ends when the
    /// returned guard drops, however the connection task ends.
    pub fn add_stream(&self, writer: mpsc::Sender<Bytes>) -> Registration {
        Registration {
            id: self.insert(Link::Stream(writer)),
            table: self.clone(),
        }
    }

    /// Records the names of a connection's verified client certificate
    /// (mutual TLS); they go when the connection's registration does.
    pub fn set_certificate_names(&self, id: ConnId, names: Vec<String>) {
        self.inner
            .certificate_names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, names.into());
    }

    /// The names of the verified client certificate on `flow`'s
    /// connection, if it presented one.
    pub fn certificate_names(&self, flow: &Flow) -> Option<Arc<[String]>> {
        if flow.transport != TransportKind::Tls {
            return None;
        }
        self.inner
            .certificate_names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&flow.conn)
            .cloned()
    }

    /// Number of registered sockets and connections.
    pub fn len(&self) -> usize {
        self.inner
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends bytes on a flow without waiting: the core must never block on
    /// one slow peer. A full connection queue is an error to log. UDP
    /// datagrams wait in `outbox` to leave in batches (see [`datagram`]);
    /// the caller flushes it at the end of its step.
    pub fn send(&self, outbox: &mut Outbox, flow: &Flow, bytes: Bytes) -> Result<(), SendError> {
        let datagram = |bytes| Datagram {
            to: flow.remote,
            bytes,
        };
        // The outbox knows the sockets it has sent on: no table lock for
        // every datagram of a fan-out.
        let bytes = match outbox.push_known(flow.conn, datagram(bytes)) {
            None => return Ok(()),
            Some(unknown) => unknown.bytes,
        };
        let link = self
            .inner
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&flow.conn)
            .cloned();
        match link {
            Some(Link::Datagram(link)) => {
                outbox.push(flow.conn, &link, datagram(bytes));
                Ok(())
            }
            Some(Link::Stream(writer)) => writer.try_send(bytes).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::Backlogged(flow.conn),
                mpsc::error::TrySendError::Closed(_) => SendError::Closed(flow.conn),
            }),
            None if flow.transport == TransportKind::Udp => match self.udp_socket(flow.local) {
                // A flow persisted by an earlier process: UDP needs no
                // connection, only a socket on the same local address.
                Some((conn, link)) => {
                    outbox.push(conn, &link, datagram(bytes));
                    Ok(())
                }
                None => Err(SendError::Closed(flow.conn)),
            },
            None => Err(SendError::Closed(flow.conn)),
        }
    }

    /// Whether a stream flow's connection is still registered (UDP flows
    /// need no connection and are always usable).
    pub fn is_usable(&self, flow: &Flow) -> bool {
        if flow.transport == TransportKind::Udp {
            return true;
        }
        self.inner
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&flow.conn)
    }

    /// The UDP socket bound to `local`, if one is.
    fn udp_socket(&self, local: SocketAddr) -> Option<(ConnId, DatagramLink)> {
        self.inner
            .links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find_map(|(id, link)| match link {
                Link::Datagram(link) if link.socket().local_addr().ok() == Some(local) => {
                    Some((*id, link.clone()))
                }
                _ => None,
            })
    }
}

/// Keeps a connection in the [`Connections`] table while alive.
#[derive(Debug)]
pub struct Registration {
    id: ConnId,
    table: Connections,
}

impl Registration {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table
            .inner
            .links
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        self.table
            .inner
            .certificate_names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// One received message on its way to the core.
#[derive(Debug)]
pub struct Inbound {
    /// The parsed message; requests already carry `received`/`rport`.
    pub msg: Message,
    /// Where it came from and where its responses go.
    pub flow: Flow,
}

/// A message's standing with its source's flood limit, before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened {
    /// Within the limit, or not counted.
    Pass,
    /// Over the limit: to be answered 503 with this Retry-After.
    Refuse(u32),
    /// Far over the limit: drop without parsing or answering.
    Drop,
}

/// What a transport must do after handing a message to the [`Intake`].
#[derive(Debug)]
pub enum Admission {
    /// The core has it.
    Queued,
    /// Send these bytes back to the peer (a 400 or a 503); the message
    /// itself was dropped and logged.
    Answer {
        /// Where a datagram answer goes; streams answer on the connection.
        to: SocketAddr,
        /// The response.
        bytes: Bytes,
    },
    /// Dropped and logged; nothing to send.
    Dropped,
    /// The core's queue is full and this is a response on a stream: it
    /// would never be retransmitted, so dropping it would stall its
    /// transaction until timeout. The connection task waits for room
    /// ([`Intake::wait_and_queue`]), which pushes back on the peer through
    /// TCP flow control instead.
    Wait(Box<Inbound>),
}

/// The transports' side of the core's bounded inbound queue. When the queue
/// is full the transport answers 503 with Retry-After itself instead of
/// queueing (the overload answer of RFC 3261 §21.5.4), so memory stays
/// bounded and clients back off instead of retransmitting into the backlog.
#[derive(Debug, Clone)]
pub struct Intake {
    queue: mpsc::Sender<Inbound>,
    retry_after_secs: u32,
    tags: ToTags,
    closed: Option<mpsc::UnboundedSender<Flow>>,
    /// The per-source flood limit, when one is configured.
    gate: Option<Arc<source_limit::SourceGate>>,
}

impl Intake {
    /// An intake feeding `queue`.
    pub fn new(queue: mpsc::Sender<Inbound>, retry_after_secs: u32, tags: ToTags) -> Intake {
        Intake {
            queue,
            retry_after_secs,
            tags,
            closed: None,
            gate: None,
        }
    }

    /// Also counts every new request against its source address's flood
    /// limit, answering 503 (or nothing, for an obvious flood) past it
    /// before the request takes a place in the core's queue.
    pub fn with_source_limit(mut self, gate: Arc<source_limit::SourceGate>) -> Intake {
        self.gate = Some(gate);
        self
    }

    /// Also tells `closed` about every TCP/TLS connection that ends, so the
    /// presence engine can end publications tied to it (Kamailio #864: a
    /// publisher whose connection dropped must not stay online until its
    /// publication expires). Unbounded on purpose: a close notice must never
    /// be dropped, and there is at most one per connection.
    pub fn with_close_notices(mut self, closed: mpsc::UnboundedSender<Flow>) -> Intake {
        self.closed = Some(closed);
        self
    }

    /// Reports that a stream flow has closed (see [`Intake::with_close_notices`]).
    pub fn flow_closed(&self, flow: Flow) {
        if let Some(closed) = &self.closed {
            // Fails only when the core is gone (shutdown): nothing to tell.
            let _ = closed.send(flow);
        }
    }

    /// Counts a message not parsed yet against its source's flood limit;
    /// [`Screened::Drop`] is to be dropped unparsed (an obvious flood,
    /// already counted and logged), anything else goes to
    /// [`Intake::admit`] with the parsed message.
    pub fn screen(&self, raw: &[u8], transport: TransportKind, source: SocketAddr) -> Screened {
        match self
            .gate
            .as_ref()
            .and_then(|g| g.screen(raw, transport, source.ip()))
        {
            Some(Verdict::Silence) => Screened::Drop,
            Some(Verdict::Refuse { retry_after_secs }) => Screened::Refuse(retry_after_secs),
            _ => Screened::Pass,
        }
    }

    /// Takes one message a transport has framed and parsed, from `source`,
    /// after [`Intake::screen`].
    #[allow(clippy::too_many_arguments)]
    pub fn admit(
        &self,
        screened: Screened,
        parsed: Result<Message, ParseError>,
        raw: &[u8],
        transport: TransportKind,
        conn: ConnId,
        local: SocketAddr,
        source: SocketAddr,
    ) -> Admission {
        let refuse = match screened {
            Screened::Drop => return Admission::Dropped,
            Screened::Refuse(secs) => Some(secs),
            Screened::Pass => None,
        };
        let msg = match parsed {
            Ok(msg) => msg,
            Err(e) => return reject_unparsable(raw, &e, transport, source),
        };
        let (msg, remote) = match msg {
            Message::Request(mut req) => {
                let arrival = via::Arrival::of(&req, transport, source);
                let remote = arrival.reply_to();
                if let Some(retry_after_secs) = refuse {
                    let tag = self.tags.for_request(&req);
                    let resp = source_limit::rate_limited(&req, retry_after_secs, &tag);
                    return Admission::Answer {
                        to: remote,
                        bytes: Bytes::from(resp.encode()),
                    };
                }
                arrival.stamp(&mut req);
                (Message::Request(req), remote)
            }
            response => (response, source),
        };
        let flow = Flow {
            transport,
            remote,
            local,
            conn,
        };
        if self.keeps_room_for_responses(&msg) {
            return self.overloaded(Inbound { msg, flow });
        }
        match self.queue.try_send(Inbound { msg, flow }) {
            Ok(()) => Admission::Queued,
            Err(mpsc::error::TrySendError::Full(inbound)) => self.overloaded(inbound),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                log_drop(transport, source, "server shutting down", None);
                Admission::Dropped
            }
        }
    }

    /// True when `msg` is a new request and the queue is within its last
    /// quarter: that room is kept for responses (the 200s to our NOTIFYs)
    /// and ACKs. They finish work already accepted; a dropped one costs a
    /// NOTIFY retransmission and holds its dialog's next NOTIFY back, so
    /// under overload they must not lose their place to new requests,
    /// which get the 503 with Retry-After instead (RFC 3261 §21.5.4).
    fn keeps_room_for_responses(&self, msg: &Message) -> bool {
        let Message::Request(req) = msg else {
            return false;
        };
        req.method != sip::Method::Ack && self.queue.capacity() <= self.queue.max_capacity() / 4
    }

    /// Queues a message, waiting for room: for [`Admission::Wait`].
    pub async fn wait_and_queue(&self, inbound: Inbound) {
        if self.queue.send(inbound).await.is_err() {
            tracing::debug!("core gone while a response waited for room");
        }
    }

    fn overloaded(&self, inbound: Inbound) -> Admission {
        if inbound.flow.is_reliable() && matches!(inbound.msg, Message::Response(_)) {
            return Admission::Wait(Box::new(inbound));
        }
        crate::metrics::message_dropped(crate::metrics::DropReason::Overload);
        let Inbound { msg, flow } = inbound;
        match msg {
            Message::Request(req) if req.method != sip::Method::Ack => {
                let resp = overload_answer(&req, self.retry_after_secs, &self.tags);
                log_drop(
                    flow.transport,
                    flow.remote,
                    "core queue full (overload)",
                    Some(503),
                );
                Admission::Answer {
                    to: flow.remote,
                    bytes: Bytes::from(resp.encode()),
                }
            }
            _ => {
                log_drop(
                    flow.transport,
                    flow.remote,
                    "core queue full (overload)",
                    None,
                );
                Admission::Dropped
            }
        }
    }
}

/// The 503 a transport sends when the core cannot take more work.
pub fn overload_answer(req: &Request, retry_after_secs: u32, tags: &ToTags) -> Response {
    let mut resp = Response::to_request(req, 503, Some(&tags.for_request(req)));
    resp.headers.push(Header::new(
        HeaderName::RetryAfter,
        retry_after_secs.to_string(),
    ));
    resp
}

/// Logs an unparsable message and builds the 400 (or 413, 505, 513) that
/// names what broke, when the request carries enough to be answered.
fn reject_unparsable(
    raw: &[u8],
    e: &ParseError,
    transport: TransportKind,
    source: SocketAddr,
) -> Admission {
    crate::metrics::message_dropped(crate::metrics::DropReason::Unparsable);
    match sip::rejection::answer_unparsable(raw, e) {
        Some(answer) => {
            log_drop(transport, source, e, Some(e.status()));
            Admission::Answer {
                to: source,
                bytes: Bytes::from(answer),
            }
        }
        None => {
            log_drop(transport, source, e, None);
            Admission::Dropped
        }
    }
}

/// The one log line for a message that goes no further. `answered` is the
/// status sent back instead, if any.
pub fn log_drop(
    transport: TransportKind,
    peer: SocketAddr,
    reason: impl fmt::Display,
    answered: Option<u16>,
) {
    match answered {
        Some(status) => {
            tracing::warn!(%transport, %peer, %reason, answered = status, "dropped message")
        }
        None => tracing::warn!(%transport, %peer, %reason, "dropped message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:p@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:p@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";

    fn intake(depth: usize) -> (Intake, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(depth);
        (Intake::new(tx, 7, ToTags::new()), rx)
    }

    fn admit(intake: &Intake, raw: &'static [u8]) -> Admission {
        let parsed = sip::parse::parse_datagram(Bytes::from_static(raw));
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        intake.admit(
            Screened::Pass,
            parsed,
            raw,
            TransportKind::Udp,
            ConnId(0),
            src,
            src,
        )
    }

    #[test]
    fn full_queue_answers_503_with_retry_after() {
        let (intake, mut rx) = intake(1);
        assert!(matches!(admit(&intake, OPTIONS), Admission::Queued));
        let Admission::Answer { to, bytes } = admit(&intake, OPTIONS) else {
            panic!("expected a 503")
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with("SIP/2.0 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");
        assert!(text.contains(";received=127.0.0.1"), "{text}");
        assert_eq!(to, "127.0.0.1:40000".parse().unwrap());
        let queued = rx.try_recv().unwrap();
        assert_eq!(queued.flow.to_string(), "udp:127.0.0.1:40000");
    }

    /// The last quarter of the queue is for responses: new requests get
    /// 503 there, while a 200 to one of our NOTIFYs is still queued.
    #[test]
    fn responses_keep_the_last_quarter_of_the_queue() {
        const OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1\r\nFrom: <sip:p@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 NOTIFY\r\n\r\n";
        let (intake, _rx) = intake(4);
        for _ in 0..3 {
            assert!(matches!(admit(&intake, OPTIONS), Admission::Queued));
        }
        assert!(matches!(admit(&intake, OPTIONS), Admission::Answer { .. }));
        assert!(matches!(admit(&intake, OK), Admission::Queued));
        assert!(matches!(admit(&intake, OK), Admission::Dropped));
    }

    #[test]
    fn unparsable_requests_get_a_precise_400() {
        let (intake, _rx) = intake(1);
        let raw = b"OPTIONS sip:p@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:p@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nExpires: soon\r\n\r\n";
        let Admission::Answer { bytes, .. } = admit(&intake, raw) else {
            panic!("expected a 400")
        };
        assert!(bytes.starts_with(b"SIP/2.0 400 Bad Expires header"));
        assert!(matches!(
            admit(&intake, b"garbage\r\n\r\n"),
            Admission::Dropped
        ));
    }

    /// A response on a stream would never be retransmitted, so a full
    /// queue makes the connection wait instead of dropping it; over UDP the
    /// peer retransmits, so it is dropped.
    #[tokio::test]
    async fn full_queue_makes_stream_responses_wait() {
        const OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKn1\r\nFrom: <sip:p@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 NOTIFY\r\n\r\n";
        let (intake, mut rx) = intake(1);
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let ok = || sip::parse::parse_datagram(Bytes::from_static(OK));
        assert!(matches!(admit(&intake, OPTIONS), Admission::Queued));
        let udp = intake.admit(
            Screened::Pass,
            ok(),
            OK,
            TransportKind::Udp,
            ConnId(0),
            src,
            src,
        );
        assert!(matches!(udp, Admission::Dropped));
        let tcp = intake.admit(
            Screened::Pass,
            ok(),
            OK,
            TransportKind::Tcp,
            ConnId(1),
            src,
            src,
        );
        let Admission::Wait(inbound) = tcp else {
            panic!("a TCP response must wait for room")
        };
        let waiting = tokio::spawn({
            let intake = intake.clone();
            async move { intake.wait_and_queue(*inbound).await }
        });
        assert!(matches!(
            rx.recv().await.map(|i| i.msg),
            Some(Message::Request(_))
        ));
        waiting.await.expect("queued once there was room");
        assert!(matches!(
            rx.recv().await.map(|i| i.msg),
            Some(Message::Response(_))
        ));
    }
}

#[cfg(test)]
mod footprint {
    /// Memory per live subscription is a benchmark target (< 1 KiB, issue
    /// 4); the boxed subscription is its largest part. 320 bytes is one of
    /// jemalloc's size classes: one field more spills into the 384 class,
    /// so a change that grows it should be a decision, not an accident.
    #[test]
    fn a_subscription_over_our_flow_fits_320_bytes() {
        let size = std::mem::size_of::<presence::subscription::Subscription<super::Flow>>();
        assert!(size <= 320, "Subscription<Flow> is {size} bytes");
        assert_eq!(std::mem::size_of::<presence::subscription::DialogKey>(), 16);
    }
}
