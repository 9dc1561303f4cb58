//! Kamailio with its presence modules as the presence provider's
//! upstream (`tests/peers/kamailio/presence.cfg`), and a presenced
//! pointed at it. What Kamailio received is read from its own log, where
//! the config writes one line per SUBSCRIBE (`SUBSCRIBE <ruri> from
//! <from> expires=<n> totag=<tag or <null>>`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::peers::{peers_dir, Driver};
use super::ua::{text, Dialog, Ua};
use super::{http_get, Presenced, WAIT};

/// Kamailio on a loopback port, stopped (by its process group) on drop.
pub struct Kamailio {
    run_dir: PathBuf,
}

impl Kamailio {
    pub fn start(run_dir: &Path, port: u16, max_expires: u32) -> Kamailio {
        Kamailio::start_with(run_dir, port, max_expires, &[])
    }

    /// Also listening on `tls:127.0.0.1:tls_port` with the PEM `cert` and
    /// `key` (needs kamailio-tls-modules: [`kamailio_tls_installed`]);
    /// with `client_ca`, clients must present a certificate it issued.
    pub fn start_tls(
        run_dir: &Path,
        port: u16,
        tls_port: u16,
        (cert, key): (&Path, &Path),
        client_ca: Option<&Path>,
    ) -> Kamailio {
        let mut args = vec![
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert".to_owned(),
            cert.display().to_string(),
            "--tls-key".to_owned(),
            key.display().to_string(),
        ];
        if let Some(ca) = client_ca {
            args.extend(["--tls-client-ca".to_owned(), ca.display().to_string()]);
        }
        Kamailio::start_with(run_dir, port, 3600, &args)
    }

    fn start_with(run_dir: &Path, port: u16, max_expires: u32, extra: &[String]) -> Kamailio {
        let out = Command::new("python3")
            .arg(peers_dir().join("kamailio_presence.py"))
            .args(["start", "--port", &port.to_string(), "--run-dir"])
            .arg(run_dir)
            .args(["--max-expires", &max_expires.to_string()])
            .args(extra)
            .output()
            .expect("run kamailio_presence.py");
        assert!(
            out.status.success(),
            "Kamailio did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Kamailio {
            run_dir: run_dir.to_owned(),
        }
    }

