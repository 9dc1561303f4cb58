//! The server under test, when a benchmark starts it itself
//! (`provider-bench`, `sync-bench`): presenced on a config file, quiet,
//! killed when the guard drops so no run leaves a server behind.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use bytes::Bytes;
use sip::parse::{parse, Framing};
use sip::{Limits, Message};

/// The watchers' socket's receive buffer (the kernel may cap it at
/// `net.core.rmem_max`).
const WATCHERS_RECV_BUFFER: usize = 8 << 20;

/// The one loopback socket the watchers of a benchmark share. A fan-out
/// arrives on it as a burst of NOTIFYs: a receive buffer that overflowed
/// would show as Timer A retransmits (500 ms) in the latency, the bench's
/// loss rather than the server's, hence the large buffer.
pub fn watchers_socket() -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket2::SockRef::from(&socket).set_recv_buffer_size(WATCHERS_RECV_BUFFER)?;
    Ok(socket)
}

/// The watchers' side of a benchmark that starts its own server: receives
/// on `socket` until it is closed, answers every request (the server's
/// NOTIFYs) with 200, and hands each final response and each request,
/// with when it arrived, to `classify`; what it returns goes to `seen`
/// until the receiving end is gone.
pub fn answer_and_report<T>(
    socket: UdpSocket,
    seen: mpsc::Sender<T>,
    mut classify: impl FnMut(Message, Instant) -> Option<T>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        let at = Instant::now();
        let Ok(message) = parse(
            Bytes::copy_from_slice(&buf[..n]),
            Framing::Datagram,
            &Limits::DEFAULT,
        ) else {
            continue;
        };
        match &message {
            Message::Response(resp) if resp.status < 200 => continue,
            Message::Response(_) => {}
            Message::Request(req) => {
                let ok = sip::Response::to_request(req, 200, None);
                let _ = socket.send_to(&ok.encode(), from);
            }
        }
        let Some(event) = classify(message, at) else {
            continue;
        };
        if seen.send(event).is_err() {
            return;
        }
    }
}

/// A free loopback port (UDP; presenced's listeners bind TCP on it too).
pub fn free_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// presenced, killed on drop.
#[derive(Debug)]
pub struct Presenced(Child);

impl Presenced {
    /// Starts `binary --config config` with warnings-only logging and no
    /// output (a benchmark's terminal is for its report).
    pub fn start(binary: &Path, config: &Path) -> std::io::Result<Presenced> {
        Command::new(binary)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Presenced)
    }
}

impl Drop for Presenced {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
