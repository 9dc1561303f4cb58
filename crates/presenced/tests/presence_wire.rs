//! The presence server on the wire: the real binary, raw SIP over UDP,
//! every exchange checked header by header. The interop tests
//! (`interop_presence.rs`) do the same with real clients; these pin down
//! what the clients do not exercise: error statuses, ordering under
//! concurrent publishers, and a SIGKILL restart.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::ua::{pidf, text, unique, value, Dialog, Ua};
use common::{Presenced, WAIT};
use sip::HeaderName;

fn server_udp(server: &Presenced) -> SocketAddr {
    server.addr("udp", false)
}

fn start() -> Presenced {
    Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"off\"\n\
         [presence]\nsubscribe_min_expires = 5\npublish_min_expires = 5\n",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_publish_notify_unsubscribe() {
    let server = start();
    let addr = server_udp(&server);
    let alice = Ua::new(addr, "alice").await;
    let bob = Ua::new(addr, "bob").await;

    // SUBSCRIBE: 200 with Expires, Contact and a tag; an immediate NOTIFY
    // with the (unknown, closed) state.
    let mut sub = Dialog::new();
    let ok = bob.send(bob.subscribe(&alice.aor(), &sub, 1, 60, "")).await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    assert_eq!(value(&ok.headers, HeaderName::Expires), "60");
    assert!(value(&ok.headers, HeaderName::Contact).contains("127.0.0.1"));
    sub.established(&ok);
    let first = bob.next_notify().await;
    assert_eq!(value(&first.headers, HeaderName::Event), "presence");
    assert!(value(&first.headers, HeaderName::SubscriptionState).starts_with("active;expires="));
    assert!(text(&first.body).contains("<basic>closed</basic>"));
    assert_eq!(
        value(&first.headers, HeaderName::ContentType),
        "application/pidf+xml"
    );

    // PUBLISH busy: 200 with SIP-ETag; Bob is told.
    let mut publ = Dialog::new();
    let body = pidf(&alice.aor(), "pc", "open", Some("busy"), "In a meeting");
    let ok = alice
        .send(alice.publish(&publ, 1, 60, None, Some(&body)))
        .await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    let etag = value(&ok.headers, HeaderName::SipEtag);
    assert!(!etag.is_empty());
    let busy = bob.next_notify().await;
    let busy_body = text(&busy.body);
    assert!(
        busy_body.contains("<basic>open</basic>") && busy_body.contains("busy"),
        "{busy_body}"
    );
    assert!(busy_body.contains("In a meeting"));

    // Refresh without a body: a new entity-tag, no change to watch.
    publ.call_id = format!("{}-r", publ.call_id);
    let ok = alice
        .send(alice.publish(&publ, 2, 60, Some(&etag), None))
        .await;
    assert_eq!(ok.status, 200);
    let etag2 = value(&ok.headers, HeaderName::SipEtag);
    assert_ne!(
        etag, etag2,
        "RFC 3903 §4.1: a new entity-tag on every success"
    );
    // The old one is gone: 412.
    let stale = alice
        .send(alice.publish(&publ, 3, 60, Some(&etag), None))
        .await;
    assert_eq!(stale.status, 412);
    // Too short: 423 with Min-Expires.
    let short = alice
        .send(alice.publish(&publ, 4, 1, Some(&etag2), None))
        .await;
    assert_eq!(short.status, 423);
    assert_eq!(value(&short.headers, HeaderName::MinExpires), "5");
    // Unsupported body: 415 with Accept.
    let mut xpidf = alice.publish(&publ, 5, 60, None, Some("<presence/>"));
    xpidf = xpidf.replace("application/pidf+xml", "application/xpidf+xml");
    let unsupported = alice.send(xpidf).await;
    assert_eq!(unsupported.status, 415);
    assert!(value(&unsupported.headers, HeaderName::Accept).contains("application/pidf+xml"));
    // Unknown event package: 489 with Allow-Events.
    let winfo = bob
        .send(
            bob.subscribe(&alice.aor(), &Dialog::new(), 1, 60, "")
                .replace("Event: presence", "Event: dialog"),
        )
        .await;
    assert_eq!(winfo.status, 489);
    assert!(value(&winfo.headers, HeaderName::AllowEvents).contains("presence"));
    // An in-dialog SUBSCRIBE for a dialog that does not exist: 481.
    let mut ghost = Dialog::new();
    ghost.remote_tag = Some("nope".into());
    let ghost = bob
        .send(bob.subscribe(&alice.aor(), &ghost, 2, 60, ""))
        .await;
    assert_eq!(ghost.status, 481);

    // Remove the publication: Bob sees Alice closed.
    let gone = alice
        .send(alice.publish(&publ, 6, 0, Some(&etag2), None))
        .await;
    assert_eq!(gone.status, 200);
    let closed = bob.next_notify().await;
    assert!(
        text(&closed.body).contains("<basic>closed</basic>"),
        "{}",
        text(&closed.body)
    );

    // Unsubscribe: 200, then the final NOTIFY.
    let ok = bob.send(bob.subscribe(&alice.aor(), &sub, 2, 0, "")).await;
    assert_eq!(ok.status, 200);
    let last = bob.next_notify().await;
    assert_eq!(
        value(&last.headers, HeaderName::SubscriptionState),
        "terminated;reason=timeout"
    );
    // And the dialog is gone.
    let after = bob.send(bob.subscribe(&alice.aor(), &sub, 3, 60, "")).await;
    assert_eq!(after.status, 481);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_short_subscription_gets_423() {
    let server = start();
    let bob = Ua::new(server_udp(&server), "bob").await;
    let resp = bob
        .send(bob.subscribe("sip:alice@127.0.0.1", &Dialog::new(), 1, 2, ""))
        .await;
    assert_eq!(resp.status, 423);
    assert_eq!(value(&resp.headers, HeaderName::MinExpires), "5");
}

/// Several publishers change one presentity at once while several
/// watchers watch it: every watcher's last NOTIFY must be the final state
/// (no reordering, no stale NOTIFY last: Kamailio #3192, OpenSIPS #2249).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_leave_every_watcher_with_the_final_state() {
    const PUBLISHERS: usize = 4;
    const CHANGES: usize = 25;
    const WATCHERS: usize = 3;
    let server = start();
    let addr = server_udp(&server);
    let target = "sip:carol@127.0.0.1";

    let mut watchers = Vec::new();
    for i in 0..WATCHERS {
        let w = Ua::new(addr, &format!("w{i}")).await;
        let mut d = Dialog::new();
        let ok = w.send(w.subscribe(target, &d, 1, 120, "")).await;
        assert_eq!(ok.status, 200);
        d.established(&ok);
        w.next_notify().await;
        watchers.push(w);
    }

    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        tasks.push(tokio::spawn(async move {
            let ua = Ua::new(addr, "carol").await;
            let d = Dialog::new();
            let mut etag: Option<String> = None;
            let activities = ["busy", "away", "on-the-phone", "meal"];
            for n in 0..CHANGES {
                let body = pidf(
                    target,
                    &format!("device{p}"),
                    if n % 2 == 0 { "open" } else { "closed" },
                    Some(activities[(n + p) % activities.len()]),
                    &format!("publisher {p} change {n}"),
                );
                let resp = ua
                    .send(ua.publish(&d, n as u32 + 1, 120, etag.as_deref(), Some(&body)))
                    .await;
                assert_eq!(resp.status, 200, "{}", text(&resp.reason));
                etag = Some(value(&resp.headers, HeaderName::SipEtag));
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher");
    }

    // The final state, fetched by a new watcher (Expires: 0).
    let fetcher = Ua::new(addr, "fetcher").await;
    let ok = fetcher
        .send(fetcher.subscribe(target, &Dialog::new(), 1, 0, ""))
        .await;
    assert_eq!(ok.status, 200);
    let fetched = fetcher.next_notify().await;
    let final_state = text(&fetched.body);
    for p in 0..PUBLISHERS {
        assert!(
            final_state.contains(&format!("publisher {p} change {}", CHANGES - 1))
                || final_state.contains(&format!("device{p}")),
            "final state lacks publisher {p}: {final_state}"
        );
    }

    let mut counts = HashMap::new();
    for (i, w) in watchers.iter().enumerate() {
        let got = w.drain_notifies(Duration::from_millis(700)).await;
        assert!(!got.is_empty(), "watcher {i} got no NOTIFY");
        let mut last_cseq = 0;
        for n in &got {
            let cseq: u32 = value(&n.headers, HeaderName::CSeq)
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("CSeq");
            assert!(cseq > last_cseq, "NOTIFYs out of order for watcher {i}");
            last_cseq = cseq;
        }
        let last = got.last().map(|n| text(&n.body)).unwrap_or_default();
        assert_eq!(
            last, final_state,
            "watcher {i}'s last NOTIFY is not the final state"
        );
        counts.insert(i, got.len());
    }
    eprintln!("NOTIFYs per watcher after the initial one: {counts:?}");
}

/// A subscription and a publication acknowledged with 200 survive SIGKILL:
/// the restarted server notifies the watcher of the current state, and the
/// watcher's refresh in the old dialog is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n[http]\nlisten = \"off\"\n\
         [store]\ndata_dir = \"{}\"\n\
         [presence]\nsubscribe_min_expires = 5\npublish_min_expires = 5\n",
        dir.path().join("data").display()
    );
    let server = Presenced::with_config(&config, 1);
    let addr = server_udp(&server);
    let alice = Ua::new(addr, "alice").await;
    let bob = Ua::new(addr, "bob").await;

    let mut sub = Dialog::new();
    let ok = bob
        .send(bob.subscribe(&alice.aor(), &sub, 1, 300, ""))
        .await;
    assert_eq!(ok.status, 200);
    sub.established(&ok);
    let initial = bob.next_notify().await;
    let before_cseq = value(&initial.headers, HeaderName::CSeq);

    let body = pidf(&alice.aor(), "pc", "open", Some("busy"), "Back at 3");
    let ok = alice
        .send(alice.publish(&Dialog::new(), 1, 300, None, Some(&body)))
        .await;
    assert_eq!(ok.status, 200);
    let etag = value(&ok.headers, HeaderName::SipEtag);
    let busy = bob.next_notify().await;
    assert!(text(&busy.body).contains("Back at 3"));

    // SIGKILL: no chance to flush anything.
    drop(server);
    let restarted = Presenced::with_config(&config, 1);
    assert_eq!(server_udp(&restarted), addr);

    // The restarted server tells Bob the current state, in order.
    let after = bob.next_notify().await;
    assert!(
        text(&after.body).contains("Back at 3"),
        "{}",
        text(&after.body)
    );
    assert!(value(&after.headers, HeaderName::SubscriptionState).starts_with("active"));
    let cseq = |s: &str| {
        s.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    assert!(cseq(&value(&after.headers, HeaderName::CSeq)) > cseq(&before_cseq));

    // Bob's refresh in the same dialog works (no 481), and so does
    // Alice's refresh of her publication.
    let ok = bob
        .send(bob.subscribe(&alice.aor(), &sub, 2, 300, ""))
        .await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    let ok = alice
        .send(alice.publish(&Dialog::new(), 1, 300, Some(&etag), None))
        .await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    drop(restarted);
}

/// The gauges on /metrics follow the engine without traffic: a server
/// restarted after SIGKILL reports the publications it restored before any
/// request arrives, and reports their expiry when no request comes at
/// all (they were refreshed only when the loop woke for traffic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_are_fresh_without_traffic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\ndata_dir = \"{}\"\n\
         [presence]\npublish_min_expires = 5\n",
        dir.path().join("data").display()
    );
    let server = Presenced::with_config(&config, 1);
    let alice = Ua::new(server_udp(&server), "alice").await;
    let bob = Ua::new(server_udp(&server), "bob").await;
    for ua in [&alice, &bob] {
        let body = pidf(&ua.aor(), "pc", "open", None, "here");
        let ok = ua
            .send(ua.publish(&Dialog::new(), 1, 6, None, Some(&body)))
            .await;
        assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    }
    drop(server); // SIGKILL

    let restarted = Presenced::with_config(&config, 1);
    let http = restarted.http_addr();
    let gauge = |name: &str| -> Option<f64> {
        let (_, body) = common::http_get(http, "/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    // No SIP message reaches the restarted server in this test.
    assert_eq!(gauge("presenced_publications"), Some(2.0));
    assert_eq!(gauge("presenced_presentities"), Some(2.0));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while gauge("presenced_publications") != Some(0.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the gauge never showed the expiry: {:?}",
            gauge("presenced_publications")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(restarted);
}

/// A publisher whose TCP connection drops does not stay online until its
/// publication expires (Kamailio #864): the publication ends
/// `flow_grace_secs` after the close, and watchers see the presentity
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_ends_with_its_tcp_connection() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n[http]\nlisten = \"off\"\n\
         [store]\nmode = \"memory\"\n\
         [presence]\npublish_min_expires = 5\nflow_grace_secs = 1\n",
        2,
    );
    let bob = Ua::new(server_udp(&server), "bob").await;
    let target = "sip:dave@127.0.0.1";
    let ok = bob
        .send(bob.subscribe(target, &Dialog::new(), 1, 120, ""))
        .await;
    assert_eq!(ok.status, 200);
    bob.next_notify().await;

    let mut tcp = tokio::net::TcpStream::connect(server.addr("tcp", false))
        .await
        .expect("connect");
    let port = tcp.local_addr().expect("local").port();
    let body = pidf(target, "desk", "open", Some("busy"), "on TCP");
    let publish = format!(
        "PUBLISH {target} SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-tcp{n}\r\n\
         Max-Forwards: 70\r\nFrom: <{target}>;tag=d{n}\r\nTo: <{target}>\r\n\
         Call-ID: tcp{n}@wire-test\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 3600\r\n\
         Content-Type: application/pidf+xml\r\nContent-Length: {len}\r\n\r\n{body}",
        n = unique(),
        len = body.len()
    );
    common::send(&mut tcp, publish.as_bytes()).await;
    let ok = common::StreamReader::default().response(&mut tcp).await;
    assert_eq!(ok.status, 200);
    let online = bob.next_notify().await;
    assert!(text(&online.body).contains("on TCP"));

    drop(tcp);
    // An hour of Expires left, but the connection is gone: closed within
    // the grace period (1 s), well inside WAIT.
    let closed = bob.next_notify().await;
    assert!(
        text(&closed.body).contains("<basic>closed</basic>"),
        "{}",
        text(&closed.body)
    );
}

/// The allow-list policy: a listed watcher is served, an unlisted one is
/// held `pending` (200, NOTIFY without a body) until the operator approves
/// it over HTTP, which activates it with the state; with `unlisted =
/// "reject"` the same watcher gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_watcher_is_approved_over_http() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nmode = \"memory\"\n\
         [presence.authorization]\npolicy = \"allow_list\"\nallow = [\"sip:bob@127.0.0.1\"]\n\
         unlisted = \"pending\"\n",
        1,
    );
    let http: SocketAddr = server
        .wait_for_log(&["http listening"])
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("http address in the log");
    let addr = server_udp(&server);
    let target = "sip:erin@127.0.0.1";

    let bob = Ua::new(addr, "bob").await;
    let ok = bob
        .send(bob.subscribe(target, &Dialog::new(), 1, 60, ""))
        .await;
    assert_eq!(ok.status, 200);
    let n = bob.next_notify().await;
    assert!(value(&n.headers, HeaderName::SubscriptionState).starts_with("active"));

    let mallory = Ua::new(addr, "mallory").await;
    let ok = mallory
        .send(mallory.subscribe(target, &Dialog::new(), 1, 60, ""))
        .await;
    assert_eq!(ok.status, 200);
    let pending = mallory.next_notify().await;
    assert!(value(&pending.headers, HeaderName::SubscriptionState).starts_with("pending"));
    assert!(pending.body.is_empty(), "a pending watcher learns nothing");

    // Bad input to the API: 400 naming the field.
    let (status, body) = post(
        http,
        "/api/v1/authorizations",
        r#"{"presentity":"erin","watcher":"sip:mallory@127.0.0.1","allow":true}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("presentity"), "{body}");

    let (status, body) = post(
        http,
        "/api/v1/authorizations",
        r#"{"presentity":"sip:erin@127.0.0.1","watcher":"sip:mallory@127.0.0.1","allow":true}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let active = mallory.next_notify().await;
    assert!(value(&active.headers, HeaderName::SubscriptionState).starts_with("active"));
    assert!(text(&active.body).contains("<basic>closed</basic>"));

    let reject = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"off\"\n[store]\nmode = \"memory\"\n\
         [presence.authorization]\npolicy = \"allow_list\"\nallow = [\"@example.com\"]\n",
        1,
    );
    let mallory = Ua::new(server_udp(&reject), "mallory").await;
    let denied = mallory
        .send(mallory.subscribe(target, &Dialog::new(), 1, 60, ""))
        .await;
    assert_eq!(denied.status, 403);
}

/// A minimal HTTP/1.1 POST of a JSON body: (status, body).
async fn post(addr: SocketAddr, path: &str, json: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("answer in time")
        .expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a full response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

/// A memory-only server that stops gracefully cannot keep its
/// subscriptions, so it tells every watcher to subscribe again at once
/// (`terminated;reason=deactivated`) instead of leaving them to fail at
/// their next refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_server_deactivates_watchers_on_shutdown() {
    let mut server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n",
        1,
    );
    let bob = Ua::new(server_udp(&server), "bob").await;
    let ok = bob
        .send(bob.subscribe("sip:frank@127.0.0.1", &Dialog::new(), 1, 600, ""))
        .await;
    assert_eq!(ok.status, 200);
    bob.next_notify().await;
    let status = server.terminate();
    assert!(status.success(), "{status}");
    let last = bob.next_notify().await;
    assert_eq!(
        value(&last.headers, HeaderName::SubscriptionState),
        "terminated;reason=deactivated"
    );
}

