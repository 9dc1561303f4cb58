//! The subscriber's cases with explicit time: the messages are what
//! Kamailio's presence module sends (its 200 carries Expires and Contact,
//! its NOTIFYs `Subscription-State: active;expires=N`), written out here.

use std::time::{Duration, Instant};

use sip::{HeaderAccess, HeaderName, Request};

use super::upstream::{header, notify, respond};
use super::*;

fn identity(credentials: bool) -> Identity {
    Identity {
        from: Uri::parse_str("sip:presenced@lab.test").unwrap(),
        contact: Uri::parse_str("sip:presenced@127.0.0.1:5070").unwrap(),
        credentials: credentials.then(|| Credentials {
            username: "presenced".to_owned(),
            password: "s3cret".to_owned(),
        }),
    }
}

fn fresh(n: u32) -> Fresh {
    Fresh {
        call_id: format!("call-{n}"),
        local_tag: format!("tag{n}"),
        cnonce: format!("cn{n}"),
    }
}

fn subscriber(credentials: bool) -> Subscriber {
    Subscriber::new(
        Uri::parse_str("sip:alice@lab.test").unwrap(),
        identity(credentials),
        Settings::default(),
    )
}

fn sent(out: &[Output]) -> &Request {
    match out {
        [Output::Send(req)] => req,
        other => panic!("expected one SUBSCRIBE, got {other:?}"),
    }
}

/// A subscription granted `expires` seconds at `t0` with its first
/// NOTIFY taken, and its initial SUBSCRIBE.
fn established(expires: u32, t0: Instant) -> (Subscriber, Request) {
    let mut s = subscriber(false);
    let first = sent(&s.start(&fresh(1))).clone();
    let granted = format!("Expires: {expires}\r\n");
    s.on_response(&respond(&first, 200, &granted), &fresh(9), t0);
    let state = format!("active;expires={expires}");
    assert_eq!(s.on_notify(&notify(&first, 1, &state, PIDF), t0).0, 200);
    (s, first)
}

const PIDF: &str =
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@lab.test\"/>";

#[test]
fn subscribes_refreshes_and_passes_state_on() {
    let t0 = Instant::now();
    let mut s = subscriber(false);
    let out = s.start(&fresh(1));
    let first = sent(&out).clone();
    assert_eq!(first.uri.to_string(), "sip:alice@lab.test");
    assert_eq!(header(&first, HeaderName::Event), "presence");
    assert_eq!(header(&first, HeaderName::Expires), "3600");
    assert_eq!(
        header(&first, HeaderName::From),
        "<sip:presenced@lab.test>;tag=tag1"
    );
    assert_eq!(header(&first, HeaderName::Accept), "application/pidf+xml");

    // Granted less than asked: the refresh follows the grant.
    let ok = respond(
        &first,
        200,
        "Expires: 600\r\nContact: <sip:127.0.0.1:5060;transport=udp>\r\nRecord-Route: <sip:p1.lab.test;lr>, <sip:p2.lab.test;lr>\r\n",
    );
    assert!(s.on_response(&ok, &fresh(9), t0).is_empty());
    let (status, out) = s.on_notify(&notify(&first, 1, "active;expires=600", PIDF), t0);
    assert_eq!(status, 200);
    assert!(
        matches!(&out[..], [Output::Active, Output::State { body, .. }] if body.as_ref() == PIDF.as_bytes()),
        "{out:?}"
    );

    // 10 % early (60 s of 600).
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(540)));
    assert!(s.on_timeout(t0 + Duration::from_secs(539)).is_empty());
    let out = s.on_timeout(t0 + Duration::from_secs(540));
    let refresh = sent(&out).clone();
    // In the dialog: remote target, route set reversed, both tags, CSeq 2.
    assert_eq!(refresh.uri.to_string(), "sip:127.0.0.1:5060;transport=udp");
    let routes: Vec<String> = refresh
        .headers
        .values(HeaderName::Route)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    assert_eq!(routes, ["<sip:p2.lab.test;lr>", "<sip:p1.lab.test;lr>"]);
    assert_eq!(
        header(&refresh, HeaderName::To),
        "<sip:alice@lab.test>;tag=up1"
    );
    assert_eq!(refresh.cseq().unwrap().seq, 2);
    assert_eq!(header(&refresh, HeaderName::CallId), "call-1");
}

