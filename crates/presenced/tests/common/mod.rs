//! Test harness: runs the real `presenced` binary on loopback ports the
//! system picks (port 0), reads the bound addresses from its log, and
//! speaks raw SIP to it over UDP, TCP and TLS. Every wait is bounded.

#![allow(dead_code)]

pub mod console;
pub mod kamailio;
pub mod peers;
pub mod sipe;
pub mod slapd;
pub mod tls;
pub mod ua;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::framing::{Frame, StreamFramer};
use sip::{Limits, Message, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;

/// The longest any single network wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running server; killed when dropped.
pub struct Presenced {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    bound: Vec<(String, SocketAddr)>,
    _dir: tempfile::TempDir,
}

impl Presenced {
    /// Starts the binary with `args`, waiting for `listeners` "listening" lines.
    pub fn start(args: &[&str], listeners: usize) -> Presenced {
        Presenced::start_in(
            tempfile::tempdir().expect("temp dir"),
            args,
            listeners,
            |_| {},
        )
    }

    /// Starts the binary with a configuration file holding `toml`.
    pub fn with_config(toml: &str, listeners: usize) -> Presenced {
        Presenced::with_config_setup(toml, listeners, |_| {})
    }

    /// Like [`Presenced::with_config`], with `setup` applied to the command
    /// before it is spawned (a resource limit in `pre_exec`, say).
    pub fn with_config_setup(
        toml: &str,
        listeners: usize,
        setup: impl FnOnce(&mut Command),
    ) -> Presenced {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("presenced.toml");
        std::fs::write(&path, toml).expect("write config");
        let path = path.to_string_lossy().into_owned();
        Presenced::start_in(dir, &["--config", &path], listeners, setup)
    }

    /// Like [`Presenced::with_config`], in a directory prepared by `prepare`
    /// (certificates, say) before the server starts.
    pub fn with_config_in(dir: tempfile::TempDir, toml: &str, listeners: usize) -> Presenced {
        let path = dir.path().join("presenced.toml");
        std::fs::write(&path, toml).expect("write config");
        let path = path.to_string_lossy().into_owned();
        Presenced::start_in(dir, &["--config", &path], listeners, |_| {})
    }

    fn start_in(
        dir: tempfile::TempDir,
        args: &[&str],
        listeners: usize,
        setup: impl FnOnce(&mut Command),
    ) -> Presenced {
        // The working directory is the test's own, so the default data
        // directory (`presenced-data`) never lands in the source tree.
        // HTTP takes a free port unless asked otherwise: servers running in
        // parallel must not all want the default 127.0.0.1:8088.
        let mut args: Vec<&str> = args.to_vec();
        if !args.contains(&"--http-listen") {
            args.extend(["--http-listen", "127.0.0.1:0"]);
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_presenced"));
        command
            .current_dir(dir.path())
            .args(&args)
            .env("RUST_LOG", "info,presenced=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut command);
        let mut child = command.spawn().expect("start presenced");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Presenced {
            child,
            logs,
            bound: Vec::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.bound.len() < listeners {
            assert!(
                Instant::now() < deadline,
                "presenced did not start:\n{}",
                server.log_text()
            );
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("presenced exited with {status}:\n{}", server.log_text());
            }
            server.bound = server
                .logs
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| parse_listening(l))
                .collect();
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The bound address of the first listener of this transport and family.
    pub fn addr(&self, transport: &str, ipv6: bool) -> SocketAddr {
        self.bound
            .iter()
            .find(|(t, a)| t == transport && a.is_ipv6() == ipv6)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {transport} listener (ipv6={ipv6}) in {:?}", self.bound))
    }

    /// The HTTP listener's address, from `... http listening addr=...`.
    /// The value of the `/metrics` line starting with `line_start` (the
    /// series with its labels and a space), 0 when there is none.
    pub fn metric(&self, line_start: &str) -> f64 {
        let (_, text) = http_get(self.http_addr(), "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn http_addr(&self) -> SocketAddr {
        let line = self.wait_for_log(&["http listening"]);
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("addr= in the log line");
        addr.parse().expect("a socket address")
    }

    /// The child's process id, for reading /proc.
    #[allow(dead_code)] // not every test binary reads /proc
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// Every log line so far.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits for a log line containing every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Presenced {
    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "presenced did not exit after SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Presenced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET over a TcpStream: status line and body.
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to http");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// A plain HTTP/1.1 request with an optional JSON body: status code and
/// body.
pub fn http_send(addr: SocketAddr, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    let (status, body) =
        http_exchange(addr, method, path, &[], json.unwrap_or_default().as_bytes());
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A plain HTTP/1.1 request with extra header lines (`Authorization:
/// Bearer x`) and a body: status code and the body's bytes.
pub fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to http");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("send");
    stream.write_all(body).expect("send body");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read response");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    (status, bytes[split + 4..].to_vec())
}

/// `... listening transport=udp addr=127.0.0.1:40123`
fn parse_listening(line: &str) -> Option<(String, SocketAddr)> {
    let rest = &line[line.find("listening transport=")? + "listening transport=".len()..];
    let (transport, rest) = rest.split_once(" addr=")?;
    let addr = rest.split_whitespace().next()?.parse().ok()?;
    Some((transport.to_owned(), addr))
}

/// A request with every mandatory header, for `transport` from `local`.
/// `extra` is added verbatim (each line ending in CRLF).
pub fn request(
    method: &str,
    transport: &str,
    local: SocketAddr,
    branch: &str,
    extra: &str,
) -> String {
    let host = match local {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!(
        "{method} sip:presenced@{host} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a{branch}\r\n\
         To: <sip:presenced@example.com>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 {method}\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n",
        port = local.port()
    )
}

/// Parses a response the server sent.
pub fn response(bytes: &[u8]) -> Response {
    match sip::parse::parse_datagram(Bytes::copy_from_slice(bytes)) {
        Ok(Message::Response(r)) => r,
        other => panic!(
            "not a response: {other:?}\n{}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// A header value of a response, as text.
pub fn header(resp: &Response, name: sip::HeaderName) -> String {
    resp.headers
        .value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// The reason phrase as text.
pub fn reason(resp: &Response) -> String {
    String::from_utf8_lossy(&resp.reason).into_owned()
}

/// A UDP client socket on the loopback of `server`'s family.
pub async fn udp_client(server: SocketAddr) -> UdpSocket {
    let local: SocketAddr = if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    }
    .parse()
    .unwrap();
    UdpSocket::bind(local).await.expect("bind udp client")
}

/// Sends one datagram and returns the first datagram that comes back.
pub async fn udp_exchange(socket: &UdpSocket, server: SocketAddr, text: &[u8]) -> Vec<u8> {
    socket.send_to(text, server).await.expect("udp send");
    udp_recv(socket).await
}

/// The next datagram, within [`WAIT`].
pub async fn udp_recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("udp answer in time")
        .expect("udp recv");
    buf.truncate(n);
    buf
}

/// Reads SIP frames from a stream, as a client would.
pub struct StreamReader {
    framer: StreamFramer,
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader {
            framer: StreamFramer::new(Limits::DEFAULT),
        }
    }
}

impl StreamReader {
    /// The next frame (a response or a pong), within [`WAIT`].
    pub async fn next<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Frame {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(frame) = self.framer.next_frame().expect("framing") {
                return frame;
            }
            self.framer.buffer_mut().reserve(4096);
            let n = tokio::time::timeout_at(deadline, stream.read_buf(self.framer.buffer_mut()))
                .await
                .expect("stream answer in time")
                .expect("stream read");
            assert!(n > 0, "server closed the connection");
        }
    }

    /// The next frame, which must be a response.
    pub async fn response<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Response {
        match self.next(stream).await {
            Frame::Message(Ok(Message::Response(r)), _) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// Writes all of `text` within [`WAIT`].
pub async fn send<S: AsyncWrite + Unpin>(stream: &mut S, text: &[u8]) {
    tokio::time::timeout(WAIT, stream.write_all(text))
        .await
        .expect("write in time")
        .expect("write");
}

/// A self-signed certificate for `localhost` and 127.0.0.1 written as PEM
/// into `dir`; returns the certificate (for the client's trust store).
pub fn write_certificate(dir: &Path) -> (PathBuf, PathBuf, rcgen::Certificate) {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names).expect("generate certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    (cert, key, generated.cert)
}
