//! A SIP user agent on one UDP socket, for the wire tests: builds
//! SUBSCRIBE and PUBLISH requests, answers NOTIFYs with 200, and sorts
//! what arrives into NOTIFYs and responses.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip::{HeaderName, Message, Request, Response};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};

use super::WAIT;

static UNIQUE: AtomicU64 = AtomicU64::new(1);

pub fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A PIDF document with one tuple, an RPID activity and a note.
pub fn pidf(entity: &str, tuple: &str, basic: &str, activity: Option<&str>, note: &str) -> String {
    let person = activity
        .map(|a| {
            format!(
                "<dm:person id=\"p-{tuple}\"><rpid:activities><rpid:{a}/></rpid:activities></dm:person>"
            )
        })
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{entity}\">\
         <tuple id=\"{tuple}\"><status><basic>{basic}</basic></status></tuple>\
         {person}<note>{note}</note></presence>"
    )
}

/// A SIP user agent on one UDP socket. A background task answers every
/// NOTIFY with 200, as a real watcher must, and sorts what arrives into
/// NOTIFYs and responses.
pub struct Ua {
    socket: Arc<UdpSocket>,
    server: SocketAddr,
    user: String,
    notifies: Mutex<mpsc::UnboundedReceiver<Request>>,
    responses: Mutex<mpsc::UnboundedReceiver<Response>>,
}

impl Ua {
    pub async fn new(server: SocketAddr, user: &str) -> Ua {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind ua"));
        Ua::on(socket, server, user)
    }

    pub fn on(socket: Arc<UdpSocket>, server: SocketAddr, user: &str) -> Ua {
        let (ntx, nrx) = mpsc::unbounded_channel();
        let (rtx, rrx) = mpsc::unbounded_channel();
        let reader = socket.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = reader.recv_from(&mut buf).await {
                match sip::parse::parse_datagram(Bytes::copy_from_slice(&buf[..n])) {
                    Ok(Message::Request(req)) => {
                        let ok = Response::to_request(&req, 200, None);
                        let _ = reader.send_to(&ok.encode(), from).await;
                        if ntx.send(req).is_err() {
                            break;
                        }
                    }
                    Ok(Message::Response(resp)) => {
                        if rtx.send(resp).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("server sent an unparsable message: {e}"),
                }
            }
        });
        Ua {
            socket,
            server,
            user: user.to_owned(),
            notifies: Mutex::new(nrx),
            responses: Mutex::new(rrx),
        }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local addr").port()
    }

    pub fn aor(&self) -> String {
        format!("sip:{}@127.0.0.1", self.user)
    }

    /// Sends a request and returns its final response.
    pub async fn send(&self, text: String) -> Response {
        self.socket
            .send_to(text.as_bytes(), self.server)
            .await
            .expect("send");
        let mut responses = self.responses.lock().await;
        loop {
            let resp = tokio::time::timeout(WAIT, responses.recv())
                .await
                .expect("a response in time")
                .expect("reader alive");
            if resp.status >= 200 {
                return resp;
            }
        }
    }

    pub async fn next_notify(&self) -> Request {
        self.notify_within(WAIT).await.expect("a NOTIFY in time")
    }

    /// The next NOTIFY, or `None` if none comes within `wait`.
    pub async fn notify_within(&self, wait: Duration) -> Option<Request> {
        tokio::time::timeout(wait, self.notifies.lock().await.recv())
            .await
            .ok()
            .map(|n| n.expect("reader alive"))
    }

    /// NOTIFYs arriving within `quiet` of each other, until none does.
    pub async fn drain_notifies(&self, quiet: Duration) -> Vec<Request> {
        let mut got = Vec::new();
        let mut rx = self.notifies.lock().await;
        while let Ok(Some(n)) = tokio::time::timeout(quiet, rx.recv()).await {
            got.push(n);
        }
        got
    }

    pub fn head(&self, method: &str, target: &str, dialog: &Dialog, cseq: u32) -> String {
        let to_tag = dialog
            .remote_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-t{b};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <{aor}>;tag={tag}\r\n\
             To: <{target}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n",
            port = self.port(),
            b = unique(),
            aor = self.aor(),
            tag = dialog.local_tag,
            call_id = dialog.call_id,
        )
    }

    pub fn subscribe(
        &self,
        target: &str,
        dialog: &Dialog,
        cseq: u32,
        expires: u32,
        extra: &str,
    ) -> String {
        format!(
            "{}Contact: <sip:{}@127.0.0.1:{}>\r\nEvent: presence\r\n\
             Accept: application/pidf+xml\r\nExpires: {expires}\r\n{extra}Content-Length: 0\r\n\r\n",
            self.head("SUBSCRIBE", target, dialog, cseq),
            self.user,
            self.port()
        )
    }

    pub fn publish(
        &self,
        dialog: &Dialog,
        cseq: u32,
        expires: u32,
        if_match: Option<&str>,
        body: Option<&str>,
    ) -> String {
        let mut text = self.head("PUBLISH", &self.aor(), dialog, cseq);
        text.push_str(&format!("Event: presence\r\nExpires: {expires}\r\n"));
        if let Some(etag) = if_match {
            text.push_str(&format!("SIP-If-Match: {etag}\r\n"));
        }
        match body {
            Some(body) => text.push_str(&format!(
                "Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        text
    }
}

/// One side's view of a dialog (or of a PUBLISH sequence, which has none).
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
}

impl Dialog {
    pub fn new() -> Dialog {
        let n = unique();
        Dialog {
            call_id: format!("c{n}@wire-test"),
            local_tag: format!("t{n}"),
            remote_tag: None,
        }
    }

    /// Learns the server's tag from a 2xx.
    pub fn established(&mut self, resp: &Response) {
        let to = sip::typed::NameAddr::parse(resp.headers.value(HeaderName::To).expect("To"))
            .expect("To parses");
        self.remote_tag = to.tag().map(|t| String::from_utf8_lossy(&t).into_owned());
    }
}

pub fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn value(headers: &sip::Headers, name: HeaderName) -> String {
    headers.value(name).map(text).unwrap_or_default()
}
