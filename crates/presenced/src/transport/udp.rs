//! SIP over UDP: one task per socket, one message per datagram
//! (RFC 3261 §18.3).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::parse::{self, Framing};
use sip::Limits;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{log_drop, Admission, ConnId, Intake, TransportKind};

/// Large enough for any UDP payload, so an oversized datagram is seen
/// whole and rejected by size instead of silently cut.
const DATAGRAM_BUFFER: usize = 65_536;

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

/// Receives datagrams until cancelled, handing each to the core.
pub async fn serve(
    socket: Arc<UdpSocket>,
    conn: ConnId,
    intake: Intake,
    limits: Limits,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(e) => {
            tracing::error!(error = %e, "udp socket has no local address");
            return;
        }
    };
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, source) = match received {
            Ok(r) => r,
            // ICMP port-unreachable from an earlier send shows up here on
            // some systems; it concerns no message we received.
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let datagram = &buf[..n];
        if datagram.iter().all(|&b| b == b'\r' || b == b'\n') {
            // A CRLF keep-alive (RFC 5626 §3.5.1 style) over UDP: no answer.
            tracing::trace!(%source, "udp keep-alive");
            continue;
        }
        let raw = Bytes::copy_from_slice(datagram);
        let parsed = parse::parse(raw.clone(), Framing::Datagram, &limits);
        if let Admission::Answer { to, bytes } =
            intake.admit(parsed, &raw, TransportKind::Udp, conn, local, source)
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