#[test]
fn a_notify_before_the_2xx_makes_the_dialog() {
    let t0 = Instant::now();
    let mut s = subscriber(false);
    let first = sent(&s.start(&fresh(1))).clone();
    let (status, out) = s.on_notify(&notify(&first, 1, "pending;expires=3600", ""), t0);
    assert_eq!(status, 200);
    assert_eq!(out, vec![Output::Pending]);
    // The 2xx then arrives; no "no NOTIFY" deadline is armed.
    assert!(s
        .on_response(&respond(&first, 202, "Expires: 3600\r\n"), &fresh(9), t0)
        .is_empty());
    assert!(s
        .on_timeout(t0 + NOTIFY_WAIT + Duration::from_secs(1))
        .is_empty());
    let (status, out) = s.on_notify(&notify(&first, 2, "active;expires=3600", PIDF), t0);
    assert_eq!(status, 200);
    assert!(
        matches!(&out[..], [Output::Active, Output::State { .. }]),
        "{out:?}"
    );
    // Active without a document (nobody publishes for the presentity).
    let (_, out) = s.on_notify(&notify(&first, 3, "active;expires=3600", ""), t0);
    assert_eq!(out, vec![Output::Active]);
}

#[test]
fn no_notify_after_the_2xx_is_a_failure() {
    let t0 = Instant::now();
    let mut s = subscriber(false);
    let first = sent(&s.start(&fresh(1))).clone();
    s.on_response(&respond(&first, 200, "Expires: 3600\r\n"), &fresh(9), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + NOTIFY_WAIT));
    let out = s.on_timeout(t0 + NOTIFY_WAIT);
    assert!(matches!(
        &out[..],
        [Output::Ended(Ending::Failed {
            permanent: false,
            ..
        })]
    ));
    assert!(!s.is_live());
}

#[test]
fn notifies_of_other_dialogs_or_out_of_order_are_refused() {
    let t0 = Instant::now();
    let mut s = subscriber(false);
    let first = sent(&s.start(&fresh(1))).clone();
    s.on_response(&respond(&first, 200, "Expires: 3600\r\n"), &fresh(9), t0);
    assert_eq!(s.on_notify(&notify(&first, 5, "active", PIDF), t0).0, 200);
    assert_eq!(
        s.on_notify(&notify(&first, 5, "active", PIDF), t0).0,
        500,
        "CSeq repeated"
    );
    assert_eq!(
        s.on_notify(&notify(&first, 4, "active", PIDF), t0).0,
        500,
        "CSeq lower"
    );

    let mut other = notify(&first, 6, "active", PIDF);
    other.headers.set(HeaderName::CallId, "another-call");
    assert_eq!(s.on_notify(&other, t0).0, 481);
    let mut wrong_event = notify(&first, 7, "active", PIDF);
    wrong_event.headers.set(HeaderName::Event, "dialog");
    assert_eq!(s.on_notify(&wrong_event, t0).0, 489);
    let mut no_state = notify(&first, 8, "active", PIDF);
    no_state.headers.remove(HeaderName::SubscriptionState);
    assert_eq!(s.on_notify(&no_state, t0).0, 400);
}

#[test]
fn digest_challenges_are_answered_once_per_nonce() {
    let t0 = Instant::now();
    let mut s = subscriber(true);
    let first = sent(&s.start(&fresh(1))).clone();
    let challenge = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"\r\n\
                     WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n";
    let out = s.on_response(&respond(&first, 401, challenge), &fresh(2), t0);
    let answered = sent(&out).clone();
    assert_eq!(
        answered.cseq().unwrap().seq,
        2,
        "a resend takes the next CSeq"
    );
    let auth = Authorization::parse(&header(&answered, HeaderName::Authorization)).unwrap();
    assert_eq!(
        auth.algorithm,
        digest::Algorithm::Sha256,
        "the first supported"
    );
    assert_eq!(auth.cnonce.as_deref(), Some("cn2"));
    let stored = digest::ha1(digest::Algorithm::Sha256, "presenced", "lab.test", "s3cret");
    assert!(auth.verify(
        "SUBSCRIBE",
        b"",
        Secret::Ha1 {
            algorithm: digest::Algorithm::Sha256,
            hex: &stored
        }
    ));

    // Stale: answered again with the new nonce.
    let stale =
        "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n2\", qop=\"auth\", stale=true\r\n";
    let out = s.on_response(&respond(&answered, 401, stale), &fresh(3), t0);
    let again = sent(&out).clone();
    assert_eq!(again.cseq().unwrap().seq, 3);
    // Not stale again: the password is wrong; no loop.
    let refused = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n3\", qop=\"auth\"\r\n";
    let out = s.on_response(&respond(&again, 401, refused), &fresh(4), t0);
    assert!(
        matches!(&out[..], [Output::Ended(Ending::Failed { reason, .. })] if reason.contains("refused the credentials")),
        "{out:?}"
    );
}