/// A SUBSCRIBE forked by a proxy reaches us twice: same Call-ID and From
/// tag, different branches. Each copy is its own transaction and creates
/// its own dialog with its own To tag (RFC 6665 §4.1.2.4); both get their
/// NOTIFYs, and each can be ended alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forked_subscribes_make_separate_dialogs() {
    let server = start();
    let bob = Ua::new(server_udp(&server), "bob").await;
    let target = "sip:gina@127.0.0.1";
    let shared = Dialog::new();
    let first = bob.send(bob.subscribe(target, &shared, 1, 60, "")).await;
    let second = bob.send(bob.subscribe(target, &shared, 1, 60, "")).await;
    assert_eq!((first.status, second.status), (200, 200));
    let (mut a, mut b) = (shared.clone(), shared.clone());
    a.established(&first);
    b.established(&second);
    assert_ne!(a.remote_tag, b.remote_tag, "one dialog per fork");
    let notifies = [bob.next_notify().await, bob.next_notify().await];
    let mut to_tags: Vec<String> = notifies
        .iter()
        .map(|n| {
            sip::typed::NameAddr::parse(n.headers.value(HeaderName::From).expect("From"))
                .ok()
                .and_then(|f| f.tag())
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default()
        })
        .collect();
    to_tags.sort();
    let mut expected = vec![
        a.remote_tag.clone().unwrap_or_default(),
        b.remote_tag.clone().unwrap_or_default(),
    ];
    expected.sort();
    assert_eq!(to_tags, expected);
    // Ending one leaves the other.
    let ok = bob.send(bob.subscribe(target, &a, 2, 0, "")).await;
    assert_eq!(ok.status, 200);
    bob.next_notify().await;
    let ok = bob.send(bob.subscribe(target, &b, 2, 60, "")).await;
    assert_eq!(ok.status, 200, "the other fork's dialog is still there");
}

