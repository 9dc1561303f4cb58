//! Real SIP user agents send OPTIONS to presenced over UDP and TCP and must
//! get a well-formed 200 whose Allow lists what a presence server serves.
//!
//! The peers are driven by the scripts in `tests/peers/` (each prints one
//! JSON line: status, reason, allow, and with `--raw` the raw response).
//! A missing peer is a test failure that says what to install, unless
//! `PRESENCED_SKIP_PEERS=1` is set. `scripts/install-test-peers` installs
//! them all.
//!
//! The exact commands, as run from the repository root (`SERVER_PORT` is
//! the port presenced logged for that transport, `LOCAL_PORT` a free one):
//!
//! ```text
//! python3 tests/peers/pjsua_options.py --transport udp --server-port SERVER_PORT --local-port LOCAL_PORT --timeout 5 --raw
//! python3 tests/peers/pjsua_options.py --transport tcp --server-port SERVER_PORT --local-port LOCAL_PORT --timeout 5 --raw
//! python3 tests/peers/baresip_options.py --transport udp --server-port SERVER_PORT --local-port LOCAL_PORT --timeout 5 --raw
//! python3 tests/peers/baresip_options.py --transport tcp --server-port SERVER_PORT --local-port LOCAL_PORT --timeout 5 --raw
//! ```
//!
//! and presenced itself: `presenced --listen udp:127.0.0.1:0 --listen tcp:127.0.0.1:0`.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Presenced;
use sip::{HeaderAccess, HeaderName, Message};

/// Wall-clock bound on one peer run (the driver itself waits 5 s at most).
const PEER_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
enum Peer {
    Pjsua,
    Baresip,
}

impl Peer {
    fn script(self) -> PathBuf {
        let name = match self {
            Peer::Pjsua => "pjsua_options.py",
            Peer::Baresip => "baresip_options.py",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/peers")
            .join(name)
    }

    /// `None` when the peer can run; otherwise what to install.
    fn missing(self) -> Option<&'static str> {
        let ok = match self {
            Peer::Pjsua => Command::new("python3")
                .args(["-c", "import pjsua2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            Peer::Baresip => Command::new("baresip")
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok(),
        };
        match (ok, self) {
            (true, _) => None,
            (false, Peer::Pjsua) => Some("pjsua2 for python3: `python3 -m pip install pjsua2-python` (or run scripts/install-test-peers)"),
            (false, Peer::Baresip) => Some("baresip: `apt-get install -y --no-install-recommends baresip-core` (or run scripts/install-test-peers)"),
        }
    }
}

/// True when the peer should not run; panics (fails the test) when it is
/// missing and skipping was not asked for.
fn skip_or_require(peer: Peer) -> bool {
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: interop test skipped");
        return true;
    }
    if let Some(install) = peer.missing() {
        panic!("real-peer interop test needs {install}; set PRESENCED_SKIP_PEERS=1 to skip it");
    }
    false
}

/// A loopback port free for both UDP and TCP, and one above it (baresip may
/// open TLS on its SIP port + 1). The system picks it, so parallel tests do
/// not collide; the tiny window before the peer binds it is accepted.
fn free_port() -> u16 {
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else {
            continue;
        };
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", next)).is_ok()
            && UdpSocket::bind(("127.0.0.1", next)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

/// Runs one driver against `server_port` and returns its JSON report.
fn run_peer(peer: Peer, transport: &str, server_port: u16) -> serde_json::Value {
    let local_port = free_port().to_string();
    let server_port = server_port.to_string();
    let args = [
        "--transport",
        transport,
        "--server-port",
        &server_port,
        "--local-port",
        &local_port,
        "--timeout",
        "5",
        "--raw",
    ];
    let mut child = Command::new("python3")
        .arg(peer.script())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the peer driver");
    let deadline = Instant::now() + PEER_DEADLINE;
    while child.try_wait().expect("wait for the peer").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {PEER_DEADLINE:?}",
                peer.script().display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("peer output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "peer printed no JSON report ({e}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn options_gets_200_with_allow(peer: Peer, transport: &str) {
    if skip_or_require(peer) {
        return;
    }
    let server = Presenced::start(
        &["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0"],
        2,
    );
    let report = run_peer(peer, transport, server.addr(transport, false).port());
    let context = format!("{report}\npresenced log:\n{}", server.log_text());
    assert_eq!(report["status"], 200, "{context}");
    let allow = report["allow"]
        .as_str()
        .unwrap_or_else(|| panic!("no Allow: {context}"));
    for method in ["OPTIONS", "SUBSCRIBE", "PUBLISH"] {
        assert!(
            allow.split(',').any(|m| m.trim() == method),
            "Allow lacks {method}: {context}"
        );
    }
    // Well-formed: our own strict parser reads what the peer received.
    let raw = report["response"]
        .as_str()
        .unwrap_or_else(|| panic!("no raw response: {context}"));
    let Ok(Message::Response(resp)) = sip::parse::parse_datagram(Bytes::from(raw.to_owned()))
    else {
        panic!("the 200 does not parse: {context}")
    };
    assert!(
        resp.header_to().is_ok_and(|t| t.tag().is_some()),
        "200 without To tag: {context}"
    );
    assert!(resp.headers.get(HeaderName::Allow).is_some());
}

#[test]
fn pjsua_options_over_udp() {
    options_gets_200_with_allow(Peer::Pjsua, "udp");
}

#[test]
fn pjsua_options_over_tcp() {
    options_gets_200_with_allow(Peer::Pjsua, "tcp");
}

#[test]
fn baresip_options_over_udp() {
    options_gets_200_with_allow(Peer::Baresip, "udp");
}

#[test]
fn baresip_options_over_tcp() {
    options_gets_200_with_allow(Peer::Baresip, "tcp");
}
