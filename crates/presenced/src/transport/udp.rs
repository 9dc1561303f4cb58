//! SIP over UDP: one task per socket, one message per datagram
//! (RFC 3261 §18.3).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::parse::plain_response::{self, OwnVia};
use sip::parse::{self, Framing};
use sip::{Limits, Message, Method, ParseError};
use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use udp_batch::RecvBatch;

use super::{log_drop, Admission, ConnId, Intake, Screened, TransportKind};

/// The socket buffers asked for (bytes): room for a fan-out's burst.
const RECEIVE_BUFFER: usize = 8 << 20;

/// Binds a UDP socket. IPv6 sockets are IPv6-only, so `udp:0.0.0.0:5060`
/// and `udp:[::]:5060` can be configured side by side.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // A PUBLISH to a presentity with thousands of watchers sends thousands
    // of NOTIFYs at once, and their 200s come back in a burst: the default
    // buffer (about 200 KB) overflows and every lost 200 costs a NOTIFY
    // retransmission. Ask for more; the kernel caps it at rmem_max.
    if let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(RECEIVE_BUFFER) {
        tracing::debug!(error = %e, "could not enlarge the UDP send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Datagrams taken per `recvmmsg(2)`. The 200s to a fan-out's NOTIFYs
/// arrive in bursts of thousands; one system call per datagram was most
/// of this task's time. Each slot is a whole-datagram buffer, so a
/// listener holds `RECEIVE_BATCH × 64 KiB` (1 MiB) of them.
const RECEIVE_BATCH: usize = 16;

/// Receives datagrams until cancelled, handing each to the core.
pub async fn serve(
    socket: Arc<UdpSocket>,
    conn: ConnId,
    intake: Intake,
    limits: Limits,
    cancel: CancellationToken,
) {
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(e) => {
            tracing::error!(error = %e, "udp socket has no local address");
            return;
        }
    };
    // The responses to our NOTIFYs carry our own Via back: the scan need
    // not check its grammar again.
    let own = OwnVia::new(&crate::outbound::own_via_prefix(TransportKind::Udp, local));
    let mut batch = RecvBatch::new(RECEIVE_BATCH);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            ready = socket.readable() => {
                if let Err(e) = ready {
                    tracing::error!(error = %e, "udp socket failed");
                    return;
                }
            }
        }
        // Drain what is queued, a batch per call, until the socket would
        // block (which clears tokio's readiness for the next wait).
        loop {
            let received = socket.try_io(Interest::READABLE, || batch.receive(socket.as_fd()));
            let n = match received {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP port-unreachable from an earlier send shows up here
                // on some systems; it concerns no message we received.
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive error");
                    continue;
                }
            };
            for i in 0..n {
                let Some((datagram, source)) = batch.get(i) else {
                    continue;
                };
                let own = own.as_ref();
                if let Some((to, bytes)) =
                    take(datagram, source, conn, local, &intake, &limits, own)
                {
                    if let Err(e) = socket.send_to(&bytes, to).await {
                        log_drop(
                            TransportKind::Udp,
                            to,
                            format_args!("answer not sent: {e}"),
                            None,
                        );
                    }
                }
            }
        }
    }
}

/// Hands one datagram to the core; what to send back when the transport
/// answers it itself (a 400 or a 503).
fn take(
    datagram: &[u8],
    source: SocketAddr,
    conn: ConnId,
    local: SocketAddr,
    intake: &Intake,
    limits: &Limits,
    own: Option<&OwnVia>,
) -> Option<(SocketAddr, Bytes)> {
    if datagram.iter().all(|&b| b == b'\r' || b == b'\n') {
        // A CRLF keep-alive (RFC 5626 §3.5.1 style) over UDP: no answer.
        tracing::trace!(%source, "udp keep-alive");
        return None;
    }
    let screened = intake.screen(datagram, TransportKind::Udp, source);
    if screened == Screened::Drop {
        return None;
    }
    let raw = Bytes::copy_from_slice(datagram);
    let parsed = read(&raw, limits, own);
    match intake.admit(
        screened,
        parsed,
        &raw,
        TransportKind::Udp,
        conn,
        local,
        source,
    ) {
        Admission::Answer { to, bytes } => Some((to, bytes)),
        _ => None,
    }
}

