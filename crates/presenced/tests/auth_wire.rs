//! Authentication and publisher rights on the wire, as an attacker tries
//! them: the real binary with `[auth]`, a raw UDP client answering the
//! challenges with `sip::digest` (the same code pjsua2, baresip and
//! linphonec are checked against in interop_auth.rs).
//!
//! What is checked: a request without credentials gets 401 with a
//! SHA-256 then an MD5 challenge; the right password passes (both
//! algorithms); a wrong password gets 403, never 200; a replayed request
//! (same nonce and nc, new branch) is refused and changes nothing; alice's
//! credentials cannot publish bob's presence, register bob or watch as
//! bob; a delegate publishes for the user it was granted; OPTIONS is not
//! challenged; refusals are counted in /metrics and logged.

mod common;

use common::ua::{pidf, unique, value, Dialog, Ua};
use common::{http_get, Presenced};
use sip::digest::{self, Algorithm, Authorization, Challenge, Secret};
use sip::HeaderName;

const REALM: &str = "lab.test";

/// The users' passwords are `pw-<name>`.
fn config() -> String {
    let entry = |name: &str, publish_for: &str| {
        let password = format!("pw-{name}");
        format!(
            "[[auth.users]]\naor = \"sip:{name}@127.0.0.1\"\nha1_sha256 = \"{}\"\nha1_md5 = \"{}\"\npublish_for = [{publish_for}]\n",
            digest::ha1(Algorithm::Sha256, name, REALM, &password),
            digest::ha1(Algorithm::Md5, name, REALM, &password),
        )
    };
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [auth]\nrealm = \"{REALM}\"\n{}{}{}",
        entry("alice", ""),
        entry("bob", ""),
        entry("assistant", "\"sip:alice@127.0.0.1\""),
    )
}

/// `request` (text ending in the empty line and body) with an
/// Authorization answering `challenge` as `user` with `password`.
fn sign(request: &str, challenge: &Challenge, user: &str, password: &str, nc: u32) -> String {
    let line = request.lines().next().expect("request line");
    let mut parts = line.split(' ');
    let method = parts.next().expect("method");
    let uri = parts.next().expect("uri");
    let (head, body) = request.split_once("\r\n\r\n").expect("head and body");
    let auth = Authorization::answer(
        challenge,
        digest::Request {
            method,
            uri,
            body: body.as_bytes(),
        },
        user,
        Secret::Password(password),
        &format!("c{}", unique()),
        nc,
    )
    .expect("answer");
    format!(
        "{head}\r\nAuthorization: {}\r\n\r\n{body}",
        auth.to_header_value()
    )
}

/// The same request with a new Via branch: what a replayer sends so that
/// the transaction layer takes it for a new request.
fn rebranch(request: &str) -> String {
    let at = request.find(";branch=").expect("branch") + ";branch=".len();
    let end = at + request[at..].find(';').expect("rport after branch");
    format!(
        "{}z9hG4bK-replay{}{}",
        &request[..at],
        unique(),
        &request[end..]
    )
}

fn challenges(resp: &sip::Response) -> Vec<Challenge> {
    resp.headers
        .all(HeaderName::WwwAuthenticate)
        .map(|h| Challenge::parse(&String::from_utf8_lossy(&h.value)).expect("challenge"))
        .collect()
}

