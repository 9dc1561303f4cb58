//! UDP datagrams in batches, one system call for many.
//!
//! A fan-out turns one PUBLISH into thousands of NOTIFYs and their 200s
//! come back in bursts: one `sendto`/`recvfrom` per datagram was most of
//! the time of whichever side moved them, the server's and the load
//! generator's alike. Both sides use this crate, so the one piece of
//! `unsafe` they need (filling `mmsghdr`s for the kernel) lives in one
//! place, with its tests.
//!
//! Linux only (`recvmmsg(2)` and `sendmmsg(2)`), as the server is.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::Bytes;

/// Large enough for any UDP payload, so an oversized datagram is seen
/// whole and rejected by size instead of silently cut.
pub const DATAGRAM_BUFFER: usize = 65_536;

/// Datagrams per `sendmmsg` call: small enough that the first of a burst
/// leave while the rest are being built, large enough to spread the
/// system call's fixed cost (the kernel's limit is `UIO_MAXIOV`, 1024).
pub const SEND_BATCH: usize = 32;

/// One datagram to send.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The peer.
    pub to: SocketAddr,
    /// The payload.
    pub bytes: Bytes,
}

/// One `sendmmsg(2)` of at most [`SEND_BATCH`] datagrams (the rest of a
/// longer slice is left for the next call): how many the kernel took (at
/// least one), or the error of the first, for the caller to drop it and
/// go on.
pub fn send_some(fd: BorrowedFd<'_>, datagrams: &[Datagram]) -> io::Result<usize> {
    send_chunk(fd, datagrams, |d| Some(d.to), |d| &d.bytes)
}

/// [`send_some`] for a slice of any element: `to` gives each one's peer
/// (`None` on a connected socket: no address is passed, so the kernel
/// uses the route it cached at `connect` instead of looking one up per
/// datagram), `bytes` its payload.
fn send_chunk<T>(
    fd: BorrowedFd<'_>,
    datagrams: &[T],
    to: impl Fn(&T) -> Option<SocketAddr>,
    bytes: impl Fn(&T) -> &Bytes,
) -> io::Result<usize> {
    let chunk = &datagrams[..datagrams.len().min(SEND_BATCH)];
    let addrs: Vec<Option<socket2::SockAddr>> =
        chunk.iter().map(|d| to(d).map(Into::into)).collect();
    let mut iovs: Vec<libc::iovec> = chunk
        .iter()
        .map(|d| libc::iovec {
            iov_base: bytes(d).as_ptr() as *mut libc::c_void,
            iov_len: bytes(d).len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(&addrs)
        .map(|(iov, addr)| match addr {
            Some(addr) => mmsghdr(iov, addr.as_ptr() as *mut libc::c_void, addr.len()),
            None => mmsghdr(iov, std::ptr::null_mut(), 0),
        })
        .collect();
    let vlen = u32::try_from(msgs.len()).unwrap_or(u32::MAX);
    // SAFETY: every mmsghdr points at an iovec and a socket address (or
    // none) that outlive the call (`iovs`, `addrs`, and the payloads of
    // `chunk`).
    let n = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), vlen, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sends every datagram of `queue`, [`SEND_BATCH`] per system call; a
/// datagram the kernel refuses (a full buffer, an address it will not
/// take) is handed to `dropped` and skipped. Never blocks on a
/// non-blocking socket.
pub fn send_all(
    fd: BorrowedFd<'_>,
    queue: &[Datagram],
    dropped: impl FnMut(&Datagram, &io::Error),
) {
    send_each(fd, queue, |d| Some(d.to), |d| &d.bytes, dropped);
}

/// [`send_all`] on a connected socket, to its peer: the kernel routes
/// every datagram by the route cached at `connect` (a load generator
/// answering thousands of NOTIFYs from one server spent 4 % of its time
/// looking the same route up again for each 200).
pub fn send_all_connected(
    fd: BorrowedFd<'_>,
    queue: &[Bytes],
    dropped: impl FnMut(&Bytes, &io::Error),
) {
    send_each(fd, queue, |_| None, |b| b, dropped);
}

fn send_each<T>(
    fd: BorrowedFd<'_>,
    queue: &[T],
    to: impl Fn(&T) -> Option<SocketAddr>,
    bytes: impl Fn(&T) -> &Bytes,
    mut dropped: impl FnMut(&T, &io::Error),
) {
    let mut rest = queue;
    while let Some(first) = rest.first() {
        match send_chunk(fd, rest, &to, &bytes) {
            Ok(sent) => rest = &rest[sent.clamp(1, rest.len())..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                dropped(first, &e);
                rest = &rest[1..];
            }
        }
    }
}

/// The buffers of one `recvmmsg(2)`: a whole-datagram buffer and a source
/// address per slot, reused for every call.
pub struct RecvBatch {
    buffers: Vec<Vec<u8>>,
    addrs: Vec<socket2::SockAddrStorage>,
    lens: Vec<usize>,
    sources: Vec<Option<SocketAddr>>,
}

impl RecvBatch {
    /// `slots` datagrams per call, each slot a [`DATAGRAM_BUFFER`]: a
    /// batch of 16 holds 1 MiB.
    pub fn new(slots: usize) -> RecvBatch {
        let slots = slots.max(1);
        RecvBatch {
            buffers: (0..slots).map(|_| vec![0u8; DATAGRAM_BUFFER]).collect(),
            addrs: (0..slots)
                .map(|_| socket2::SockAddrStorage::zeroed())
                .collect(),
            lens: vec![0; slots],
            sources: vec![None; slots],
        }
    }

    /// One non-blocking `recvmmsg(2)`: how many slots it filled (at least
    /// one), or `WouldBlock` when nothing is queued.
    pub fn receive(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
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
                mmsghdr(iov, (addr as *mut socket2::SockAddrStorage).cast(), len)
            })
            .collect();
        let vlen = u32::try_from(msgs.len()).unwrap_or(u32::MAX);
        // SAFETY: every mmsghdr points at a buffer and an address slot of
        // `self` that outlive the call; the kernel writes within their
        // stated lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                vlen,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
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
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let len = *self.lens.get(i)?;
        let data = self.buffers.get(i)?.get(..len)?;
        Some((data, (*self.sources.get(i)?)?))
    }
}

