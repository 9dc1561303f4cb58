//! Server transactions: timer J and retransmission absorption
//! (non-INVITE); 100 Trying, timers G, H, I and RFC 6026's L (INVITE).

use super::*;

#[test]
fn trying_absorbs_retransmissions_silently() {
    let mut h = Harness::new();
    let key = h.recv_new(SUBSCRIBE, UDP, 0);
    assert_eq!(h.state(&key), Some(State::Trying));
    // §17.2.2: the TU is working on it; nothing to resend yet, nothing new
    // for the TU either.
    assert!(h.recv(SUBSCRIBE, UDP, 500).is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn proceeding_resends_the_last_provisional() {
    let mut h = Harness::new();
    let key = h.recv_new(SUBSCRIBE, UDP, 0);
    let out = h.respond(&key, answer(SUBSCRIBE, 100), 10);
    assert_eq!(sent_lines(&out), ["SIP/2.0 100 Trying"]);
    assert!(matches!(&out[0], Output::Transmit { to, .. } if *to == PEER));
    assert_eq!(h.state(&key), Some(State::Proceeding));
    assert_eq!(
        sent_lines(&h.recv(SUBSCRIBE, UDP, 500)),
        ["SIP/2.0 100 Trying"]
    );
    h.respond(&key, answer(SUBSCRIBE, 183), 600);
    assert_eq!(
        sent_lines(&h.recv(SUBSCRIBE, UDP, 1_500)),
        ["SIP/2.0 183 Session Progress"]
    );
}

#[test]
fn completed_resends_the_final_until_timer_j() {
    let mut h = Harness::new();
    let key = h.recv_new(SUBSCRIBE, UDP, 0);
    let ok = h.respond(&key, answer(SUBSCRIBE, 200), 100);
    assert_eq!(sent_lines(&ok), ["SIP/2.0 200 OK"]);
    assert_eq!(h.state(&key), Some(State::Completed));

    let again = h.recv(SUBSCRIBE, UDP, 600);
    assert_eq!(kinds(&again), ["transmit"]);
    assert_eq!(wire(&again[0]), wire(&ok[0]));
    // §17.2.2: further finals from the TU are discarded.
    assert!(h.respond(&key, answer(SUBSCRIBE, 500), 700).is_empty());

    // Timer J: 64*T1 on UDP; the server itself never retransmits.
    let log = h.run_until(100_000);
    assert_eq!(times(&log, "terminated"), [32_100]);
    assert!(times(&log, "transmit").is_empty());
    // After J a retransmission would be a new request.
    assert_eq!(kinds(&h.recv(SUBSCRIBE, UDP, 40_000)), ["request"]);
}

#[test]
fn timer_j_is_zero_on_reliable_transport() {
    let mut h = Harness::new();
    let key = h.recv_new(SUBSCRIBE, TCP, 0);
    let out = h.respond(&key, answer(SUBSCRIBE, 202), 100);
    assert_eq!(kinds(&out), ["transmit", "terminated"]);
    assert!(h.layer.is_empty());
}

const TRYING_LINE: &str = "SIP/2.0 100 Trying";

#[test]
fn invite_gets_100_trying_after_200ms_of_tu_silence() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    assert_eq!(h.state(&key), Some(State::Proceeding));
    assert_eq!(h.layer.poll_timeout(), Some(h.at(200)));
    let log = h.run_until(1_000);
    assert_eq!(times(&log, "transmit"), [200]);
    let trying = wire(&log[0].1);
    assert!(trying.starts_with(TRYING_LINE));
    // §8.2.6.1: Timestamp copied; a 100 adds no To tag.
    assert!(trying.contains("\r\nTimestamp: 54\r\n"));
    assert!(trying.contains("\r\nTo: <sip:room1@example.com>\r\n"));
    // A retransmitted INVITE gets the 100 again.
    assert_eq!(sent_lines(&h.recv(INVITE_IN, UDP, 500)), [TRYING_LINE]);
}

#[test]
fn no_100_trying_when_the_tu_answers_within_200ms() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    assert_eq!(
        sent_lines(&h.respond(&key, answer(INVITE_IN, 180), 150)),
        ["SIP/2.0 180 Ringing"]
    );
    assert!(h.run_until(10_000).is_empty());
    assert_eq!(
        sent_lines(&h.recv(INVITE_IN, UDP, 10_000)),
        ["SIP/2.0 180 Ringing"]
    );
}

#[test]
fn invite_retransmission_gets_100_trying_at_once() {
    let mut h = Harness::new();
    h.recv_new(INVITE_IN, UDP, 0);
    assert_eq!(sent_lines(&h.recv(INVITE_IN, UDP, 100)), [TRYING_LINE]);
    assert!(h.run_until(10_000).is_empty());
}

#[test]
fn automatic_100_trying_can_be_turned_off() {
    let mut h = Harness::with(Config {
        auto_100_trying: false,
        ..Config::default()
    });
    h.recv_new(INVITE_IN, UDP, 0);
    assert_eq!(h.layer.poll_timeout(), None);
    assert!(h.recv(INVITE_IN, UDP, 500).is_empty());
    assert!(h.run_until(10_000).is_empty());
}