#[test]
fn proxy_challenges_get_proxy_authorization_and_no_credentials_fail() {
    let t0 = Instant::now();
    let mut s = subscriber(true);
    let first = sent(&s.start(&fresh(1))).clone();
    let challenge = "Proxy-Authenticate: Digest realm=\"lab.test\", nonce=\"p1\"\r\n";
    let out = s.on_response(&respond(&first, 407, challenge), &fresh(2), t0);
    let answered = sent(&out);
    assert!(answered
        .headers
        .value(HeaderName::ProxyAuthorization)
        .is_some());
    assert!(answered.headers.value(HeaderName::Authorization).is_none());

    let mut anonymous = subscriber(false);
    let first = sent(&anonymous.start(&fresh(1))).clone();
    let out = anonymous.on_response(
        &respond(
            &first,
            401,
            "WWW-Authenticate: Digest realm=\"x\", nonce=\"y\"\r\n",
        ),
        &fresh(2),
        t0,
    );
    assert!(
        matches!(&out[..], [Output::Ended(Ending::Failed { reason, .. })] if reason.contains("no credentials"))
    );
}

#[test]
fn interval_too_brief_is_retried_with_min_expires() {
    let t0 = Instant::now();
    let mut s = Subscriber::new(
        Uri::parse_str("sip:alice@lab.test").unwrap(),
        identity(false),
        Settings {
            expires: 60,
            ..Settings::default()
        },
    );
    let first = sent(&s.start(&fresh(1))).clone();
    let out = s.on_response(
        &respond(&first, 423, "Min-Expires: 1800\r\n"),
        &fresh(2),
        t0,
    );
    let again = sent(&out).clone();
    assert_eq!(header(&again, HeaderName::Expires), "1800");
    let out = s.on_response(
        &respond(&again, 423, "Min-Expires: 3600\r\n"),
        &fresh(3),
        t0,
    );
    assert!(
        matches!(&out[..], [Output::Ended(Ending::Failed { .. })]),
        "once only"
    );
}

#[test]
fn a_lost_dialog_is_restarted_and_failures_carry_retry_after() {
    let t0 = Instant::now();
    let (mut s, first) = established(100, t0);
    let refresh = sent(&s.on_timeout(t0 + Duration::from_secs(90))).clone();
    // The upstream restarted and forgot the dialog.
    let out = s.on_response(&respond(&refresh, 481, ""), &fresh(9), t0);
    assert!(matches!(&out[..], [Output::Ended(Ending::Retry { after, .. })] if after.is_zero()));
    // A new dialog, new Call-ID, CSeq 1.
    let again = sent(&s.start(&fresh(2))).clone();
    assert_eq!(header(&again, HeaderName::CallId), "call-2");
    assert_eq!(again.cseq().unwrap().seq, 1);
    // An overloaded upstream says when to come back.
    let out = s.on_response(&respond(&again, 503, "Retry-After: 120\r\n"), &fresh(9), t0);
    assert!(matches!(
        &out[..],
        [Output::Ended(Ending::Failed { retry_after: Some(d), permanent: false, .. })] if *d == Duration::from_secs(120)
    ));
    // A late response to an older request changes nothing.
    assert!(s
        .on_response(&respond(&first, 200, ""), &fresh(9), t0)
        .is_empty());
}

#[test]
fn a_refresh_timeout_restarts_and_a_lapse_is_caught() {
    let t0 = Instant::now();
    let (mut s, _first) = established(100, t0);
    let refresh = sent(&s.on_timeout(t0 + Duration::from_secs(90))).clone();
    let out = s.on_response(&respond(&refresh, 408, ""), &fresh(9), t0);
    assert!(matches!(&out[..], [Output::Ended(Ending::Retry { .. })]));

    // A refresh whose answer never comes: the expiry ends it.
    let (mut s, _first) = established(100, t0);
    sent(&s.on_timeout(t0 + Duration::from_secs(90)));
    let out = s.on_timeout(t0 + Duration::from_secs(100));
    assert!(matches!(&out[..], [Output::Ended(Ending::Retry { .. })]));
}

