//! The authenticator as a client meets it, with explicit time.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sip::digest::{self, Algorithm, Authorization, Challenge, Secret};
use sip::{Header, HeaderName, Request};

use super::rights::authorize;
use super::*;

const REALM: &str = "lab.test";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn settings() -> AuthSettings {
    let user = |name: &str, publish_for: Vec<String>| User {
        aor: format!("sip:{name}@lab.test"),
        username: name.into(),
        ha1_sha256: Some(digest::ha1(Algorithm::Sha256, name, REALM, "secret")),
        ha1_md5: Some(digest::ha1(Algorithm::Md5, name, REALM, "secret")),
        publish_for: Identities::new(publish_for),
    };
    AuthSettings {
        realm: REALM.into(),
        nonce_lifetime: Duration::from_secs(300),
        users: vec![
            user("alice", vec![]),
            user("bob", vec![]),
            user("assistant", vec!["sip:alice@lab.test".into()]),
        ],
        trusted_peers: vec![TrustedPeer {
            name: "cc".into(),
            addresses: vec!["192.0.2.0/24".parse().unwrap()],
            certificate_names: vec!["cc.lab.test".into()],
            may_assert: Identities::new(vec!["sip:alice@lab.test".into()]),
        }],
        algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        md5_only_user_agents: vec!["baresip".into()],
    }
}

fn request(method: &str, target: &str, from: &str, extra: &[(HeaderName, String)]) -> Request {
    let text = format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1\r\n\
         From: <{from}>;tag=1\r\nTo: <{target}>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let sip::Message::Request(mut req) = sip::parse::parse_datagram(Bytes::from(text)).unwrap()
    else {
        panic!("not a request")
    };
    for (name, value) in extra {
        req.headers.push(Header::new(*name, value.clone()));
    }
    req
}

const CLIENT: Origin<'static> = Origin {
    addr: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    certificate_names: &[],
};

/// Answers the challenge at `index` of `refusal` as `user` with `password`.
fn answer(
    refusal: &Refusal,
    index: usize,
    req: &Request,
    user: &str,
    password: &str,
    nc: u32,
) -> Request {
    let challenge = Challenge::parse(&refusal.challenges[index]).unwrap();
    let target = req.uri.to_string();
    let method = req.method.to_string();
    let auth = Authorization::answer(
        &challenge,
        digest::Request {
            method: &method,
            uri: &target,
            body: &req.body,
        },
        user,
        Secret::Password(password),
        "0a4f113b",
        nc,
    )
    .unwrap();
    let mut signed = req.clone();
    signed.headers.push(Header::new(
        HeaderName::Authorization,
        auth.to_header_value(),
    ));
    signed
}

fn publish() -> Request {
    request("PUBLISH", "sip:alice@lab.test", "sip:alice@lab.test", &[])
}

#[test]
fn no_credentials_get_two_challenges_sha256_first() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    assert_eq!((refusal.status, refusal.reason), (401, "Unauthorized"));
    let offered: Vec<Challenge> = refusal
        .challenges
        .iter()
        .map(|c| Challenge::parse(c).unwrap())
        .collect();
    assert_eq!(offered[0].algorithm, Algorithm::Sha256);
    assert_eq!(offered[1].algorithm, Algorithm::Md5);
    assert!(offered
        .iter()
        .all(|c| c.qop == [digest::Qop::Auth] && !c.stale));
    // A plain challenge is routine: neither logged nor counted by reason.
    assert!(refusal.is_routine());
    let resp = refusal.response(&publish(), "t1");
    assert_eq!(resp.headers.all(HeaderName::WwwAuthenticate).count(), 2);
}

#[test]
fn clients_that_cannot_skip_a_challenge_get_md5_alone() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let req = request(
        "PUBLISH",
        "sip:alice@lab.test",
        "sip:alice@lab.test",
        &[(
            HeaderName::UserAgent,
            "baresip v1.0.0 (x86_64/linux)".into(),
        )],
    );
    let refusal = auth.check(&req, CLIENT, at(0)).unwrap_err();
    assert_eq!(refusal.challenges.len(), 1);
    assert_eq!(
        Challenge::parse(&refusal.challenges[0]).unwrap().algorithm,
        Algorithm::Md5
    );
}

#[test]
fn the_right_password_passes_with_either_algorithm() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    for index in [0, 1] {
        let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
        let signed = answer(&refusal, index, &publish(), "alice", "secret", 1);
        let principal = auth.check(&signed, CLIENT, at(1)).unwrap();
        assert_eq!(principal.identity(), "sip:alice@lab.test");
    }
}

