//! The sync engine from the outside (issue 11): the real binary, its
//! contact-center API over HTTP and raw SIP watchers over UDP.
//!
//! - push mode: an agent going Ready → in a call → ACW is seen by a
//!   watcher as Available → Busy "Working with customer, do not disturb"
//!   → the ACW state; a login session's profile overrides the global
//!   one; the API refuses what it must (401 changing nothing, 4xx naming
//!   the field); kill -9 and a restart keep the agent's last state;
//! - pull mode: a user publishing Busy makes the event stream deliver
//!   DND on, Available DND off, and a client reconnecting with the last
//!   id it saw gets what it missed;
//! - live reload: an edit of `[sync]` changes the next mapping without a
//!   restart; an invalid edit is refused and logged, the old rules kept.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::ua::{pidf, text, Dialog, Ua};
use common::{http_exchange, Presenced, WAIT};
use serde_json::{json, Value};

/// The token whose SHA-256 the config holds.
const TOKEN: &str = "Authorization: Bearer crm-secret";

/// Seed 002's push table (every busy device row in a call) and its
/// INCALL texts in two languages; a night profile only a login session
/// names; a pull profile for IM-only users.
const SYNC: &str = r#"
[sync]
tokens = { crm = "0d9acc4910ea35d3c9aa2d0b1150c904ad82d35251f9a4fd30f075c8b7178977" }
global = { EnterpriseVoice = "voice", ImOnly = "dnd" }

[[sync.profiles]]
name = "voice"
aggregated_states = "1=IDLE_OUT, 2=IDLE_READY, 3=IDLE_NOTREADY, 4=IDLE_ACW, 5=IDLE_AWAY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OOS, 12=OOS, 13=OOS, 14=OOS, 15=OOS"
agent_states = [
  { id = "IDLE_OUT", availability = 18000, activity = { 1033 = "Logged out" } },
  { id = "IDLE_READY", availability = 3501, activity = { 1033 = "I am available" } },
  { id = "IDLE_NOTREADY", availability = 6001, activity = { 1033 = "I am not available" } },
  { id = "IDLE_ACW", availability = 6002, activity = { 1033 = "I am in After Call Work" } },
  { id = "IDLE_AWAY", availability = 4501, activity = { 1033 = "I am away from my desk" } },
  { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer, do not disturb", 1031 = "Im Kundengespräch, bitte nicht stören" } },
  { id = "OOS", availability = 18000, activity = { 1033 = "The device is out of service" } },
]

[[sync.profiles]]
name = "night"
aggregated_states = "1=Q, 2=Q, 3=Q, 4=Q, 5=Q, 6=Q, 7=Q, 8=Q, 9=Q, 10=Q, 11=Q, 12=Q, 13=Q, 14=Q, 15=Q"
agent_states = [{ id = "Q", availability = 9501, activity = { 1033 = "Night shift" } }]

[[sync.profiles]]
name = "dnd"
dnd_off_ranges = "3000-5999,12000-14999"
"#;

fn config(data: &Path) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[presence]\nsubscribe_min_expires = 5\n\
         publish_min_expires = 5\n[store]\ndata_dir = \"{}\"\n{SYNC}",
        data.display()
    )
}

/// A durable server on `data`, its config file in `dir`.
fn server(dir: &Path, data: &Path) -> Presenced {
    let file = dir.join("presenced.toml");
    if !file.exists() {
        std::fs::write(&file, config(data)).unwrap();
    }
    Presenced::start(&["--config", file.to_str().unwrap()], 1)
}

