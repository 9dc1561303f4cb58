//! SIP over UDP: one task per socket, one message per datagram
//! (RFC 3261 §18.3).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::parse::{self, Framing};
use sip::Limits;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{log_drop, Admission, ConnId, Intake, Screened, TransportKind};

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
    let mut batch = Batch::new();
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
                if let Some((to, bytes)) = take(datagram, source, conn, local, &intake, &limits) {
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
    let parsed = parse::parse(raw.clone(), Framing::Datagram, limits);
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

/// The buffers of one `recvmmsg(2)`: a whole-datagram buffer and a source
/// address per slot, reused for every call.
struct Batch {
    buffers: Vec<Vec<u8>>,
    addrs: Vec<socket2::SockAddrStorage>,
    lens: [usize; RECEIVE_BATCH],
    sources: [Option<SocketAddr>; RECEIVE_BATCH],
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buffers: (0..RECEIVE_BATCH)
                .map(|_| vec![0u8; DATAGRAM_BUFFER])
                .collect(),
            addrs: (0..RECEIVE_BATCH)
                .map(|_| socket2::SockAddrStorage::zeroed())
                .collect(),
            lens: [0; RECEIVE_BATCH],
            sources: [None; RECEIVE_BATCH],
        }
    }

    /// One non-blocking `recvmmsg(2)`: how many slots it filled (at least
    /// one), or `WouldBlock` when nothing is queued.
    fn receive(&mut self, fd: BorrowedFd<'_>) -> std::io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = self
            .buffers
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(self.addrs.iter_mut())
            .map(|(iov, addr)| {
                let len = addr.size_of();
                super::datagram::mmsghdr(iov, (addr as *mut socket2::SockAddrStorage).cast(), len)
            })
            .collect();
        // SAFETY: every mmsghdr points at a buffer and an address slot of
        // `self` that outlive the call; the kernel writes within their
        // stated lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                RECEIVE_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = n as usize;
        let lens: Vec<(usize, libc::socklen_t)> = msgs
            .iter()
            .take(n)
            .map(|m| (m.msg_len as usize, m.msg_hdr.msg_namelen))
            .collect();
        for (i, (len, addr_len)) in lens.into_iter().enumerate() {
            self.lens[i] = len;
            let storage = std::mem::replace(&mut self.addrs[i], socket2::SockAddrStorage::zeroed());
            // SAFETY: the kernel wrote a socket address of `addr_len`
            // bytes into the slot, within its storage.
            self.sources[i] = unsafe { socket2::SockAddr::new(storage, addr_len) }.as_socket();
        }
        Ok(n)
    }

    /// Slot `i`'s datagram and its source, if the source is an IP address.
    fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let len = *self.lens.get(i)?;
        let data = self.buffers.get(i)?.get(..len)?;
        Some((data, (*self.sources.get(i)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams queued from two peers come out of one call whole, in
    /// order, each with its own source; an empty socket says WouldBlock.
    #[test]
    fn a_batch_takes_queued_datagrams_with_their_sources() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = receiver.local_addr().unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let big = vec![b'x'; 60_000];
        a.send_to(b"first", to).unwrap();
        b.send_to(b"second", to).unwrap();
        a.send_to(&big, to).unwrap();
        let mut batch = Batch::new();
        let mut seen = Vec::new();
        // Loopback delivers at once, but give the kernel a moment anyway.
        for _ in 0..100 {
            match batch.receive(receiver.as_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        let (data, from) = batch.get(i).unwrap();
                        seen.push((data.to_vec(), from));
                    }
                    if seen.len() == 3 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("receive failed: {e}"),
            }
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (b"first".to_vec(), a.local_addr().unwrap()));
        assert_eq!(seen[1], (b"second".to_vec(), b.local_addr().unwrap()));
        assert_eq!(seen[2], (big, a.local_addr().unwrap()));
        let empty = batch.receive(receiver.as_fd()).unwrap_err();
        assert_eq!(empty.kind(), std::io::ErrorKind::WouldBlock);
    }
}
