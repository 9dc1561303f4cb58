use super::*;
use crate::scenario::Engine;
use crate::template::Names;
use crate::testkit::{locals, FakeServer};
use crate::txn::Timers;
use sip::Message;

fn config(users: u32, contacts: u32) -> Config {
    Config {
        users,
        contacts,
        login_window: Duration::from_secs(1),
        change_mean: Duration::from_millis(200),
        steady: Duration::from_secs(2),
        expires: 600,
        rate: 0.0,
        window: 16,
        seed: 1,
        notify_timeout: Timers::default().timeout(),
        cleanup: true,
        server_pid: 1,
        p99_limit: Duration::from_secs(1),
        failure_limit: 0.001,
        batched: false,
    }
}

fn engine(cfg: Config, probe: Option<RssProbe>) -> Engine {
    let core = Core::new(Names::new("u", "bench.test"), locals(), Timers::default());
    Engine::new(core, Box::new(Usermodel::new(cfg, probe)))
}

/// Runs to the end in 1 ms steps; `deliver` may drop server messages.
fn run(engine: &mut Engine, server: &mut FakeServer, deliver: impl Fn(&Message) -> bool) {
    let t0 = Instant::now();
    let mut now = t0;
    while engine.poll(now) != Poll::Done {
        while let Some(t) = engine.poll_transmit() {
            for m in server.handle(&t.bytes) {
                if deliver(&m) {
                    engine.handle_message(m, now);
                }
            }
        }
        engine.handle_timeout(now);
        now += Duration::from_millis(1);
        assert!(now < t0 + Duration::from_secs(120), "did not finish");
    }
}

#[test]
fn every_publish_reaches_every_active_watcher_and_the_load_holds() {
    let mut engine = engine(config(20, 5), Some(Box::new(|| Some(1000))));
    let mut server = FakeServer::default();
    run(&mut engine, &mut server, |_| true);
    let s = engine.scenario();
    let m = s.metrics();
    let names: Vec<String> = m.iter().map(|x| x.report(Instant::now()).name).collect();
    assert_eq!(
        names,
        [
            "usermodel.subscribe",
            "usermodel.signin",
            "usermodel.publish",
            "usermodel.notify.login",
            "usermodel.notify.steady"
        ]
    );
    assert_eq!(m[0].completed(), 100, "20 users × 5 contacts");
    assert_eq!(m[1].completed(), 20, "every user's contact list settled");
    assert!(m.iter().all(|x| x.failed() == 0));
    // Every user publishes about 2 s / 200 ms times in the steady phase,
    // and each change reaches the ~5 users who watch it.
    assert!(m[2].completed() > 20 + 100, "{}", m[2].completed());
    assert!(m[3].completed() > 0);
    assert!(m[4].completed() > 5 * 100, "{}", m[4].completed());
    let extra = s.extra();
    assert_eq!(extra["subscriptions_live"], 100.0);
    assert_eq!(extra["signin_backlog_at_steady"], 0.0);
    assert_eq!(extra["publish_rate_target_per_s"], 100.0);
    assert!(
        (extra["publish_rate_per_s"] - 100.0).abs() < 30.0,
        "{extra:?}"
    );
    // Cleanup ended the 100 dialogs and the 20 publications.
    assert_eq!(extra["cleanup_requests"], 120.0);
    let v = s.verdict().expect("verdict");
    assert!(v.held, "{v:?}");
    assert_eq!(extra["held"], 1.0);
    let mem = s.memory().expect("memory");
    assert_eq!(mem.subscriptions, 100);
    assert_eq!(mem.bytes_per_subscription, Some(0.0));
}

#[test]
fn notifies_that_never_come_are_failures_and_fail_the_verdict() {
    let mut engine = engine(config(10, 3), None);
    let mut server = FakeServer::default();
    // The server never tells anybody about presentity 0's changes.
    run(&mut engine, &mut server, |m| match m {
        Message::Request(r) => {
            let from_p0 = r
                .headers
                .value(sip::HeaderName::From)
                .is_some_and(|f| f.starts_with(b"<sip:p0."));
            !from_p0 || r.body.is_empty()
        }
        Message::Response(_) => true,
    });
    let s = engine.scenario();
    let m = s.metrics();
    let missed = m[3].failed() + m[4].failed();
    assert!(missed > 0);
    assert!(m[4].completed() > 0);
    let v = s.verdict().expect("verdict");
    assert!(!v.held);
    // Judged over NOTIFYs, apart from the requests (which all succeeded).
    assert_eq!(v.failure_ratio, 0.0, "{v:?}");
    assert!(
        v.reasons.iter().any(|r| r.starts_with("NOTIFYs missing")),
        "{v:?}"
    );
}