/// An API call: status and JSON body (or the text when it is not JSON).
fn call(http: SocketAddr, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, Value) {
    let (status, body) = http_exchange(
        http,
        method,
        &format!("/api/v1/sync{path}"),
        headers,
        body.as_bytes(),
    );
    let text = String::from_utf8_lossy(&body).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn api(http: SocketAddr, method: &str, path: &str, body: Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, answer) = call(http, method, path, &[TOKEN], &body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// The next NOTIFY's body.
async fn next(ua: &Ua) -> String {
    text(&ua.next_notify().await.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_reaches_a_watcher_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A fixed port: the restart below must come back on it for Bob's
    // stored subscription (its UDP flow) to be reachable.
    let port = common::peers::free_port();
    std::fs::write(
        dir.path().join("presenced.toml"),
        config(&data).replace("udp:127.0.0.1:0", &format!("udp:127.0.0.1:{port}")),
    )
    .unwrap();
    let mut server = server(dir.path(), &data);
    let http = server.http_addr();
    let sip = server.addr("udp", false);
    let alice = Ua::new(sip, "alice").await;
    let bob = Ua::new(sip, "bob").await;
    let bind = json!({ "presentity": alice.aor(), "user_type": "EnterpriseVoice", "user_state": "LoggedInToClient" });

    // No token, a wrong one: 401 with the challenge, and nothing changes.
    let (status, answer) = call(http, "PUT", "/agents/4711", &[], &bind.to_string());
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["field"], "Authorization");
    let wrong = ["Authorization: Bearer crm-secreT"];
    assert_eq!(
        call(http, "PUT", "/agents/4711", &wrong, &bind.to_string()).0,
        401
    );
    let (status, answer) = call(http, "GET", "/agents/4711", &[TOKEN], "");
    assert_eq!(status, 404, "nothing was bound: {answer}");
    assert_eq!(answer["field"], "agent");

    // Bad input: 400 naming the field.
    let mut bad = bind.clone();
    bad["user_type"] = "Admin".into();
    let (status, answer) = call(http, "PUT", "/agents/4711", &[TOKEN], &bad.to_string());
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("user_type")),
        "{answer}"
    );
    bad = bind.clone();
    bad["presentity"] = "alice".into();
    let (status, answer) = call(http, "PUT", "/agents/4711", &[TOKEN], &bad.to_string());
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("presentity")),
        "{answer}"
    );

    // Bound: logged out (row 1) is published.
    let bound = api(http, "PUT", "/agents/4711", bind.clone());
    assert_eq!(bound["contact_center"]["state"], "Logout");
    assert_eq!(bound["uc"]["published"]["availability"], 18000);
    let (status, answer) = call(
        http,
        "POST",
        "/agents/4711/state",
        &[TOKEN],
        r#"{"device": "Sleeping"}"#,
    );
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("device")),
        "{answer}"
    );
    let taken = json!({ "presentity": alice.aor(), "user_type": "Rcc" });
    let (status, answer) = call(http, "PUT", "/agents/9", &[TOKEN], &taken.to_string());
    assert_eq!(
        (status, answer["field"].as_str()),
        (409, Some("presentity")),
        "{answer}"
    );

    // Bob watches alice.
    let mut sub = Dialog::new();
    let ok = bob
        .send(bob.subscribe(&alice.aor(), &sub, 1, 300, ""))
        .await;
    assert_eq!(ok.status, 200);
    sub.established(&ok);
    assert!(
        next(&bob).await.contains("<basic>closed</basic>"),
        "Logout is Offline"
    );

    // Ready → Available.
    let ready = api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "state": "Ready", "device": "Idle" }),
    );
    assert_eq!(ready["uc"]["aggregate"]["availability"], 3501);
    let body = next(&bob).await;
    assert!(
        body.contains("<basic>open</basic>") && !body.contains("busy"),
        "{body}"
    );

    // In a call → Busy with the INCALL text.
    let call_state = api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "device": "Busy" }),
    );
    assert_eq!(
        call_state["uc"]["published"]["activity"]["1033"],
        "Working with customer, do not disturb"
    );
    let body = next(&bob).await;
    assert!(body.contains("busy"), "{body}");
    assert!(
        body.contains("Working with customer, do not disturb"),
        "{body}"
    );

    // ACW.
    api(
        http,
        "POST",
        "/agents/4711/state",
        json!({ "state": "ACW", "device": "Idle" }),
    );
    let body = next(&bob).await;
    assert!(body.contains("I am in After Call Work"), "{body}");

    // A login session's profile overrides the global one, and back.
    let night = api(
        http,
        "POST",
        "/agents/4711/session",
        json!({ "user_state": "LoggedInToClient", "profile": "night" }),
    );
    assert_eq!(night["uc"]["published"]["availability"], 9501);
    assert_eq!(night["session_profile"], "night");
    assert!(next(&bob).await.contains("Night shift"));
    let (status, answer) = call(
        http,
        "POST",
        "/agents/4711/session",
        &[TOKEN],
        r#"{"user_state": "LoggedInToClient", "profile": "nope"}"#,
    );
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("profile")),
        "{answer}"
    );
    let back = api(
        http,
        "POST",
        "/agents/4711/session",
        json!({ "user_state": "LoggedInToClient" }),
    );
    assert_eq!(back["uc"]["published"]["availability"], 6002);
    assert!(next(&bob).await.contains("I am in After Call Work"));

    // explain, by agent id or by URI.
    let explained = api(http, "GET", "/explain/4711", Value::Null);
    let lines: Vec<&str> = explained["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let all = lines.join("\n");
    assert!(all.contains("profile \"voice\""), "{all}");
    assert!(
        all.contains("global for user type EnterpriseVoice"),
        "{all}"
    );
    assert!(all.contains("aggregated state IDLE_ACW"), "{all}");
    let by_uri = api(
        http,
        "GET",
        &format!(
            "/explain/{}",
            alice.aor().replace(':', "%3A").replace('@', "%40")
        ),
        Value::Null,
    );
    assert_eq!(by_uri, explained);
    let (status, answer) = call(http, "GET", "/explain/nobody", &[TOKEN], "");
    assert_eq!(
        (status, answer["field"].as_str()),
        (404, Some("target")),
        "{answer}"
    );
    // The command asks the running server.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presenced"))
        .args(["explain", &alice.aor(), "--server", &http.to_string()])
        .env("PRESENCED_SYNC_TOKEN", "crm-secret")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("sync engine (server at {http}):")),
        "{printed}"
    );
    assert!(printed.contains("aggregated state IDLE_ACW"), "{printed}");

    // kill -9, restart on the same store: the agent is where it was, and
    // a new watcher is told the ACW state at once.
    let pid = server.pid();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until(|| !server.is_running());
    drop(server);
    let server = self::server(dir.path(), &data);
    server.wait_for_log(&["sync agents restored", "agents=1"]);
    // Bob's stored subscription: his first NOTIFY after the restart
    // already carries the agent's state.
    let first = bob.notify_within(WAIT).await.map(|n| text(&n.body));
    assert!(
        first
            .as_deref()
            .is_some_and(|b| b.contains("I am in After Call Work")),
        "{first:?}\n{}",
        server.log_text()
    );
    let http = server.http_addr();
    let agent = api(http, "GET", "/agents/4711", Value::Null);
    assert_eq!(
        agent["contact_center"],
        json!({ "state": "ACW", "device": "Idle" })
    );
    assert_eq!(agent["uc"]["published"]["availability"], 6002);
    assert_eq!(agent["uc"]["aggregate"]["availability"], 6002);
    let carol = Ua::new(server.addr("udp", false), "carol").await;
    let ok = carol
        .send(carol.subscribe(&alice.aor(), &Dialog::new(), 1, 300, ""))
        .await;
    assert_eq!(ok.status, 200);
    assert!(next(&carol).await.contains("I am in After Call Work"));
}