    pub fn stop(&self, signal: &str) {
        let _ = Command::new("python3")
            .arg(peers_dir().join("kamailio_presence.py"))
            .args(["stop", "--signal", signal, "--run-dir"])
            .arg(&self.run_dir)
            .output();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("kamailio.log")).unwrap_or_default()
    }

    /// Initial (out-of-dialog) SUBSCRIBEs presenced sent for `presentity`.
    pub fn initial_subscribes(&self, presentity: &str) -> usize {
        let needle = format!("SUBSCRIBE {presentity} from sip:presenced@127.0.0.1");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle) && l.contains("totag=<null>"))
            .count()
    }

    /// When Kamailio received each initial SUBSCRIBE presenced sent for
    /// `presentity`: seconds since the epoch, from the log line's
    /// `at=$TV(Sn)` (Kamailio's own clock as it ran the script, so a test
    /// measuring a rate does not depend on how often it reads the log).
    pub fn initial_subscribe_times(&self, presentity: &str) -> Vec<f64> {
        let needle = format!("SUBSCRIBE {presentity} from sip:presenced@127.0.0.1");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle) && l.contains("totag=<null>"))
            .filter_map(|l| l.rsplit_once(" at=")?.1.trim().parse().ok())
            .collect()
    }

    /// Waits until `pred` holds for the log.
    pub fn wait_log(&self, what: &str, wait: Duration, pred: impl Fn(&Kamailio) -> bool) {
        let deadline = Instant::now() + wait;
        while !pred(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {wait:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop("KILL");
    }
}

/// Whether Kamailio's TLS module (kamailio-tls-modules) is installed.
pub fn kamailio_tls_installed() -> bool {
    kamailio_installed()
        && [
            "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so",
            "/usr/lib/kamailio/modules/tls.so",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
}

pub fn kamailio_installed() -> bool {
    Command::new("kamailio")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn presenced(kamailio: u16, extra: &str) -> Presenced {
    presenced_with_upstream(&format!("udp:127.0.0.1:{kamailio}"), "", extra)
}

/// A presenced (UDP listener only, store in memory) whose provider uses
/// `upstream` (`tcp:localhost:5060`...), with `sip` added to `[sip]` and
/// `extra` to `[provider]`.
pub fn presenced_with_upstream(upstream: &str, sip: &str, extra: &str) -> Presenced {
    Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n{sip}[http]\nlisten = \"127.0.0.1:0\"\n\
             [store]\nmode = \"memory\"\n\
             [provider]\nupstream = \"{upstream}\"\nfrom = \"sip:presenced@127.0.0.1\"\n{extra}"
        ),
        1,
    )
}

/// A metric's value on /metrics.
pub fn metric(server: &Presenced, series: &str) -> Option<f64> {
    let (_, body) = http_get(server.http_addr(), "/metrics");
    body.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits for a metric to read `expected` (gauges refresh once a second).
pub fn wait_metric(server: &Presenced, series: &str, expected: f64) {
    let deadline = Instant::now() + WAIT;
    while metric(server, series) != Some(expected) {
        assert!(
            Instant::now() < deadline,
            "{series} is {:?}, not {expected}",
            metric(server, series)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kamailio (granting at most `max_expires`) in a fresh run directory and
/// a presenced using it with `extra` in `[provider]`; `None` (said on
/// stderr) when Kamailio is not installed.
pub fn setup(max_expires: u32, extra: &str) -> Option<(tempfile::TempDir, Kamailio, Presenced)> {
    if !kamailio_installed() {
        eprintln!("skipped: needs kamailio (scripts/install-test-peers)");
        return None;
    }
    let run = tempfile::tempdir().unwrap();
    let port = super::peers::free_port();
    let kamailio = Kamailio::start(run.path(), port, max_expires);
    let server = presenced(port, extra);
    Some((run, kamailio, server))
}

/// Kamailio (granting at most `max_expires`) in a fresh run directory,
/// for a test where pjsua2 publishes into it: the run directory,
/// Kamailio and its port; `None` (said on stderr) when Kamailio or pjsua2
/// is not installed.
pub fn kamailio_for_publishing(max_expires: u32) -> Option<(tempfile::TempDir, Kamailio, u16)> {
    if !kamailio_installed() || super::peers::skip_without_pjsua() {
        eprintln!("skipped: needs kamailio and pjsua2 (scripts/install-test-peers)");
        return None;
    }
    let run = tempfile::tempdir().unwrap();
    let port = super::peers::free_port();
    let kamailio = Kamailio::start(run.path(), port, max_expires);
    Some((run, kamailio, port))
}

pub fn publish(publisher: &Driver, command: &str, ctx: &dyn Fn() -> String) {
    let mark = publisher.len();
    publisher.send(command);
    let (_, v) = publisher.wait_for(mark, WAIT, command, ctx, |v: &Value| {
        v["event"] == "publish" || v["event"] == "error"
    });
    assert_eq!(v["status"], 200, "PUBLISH for {command}: {v}\n{}", ctx());
}

/// Asserts that none of the NOTIFYs `ua` gets within 300 ms says open:
/// a presentity whose upstream failed is never shown Available.
pub async fn assert_never_open(ua: &Ua) {
    for n in ua.drain_notifies(Duration::from_millis(300)).await {
        let body = text(&n.body);
        assert!(!body.contains("<basic>open</basic>"), "{body}");
    }
}

/// Reads `ua`'s NOTIFYs until one carries every word of `wanted`,
/// asserting that none before it says `stale` (after an upstream restart a
/// closed one may come first, a stale state never).
pub async fn next_change_without(ua: &Ua, wanted: &[&str], stale: &str) {
    loop {
        let body = text(&ua.next_notify().await.body);
        if wanted.iter().all(|w| body.contains(w)) {
            return;
        }
        assert!(!body.contains(stale), "a stale {stale}: {body}");
    }
}

/// `GET /api/v1/provider/presentities/{uri}` (`uri` percent-encoded):
/// the report's JSON, after checking it is a 200.
pub fn provider_report(server: &Presenced, encoded_uri: &str) -> Value {
    let path = format!("/api/v1/provider/presentities/{encoded_uri}");
    let (status, body) = http_get(server.http_addr(), &path);
    assert!(status.contains(" 200 "), "{status} {body}");
    serde_json::from_str(&body).expect("a JSON report")
}

/// Subscribes `ua` to `target` at presenced; returns the first NOTIFY's body.
pub async fn subscribe(ua: &Ua, target: &str) -> String {
    let sub = Dialog::new();
    let ok = ua.send(ua.subscribe(target, &sub, 1, 600, "")).await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    text(&ua.next_notify().await.body)
}

/// A consumer over the presence provider's API: the event stream of one
/// presentity (`GET /api/v1/provider/presentities/{uri}/events`), read
/// by a thread; each `data:` line's JSON arrives on `events`. Dropping it
/// closes the connection.
pub struct ApiConsumer {
    stream: std::net::TcpStream,
    /// The events' JSON, in order.
    pub events: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl ApiConsumer {
    /// Opens the stream of `presentity` with `token`; panics unless the
    /// answer is 200.
    pub fn open(http: std::net::SocketAddr, presentity: &str, token: &str) -> ApiConsumer {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(http).expect("connect to http");
        let encoded: String = presentity
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        write!(
            stream,
            "GET /api/v1/provider/presentities/{encoded}/events HTTP/1.1\r\nHost: test\r\n\
             Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .expect("send");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "event stream refused: {status}");
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str(data.trim()) {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        ApiConsumer { stream, events }
    }

    /// The next event, within `WAIT`.
    pub fn next(&self) -> serde_json::Value {
        self.events
            .recv_timeout(WAIT)
            .expect("an event within WAIT")
    }
}

impl Drop for ApiConsumer {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// `[sync] tokens` with one integration, `cc`, whose token is `token`.
pub fn token_table(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[sync]\ntokens = {{ cc = \"{hash}\" }}\n")
}
