//! The presence provider's sources per URI (seed 004) with Kamailio as
//! the upstream: attendant-pattern and E.164 presentities are not
//! subscribed upstream, the fallback is, and `presenced explain` and the
//! API tell which source serves a URI, why, and the live subscription
//! state.

mod common;

use std::process::Command;
use std::time::Duration;

use common::kamailio::{setup, wait_metric};
use common::ua::{Dialog, Ua};
use common::{http_get, Presenced, WAIT};

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
        "[provider.attendant_service_source]\npatterns = ['^sip:attendant\\.']\n",
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
