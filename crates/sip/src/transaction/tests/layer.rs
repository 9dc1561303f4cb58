//! The layer itself: TU input validation, transport errors and the timer
//! index across many transactions.

use std::time::Duration;

use super::*;
use crate::header::HeaderName;
use crate::transaction::TransactionError;

#[test]
fn send_request_requires_an_rfc3261_branch() {
    let mut h = Harness::new();
    let old = NOTIFY.replace("branch=z9hG4bKnotify1", "branch=notify1");
    let err = h
        .layer
        .send_request(request(&old), PEER, UDP, h.at(0))
        .unwrap_err();
    assert_eq!(err, TransactionError::MissingBranch);
    let none = NOTIFY.replace(";branch=z9hG4bKnotify1", "");
    let err = h
        .layer
        .send_request(request(&none), PEER, UDP, h.at(0))
        .unwrap_err();
    assert_eq!(err, TransactionError::MissingBranch);
    // Through `handle` the request is dropped, not sent with an invented
    // branch.
    let input = Input::SendRequest {
        req: request(&old),
        to: PEER,
        reliable: UDP,
    };
    assert!(h.layer.handle(input, h.at(0)).is_empty());
    assert!(h.layer.is_empty());
}

#[test]
fn send_request_refuses_a_live_duplicate_and_a_cseq_mismatch() {
    let mut h = Harness::new();
    let (key, _) = h.send(NOTIFY, UDP, 0);
    let err = h
        .layer
        .send_request(request(NOTIFY), PEER, UDP, h.at(1))
        .unwrap_err();
    assert_eq!(err, TransactionError::Duplicate(key));
    let mut odd = request(NOTIFY.replace("z9hG4bKnotify1", "z9hG4bKnotify9").as_str());
    odd.headers.set(HeaderName::CSeq, "2 SUBSCRIBE");
    assert_eq!(
        h.layer.send_request(odd, PEER, UDP, h.at(1)).unwrap_err(),
        TransactionError::CSeqMismatch
    );
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn an_ack_for_a_2xx_is_only_transmitted() {
    let mut h = Harness::new();
    let ack = request(ACK_2XX_IN);
    let out = h.layer.handle(
        Input::SendRequest {
            req: ack.clone(),
            to: PEER,
            reliable: UDP,
        },
        h.at(0),
    );
    assert_eq!(kinds(&out), ["transmit"]);
    assert_eq!(start_line(&out[0]), "ACK sip:room1@198.51.100.1 SIP/2.0");
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(
        h.layer.send_request(ack, PEER, UDP, h.at(0)).unwrap_err(),
        TransactionError::Ack
    );
}

#[test]
fn send_response_for_unknown_or_terminated_keys_does_nothing() {
    let mut h = Harness::new();
    let key = h.recv_new(SUBSCRIBE, TCP, 0);
    assert_eq!(
        kinds(&h.respond(&key, answer(SUBSCRIBE, 200), 10)),
        ["transmit", "terminated"]
    );
    // Terminated: no panic, no output; the checked call says why.
    assert!(h.respond(&key, answer(SUBSCRIBE, 200), 20).is_empty());
    let err = h
        .layer
        .send_response(key.clone(), answer(SUBSCRIBE, 200), h.at(20))
        .unwrap_err();
    assert_eq!(err, TransactionError::UnknownTransaction(key));
    // A client key is not something the TU answers.
    let (client, _) = h.send(NOTIFY, UDP, 30);
    assert!(h.respond(&client, answer(NOTIFY, 200), 40).is_empty());
    assert_eq!(h.state(&client), Some(State::Trying));
    // Nor is a status outside 100-699.
    let key = h.recv_new(SUBSCRIBE, UDP, 50);
    let mut bad = answer(SUBSCRIBE, 200);
    bad.status = 700;
    assert_eq!(
        h.layer.send_response(key, bad, h.at(60)).unwrap_err(),
        TransactionError::InvalidStatus(700)
    );
}

#[test]
fn a_closed_peer_fails_its_client_transactions_at_once() {
    let mut h = Harness::new();
    let (client, _) = h.send(NOTIFY, UDP, 0);
    let server = h.recv_new(SUBSCRIBE, UDP, 0);
    let out = h.layer.peer_closed(&PEER, h.at(1));
    assert_eq!(
        out,
        [
            Output::TransportError {
                key: client.clone()
            },
            Output::Terminated { key: client }
        ]
    );
    assert!(h.state(&server).is_some(), "server transactions stay");
}

#[test]
fn transport_errors_end_client_transactions_only() {
    let mut h = Harness::new();
    let (client, _) = h.send(NOTIFY, UDP, 0);
    let out = h.layer.transport_error(client.clone(), h.at(1));
    assert_eq!(
        out,
        [
            Output::TransportError {
                key: client.clone()
            },
            Output::Terminated {
                key: client.clone()
            }
        ]
    );
    assert_eq!(kinds(&h.recv(NOTIFY_200, UDP, 2)), ["stray"]);
    // Unknown keys: nothing.
    assert!(h.layer.transport_error(client, h.at(3)).is_empty());

    // RFC 6026 §8.8: a server transaction stays and keeps absorbing
    // retransmissions; its timer ends it.
    let server = h.recv_new(SUBSCRIBE, UDP, 10);
    h.respond(&server, answer(SUBSCRIBE, 200), 10);
    assert_eq!(
        kinds(&h.layer.transport_error(server.clone(), h.at(11))),
        ["transport-error"]
    );
    assert_eq!(h.state(&server), Some(State::Completed));
    assert_eq!(kinds(&h.recv(SUBSCRIBE, UDP, 12)), ["transmit"]);

    // RFC 6026 §7.1: an accepted INVITE outlives a failed 2xx send.
    let invite = h.recv_new(INVITE_IN, UDP, 20);
    h.respond(&invite, answer(INVITE_IN, 200), 20);
    assert_eq!(
        kinds(&h.layer.transport_error(invite.clone(), h.at(21))),
        ["transport-error"]
    );
    assert_eq!(h.state(&invite), Some(State::Accepted));
    assert_eq!(times(&h.run_until(100_000), "terminated"), [32_010, 32_020]);
}

#[test]
fn zero_timer_config_cannot_spin() {
    let zero = Config {
        t1: Duration::ZERO,
        t2: Duration::ZERO,
        t4: Duration::ZERO,
        auto_100_trying: true,
    };
    let mut h = Harness::with(zero);
    h.send(NOTIFY, UDP, 0);
    let log = h.run_until(1_000);
    // T1 clamps to 1 ms: retransmissions every ms, Timer F at 64 ms.
    assert_eq!(times(&log, "transmit").len(), 63);
    assert_eq!(times(&log, "timeout"), [64]);
}

/// [`NOTIFY`] with branch number `i`.
fn notify(template: &Request, i: usize) -> Request {
    let mut req = template.clone();
    req.headers.set(
        HeaderName::Via,
        format!("SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK-n{i}"),
    );
    req
}

#[test]
fn poll_timeout_orders_deadlines_across_many_transactions() {
    let mut h = Harness::new();
    let template = request(NOTIFY);
    let n = 1_000;
    // Start transactions at shuffled instants (7919 is prime to n), mixing
    // client NOTIFYs (Timer F) and answered SUBSCRIBEs (Timer J).
    let mut expected = Vec::new();
    for i in 0..n {
        let start = (i as u64 * 7_919) % n as u64;
        let key = if i % 2 == 0 {
            h.layer
                .send_request(notify(&template, i), PEER, TCP, h.at(start))
                .expect("accepted")
                .0
        } else {
            let text = SUBSCRIBE.replace("branch=z9hG4bKsub1", &format!("branch=z9hG4bK-s{i}"));
            let key = h.recv_new(&text, UDP, start);
            h.respond(&key, answer(&text, 200), start);
            key
        };
        // Both end 64*T1 after they start; ties go by creation order.
        expected.push((start + 32_000, i, key));
    }
    expected.sort_by_key(|(at, i, _)| (*at, *i));
    assert_eq!(h.layer.len(), n);
    assert_eq!(h.layer.poll_timeout(), Some(h.at(32_000)));

    let mut ended = Vec::new();
    while let Some(due) = h.layer.poll_timeout() {
        for o in h.layer.handle_timeout(due) {
            if let Output::Terminated { key } = o {
                ended.push(((due - h.t0).as_millis() as u64, key));
            }
        }
    }
    let want: Vec<(u64, Key)> = expected.into_iter().map(|(at, _, key)| (at, key)).collect();
    assert_eq!(ended, want);
    assert!(h.layer.is_empty());
}

#[test]
fn handle_timeout_before_the_deadline_does_nothing() {
    let mut h = Harness::new();
    h.send(NOTIFY, UDP, 0);
    assert!(h.layer.handle_timeout(h.at(499)).is_empty());
    assert_eq!(h.layer.poll_timeout(), Some(h.at(500)));
    assert_eq!(kinds(&h.layer.handle_timeout(h.at(500))), ["transmit"]);
    assert_eq!(h.layer.poll_timeout(), Some(h.at(1_500)));
}

#[test]
fn one_hundred_thousand_transactions() {
    let mut h = Harness::new();
    let template = request(NOTIFY);
    let n = 100_000;
    for i in 0..n {
        h.layer
            .send_request(notify(&template, i), PEER, TCP, h.at(i as u64 % 1_000))
            .expect("accepted");
    }
    assert_eq!(h.layer.len(), n);
    assert_eq!(h.layer.poll_timeout(), Some(h.at(32_000)));
    let out = h.layer.handle_timeout(h.at(40_000));
    assert_eq!(out.iter().filter(|o| kind(o) == "timeout").count(), n);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

/// A burst that drains gives its room back: the slab is compacted, and
/// the transactions that outlived it (moved to new indices) keep their
/// keys and fire their timers when due, exactly once.
#[test]
fn a_drained_burst_gives_its_room_back() {
    let mut h = Harness::new();
    let template = request(NOTIFY);
    let n = 10_000;
    for i in 0..n {
        h.layer
            .send_request(notify(&template, i), PEER, TCP, h.at(0))
            .expect("accepted");
    }
    let peak = h.layer.capacity();
    assert!(peak >= n);
    // Every NOTIFY but every 1 000th is answered; over TCP that ends it.
    let mut left = Vec::new();
    for i in 0..n {
        let branch = format!("z9hG4bK-n{i}");
        if i % 1_000 == 999 {
            left.push(Key::for_client(&crate::method::Method::Notify, &branch).unwrap());
            continue;
        }
        let out = h.recv(&NOTIFY_200.replace("z9hG4bKnotify1", &branch), TCP, 10);
        assert_eq!(kinds(&out), ["response", "terminated"]);
    }
    assert_eq!(h.layer.len(), left.len());
    assert!(
        h.layer.capacity() < peak / 8,
        "{} of {peak}",
        h.layer.capacity()
    );
    for key in &left {
        assert_eq!(h.state(key), Some(State::Trying));
    }
    assert_eq!(h.layer.poll_timeout(), Some(h.at(32_000)));
    assert_eq!(h.layer.poll_timeout(), h.layer.earliest_by_scan());
    let out = h.layer.handle_timeout(h.at(32_000));
    // Equal deadlines: a moved transaction's timer counts as re-armed
    // when it moved, so only the set is fixed, not the order.
    let branches = |keys: &mut dyn Iterator<Item = &Key>| {
        let mut b: Vec<_> = keys.map(|k| k.branch()).collect();
        b.sort();
        b
    };
    let timed_out = branches(&mut out.iter().filter_map(|o| match o {
        Output::Timeout { key } => Some(key),
        _ => None,
    }));
    assert_eq!(timed_out, branches(&mut left.iter()));
    assert_eq!(kinds(&out).len(), 2 * left.len());
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(h.layer.slots(), 0);
}

/// A fan-out's worth of NOTIFYs over UDP, answered in one turn: every
/// transaction waits T4 in Completed (as its key only, out of the slab),
/// absorbing its retransmitted 200
/// (no output at all), then all end at T4 exactly, in one timer call, and
/// a 200 after that is a stray (RFC 3261 §17.1.2.2, RFC 6026 §7.2). The
/// NOTIFYs' branches have our compact shape, as in a fan-out.
#[test]
fn many_completed_at_once_absorb_until_timer_k() {
    let mut h = Harness::new();
    let wire = Bytes::from(msg(NOTIFY).encode());
    let n = 5_000;
    let branch = |i: usize| format!("z9hG4bK0123456789abcdef{:x}", i + 1);
    let response = |i: usize| NOTIFY_200.replace("z9hG4bKnotify1", &branch(i));
    let notify = crate::method::Method::Notify;
    for i in 0..n {
        let (key, _) = h
            .layer
            .send_encoded_request(&notify, &branch(i), wire.clone(), PEER, UDP, h.at(0))
            .expect("accepted");
        assert_eq!(key.branch_number(), Some(i as u64 + 1));
    }
    for i in 0..n {
        assert_eq!(kinds(&h.recv(&response(i), UDP, 10)), ["response"]);
    }
    assert_eq!(h.layer.len(), n);
    // Completed, they are keys in their own table: the slab holds none,
    // and no Timer K slot was pushed for them.
    assert_eq!(h.layer.in_slab(), 0);
    assert!(h.layer.slots() <= n, "at most the stale Timer E slots");
    // Timer E's slots went stale with the 200s: the next timer is K.
    assert_eq!(h.layer.poll_timeout(), Some(h.at(5_010)));
    assert_eq!(h.layer.poll_timeout(), h.layer.earliest_by_scan());
    for i in (0..n).step_by(7) {
        assert!(h.recv(&response(i), UDP, 4_000).is_empty(), "absorbed");
    }
    assert!(h.layer.handle_timeout(h.at(5_009)).is_empty());
    let out = h.layer.handle_timeout(h.at(5_010));
    assert_eq!(out.len(), n);
    assert!(out.iter().all(|o| kind(o) == "terminated"));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(kinds(&h.recv(&response(3), UDP, 5_011)), ["stray"]);
}

/// A request the TU encoded itself starts the same transaction as the
/// parsed one: the same key, the same bytes on the wire, its 200 matched.
#[test]
fn an_encoded_request_is_a_client_transaction_like_any_other() {
    let mut h = Harness::new();
    let wire = msg(NOTIFY).encode();
    let (key, out) = h
        .layer
        .send_encoded_request(
            &crate::method::Method::Notify,
            "z9hG4bKnotify1",
            Bytes::from(wire.clone()),
            PEER,
            UDP,
            h.at(0),
        )
        .unwrap();
    assert_eq!(key, Key::for_client_request(&request(NOTIFY)).unwrap());
    assert_eq!(kinds(&out), ["transmit"]);
    assert_eq!(wire_bytes(&out[0]), wire);
    let out = h.layer.handle(
        Input::Received {
            msg: msg(NOTIFY_200),
            from: PEER,
            reliable: UDP,
        },
        h.at(5),
    );
    assert!(
        matches!(&out[0], Output::Response { key: k, resp } if *k == key && resp.status == 200),
        "{out:?}"
    );
    // The same branch again is a duplicate, a branch without the cookie
    // and INVITE/ACK are refused.
    let again = |method, branch: &str, h: &mut Harness| {
        h.layer
            .send_encoded_request(
                &method,
                branch,
                Bytes::from(wire.clone()),
                PEER,
                UDP,
                h.at(6),
            )
            .map(|_| ())
    };
    use crate::method::Method;
    assert_eq!(
        again(Method::Notify, "notify2", &mut h),
        Err(TransactionError::MissingBranch)
    );
    assert_eq!(
        again(Method::Invite, "z9hG4bKx", &mut h),
        Err(TransactionError::InviteNeedsRequest)
    );
    assert_eq!(
        again(Method::Ack, "z9hG4bKx", &mut h),
        Err(TransactionError::Ack)
    );
}

fn wire_bytes(o: &Output<Peer>) -> Vec<u8> {
    match o {
        Output::Transmit { bytes, .. } => bytes.to_vec(),
        other => panic!("not a transmit: {other:?}"),
    }
}

/// One step of the timer-heap property: four NOTIFY transactions (by
/// branch) started, answered, failed and aged in any order.
#[derive(Debug, Clone)]
enum Step {
    Send(usize, bool),
    Provisional(usize),
    Final(usize),
    TransportError(usize),
    Advance(u64),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0..4usize, any::<bool>()).prop_map(|(i, r)| Step::Send(i, r)),
        (0..4usize).prop_map(Step::Provisional),
        (0..4usize).prop_map(Step::Final),
        (0..4usize).prop_map(Step::TransportError),
        prop_oneof![1..600u64, 4_000..40_000u64].prop_map(Step::Advance),
    ]
}