#[test]
fn a_wrong_password_or_user_gets_403_never_a_new_challenge() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    let wrong = answer(&refusal, 0, &publish(), "alice", "guess", 1);
    let e = auth.check(&wrong, CLIENT, at(1)).unwrap_err();
    assert_eq!((e.status, e.reason), (403, "Wrong credentials"));
    assert_eq!(e.label, "wrong_credentials");
    assert!(!e.is_routine());
    assert!(e.challenges.is_empty());
    let stranger = answer(&refusal, 0, &publish(), "mallory", "secret", 1);
    assert_eq!(
        auth.check(&stranger, CLIENT, at(1)).unwrap_err().status,
        403
    );
    // The wrong guess used no count: alice's real answer still passes.
    let right = answer(&refusal, 0, &publish(), "alice", "secret", 1);
    assert!(auth.check(&right, CLIENT, at(1)).is_ok());
}

#[test]
fn a_replayed_count_is_challenged_again() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    let signed = answer(&refusal, 0, &publish(), "alice", "secret", 1);
    assert!(auth.check(&signed, CLIENT, at(1)).is_ok());
    let e = auth.check(&signed, CLIENT, at(2)).unwrap_err();
    assert_eq!((e.status, e.reason), (401, "Replayed nonce count"));
    assert_eq!(e.label, "replayed_nonce");
    assert!(!e.is_routine());
    let next = answer(&refusal, 0, &publish(), "alice", "secret", 2);
    assert!(auth.check(&next, CLIENT, at(2)).is_ok());
}

#[test]
fn an_expired_or_foreign_nonce_with_the_right_password_is_stale() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    let signed = answer(&refusal, 0, &publish(), "alice", "secret", 1);
    let e = auth.check(&signed, CLIENT, at(300)).unwrap_err();
    assert_eq!((e.status, e.reason), (401, "Unauthorized"));
    assert!(Challenge::parse(&e.challenges[0]).unwrap().stale);
    // Logged once per source per interval and counted, unlike a first
    // challenge: a client that keeps sending stale nonces is stuck or
    // replaying.
    assert_eq!(e.label, "stale_nonce");
    assert!(!e.is_routine());
    // After a restart (another secret) the old nonce is stale too.
    let mut restarted = Authenticator::new(&settings(), [2; 32]);
    let e = restarted.check(&signed, CLIENT, at(1)).unwrap_err();
    assert!(Challenge::parse(&e.challenges[0]).unwrap().stale);
}

#[test]
fn proxy_credentials_get_407() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let req = request(
        "PUBLISH",
        "sip:alice@lab.test",
        "sip:alice@lab.test",
        &[(HeaderName::ProxyAuthorization, "Digest username=\"alice\", realm=\"other\", nonce=\"x\", uri=\"sip:a\", response=\"00\"".into())],
    );
    let e = auth.check(&req, CLIENT, at(0)).unwrap_err();
    assert_eq!(e.status, 407);
    let resp = e.response(&req, "t");
    assert_eq!(resp.headers.all(HeaderName::ProxyAuthenticate).count(), 2);
}

#[test]
fn a_digest_for_another_uri_is_refused() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    let signed = answer(&refusal, 0, &publish(), "alice", "secret", 1);
    let mut moved = signed.clone();
    moved.uri = sip::Uri::parse_str("sip:bob@lab.test").unwrap();
    assert_eq!(auth.check(&moved, CLIENT, at(1)).unwrap_err().status, 400);
}

fn signed_in(auth: &mut Authenticator, user: &str, req: &Request) -> Principal {
    let refusal = auth.check(req, CLIENT, at(0)).unwrap_err();
    let signed = answer(&refusal, 0, req, user, "secret", 1);
    auth.check(&signed, CLIENT, at(1)).unwrap()
}

#[test]
fn users_publish_only_as_themselves_unless_delegated() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let for_alice = publish();
    let bob = signed_in(&mut auth, "bob", &for_alice);
    let e = authorize(&bob, &for_alice).unwrap_err();
    assert_eq!(
        (e.status, e.reason),
        (403, "Not allowed to publish for this presentity")
    );
    let assistant = signed_in(&mut auth, "assistant", &for_alice);
    assert_eq!(
        authorize(&assistant, &for_alice).unwrap(),
        "sip:alice@lab.test"
    );
    let alice = signed_in(&mut auth, "alice", &for_alice);
    assert!(authorize(&alice, &for_alice).is_ok());
    let register = request("REGISTER", "sip:bob@lab.test", "sip:bob@lab.test", &[]);
    let e = authorize(&alice, &register).unwrap_err();
    assert_eq!(e.reason, "Not allowed to register this address");
}

#[test]
fn a_watcher_subscribes_only_as_itself() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let as_bob = request("SUBSCRIBE", "sip:carol@lab.test", "sip:bob@lab.test", &[]);
    let alice = signed_in(&mut auth, "alice", &publish());
    assert_eq!(
        authorize(&alice, &as_bob).unwrap_err().reason,
        "From is not the authenticated user"
    );
    let bob = signed_in(&mut auth, "bob", &publish());
    assert_eq!(authorize(&bob, &as_bob).unwrap(), "sip:bob@lab.test");
    // A delegate right is for publishing, not for watching.
    let as_alice = request("SUBSCRIBE", "sip:carol@lab.test", "sip:alice@lab.test", &[]);
    let assistant = signed_in(&mut auth, "assistant", &publish());
    assert!(authorize(&assistant, &as_alice).is_err());
}

