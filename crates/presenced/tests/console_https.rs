//! The console over HTTPS (`[http] tls_cert`, `tls_key`), with real TLS:
//! a test CA made with rcgen issues the server's certificate, and a
//! rustls client that trusts only that CA logs in. What is checked:
//! - the login page and the login are served over TLS, and every cookie
//!   the console sets is `Secure` (the config does not ask for it);
//! - the status page lists the listener as `https:`;
//! - a client that does not trust the CA fails the handshake, and plain
//!   HTTP on the port gets no HTTP answer;
//! - the certificate files replaced while the server runs: a new
//!   connection gets the new certificate, without a restart (the SIP TLS
//!   listeners' reload, reused).

mod common;

use std::time::{Duration, Instant};

use common::console::{cookie, form_token, hash, header};
use common::tls::{connector, write_pair, Ca};
use common::Presenced;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 exchange over TLS: status, headers (lowercased names),
/// body, and the certificate the server presented.
async fn exchange(
    client: &TlsConnector,
    server: &Presenced,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> Result<(u16, Vec<(String, String)>, String, Vec<u8>), String> {
    let tcp = TcpStream::connect(server.http_addr())
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = tokio::time::timeout(WAIT, client.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| format!("handshake: {e}"))?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    // The server closes after its answer; a close without close_notify
    // still leaves the answer read.
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut bytes)).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(format!("no answer: {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or(format!("no status line: {head}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned(), presented))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_https_with_secure_cookies_and_a_reloaded_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("console test CA");
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]);
    write_pair(dir.path(), &cert, &key);
    let dir_path = dir.path().to_owned();
    let server = Presenced::with_config_in(
        dir,
        &format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
             [http]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\
             [console]\n[[console.users]]\nname = \"admin\"\npassword_argon2 = \"{}\"\n",
            hash("hunter2")
        ),
        1,
    );
    server.wait_for_log(&["console on", "https://127.0.0.1:"]);
    let client = connector(&ca.cert, None);

    // The login form, over TLS, with a Secure double-submit cookie.
    let (status, headers, page, presented) =
        exchange(&client, &server, "GET", "/console/login", &[], "")
            .await
            .expect("the login page over https");
    assert_eq!(status, 200);
    assert_eq!(presented, cert.der().to_vec(), "the CA's leaf");
    let set = header(&headers, "set-cookie").join(" | ");
    assert!(
        set.contains("presenced_login=") && set.contains("; Secure"),
        "{set}"
    );
    let login_cookie = cookie(&headers, "presenced_login").expect("the form's cookie");
    let csrf = form_token(&page);

    // Logging in sets a Secure session cookie.
    let form = format!("user=admin&password=hunter2&csrf={csrf}");
    let (status, headers, _, _) = exchange(
        &client,
        &server,
        "POST",
        "/console/login",
        &[
            "Content-Type: application/x-www-form-urlencoded".to_owned(),
            format!("Cookie: {login_cookie}"),
        ],
        &form,
    )
    .await
    .expect("the login over https");
    assert_eq!(status, 303);
    let session_set = header(&headers, "set-cookie")
        .into_iter()
        .find(|c| c.starts_with("presenced_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(
        session_set.contains("; Secure") && session_set.contains("HttpOnly"),
        "{session_set}"
    );
    let session = cookie(&headers, "presenced_session").expect("a session");
    let (status, _, page, _) = exchange(
        &client,
        &server,
        "GET",
        "/console/",
        &[format!("Cookie: {session}")],
        "",
    )
    .await
    .expect("the status page");
    assert_eq!(status, 200);
    assert!(page.contains("https:127.0.0.1:"), "{page}");

    // Not trusted: the handshake fails. Plain HTTP: no HTTP answer.
    let stranger = connector(&Ca::new("another CA").cert, None);
    let refused = exchange(&stranger, &server, "GET", "/console/login", &[], "").await;
    assert!(refused.is_err(), "{refused:?}");
    let mut plain = TcpStream::connect(server.http_addr()).await.expect("tcp");
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // A renewed certificate: new connections get it, no restart.
    let (renewed, renewed_key) = ca.leaf(&["localhost", "127.0.0.1", "console.lab.test"]);
    write_pair(&dir_path, &renewed, &renewed_key);
    let deadline = Instant::now() + WAIT;
    loop {
        // A client of its own each time: a resumed session would show
        // the certificate of the session it resumes.
        let fresh = connector(&ca.cert, None);
        let (_, _, _, presented) = exchange(&fresh, &server, "GET", "/health", &[], "")
            .await
            .expect("health over https");
        if presented == renewed.der().to_vec() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate never served: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.wait_for_log(&["TLS certificate reloaded"]);
}
