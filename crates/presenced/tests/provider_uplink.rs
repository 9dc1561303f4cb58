//! The presence provider's way to the upstream (issue 12): Kamailio 5.6 as
//! the upstream over TCP (`[provider] upstream = "tcp:localhost:K"`, a
//! DNS name) and, with `kamailio-tls-modules`, over TLS with a
//! certificate made by the test. presenced has no TCP or TLS listener
//! here: Kamailio's NOTIFYs can only reach it over the connection
//! presenced opened (its Contact names that connection's address).
//! What Kamailio received is read from its log, where the config writes
//! one line per SUBSCRIBE with the transport (`proto=tcp`).
//!
//! Command lines (reproduce by hand the same way):
//!
//! ```text
//! python3 tests/peers/kamailio_presence.py start --port K --run-dir RUN --max-expires 20 \
//!     [--tls-port T --tls-cert cert.pem --tls-key key.pem]
//! python3 tests/peers/kamailio_presence.py stop --run-dir RUN --signal KILL
//! python3 tests/peers/pjsua_publisher.py --transport udp --server-port K \
//!     --local-port L --user alice --duration 60
//! presenced --config presenced.toml    # [provider] upstream = "tcp:localhost:K"
//! ```

mod common;

use std::time::Duration;

use common::kamailio::{
    assert_never_open, kamailio_for_publishing, kamailio_tls_installed, metric,
    next_change_without, presenced_with_upstream, provider_report, publish, subscribe, token_table,
    wait_metric, ApiConsumer, Kamailio,
};
use common::peers::{free_port, pjsua_publisher, skip_without_pjsua};
use common::tls::Ca;
use common::ua::{text, Ua};
use common::{Presenced, WAIT};

