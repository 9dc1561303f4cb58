//! The sync engine with real clients (issue 11): contact-center changes
//! through the HTTP API reach a pjsua2 watcher (IETF dialect, PIDF over
//! UDP) and a pidgin-sipe watcher (Microsoft dialect over TCP), and a
//! real client's own state reaches the contact center as DND events.
//!
//! The server: `presenced --config DIR/presenced.toml` with `udp:` and
//! `tcp:` listeners on one free port, the memory store and the `[sync]`
//! section below (`default_lcid = 1031`: German is the configured
//! language). The clients:
//!
//! - pjsua2: `python3 tests/peers/pjsua_watcher.py --transport udp
//!   --server-port P --local-port L --user carol --target
//!   sip:alice@lab.test --duration 60`;
//! - SIPE: `sipe_client 'bob@lab.test,LAB\bob' secret 127.0.0.1:P tcp
//!   ntlm 40` (see `common::sipe`), Bob's contact list (Alice)
//!   provisioned over HTTP first; it prints `BUDDY STATE` / `BUDDY
//!   MESSAGE` lines for what it shows.
//!
//! Needs pjsua2 and `pidgin-sipe libpurple-dev libglib2.0-dev pkg-config
//! gcc` (`scripts/install-test-peers`); `PRESENCED_SKIP_PEERS=1` skips.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::sipe::{self, Sipe};
use common::{http_exchange, Presenced};
use serde_json::{json, Value};

/// How long one expected step may take.
const STEP: Duration = Duration::from_secs(15);

const TOKEN: &str = "Authorization: Bearer crm-secret";

const SYNC: &str = r#"
[sync]
default_lcid = 1031
tokens = { crm = "0d9acc4910ea35d3c9aa2d0b1150c904ad82d35251f9a4fd30f075c8b7178977" }
global = { EnterpriseVoice = "voice", ImOnly = "dnd" }

[[sync.profiles]]
name = "voice"
aggregated_states = "1=IDLE_OUT, 2=IDLE_READY, 3=IDLE_NOTREADY, 4=IDLE_ACW, 5=IDLE_AWAY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OOS, 12=OOS, 13=OOS, 14=OOS, 15=OOS"
agent_states = [
  { id = "IDLE_OUT", availability = 18000, activity = { 1033 = "Logged out", 1031 = "Abgemeldet" } },
  { id = "IDLE_READY", availability = 3501, activity = { 1033 = "I am available", 1031 = "Ich bin verfügbar" } },
  { id = "IDLE_NOTREADY", availability = 6001, activity = { 1033 = "I am not available", 1031 = "Nicht bereit" } },
  { id = "IDLE_ACW", availability = 6002, activity = { 1033 = "I am in After Call Work", 1031 = "Nachbearbeitung" } },
  { id = "IDLE_AWAY", availability = 4501, activity = { 1033 = "I am away from my desk", 1031 = "Nicht am Platz" } },
  { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer, do not disturb", 1031 = "Im Kundengespräch, bitte nicht stören" } },
  { id = "OOS", availability = 18000, activity = { 1033 = "The device is out of service", 1031 = "Gerät außer Betrieb" } },
]

[[sync.profiles]]
name = "dnd"
dnd_off_ranges = "3000-5999,12000-14999"
"#;

fn server(port: u16) -> Presenced {
    Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[store]\nmode = \"memory\"\n{SYNC}"
        ),
        2,
    )
}

fn api(http: SocketAddr, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = http_exchange(
        http,
        method,
        &format!("/api/v1/sync{path}"),
        &[TOKEN],
        body.to_string().as_bytes(),
    );
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status, 200, "{method} {path}: {answer}");
    serde_json::from_str(&answer).expect("JSON")
}