/// One slot of a `sendmmsg(2)` or `recvmmsg(2)`: a single buffer and the
/// peer's address (read from it on send, written into it on receive).
fn mmsghdr(
    iov: &mut libc::iovec,
    name: *mut libc::c_void,
    namelen: libc::socklen_t,
) -> libc::mmsghdr {
    // SAFETY: msghdr is plain data; all-zero is its empty value.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = name;
    hdr.msg_namelen = namelen;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    libc::mmsghdr {
        msg_hdr: hdr,
        msg_len: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    /// Receives until `want` datagrams came or a few seconds passed.
    fn receive_all(
        batch: &mut RecvBatch,
        socket: &UdpSocket,
        want: usize,
    ) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut seen = Vec::new();
        for _ in 0..400 {
            match batch.receive(socket.as_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        let (data, from) = batch.get(i).expect("a filled slot");
                        seen.push((data.to_vec(), from));
                    }
                    if seen.len() >= want {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("receive failed: {e}"),
            }
        }
        seen
    }

    /// Datagrams queued from two peers come out of one call whole, in
    /// order, each with its own source; an empty socket says WouldBlock.
    #[test]
    fn a_batch_takes_queued_datagrams_with_their_sources() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = receiver.local_addr().unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let big = vec![b'x'; 60_000];
        a.send_to(b"first", to).unwrap();
        b.send_to(b"second", to).unwrap();
        a.send_to(&big, to).unwrap();
        let mut batch = RecvBatch::new(16);
        let seen = receive_all(&mut batch, &receiver, 3);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (b"first".to_vec(), a.local_addr().unwrap()));
        assert_eq!(seen[1], (b"second".to_vec(), b.local_addr().unwrap()));
        assert_eq!(seen[2], (big, a.local_addr().unwrap()));
        let empty = batch.receive(receiver.as_fd()).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }

    /// On a connected socket the datagrams go to its peer without an
    /// address, whole and in order, more than one call's worth.
    #[test]
    fn send_all_connected_reaches_the_peer() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_nonblocking(true).unwrap();
        sender.connect(peer.local_addr().unwrap()).unwrap();
        let count = SEND_BATCH + 3;
        let queue: Vec<Bytes> = (0..count)
            .map(|i| Bytes::from(format!("answer {i}")))
            .collect();
        let mut refused = 0;
        send_all_connected(sender.as_fd(), &queue, |_, _| refused += 1);
        assert_eq!(refused, 0);
        let mut batch = RecvBatch::new(8);
        let seen = receive_all(&mut batch, &peer, count);
        let texts: Vec<Vec<u8>> = seen.iter().map(|(d, _)| d.clone()).collect();
        let expected: Vec<Vec<u8>> = queue.iter().map(|b| b.to_vec()).collect();
        assert_eq!(texts, expected);
        assert!(seen
            .iter()
            .all(|(_, from)| *from == sender.local_addr().unwrap()));
    }

    /// More datagrams than one call takes arrive whole and in order, and
    /// a refused one is reported while the rest still go.
    #[test]
    fn send_all_delivers_every_datagram_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.set_nonblocking(true).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = peer.local_addr().unwrap();
        let count = SEND_BATCH * 2 + 5;
        let mut queue: Vec<Datagram> = (0..count)
            .map(|i| Datagram {
                to,
                bytes: Bytes::from(format!("datagram {i}")),
            })
            .collect();
        // An IPv6 destination from an IPv4 socket: the kernel refuses it.
        queue.insert(
            3,
            Datagram {
                to: "[::1]:9".parse().unwrap(),
                bytes: Bytes::from_static(b"refused"),
            },
        );
        let mut refused = Vec::new();
        send_all(sender.as_fd(), &queue, |d, _| refused.push(d.to));
        assert_eq!(refused, vec!["[::1]:9".parse::<SocketAddr>().unwrap()]);
        let mut batch = RecvBatch::new(8);
        let seen = receive_all(&mut batch, &peer, count);
        let texts: Vec<String> = seen
            .iter()
            .map(|(d, _)| String::from_utf8_lossy(d).into_owned())
            .collect();
        let expected: Vec<String> = (0..count).map(|i| format!("datagram {i}")).collect();
        assert_eq!(texts, expected);
    }
}
