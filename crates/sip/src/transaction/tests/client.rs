//! Client transactions: timers A, B, D, M (INVITE) and E, F, K
//! (non-INVITE), the ACK of non-2xx responses and RFC 6026's Accepted.

use std::time::Duration;

use super::*;

const INVITE_LINE: &str = "INVITE sip:carol@192.0.2.20:5060 SIP/2.0";
const NOTIFY_LINE: &str = "NOTIFY sip:alice@192.0.2.10:5060 SIP/2.0";

#[test]
fn timer_a_doubles_from_t1_until_timer_b() {
    let mut h = Harness::new();
    let (key, out) = h.send(INVITE_OUT, UDP, 0);
    assert_eq!(sent_lines(&out), [INVITE_LINE]);
    assert_eq!(h.state(&key), Some(State::Calling));
    assert_eq!(h.layer.poll_timeout(), Some(h.at(500)));

    let log = h.run_until(100_000);
    // §17.1.1.2: T1, 2*T1, 4*T1, ... with no cap; Timer B at 64*T1.
    assert_eq!(
        times(&log, "transmit"),
        [500, 1_500, 3_500, 7_500, 15_500, 31_500]
    );
    assert!(log
        .iter()
        .filter(|(_, o)| kind(o) == "transmit")
        .all(|(_, o)| wire(o) == wire(&out[0])));
    assert_eq!(times(&log, "timeout"), [32_000]);
    assert_eq!(times(&log, "terminated"), [32_000]);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn timer_b_alone_on_reliable_transport() {
    let mut h = Harness::new();
    let (key, out) = h.send(INVITE_OUT, TCP, 0);
    assert_eq!(kinds(&out), ["transmit"]);
    assert_eq!(h.layer.poll_timeout(), Some(h.at(32_000)));
    let log = h.run_until(100_000);
    assert_eq!(
        kinds(&log.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>()),
        ["timeout", "terminated"]
    );
    assert_eq!(times(&log, "timeout"), [32_000]);
    assert_eq!(h.state(&key), None);
}

#[test]
fn provisional_response_stops_timers_a_and_b() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, UDP, 0);
    assert_eq!(times(&h.run_until(600), "transmit"), [500]);
    let out = h.recv(&invite_out_response("180 Ringing", "callee-9"), UDP, 600);
    assert_eq!(kinds(&out), ["response"]);
    assert_eq!(h.state(&key), Some(State::Proceeding));
    // Only the TU (with a CANCEL) ends the wait now (Figure 5).
    assert_eq!(h.layer.poll_timeout(), None);
    assert!(h.run_until(200_000).is_empty());
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn non_2xx_final_is_acked_by_the_transaction() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, UDP, 0);
    h.recv(&invite_out_response("180 Ringing", "callee-9"), UDP, 100);
    let busy = invite_out_response("486 Busy Here", "callee-9");

    let out = h.recv(&busy, UDP, 2_000);
    assert_eq!(kinds(&out), ["transmit", "response"]);
    assert_eq!(wire(&out[0]), ACK_OUT);
    assert!(
        matches!(&out[1], Output::Response { key: k, resp } if *k == key && resp.status == 486)
    );
    assert_eq!(h.state(&key), Some(State::Completed));

    // A retransmitted 486 gets the same ACK and is not passed up again.
    let again = h.recv(&busy, UDP, 2_500);
    assert_eq!(kinds(&again), ["transmit"]);
    assert_eq!(wire(&again[0]), ACK_OUT);

    // Timer D: 32 s on UDP.
    let log = h.run_until(100_000);
    assert_eq!(times(&log, "terminated"), [34_000]);
    assert!(times(&log, "transmit").is_empty());
}

#[test]
fn ack_for_final_in_calling_state() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, UDP, 0);
    let out = h.recv(&invite_out_response("486 Busy Here", "callee-9"), UDP, 300);
    assert_eq!(kinds(&out), ["transmit", "response"]);
    assert_eq!(wire(&out[0]), ACK_OUT);
    // Timer A is gone with Calling: only Timer D is left.
    assert_eq!(h.layer.poll_timeout(), Some(h.at(32_300)));
    assert_eq!(h.state(&key), Some(State::Completed));
}

#[test]
fn timer_d_is_zero_on_reliable_transport() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, TCP, 0);
    let out = h.recv(&invite_out_response("486 Busy Here", "callee-9"), TCP, 300);
    assert_eq!(kinds(&out), ["transmit", "response", "terminated"]);
    assert_eq!(wire(&out[0]), ACK_OUT);
    assert_eq!(h.state(&key), None);
    assert!(h.layer.is_empty());
}

#[test]
fn timer_d_covers_timer_h_when_t1_is_long() {
    let mut h = Harness::with(Config {
        t1: Duration::from_secs(1),
        ..Config::default()
    });
    h.send(INVITE_OUT, UDP, 0);
    h.recv(&invite_out_response("603 Decline", "callee-9"), UDP, 0);
    assert_eq!(times(&h.run_until(200_000), "terminated"), [64_000]);
}

