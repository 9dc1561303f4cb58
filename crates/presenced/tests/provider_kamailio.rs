//! The presence provider (issue 12) against a real upstream: Kamailio 5.6
//! with its presence modules (`tests/peers/kamailio/presence.cfg`), a
//! pjsua2 user publishing into Kamailio, and consumers subscribing to
//! presenced. What Kamailio received is read from its own log, where the
//! config writes one line per SUBSCRIBE (`SUBSCRIBE <ruri> from <from>
//! expires=<n> totag=<tag or <null>>`).
//!
//! Command lines (reproduce by hand the same way):
//!
//! ```text
//! python3 tests/peers/kamailio_presence.py start --port K --run-dir RUN --max-expires 20
//! python3 tests/peers/kamailio_presence.py stop --run-dir RUN --signal KILL
//! python3 tests/peers/pjsua_publisher.py --transport udp --server-port K \
//!     --local-port L --user alice --duration 60
//! presenced --config presenced.toml    # [provider] upstream = "udp:127.0.0.1:K"
//! ```

mod common;

use std::time::{Duration, Instant};

use common::kamailio::{
    assert_never_open, kamailio_for_publishing, kamailio_installed, next_change_without, presenced,
    publish, setup, subscribe, token_table, wait_metric, ApiConsumer, Kamailio,
};
use common::peers::{free_port, pjsua_publisher};
use common::ua::{text, Dialog, Ua};
use common::{Presenced, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_consumers_share_one_upstream_subscription_that_survives_a_kamailio_restart() {
    // Kamailio grants 20 s, so presenced refreshes within the test.
    let Some((run, kamailio, port)) = kamailio_for_publishing(20) else {
        return;
    };
    let server = presenced(port, &token_table("cc-secret"));
    let addr = server.addr("udp", false);
    let alice = "sip:alice@127.0.0.1";

    // 45 consumers over SIP, 5 over the API's event stream.
    let api: Vec<ApiConsumer> = (0..5)
        .map(|_| ApiConsumer::open(server.http_addr(), alice, "cc-secret"))
        .collect();
    for consumer in &api {
        let first = consumer.next();
        assert_eq!(first["availability"], serde_json::Value::Null, "{first}");
        assert_eq!(first["source"], "upstream", "{first}");
    }
    let mut consumers = Vec::new();
    for i in 0..45 {
        let ua = Ua::new(addr, &format!("consumer{i}")).await;
        let first = subscribe(&ua, alice).await;
        assert!(first.contains("<basic>closed</basic>"), "{first}");
        consumers.push(ua);
    }
    kamailio.wait_log("presenced's SUBSCRIBE for alice", WAIT, |k| {
        k.initial_subscribes(alice) >= 1
    });

    // alice publishes busy into Kamailio with pjsua2; every consumer sees it.
    let publisher = pjsua_publisher("udp", port, "alice");
    let ctx = || format!("{}\n{}", kamailio.log(), server.log_text());
    let ctx = &ctx as &dyn Fn() -> String;
    publish(&publisher, "busy In a meeting", ctx);
    for ua in &consumers {
        let notify = ua.next_notify().await;
        let body = text(&notify.body);
        assert!(
            body.contains("busy") && body.contains("In a meeting"),
            "{body}"
        );
    }
    for consumer in &api {
        loop {
            let event = consumer.next();
            if event["availability"] == 6500 {
                assert_eq!(event["status"], "live", "{event}");
                assert_eq!(event["note"], "In a meeting", "{event}");
                break;
            }
        }
    }
    assert_eq!(
        kamailio.initial_subscribes(alice),
        1,
        "one upstream SUBSCRIBE\n{}",
        kamailio.log()
    );
    // The change is logged once, with the previous and the new state.
    server.wait_for_log(&[
        "presence change",
        "presentity=sip:alice@127.0.0.1",
        "previous=[unknown, source upstream]",
        "new=[Busy 6500",
        "source upstream]",
    ]);
    wait_metric(
        &server,
        "presenced_upstream_subscriptions{status=\"live\"}",
        1.0,
    );
    wait_metric(&server, "presenced_upstream_consumers", 50.0);

    // Kamailio dies and comes back without its subscriptions: presenced's
    // next refresh gets 481 and subscribes anew through the throttle.
    // (Its log file is appended to: the count goes on from 1.)
    drop(publisher);
    kamailio.stop("KILL");
    let kamailio = Kamailio::start(run.path(), port, 20);
    kamailio.wait_log(
        "presenced's new SUBSCRIBE after the restart",
        Duration::from_secs(30),
        |k| k.initial_subscribes(alice) >= 2,
    );
    // And the consumers see the next change.
    let publisher = pjsua_publisher("udp", port, "alice");
    publish(&publisher, "away Back soon", ctx);
    for consumer in &api {
        while consumer.next()["availability"] != 15500 {}
    }
    for ua in &consumers {
        // (A closed one may come first: alice unknown while presenced
        // subscribed anew.)
        next_change_without(ua, &["away", "Back soon"], "busy").await;
    }
}

/// New upstream subscriptions start at the configured rate, measured from
/// Kamailio's side; a presentity Kamailio refuses is retried after the
/// delay, given up after the configured count, and never shown Available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_throttled_and_a_refused_uri_is_given_up() {
    let Some((_run, kamailio, server)) = setup(
        3600,
        "max_presence_subscriptions_per_second = 5\n\
         failed_presence_subscriptions_resubscribe_delay = 1\n\
         max_failed_presence_subscriptions_per_uri = 2\n",
    ) else {
        return;
    };
    let addr = server.addr("udp", false);

    // 20 new presentities at once.
    let consumer = Ua::new(addr, "wallboard").await;
    let users: Vec<String> = (0..20).map(|i| format!("sip:agent{i}@127.0.0.1")).collect();
    for user in &users {
        let sub = Dialog::new();
        let ok = consumer
            .send(consumer.subscribe(user, &sub, 1, 600, ""))
            .await;
        assert_eq!(
            ok.status, 200,
            "a consumer is accepted at once, pending upstream"
        );
    }
    // When each upstream SUBSCRIBE reached Kamailio, by Kamailio's clock
    // (each log line carries it), not by when this test read the log.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen: Vec<f64> = Vec::new();
    while seen.len() < users.len() {
        assert!(
            Instant::now() < deadline,
            "not all started\n{}",
            kamailio.log()
        );
        std::thread::sleep(Duration::from_millis(100));
        seen = users
            .iter()
            .flat_map(|u| kamailio.initial_subscribe_times(u))
            .collect();
    }
    seen.sort_by(f64::total_cmp);
    // 20 at 5 a second: four windows. Any 0.9 s holds at most 5.
    for (i, at) in seen.iter().enumerate() {
        let within = seen[i..].iter().take_while(|t| *t - at < 0.9).count();
        assert!(
            within <= 5,
            "{within} upstream SUBSCRIBEs within 0.9 s\n{}",
            kamailio.log()
        );
    }
    let spread = seen[seen.len() - 1] - seen[0];
    assert!(spread >= 2.9, "20 at 5/s took {spread} s");

    // Refused twice (1 s apart), then given up.
    let refused = "sip:refused@127.0.0.1";
    let watcher = Ua::new(addr, "console").await;
    let first = subscribe(&watcher, refused).await;
    assert!(first.contains("<basic>closed</basic>"), "{first}");
    kamailio.wait_log("two refused SUBSCRIBEs", Duration::from_secs(10), |k| {
        k.initial_subscribes(refused) >= 2
    });
    wait_metric(
        &server,
        "presenced_upstream_subscriptions{status=\"failed\"}",
        1.0,
    );
    server.wait_for_log(&[
        "upstream subscription given up",
        "presentity=sip:refused@127.0.0.1",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        kamailio.initial_subscribes(refused),
        2,
        "no third try\n{}",
        kamailio.log()
    );
    // Never Available: no NOTIFY says open.
    assert_never_open(&watcher).await;
}

/// An upstream that challenges: presenced answers Kamailio's digest
/// challenge (auth_db, qop=auth) with the configured credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenging_upstream_gets_digest_credentials() {
    if !kamailio_installed() {
        eprintln!("skipped: needs kamailio (scripts/install-test-peers)");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    // The subscriber table, with the provider's account, before the start
    // (kamailio_presence.py keeps a db it finds).
    let db = run.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    for table in std::fs::read_dir("/usr/share/kamailio/dbtext/kamailio").unwrap() {
        let table = table.unwrap().path();
        std::fs::copy(&table, db.join(table.file_name().unwrap())).unwrap();
    }
    let mut subscriber = std::fs::read_to_string(db.join("subscriber")).unwrap();
    // db_text wants every column; auth_db computes HA1 from the password
    // (calculate_ha1), the stored hashes are there for completeness.
    let md5 = sip::digest::Algorithm::Md5;
    let ha1 = sip::digest::ha1(md5, "secured", "127.0.0.1", "s3cret");
    let ha1b = sip::digest::ha1(md5, "secured@127.0.0.1", "127.0.0.1", "s3cret");
    subscriber.push_str(&format!("1:secured:127.0.0.1:s3cret:{ha1}:{ha1b}\n"));
    std::fs::write(db.join("subscriber"), subscriber).unwrap();
    let port = free_port();
    let kamailio = Kamailio::start(run.path(), port, 3600);

    let secret = run.path().join("upstream.pw");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let server = Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [store]\nmode = \"memory\"\n\
             [provider]\nupstream = \"udp:127.0.0.1:{port}\"\nfrom = \"sip:secured@127.0.0.1\"\n\
             username = \"secured\"\npassword_file = \"{}\"\n",
            secret.display()
        ),
        1,
    );
    let consumer = Ua::new(server.addr("udp", false), "console").await;
    subscribe(&consumer, "sip:alice@127.0.0.1").await;
    kamailio.wait_log("a challenge, then the authorized SUBSCRIBE", WAIT, |k| {
        let log = k.log();
        log.contains("CHALLENGE SUBSCRIBE sip:alice@127.0.0.1 from sip:secured@127.0.0.1")
            && log.contains("SUBSCRIBE sip:alice@127.0.0.1 from sip:secured@127.0.0.1 expires=3600 totag=<null>")
    });
    wait_metric(
        &server,
        "presenced_upstream_subscriptions{status=\"live\"}",
        1.0,
    );
    assert!(
        !server.log_text().contains("s3cret"),
        "the password is never logged"
    );
}
