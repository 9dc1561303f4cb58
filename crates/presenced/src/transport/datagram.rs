//! Outgoing UDP datagrams, sent in batches with `sendmmsg(2)`.
//!
//! A fan-out turns one PUBLISH into thousands of NOTIFYs. Sent one
//! `sendto` at a time, the sends were half of the core's time. So the core
//! queues datagrams in an [`Outbox`] and writes each socket's batch with
//! one system call, when the batch is full or the core's step ends.
//!
//! A sender thread per socket was tried and measured slower on a 2-core
//! host: the extra runnable thread competed with the core and the peer for
//! the same CPUs. The batch is sent on the core's thread.
//!
//! What this gives up: a UDP send that fails (a full socket buffer, an
//! unreachable address) is logged and counted but no longer reported to
//! the transaction layer. For UDP that changes little: a client
//! transaction retransmits (Timer E) and ends with a timeout (Timer F)
//! instead of a transport error, and a server transaction resends its
//! response on the peer's retransmission.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::{log_drop, ConnId, TransportKind};
use crate::metrics::{self, DropReason};

/// Datagrams per `sendmmsg` call (see [`udp_batch::SEND_BATCH`]).
pub const BATCH: usize = udp_batch::SEND_BATCH;

pub use udp_batch::Datagram;

/// A UDP socket as the core sends on it.
#[derive(Debug, Clone)]
pub struct DatagramLink {
    socket: Arc<UdpSocket>,
}

impl DatagramLink {
    /// The link of `socket`.
    pub fn new(socket: Arc<UdpSocket>) -> DatagramLink {
        DatagramLink { socket }
    }

    /// The socket, for the transports' own answers and address lookups.
    pub fn socket(&self) -> &Arc<UdpSocket> {
        &self.socket
    }

    /// Sends a batch now, without waiting: a datagram the socket does not
    /// take is dropped and logged, as a single `try_send_to` would be.
    fn hand_over(&self, batch: Vec<Datagram>) {
        send_all(self.socket.as_fd(), &batch);
    }
}

/// Datagrams the core has produced in its current step, per socket,
/// waiting for a full batch or the end of the step ([`Outbox::flush`]).
/// Owned by the core task alone, so queueing takes no lock.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Vec<(ConnId, DatagramLink, Vec<Datagram>)>,
}

impl Outbox {
    /// Queues a datagram on `link` (socket `conn`); a full batch leaves at
    /// once.
    pub(super) fn push(&mut self, conn: ConnId, link: &DatagramLink, d: Datagram) {
        if let Some(d) = self.push_known(conn, d) {
            self.pending
                .push((conn, link.clone(), Vec::with_capacity(BATCH)));
            // Just added, so known: nothing comes back.
            let _ = self.push_known(conn, d);
        }
    }

    /// Queues a datagram on socket `conn` if the outbox has sent on it
    /// before; gives it back otherwise, for the caller to look the socket
    /// up and [`Outbox::push`] it.
    pub(super) fn push_known(&mut self, conn: ConnId, d: Datagram) -> Option<Datagram> {
        // A server has a handful of UDP sockets: a scan beats a map.
        let Some((_, link, batch)) = self.pending.iter_mut().find(|(c, _, _)| *c == conn) else {
            return Some(d);
        };
        batch.push(d);
        if batch.len() >= BATCH {
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            link.hand_over(full);
        }
        None
    }

    /// Hands every partial batch over; the core calls it at the end of
    /// each step, so nothing waits for a batch to fill.
    pub fn flush(&mut self) {
        for (_, link, batch) in &mut self.pending {
            if !batch.is_empty() {
                link.hand_over(std::mem::take(batch));
            }
        }
    }
}

/// Sends every datagram of `queue`, a batch per system call; one the
/// kernel refuses is dropped, counted and logged.
fn send_all(fd: BorrowedFd<'_>, queue: &[Datagram]) {
    udp_batch::send_all(fd, queue, |d, e| dropped(d.to, e));
}

fn dropped(to: SocketAddr, e: &std::io::Error) {
    metrics::message_dropped(DropReason::SendFailed);
    log_drop(
        TransportKind::Udp,
        to,
        format_args!("outgoing message not sent: {e}"),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Batches of any size reach the peer whole and in order, whether
    /// they leave full or at a flush.
    #[tokio::test]
    async fn batches_arrive_whole_and_in_order() {
        let sender = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = peer.local_addr().unwrap();
        let link = DatagramLink::new(sender);
        let mut outbox = Outbox::default();
        let count = BATCH * 2 + 5;
        for i in 0..count {
            let bytes = Bytes::from(format!("datagram {i}"));
            outbox.push(ConnId::for_tests(1), &link, Datagram { to, bytes });
        }
        outbox.flush();
        let mut buf = [0u8; 64];
        for i in 0..count {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), peer.recv(&mut buf))
                .await
                .expect("datagram arrives")
                .unwrap();
            assert_eq!(&buf[..n], format!("datagram {i}").as_bytes());
        }
    }
}
