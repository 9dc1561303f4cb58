//! The transports on real loopback sockets: TCP connection reuse, CRLF
//! keep-alives, idle reaping, TLS, IPv6, size limits and their log lines.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    header, request, response, send, udp_client, udp_exchange, write_certificate, Presenced,
    StreamReader, WAIT,
};
use sip::HeaderName;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

async fn connect(addr: std::net::SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test]
async fn tcp_responses_come_back_on_the_same_connection() {
    let s = Presenced::start(&["--listen", "tcp:127.0.0.1:0"], 1);
    let mut stream = connect(s.addr("tcp", false)).await;
    let local = stream.local_addr().unwrap();
    let mut reader = StreamReader::default();
    // Two requests in one write, then a third: all answered on this connection.
    let two =
        request("OPTIONS", "TCP", local, "tcp1", "") + &request("INVITE", "TCP", local, "tcp2", "");
    send(&mut stream, two.as_bytes()).await;
    let r = reader.response(&mut stream).await;
    assert_eq!(
        (r.status, header(&r, HeaderName::CallId).as_str()),
        (200, "tcp1@test")
    );
    assert!(header(&r, HeaderName::Allow).contains("PUBLISH"));
    let r = reader.response(&mut stream).await;
    assert_eq!(
        (r.status, header(&r, HeaderName::CallId).as_str()),
        (405, "tcp2@test")
    );
    send(
        &mut stream,
        request("FOO", "TCP", local, "tcp3", "").as_bytes(),
    )
    .await;
    assert_eq!(reader.response(&mut stream).await.status, 501);
}

#[tokio::test]
async fn crlf_ping_gets_crlf_pong() {
    let s = Presenced::start(&["--listen", "tcp:127.0.0.1:0"], 1);
    let mut stream = connect(s.addr("tcp", false)).await;
    send(&mut stream, b"\r\n\r\n").await;
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut pong))
        .await
        .expect("pong in time")
        .expect("read pong");
    assert_eq!(&pong, b"\r\n");
    // The connection is still usable afterwards.
    let local = stream.local_addr().unwrap();
    send(
        &mut stream,
        request("OPTIONS", "TCP", local, "ping1", "").as_bytes(),
    )
    .await;
    assert_eq!(
        StreamReader::default().response(&mut stream).await.status,
        200
    );
}