/// A watcher whose TCP connection is gone cannot be notified (this server
/// opens no connections to watchers): the failed NOTIFY ends the
/// subscription, so its next refresh gets 481 and it subscribes afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_whose_connection_closed_is_unsubscribed_on_the_next_notify() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [presence]\npublish_min_expires = 5\n",
        2,
    );
    let tcp_addr = server.addr("tcp", false);
    let target = "sip:hank@127.0.0.1";
    let subscribe = |port: u16, cseq: u32, to_tag: &str, n: u64| {
        format!(
            "SUBSCRIBE {target} SIP/2.0\r\n\
             Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-ts{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:ivy@127.0.0.1>;tag=ivy1\r\nTo: <{target}>{to_tag}\r\n\
             Call-ID: tcpsub@wire-test\r\nCSeq: {cseq} SUBSCRIBE\r\n\
             Contact: <sip:ivy@127.0.0.1:{port};transport=tcp>\r\nEvent: presence\r\n\
             Expires: 600\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut tcp = tokio::net::TcpStream::connect(tcp_addr)
        .await
        .expect("connect");
    let port = tcp.local_addr().expect("local").port();
    common::send(&mut tcp, subscribe(port, 1, "", unique()).as_bytes()).await;
    let mut reader = common::StreamReader::default();
    let ok = reader.response(&mut tcp).await;
    assert_eq!(ok.status, 200);
    let mut dialog = Dialog::new();
    dialog.established(&ok);
    let to_tag = format!(";tag={}", dialog.remote_tag.clone().unwrap_or_default());
    drop(tcp);

    // A change to notify: the NOTIFY cannot be sent.
    let alice = Ua::new(server_udp(&server), "hank").await;
    let body = pidf(target, "pc", "open", None, "here");
    let ok = alice
        .send(alice.publish(&Dialog::new(), 1, 60, None, Some(&body)))
        .await;
    assert_eq!(ok.status, 200);
    server.wait_for_log(&["subscription removed"]);

    let mut tcp = tokio::net::TcpStream::connect(tcp_addr)
        .await
        .expect("reconnect");
    let port = tcp.local_addr().expect("local").port();
    common::send(&mut tcp, subscribe(port, 2, &to_tag, unique()).as_bytes()).await;
    let gone = common::StreamReader::default().response(&mut tcp).await;
    assert_eq!(gone.status, 481);
}
