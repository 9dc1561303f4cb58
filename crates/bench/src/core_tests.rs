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

/// A NOTIFY (or BENOTIFY) of a batched dialog as presenced writes it: an
/// RLMI list and one category part per presentity, each with its marker.
fn batched_notify(method: &str, cseq: u32, full: bool, parts: &[(u32, u64)]) -> Message {
    let boundary = "presenced-rlmi-7c1f0e9a";
    let mut body = format!(
        "--{boundary}\r\nContent-ID: <resourceList>\r\nContent-Type: application/rlmi+xml\r\n\r\n\
         <list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"sip:w0.t1@bench.test\" version=\"{cseq}\" fullState=\"{full}\">"
    );
    for (p, _) in parts {
        body += &format!(
            "<resource uri=\"sip:p{p}.t1@bench.test\"><instance id=\"1\" state=\"active\" cid=\"c{p}\"/></resource>"
        );
    }
    body += "</list>\r\n\r\n";
    for (p, m) in parts {
        body += &format!(
            "--{boundary}\r\nContent-ID: <c{p}>\r\nContent-Type: application/msrtc-event-categories+xml\r\n\r\n\
             <categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" uri=\"sip:p{p}.t1@bench.test\">\
             <custom LCID=\"1033\">bench-r{m}.</custom></categories>\r\n\r\n"
        );
    }
    body += &format!("--{boundary}--\r\n");
    let wire = format!(
        "{method} sip:w0@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKb{cseq}\r\n\
         From: <sip:w0.t1@bench.test>;tag=srv\r\nTo: <sip:w0.t1@bench.test>;tag=t0\r\nCall-ID: t1-d0\r\n\
         CSeq: {cseq} {method}\r\nEvent: presence\r\nSubscription-State: active;expires=600\r\n\
         Content-Type: multipart/related; type=\"application/rlmi+xml\"; start=resourceList; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sip::parse::parse_datagram(Bytes::from(wire)).expect("batched NOTIFY parses")
}

#[test]
fn batched_dialog_completes_and_reports_parts_of_notify_and_benotify() {
    let t0 = Instant::now();
    let mut c = core();
    let d = c.add_batch(0);
    c.subscribe_batch(d, &[3, 4], 600, t0);
    let t = c.poll_transmit().expect("batched SUBSCRIBE sent");
    let req = match sip::parse::parse_datagram(t.bytes.clone()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    };
    assert!(String::from_utf8_lossy(&req.body).contains("<resource uri=\"sip:p4.t1@bench.test\"/>"));
    let ok = sip::Response::to_request(&req, 200, Some("srv"));
    c.on_message(Message::Response(ok), t0 + Duration::from_millis(1));
    c.on_message(
        batched_notify("NOTIFY", 1, true, &[(3, 1), (4, 1)]),
        t0 + Duration::from_millis(3),
    );
    let ev = events(&mut c);
    assert!(matches!(
        ev[0],
        Event::Subscribed { dialog: 0, result: Ok(Done { latency, .. }) }
            if latency == Duration::from_millis(3)
    ));
    match &ev[1] {
        Event::Batch {
            dialog: 0, body, ..
        } => {
            assert!(body.full_state);
            assert_eq!(body.parts.len(), 2);
            assert_eq!(body.parts[1].presentity, 4);
        }
        other => panic!("{other:?}"),
    }
    // An update over a stream comes as BENOTIFY: counted, parsed, and
    // (by the runtime) not answered.
    c.on_message(
        batched_notify("BENOTIFY", 2, false, &[(4, 7)]),
        t0 + Duration::from_millis(9),
    );
    match &events(&mut c)[..] {
        [Event::Batch { body, .. }] => {
            assert!(!body.full_state);
            assert_eq!(
                body.parts,
                [crate::rlmi::Part {
                    presentity: 4,
                    marker: Some(7)
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.counters.notifies, 2);
    assert_eq!(c.counters.benotifies, 1);
    assert_eq!(c.counters.batched_parts, 3);
    // Its end is a body-less SUBSCRIBE in the dialog.
    c.subscribe(d, 0, t0);
    let end = c.poll_transmit().expect("unsubscribe sent");
    let end = String::from_utf8_lossy(&end.bytes).into_owned();
    assert!(
        end.starts_with("SUBSCRIBE sip:w0.t1@bench.test ")
            && end.contains("To: <sip:w0.t1@bench.test>;tag=srv")
            && end.contains("Expires: 0\r\n")
            && end.ends_with("Content-Length: 0\r\n\r\n"),
        "{end}"
    );
}
