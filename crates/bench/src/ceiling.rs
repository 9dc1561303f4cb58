//! The loopback ceiling: how many datagrams of a SIP message's size this
//! machine moves per second between two sockets that do nothing else. A
//! server's figures are read against it: a SUBSCRIBE operation is four
//! messages (SUBSCRIBE, 200, NOTIFY, 200), so `ops/s × 4 / packets_per_s`
//! is the share of the kernel's loopback capacity the server reaches.
//!
//! Each pair is two blocking sockets on two OS threads: one echoes, the
//! other keeps `window` datagrams in flight and counts round trips.
//!
//! With `window` 1 the client also times every round trip, which is the
//! loopback's own latency, the figure a one-watcher PUBLISH → NOTIFY is read
//! against. A `gap` between round trips lets both threads fall idle as a
//! paced workload's do: a round trip that starts from idle pays the wake-up
//! of a sleeping thread (and, in a virtual machine, of a halted CPU), which
//! a back-to-back ping-pong never does, so a paced run must be compared
//! with a paced ceiling.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
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
    /// Idle time between round trips; only with `window` 1 (zero: back to
    /// back).
    pub gap: Duration,
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
    /// Idle microseconds between round trips (0: back to back).
    pub gap_us: u64,
    /// The round trip's own time, when `window` is 1.
    pub round_trip_us: Option<Latency>,
}

/// Round-trip times of a `window` 1 run, microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Mean.
    pub mean: f64,
    /// Longest.
    pub max: u64,
}

/// Runs the measurement.
pub fn run(cfg: Config) -> io::Result<Report> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..cfg.pairs.max(1) {
        let (client, echo) = pair()?;
        let s = stop.clone();
        handles.push(thread::spawn(move || {
            echo_loop(&echo, &s).map(|done| (done, None))
        }));
        let s = stop.clone();
        handles.push(thread::spawn(move || {
            if cfg.window <= 1 {
                timed_loop(&client, cfg, &s).map(|(done, hist)| (done, Some(hist)))
            } else {
                client_loop(&client, cfg, &s).map(|done| (done, None))
            }
        }));
    }
    let start = Instant::now();
    thread::sleep(cfg.duration);
    stop.store(true, Ordering::Relaxed);
    let mut round_trips = 0;
    let mut times = new_histogram();
    for h in handles {
        let (done, hist) = h
            .join()
            .map_err(|_| io::Error::other("a ceiling thread panicked"))??;
        round_trips += done;
        if let Some(hist) = hist {
            times
                .add(hist)
                .map_err(|e| io::Error::other(format!("merging round trips: {e}")))?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let round_trip_us = (!times.is_empty()).then(|| Latency {
        p50: times.value_at_quantile(0.5),
        p99: times.value_at_quantile(0.99),
        mean: times.mean(),
        max: times.max(),
    });
    Ok(Report {
        message_bytes: cfg.size,
        pairs: cfg.pairs.max(1),
        window: cfg.window,
        seconds,
        round_trips,
        packets: round_trips * 2,
        packets_per_s: round_trips as f64 * 2.0 / seconds,
        round_trips_per_s: round_trips as f64 / seconds,
        gap_us: cfg.gap.as_micros() as u64,
        round_trip_us,
    })
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds up to 10 s, three significant digits; fixed bounds, so
    // creating it cannot fail.
    Histogram::new_with_bounds(1, 10_000_000, 3).expect("valid histogram bounds")
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

/// One datagram in flight: each round trip timed, then `cfg.gap` idle.
fn timed_loop(
    sock: &UdpSocket,
    cfg: Config,
    stop: &AtomicBool,
) -> io::Result<(u64, Histogram<u64>)> {
    let msg = vec![b'x'; cfg.size.max(1)];
    let mut buf = vec![0u8; 65_536];
    let mut hist = new_histogram();
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        sock.send(&msg)?;
        match sock.recv(&mut buf) {
            Ok(_) => {
                done += 1;
                let us = sent.elapsed().as_micros() as u64;
                hist.saturating_record(us.max(1));
            }
            // Lost: the next round sends another.
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
        if !cfg.gap.is_zero() {
            thread::sleep(cfg.gap);
        }
    }
    Ok((done, hist))
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
            gap: Duration::ZERO,
        })
        .expect("ceiling runs");
        assert!(r.round_trips > 0);
        assert_eq!(r.packets, r.round_trips * 2);
        assert!(r.round_trip_us.is_none(), "only window 1 is timed");
    }

    #[test]
    fn a_paced_run_times_each_round_trip() {
        let r = run(Config {
            size: 400,
            window: 1,
            pairs: 1,
            duration: Duration::from_millis(100),
            gap: Duration::from_millis(2),
        })
        .expect("ceiling runs");
        let rtt = r.round_trip_us.expect("window 1 is timed");
        assert!(
            r.round_trips > 0 && r.round_trips <= 50,
            "{} round trips",
            r.round_trips
        );
        assert!(rtt.p50 >= 1 && rtt.p50 <= rtt.p99 && rtt.p99 <= rtt.max);
        assert_eq!(r.gap_us, 2_000);
    }
}