#[test]
fn timer_g_doubles_up_to_t2_until_timer_h() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    let busy = h.respond(&key, answer(INVITE_IN, 486), 0);
    assert_eq!(sent_lines(&busy), ["SIP/2.0 486 Busy Here"]);
    assert_eq!(h.state(&key), Some(State::Completed));
    let log = h.run_until(100_000);
    // §17.2.1: T1, 2*T1, 4*T1, then every T2; Timer H at 64*T1.
    assert_eq!(
        times(&log, "transmit"),
        [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert!(log
        .iter()
        .filter(|(_, o)| kind(o) == "transmit")
        .all(|(_, o)| wire(o) == wire(&busy[0])));
    // Timer H: the ACK never came; the TU is told.
    assert_eq!(times(&log, "timeout"), [32_000]);
    assert_eq!(times(&log, "terminated"), [32_000]);
    assert!(h.layer.is_empty());
}

#[test]
fn no_timer_g_on_reliable_transport_but_timer_h() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, TCP, 0);
    h.respond(&key, answer(INVITE_IN, 404), 50);
    let log = h.run_until(100_000);
    assert!(times(&log, "transmit").is_empty());
    assert_eq!(times(&log, "timeout"), [32_050]);
}

#[test]
fn completed_resends_the_final_for_a_retransmitted_invite() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    h.respond(&key, answer(INVITE_IN, 180), 10);
    let busy = h.respond(&key, answer(INVITE_IN, 486), 20);
    let again = h.recv(INVITE_IN, UDP, 300);
    assert_eq!(kinds(&again), ["transmit"]);
    assert_eq!(wire(&again[0]), wire(&busy[0]));
    // The final response is final: the TU cannot change its mind.
    assert!(h.respond(&key, answer(INVITE_IN, 200), 400).is_empty());
    assert!(h.respond(&key, answer(INVITE_IN, 180), 400).is_empty());
}

#[test]
fn ack_confirms_and_timer_i_absorbs_the_rest() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    h.respond(&key, answer(INVITE_IN, 486), 0);
    assert_eq!(times(&h.run_until(600), "transmit"), [500]);
    // The ACK is part of the transaction: absorbed, Timer G stops.
    assert!(h.recv(ACK_IN, UDP, 1_000).is_empty());
    assert_eq!(h.state(&key), Some(State::Confirmed));
    assert!(h.recv(ACK_IN, UDP, 1_100).is_empty());
    assert!(h.recv(INVITE_IN, UDP, 1_200).is_empty());
    let log = h.run_until(100_000);
    assert!(times(&log, "transmit").is_empty());
    // Timer I: T4 = 5 s.
    assert_eq!(times(&log, "terminated"), [6_000]);
    assert!(times(&log, "timeout").is_empty());
}

#[test]
fn timer_i_is_zero_on_reliable_transport() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, TCP, 0);
    h.respond(&key, answer(INVITE_IN, 486), 0);
    assert_eq!(kinds(&h.recv(ACK_IN, TCP, 100)), ["terminated"]);
    assert!(h.layer.is_empty());
}

#[test]
fn accepted_absorbs_invites_and_passes_tu_2xx_until_timer_l() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, UDP, 0);
    let ok = h.respond(&key, answer(INVITE_IN, 200), 100);
    assert_eq!(sent_lines(&ok), ["SIP/2.0 200 OK"]);
    assert_eq!(h.state(&key), Some(State::Accepted));
    // RFC 6026 §7.1: a retransmitted INVITE is not a new request...
    assert!(h.recv(INVITE_IN, UDP, 600).is_empty());
    // ...the TU retransmits its 2xx itself, through the transaction...
    assert_eq!(
        sent_lines(&h.respond(&key, answer(INVITE_IN, 200), 600)),
        ["SIP/2.0 200 OK"]
    );
    // ...and no longer sends anything else.
    assert!(h.respond(&key, answer(INVITE_IN, 486), 700).is_empty());
    // The ACK for the 2xx has its own branch: the TU's (as a stray).
    let ack = h.recv(ACK_2XX_IN, UDP, 800);
    assert!(
        matches!(&ack[..], [Output::Stray { msg, from }] if matches!(&**msg, Message::Request(r) if r.method == crate::Method::Ack) && *from == PEER)
    );
    // Timer L: 64*T1; the transaction never retransmits a 2xx itself.
    let log = h.run_until(100_000);
    assert!(times(&log, "transmit").is_empty());
    assert_eq!(times(&log, "terminated"), [32_100]);
}

#[test]
fn timer_l_is_64_t1_on_reliable_transport_too() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_IN, TCP, 0);
    assert_eq!(
        kinds(&h.respond(&key, answer(INVITE_IN, 200), 0)),
        ["transmit"]
    );
    assert_eq!(times(&h.run_until(100_000), "terminated"), [32_000]);
}