#[test]
fn accepted_passes_every_2xx_up_until_timer_m() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, UDP, 0);
    h.run_until(1_000);
    let ok = invite_out_response("200 OK", "callee-9");

    // RFC 6026 §7.2: the 2xx goes up, the transaction sends no ACK.
    let out = h.recv(&ok, UDP, 1_000);
    assert_eq!(kinds(&out), ["response"]);
    assert_eq!(h.state(&key), Some(State::Accepted));
    // Retransmissions, and another fork's 2xx, go up too: the TU ACKs each.
    assert_eq!(kinds(&h.recv(&ok, UDP, 1_500)), ["response"]);
    let fork = h.recv(&invite_out_response("200 OK", "callee-other"), UDP, 1_600);
    assert!(matches!(&fork[..], [Output::Response { resp, .. }] if resp.status == 200));
    // Anything else is late and absorbed.
    assert!(h
        .recv(&invite_out_response("486 Busy Here", "x"), UDP, 1_700)
        .is_empty());
    assert!(h
        .recv(&invite_out_response("180 Ringing", "x"), UDP, 1_800)
        .is_empty());

    // Timer M: 64*T1 after the first 2xx; no retransmission meanwhile.
    let log = h.run_until(100_000);
    assert_eq!(times(&log, "terminated"), [33_000]);
    assert!(times(&log, "transmit").is_empty());
    // After that a 2xx is a stray, for the TU to judge (RFC 6026 §7.2).
    assert_eq!(kinds(&h.recv(&ok, UDP, 40_000)), ["stray"]);
}

#[test]
fn timer_m_is_64_t1_on_reliable_transport_too() {
    let mut h = Harness::new();
    let (key, _) = h.send(INVITE_OUT, TCP, 0);
    assert_eq!(
        kinds(&h.recv(&invite_out_response("200 OK", "callee-9"), TCP, 10)),
        ["response"]
    );
    assert_eq!(h.state(&key), Some(State::Accepted));
    assert_eq!(times(&h.run_until(100_000), "terminated"), [32_010]);
}

#[test]
fn timer_e_doubles_up_to_t2_until_timer_f() {
    let mut h = Harness::new();
    let (key, out) = h.send(NOTIFY, UDP, 0);
    assert_eq!(sent_lines(&out), [NOTIFY_LINE]);
    assert_eq!(h.state(&key), Some(State::Trying));
    let log = h.run_until(100_000);
    // §17.1.2.2: T1, 2*T1, 4*T1, then every T2 (4 s); Timer F at 64*T1.
    assert_eq!(
        times(&log, "transmit"),
        [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(times(&log, "timeout"), [32_000]);
    assert_eq!(times(&log, "terminated"), [32_000]);
    assert!(h.layer.is_empty());
}

#[test]
fn timer_e_cap_follows_configured_t2() {
    let config = Config {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(300),
        ..Config::default()
    };
    let mut h = Harness::with(config);
    h.send(NOTIFY, UDP, 0);
    let log = h.run_until(1_600);
    assert_eq!(times(&log, "transmit"), [100, 300, 600, 900, 1_200, 1_500]);
    assert_eq!(times(&h.run_until(10_000), "timeout"), [6_400]);
}

#[test]
fn timer_e_is_t2_in_proceeding() {
    let mut h = Harness::new();
    let (key, _) = h.send(NOTIFY, UDP, 0);
    assert_eq!(times(&h.run_until(600), "transmit"), [500]);
    let out = h.recv(NOTIFY_100, UDP, 600);
    assert_eq!(kinds(&out), ["response"]);
    assert_eq!(h.state(&key), Some(State::Proceeding));
    let log = h.run_until(100_000);
    // The E armed in Trying (due at 1.5 s) fires; from then on every T2.
    assert_eq!(
        times(&log, "transmit"),
        [1_500, 5_500, 9_500, 13_500, 17_500, 21_500, 25_500, 29_500]
    );
    // Timer F still bounds the whole transaction.
    assert_eq!(times(&log, "timeout"), [32_000]);
}

#[test]
fn no_retransmission_on_reliable_transport() {
    let mut h = Harness::new();
    h.send(NOTIFY, TCP, 0);
    let log = h.run_until(100_000);
    assert!(times(&log, "transmit").is_empty());
    assert_eq!(times(&log, "timeout"), [32_000]);
}

#[test]
fn timer_k_absorbs_retransmitted_finals() {
    let mut h = Harness::new();
    let (key, _) = h.send(NOTIFY, UDP, 0);
    h.run_until(700);
    let out = h.recv(NOTIFY_200, UDP, 700);
    assert!(
        matches!(&out[..], [Output::Response { key: k, resp }] if *k == key && resp.status == 200)
    );
    assert_eq!(h.state(&key), Some(State::Completed));
    assert!(h.recv(NOTIFY_200, UDP, 800).is_empty());
    let log = h.run_until(100_000);
    // Timer K: T4 = 5 s; no retransmission of the request meanwhile.
    assert_eq!(times(&log, "terminated"), [5_700]);
    assert!(times(&log, "transmit").is_empty());
}

#[test]
fn timer_k_is_zero_on_reliable_transport() {
    let mut h = Harness::new();
    let (key, _) = h.send(NOTIFY, TCP, 0);
    assert_eq!(kinds(&h.recv(NOTIFY_100, TCP, 10)), ["response"]);
    assert_eq!(
        kinds(&h.recv(NOTIFY_200, TCP, 20)),
        ["response", "terminated"]
    );
    assert_eq!(h.state(&key), None);
    assert!(h.layer.is_empty());
}

#[test]
fn timer_f_without_any_response_reports_timeout_then_terminated() {
    let mut h = Harness::new();
    let (key, _) = h.send(NOTIFY, UDP, 0);
    let out = h.layer.handle_timeout(h.at(32_000));
    let tail: Vec<_> = out
        .iter()
        .filter(|o| kind(o) != "transmit")
        .cloned()
        .collect();
    assert_eq!(
        tail,
        [
            Output::Timeout { key: key.clone() },
            Output::Terminated { key }
        ]
    );
    // A single late wake-up fires only the ending timer, not a retransmission.
    assert_eq!(kinds(&out), ["timeout", "terminated"]);
}
