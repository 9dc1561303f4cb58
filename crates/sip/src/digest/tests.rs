//! Vectors from RFC 2617 §3.5 and RFC 7616 §3.9.1, and a few computed
//! with Python's hashlib (an independent implementation) for the cases
//! the RFCs do not show: no qop, auth-int, SHA-256-sess.

use super::*;

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

fn get(uri: &str) -> Request<'_> {
    Request {
        method: "GET",
        uri,
        body: b"",
    }
}

#[test]
fn rfc2617_md5_with_qop_auth() {
    let challenge = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(challenge.algorithm, Algorithm::Md5, "MD5 when absent");
    assert_eq!(challenge.qop, vec![Qop::Auth, Qop::AuthInt]);
    let auth = Authorization::answer(
        &challenge,
        get("/dir/index.html"),
        "Mufasa",
        Secret::Password("Circle Of Life"),
        "0a4f113b",
        1,
    )
    .unwrap();
    assert_eq!(auth.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(auth.qop, Some(Qop::Auth), "auth preferred over auth-int");
    let header = auth.to_header_value();
    assert!(header.contains("nc=00000001"), "{header}");
    assert!(
        header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
        "{header}"
    );
}

#[test]
fn rfc7616_sha256_and_md5() {
    for (algorithm, expected) in [
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ] {
        let challenge = Challenge::parse(&format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
             algorithm={algorithm}, nonce=\"{RFC7616_NONCE}\", opaque=\"{RFC7616_OPAQUE}\""
        ))
        .unwrap();
        let auth = Authorization::answer(
            &challenge,
            get("/dir/index.html"),
            "Mufasa",
            Secret::Password("Circle of Life"),
            RFC7616_CNONCE,
            1,
        )
        .unwrap();
        assert_eq!(auth.response, expected, "{algorithm}");
        // The server side: the same answer read back and checked against
        // the stored HA1, never the password.
        let read = Authorization::parse(&auth.to_header_value()).unwrap();
        assert_eq!(read, auth);
        let stored = ha1(
            challenge.algorithm,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let secret = Secret::Ha1 {
            algorithm: challenge.algorithm,
            hex: &stored,
        };
        assert!(read.verify("GET", b"", secret));
        assert!(!read.verify("POST", b"", secret), "the method is covered");
        let wrong = ha1(
            challenge.algorithm,
            "Mufasa",
            "http-auth@example.org",
            "guess",
        );
        assert!(!read.verify(
            "GET",
            b"",
            Secret::Ha1 {
                algorithm: challenge.algorithm,
                hex: &wrong
            }
        ));
    }
}

#[test]
fn rfc2069_answer_without_qop() {
    let challenge = Challenge::parse("Digest realm=\"lab.test\", nonce=\"abc123\"").unwrap();
    let request = Request {
        method: "REGISTER",
        uri: "sip:lab.test",
        body: b"",
    };
    let auth = Authorization::answer(
        &challenge,
        request,
        "alice",
        Secret::Password("secret"),
        "x",
        1,
    )
    .unwrap();
    assert_eq!(auth.response, "38d3f44c30d235137c2690f30a3c6a15");
    assert_eq!(
        (auth.qop, auth.cnonce.as_deref(), auth.nc),
        (None, None, None)
    );
    let header = auth.to_header_value();
    assert!(!header.contains("nc="), "{header}");
    assert!(Authorization::parse(&header).unwrap().verify(
        "REGISTER",
        b"",
        Secret::Password("secret")
    ));
}

#[test]
fn auth_int_covers_the_body() {
    let challenge = Challenge::parse(
        "Digest realm=\"lab.test\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth-int\"",
    )
    .unwrap();
    let request = Request {
        method: "PUBLISH",
        uri: "sip:bob@lab.test",
        body: b"hello",
    };
    let auth =
        Authorization::answer(&challenge, request, "bob", Secret::Password("pw"), "c1", 2).unwrap();
    assert_eq!(auth.qop, Some(Qop::AuthInt));
    assert_eq!(
        auth.response,
        "a3d83feaddbd1fcbb4404e2c272c41db9567aba4a5bae2f6ae4fdde21ffa8360"
    );
    assert!(auth.verify("PUBLISH", b"hello", Secret::Password("pw")));
    assert!(!auth.verify("PUBLISH", b"hellO", Secret::Password("pw")));
}

#[test]
fn session_variants_fold_the_nonces_into_ha1() {
    let challenge = Challenge::parse(
        "Digest realm=\"lab.test\", nonce=\"n1\", algorithm=SHA-256-sess, qop=\"auth\"",
    )
    .unwrap();
    let request = Request {
        method: "SUBSCRIBE",
        uri: "sip:carol@lab.test",
        body: b"",
    };
    let auth =
        Authorization::answer(&challenge, request, "bob", Secret::Password("pw"), "c1", 1).unwrap();
    assert_eq!(
        auth.response,
        "18e3e285adea5882fa4de3d06b4a943007525f371b081770afc104be1c2a02b6"
    );
    // A stored plain SHA-256 HA1 can answer its -sess form; an MD5 one not.
    let stored = ha1(Algorithm::Sha256, "bob", "lab.test", "pw");
    assert!(auth.verify(
        "SUBSCRIBE",
        b"",
        Secret::Ha1 {
            algorithm: Algorithm::Sha256,
            hex: &stored
        }
    ));
    let md5 = ha1(Algorithm::Md5, "bob", "lab.test", "pw");
    let err = Authorization::answer(
        &challenge,
        request,
        "bob",
        Secret::Ha1 {
            algorithm: Algorithm::Md5,
            hex: &md5,
        },
        "c1",
        1,
    )
    .unwrap_err();
    assert_eq!(err, DigestError::WrongSecret(Algorithm::Sha256Sess));
}

#[test]
fn the_first_supported_challenge_is_chosen() {
    let offered = [
        "Digest realm=\"lab.test\", nonce=\"a\", algorithm=SHA-512-256",
        "Basic realm=\"lab.test\"",
        "Digest realm=\"lab.test\", nonce=\"b\", algorithm=SHA-256, qop=\"auth\"",
        "Digest realm=\"lab.test\", nonce=\"c\", algorithm=MD5, qop=\"auth\"",
    ];
    let chosen = choose(offered).unwrap();
    assert_eq!(
        (chosen.algorithm, chosen.nonce.as_str()),
        (Algorithm::Sha256, "b")
    );
    assert!(choose(["Basic realm=\"x\""]).is_none());
}

#[test]
fn challenges_round_trip_and_stale_is_read() {
    let c = Challenge {
        realm: "lab \"test\"".to_owned(),
        nonce: "n,1".to_owned(),
        opaque: Some("o".to_owned()),
        algorithm: Algorithm::Sha256,
        qop: vec![Qop::Auth],
        stale: true,
    };
    let header = c.to_header_value();
    assert_eq!(Challenge::parse(&header).unwrap(), c, "{header}");
    let kamailio = "Digest realm=\"lab.test\", nonce=\"Z1x2\", qop=\"auth\", stale=TRUE";
    assert!(Challenge::parse(kamailio).unwrap().stale);
}

#[test]
fn bad_headers_are_refused_with_what_is_wrong() {
    assert_eq!(
        Challenge::parse("Basic realm=\"x\"").unwrap_err(),
        DigestError::NotDigest
    );
    assert_eq!(
        Challenge::parse("Digest nonce=\"x\"").unwrap_err(),
        DigestError::Missing("realm")
    );
    assert_eq!(
        Challenge::parse("Digest realm=\"x, nonce=\"y\"").unwrap_err(),
        DigestError::Malformed("challenge")
    );
    assert!(matches!(
        Challenge::parse("Digest realm=\"x\", nonce=\"y\", algorithm=SHA-1").unwrap_err(),
        DigestError::Unsupported {
            name: "algorithm",
            ..
        }
    ));
    let no_cnonce = "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", \
                     response=\"00\", qop=auth, nc=00000001";
    assert_eq!(
        Authorization::parse(no_cnonce).unwrap_err(),
        DigestError::Missing("cnonce")
    );
    let bad_nc = no_cnonce.replace("nc=00000001", "cnonce=\"c\", nc=zz");
    assert!(matches!(
        Authorization::parse(&bad_nc).unwrap_err(),
        DigestError::Unsupported { name: "nc", .. }
    ));
}
