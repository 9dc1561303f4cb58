//! The provider's rules with explicit time and fixed randomness; the
//! upstream's answers are written out as Kamailio's presence module sends
//! them.

use std::time::{Duration, Instant};

use sip::{HeaderAccess, HeaderName, Request, Uri};

use super::*;
use crate::subscriber::upstream::{header, notify, respond};
use crate::subscriber::{self, Fresh, Identity};

/// Counts up: unique Call-IDs and tags, and a fixed jitter.
struct Counter {
    n: u32,
    unit: f64,
}

impl Entropy for Counter {
    fn fresh(&mut self) -> Fresh {
        self.n += 1;
        Fresh {
            call_id: format!("c{}", self.n),
            local_tag: format!("t{}", self.n),
            cnonce: format!("n{}", self.n),
        }
    }
    fn unit(&mut self) -> f64 {
        self.unit
    }
}

fn entropy() -> Counter {
    Counter { n: 0, unit: 0.5 }
}

fn provider(settings: Settings) -> Provider {
    Provider::new(
        settings,
        Identity {
            from: Uri::parse_str("sip:presenced@lab.test").unwrap(),
            contact: Uri::parse_str("sip:presenced@127.0.0.1:5070").unwrap(),
            credentials: None,
        },
    )
}

fn uri(user: &str) -> Uri {
    Uri::parse_str(&format!("sip:{user}@lab.test")).unwrap()
}

fn sends(out: &[Output]) -> Vec<Request> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

fn statuses(out: &[Output]) -> Vec<(String, Status)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Status { presentity, status } => Some((presentity.clone(), status.clone())),
            _ => None,
        })
        .collect()
}

const BODY: &str =
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@lab.test\"/>";

/// Takes `req` live: 200, then an active NOTIFY with a body.
fn go_live(p: &mut Provider, e: &mut Counter, req: &Request, t: Instant) -> Vec<Output> {
    let mut out = p.on_response(&respond(req, 200, "Expires: 3600\r\n"), e, t);
    let (status, more) = p.on_notify(&notify(req, 1, "active;expires=3600", BODY), e, t);
    assert_eq!(status, 200);
    out.extend(more);
    out
}

#[test]
fn fifty_consumers_share_one_upstream_subscription() {
    let t0 = Instant::now();
    let mut p = provider(Settings::default());
    let mut e = entropy();
    let mut out = Vec::new();
    for _ in 0..50 {
        out.extend(p.watch(&uri("alice"), &mut e, t0));
    }
    let sent = sends(&out);
    assert_eq!(sent.len(), 1, "one upstream SUBSCRIBE");
    assert_eq!(sent[0].uri.to_string(), "sip:alice@lab.test");
    assert_eq!(p.consumers(&uri("alice")), 50);
    assert_eq!(p.status(&uri("alice")), Some(&Status::Pending));

    let out = go_live(&mut p, &mut e, &sent[0], t0);
    assert_eq!(p.status(&uri("alice")), Some(&Status::Live));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::State { presentity, body, .. }
        if presentity == "sip:alice@lab.test" && body.as_ref() == BODY.as_bytes())));
    let stats = p.stats();
    assert_eq!(
        (stats.live, stats.consumers, stats.max_consumers),
        (1, 50, 50)
    );
}

#[test]
fn a_burst_is_throttled_to_the_rate_in_any_second() {
    let t0 = Instant::now();
    let mut p = provider(Settings::default());
    let mut e = entropy();
    let mut started: Vec<Instant> = Vec::new();
    for i in 0..100 {
        let n = sends(&p.watch(&uri(&format!("u{i}")), &mut e, t0)).len();
        started.extend(std::iter::repeat_n(t0, n));
    }
    assert_eq!(started.len(), 15, "the first second's share");
    assert_eq!(p.stats().queued, 85, "the rest wait, pending, not refused");
    assert_eq!(p.stats().throttle_queue, 85);
    let mut now = t0;
    while started.len() < 100 {
        now = p.poll_timeout().expect("a queue has a next slot");
        let n = sends(&p.on_timeout(&mut e, now)).len();
        started.extend(std::iter::repeat_n(now, n));
    }
    for (i, at) in started.iter().enumerate() {
        let window = started[i..]
            .iter()
            .take_while(|t| t.duration_since(*at) < Duration::from_secs(1))
            .count();
        assert!(window <= 15, "{window} starts within a second");
    }
    assert_eq!(
        now.duration_since(t0),
        Duration::from_secs(6),
        "100 at 15/s"
    );
}

#[test]
fn a_deactivated_subscription_is_restored_through_the_throttle() {
    let t0 = Instant::now();
    let mut p = provider(Settings::default());
    let mut e = entropy();
    let first = sends(&p.watch(&uri("alice"), &mut e, t0)).remove(0);
    go_live(&mut p, &mut e, &first, t0);
    // Kamailio restarting ends its subscriptions with reason=deactivated.
    let (status, out) = p.on_notify(
        &notify(&first, 2, "terminated;reason=deactivated", ""),
        &mut e,
        t0,
    );
    assert_eq!(status, 200);
    let again = sends(&out);
    assert_eq!(again.len(), 1, "restored at once: the window has room");
    assert_ne!(
        header(&again[0], HeaderName::CallId),
        header(&first, HeaderName::CallId)
    );
    assert_eq!(p.stats().resubscriptions, 1);
    // The old dialog is no longer known.
    assert_eq!(
        p.on_notify(&notify(&first, 3, "active", BODY), &mut e, t0)
            .0,
        481
    );
}

