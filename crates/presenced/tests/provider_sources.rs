//! The presence provider's sources per URI (seed 004) with Kamailio as
//! the upstream: attendant-pattern and E.164 presentities are not
//! subscribed upstream, the fallback is, and `presenced explain` and the
//! API tell which source serves a URI, why, and the live subscription
//! state.

mod common;

use std::process::Command;
use std::time::Duration;

use common::kamailio::{setup, token_table, wait_metric, ApiConsumer};
use common::ua::{text, Dialog, Ua};
use common::{http_exchange, http_get, Presenced, WAIT};

fn explain(server: &Presenced, uri: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .args(["explain", uri, "--server"])
        .arg(server.http_addr().to_string())
        .output()
        .expect("run presenced explain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_fallback_goes_upstream_and_explain_tells_the_live_state() {
    let Some((_run, kamailio, server)) = setup(
        3600,
        &format!(
            "[provider.attendant_service_source]\npatterns = ['^sip:attendant\\.']\n{}",
            token_table("cc-secret")
        ),
    ) else {
        return;
    };
    let alice = "sip:alice@127.0.0.1";
    let attendant = "sip:attendant.desk@127.0.0.1";
    let line = "sip:+31612345678@127.0.0.1";
    let consumer = Ua::new(server.addr("udp", false), "wallboard").await;
    for target in [attendant, line, alice] {
        let ok = consumer
            .send(consumer.subscribe(target, &Dialog::new(), 1, 600, ""))
            .await;
        assert_eq!(ok.status, 200, "{target}");
    }
    kamailio.wait_log("presenced's SUBSCRIBE for alice", WAIT, |k| {
        k.initial_subscribes(alice) == 1
    });
    wait_metric(
        &server,
        "presenced_upstream_subscriptions{status=\"live\"}",
        1.0,
    );
    // One log line per change of what consumers see, as seed 004 logs
    // it (Kamailio has no state for alice: unknown while subscribing, and
    // after, with no document, still unknown: no second line).
    server.wait_for_log(&[
        "presence change",
        "presentity=sip:alice@127.0.0.1",
        "previous=[]",
        "new=[unknown, source upstream]",
    ]);
    wait_metric(
        &server,
        "presenced_upstream_consumers_per_presentity_max",
        1.0,
    );
    wait_metric(&server, "presenced_upstream_throttle_queue", 0.0);
    // The attendant and the PSTN line were watched first: had they gone
    // upstream, Kamailio would have seen them before alice.
    std::thread::sleep(Duration::from_millis(300));
    for other in [attendant, line] {
        assert_eq!(
            kamailio.initial_subscribes(other),
            0,
            "{other} is not the upstream's\n{}",
            kamailio.log()
        );
    }

    let text = explain(&server, alice);
    assert!(
        text.contains(
            "    - 'sip:alice@127.0.0.1' does not match the pattern '^sip:attendant\\.'\n"
        ) && text.contains(
            "  - The UcmaPresenceSource is enabled\n    - The UcmaPresenceSource is used\n"
        ) && text.contains("\nsubscription state: live (1 consumer)\n"),
        "{text}"
    );
    let text = explain(&server, attendant);
    assert!(
        text.contains("      - The AttendantServiceSource is used\n")
            && text.contains("attendant clients set this presence through the API"),
        "{text}"
    );
    let text = explain(&server, &format!("{line};user=phone"));
    assert!(
        text.contains("matches an E164 lineuri (+31612345678; a SIP URI with user=phone)"),
        "{text}"
    );

    // An API consumer counts while its stream is open, and no longer.
    let api = ApiConsumer::open(server.http_addr(), alice, "cc-secret");
    let first = api.next();
    assert_eq!(first["status"], "live", "{first}");
    wait_metric(&server, "presenced_upstream_consumers", 2.0);
    drop(api);
    wait_metric(&server, "presenced_upstream_consumers", 1.0);
    assert_eq!(
        kamailio.initial_subscribes(alice),
        1,
        "still one subscription"
    );

    // The API behind it.
    let (status, body) = http_get(
        server.http_addr(),
        "/api/v1/provider/presentities/sip%3Aalice%40127.0.0.1",
    );
    assert!(status.contains(" 200 "), "{status}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["source"], "upstream");
    assert_eq!(report["upstream"]["status"], "live");
    assert_eq!(report["upstream"]["consumers"], 1);
    let (status, body) = http_get(server.http_addr(), "/api/v1/provider/presentities/sip%3A");
    assert!(status.contains(" 400 "), "{status}");
    assert!(body.contains("\"field\":\"uri\""), "{body}");
}

/// The attendant and PSTN sources set through the API (no upstream
/// needed): a SIP watcher sees a line in a call as busy, an attendant's
/// state as set, and unknown again after a DELETE; the writes need an
/// integration's token and the right source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendant_and_line_states_from_the_api_reach_watchers() {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(b"cc-secret")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let server = Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [store]\nmode = \"memory\"\n[sync]\ntokens = {{ cc = \"{hash}\" }}\n\
             [provider.attendant_service_source]\npatterns = ['^sip:attendant\\.']\n"
        ),
        1,
    );
    let http = server.http_addr();
    let auth = ["Authorization: Bearer cc-secret"];
    let line = "sip:+31612345678@127.0.0.1";
    let attendant = "sip:attendant.desk@127.0.0.1";
    let watcher = Ua::new(server.addr("udp", false), "queue").await;
    for target in [line, attendant] {
        let ok = watcher
            .send(watcher.subscribe(target, &Dialog::new(), 1, 600, ""))
            .await;
        assert_eq!(ok.status, 200, "{target}");
        let first = text(&watcher.next_notify().await.body);
        assert!(first.contains("<basic>closed</basic>"), "{first}");
    }
    let put = |path: &str, json: &str, headers: &[&str]| {
        let (status, body) = http_exchange(http, "PUT", path, headers, json.as_bytes());
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let line_path = "/api/v1/provider/lines/sip%3A%2B31612345678%40127.0.0.1";
    let attendant_path = "/api/v1/provider/attendants/sip%3Aattendant.desk%40127.0.0.1";

    // No token, a wrong source, a bad value: refused, nothing changes.
    assert_eq!(put(line_path, r#"{"call":"connected"}"#, &[]).0, 401);
    let (status, body) = put(
        attendant_path.replace("attendants", "lines").as_str(),
        r#"{"call":"connected"}"#,
        &auth,
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("served by the attendant source") && body.contains("\"field\":\"uri\""),
        "{body}"
    );
    let (status, body) = put(line_path, r#"{"call":"on-hook"}"#, &auth);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"field\":\"call\""), "{body}");

    // A line in a call: busy, so no second call is offered.
    let (status, body) = put(line_path, r#"{"call":"connected"}"#, &auth);
    assert_eq!(status, 200, "{body}");
    let busy = text(&watcher.next_notify().await.body);
    assert!(
        busy.contains("<basic>open</basic>") && busy.contains("busy") && busy.contains("In a call"),
        "{busy}"
    );
    server.wait_for_log(&[
        "presence change",
        "presentity=sip:+31612345678@127.0.0.1",
        "new=[Busy 6500, note \"In a call\", source pstn]",
    ]);
    put(line_path, r#"{"call":"idle"}"#, &auth);
    let idle = text(&watcher.next_notify().await.body);
    assert!(
        idle.contains("<basic>open</basic>") && !idle.contains("busy"),
        "{idle}"
    );

    // An attendant's own state.
    let (status, _) = put(
        attendant_path,
        r#"{"availability":15500,"activity":"Out to lunch"}"#,
        &auth,
    );
    assert_eq!(status, 200);
    let away = text(&watcher.next_notify().await.body);
    assert!(
        away.contains("away") && away.contains("Out to lunch"),
        "{away}"
    );
    let (status, _) = http_exchange(http, "DELETE", attendant_path, &auth, b"");
    assert_eq!(status, 200);
    let gone = text(&watcher.next_notify().await.body);
    assert!(gone.contains("<basic>closed</basic>"), "{gone}");

    // The OpenAPI document, served beside the routes with no token,
    // describes the writes used above with their bodies.
    let (status, body) = http_get(http, "/api/v1/provider/openapi.json");
    assert!(status.contains(" 200 "), "{status}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    for (path, schema) in [
        ("/provider/lines/{uri}", "Line"),
        ("/provider/attendants/{uri}", "Attendant"),
    ] {
        let body = &doc["paths"][path]["put"]["requestBody"]["content"]["application/json"];
        assert_eq!(
            body["schema"]["$ref"],
            format!("#/components/schemas/{schema}"),
            "{path}"
        );
    }
}

/// Attendant and line states set through the API are durable: after a
/// `kill -9` and a restart on the same data directory, the attendant's
/// state is still shown (to a new watcher, and again to the watcher
/// whose subscription the store restored), and a line state that was
/// deleted stays gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendant_states_survive_a_kill_and_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let sip_port = common::peers::free_port();
    let toml = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{sip_port}\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\ndata_dir = \"{}\"\n{}\
         [provider.attendant_service_source]\npatterns = ['^sip:attendant\\.']\n",
        data.path().display(),
        token_table("cc-secret")
    );
    let server = Presenced::with_config(&toml, 1);
    let auth = ["Authorization: Bearer cc-secret"];
    let attendant = "sip:attendant.desk@127.0.0.1";
    let line = "sip:+31612345678@127.0.0.1";
    let attendant_path = "/api/v1/provider/attendants/sip%3Aattendant.desk%40127.0.0.1";
    let line_path = "/api/v1/provider/lines/sip%3A%2B31612345678%40127.0.0.1";
    let watcher = Ua::new(server.addr("udp", false), "console").await;
    let ok = watcher
        .send(watcher.subscribe(attendant, &Dialog::new(), 1, 3600, ""))
        .await;
    assert_eq!(ok.status, 200);
    watcher.next_notify().await;
    let put = |path: &str, json: &str| {
        http_exchange(server.http_addr(), "PUT", path, &auth, json.as_bytes()).0
    };
    assert_eq!(
        put(
            attendant_path,
            r#"{"availability":15500,"activity":"Out to lunch"}"#
        ),
        200
    );
    let away = text(&watcher.next_notify().await.body);
    assert!(away.contains("Out to lunch"), "{away}");
    assert_eq!(put(line_path, r#"{"call":"connected"}"#), 200);
    let (status, _) = http_exchange(server.http_addr(), "DELETE", line_path, &auth, b"");
    assert_eq!(status, 200);

    // kill -9: no shutdown of any kind. The 200s above came after the
    // commits, so the states are on disk.
    let pid = server.pid();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    drop(server);

    let server = Presenced::with_config(&toml, 1);
    server.wait_for_log(&["attendant and PSTN states restored", "states=1"]);
    // The watcher the store kept is notified again, with the state.
    loop {
        let body = text(&watcher.next_notify().await.body);
        if body.contains("Out to lunch") {
            assert!(body.contains("away"), "{body}");
            break;
        }
    }
    // A new watcher is shown it at once; the deleted line state is gone.
    let fresh = Ua::new(server.addr("udp", false), "queue").await;
    for (target, expected) in [(attendant, "Out to lunch"), (line, "<basic>closed</basic>")] {
        let ok = fresh
            .send(fresh.subscribe(target, &Dialog::new(), 1, 600, ""))
            .await;
        assert_eq!(ok.status, 200, "{target}");
        let first = text(&fresh.next_notify().await.body);
        assert!(first.contains(expected), "{target}: {first}");
    }
}
