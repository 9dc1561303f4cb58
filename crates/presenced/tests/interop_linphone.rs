//! linphonec (Debian `linphone-cli`, liblinphone 5.1.65) subscribing to a
//! resource list on presenced: its friend list with an RLS URI, set to
//! Alice's stored contact list `sip:alice-contacts@127.0.0.1`.
//!
//! liblinphone subscribes to the RLS URI once for the whole friend list
//! (RFC 5367: `Require: recipient-list-subscribe`, its friends in a
//! `resource-lists+xml` body, `Supported: eventlist`); presenced serves
//! the stored list there, and linphonec prints each friend's state from
//! the RLMI NOTIFYs: `Friend "Bob" <sip:bob@127.0.0.1> is Offline` from
//! the full state, `... is Online` from the partial NOTIFY after Bob's
//! PUBLISH (sent by hand over UDP).
//!
//! The exact command, from a directory holding the `linphonerc` written
//! below (P is presenced's UDP port, L a free port):
//!
//! ```text
//! linphonec -c linphonerc -d 6 -l linphonec.log
//!     (stdin, after the friend shows up: quit)
//! ```
//!
//! A missing linphonec fails the test with what to install, unless
//! `PRESENCED_SKIP_PEERS=1` is set; `scripts/install-test-peers` installs
//! it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::peers::{free_port, spawn_linphonec};
use common::ua::{pidf, Dialog, Ua};
use common::{http_send, Presenced};

/// How long linphonec may take to register, subscribe and print a state.
const PEER_WAIT: Duration = Duration::from_secs(20);

fn skip_without_linphonec() -> bool {
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: interop test skipped");
        return true;
    }
    let found = Command::new("linphonec")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        panic!(
            "this interop test needs linphonec: `apt-get install -y --no-install-recommends linphone-cli` \
             (or run scripts/install-test-peers); set PRESENCED_SKIP_PEERS=1 to skip it"
        );
    }
    false
}

/// linphonec with its stdout read line by line; killed when dropped.
struct Linphonec {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Linphonec {
    fn start(server_port: u16, local_port: u16) -> Linphonec {
        let dir = tempfile::tempdir().expect("temp dir");
        // `auto_net_state_mon=1`: with 0 liblinphone waits for the
        // application to declare the network reachable, which linphonec
        // never does, and sends nothing. `rls_uri` gives the default
        // friend list its RLS; `subscribe=1` makes the friend one that
        // is subscribed to (through the list).
        let rc = format!(
            "[sip]\nsip_port={local_port}\nsip_tcp_port=0\nauto_net_state_mon=1\n\
             rls_uri=sip:alice-contacts@127.0.0.1\nguess_hostname=0\ndefault_proxy=0\n\
             [net]\nfirewall_policy=0\n\
             [storage]\nuri={db}\n\
             [proxy_0]\nreg_proxy=<sip:127.0.0.1:{server_port};transport=udp>\n\
             reg_route=<sip:127.0.0.1:{server_port};transport=udp;lr>\n\
             reg_identity=sip:alice@127.0.0.1\nreg_expires=3600\nreg_sendregister=1\npublish=0\n\
             [friend_0]\nurl=\"Bob\" <sip:bob@127.0.0.1>\npol=accept\nsubscribe=1\n\
             [sound]\nplayback_dev_id=\ncapture_dev_id=\n",
            db = dir.path().join("linphone.db").display(),
        );
        let mut child = spawn_linphonec(dir.path(), &rc);
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Linphonec {
            child,
            lines,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    /// Waits for a line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + PEER_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "linphonec did not print {needle:?}; it printed:\n{}\nits log: {}",
            self.seen.join("\n"),
            std::fs::read_to_string(self._dir.path().join("linphonec.log"))
                .map(|l| l.lines().rev().take(60).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default()
        );
    }

    fn quit(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"quit\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphonec_friend_list_on_a_resource_list() {
    if skip_without_linphonec() {
        return;
    }
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n",
        1,
    );
    let addr = server.addr("udp", false);
    let (status, answer) = http_send(
        server.http_addr(),
        "PUT",
        "/api/v1/users/sip%3Aalice%40127.0.0.1/contacts",
        Some(
            "{\"groups\": [{\"id\": 1, \"name\": \"Friends\"}], \
             \"contacts\": [{\"uri\": \"sip:bob@127.0.0.1\", \"name\": \"Bob\", \"groups\": [1]}]}",
        ),
    );
    assert_eq!(status, 200, "{answer}");

    let mut linphonec = tokio::task::block_in_place(|| Linphonec::start(addr.port(), free_port()));
    // The full state: Bob has published nothing, so he is offline.
    tokio::task::block_in_place(|| {
        linphonec.wait_for("Friend \"Bob\" <sip:bob@127.0.0.1> is Offline")
    });

    // Bob comes online: the partial NOTIFY reaches linphonec's friend.
    let bob = Ua::new(addr, "bob").await;
    let body = pidf(&bob.aor(), "pc", "open", None, "");
    let ok = bob
        .send(bob.publish(&Dialog::new(), 1, 60, None, Some(&body)))
        .await;
    assert_eq!(ok.status, 200);
    tokio::task::block_in_place(|| {
        linphonec.wait_for("Friend \"Bob\" <sip:bob@127.0.0.1> is Online")
    });

    // It is one list dialog, not a subscription per friend (the gauges
    // are refreshed once a second).
    let one = "presenced_subscriptions{state=\"active\"} 1\n";
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let (_, metrics) = common::http_get(server.http_addr(), "/metrics");
        if metrics.contains(one) || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metrics.contains(one), "{metrics}");
    tokio::task::block_in_place(|| linphonec.quit());
}