/// Polls `done` every 20 ms for up to [`WAIT`]; the time it took.
fn wait_until(mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "condition not met in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// An event-stream client: one GET, events read as they come.
struct EventStream {
    reader: BufReader<TcpStream>,
}

/// One SSE event: id, name, data.
#[derive(Debug)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

impl EventStream {
    fn open(http: SocketAddr, query: &str, last_event_id: Option<u64>) -> EventStream {
        let mut stream = TcpStream::connect(http).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let last = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /api/v1/sync/events{query} HTTP/1.1\r\nHost: test\r\n{TOKEN}\r\n{last}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        EventStream { reader }
    }

    /// The next event (keep-alive comments and chunk sizes skipped).
    fn next(&mut self) -> Sse {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("an event in time");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            } else if line.is_empty() && !event.is_empty() {
                return Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                };
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mode_streams_dnd_and_replays_what_a_reconnect_missed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), &dir.path().join("data"));
    let http = server.http_addr();
    let dave = Ua::new(server.addr("udp", false), "dave").await;
    api(
        http,
        "PUT",
        "/agents/d1",
        json!({ "presentity": dave.aor(), "user_type": "ImOnly" }),
    );
    let (status, _) = call(http, "GET", "/events", &[], "");
    assert_eq!(status, 401);

    let mut events = EventStream::open(http, "?agents=d1", None);
    let publication = Dialog::new();
    let publish = |n: u32, etag: Option<&str>, activity: Option<&'static str>| {
        let body = pidf(&dave.aor(), "pc", "open", activity, "");
        dave.publish(&publication, n, 60, etag, Some(&body))
    };
    // Busy (6500) is outside the DND-off ranges: DND on.
    let ok = dave.send(publish(1, None, Some("busy"))).await;
    assert_eq!(ok.status, 200);
    let etag = common::ua::value(&ok.headers, sip::HeaderName::SipEtag);
    let on = events.next();
    assert_eq!(
        (on.event.as_str(), &on.data["on"]),
        ("dnd", &json!(true)),
        "{on:?}"
    );
    assert_eq!(on.data["agent"], "d1");
    let on_id = on.id.expect("an id");
    drop(events);

    // While nobody listens: Available (3500) → DND off. A reconnect with
    // the last id seen gets it.
    assert_eq!(dave.send(publish(2, Some(&etag), None)).await.status, 200);
    let agent = api(http, "GET", "/agents/d1", Value::Null);
    assert_eq!(agent["sent"], json!({ "event": "dnd", "on": false }));
    let mut events = EventStream::open(http, "?agents=d1", Some(on_id));
    let off = events.next();
    assert_eq!(
        (off.event.as_str(), &off.data["on"]),
        ("dnd", &json!(false)),
        "{off:?}"
    );
    assert!(off.id.unwrap() > on_id);
    let (_, metrics) = common::http_get(http, "/metrics");
    assert!(
        metrics.contains("presenced_sync_events_total{event=\"dnd\"} 2"),
        "{metrics}"
    );

    // A client from before this server's history gets a gap, then what
    // there is.
    let mut late = EventStream::open(http, "?last_event_id=1", None);
    assert_eq!(late.next().event, "gap");
    assert_eq!(late.next().id, Some(on_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_edit_changes_the_next_mapping_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = server(dir.path(), &data);
    let http = server.http_addr();
    let erin = Ua::new(server.addr("udp", false), "erin").await;
    api(
        http,
        "PUT",
        "/agents/e1",
        json!({ "presentity": erin.aor(), "user_type": "EnterpriseVoice" }),
    );
    let ready = api(
        http,
        "POST",
        "/agents/e1/state",
        json!({ "state": "Ready" }),
    );
    assert_eq!(ready["uc"]["published"]["availability"], 3501);

    let file = dir.path().join("presenced.toml");
    let edited = config(&data).replace("availability = 3501", "availability = 3600");
    std::fs::write(&file, &edited).unwrap();
    server.wait_for_log(&["sync rules applied", "republished=1"]);
    let agent = api(http, "GET", "/agents/e1", Value::Null);
    assert_eq!(
        agent["uc"]["published"]["availability"], 3600,
        "applied to the current agent"
    );

    // Push and pull in one profile: refused, logged, the old rules kept.
    let broken = edited.replace(
        "name = \"voice\"\n",
        "name = \"voice\"\ndnd_off_ranges = \"3000-5999\"\n",
    );
    std::fs::write(&file, broken).unwrap();
    let log = server.wait_for_log(&["config reload refused", "exclusive per profile"]);
    assert!(log.contains("presenced.toml:"), "{log}");
    api(
        http,
        "POST",
        "/agents/e1/state",
        json!({ "state": "NotReady" }),
    );
    let agent = api(
        http,
        "POST",
        "/agents/e1/state",
        json!({ "state": "Ready" }),
    );
    assert_eq!(agent["uc"]["published"]["availability"], 3600);
}

/// `[sync] default_lcid` follows a reload: a PIDF watcher of an agent in
/// a call (texts in English and German) gets the German text as its note
/// once the edit is applied, without the agent changing state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_lcid_edit_reaches_the_watchers_of_the_current_texts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = server(dir.path(), &data);
    let http = server.http_addr();
    let sip = server.addr("udp", false);
    let fred = Ua::new(sip, "fred").await;
    let gina = Ua::new(sip, "gina").await;
    api(
        http,
        "PUT",
        "/agents/f1",
        json!({ "presentity": fred.aor(), "user_type": "EnterpriseVoice" }),
    );
    api(
        http,
        "POST",
        "/agents/f1/state",
        json!({ "state": "Ready", "device": "Busy" }),
    );
    let mut sub = Dialog::new();
    let ok = gina
        .send(gina.subscribe(&fred.aor(), &sub, 1, 300, ""))
        .await;
    assert_eq!(ok.status, 200);
    sub.established(&ok);
    let first = next(&gina).await;
    assert!(first.contains("Working with customer"), "{first}");

    let file = dir.path().join("presenced.toml");
    let edited = config(&data).replace("[sync]\n", "[sync]\ndefault_lcid = 1031\n");
    std::fs::write(&file, &edited).unwrap();
    server.wait_for_log(&["sync rules applied"]);
    let german = next(&gina).await;
    assert!(german.contains("Im Kundengespräch"), "{german}");
    assert!(!german.contains("Working with customer"), "{german}");
}