/// A lost connection to the upstream: every subscription under way is
/// queued again (no failure counted), nothing is sent while the upstream
/// is unreachable, and on reconnection the throttle restores them with
/// the new connection's Contact.
#[test]
fn a_lost_connection_holds_the_queue_and_restores_through_the_throttle() {
    let t0 = Instant::now();
    let mut p = provider(Settings {
        max_subscriptions_per_second: 2,
        ..Settings::default()
    });
    let mut e = entropy();
    let mut first = Vec::new();
    for user in ["a", "b", "c"] {
        first.extend(sends(&p.watch(&uri(user), &mut e, t0)));
    }
    assert_eq!(first.len(), 2, "c waits for the throttle");
    for req in &first {
        go_live(&mut p, &mut e, req, t0);
    }

    let t1 = t0 + Duration::from_secs(5);
    let out = p.unreachable("connection reset", &mut e, t1);
    assert!(sends(&out).is_empty(), "nothing sent while unreachable");
    assert_eq!(
        statuses(&out),
        vec![
            ("sip:a@lab.test".to_owned(), Status::Queued),
            ("sip:b@lab.test".to_owned(), Status::Queued),
        ]
    );
    assert_eq!(p.stats().queued, 3);
    assert!(p
        .poll_timeout()
        .is_none_or(|t| t > t1 + Duration::from_secs(60)));
    assert!(sends(&p.on_timeout(&mut e, t1 + Duration::from_secs(2))).is_empty());
    // The old dialogs are gone: their NOTIFYs get 481.
    assert_eq!(
        p.on_notify(&notify(&first[0], 2, "active", BODY), &mut e, t1)
            .0,
        481
    );

    let t2 = t1 + Duration::from_secs(3);
    let contact = Uri::parse_str("sip:presenced@127.0.0.1:40123;transport=tcp").unwrap();
    let again = sends(&p.reachable(contact, &mut e, t2));
    assert_eq!(again.len(), 2, "the throttle still holds: 2 a second");
    for req in &again {
        assert_eq!(
            header(req, HeaderName::Contact),
            "<sip:presenced@127.0.0.1:40123;transport=tcp>"
        );
    }
    let rest = sends(&p.on_timeout(&mut e, t2 + Duration::from_secs(1)));
    assert_eq!(rest.len(), 1);
    assert_eq!(
        p.stats().resubscriptions,
        2,
        "a and b restored, c first started"
    );
    for f in ["a", "b", "c"] {
        assert_eq!(
            p.status(&uri(f)),
            Some(&Status::Pending),
            "no failure for {f}"
        );
    }
}

#[test]
fn failures_are_retried_after_the_delay_and_given_up_after_the_count() {
    let t0 = Instant::now();
    let settings = Settings {
        max_failed_per_uri: 3,
        resubscribe_delay: Duration::from_secs(60),
        ..Settings::default()
    };
    let mut p = provider(settings);
    let mut e = entropy();
    let mut req = sends(&p.watch(&uri("ghost"), &mut e, t0)).remove(0);
    let mut now = t0;
    for attempt in 1..=3 {
        let out = p.on_response(&respond(&req, 404, ""), &mut e, now);
        let status = p.status(&uri("ghost")).cloned().unwrap();
        if attempt < 3 {
            let Status::Retrying { at, failures, .. } = status else {
                panic!("attempt {attempt}: {status:?}");
            };
            assert_eq!(failures, attempt);
            // 60 s ± 10 %, here the jitter's middle.
            assert_eq!(at.duration_since(now), Duration::from_secs(60));
            assert!(!p.status(&uri("ghost")).unwrap().is_live());
            assert!(sends(&p.on_timeout(&mut e, at - Duration::from_millis(1))).is_empty());
            now = at;
            req = sends(&p.on_timeout(&mut e, now)).remove(0);
        } else {
            assert!(matches!(status, Status::Failed { ref reason } if reason.starts_with("404")));
            assert!(statuses(&out)
                .iter()
                .any(|(_, s)| matches!(s, Status::Failed { .. })));
            assert_eq!(p.poll_timeout(), None, "nothing more is tried");
        }
    }
    assert_eq!(p.stats().failed, 1);
    // A consumer asking anew starts a new round.
    let out = p.watch(&uri("ghost"), &mut e, now);
    assert_eq!(sends(&out).len(), 1);
}