#[test]
fn a_full_window_of_slow_sign_ins_counts_as_backlog() {
    let mut cfg = config(30, 10);
    // 300 SUBSCRIBEs at 50/s take 6 s: past the 1 s window and the 2 s grace.
    cfg.rate = 50.0;
    cfg.notify_timeout = Duration::from_secs(2);
    cfg.steady = Duration::from_millis(100);
    cfg.cleanup = false;
    let mut engine = engine(cfg, None);
    let mut server = FakeServer::default();
    run(&mut engine, &mut server, |_| true);
    let s = engine.scenario();
    assert!(s.extra()["signin_backlog_at_steady"] > 0.0);
    let v = s.verdict().expect("verdict");
    assert!(
        !v.held && v.reasons.iter().any(|r| r.contains("sign-in")),
        "{v:?}"
    );
    // The backlog is still worked on in the steady phase; what is left
    // when it ends is never sent.
    let sent = s.metrics()[0].completed() as f64;
    assert!(sent < 300.0);
    assert_eq!(sent + s.extra()["subscriptions_never_sent"], 300.0);
}

#[test]
fn a_change_due_while_a_publish_is_outstanding_waits_for_its_etag() {
    let mut cfg = config(4, 3);
    cfg.change_mean = Duration::from_micros(100);
    cfg.steady = Duration::from_millis(50);
    let mut engine = engine(cfg, None);
    let mut server = FakeServer::default();
    let t0 = Instant::now();
    let mut now = t0;
    let mut lag: Vec<Vec<u8>> = Vec::new();
    // The server answers each request one step late, so changes pile up.
    while engine.poll(now) != Poll::Done {
        for bytes in lag.drain(..) {
            for m in server.handle(&bytes) {
                engine.handle_message(m, now);
            }
        }
        while let Some(t) = engine.poll_transmit() {
            lag.push(t.bytes.to_vec());
        }
        engine.handle_timeout(now);
        now += Duration::from_millis(1);
        assert!(now < t0 + Duration::from_secs(60), "did not finish");
    }
    let s = engine.scenario();
    assert!(s.extra()["publishes_deferred"] > 0.0);
    assert_eq!(
        s.metrics()[2].failed(),
        0,
        "no PUBLISH went without its etag"
    );
}

#[test]
fn batched_users_open_one_dialog_each_and_every_part_pays_its_relation() {
    let mut cfg = config(20, 5);
    cfg.batched = true;
    let mut engine = engine(cfg, Some(Box::new(|| Some(1000))));
    let mut server = FakeServer::default();
    run(&mut engine, &mut server, |_| true);
    let s = engine.scenario();
    let m = s.metrics();
    assert_eq!(m[0].completed(), 20, "one batched dialog per user");
    assert_eq!(m[1].completed(), 20, "every user's sign-in settled");
    assert!(m.iter().all(|x| x.failed() == 0));
    // Each change reaches the ~5 users who watch it, through a part of
    // their batched dialog.
    assert!(m[4].completed() > 5 * 100, "{}", m[4].completed());
    let extra = s.extra();
    assert_eq!(extra["subscriptions_live"], 100.0, "20 users × 5 contacts");
    assert_eq!(extra["batched_dialogs"], 20.0);
    assert_eq!(extra["parts_unexpected"], 0.0);
    assert!(extra["category_parts"] >= 100.0 + m[4].completed() as f64);
    // Cleanup ended the 20 dialogs and the 20 publications.
    assert_eq!(extra["cleanup_requests"], 40.0);
    assert!(s.verdict().expect("verdict").held);
    assert_eq!(s.memory().expect("memory").subscriptions, 100);
}

#[test]
fn batched_parts_that_never_come_are_failures() {
    let mut cfg = config(10, 3);
    cfg.batched = true;
    let mut engine = engine(cfg, None);
    let mut server = FakeServer::default();
    // Deltas (not the first, full-state NOTIFYs) about presentity 0 are lost.
    run(&mut engine, &mut server, |m| match m {
        Message::Request(r) => {
            let body = String::from_utf8_lossy(&r.body);
            !(body.contains("fullState=\"false\"") && body.contains("uri=\"sip:p0."))
        }
        Message::Response(_) => true,
    });
    let s = engine.scenario();
    let m = s.metrics();
    assert!(m[3].failed() + m[4].failed() > 0);
    assert!(m[4].completed() > 0);
    assert!(!s.verdict().expect("verdict").held);
}
