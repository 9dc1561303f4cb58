//! A flooder: one source address sending PUBLISHes at a fixed rate,
//! far above what the server allows one source, while a well-behaved
//! client is measured (the `flood` subcommand).
//!
//! It does not retransmit, answer or back off (an attacker does not); it
//! counts what comes back by status, so the report shows how much the
//! server let through, answered 503, and dropped in silence. Every
//! PUBLISH is for its own presentity, so per-user limits do not apply and
//! only the per-source limit stands between the flood and the server.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How many requests are due `elapsed` into a flood at `rate` a second.
pub fn due(rate: f64, elapsed: Duration) -> u64 {
    (rate * elapsed.as_secs_f64()).floor() as u64
}

/// What the flooder sent and got back.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FloodReport {
    /// The source address.
    pub from: String,
    /// Requests a second asked for.
    pub rate: f64,
    /// Requests sent.
    pub sent: u64,
    /// Seconds the flood ran.
    pub elapsed_s: f64,
    /// Final responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without a final response when the flood stopped (dropped
    /// in silence, or still on their way).
    pub unanswered: u64,
}

impl FloodReport {
    /// Counts one datagram the server sent back.
    fn count(&mut self, datagram: &[u8]) {
        if let Some(status) = final_status(datagram) {
            *self.statuses.entry(status).or_default() += 1;
        }
    }
}

/// The status of a final response, `None` for anything else.
fn final_status(datagram: &[u8]) -> Option<u16> {
    let rest = datagram.strip_prefix(b"SIP/2.0 ")?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    (code >= 200).then_some(code)
}

/// A PUBLISH of presentity `n` of run `run`, from `local`.
fn publish(run: &str, domain: &str, local: SocketAddr, n: u64) -> String {
    let aor = format!("sip:flood{n}.{run}@{domain}");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{aor}\">\
         <tuple id=\"f\"><status><basic>open</basic></status></tuple></presence>"
    );
    format!(
        "PUBLISH {aor} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{run}-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <{aor}>;tag=f{n}\r\n\
         To: <{aor}>\r\n\
         Call-ID: flood-{run}-{n}\r\n\
         CSeq: 1 PUBLISH\r\n\
         Event: presence\r\n\
         Expires: 60\r\n\
         Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A flood under way; [`Flood::stop`] ends it and reports.
pub struct Flood {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<FloodReport>>,
}

impl Flood {
    /// Starts sending from `from` to `server` at `rate` a second.
    pub fn start(
        from: IpAddr,
        server: SocketAddr,
        rate: f64,
        run: &str,
        domain: &str,
    ) -> std::io::Result<Flood> {
        let socket = UdpSocket::bind((from, 0))?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (run, domain, halt) = (run.to_owned(), domain.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || flood(&socket, rate, &run, &domain, &halt));
        Ok(Flood { stop, thread })
    }

    /// Stops sending, waits a moment for the last answers, and reports.
    pub fn stop(self) -> std::io::Result<FloodReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the flood thread panicked"))?
    }
}

fn flood(
    socket: &UdpSocket,
    rate: f64,
    run: &str,
    domain: &str,
    stop: &AtomicBool,
) -> std::io::Result<FloodReport> {
    let local = socket.local_addr()?;
    let mut report = FloodReport {
        from: local.ip().to_string(),
        rate,
        ..FloodReport::default()
    };
    let start = Instant::now();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let target = due(rate, start.elapsed());
        while report.sent < target {
            let text = publish(run, domain, local, report.sent);
            match socket.send(text.as_bytes()) {
                Ok(_) => report.sent += 1,
                // A full send buffer: the kernel drops, as a flood would.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        drain(socket, &mut buf, &mut report)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    report.elapsed_s = start.elapsed().as_secs_f64();
    // Answers already on their way.
    let quiet = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet {
        drain(socket, &mut buf, &mut report)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let answered: u64 = report.statuses.values().sum();
    report.unanswered = report.sent.saturating_sub(answered);
    Ok(report)
}

fn drain(socket: &UdpSocket, buf: &mut [u8], report: &mut FloodReport) -> std::io::Result<()> {
    loop {
        match socket.recv(buf) {
            Ok(n) => report.count(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            // ICMP port unreachable from an earlier datagram: keep going.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_due_follow_the_rate() {
        assert_eq!(due(4000.0, Duration::ZERO), 0);
        assert_eq!(due(4000.0, Duration::from_millis(1)), 4);
        assert_eq!(due(4000.0, Duration::from_millis(2500)), 10_000);
        assert_eq!(due(0.5, Duration::from_secs(3)), 1);
    }

    #[test]
    fn only_final_responses_are_counted() {
        let mut r = FloodReport::default();
        r.count(b"SIP/2.0 503 Rate limit exceeded\r\nRetry-After: 1\r\n\r\n");
        r.count(b"SIP/2.0 200 OK\r\n\r\n");
        r.count(b"SIP/2.0 100 Trying\r\n\r\n");
        r.count(b"NOTIFY sip:x SIP/2.0\r\n\r\n");
        r.count(b"SIP/2.0 5");
        assert_eq!(r.statuses, BTreeMap::from([(200, 1), (503, 1)]));
    }

    #[test]
    fn each_publish_is_its_own_presentity_and_transaction() {
        let local: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        let a = publish("r1", "bench.test", local, 1);
        let b = publish("r1", "bench.test", local, 2);
        assert!(a.starts_with("PUBLISH sip:flood1.r1@bench.test SIP/2.0\r\n"));
        assert!(a.contains("Via: SIP/2.0/UDP 127.0.0.2:4000;branch=z9hG4bK-flood-r1-1;rport"));
        assert_ne!(a.lines().nth(1), b.lines().nth(1));
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
    }
}