#[test]
fn termination_reasons_say_what_to_do() {
    let cases = [
        ("terminated;reason=deactivated", Some(Duration::ZERO), false),
        ("terminated;reason=timeout", Some(Duration::ZERO), false),
        ("terminated", Some(Duration::ZERO), false),
        ("terminated;reason=probation;retry-after=30", None, false),
        ("terminated;reason=giveup;retry-after=60", None, false),
        ("terminated;reason=rejected", None, true),
        ("terminated;reason=noresource", None, true),
        ("terminated;reason=invariant", None, true),
    ];
    let t0 = Instant::now();
    for (state, retry_now, permanent) in cases {
        let mut s = subscriber(false);
        let first = sent(&s.start(&fresh(1))).clone();
        s.on_response(&respond(&first, 200, "Expires: 3600\r\n"), &fresh(9), t0);
        let (status, out) = s.on_notify(&notify(&first, 1, state, ""), t0);
        assert_eq!(status, 200, "{state}");
        match (&out[..], retry_now) {
            ([Output::Ended(Ending::Retry { after, .. })], Some(expected)) => {
                assert_eq!(*after, expected, "{state}")
            }
            (
                [Output::Ended(Ending::Failed {
                    permanent: p,
                    retry_after,
                    ..
                })],
                None,
            ) => {
                assert_eq!(*p, permanent, "{state}");
                if state.contains("retry-after=30") {
                    assert_eq!(*retry_after, Some(Duration::from_secs(30)));
                }
            }
            other => panic!("{state}: {other:?}"),
        }
        assert!(!s.is_live());
    }
}

#[test]
fn unsubscribing_sends_expires_zero_and_ends_on_the_final_notify() {
    let t0 = Instant::now();
    let mut s = subscriber(false);
    let first = sent(&s.start(&fresh(1))).clone();
    s.on_response(&respond(&first, 200, "Expires: 3600\r\n"), &fresh(9), t0);
    s.on_notify(&notify(&first, 1, "active;expires=3600", PIDF), t0);
    let bye = sent(&s.unsubscribe()).clone();
    assert_eq!(header(&bye, HeaderName::Expires), "0");
    assert_eq!(header(&bye, HeaderName::To), "<sip:alice@lab.test>;tag=up1");
    let (status, out) = s.on_notify(&notify(&first, 2, "terminated;reason=timeout", ""), t0);
    assert_eq!(status, 200);
    assert_eq!(out, vec![Output::Ended(Ending::Unsubscribed)]);
    assert_eq!(s.on_notify(&notify(&first, 3, "active", PIDF), t0).0, 481);
}

/// A lost flow (the connection to the upstream closed) ends a live
/// subscription as a 481 would: retry at once, no timers left, its
/// NOTIFYs and late responses no longer taken; an unsubscription under
/// way just ends, and an idle subscriber says nothing.
#[test]
fn a_lost_flow_ends_the_dialog_for_a_new_one() {
    let t0 = Instant::now();
    let (mut s, first) = established(600, t0);
    assert!(s.poll_timeout().is_some());
    let out = s.lost("connection reset");
    assert_eq!(
        out,
        vec![Output::Ended(Ending::Retry {
            after: Duration::ZERO,
            reason: "connection reset".to_owned(),
        })]
    );
    assert!(!s.is_live());
    assert_eq!(s.poll_timeout(), None);
    assert!(s
        .on_response(&respond(&first, 200, "Expires: 600\r\n"), &fresh(2), t0)
        .is_empty());
    assert!(s.lost("again").is_empty(), "idle: nothing more");

    // The next dialog names the new connection's address.
    s.set_contact(Uri::parse_str("sip:127.0.0.1:40123;transport=tcp").unwrap());
    let again = sent(&s.start(&fresh(3))).clone();
    assert_eq!(
        header(&again, HeaderName::Contact),
        "<sip:127.0.0.1:40123;transport=tcp>"
    );

    let (mut s, _) = established(600, t0);
    sent(&s.unsubscribe());
    assert_eq!(
        s.lost("connection closed"),
        vec![Output::Ended(Ending::Unsubscribed)]
    );
}
