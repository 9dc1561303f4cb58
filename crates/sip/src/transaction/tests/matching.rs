//! Matching (RFC 3261 §17.1.3, §17.2.3): branch + sent-by + method, ACK
//! with its INVITE, CANCEL on its own, the RFC 2543 fallback, and client
//! responses by branch + CSeq method.

use super::*;
use crate::method::Method;
use crate::transaction::Role;

#[test]
fn ack_joins_its_invite_and_cancel_is_its_own_transaction() {
    let mut h = Harness::new();
    let invite = h.recv_new(INVITE_IN, UDP, 0);
    let cancel = h.recv_new(CANCEL_IN, UDP, 50);
    assert_ne!(invite, cancel);
    assert_eq!(invite.method(), &Method::Invite);
    assert_eq!(cancel.method(), &Method::Cancel);
    assert_eq!(invite.role(), Role::Server);
    assert_eq!(invite.branch(), cancel.branch());
    // §9.2: the TU finds the INVITE, answers the CANCEL, then the INVITE.
    assert_eq!(
        h.layer.find_invite_for_cancel(&request(CANCEL_IN)),
        Some(invite.clone())
    );
    assert_eq!(h.layer.find_invite_for_cancel(&request(INVITE_IN)), None);
    assert_eq!(
        sent_lines(&h.respond(&cancel, answer(CANCEL_IN, 200), 60)),
        ["SIP/2.0 200 OK"]
    );
    assert_eq!(
        sent_lines(&h.respond(&invite, answer(INVITE_IN, 487), 60)),
        ["SIP/2.0 487 Request Terminated"]
    );
    // A retransmitted CANCEL gets its 200 again, not the INVITE's 487.
    assert_eq!(sent_lines(&h.recv(CANCEL_IN, UDP, 100)), ["SIP/2.0 200 OK"]);
    // The ACK (same branch, method ACK) belongs to the INVITE.
    assert!(h.recv(ACK_IN, UDP, 120).is_empty());
    assert_eq!(h.state(&invite), Some(State::Confirmed));
    assert_eq!(h.state(&cancel), Some(State::Completed));
}

#[test]
fn cancel_for_an_unknown_invite_finds_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.layer.find_invite_for_cancel(&request(CANCEL_IN)), None);
    // The CANCEL is still a transaction of its own, for the TU to 481.
    assert_eq!(kinds(&h.recv(CANCEL_IN, UDP, 0)), ["request"]);
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let mut h = Harness::new();
    let first = h.recv_new(SUBSCRIBE, UDP, 0);
    let other = SUBSCRIBE.replace("192.0.2.10:5060;branch", "192.0.2.11:5060;branch");
    let second = h.recv_new(&other, UDP, 10);
    assert_ne!(first, second);
    assert_eq!(h.layer.len(), 2);
}

#[test]
fn branch_and_sent_by_compare_case_insensitively() {
    let mut h = Harness::new();
    h.recv_new(SUBSCRIBE, UDP, 0);
    // Tokens are case-insensitive (§7.3.1); so are host names.
    let shouting = SUBSCRIBE.replace("branch=z9hG4bKsub1", "branch=z9hG4bKSUB1");
    assert!(h.recv(&shouting, UDP, 10).is_empty());
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn same_branch_other_method_is_another_transaction() {
    let mut h = Harness::new();
    h.recv_new(SUBSCRIBE, UDP, 0);
    let options = SUBSCRIBE
        .replace("SUBSCRIBE sip:", "OPTIONS sip:")
        .replace("1 SUBSCRIBE", "1 OPTIONS");
    assert_eq!(kinds(&h.recv(&options, UDP, 10)), ["request"]);
}

#[test]
fn ack_matching_no_invite_is_a_stray() {
    let mut h = Harness::new();
    let out = h.recv(ACK_IN, UDP, 0);
    assert_eq!(kinds(&out), ["stray"]);
    assert!(h.layer.is_empty());
}

/// An RFC 2543 INVITE: its branch lacks the magic cookie.
const INVITE_2543: &str = "INVITE sip:room1@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.40:5060;branch=1234abcd
Max-Forwards: 70
From: <sip:erin@example.com>;tag=e1
To: <sip:room1@example.com>
Call-ID: old543@192.0.2.40
CSeq: 2 INVITE
Content-Length: 0

";

/// Its ACK, carrying the To tag of our final response.
const ACK_2543: &str = "ACK sip:room1@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.40:5060;branch=1234abcd
Max-Forwards: 70
From: <sip:erin@example.com>;tag=e1
To: <sip:room1@example.com>;tag=srv-tag
Call-ID: old543@192.0.2.40
CSeq: 2 ACK
Content-Length: 0

";

#[test]
fn rfc2543_requests_match_on_dialog_and_cseq() {
    let mut h = Harness::with(Config {
        auto_100_trying: false,
        ..Config::default()
    });
    let key = h.recv_new(INVITE_2543, UDP, 0);
    assert_eq!(key.branch(), None);
    // A retransmission is recognised without a usable branch.
    assert!(h.recv(INVITE_2543, UDP, 500).is_empty());
    // Any identifying field that differs makes it another request.
    for (from, to) in [
        ("Call-ID: old543@", "Call-ID: new543@"),
        ("CSeq: 2 INVITE", "CSeq: 3 INVITE"),
        ("tag=e1", "tag=e2"),
        ("INVITE sip:room1@", "INVITE sip:room2@"),
        (
            "To: <sip:room1@example.com>",
            "To: <sip:room1@example.com>;tag=dialog",
        ),
        ("192.0.2.40:5060", "192.0.2.41:5060"),
    ] {
        let other = INVITE_2543.replace(from, to);
        assert_eq!(kinds(&h.recv(&other, UDP, 600)), ["request"], "{to}");
    }
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_of_our_response() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_2543, UDP, 0);
    h.respond(&key, answer(INVITE_2543, 486), 10);
    // An ACK with another To tag acknowledges some other response.
    let wrong = ACK_2543.replace("tag=srv-tag", "tag=nope");
    assert_eq!(kinds(&h.recv(&wrong, UDP, 100)), ["stray"]);
    assert_eq!(h.state(&key), Some(State::Completed));
    assert!(h.recv(ACK_2543, UDP, 200).is_empty());
    assert_eq!(h.state(&key), Some(State::Confirmed));
}