proptest::proptest! {
    /// Moved timers leave stale slots behind; the heap's top must still
    /// be the earliest timer of a live transaction after every call, no
    /// transaction may fire a timer it no longer has, and the stale slots
    /// must drain once every transaction has ended.
    #[test]
    fn the_timer_heap_agrees_with_a_scan_of_the_transactions(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let mut h = Harness::new();
        let mut now = 0u64;
        let vector = |i: usize, text: &str| text.replace("z9hG4bKnotify1", &format!("z9hG4bKnotify{i}"));
        for s in steps {
            match s {
                Step::Send(i, reliable) => {
                    let _ = h.layer.send_request(request(&vector(i, NOTIFY)), PEER, reliable, h.at(now));
                }
                Step::Provisional(i) => {
                    h.recv(&vector(i, NOTIFY_100), UDP, now);
                }
                Step::Final(i) => {
                    h.recv(&vector(i, NOTIFY_200), UDP, now);
                }
                Step::TransportError(i) => {
                    let key = Key::for_client(&crate::method::Method::Notify, &format!("z9hG4bKnotify{i}"))
                        .expect("an RFC 3261 branch");
                    h.layer.transport_error(key, h.at(now));
                }
                Step::Advance(ms) => {
                    let end = now + ms;
                    for (at, out) in h.run_until(end) {
                        proptest::prop_assert!(at <= end, "{out:?} fired after {end}");
                    }
                    now = end;
                }
            }
            proptest::prop_assert_eq!(h.layer.poll_timeout(), h.layer.earliest_by_scan());
            if let Some(due) = h.layer.poll_timeout() {
                proptest::prop_assert!(due >= h.at(now), "a timer due in the past was left");
            }
        }
        h.run_until(now + 100_000);
        proptest::prop_assert!(h.layer.is_empty());
        proptest::prop_assert_eq!(h.layer.slots(), 0);
    }
}