#[test]
fn trusted_peers_assert_only_their_users() {
    let mut auth = Authenticator::new(&settings(), [1; 32]);
    let from_peer = Origin {
        addr: "192.0.2.9".parse().unwrap(),
        certificate_names: &[],
    };
    let with_pai = |who: &str| {
        let text = format!(
            "PUBLISH {who} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\nFrom: <sip:cc@lab.test>;tag=1\r\n\
             To: <{who}>\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\nP-Asserted-Identity: <{who}>\r\nContent-Length: 0\r\n\r\n"
        );
        match sip::parse::parse_datagram(Bytes::from(text)).unwrap() {
            sip::Message::Request(r) => r,
            sip::Message::Response(_) => panic!("not a request"),
        }
    };
    let alice = auth
        .check(&with_pai("sip:alice@lab.test"), from_peer, at(0))
        .unwrap();
    assert_eq!(alice.identity(), "sip:alice@lab.test");
    assert!(authorize(&alice, &with_pai("sip:alice@lab.test")).is_ok());
    let e = auth
        .check(&with_pai("sip:bob@lab.test"), from_peer, at(0))
        .unwrap_err();
    assert_eq!(
        (e.status, e.reason),
        (403, "Peer may not assert this identity")
    );
    // By certificate name, from any address.
    let names = ["cc.lab.test".to_string()];
    let by_cert = Origin {
        addr: "203.0.113.1".parse().unwrap(),
        certificate_names: &names,
    };
    assert!(auth
        .check(&with_pai("sip:alice@lab.test"), by_cert, at(0))
        .is_ok());
    // Anyone else's assertion is ignored: challenged like everybody.
    let e = auth
        .check(&with_pai("sip:alice@lab.test"), CLIENT, at(0))
        .unwrap_err();
    assert_eq!(e.status, 401);
}

/// The directory's users, as [`crate::directory::DirectoryHub`] holds them
/// after a refresh.
#[derive(Debug, Default)]
struct Directory(std::sync::Mutex<Vec<Arc<User>>>);

impl UserDirectory for Directory {
    fn user(&self, username: &str) -> Option<Arc<User>> {
        let users = self.0.lock().unwrap();
        users.iter().find(|u| u.username == username).cloned()
    }
}

fn directory_user(name: &str, password: &str) -> Arc<User> {
    Arc::new(User {
        aor: format!("sip:{name}@lab.test"),
        username: name.into(),
        ha1_sha256: Some(digest::ha1(Algorithm::Sha256, name, REALM, password)),
        ha1_md5: None,
        publish_for: Identities::default(),
    })
}

#[test]
fn directory_users_sign_in_after_the_configured_ones_and_only_as_themselves() {
    let directory = Arc::new(Directory::default());
    directory.0.lock().unwrap().extend([
        directory_user("dora", "secret"),
        // A configured user of the same name wins: this password is not
        // alice's.
        directory_user("alice", "from-ldap"),
    ]);
    let mut auth = Authenticator::new(&settings(), [1; 32]).with_directory(directory.clone());
    let as_dora = request("PUBLISH", "sip:dora@lab.test", "sip:dora@lab.test", &[]);
    let dora = signed_in(&mut auth, "dora", &as_dora);
    assert_eq!(dora.identity(), "sip:dora@lab.test");
    assert_eq!(authorize(&dora, &as_dora).unwrap(), "sip:dora@lab.test");
    // The same rights code: dora may not publish alice's presence.
    let e = authorize(&dora, &publish()).unwrap_err();
    assert_eq!((e.status, e.label), (403, "not_allowed_to_publish"));
    // alice is the configured one.
    let refusal = auth.check(&publish(), CLIENT, at(0)).unwrap_err();
    let ldap_password = answer(&refusal, 0, &publish(), "alice", "from-ldap", 1);
    let e = auth.check(&ldap_password, CLIENT, at(1)).unwrap_err();
    assert_eq!((e.status, e.label), (403, "wrong_credentials"));
    assert!(signed_in(&mut auth, "alice", &publish()).identity() == "sip:alice@lab.test");
    // A wrong password, and dora gone after a refresh: 403.
    let refusal = auth.check(&as_dora, CLIENT, at(2)).unwrap_err();
    let wrong = answer(&refusal, 0, &as_dora, "dora", "guess", 1);
    assert_eq!(auth.check(&wrong, CLIENT, at(3)).unwrap_err().status, 403);
    directory.0.lock().unwrap().retain(|u| u.username != "dora");
    let refusal = auth.check(&as_dora, CLIENT, at(4)).unwrap_err();
    let right = answer(&refusal, 0, &as_dora, "dora", "secret", 1);
    let e = auth.check(&right, CLIENT, at(5)).unwrap_err();
    assert_eq!((e.status, e.label), (403, "wrong_credentials"));
    assert!(e.why.contains("unknown user"), "{}", e.why);
}
