//! What the core answers on its own, seen from a client on the wire:
//! OPTIONS 200 with Allow, 400 naming the broken header, 405, 501, 420,
//! 481, 489 and the application's answer, plus retransmission handling.

mod common;

use std::time::Duration;

use common::{header, reason, request, response, udp_client, udp_exchange, udp_recv, Presenced};
use sip::{HeaderAccess, HeaderName};

fn server() -> Presenced {
    Presenced::start(&["--listen", "udp:127.0.0.1:0"], 1)
}

async fn ask(server: &Presenced, text: &str) -> sip::Response {
    let addr = server.addr("udp", false);
    let socket = udp_client(addr).await;
    let local = socket.local_addr().unwrap();
    let text = text.replace("LOCAL", &local.to_string());
    response(&udp_exchange(&socket, addr, text.as_bytes()).await)
}

async fn ask_method(server: &Presenced, method: &str, branch: &str, extra: &str) -> sip::Response {
    let addr = server.addr("udp", false);
    let socket = udp_client(addr).await;
    let text = request(method, "UDP", socket.local_addr().unwrap(), branch, extra);
    response(&udp_exchange(&socket, addr, text.as_bytes()).await)
}

#[tokio::test]
async fn options_gets_200_with_allow_accept_and_events() {
    let s = server();
    let r = ask_method(&s, "OPTIONS", "opt1", "Accept: application/sdp\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, HeaderName::Allow),
        "OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, ACK, CANCEL, BYE, SERVICE"
    );
    assert_eq!(
        header(&r, HeaderName::Accept),
        "application/pidf+xml, application/msrtc-category-publish+xml, application/msrtc-setcontainermembers+xml, application/msrtc-presence-setsubscriber+xml, application/SOAP+xml"
    );
    assert_eq!(
        header(&r, HeaderName::AllowEvents),
        "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
    );
    assert!(
        r.header_to().unwrap().tag().is_some(),
        "a 200 carries a To tag"
    );
    // RFC 3581: the client asked for rport, so it learns its source port.
    let via = r.top_via().unwrap();
    assert_eq!(via.params.value("received").unwrap(), "127.0.0.1");
    assert!(via.rport().unwrap().is_some());
}

#[tokio::test]
async fn unparsable_request_gets_400_naming_the_header() {
    let s = server();
    let text = "SUBSCRIBE sip:presenced@127.0.0.1 SIP/2.0\r\n\
                Via: SIP/2.0/UDP LOCAL;branch=z9hG4bKbad1;rport\r\n\
                From: <sip:alice@example.com>;tag=1\r\n\
                To: <sip:presenced@example.com>\r\n\
                Call-ID: bad1@test\r\n\
                CSeq: 1 SUBSCRIBE\r\n\
                Event: presence\r\n\
                Expires: soon\r\n\
                Content-Length: 0\r\n\r\n";
    let r = ask(&s, text).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        reason(&r),
        "Bad Expires header: value is not a number in range"
    );
    s.wait_for_log(&[
        "dropped message",
        "transport=udp",
        "reason=bad Expires header: value is not a number",
        "answered=400",
    ]);
}

#[tokio::test]
async fn invite_gets_405_with_allow_retransmitted_until_acked() {
    let s = server();
    let addr = s.addr("udp", false);
    let socket = udp_client(addr).await;
    let local = socket.local_addr().unwrap();
    let invite = request("INVITE", "UDP", local, "inv1", "");
    let first = udp_exchange(&socket, addr, invite.as_bytes()).await;
    let r = response(&first);
    assert_eq!(r.status, 405);
    assert!(header(&r, HeaderName::Allow).contains("SUBSCRIBE"));
    // Timer G (T1 = 500 ms): the core wakes for the layer's timer and the
    // final response is retransmitted, byte for byte, until the ACK comes.
    assert_eq!(udp_recv(&socket).await, first);
    let to = header(&r, HeaderName::To);
    let ack = request("ACK", "UDP", local, "inv1", "")
        .replace("To: <sip:presenced@example.com>", &format!("To: {to}"));
    socket.send_to(ack.as_bytes(), addr).await.unwrap();
    let mut buf = [0u8; 2048];
    let late = tokio::time::timeout(Duration::from_millis(1500), socket.recv_from(&mut buf)).await;
    if let Ok(Ok((n, _))) = late {
        // One retransmission may have crossed the ACK on the wire.
        assert_eq!(&buf[..n], &first[..]);
        let again =
            tokio::time::timeout(Duration::from_millis(2500), socket.recv_from(&mut buf)).await;
        assert!(again.is_err(), "405 still retransmitted after the ACK");
    }
}

#[tokio::test]
async fn unknown_method_gets_501() {
    let s = server();
    let r = ask_method(&s, "FROBNICATE", "frob1", "").await;
    assert_eq!(r.status, 501);
}

#[tokio::test]
async fn require_with_unknown_tag_gets_420_with_unsupported() {
    let s = server();
    let r = ask_method(&s, "OPTIONS", "req1", "Require: foo\r\n").await;
    assert_eq!(r.status, 420);
    assert_eq!(header(&r, HeaderName::Unsupported), "foo");
}

#[tokio::test]
async fn in_dialog_request_without_dialog_gets_481() {
    let s = server();
    let r = ask_method(&s, "SUBSCRIBE", "dlg1", "Event: presence\r\n").await;
    assert_ne!(r.status, 481, "out of dialog is not 481");
    let addr = s.addr("udp", false);
    let socket = udp_client(addr).await;
    let text = request(
        "NOTIFY",
        "UDP",
        socket.local_addr().unwrap(),
        "dlg2",
        "Event: presence\r\nSubscription-State: active\r\n",
    )
    .replace(
        "To: <sip:presenced@example.com>",
        "To: <sip:presenced@example.com>;tag=nosuchdialog",
    );
    let r = response(&udp_exchange(&socket, addr, text.as_bytes()).await);
    assert_eq!(r.status, 481);
}

/// SUBSCRIBE and PUBLISH pass the core's checks and reach the presence
/// engine, whose answers name what is missing; an unknown package is
/// stopped by the core with the packages it serves.
#[tokio::test]
async fn subscribe_and_publish_reach_the_engine() {
    let s = server();
    let r = ask_method(
        &s,
        "SUBSCRIBE",
        "sub1",
        "Event: presence\r\nExpires: 600\r\n",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(reason(&r).contains("Contact"), "{}", reason(&r));
    let r = ask_method(&s, "PUBLISH", "pub1", "Event: presence\r\nExpires: 600\r\n").await;
    assert_eq!(r.status, 400);
    assert!(reason(&r).to_lowercase().contains("body"), "{}", reason(&r));
    let r = ask_method(&s, "SUBSCRIBE", "sub2", "Event: dialog\r\n").await;
    assert_eq!(r.status, 489);
    assert_eq!(
        header(&r, HeaderName::AllowEvents),
        "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
    );
}

#[tokio::test]
async fn retransmitted_options_is_answered_identically() {
    let s = server();
    let addr = s.addr("udp", false);
    let socket = udp_client(addr).await;
    let text = request("OPTIONS", "UDP", socket.local_addr().unwrap(), "retx1", "");
    let first = udp_exchange(&socket, addr, text.as_bytes()).await;
    let second = udp_exchange(&socket, addr, text.as_bytes()).await;
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second)
    );
    assert_eq!(response(&first).status, 200);
}