/// The `_into` entry points append to the caller's vector what the plain
/// ones return, leaving what it held: a notifier can keep one vector for
/// every NOTIFY and every 200.
#[test]
fn outputs_can_be_collected_in_the_callers_vector() {
    let mut h = Harness::new();
    let wire = Bytes::from(msg(NOTIFY).encode());
    let notify = crate::method::Method::Notify;
    let branch = "z9hG4bK0123456789abcdef1";
    let mut out = Vec::new();
    let key = h
        .layer
        .send_encoded_request_into(
            &notify,
            branch,
            wire.clone(),
            (PEER, UDP),
            h.at(0),
            &mut out,
        )
        .expect("accepted");
    assert_eq!(kinds(&out), ["transmit"]);
    let duplicate =
        h.layer
            .send_encoded_request_into(&notify, branch, wire, (PEER, UDP), h.at(1), &mut out);
    assert!(duplicate.is_err(), "a live branch is refused");
    assert_eq!(kinds(&out), ["transmit"], "and adds nothing");
    let response = NOTIFY_200.replace("z9hG4bKnotify1", branch);
    let input = || Input::Received {
        msg: msg(&response),
        from: PEER,
        reliable: UDP,
    };
    h.layer.handle_into(input(), h.at(10), &mut out);
    assert_eq!(kinds(&out), ["transmit", "response"]);
    match &out[1] {
        Output::Response { key: k, resp } => assert_eq!((k, resp.status), (&key, 200)),
        other => panic!("{other:?}"),
    }
    // A retransmitted 200 is absorbed in Completed: nothing is appended.
    h.layer.handle_into(input(), h.at(20), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(h.layer.state(&key), Some(State::Completed));
    // A request of the general entry point with the branch of a completed
    // transaction is still a duplicate until Timer K.
    let again = request(&NOTIFY.replace("z9hG4bKnotify1", branch));
    assert!(matches!(
        h.layer.send_request(again.clone(), PEER, UDP, h.at(30)),
        Err(TransactionError::Duplicate(_))
    ));
    let ended = h.layer.handle_timeout(h.at(10 + 5_000));
    assert_eq!(kinds(&ended), ["terminated"]);
    assert!(h.layer.send_request(again, PEER, UDP, h.at(5_011)).is_ok());
}
