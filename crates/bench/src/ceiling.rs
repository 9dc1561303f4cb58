//! The loopback ceiling: how many datagrams of a SIP message's size this
//! machine moves per second between two sockets that do nothing else. A
//! server's figures are read against it: a SUBSCRIBE operation is four
//! messages (SUBSCRIBE, 200, NOTIFY, 200), so `ops/s × 4 / packets_per_s`
//! is the share of the kernel's loopback capacity the server reaches.
//!
//! Each pair is two blocking sockets on two OS threads: one echoes, the
//! other keeps `window` datagrams in flight and counts round trips.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The knobs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Bytes per datagram.
    pub size: usize,
    /// Datagrams in flight per pair.
    pub window: usize,
    /// Echo pairs running at once.
    pub pairs: usize,
    /// How long to measure.
    pub duration: Duration,
}

/// What the measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Bytes per datagram.
    pub message_bytes: usize,
    /// Echo pairs.
    pub pairs: usize,
    /// Datagrams in flight per pair.
    pub window: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Request-and-echo exchanges completed.
    pub round_trips: u64,
    /// Datagrams delivered (two per round trip).
    pub packets: u64,
    /// Datagrams per second, all pairs.
    pub packets_per_s: f64,
    /// Round trips per second, all pairs.
    pub round_trips_per_s: f64,
}

/// Runs the measurement.
pub fn run(cfg: Config) -> io::Result<Report> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..cfg.pairs.max(1) {
        let (client, echo) = pair()?;
        let s = stop.clone();
        handles.push(thread::spawn(move || echo_loop(&echo, &s)));
        let s = stop.clone();
        handles.push(thread::spawn(move || client_loop(&client, cfg, &s)));
    }
    let start = Instant::now();
    thread::sleep(cfg.duration);
    stop.store(true, Ordering::Relaxed);
    let mut round_trips = 0;
    for h in handles {
        round_trips += h
            .join()
            .map_err(|_| io::Error::other("a ceiling thread panicked"))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Report {
        message_bytes: cfg.size,
        pairs: cfg.pairs.max(1),
        window: cfg.window,
        seconds,
        round_trips,
        packets: round_trips * 2,
        packets_per_s: round_trips as f64 * 2.0 / seconds,
        round_trips_per_s: round_trips as f64 / seconds,
    })
}

fn pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(50)))?;
    }
    Ok((a, b))
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn echo_loop(sock: &UdpSocket, stop: &AtomicBool) -> io::Result<u64> {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let _ = sock.send(&buf[..n]);
            }
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

fn client_loop(sock: &UdpSocket, cfg: Config, stop: &AtomicBool) -> io::Result<u64> {
    let msg = vec![b'x'; cfg.size.max(1)];
    let mut buf = vec![0u8; 65_536];
    for _ in 0..cfg.window.max(1) {
        sock.send(&msg)?;
    }
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        match sock.recv(&mut buf) {
            Ok(_) => {
                done += 1;
                sock.send(&msg)?;
            }
            // A datagram was lost: put one back in flight.
            Err(e) if timed_out(&e) => {
                sock.send(&msg)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_moves_packets() {
        let r = run(Config {
            size: 400,
            window: 8,
            pairs: 1,
            duration: Duration::from_millis(100),
        })
        .expect("ceiling runs");
        assert!(r.round_trips > 0);
        assert_eq!(r.packets, r.round_trips * 2);
    }
}
