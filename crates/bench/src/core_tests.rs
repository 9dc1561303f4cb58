use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderAccess, Message};

use super::*;
use crate::testkit::{locals, FakeServer};

fn core() -> Core {
    Core::new(Names::new("t1", "bench.test"), locals(), Timers::default())
}

/// Sends everything queued through the fake server, feeding back all
/// it answers (in order, or NOTIFYs first when `notify_first`).
fn exchange(core: &mut Core, server: &mut FakeServer, now: Instant, notify_first: bool) {
    while let Some(t) = core.poll_transmit() {
        let mut answers = server.handle(&t.bytes);
        if notify_first {
            answers.reverse();
        }
        for m in answers {
            core.on_message(m, now);
        }
    }
}

fn events(core: &mut Core) -> Vec<Event> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

#[test]
fn subscribe_completes_on_200_and_notify_then_refreshes_in_dialog() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    let d = c.add_dialog(3, 4);
    c.subscribe(d, 600, t0);
    exchange(&mut c, &mut server, t0 + Duration::from_millis(2), false);
    let ev = events(&mut c);
    assert!(matches!(
        ev[0],
        Event::Subscribed { dialog: 0, result: Ok(Done { latency, retransmits: 0 }) }
            if latency == Duration::from_millis(2)
    ));
    assert!(matches!(
        ev[1],
        Event::Notify {
            dialog: 0,
            marker: None,
            ..
        }
    ));
    assert_eq!(
        c.dialog(d).and_then(|x| x.remote_tag.as_deref()),
        Some(&b"s0"[..])
    );

    // The refresh carries the server's tag and the next CSeq.
    c.subscribe(d, 600, t0);
    let t = c.poll_transmit().expect("refresh sent");
    let req = match sip::parse::parse_datagram(t.bytes.clone()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        req.header_to().expect("to").tag(),
        Some(Bytes::from_static(b"s0"))
    );
    assert_eq!(req.cseq().expect("cseq").seq, 2);
    for m in server.handle(&t.bytes) {
        c.on_message(m, t0);
    }
    assert!(matches!(
        events(&mut c)[0],
        Event::Subscribed { result: Ok(_), .. }
    ));
    assert_eq!(c.counters.notifies, 2);
}

#[test]
fn notify_before_200_also_completes() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    let d = c.add_dialog(0, 0);
    c.subscribe(d, 600, t0);
    exchange(&mut c, &mut server, t0, true);
    assert!(matches!(
        events(&mut c)[..],
        [
            Event::Notify { .. },
            Event::Subscribed { result: Ok(_), .. }
        ]
    ));
    assert!(c.dialog(d).is_some_and(|x| x.is_active()));
}

#[test]
fn retransmitted_notify_is_counted_once() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    let d = c.add_dialog(0, 0);
    c.subscribe(d, 600, t0);
    let t = c.poll_transmit().expect("sent");
    let answers = server.handle(&t.bytes);
    for m in answers.iter().chain(answers.iter().skip(1)) {
        c.on_message(m.clone(), t0);
    }
    assert_eq!(c.counters.notifies, 1);
    assert_eq!(c.counters.duplicate_notifies, 1);
}

#[test]
fn rejection_fails_the_operation_with_its_status() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    server.reject_subscribe = Some(403);
    let d = c.add_dialog(0, 0);
    c.subscribe(d, 600, t0);
    exchange(&mut c, &mut server, t0, false);
    assert!(matches!(
        events(&mut c)[..],
        [Event::Subscribed {
            result: Err(Failed {
                why: Failure::Status(403),
                ..
            }),
            ..
        }]
    ));
}

#[test]
fn silence_means_retransmissions_then_timeout() {
    let t0 = Instant::now();
    let mut c = core();
    let d = c.add_dialog(0, 0);
    c.subscribe(d, 600, t0);
    assert!(c.poll_transmit().is_some());
    let mut now = t0;
    while now < t0 + Duration::from_secs(33) {
        now += Duration::from_millis(100);
        c.on_timer(now);
    }
    assert_eq!(c.counters.retransmissions, 10);
    assert!(matches!(
        events(&mut c)[..],
        [Event::Subscribed {
            result: Err(Failed {
                why: Failure::Timeout,
                retransmits: 10
            }),
            ..
        }]
    ));
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn a_200_without_its_notify_times_out() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    let d = c.add_dialog(0, 0);
    c.subscribe(d, 600, t0);
    let t = c.poll_transmit().expect("sent");
    let first = server.handle(&t.bytes).remove(0);
    c.on_message(first, t0);
    assert!(events(&mut c).is_empty());
    c.on_timer(t0 + Duration::from_secs(33));
    assert!(matches!(
        events(&mut c)[..],
        [Event::Subscribed {
            result: Err(Failed {
                why: Failure::Timeout,
                ..
            }),
            ..
        }]
    ));
}

#[test]
fn publish_reports_the_entity_tag_and_watchers_see_the_marker() {
    let t0 = Instant::now();
    let mut c = core();
    let mut server = FakeServer::default();
    let d = c.add_dialog(0, 7);
    c.subscribe(d, 600, t0);
    exchange(&mut c, &mut server, t0, false);
    events(&mut c);
    c.publish(7, 60, None, Some(42), t0);
    exchange(&mut c, &mut server, t0, false);
    let ev = events(&mut c);
    assert!(matches!(
        &ev[0],
        Event::Published { presentity: 7, result: Ok(_), etag: Some(e) } if &e[..] == b"e1"
    ));
    assert!(matches!(
        ev[1],
        Event::Notify {
            dialog: 0,
            marker: Some(42),
            ..
        }
    ));
    assert_eq!(c.dialog(d).map(|x| x.marker), Some(42));
}

#[test]
fn strangers_are_counted_not_trusted() {
    let t0 = Instant::now();
    let mut c = core();
    let stray = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-t1-999\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 PUBLISH\r\n\
                 Content-Length: 0\r\n\r\n";
    let m = sip::parse::parse_datagram(Bytes::from_static(stray.as_bytes())).expect("parses");
    c.on_message(m, t0);
    let notify = "NOTIFY sip:w@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
                  From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: t1-d77\r\nCSeq: 1 NOTIFY\r\n\
                  Content-Length: 0\r\n\r\n";
    let m = sip::parse::parse_datagram(Bytes::from_static(notify.as_bytes())).expect("parses");
    c.on_message(m, t0);
    assert_eq!(c.counters.stray_responses, 1);
    assert_eq!(c.counters.stray_notifies, 1);
    assert!(events(&mut c).is_empty());
}
