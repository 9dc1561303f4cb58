//! `provider-bench`: the presence provider under load, with Kamailio as
//! the upstream presence server (issue 12).
//!
//! Starts Kamailio (`tests/peers/kamailio_presence.py`, its presence
//! config) and presenced with `[provider] upstream` pointing at it, both
//! on loopback; subscribes N consumers over M presentities to presenced
//! (consumer i watches presentity i mod M, all dialogs over one UDP
//! socket, every NOTIFY answered 200); waits until every upstream
//! subscription is live; then, one round at a time, PUBLISHes a new state
//! of one presentity straight into Kamailio (round robin) and times, for
//! each of that presentity's consumers, the PUBLISH leaving → the NOTIFY
//! from presenced carrying the round's marker. Reports the upstream
//! SUBSCRIBEs Kamailio received (from its log; must equal M) and the
//! latency percentiles, as text and JSON.
//!
//! ```text
//! cargo build --release -p presenced -p bench
//! target/release/provider-bench --presenced target/release/presenced \
//!     --consumers 2000 --presentities 100 --rounds 200 [--json provider.json]
//! ```

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::server::{answer_and_report, free_port, watchers_socket, Presenced};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use sip::parse::{parse, Framing};
use sip::{HeaderAccess, HeaderName, Limits, Message};

/// The presence provider with Kamailio upstream: N consumers over M
/// presentities.
#[derive(Debug, Parser)]
struct Args {
    /// The presenced binary.
    #[arg(long, default_value = "target/release/presenced")]
    presenced: PathBuf,
    /// The repository root (for tests/peers/).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// N: consumers (SIP dialogs to presenced).
    #[arg(long, default_value_t = 1000)]
    consumers: u32,
    /// M: presentities.
    #[arg(long, default_value_t = 50)]
    presentities: u32,
    /// PUBLISH rounds to time.
    #[arg(long, default_value_t = 100)]
    rounds: u32,
    /// presenced's max_presence_subscriptions_per_second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// How long one round may take before its missing NOTIFYs are counted.
const ROUND_LIMIT: Duration = Duration::from_secs(5);

/// Kamailio, stopped on drop.
struct Kamailio {
    script: PathBuf,
    run: PathBuf,
}

impl Kamailio {
    fn start(repo: &Path, run: &Path, port: u16) -> anyhow::Result<Kamailio> {
        let script = repo.join("tests/peers/kamailio_presence.py");
        let out = Command::new("python3")
            .arg(&script)
            .args(["start", "--port", &port.to_string(), "--run-dir"])
            .arg(run)
            .args(["--max-expires", "3600"])
            .output()
            .context("run kamailio_presence.py")?;
        if !out.status.success() {
            bail!(
                "Kamailio did not start: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(Kamailio {
            script,
            run: run.to_owned(),
        })
    }

