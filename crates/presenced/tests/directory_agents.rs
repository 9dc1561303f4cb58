//! Contact-center agents in the company directory, with the real binary
//! and a real slapd (seed 003's merged company directory: a user in both
//! the contact center and UC shows a CC status and UC presence; a UC-only
//! user shows presence and no CC status; an agent without a directory
//! entry is listed as an agent):
//!
//! - an agent bound and set Ready through `/api/v1/sync` appears in
//!   `GET /api/v1/directory` merged with the slapd user of its address
//!   (origins `ldap` and `agent`), with its `cc_status` and the presence
//!   its state publishes;
//! - a state change (a call) shows in the very next search and arrives
//!   on the console's live stream (`/console/events`) without a new
//!   search; unbinding takes the agent out again.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::console::{cookie, hash, login};
use common::slapd::{self, Slapd};
use common::ua::{Dialog, Ua};
use common::{http_exchange, Presenced};
use serde_json::{json, Value};

/// `[sync] tokens` holds the SHA-256 of `crm-secret`.
const TOKEN: &str = "Authorization: Bearer crm-secret";
const ALICE: &str = "sip:alice@example.com";
const CAROL: &str = "sip:carol@example.com";

/// `[console]` with user admin / hunter2, and `[sync]` with a push
/// profile for voice users (seed 002's table, reduced).
fn console_and_sync() -> String {
    format!(
        "[console]\n[[console.users]]\nname = \"admin\"\npassword_argon2 = \"{hash}\"\n\
         [sync]\ntokens = {{ crm = \"0d9acc4910ea35d3c9aa2d0b1150c904ad82d35251f9a4fd30f075c8b7178977\" }}\n\
         global = {{ EnterpriseVoice = \"voice\" }}\n\
         [[sync.profiles]]\nname = \"voice\"\n\
         aggregated_states = \"1=OUT, 2=READY, 3=NOTREADY, 4=NOTREADY, 5=NOTREADY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OUT, 12=OUT, 13=OUT, 14=OUT, 15=OUT\"\n\
         agent_states = [\n\
           {{ id = \"OUT\", availability = 18000, activity = {{ 1033 = \"Logged out\" }} }},\n\
           {{ id = \"READY\", availability = 3501, activity = {{ 1033 = \"Available for customers\" }} }},\n\
           {{ id = \"NOTREADY\", availability = 6001, activity = {{ 1033 = \"Not ready\" }} }},\n\
           {{ id = \"INCALL\", availability = 7001, activity = {{ 1033 = \"Working with customer\" }} }},\n\
         ]\n",
        hash = hash("hunter2"),
    )
}

fn config(slapd: &Slapd, dir: &std::path::Path) -> String {
    let secret = dir.join("ldap.pw");
    std::fs::write(&secret, format!("{}\n", slapd::PASSWORD)).unwrap();
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [directory]\nurl = \"{url}\"\nbind_dn = \"{admin}\"\npassword_file = \"{secret}\"\n\
         base = \"{suffix}\"\nrefresh_secs = 60\ntimeout_secs = 5\n{rest}",
        url = slapd.url(),
        admin = slapd::ADMIN,
        secret = secret.display(),
        suffix = slapd::SUFFIX,
        rest = console_and_sync(),
    )
}

/// A sync API call; its status.
fn sync(server: &Presenced, method: &str, path: &str, body: Value) -> u16 {
    let body = body.to_string();
    let (status, answer) = http_exchange(
        server.http_addr(),
        method,
        &format!("/api/v1/sync{path}"),
        &[TOKEN],
        body.as_bytes(),
    );
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&answer)
    );
    status
}

