//! Trusted peers over mutual TLS (issue 13), with real TLS (rustls on
//! both sides, certificates from a test CA made with rcgen).
//!
//! The server: `[sip] tls_client_ca` = the lab CA, `[auth]` with a
//! trusted peer `certificate_names = ["cc.lab.test"]` that may assert
//! alice. What is checked:
//! - the peer's certificate (the CA's, for cc.lab.test) opens a
//!   connection, and its PUBLISH asserting alice (P-Asserted-Identity) is
//!   accepted without a digest challenge; asserting bob gets 403;
//! - a client without a certificate connects and is challenged (401)
//!   like any user;
//! - a certificate from another CA, and one from the lab CA for a name no
//!   peer lists, are refused during the handshake: no SIP answer ever
//!   comes, and the server logs the failed handshake;
//! - the server's certificate files replaced while it runs: a new
//!   connection gets the new certificate, without a restart.

mod common;

use std::time::{Duration, Instant};

use common::tls::{connector, write_pair, Ca};
use common::{reason, send, Presenced, StreamReader};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(10);

struct Lab {
    ca: Ca,
    server: Presenced,
    dir_path: std::path::PathBuf,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("lab CA");
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]);
    write_pair(dir.path(), &cert, &key);
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).expect("ca");
    let dir_path = dir.path().to_owned();
    let server = Presenced::with_config_in(
        dir,
        "[sip]\nlisten = [\"tls:127.0.0.1:0\"]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
         tls_client_ca = \"ca.pem\"\n[store]\nmode = \"memory\"\n\
         [auth]\nrealm = \"lab.test\"\n\
         [[auth.trusted_peers]]\nname = \"contact-center\"\ncertificate_names = [\"cc.lab.test\"]\n\
         may_assert = [\"sip:alice@127.0.0.1\"]\n",
        1,
    );
    Lab {
        ca,
        server,
        dir_path,
    }
}

/// Connects; `None` when the handshake fails on the client's side.
async fn open(connector: &TlsConnector, server: &Presenced) -> Option<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.addr("tls", false))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .ok()
}

fn publish(tls: &TlsStream<TcpStream>, n: u32, aor: &str) -> String {
    let local = tls.get_ref().0.local_addr().expect("local");
    let body = format!(
        "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{aor}\">\
         <tuple id=\"cc\"><status><basic>open</basic></status><note>In a call</note></tuple></presence>"
    );
    format!(
        "PUBLISH {aor} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-mtls{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:cc@lab.test>;tag=cc{n}\r\n\
         To: <{aor}>\r\n\
         Call-ID: mtls{n}@cc.lab.test\r\n\
         CSeq: 1 PUBLISH\r\n\
         P-Asserted-Identity: <{aor}>\r\n\
         Event: presence\r\nExpires: 60\r\n\
         Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_trusted_peer_publishes_for_its_users_over_mutual_tls() {
    let lab = lab();
    let peer = connector(&lab.ca.cert, Some(lab.ca.leaf(&["cc.lab.test"])));
    let mut tls = open(&peer, &lab.server)
        .await
        .expect("the peer's handshake");
    let mut reader = StreamReader::default();
    let text = publish(&tls, 1, "sip:alice@127.0.0.1");
    send(&mut tls, text.as_bytes()).await;
    let resp = reader.response(&mut tls).await;
    assert_eq!(resp.status, 200, "{resp:?}\n{}", lab.server.log_text());
    let text = publish(&tls, 2, "sip:bob@127.0.0.1");
    send(&mut tls, text.as_bytes()).await;
    let resp = reader.response(&mut tls).await;
    assert_eq!(
        (resp.status, reason(&resp)),
        (403, "Peer may not assert this identity".to_owned())
    );

    // Without a certificate: a user like any other, challenged.
    let anonymous = connector(&lab.ca.cert, None);
    let mut tls = open(&anonymous, &lab.server).await.expect("handshake");
    let text = publish(&tls, 3, "sip:alice@127.0.0.1");
    send(&mut tls, text.as_bytes()).await;
    let resp = StreamReader::default().response(&mut tls).await;
    assert_eq!(resp.status, 401);
}

/// True when the server never answers a request on this connection: the
/// handshake failed (TLS 1.3 clients learn of a refused certificate only
/// when they next read).
async fn refused(connector: &TlsConnector, server: &Presenced) -> bool {
    let Some(mut tls) = open(connector, server).await else {
        return true;
    };
    let text = publish(&tls, 9, "sip:alice@127.0.0.1");
    use tokio::io::AsyncWriteExt;
    if tls.write_all(text.as_bytes()).await.is_err() {
        return true;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(WAIT, tls.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("neither an answer nor a closed connection"),
    }
}

#[tokio::test]
async fn unknown_certificates_are_refused_during_the_handshake() {
    let lab = lab();
    let stranger = Ca::new("someone else's CA");
    let other_ca = connector(&lab.ca.cert, Some(stranger.leaf(&["cc.lab.test"])));
    assert!(refused(&other_ca, &lab.server).await);
    let unlisted = connector(&lab.ca.cert, Some(lab.ca.leaf(&["evil.lab.test"])));
    assert!(refused(&unlisted, &lab.server).await);
    let log = lab.server.wait_for_log(&["TLS handshake failed"]);
    assert!(log.matches("TLS handshake failed").count() >= 1, "{log}");
    assert!(!log.contains("PUBLISH"), "{log}");
}

#[tokio::test]
async fn a_renewed_server_certificate_is_used_without_a_restart() {
    let lab = lab();
    let client = connector(&lab.ca.cert, None);
    let first = open(&client, &lab.server).await.expect("handshake");
    let old: CertificateDer<'static> =
        first.get_ref().1.peer_certificates().expect("certs")[0].clone();
    let (cert, key) = lab.ca.leaf(&["localhost", "127.0.0.1", "sip.lab.test"]);
    write_pair(&lab.dir_path, &cert, &key);
    let deadline = Instant::now() + WAIT;
    loop {
        let tls = open(&client, &lab.server).await.expect("handshake");
        let now = tls.get_ref().1.peer_certificates().expect("certs")[0].clone();
        if now == *cert.der() {
            break;
        }
        assert_eq!(now, old, "neither the old nor the new certificate");
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.server.wait_for_log(&["TLS certificate reloaded"]);
}