/// Reads one datagram. A response to one of our NOTIFYs — the 200s of a
/// fan-out, whose consumer reads only the status once the transaction
/// layer has found it by the top Via's branch and the CSeq method — is
/// taken by the plain-response scan when the scan is sure of it
/// (`sip::parse::plain_response`), which skips most of the parser's work
/// per header. Everything else keeps the full parse: requests, responses
/// to our upstream SUBSCRIBEs (their From, To and Contact are read), and
/// any response the scan is unsure of.
fn read(raw: &Bytes, limits: &Limits, own: Option<&OwnVia>) -> Result<Message, ParseError> {
    match plain_response::scan_own(raw, limits, own) {
        Some(plain) if plain.cseq.method == Method::Notify => Ok(Message::Response(plain.response)),
        _ => parse::parse(raw.clone(), Framing::Datagram, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::{HeaderAccess, HeaderName};

    const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1;rport=5070\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: c1@127.0.0.1\r\n\
CSeq: 7 NOTIFY\r\n\
Content-Length: 0\r\n\r\n";

    fn response(text: &str) -> sip::Response {
        match read(&Bytes::from(text.to_string()), &Limits::DEFAULT, None) {
            Ok(Message::Response(resp)) => resp,
            other => panic!("{other:?}"),
        }
    }

    /// The scan's reading keeps the three headers a client transaction
    /// needs; the parser's keeps every header.
    #[test]
    fn a_200_to_our_notify_skips_the_full_parse() {
        let resp = response(OK);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers.len(), 3);
        assert!(resp.headers.get(HeaderName::From).is_none());
        assert_eq!(resp.cseq().expect("cseq").method, Method::Notify);
        assert_eq!(
            resp.top_via().expect("via").branch().map(|b| &b[..]),
            Some(&b"z9hG4bK-n1"[..])
        );
    }

    /// With our Via prefix known, the 200 to our NOTIFY reads the same:
    /// the listener's prefix is one the scan vouches for.
    #[test]
    fn our_own_via_reads_the_same() {
        let local: SocketAddr = "127.0.0.1:5060".parse().expect("addr");
        let prefix = crate::outbound::own_via_prefix(TransportKind::Udp, local);
        let own = OwnVia::new(&prefix).expect("our prefix is plain");
        let ok =
            Bytes::from(OK.replace(";branch=z9hG4bK-n1;rport=5070", ";branch=z9hG4bK-n1;rport"));
        let with = read(&ok, &Limits::DEFAULT, Some(&own)).expect("reads");
        let without = read(&ok, &Limits::DEFAULT, None).expect("reads");
        assert_eq!(format!("{with:?}"), format!("{without:?}"));
        match with {
            Message::Response(resp) => assert_eq!(resp.headers.len(), 3, "the scan's reading"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_responses_and_the_unusual_take_the_parser() {
        let subscribe = response(&OK.replace("7 NOTIFY", "7 SUBSCRIBE"));
        assert_eq!(subscribe.headers.len(), 6, "the upstream reads From and To");
        let folded = response(&OK.replace("Call-ID: c1@127.0.0.1", "Call-ID:\r\n c1@127.0.0.1"));
        assert_eq!(folded.headers.len(), 6);
        let body = response(&OK.replace("Content-Length: 0\r\n\r\n", "\r\nxyz"));
        assert_eq!((body.headers.len(), &body.body[..]), (5, &b"xyz"[..]));
    }

    #[test]
    fn requests_and_broken_responses_take_the_parser() {
        let request = OK
            .replace("SIP/2.0 200 OK", "NOTIFY sip:bob@example.com SIP/2.0")
            .replace(
                "7 NOTIFY",
                "7 NOTIFY\r\nEvent: presence\r\nMax-Forwards: 70",
            );
        assert!(matches!(
            read(&Bytes::from(request), &Limits::DEFAULT, None),
            Ok(Message::Request(_))
        ));
        let no_to = OK.replace("To: <sip:bob@example.com>;tag=b1\r\n", "");
        assert_eq!(
            read(&Bytes::from(no_to), &Limits::DEFAULT, None).expect_err("no To"),
            ParseError::Header(sip::typed::TypedError::Missing(HeaderName::To))
        );
    }
}
