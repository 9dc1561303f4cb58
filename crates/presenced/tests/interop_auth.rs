//! Real clients signing in with digest credentials (issue 13): pjsua2,
//! baresip and linphonec answer presenced's 401 (SHA-256 offered first,
//! MD5 second; baresip, whose libre gives up on a challenge it cannot
//! answer, is offered MD5 alone by its User-Agent) and publish; with a wrong password each gets 403 and
//! nothing is published; pjsua2 with alice's credentials cannot publish
//! bob's presence (403); and pjsua2's own signed PUBLISH, taken off the
//! wire by a relay on its path and sent again as a new transaction (same
//! nonce and nonce count), is refused and publishes nothing.
//! (auth_wire.rs forges the same attacks byte for byte.)
//!
//! The server: `presenced --config DIR/presenced.toml` with `[auth] realm
//! = "lab.test"` and users alice, bob, carol, dave whose passwords are
//! `pw-<name>` (entries as `presenced passwd` prints them).
//!
//! The exact commands (P the server's UDP port, L a free port):
//!
//! ```text
//! python3 tests/peers/pjsua_publisher.py --transport udp --server-port P --local-port L --user alice --password pw-alice --duration 60
//!     (stdin: busy In a meeting / quit)
//! python3 tests/peers/pjsua_watcher.py --transport udp --server-port P --local-port L --user bob --password pw-bob --target sip:alice@127.0.0.1 --duration 60
//! python3 tests/peers/baresip_presence.py --transport udp --server-port P --local-port L --user carol --password pw-carol --publish --pubint 60 --duration 60
//! linphonec -c linphonerc -d 6 -l linphonec.log    (the linphonerc below: [auth_info_0], publish=1)
//! ```

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::peers::{free_port, signed_in_args as args, spawn_linphonec, Driver};
use common::Presenced;
use serde_json::Value;
use sip::digest::{self, Algorithm};

const REALM: &str = "lab.test";
const WAIT: Duration = Duration::from_secs(15);

fn skip() -> bool {
    if std::env::var("PRESENCED_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("PRESENCED_SKIP_PEERS=1: interop test skipped");
        return true;
    }
    false
}

fn server() -> Presenced {
    let mut toml = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n[auth]\nrealm = \"{REALM}\"\n"
    );
    for name in ["alice", "bob", "carol", "dave"] {
        let password = format!("pw-{name}");
        toml.push_str(&format!(
            "[[auth.users]]\naor = \"sip:{name}@127.0.0.1\"\nha1_sha256 = \"{}\"\nha1_md5 = \"{}\"\n",
            digest::ha1(Algorithm::Sha256, name, REALM, &password),
            digest::ha1(Algorithm::Md5, name, REALM, &password),
        ));
    }
    Presenced::with_config(&toml, 1)
}

fn is(v: &Value, event: &str) -> bool {
    v["event"] == event
}

/// A final answer that is not a challenge: what a client ends with.
fn settled(v: &Value) -> bool {
    is(v, "error") || is(v, "publish") && v["status"] != 401 && v["status"] != 407
}