fn directory(server: &Presenced, query: &str) -> Value {
    let (status, body) = http_exchange(
        server.http_addr(),
        "GET",
        &format!("/api/v1/directory{query}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

fn entry(answer: &Value, uri: &str) -> Option<Value> {
    answer["entries"]
        .as_array()?
        .iter()
        .find(|e| e["uri"] == uri)
        .cloned()
}

/// Polls the directory for up to 10 s until `uri`'s entry passes `check`
/// (an agent's binding shows within a second, the merge's pace).
fn eventually(server: &Presenced, uri: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = directory(server, "");
        if let Some(found) = entry(&all, uri).filter(|e| check(e)) {
            return found;
        }
        assert!(Instant::now() < deadline, "{uri} never as wanted: {all:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One of the console's live streams, read line by line.
struct Stream {
    lines: std::io::Lines<BufReader<TcpStream>>,
}

impl Stream {
    fn open(server: &Presenced, session: &str, path: &str) -> Stream {
        let mut tcp = TcpStream::connect(server.http_addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: test\r\nCookie: {session}\r\n\
             Accept: text/event-stream\r\n\r\n",
        )
        .unwrap();
        Stream {
            lines: BufReader::new(tcp).lines(),
        }
    }

    /// The next event's data that passes `check`; panics after 10 s.
    fn until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let line = match self.lines.next() {
                Some(Ok(line)) => line,
                other => panic!("the stream ended waiting for {what}: {other:?}"),
            };
            let Some(data) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) else {
                continue;
            };
            if let Ok(event) = serde_json::from_str::<Value>(data) {
                if check(&event) {
                    return event;
                }
            }
        }
        panic!("no event with {what} within 10 s");
    }
}

#[test]
fn agents_merge_with_ldap_users_and_their_states_arrive_live() {
    if slapd::skip_or_require() {
        return;
    }
    let ldap = Slapd::start(
        &[
            slapd::ROOT_ENTRY.to_owned(),
            slapd::user("Alice Smith", ALICE, "title: Agent\n"),
            slapd::user("Bob Jones", "sip:bob@example.com", ""),
        ]
        .concat(),
    );
    let dir = tempfile::tempdir().unwrap();
    let server =
        Presenced::with_config_in(tempfile::tempdir().unwrap(), &config(&ldap, dir.path()), 1);
    server.wait_for_log(&["ldap directory refreshed", "entries=2"]);

    // Alice is an agent with a UC account; Carol an agent only.
    let bind = |agent: &str, uri: &str| {
        let body = json!({ "presentity": uri, "user_type": "EnterpriseVoice", "user_state": "LoggedInToClient" });
        sync(&server, "PUT", &format!("/agents/{agent}"), body);
    };
    bind("4711", ALICE);
    bind("4712", CAROL);
    sync(
        &server,
        "POST",
        "/agents/4711/state",
        json!({ "state": "Ready", "device": "Idle" }),
    );

    let alice = eventually(&server, ALICE, |e| e["origins"] == json!(["ldap", "agent"]));
    assert_eq!(
        alice["display_name"], "Alice Smith",
        "LDAP's name: {alice:#}"
    );
    assert_eq!(alice["kind"], "user");
    assert_eq!(alice["title"], "Agent");
    assert_eq!(
        alice["cc_status"],
        json!({"agent": "4711", "state": "Ready", "device": "Idle",
               "user_state": "LoggedInToClient", "text": "Ready"})
    );
    assert_eq!(alice["presence"]["availability"], 3501);
    assert_eq!(alice["presence"]["class"], "Online");
    assert_eq!(
        alice["presence"]["activity_text"],
        "Available for customers"
    );
    assert_eq!(alice["presence"]["source"], "sources");
    // A UC-only user: presence, no CC status (seed 003).
    let all = directory(&server, "");
    let bob = entry(&all, "sip:bob@example.com").unwrap();
    assert_eq!(bob["origins"], json!(["ldap"]));
    assert!(bob.get("cc_status").is_none(), "{bob:#}");
    // An agent without an LDAP entry is listed as an agent.
    let carol = entry(&all, CAROL).expect("carol listed");
    assert_eq!(carol["kind"], "agent");
    assert_eq!(carol["display_name"], "carol");
    assert_eq!(carol["origins"], json!(["agent"]));
    assert_eq!(carol["cc_status"]["text"], "Logged out");
    assert_eq!(carol["presence"]["availability"], 18000);
    // Found by its agent id and by its CC status.
    assert_eq!(directory(&server, "?q=4711")["total"], 1);

    // The console's live stream shows Ready first.
    let (status, headers, _) = login(&server, "admin", "hunter2");
    assert_eq!(status, 303);
    let session = cookie(&headers, "presenced_session").expect("a session");
    let mut stream = Stream::open(&server, &session, &format!("/console/events?uri={ALICE}"));
    let first = stream.until("Alice ready", |e| e["uri"] == ALICE);
    assert_eq!(first["cc_status"]["text"], "Ready", "{first:#}");
    assert_eq!(first["presence"]["availability"], 3501);

    // A call: the next search shows it at once, and the stream sends it.
    sync(
        &server,
        "POST",
        "/agents/4711/state",
        json!({ "device": "Busy" }),
    );
    let found = directory(&server, "?q=alice");
    let alice = entry(&found, ALICE).unwrap();
    assert_eq!(alice["cc_status"]["text"], "In a call", "{alice:#}");
    assert_eq!(alice["cc_status"]["device"], "Busy");
    assert_eq!(alice["presence"]["availability"], 7001);
    assert_eq!(alice["presence"]["activity_text"], "Working with customer");
    let live = stream.until("the call", |e| e["cc_status"]["text"] == "In a call");
    assert_eq!(live["presence"]["availability"], 7001, "{live:#}");
    assert_eq!(live["presence"]["class"], "Busy");

    // Unbound, Carol leaves the directory and Alice is LDAP's only.
    sync(&server, "DELETE", "/agents/4712", json!({}));
    sync(&server, "DELETE", "/agents/4711", json!({}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = directory(&server, "");
        let alice = entry(&all, ALICE).unwrap();
        if entry(&all, CAROL).is_none() && alice["origins"] == json!(["ldap"]) {
            assert!(alice.get("cc_status").is_none(), "{alice:#}");
            break;
        }
        assert!(Instant::now() < deadline, "the agents never left: {all:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A GET with the session's cookie: status and body.
fn console_get(server: &Presenced, session: &str, path: &str) -> (u16, String) {
    let cookie = format!("Cookie: {session}");
    let (status, body) = http_exchange(server.http_addr(), "GET", path, &[&cookie], b"");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The console without LDAP: the agents page lists an agent with its
/// profile and follows its state live; the presentity's page shows its
/// recent changes and the agent's `explain`; the history API answers the
/// same changes; a watcher's NOTIFYs show in the status page's latency
/// series and the metrics histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_agents_history_and_notify_latency() {
    let server = Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n{}",
            console_and_sync()
        ),
        1,
    );
    let sip = server.addr("udp", false);
    let alice = Ua::new(sip, "alice").await;
    let bob = Ua::new(sip, "bob").await;
    let ok = bob
        .send(bob.subscribe(&alice.aor(), &Dialog::new(), 1, 300, ""))
        .await;
    assert_eq!(ok.status, 200);
    bob.next_notify().await;

    let bind = json!({ "presentity": alice.aor(), "user_type": "EnterpriseVoice", "user_state": "LoggedInToClient" });
    sync(&server, "PUT", "/agents/4711", bind);
    sync(
        &server,
        "POST",
        "/agents/4711/state",
        json!({ "state": "Ready", "device": "Idle" }),
    );
    sync(
        &server,
        "POST",
        "/agents/4711/state",
        json!({ "device": "Busy" }),
    );
    let mut seen = Vec::new();
    while let Some(notify) = bob.notify_within(Duration::from_secs(2)).await {
        let body = common::ua::text(&notify.body);
        let busy = body.contains("Working with customer");
        seen.push(body);
        if busy {
            break;
        }
    }
    assert!(
        seen.iter().any(|b| b.contains("Working with customer")),
        "{seen:?}"
    );

    // The history API: newest first, each with what decided it.
    let path = format!("/api/v1/presentities/{}/history", alice.aor());
    let (status, body) = http_exchange(server.http_addr(), "GET", &path, &[], b"");
    assert_eq!(status, 200);
    let history: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(history["presentity"], alice.aor());
    let changes: Vec<(u64, &str)> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["availability"].as_u64().unwrap(),
                c["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes[..3],
        [(7001, "sync"), (3501, "sync"), (18000, "sync")],
        "{history:#}"
    );
    assert_eq!(
        history["changes"][0]["activity_text"],
        "Working with customer"
    );
    let (status, body) = http_exchange(
        server.http_addr(),
        "GET",
        "/api/v1/presentities/alice/history",
        &[],
        b"",
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("\"field\":\"uri\""));

    let (status, headers, _) = login(&server, "admin", "hunter2");
    assert_eq!(status, 303);
    let session = cookie(&headers, "presenced_session").expect("a session");

    // The agents page: the agent, its state, profile and rule.
    let (status, page) = console_get(&server, &session, "/console/agents");
    assert_eq!(status, 200);
    assert!(page.contains("data-agent=\"4711\""), "{page}");
    assert!(page.contains(">In a call<"), "{page}");
    assert!(page.contains("voice (global EnterpriseVoice)"), "{page}");
    assert!(page.contains(">7001<"), "{page}");
    // ...and live: the next state arrives on its stream.
    let mut stream = Stream::open(&server, &session, "/console/agents/events");
    let first = stream.until("the agent list", |e| e.is_array());
    assert_eq!(first[0]["cc"]["text"], "In a call", "{first:#}");
    sync(
        &server,
        "POST",
        "/agents/4711/state",
        json!({ "state": "NotReady", "device": "Idle" }),
    );
    let next = stream.until("Not ready", |e| e[0]["cc"]["text"] == "Not ready");
    assert_eq!(next[0]["published"], 6001, "{next:#}");
    assert_eq!(next[0]["profile"], "voice (global EnterpriseVoice)");

    // The presentity's page: its changes and the agent's explain.
    let (status, page) = console_get(
        &server,
        &session,
        &format!("/console/presentity?uri={}", alice.aor()),
    );
    assert_eq!(status, 200);
    let history = page
        .split("id=\"history\"")
        .nth(1)
        .expect("a history table");
    assert!(history.contains("<td>7001</td>"), "{page}");
    assert!(history.contains("Working with customer"), "{page}");
    assert!(history.contains("<td>sync</td>"), "{page}");
    assert!(page.contains("id=\"agent-explain\""), "{page}");
    assert!(page.contains("agent 4711"), "{page}");

    // NOTIFY latency: bob's NOTIFYs are in the series once their second
    // is over, and in the histogram.
    let deadline = Instant::now() + Duration::from_secs(10);
    let series = loop {
        let (status, body) = console_get(&server, &session, "/console/api/status");
        assert_eq!(status, 200);
        let data: Value = serde_json::from_str(&body).unwrap();
        let series = data["notify_latency"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !series.is_empty() {
            break series;
        }
        assert!(Instant::now() < deadline, "no latency second: {data:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let counted: u64 = series.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert!(counted >= 2, "{series:?}");
    assert!(series
        .iter()
        .all(|s| s["p99_ms"].as_f64().unwrap() >= s["p50_ms"].as_f64().unwrap()));
    assert!(server.metric("presenced_notify_latency_seconds_count") >= 2.0);
}