#[tokio::test]
async fn digest_rights_and_replays_on_the_wire() {
    let server = Presenced::with_config(&config(), 1);
    let addr = server.addr("udp", false);
    let alice = Ua::new(addr, "alice").await;
    let body = pidf(&alice.aor(), "t1", "open", None, "signed in");
    let publish = alice.publish(&Dialog::new(), 1, 60, None, Some(&body));

    // No credentials: 401, SHA-256 offered first, then MD5.
    let resp = alice.send(publish.clone()).await;
    assert_eq!(resp.status, 401);
    let offered = challenges(&resp);
    assert_eq!(
        offered.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    assert!(offered.iter().all(|c| c.realm == REALM && !c.stale));

    // A wrong password: 403, never 200.
    let wrong = sign(&rebranch(&publish), &offered[0], "alice", "guess", 1);
    let resp = alice.send(wrong).await;
    assert_eq!(
        (resp.status, &resp.reason[..]),
        (403, &b"Wrong credentials"[..])
    );

    // The right one passes.
    let signed = sign(&rebranch(&publish), &offered[0], "alice", "pw-alice", 1);
    let resp = alice.send(signed.clone()).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let etag = value(&resp.headers, HeaderName::SipEtag);

    // The same request replayed (same nonce, same nc, a new branch): refused.
    let resp = alice.send(rebranch(&signed)).await;
    assert_eq!(
        (resp.status, &resp.reason[..]),
        (401, &b"Replayed nonce count"[..])
    );

    // The next count with the same nonce passes: a modify with the etag.
    let modify = alice.publish(&Dialog::new(), 2, 60, Some(&etag), Some(&body));
    let resp = alice
        .send(sign(&modify, &offered[0], "alice", "pw-alice", 2))
        .await;
    assert_eq!(resp.status, 200);

    // MD5, for clients that know nothing else.
    let md5 = alice.publish(&Dialog::new(), 1, 60, None, Some(&body));
    let resp = alice.send(md5.clone()).await;
    let md5_challenge = &challenges(&resp)[1];
    let resp = alice
        .send(sign(&rebranch(&md5), md5_challenge, "alice", "pw-alice", 1))
        .await;
    assert_eq!(resp.status, 200);

    // Alice's credentials cannot publish bob's presence.
    let as_bob = format!(
        "{}Event: presence\r\nExpires: 60\r\nContent-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{}",
        alice.head("PUBLISH", "sip:bob@127.0.0.1", &Dialog::new(), 1),
        body.len(),
        body
    );
    let resp = alice
        .send(sign(&as_bob, &offered[0], "alice", "pw-alice", 3))
        .await;
    assert_eq!(
        (resp.status, &resp.reason[..]),
        (403, &b"Not allowed to publish for this presentity"[..])
    );

    // ... nor register bob.
    let register = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-r{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=r{n}\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: r{n}\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:{port}>\r\nExpires: 60\r\n\
         Content-Length: 0\r\n\r\n",
        port = alice.port(),
        n = unique()
    );
    assert_eq!(alice.send(register.clone()).await.status, 401);
    let resp = alice
        .send(sign(
            &rebranch(&register),
            &offered[0],
            "alice",
            "pw-alice",
            4,
        ))
        .await;
    assert_eq!(
        (resp.status, &resp.reason[..]),
        (403, &b"Not allowed to register this address"[..])
    );

    // ... nor watch as bob (the From must be the signed-in user).
    let watcher = Ua::new(addr, "bob").await;
    let subscribe = watcher.subscribe("sip:alice@127.0.0.1", &Dialog::new(), 1, 60, "");
    let resp = watcher
        .send(sign(&subscribe, &offered[0], "alice", "pw-alice", 5))
        .await;
    assert_eq!(
        (resp.status, &resp.reason[..]),
        (403, &b"From is not the authenticated user"[..])
    );
    // Bob as himself may.
    let subscribe = watcher.subscribe("sip:alice@127.0.0.1", &Dialog::new(), 1, 60, "");
    let bob_challenge = &challenges(&watcher.send(subscribe.clone()).await)[0];
    let resp = watcher
        .send(sign(
            &rebranch(&subscribe),
            bob_challenge,
            "bob",
            "pw-bob",
            1,
        ))
        .await;
    assert_eq!(resp.status, 200);

    // A delegate publishes for the user it was granted.
    let assistant = Ua::new(addr, "assistant").await;
    let for_alice = format!(
        "{}Event: presence\r\nExpires: 60\r\nContent-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{}",
        assistant.head("PUBLISH", "sip:alice@127.0.0.1", &Dialog::new(), 1),
        body.len(),
        body
    );
    let challenge = &challenges(&assistant.send(for_alice.clone()).await)[0];
    let resp = assistant
        .send(sign(
            &rebranch(&for_alice),
            challenge,
            "assistant",
            "pw-assistant",
            1,
        ))
        .await;
    assert_eq!(resp.status, 200);

    // OPTIONS is the endpoint's: not challenged.
    let options = format!(
        "{}Content-Length: 0\r\n\r\n",
        alice.head("OPTIONS", "sip:127.0.0.1", &Dialog::new(), 1)
    );
    assert_eq!(alice.send(options).await.status, 200);

    let (_, metrics) = http_get(server.http_addr(), "/metrics");
    assert!(
        metrics.contains("presenced_auth_refusals_total{status=\"403\"} 4"),
        "{metrics}"
    );
    // Each through the one refusal log, by reason (issue 13).
    for reason in [
        "wrong_credentials",
        "replayed_nonce",
        "not_allowed_to_publish",
        "not_allowed_to_register",
        "from_not_authenticated_user",
    ] {
        assert!(
            metrics.contains(&format!(
                "presenced_refusals_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}: {metrics}"
        );
    }
    assert!(!metrics.contains("reason=\"challenge\""), "{metrics}");
    server.wait_for_log(&[
        "request refused",
        "reason=\"wrong_credentials\"",
        "wrong password for user alice",
    ]);
}