#[test]
fn zero_means_never_give_up_and_retry_after_is_honoured() {
    let t0 = Instant::now();
    let settings = Settings {
        max_failed_per_uri: 0,
        resubscribe_delay: Duration::from_secs(10),
        ..Settings::default()
    };
    let mut p = provider(settings);
    let mut e = Counter { n: 0, unit: 0.0 };
    let mut req = sends(&p.watch(&uri("flaky"), &mut e, t0)).remove(0);
    let mut now = t0;
    for _ in 0..10 {
        p.on_response(&respond(&req, 503, "Retry-After: 30\r\n"), &mut e, now);
        let Some(Status::Retrying { at, .. }) = p.status(&uri("flaky")).cloned() else {
            panic!("still retrying");
        };
        assert_eq!(
            at.duration_since(now),
            Duration::from_secs(30),
            "Retry-After beats 9 s"
        );
        now = at;
        req = sends(&p.on_timeout(&mut e, now)).remove(0);
    }
}

#[test]
fn a_refused_subscription_is_not_retried() {
    let t0 = Instant::now();
    let mut p = provider(Settings::default());
    let mut e = entropy();
    let req = sends(&p.watch(&uri("bob"), &mut e, t0)).remove(0);
    p.on_response(&respond(&req, 202, "Expires: 3600\r\n"), &mut e, t0);
    // Pending upstream (awaiting authorization): consumers see pending.
    let (_, out) = p.on_notify(&notify(&req, 1, "pending", ""), &mut e, t0);
    assert!(out.iter().all(|o| !matches!(o, Output::State { .. })));
    assert_eq!(p.status(&uri("bob")), Some(&Status::Pending));
    p.on_notify(
        &notify(&req, 2, "terminated;reason=rejected", ""),
        &mut e,
        t0,
    );
    assert!(matches!(p.status(&uri("bob")), Some(Status::Failed { .. })));
}

#[test]
fn the_last_consumer_leaving_releases_after_the_linger() {
    let t0 = Instant::now();
    let mut p = provider(Settings {
        linger: Duration::from_secs(30),
        ..Settings::default()
    });
    let mut e = entropy();
    let req = sends(&p.watch(&uri("alice"), &mut e, t0)).remove(0);
    go_live(&mut p, &mut e, &req, t0);
    p.watch(&uri("alice"), &mut e, t0);
    p.unwatch(&uri("alice"), t0);
    p.unwatch(&uri("alice"), t0);
    // Back within the linger: nothing happens upstream.
    let t1 = t0 + Duration::from_secs(10);
    assert!(sends(&p.watch(&uri("alice"), &mut e, t1)).is_empty());
    p.unwatch(&uri("alice"), t1);
    assert_eq!(p.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    let out = p.on_timeout(&mut e, t1 + Duration::from_secs(30));
    let bye = sends(&out);
    assert_eq!(bye.len(), 1);
    assert_eq!(header(&bye[0], HeaderName::Expires), "0");
    assert!(out.iter().any(
        |o| matches!(o, Output::Released { presentity } if presentity == "sip:alice@lab.test")
    ));
    assert_eq!(p.status(&uri("alice")), None);
    assert_eq!(
        p.on_notify(&notify(&req, 2, "active", BODY), &mut e, t1).0,
        481
    );
}

#[test]
fn refreshes_run_through_the_provider_timer() {
    let t0 = Instant::now();
    let mut p = provider(Settings {
        subscription: subscriber::Settings {
            expires: 600,
            ..subscriber::Settings::default()
        },
        ..Settings::default()
    });
    let mut e = entropy();
    let req = sends(&p.watch(&uri("alice"), &mut e, t0)).remove(0);
    p.on_response(&respond(&req, 200, "Expires: 600\r\n"), &mut e, t0);
    p.on_notify(&notify(&req, 1, "active;expires=600", BODY), &mut e, t0);
    let at = p.poll_timeout().unwrap();
    assert_eq!(at, t0 + Duration::from_secs(540));
    let refresh = sends(&p.on_timeout(&mut e, at));
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].cseq().unwrap().seq, 2);
}

#[test]
fn the_not_live_are_listed_failed_first_and_bounded() {
    let t0 = Instant::now();
    let settings = Settings {
        max_failed_per_uri: 1,
        ..Settings::default()
    };
    let mut p = provider(settings);
    let mut e = entropy();
    let live = sends(&p.watch(&uri("alice"), &mut e, t0)).remove(0);
    go_live(&mut p, &mut e, &live, t0);
    let refused = sends(&p.watch(&uri("ghost"), &mut e, t0)).remove(0);
    p.on_response(&respond(&refused, 404, ""), &mut e, t0);
    let _pending = sends(&p.watch(&uri("bob"), &mut e, t0));
    p.watch(&uri("bob"), &mut e, t0);
    let listed = p.not_live(10);
    let names: Vec<&str> = listed.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["sip:ghost@lab.test", "sip:bob@lab.test"],
        "{listed:?}"
    );
    assert!(matches!(listed[0].1, Status::Failed { ref reason } if reason.starts_with("404")));
    assert_eq!(listed[1].2, 2, "bob's two consumers");
    assert_eq!(p.not_live(1).len(), 1);
}