    /// Out-of-dialog SUBSCRIBEs from presenced, as Kamailio logged them.
    fn upstream_subscribes(&self) -> usize {
        std::fs::read_to_string(self.run.join("kamailio.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("from sip:presenced@127.0.0.1") && l.contains("totag=<null>"))
            .count()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .arg(&self.script)
            .args(["stop", "--signal", "KILL", "--run-dir"])
            .arg(&self.run)
            .output();
    }
}

/// What the receiving thread saw.
enum Seen {
    /// A final response to a consumer's SUBSCRIBE.
    Subscribed { call_id: String, status: u16 },
    /// A NOTIFY (already answered 200) and when it arrived.
    Notify {
        call_id: String,
        body: Bytes,
        at: Instant,
    },
}

/// Answers NOTIFYs and reports responses and NOTIFYs, until the socket
/// is closed.
fn receive(socket: UdpSocket, seen: mpsc::Sender<Seen>) {
    let call_id = |m: &dyn HeaderAccess| {
        m.call_id()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default()
    };
    answer_and_report(socket, seen, |message, at| {
        Some(match message {
            Message::Response(resp) => Seen::Subscribed {
                call_id: call_id(&resp),
                status: resp.status,
            },
            Message::Request(req) => Seen::Notify {
                call_id: call_id(&req),
                body: req.body.clone(),
                at,
            },
        })
    })
}

fn subscribe(local: SocketAddr, i: u32, presentity: &str) -> String {
    let call_id = format!("pb-{i}");
    format!(
        "SUBSCRIBE {presentity} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-pb-sub-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:consumer{i}@127.0.0.1>;tag=c{i}\r\n\
         To: <{presentity}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:consumer{i}@{local}>\r\n\
         Event: presence\r\n\
         Accept: application/pidf+xml\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
    )
}

fn publish(local: SocketAddr, user: &str, round: u32, etag: Option<&str>) -> (String, String) {
    let entity = format!("sip:{user}@127.0.0.1");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{entity}\">\
         <tuple id=\"t1\"><status><basic>open</basic></status></tuple>\
         <note>round-{round}-mark</note></presence>"
    );
    let if_match = etag
        .map(|e| format!("SIP-If-Match: {e}\r\n"))
        .unwrap_or_default();
    let marker = format!("round-{round}-mark");
    let text = format!(
        "PUBLISH {entity} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-pb-pub-{round};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <{entity}>;tag=p{round}\r\n\
         To: <{entity}>\r\n\
         Call-ID: pb-pub-{round}\r\n\
         CSeq: 1 PUBLISH\r\n\
         Event: presence\r\n\
         Expires: 3600\r\n\
         {if_match}Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    (text, marker)
}

/// Reads presenced's `/metrics` for one series.
fn metric(http: SocketAddr, series: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(http).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.presentities == 0 || args.consumers < args.presentities {
        bail!("--consumers must be at least --presentities, which must be above 0");
    }
    let run = std::env::temp_dir().join(format!("provider-bench-{}", std::process::id()));
    std::fs::create_dir_all(&run)?;
    let kamailio_port = free_port()?;
    let kamailio = Kamailio::start(&args.repo, &run.join("kamailio"), kamailio_port)?;
    let kamailio_addr: SocketAddr = format!("127.0.0.1:{kamailio_port}").parse()?;

    let sip_port = free_port()?;
    let http_port = free_port()?;
    let config = run.join("presenced.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{sip_port}\"]\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [store]\nmode = \"memory\"\n[provider]\nupstream = \"udp:127.0.0.1:{kamailio_port}\"\n\
             from = \"sip:presenced@127.0.0.1\"\nmax_presence_subscriptions_per_second = {}\n",
            args.rate
        ),
    )?;
    let _presenced = Presenced::start(&args.presenced, &config)
        .with_context(|| format!("start {}", args.presenced.display()))?;
    let server: SocketAddr = format!("127.0.0.1:{sip_port}").parse()?;
    let http: SocketAddr = format!("127.0.0.1:{http_port}").parse()?;
    let up = Instant::now();
    while metric(http, "presenced_upstream_consumers").is_none() {
        if up.elapsed() > Duration::from_secs(10) {
            bail!("presenced did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Consumers: one socket, N dialogs.
    let socket = watchers_socket()?;
    let local = socket.local_addr()?;
    let (tx, seen) = mpsc::channel();
    let reader = socket.try_clone()?;
    std::thread::spawn(move || receive(reader, tx));
    let presentity = |j: u32| format!("sip:bench{j}@127.0.0.1");
    let started = Instant::now();
    for i in 0..args.consumers {
        let text = subscribe(local, i, &presentity(i % args.presentities));
        socket.send_to(text.as_bytes(), server)?;
        if i % 200 == 199 {
            // Keep the server's inbound queue from overflowing.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A dialog is established by its 2xx or by its first NOTIFY (a 2xx
    // lost to a full receive buffer is not retransmitted over UDP; the
    // NOTIFY is).
    let mut established: std::collections::HashSet<String> = Default::default();
    let mut refused = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (established.len() as u32) + refused < args.consumers && Instant::now() < deadline {
        match seen.recv_timeout(Duration::from_millis(100)) {
            Ok(Seen::Subscribed { call_id, status }) if status < 300 => {
                established.insert(call_id);
            }
            Ok(Seen::Subscribed { .. }) => refused += 1,
            Ok(Seen::Notify { call_id, .. }) => {
                established.insert(call_id);
            }
            Err(_) => {}
        }
    }
    let accepted = established.len() as u32;
    let setup = started.elapsed();
    // Every upstream subscription live (through the throttle).
    let deadline =
        Instant::now() + Duration::from_secs(30 + u64::from(args.presentities / args.rate.max(1)));
    while metric(http, "presenced_upstream_subscriptions{status=\"live\"}")
        != Some(f64::from(args.presentities))
    {
        if Instant::now() > deadline {
            bail!("the upstream subscriptions did not all go live");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let live_after = started.elapsed();
    while seen.try_recv().is_ok() {}

    // Rounds: PUBLISH into Kamailio, time each consumer's NOTIFY.
    let publisher = UdpSocket::bind("127.0.0.1:0")?;
    publisher.set_read_timeout(Some(Duration::from_secs(2)))?;
    let publisher_local = publisher.local_addr()?;
    let mut etags: HashMap<u32, String> = HashMap::new();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut missed = 0u64;
    let per = |j: u32| {
        (0..args.consumers)
            .filter(|i| i % args.presentities == j)
            .count()
    };
    for round in 0..args.rounds {
        let j = round % args.presentities;
        let (text, marker) = publish(
            publisher_local,
            &format!("bench{j}"),
            round,
            etags.get(&j).map(String::as_str),
        );
        let sent = Instant::now();
        publisher.send_to(text.as_bytes(), kamailio_addr)?;
        let mut buf = vec![0u8; 8192];
        if let Ok((n, _)) = publisher.recv_from(&mut buf) {
            if let Ok(Message::Response(resp)) = parse(
                Bytes::copy_from_slice(&buf[..n]),
                Framing::Datagram,
                &Limits::DEFAULT,
            ) {
                if let Some(etag) = resp.headers.value(HeaderName::SipEtag) {
                    etags.insert(j, String::from_utf8_lossy(etag).into_owned());
                }
            }
        }
        let want = per(j);
        let mut reached: HashMap<String, ()> = HashMap::new();
        let limit = sent + ROUND_LIMIT;
        while reached.len() < want {
            let now = Instant::now();
            if now > limit {
                missed += (want - reached.len()) as u64;
                break;
            }
            if let Ok(Seen::Notify { call_id, body, at }) = seen.recv_timeout(limit - now) {
                if memchr::memmem::find(&body, marker.as_bytes()).is_some()
                    && reached.insert(call_id, ()).is_none()
                {
                    histogram.record(at.duration_since(sent).as_micros().max(1) as u64)?;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let subscribes = kamailio.upstream_subscribes();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let report = serde_json::json!({
        "consumers": args.consumers,
        "presentities": args.presentities,
        "accepted": accepted,
        "upstream_subscribes": subscribes,
        "upstream_subscribes_equal_presentities": subscribes == args.presentities as usize,
        "setup_secs": setup.as_secs_f64(),
        "all_live_after_secs": live_after.as_secs_f64(),
        "rounds": args.rounds,
        "notifies_timed": histogram.len(),
        "notifies_missed": missed,
        "latency_ms": {
            "p50": ms(0.5),
            "p90": ms(0.9),
            "p99": ms(0.99),
            "max": histogram.max() as f64 / 1000.0,
        },
    });
    println!(
        "provider-bench: {} consumers over {} presentities: {} accepted, {} upstream SUBSCRIBEs on Kamailio ({}), all live after {:.2} s",
        args.consumers,
        args.presentities,
        accepted,
        subscribes,
        if subscribes == args.presentities as usize { "= M" } else { "≠ M" },
        live_after.as_secs_f64()
    );
    println!(
        "upstream change → consumer NOTIFY over {} NOTIFYs ({} missed): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        histogram.len(),
        missed,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    drop(kamailio);
    let _ = std::fs::remove_dir_all(&run);
    if subscribes != args.presentities as usize {
        bail!(
            "Kamailio received {subscribes} upstream SUBSCRIBEs, not {}",
            args.presentities
        );
    }
    Ok(())
}