#[test]
fn rfc2543_invite_without_branch_and_its_cancel() {
    let mut h = Harness::new();
    let invite_text = INVITE_2543.replace(";branch=1234abcd", "");
    let key = h.recv_new(&invite_text, UDP, 0);
    let cancel_text = invite_text
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("2 INVITE", "2 CANCEL");
    let cancel = h.recv_new(&cancel_text, UDP, 10);
    assert_ne!(key, cancel);
    assert_eq!(
        h.layer.find_invite_for_cancel(&request(&cancel_text)),
        Some(key)
    );
}

#[test]
fn rfc2543_ack_in_accepted_goes_to_the_tu() {
    let mut h = Harness::new();
    let key = h.recv_new(INVITE_2543, UDP, 0);
    h.respond(&key, answer(INVITE_2543, 200), 10);
    assert_eq!(h.state(&key), Some(State::Accepted));
    // RFC 6026 §7.1: an ACK matching the transaction in Accepted is the
    // TU's; it carries the INVITE's key.
    let out = h.recv(ACK_2543, UDP, 100);
    assert!(
        matches!(&out[..], [Output::Request { key: k, req, .. }] if *k == key && req.method == Method::Ack)
    );
    assert_eq!(h.state(&key), Some(State::Accepted));
}

/// A CANCEL this server sends for [`INVITE_OUT`]: same branch, CSeq CANCEL.
const CANCEL_OUT: &str = "CANCEL sip:carol@192.0.2.20:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKinv1
Route: <sip:proxy1.example.com;lr>
Route: <sip:proxy2.example.com;lr>
Max-Forwards: 70
From: \"Presence\" <sip:presence@example.com>;tag=inv-from
To: <sip:carol@example.com>
Call-ID: call-inv1@198.51.100.1
CSeq: 31 CANCEL
Content-Length: 0

";

#[test]
fn client_responses_match_on_branch_and_cseq_method() {
    let mut h = Harness::new();
    let (invite, _) = h.send(INVITE_OUT, UDP, 0);
    h.recv(&invite_out_response("180 Ringing", "callee-9"), UDP, 100);
    let (cancel, out) = h.send(CANCEL_OUT, UDP, 200);
    assert_eq!(
        sent_lines(&out),
        ["CANCEL sip:carol@192.0.2.20:5060 SIP/2.0"]
    );
    assert_ne!(invite, cancel);
    assert_eq!(cancel.role(), Role::Client);

    let cancel_ok = invite_out_response("200 OK", "callee-9").replace("31 INVITE", "31 CANCEL");
    let out = h.recv(&cancel_ok, UDP, 300);
    assert!(matches!(&out[..], [Output::Response { key, .. }] if *key == cancel));
    assert_eq!(h.state(&invite), Some(State::Proceeding));

    let out = h.recv(
        &invite_out_response("487 Request Terminated", "callee-9"),
        UDP,
        400,
    );
    assert_eq!(kinds(&out), ["transmit", "response"]);
    assert!(matches!(&out[1], Output::Response { key, .. } if *key == invite));
}

#[test]
fn responses_matching_no_client_transaction_are_strays() {
    let mut h = Harness::new();
    h.send(NOTIFY, UDP, 0);
    let other_branch = NOTIFY_200.replace("z9hG4bKnotify1", "z9hG4bKnotify2");
    assert_eq!(kinds(&h.recv(&other_branch, UDP, 10)), ["stray"]);
    let other_method = NOTIFY_200.replace("2 NOTIFY", "2 SUBSCRIBE");
    assert_eq!(kinds(&h.recv(&other_method, UDP, 10)), ["stray"]);
    let no_branch = NOTIFY_200.replace(";branch=z9hG4bKnotify1", "");
    assert_eq!(kinds(&h.recv(&no_branch, UDP, 10)), ["stray"]);
    assert_eq!(kinds(&h.recv(NOTIFY_200, UDP, 10)), ["response",]);
}

#[test]
fn client_and_server_transactions_with_one_branch_stay_apart() {
    let mut h = Harness::new();
    let (client, _) = h.send(NOTIFY, UDP, 0);
    // A peer (or a loop) sends us a request with the very same top Via.
    let server = h.recv_new(NOTIFY, UDP, 10);
    assert_ne!(client, server);
    assert_eq!(h.layer.len(), 2);
    assert_eq!(h.state(&client), Some(State::Trying));
    assert_eq!(h.state(&server), Some(State::Trying));
}
