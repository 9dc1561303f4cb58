//! Flood limits and bounds on the wire (issue 13), against the real
//! binary: a source over its per-source limit gets `503 Rate limit
//! exceeded` with Retry-After and then silence while another source is
//! served; a user over its per-user limit gets the 503 while another user
//! is served; a watcher over `max_subscriptions_per_watcher` and a
//! presentity over `max_publications_per_presentity` get 403 with a
//! reason phrase that says which bound. The limits are small here so that
//! a few requests cross them; the rates are slow (1 a second) so that the
//! counts hold however slowly the test runs, short of a second per
//! request. The load test (20× the limit while another client is timed)
//! is a benchmark: `presenced-bench flood`, crates/bench/README.md.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::ua::{pidf, Dialog, Ua};
use common::{header, reason, request, response, Presenced};
use sip::HeaderName;

/// Sends `n` OPTIONS back to back from `socket` and collects what comes
/// back until the server falls quiet: (200s, 503s with their Retry-After).
fn options_burst(socket: &UdpSocket, server: SocketAddr, n: usize) -> (usize, Vec<String>) {
    let local = socket.local_addr().expect("local");
    for i in 0..n {
        let branch = format!("flood{}-{i}", local.port());
        let text = request("OPTIONS", "UDP", local, &branch, "");
        socket.send_to(text.as_bytes(), server).expect("send");
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    let (mut ok, mut refused) = (0, Vec::new());
    let mut buf = vec![0u8; 65_536];
    while let Ok((len, _)) = socket.recv_from(&mut buf) {
        let resp = response(&buf[..len]);
        match resp.status {
            200 => ok += 1,
            503 => {
                assert_eq!(reason(&resp), "Rate limit exceeded");
                refused.push(header(&resp, HeaderName::RetryAfter));
            }
            other => panic!("unexpected {other}"),
        }
    }
    (ok, refused)
}

#[test]
fn a_source_over_its_limit_gets_503_then_silence_and_others_are_served() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [limits]\nper_source_rate = 1\nper_source_burst = 5\nper_user_rate = 0\nexempt = []\n",
        1,
    );
    let addr = server.addr("udp", false);
    let flooder = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let (ok, refused) = options_burst(&flooder, addr, 40);
    // The burst passes (one more per second the test takes), the next
    // burst's worth is answered 503, the rest is dropped in silence.
    assert!((5..=7).contains(&ok), "{ok} passed");
    assert!((5..=7).contains(&refused.len()), "{refused:?}");
    assert!(refused.iter().all(|r| r == "1"), "{refused:?}");
    // Another address is served meanwhile.
    let other = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let (ok, refused) = options_burst(&other, addr, 3);
    assert_eq!((ok, refused.len()), (3, 0));
    let silent =
        server.metric("presenced_flood_refusals_total{limit=\"source\",answer=\"silent\"} ");
    assert!(silent >= 26.0, "{silent} dropped in silence");
    // Every refusal, answered or silent, in the one counter by reason.
    let answered =
        server.metric("presenced_flood_refusals_total{limit=\"source\",answer=\"503\"} ");
    assert_eq!(
        server.metric("presenced_refusals_total{reason=\"source_rate_limit\"} "),
        silent + answered
    );
    assert!(
        server
            .wait_for_log(&["over the per-source rate limit"])
            .matches("over the per-source rate limit")
            .count()
            == 1,
        "one log line per source per interval:\n{}",
        server.log_text()
    );
}

#[tokio::test]
async fn a_user_over_its_limit_gets_503_and_others_are_served() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [limits]\nper_source_rate = 0\nper_user_rate = 1\nper_user_burst = 3\nexempt = []\n",
        1,
    );
    let addr = server.addr("udp", false);
    let alice = Ua::new(addr, "alice").await;
    let body = pidf(&alice.aor(), "t", "open", None, "");
    let mut statuses = Vec::new();
    // Three pass, the next three are answered 503 (past those, silence).
    for _ in 0..6 {
        let resp = alice
            .send(alice.publish(&Dialog::new(), 1, 60, None, Some(&body)))
            .await;
        if resp.status == 503 {
            assert_eq!(reason(&resp), "Rate limit exceeded");
            assert_eq!(header(&resp, HeaderName::RetryAfter), "1");
        }
        statuses.push(resp.status);
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&passed), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    // Bob, from the same address, is another user.
    let bob = Ua::new(addr, "bob").await;
    let body = pidf(&bob.aor(), "t", "open", None, "");
    let resp = bob
        .send(bob.publish(&Dialog::new(), 1, 60, None, Some(&body)))
        .await;
    assert_eq!(resp.status, 200);
    assert!(server.metric("presenced_flood_refusals_total{limit=\"user\",answer=\"503\"} ") >= 1.0);
}

#[tokio::test]
async fn bounds_on_subscriptions_and_publications_say_which() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [presence]\nmax_subscriptions_per_watcher = 2\nmax_publications_per_presentity = 2\n",
        1,
    );
    let addr = server.addr("udp", false);
    let alice = Ua::new(addr, "alice").await;
    let body = pidf(&alice.aor(), "t", "open", None, "");
    for expected in [200, 200, 403] {
        let resp = alice
            .send(alice.publish(&Dialog::new(), 1, 60, None, Some(&body)))
            .await;
        assert_eq!(resp.status, expected);
        if expected == 403 {
            assert_eq!(reason(&resp), "Too many publications");
        }
    }
    let bob = Ua::new(addr, "bob").await;
    for (i, expected) in [200, 200, 403].into_iter().enumerate() {
        let target = format!("sip:p{i}@127.0.0.1");
        let resp = bob
            .send(bob.subscribe(&target, &Dialog::new(), 1, 600, ""))
            .await;
        assert_eq!(resp.status, expected);
        if expected == 403 {
            assert_eq!(reason(&resp), "Too many subscriptions from this watcher");
        }
    }
}

/// Issue 13: "every refusal is logged once per source per interval with
/// the reason". A watcher looping over its subscription bound makes 100
/// refusals: one log line at the first, one line with the count of the
/// other 99 when the interval ends, and the counter says 100.
#[tokio::test]
async fn a_hundred_refusals_make_one_line_and_a_count() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [presence]\nmax_subscriptions_per_watcher = 1\n[limits]\nlog_interval_secs = 3\n",
        1,
    );
    let addr = server.addr("udp", false);
    let bob = Ua::new(addr, "bob").await;
    let first = bob
        .send(bob.subscribe("sip:p0@127.0.0.1", &Dialog::new(), 1, 600, ""))
        .await;
    assert_eq!(first.status, 200);
    for i in 1..=100 {
        let target = format!("sip:p{i}@127.0.0.1");
        let resp = bob
            .send(bob.subscribe(&target, &Dialog::new(), 1, 600, ""))
            .await;
        assert_eq!(
            (resp.status, reason(&resp).as_str()),
            (403, "Too many subscriptions from this watcher")
        );
    }
    let count = server.wait_for_log(&["more refusals not logged", "too_many_subscriptions"]);
    assert!(count.contains("suppressed=99"), "{count}");
    let log = server.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("too_many_subscriptions"))
        .collect::<Vec<_>>();
    assert_eq!(lines.len(), 2, "one line and one count:\n{log}");
    assert!(
        lines[0].contains("request refused by policy") && lines[0].contains("sip:bob@"),
        "{log}"
    );
    assert_eq!(
        server.metric("presenced_refusals_total{reason=\"too_many_subscriptions\"} "),
        100.0
    );
}