/// Initial SUBSCRIBEs for `presentity` that reached Kamailio over `proto`.
fn initial_over(kamailio: &Kamailio, presentity: &str, proto: &str) -> usize {
    let needle = format!("SUBSCRIBE {presentity} from sip:presenced@127.0.0.1");
    kamailio
        .log()
        .lines()
        .filter(|l| l.contains(&needle) && l.contains("totag=<null>"))
        .filter(|l| l.contains(&format!("proto={proto}")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_over_tcp_serves_consumers_and_the_connection_comes_back_after_a_restart() {
    // Kamailio grants 20 s, so presenced refreshes over the connection
    // within the test.
    let Some((run, kamailio, port)) = kamailio_for_publishing(20) else {
        return;
    };
    let server = presenced_with_upstream(
        &format!("tcp:localhost:{port}"),
        "",
        &token_table("cc-secret"),
    );
    let addr = server.addr("udp", false);
    let alice = "sip:alice@127.0.0.1";

    let api = ApiConsumer::open(server.http_addr(), alice, "cc-secret");
    assert_eq!(api.next()["source"], "upstream");
    let mut consumers = Vec::new();
    for i in 0..3 {
        let ua = Ua::new(addr, &format!("consumer{i}")).await;
        let first = subscribe(&ua, alice).await;
        assert!(first.contains("<basic>closed</basic>"), "{first}");
        consumers.push(ua);
    }
    kamailio.wait_log("presenced's SUBSCRIBE for alice over TCP", WAIT, |k| {
        initial_over(k, alice, "tcp") >= 1
    });
    wait_metric(&server, "presenced_upstream_connected", 1.0);
    server.wait_for_log(&["connected to the upstream", "upstream=tcp:localhost:"]);

    // alice publishes into Kamailio; Kamailio's NOTIFY comes back over
    // presenced's connection and reaches every consumer.
    let publisher = pjsua_publisher("udp", port, "alice");
    let ctx = || format!("{}\n{}", kamailio.log(), server.log_text());
    let ctx = &ctx as &dyn Fn() -> String;
    publish(&publisher, "busy In a meeting", ctx);
    for ua in &consumers {
        let body = text(&ua.next_notify().await.body);
        assert!(
            body.contains("busy") && body.contains("In a meeting"),
            "{body}"
        );
    }
    while api.next()["availability"] != 6500 {}
    wait_metric(
        &server,
        "presenced_upstream_subscriptions{status=\"live\"}",
        1.0,
    );
    // A refresh (Kamailio grants 20 s; in the dialog, to Kamailio's
    // Contact) goes over the same connection, and Kamailio's NOTIFYs are
    // sent over it (to the Contact naming its address).
    kamailio.wait_log("a refresh over TCP", Duration::from_secs(30), |k| {
        k.log().lines().any(|l| {
            l.contains("from sip:presenced@127.0.0.1")
                && !l.contains("totag=<null>")
                && l.contains("proto=tcp")
        })
    });
    assert!(
        kamailio
            .log()
            .lines()
            .any(|l| l.contains("send_notify_request(): NOTIFY")
                && l.contains(";transport=tcp on behalf of sip:alice@127.0.0.1")),
        "{}",
        kamailio.log()
    );
    assert_eq!(
        initial_over(&kamailio, alice, "tcp"),
        1,
        "one upstream SUBSCRIBE\n{}",
        kamailio.log()
    );
    assert_eq!(initial_over(&kamailio, alice, "udp"), 0);

    // Kamailio dies: the connection is reset, presenced says so and
    // reconnects (backing off) until Kamailio is back, then subscribes
    // anew through the throttle.
    drop(publisher);
    kamailio.stop("KILL");
    wait_metric(&server, "presenced_upstream_connected", 0.0);
    let failures = metric(&server, "presenced_upstream_connect_failures_total").unwrap_or(0.0);
    assert!(failures >= 1.0, "the lost connection is counted");
    std::thread::sleep(Duration::from_secs(1));
    let kamailio = Kamailio::start(run.path(), port, 20);
    kamailio.wait_log(
        "presenced's new SUBSCRIBE over the new connection",
        Duration::from_secs(30),
        |k| initial_over(k, alice, "tcp") >= 2,
    );
    wait_metric(&server, "presenced_upstream_connected", 1.0);
    let publisher = pjsua_publisher("udp", port, "alice");
    publish(&publisher, "away Back soon", ctx);
    while api.next()["availability"] != 15500 {}
    for ua in &consumers {
        next_change_without(ua, &["away", "Back soon"], "busy").await;
    }
    server.wait_for_log(&["upstream connection lost; its subscriptions wait for the next one"]);
}

/// A CA, Kamailio's certificate from it (for 127.0.0.1, an IP
/// subjectAltName) in `dir`, and Kamailio started with a TLS listener
/// (requiring client certificates from the same CA with `mutual`).
/// Returns Kamailio, its UDP port and its TLS port.
fn kamailio_tls(dir: &std::path::Path, ca: &Ca, mutual: bool) -> (Kamailio, u16, u16) {
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    std::fs::write(dir.join("kamailio.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("kamailio.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    let (port, tls_port) = (free_port(), free_port());
    let ca_file = dir.join("ca.pem");
    let kamailio = Kamailio::start_tls(
        dir,
        port,
        tls_port,
        (&dir.join("kamailio.pem"), &dir.join("kamailio.key")),
        mutual.then_some(ca_file.as_path()),
    );
    (kamailio, port, tls_port)
}

/// A presenced whose upstream is `tls:127.0.0.1:tls_port`, verified
/// against the PEM CA `ca`, with `sip` in `[sip]` and `extra` in
/// `[provider]`.
fn over_tls(tls_port: u16, ca: &std::path::Path, sip: &str, extra: &str) -> Presenced {
    presenced_with_upstream(
        &format!("tls:127.0.0.1:{tls_port}"),
        sip,
        &format!("tls_ca_file = \"{}\"\n{extra}", ca.display()),
    )
}

/// A consumer of `presentity` at `server`, shown it closed (unknown)
/// first.
async fn watching(server: &Presenced, presentity: &str) -> Ua {
    let consumer = Ua::new(server.addr("udp", false), "console").await;
    let first = subscribe(&consumer, presentity).await;
    assert!(first.contains("<basic>closed</basic>"), "{first}");
    consumer
}

/// Kamailio over TLS: presenced verifies its certificate against the
/// test's CA (`tls_ca_file`) for the configured host, subscribes over the
/// TLS connection, and Kamailio's NOTIFYs come back over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_over_tls_with_a_verified_certificate() {
    if !kamailio_tls_installed() || skip_without_pjsua() {
        eprintln!("skipped: needs kamailio-tls-modules and pjsua2 (scripts/install-test-peers)");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let ca = Ca::new("presenced test upstream CA");
    let (kamailio, port, tls_port) = kamailio_tls(run.path(), &ca, false);
    // A short idle timeout: the connection lives on keep-alives (a
    // CRLFCRLF ping every 2 s, answered by Kamailio) between messages.
    let server = over_tls(
        tls_port,
        &run.path().join("ca.pem"),
        "idle_timeout_secs = 6\n",
        "",
    );
    let alice = "sip:alice@127.0.0.1";
    let consumer = watching(&server, alice).await;
    kamailio.wait_log("presenced's SUBSCRIBE over TLS", WAIT, |k| {
        initial_over(k, alice, "tls") >= 1
    });
    wait_metric(&server, "presenced_upstream_connected", 1.0);
    let publisher = pjsua_publisher("udp", port, "alice");
    let ctx = || format!("{}\n{}", kamailio.log(), server.log_text());
    let ctx = &ctx as &dyn Fn() -> String;
    publish(&publisher, "busy On the phone", ctx);
    loop {
        let body = text(&consumer.next_notify().await.body);
        if body.contains("busy") && body.contains("On the phone") {
            break;
        }
    }
    assert!(
        kamailio
            .log()
            .lines()
            .any(|l| l.contains("send_notify_request(): NOTIFY")
                && l.contains("via sips:127.0.0.1:")
                && l.contains(" on behalf of sip:alice@127.0.0.1")),
        "Kamailio's NOTIFYs go over presenced's TLS connection\n{}",
        kamailio.log()
    );
    assert_eq!(initial_over(&kamailio, alice, "tls"), 1);
    // Quiet for longer than the idle timeout: still the one connection.
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        server
            .log_text()
            .matches("connected to the upstream")
            .count(),
        1,
        "{}",
        server.log_text()
    );
    assert_eq!(metric(&server, "presenced_upstream_connected"), Some(1.0));
}

/// An upstream that requires a client certificate (Kamailio with
/// `require_certificate`): presenced presents `[sip] tls_cert`/`tls_key`
/// with `tls_client_certificate = true`; without it the handshake fails
/// and nothing is subscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutual_tls_upstream_gets_our_certificate() {
    if !kamailio_tls_installed() {
        eprintln!("skipped: needs kamailio-tls-modules (scripts/install-test-peers)");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let ca = Ca::new("presenced test CA");
    let (kamailio, _, tls_port) = kamailio_tls(run.path(), &ca, true);
    let (ours, our_key) = ca.leaf(&["presenced.test"]);
    std::fs::write(run.path().join("presenced.pem"), ours.pem()).unwrap();
    std::fs::write(run.path().join("presenced.key"), our_key.serialize_pem()).unwrap();
    let sip = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        run.path().join("presenced.pem").display(),
        run.path().join("presenced.key").display()
    );
    let ca_file = run.path().join("ca.pem");
    let alice = "sip:alice@127.0.0.1";

    let without = over_tls(tls_port, &ca_file, &sip, "");
    let _consumer = watching(&without, alice).await;
    // (TLS 1.3: the client's handshake is done before the server checks
    // the certificate, so the refusal ends the connection just after.)
    without.wait_for_log(&[
        "upstream not connected; trying again",
        "received fatal alert: CertificateRequired",
    ]);
    drop(without);
    assert_eq!(initial_over(&kamailio, alice, "tls"), 0);

    let with = over_tls(tls_port, &ca_file, &sip, "tls_client_certificate = true\n");
    let _consumer = watching(&with, alice).await;
    kamailio.wait_log("the SUBSCRIBE over mutual TLS", WAIT, |k| {
        initial_over(k, alice, "tls") == 1
    });
    wait_metric(
        &with,
        "presenced_upstream_subscriptions{status=\"live\"}",
        1.0,
    );
}

/// A certificate that does not chain to `tls_ca_file` fails the
/// connection visibly: the log line with the reason, the metrics, and the
/// API's view of a watched presentity; nothing reaches Kamailio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_the_tls_upstream_visibly() {
    if !kamailio_tls_installed() {
        eprintln!("skipped: needs kamailio-tls-modules (scripts/install-test-peers)");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let (kamailio, _, tls_port) = kamailio_tls(run.path(), &Ca::new("the upstream's CA"), false);
    let other = Ca::new("some other CA");
    std::fs::write(run.path().join("other-ca.pem"), other.cert.pem()).unwrap();
    let server = over_tls(tls_port, &run.path().join("other-ca.pem"), "", "");
    let alice = "sip:alice@127.0.0.1";
    let consumer = watching(&server, alice).await;
    server.wait_for_log(&[
        "upstream not connected; trying again",
        "TLS handshake failed",
        "UnknownIssuer",
    ]);
    wait_metric(&server, "presenced_upstream_connected", 0.0);
    assert!(metric(&server, "presenced_upstream_connect_failures_total").unwrap_or(0.0) >= 1.0);
    let report = provider_report(&server, "sip%3Aalice%40127.0.0.1");
    assert_eq!(report["upstream"]["status"], "queued", "{report}");
    let connection = report["upstream"]["connection"]
        .as_str()
        .unwrap_or_default();
    assert!(
        connection.starts_with("down: ") && connection.contains("UnknownIssuer"),
        "{report}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        initial_over(&kamailio, alice, "tls"),
        0,
        "nothing sent over an unverified connection\n{}",
        kamailio.log()
    );
    assert_never_open(&consumer).await;
}

/// A udp: upstream whose name does not resolve does not turn the
/// provider off: it says so (log, metric, API), keeps consumers pending
/// with presence unknown, and keeps resolving with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_name_that_does_not_resolve_is_retried_and_shown() {
    // `.invalid` never resolves (RFC 2606).
    let server = presenced_with_upstream("udp:upstream.invalid:5060", "", "");
    let consumer = watching(&server, "sip:alice@127.0.0.1").await;
    server.wait_for_log(&[
        "upstream not connected; trying again",
        "upstream=udp:upstream.invalid:5060",
        "the name does not resolve",
    ]);
    let report = provider_report(&server, "sip%3Aalice%40127.0.0.1");
    assert_eq!(report["upstream"]["status"], "queued", "{report}");
    let connection = report["upstream"]["connection"]
        .as_str()
        .unwrap_or_default();
    assert!(
        connection.starts_with("down: the name does not resolve"),
        "{report}"
    );
    // Tried again (0.25 s, then 0.5 s, ...), each time counted.
    let deadline = std::time::Instant::now() + WAIT;
    while metric(&server, "presenced_upstream_connect_failures_total").unwrap_or(0.0) < 3.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_never_open(&consumer).await;
}