#[test]
fn pjsua2_signs_in_publishes_and_is_watched() {
    if skip() {
        return;
    }
    let server = server();
    let port = server.addr("udp", false).port();
    let ctx = || server.log_text();
    let publisher = Driver::start("pjsua_publisher.py", &args(port, "alice", "pw-alice"));
    publisher.send("busy In a meeting");
    let (_, v) = publisher.wait_for(0, WAIT, "PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 200, "{v}\n{}", publisher.report());
    // A signed-in watcher sees it.
    let mut watcher_args = args(port, "bob", "pw-bob");
    watcher_args.extend(["--target".to_owned(), "sip:alice@127.0.0.1".to_owned()]);
    let watcher = Driver::start("pjsua_watcher.py", &watcher_args);
    watcher.wait_for(0, WAIT, "a NOTIFY with alice busy", &ctx, |v| {
        is(v, "notify")
            && v["basic"] == "open"
            && v["activities"]
                .as_array()
                .is_some_and(|a| a.contains(&Value::from("busy")))
    });
    watcher.quit();
    publisher.quit();
}

#[test]
fn pjsua2_with_a_wrong_password_gets_403() {
    if skip() {
        return;
    }
    let server = server();
    let port = server.addr("udp", false).port();
    let ctx = || server.log_text();
    let publisher = Driver::start("pjsua_publisher.py", &args(port, "alice", "wrong"));
    publisher.send("online");
    let (_, v) = publisher.wait_for(0, WAIT, "PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 403, "{v}\n{}", publisher.report());
    assert!(
        !publisher
            .events()
            .iter()
            .any(|v| is(v, "publish") && v["status"] == 200),
        "{}",
        publisher.report()
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.metric("presenced_publications "), 0.0);
    publisher.quit();
}

fn baresip(port: u16, user: &str, password: &str) -> Driver {
    let mut a = args(port, user, password);
    a.extend(["--publish", "--pubint", "60"].map(String::from));
    Driver::start("baresip_presence.py", &a)
}

#[test]
fn baresip_signs_in_and_publishes_or_gets_403() {
    if skip() {
        return;
    }
    let server = server();
    let port = server.addr("udp", false).port();
    let ctx = || server.log_text();
    let carol = baresip(port, "carol", "pw-carol");
    let (_, v) = carol.wait_for(0, WAIT, "baresip's PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 200, "{v}\n{}", carol.report());
    let dave = baresip(port, "dave", "wrong");
    let (_, v) = dave.wait_for(0, WAIT, "baresip's PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 403, "{v}\n{}", dave.report());
    // The gauges are refreshed once a second.
    assert!(wait_metric(&server, "presenced_publications ", 1.0));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.metric("presenced_publications "), 1.0);
    carol.quit();
    dave.quit();
}

/// linphonec registering and publishing as `user` with `password`; killed
/// when dropped.
struct Linphonec {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Linphonec {
    fn start(server_port: u16, user: &str, password: &str) -> Linphonec {
        let dir = tempfile::tempdir().expect("temp dir");
        let rc = format!(
            "[sip]\nsip_port={local}\nsip_tcp_port=0\nauto_net_state_mon=1\nguess_hostname=0\ndefault_proxy=0\n\
             [net]\nfirewall_policy=0\n[storage]\nuri={db}\n\
             [auth_info_0]\nusername={user}\npasswd={password}\nrealm={REALM}\n\
             [proxy_0]\nreg_proxy=<sip:127.0.0.1:{server_port};transport=udp>\n\
             reg_route=<sip:127.0.0.1:{server_port};transport=udp;lr>\n\
             reg_identity=sip:{user}@127.0.0.1\nreg_expires=3600\nreg_sendregister=1\npublish=1\n\
             [sound]\nplayback_dev_id=\ncapture_dev_id=\n",
            local = free_port(),
            db = dir.path().join("linphone.db").display(),
        );
        let mut child = spawn_linphonec(dir.path(), &rc);
        // Drain stdout so linphonec never blocks on it.
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        Linphonec { child, _dir: dir }
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `/metrics` until `line_start`'s value reaches `at_least`.
fn wait_metric(server: &Presenced, line_start: &str, at_least: f64) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if server.metric(line_start) >= at_least {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn linphonec_signs_in_registers_and_publishes_or_gets_403() {
    if skip() {
        return;
    }
    let server = server();
    let port = server.addr("udp", false).port();
    let _alice = Linphonec::start(port, "alice", "pw-alice");
    assert!(
        wait_metric(&server, "presenced_publications ", 1.0)
            && wait_metric(&server, "presenced_registrar_bindings ", 1.0),
        "linphonec did not register and publish:\n{}",
        server.log_text()
    );
    let _mallory = Linphonec::start(port, "bob", "wrong");
    assert!(
        wait_metric(
            &server,
            "presenced_auth_refusals_total{status=\"403\"} ",
            1.0
        ),
        "linphonec with a wrong password was not refused:\n{}",
        server.log_text()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.metric("presenced_registrar_bindings "), 1.0);
    assert_eq!(server.metric("presenced_publications "), 1.0);
}

#[test]
fn pjsua2_with_alices_credentials_cannot_publish_bobs_presence() {
    if skip() {
        return;
    }
    let server = server();
    let port = server.addr("udp", false).port();
    let ctx = || server.log_text();
    let mut a = args(port, "bob", "pw-alice");
    a.extend(["--auth-user".to_owned(), "alice".to_owned()]);
    let mallory = Driver::start("pjsua_publisher.py", &a);
    mallory.send("busy Pretending to be bob");
    let (_, v) = mallory.wait_for(0, WAIT, "PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 403, "{v}\n{}", mallory.report());
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.metric("presenced_publications "), 0.0);
    assert!(
        server
            .log_text()
            .contains("user alice may not act for sip:bob@127.0.0.1"),
        "{}",
        server.log_text()
    );
    mallory.quit();
}

/// A UDP relay on a client's path to the server that keeps every datagram
/// the client sends: what an attacker on the path sees.
struct Tap {
    port: u16,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

impl Tap {
    fn start(server: SocketAddr) -> Tap {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind the relay");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind the relay");
        back.connect(server).expect("connect the relay");
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
        }
        let tap = Tap {
            port: front.local_addr().expect("relay address").port(),
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front2, back2) = (
            front.try_clone().expect("clone"),
            back.try_clone().expect("clone"),
        );
        let (seen, stop, to) = (tap.seen.clone(), tap.stop.clone(), client.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    *to.lock().unwrap() = Some(from);
                    seen.lock().unwrap().push(buf[..n].to_vec());
                    let _ = back.send(&buf[..n]);
                }
            }
        });
        let stop = tap.stop.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = back2.recv(&mut buf) {
                    if let Some(client) = *client.lock().unwrap() {
                        let _ = front2.send_to(&buf[..n], client);
                    }
                }
            }
        });
        tap
    }

    /// The first request the client sent with `method` and an
    /// Authorization header, and without SIP-If-Match (an initial
    /// PUBLISH: replayed, it would make a publication).
    fn signed(&self, method: &str) -> Option<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .find(|m| {
                m.starts_with(method)
                    && m.contains("\r\nAuthorization: ")
                    && !m.contains("\r\nSIP-If-Match: ")
            })
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn pjsua2s_signed_publish_replayed_is_refused() {
    if skip() {
        return;
    }
    let server = server();
    let addr = server.addr("udp", false);
    let ctx = || server.log_text();
    let tap = Tap::start(addr);
    let alice = Driver::start("pjsua_publisher.py", &args(tap.port, "alice", "pw-alice"));
    alice.send("busy In a meeting");
    let (_, v) = alice.wait_for(0, WAIT, "PUBLISH answered", &ctx, settled);
    assert_eq!(v["status"], 200, "{v}\n{}", alice.report());
    assert!(wait_metric(&server, "presenced_publications ", 1.0));
    alice.quit();
    let signed = tap.signed("PUBLISH").expect("pjsua2's signed PUBLISH");
    // Alice leaves (Expires: 0 on quit): nothing is published now.
    let deadline = Instant::now() + WAIT;
    while server.metric("presenced_publications ") != 0.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // The attacker sends the captured request again as a new transaction
    // (a new branch), from its own socket.
    let replay = signed.replacen("branch=z9hG4bK", "branch=z9hG4bKreplay", 1);
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
    attacker
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    attacker.send_to(replay.as_bytes(), addr).expect("send");
    let mut buf = vec![0u8; 65_536];
    let answer = loop {
        let (n, _) = attacker
            .recv_from(&mut buf)
            .expect("an answer to the replay");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            break text;
        }
    };
    assert!(
        answer.starts_with("SIP/2.0 401 Replayed nonce count"),
        "{answer}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.metric("presenced_publications "), 0.0);
}

/// The Microsoft dialect with `[auth]` on (docs/security.md, "The
/// Microsoft dialect and NTLM"): SIPE cannot answer a digest challenge,
/// so from an untrusted network it does not sign in, and from a trusted
/// network (a trusted peer by address) it signs in as its From.
fn sipe_server(trusted: bool) -> Presenced {
    let mut toml = format!(
        "[sip]\nlisten = [\"tcp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n[auth]\nrealm = \"{REALM}\"\n\
         [[auth.users]]\naor = \"sip:alice@lab.test\"\nha1_sha256 = \"{}\"\n",
        digest::ha1(Algorithm::Sha256, "alice", REALM, "secret"),
    );
    if trusted {
        toml.push_str(
            "[[auth.trusted_peers]]\nname = \"lab network\"\naddresses = [\"127.0.0.0/8\"]\n\
             may_assert = [\"@lab.test\"]\n",
        );
    }
    Presenced::with_config(&toml, 1)
}

#[test]
fn sipe_from_an_untrusted_network_does_not_sign_in() {
    if common::sipe::skip_or_require() {
        return;
    }
    let server = sipe_server(false);
    let sipe = common::sipe::Sipe::start("alice@lab.test", server.addr("tcp", false), 8, None);
    let challenged = sipe.wait_message(WAIT, |m| {
        !m.sent
            && m.start_line().starts_with("SIP/2.0 401")
            && m.header("CSeq").ends_with("REGISTER")
    });
    assert!(
        challenged.is_some_and(|m| m.header("WWW-Authenticate").starts_with("Digest")),
        "{}",
        sipe.output()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !sipe
            .messages()
            .iter()
            .any(|m| !m.sent && m.start_line() == "SIP/2.0 200 OK"),
        "{}",
        sipe.output()
    );
    assert_eq!(server.metric("presenced_registrar_bindings "), 0.0);
    assert_eq!(
        server.metric("presenced_subscriptions{state=\"active\"} "),
        0.0
    );
}

#[test]
fn sipe_from_a_trusted_network_signs_in_as_itself() {
    if common::sipe::skip_or_require() {
        return;
    }
    let server = sipe_server(true);
    let sipe = common::sipe::Sipe::start("alice@lab.test", server.addr("tcp", false), 10, None);
    let registered = sipe.wait_message(WAIT, |m| {
        !m.sent && m.start_line() == "SIP/2.0 200 OK" && m.header("CSeq") == "1 REGISTER"
    });
    assert!(
        registered.is_some(),
        "{}\n{}",
        sipe.output(),
        server.log_text()
    );
    let subscribed = sipe.wait_message(WAIT, |m| {
        !m.sent && m.start_line() == "SIP/2.0 200 OK" && m.header("CSeq").ends_with("SUBSCRIBE")
    });
    assert!(subscribed.is_some(), "{}", sipe.output());
    assert!(wait_metric(
        &server,
        "presenced_auth_passed_total{principal=\"peer\"} ",
        2.0
    ));
}