/// Ready → in a call → ACW, seen by pjsua2 (PIDF: open, then busy with
/// the text as note) and by SIPE (Available, then Busy with the text in
/// the configured language, German, though every LCID is sent).
#[test]
fn pjsua2_and_sipe_follow_an_agent_from_ready_to_a_call_to_acw() {
    if sipe::skip_or_require() || common::peers::skip_without_pjsua() {
        return;
    }
    let port = common::peers::free_port();
    let server = server(port);
    let http = server.http_addr();
    let alice = "sip:alice@lab.test";
    let (status, body) = common::http_send(
        http,
        "PUT",
        "/api/v1/users/sip%3Abob%40lab.test/contacts",
        Some(&format!(
            "{{\"groups\": [{{\"id\": 1, \"name\": \"Agents\"}}], \"contacts\": [{{\"uri\": \"{alice}\", \"name\": \"Alice\", \"groups\": [1]}}]}}"
        )),
    );
    assert_eq!(status, 200, "{body}");
    api(
        http,
        "PUT",
        "/agents/4711",
        json!({ "presentity": alice, "user_type": "EnterpriseVoice", "user_state": "LoggedInToClient" }),
    );
    api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "state": "Ready", "device": "Idle" }),
    );

    let carol = common::peers::pjsua_watcher("udp", port, "carol", alice);
    let ctx = || server.log_text();
    carol.wait_for(0, STEP, "pjsua2 sees Alice available", &ctx, |v| {
        v["event"] == "buddy" && v["status"] == "online" && v["activity"].is_null()
    });
    let bob = Sipe::start("bob@lab.test", server.addr("tcp", false), 40, None);
    let fail = |what: &str, client: &Sipe| -> ! {
        panic!(
            "{what}\n--- SIPE ---\n{}\n--- presenced ---\n{}",
            client.output(),
            server.log_text()
        )
    };
    if bob
        .wait_for(&format!("BUDDY STATE {alice} available"), STEP)
        .is_none()
    {
        fail("SIPE does not show Alice available", &bob);
    }

    // In a call: Busy, "Working with customer, do not disturb".
    let from = carol.len();
    api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "device": "Busy" }),
    );
    carol.wait_for(from, STEP, "pjsua2 sees Alice busy in a call", &ctx, |v| {
        v["event"] == "buddy"
            && v["activity"] == "busy"
            && v["note"] == "Im Kundengespräch, bitte nicht stören"
    });
    if bob
        .wait_for(&format!("BUDDY STATE {alice} busy"), STEP)
        .is_none()
    {
        fail("SIPE does not show Alice busy", &bob);
    }
    if bob
        .wait_for(
            &format!("BUDDY MESSAGE {alice} Im Kundengespräch, bitte nicht stören"),
            STEP,
        )
        .is_none()
    {
        fail(
            "SIPE does not show the text in the configured language",
            &bob,
        );
    }
    // Every language went to SIPE; the configured one first.
    let categories = bob.wait_message(STEP, |m| {
        !m.sent && m.body().contains("<availability>7001</availability>")
    });
    let Some(categories) = categories else {
        fail("no category document with 7001", &bob)
    };
    let body = categories.body();
    let german = body.find("LCID=\"1031\">Im Kundengespräch");
    let english = body.find("LCID=\"1033\">Working with customer, do not disturb<");
    assert!(german.is_some() && german < english, "{body}");

    // After call work.
    let from = carol.len();
    api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "state": "ACW", "device": "Idle" }),
    );
    carol.wait_for(from, STEP, "pjsua2 sees Alice in ACW", &ctx, |v| {
        v["event"] == "buddy" && v["activity"] == "busy" && v["note"] == "Nachbearbeitung"
    });
    if bob
        .wait_for(&format!("BUDDY MESSAGE {alice} Nachbearbeitung"), STEP)
        .is_none()
    {
        fail("SIPE does not show Alice in ACW", &bob);
    }
    carol.quit();
}

/// An SSE client of `/api/v1/sync/events`, read line by line.
fn events(http: SocketAddr, agents: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(STEP)).unwrap();
    write!(
        stream,
        "GET /api/v1/sync/events?agents={agents} HTTP/1.1\r\nHost: test\r\n{TOKEN}\r\n\r\n"
    )
    .unwrap();
    BufReader::new(stream)
}

/// The `data:` of the next event named `name` (within [`STEP`]; `None`
/// when none came).
fn next_event(reader: &mut BufReader<TcpStream>, name: &str) -> Option<Value> {
    let deadline = std::time::Instant::now() + STEP;
    let mut current = String::new();
    loop {
        if std::time::Instant::now() > deadline {
            return None;
        }
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if let Some(event) = line.strip_prefix("event:") {
            current = event.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            if current == name {
                return Some(serde_json::from_str(data.trim()).expect("JSON data"));
            }
        }
    }
}

/// SIPE sets Do Not Disturb (its `do-not-disturb` status): the event
/// stream delivers DND on; signed in again as Available: DND off.
#[test]
fn sipe_going_do_not_disturb_and_back_drives_dnd_events() {
    if sipe::skip_or_require() {
        return;
    }
    let port = common::peers::free_port();
    let server = server(port);
    let http = server.http_addr();
    api(
        http,
        "PUT",
        "/agents/d1",
        json!({ "presentity": "sip:dave@lab.test", "user_type": "ImOnly" }),
    );
    let mut stream = events(http, "d1");
    let mut dave = Sipe::start(
        "dave@lab.test",
        server.addr("tcp", false),
        5,
        Some("do-not-disturb"),
    );
    let Some(on) = next_event(&mut stream, "dnd") else {
        panic!("no DND on\n{}\n{}", dave.output(), server.log_text())
    };
    assert_eq!(on["on"], true, "{on}\n{}", dave.output());
    assert_eq!(on["agent"], "d1");
    // SIPE's Do Not Disturb: 9500 in its state category.
    let agent = api(http, "GET", "/agents/d1", Value::Null);
    assert_eq!(agent["uc"]["aggregate"]["class"], "DoNotDisturb", "{agent}");
    // It signs out (un-REGISTER); its manual state stays, as Lync's does.
    assert!(dave.wait_exit(STEP), "sipe_client did not quit");

    let dave = Sipe::start(
        "dave@lab.test",
        server.addr("tcp", false),
        8,
        Some("available"),
    );
    let Some(off) = next_event(&mut stream, "dnd") else {
        panic!("no DND off\n{}\n{}", dave.output(), server.log_text())
    };
    assert_eq!(off["on"], false, "{off}\n{}", dave.output());
    let agent = api(http, "GET", "/agents/d1", Value::Null);
    assert_eq!(agent["uc"]["aggregate"]["class"], "Online", "{agent}");
    assert!(off["id"].as_u64() > on["id"].as_u64());
}