#[tokio::test]
async fn idle_tcp_connection_is_closed_after_the_timeout() {
    let s = Presenced::with_config(
        "[sip]\nlisten = [\"tcp:127.0.0.1:0\"]\nidle_timeout_secs = 1\n",
        1,
    );
    let mut stream = connect(s.addr("tcp", false)).await;
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("closed in time")
        .expect("read");
    assert_eq!(n, 0, "the server closes the connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
    s.wait_for_log(&["closing idle connection", "transport=tcp", "idle_secs=1"]);
}

#[tokio::test]
async fn oversized_messages_are_dropped_with_a_logged_reason() {
    let s = Presenced::with_config(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\nmax_message_size = 1024\n",
        2,
    );
    let big = format!("X-Padding: {}\r\n", "p".repeat(2000));

    let udp = s.addr("udp", false);
    let socket = udp_client(udp).await;
    let text = request("OPTIONS", "UDP", socket.local_addr().unwrap(), "big1", &big);
    let r = response(&udp_exchange(&socket, udp, text.as_bytes()).await);
    assert_eq!(r.status, 513);
    s.wait_for_log(&[
        "dropped message",
        "transport=udp",
        "reason=message larger than 1024 bytes",
        "answered=513",
    ]);

    let mut stream = connect(s.addr("tcp", false)).await;
    let text = request("OPTIONS", "TCP", stream.local_addr().unwrap(), "big2", &big);
    send(&mut stream, text.as_bytes()).await;
    let r = StreamReader::default().response(&mut stream).await;
    assert_eq!(r.status, 513);
    s.wait_for_log(&[
        "dropped message",
        "transport=tcp",
        "message larger than 1024 bytes; closing connection",
    ]);
}

#[tokio::test]
async fn ipv6_loopback_over_udp_and_tcp() {
    let s = Presenced::start(
        &[
            "--listen",
            "udp:[::1]:0",
            "--listen",
            "tcp:[::1]:0",
            "--listen",
            "udp:127.0.0.1:0",
        ],
        3,
    );
    let udp = s.addr("udp", true);
    let socket = udp_client(udp).await;
    let text = request("OPTIONS", "UDP", socket.local_addr().unwrap(), "v6u", "");
    let r = response(&udp_exchange(&socket, udp, text.as_bytes()).await);
    assert_eq!(r.status, 200);

    let mut stream = connect(s.addr("tcp", true)).await;
    let text = request("OPTIONS", "TCP", stream.local_addr().unwrap(), "v6t", "");
    send(&mut stream, text.as_bytes()).await;
    assert_eq!(
        StreamReader::default().response(&mut stream).await.status,
        200
    );
}

#[tokio::test]
async fn tls_options_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, certificate) = write_certificate(dir.path());
    let toml = format!(
        "[sip]\nlisten = [\"tls:127.0.0.1:0\", \"tls:[::1]:0\"]\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let s = Presenced::with_config_in(dir, &toml, 2);

    let mut roots = RootCertStore::empty();
    roots.add(certificate.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    for (ipv6, name) in [(false, "localhost"), (true, "::1")] {
        let tcp = connect(s.addr("tls", ipv6)).await;
        let local = tcp.local_addr().unwrap();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let mut tls = tokio::time::timeout(WAIT, connector.connect(server_name, tcp))
            .await
            .expect("handshake in time")
            .expect("handshake");
        send(
            &mut tls,
            request("OPTIONS", "TLS", local, "tls1", "").as_bytes(),
        )
        .await;
        let mut reader = StreamReader::default();
        let r = reader.response(&mut tls).await;
        assert_eq!(r.status, 200);
        assert!(header(&r, HeaderName::Allow).contains("SUBSCRIBE"));
        send(&mut tls, b"\r\n\r\n").await;
        let mut pong = [0u8; 2];
        tokio::time::timeout(WAIT, tls.read_exact(&mut pong))
            .await
            .expect("pong in time")
            .expect("read pong");
        assert_eq!(&pong, b"\r\n");
    }
}

#[test]
fn check_config_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nqueue_depth = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:3:15: sip.queue_depth: 0 is out of range",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    std::fs::write(
        &path,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\", \"tcp:[::1]:5060\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("OK (listen udp:127.0.0.1:5060, tcp:[::1]:5060)"));
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_with_connections_open() {
    let mut s = Presenced::start(
        &["--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0"],
        2,
    );
    let mut stream = connect(s.addr("tcp", false)).await;
    let local = stream.local_addr().unwrap();
    send(
        &mut stream,
        request("OPTIONS", "TCP", local, "term1", "").as_bytes(),
    )
    .await;
    assert_eq!(
        StreamReader::default().response(&mut stream).await.status,
        200
    );
    let status = s.terminate();
    assert!(status.success(), "exit status {status}");
    s.wait_for_log(&["shutting down"]);
    assert!(
        !s.log_text().contains("tasks still running"),
        "{}",
        s.log_text()
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_and_logged() {
    let s = Presenced::with_config(
        "[sip]\nlisten = [\"tcp:127.0.0.1:0\"]\nmax_connections = 1\n",
        1,
    );
    let addr = s.addr("tcp", false);
    let mut first = connect(addr).await;
    let local = first.local_addr().unwrap();
    // Answered, so the first connection surely holds the only slot.
    send(
        &mut first,
        request("OPTIONS", "TCP", local, "max1", "").as_bytes(),
    )
    .await;
    assert_eq!(
        StreamReader::default().response(&mut first).await.status,
        200
    );
    let mut second = connect(addr).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, second.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the second connection is closed at once");
    s.wait_for_log(&[
        "refused connection: too many open connections",
        "transport=tcp",
    ]);
}
