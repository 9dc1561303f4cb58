//! The registrar on the wire, against the real binary: REGISTER, refresh,
//! out-of-order refusal, query, unregister, `*`, 423, a TCP binding ending
//! after its connection's grace period, and bindings surviving SIGKILL.
//!
//! The server runs as `presenced --config DIR/presenced.toml` with UDP and
//! TCP listeners on loopback (port 0, or a fixed free port when it must
//! come back on the same one); the clients are raw sockets speaking the
//! REGISTERs below, one of them shaped exactly like pidgin-sipe's
//! (`../shared/captures/sipe/REGISTER.txt`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{response, send, udp_client, udp_exchange, Presenced, StreamReader};
use sip::{HeaderName, Response};
use tokio::net::TcpStream;

/// SIPE's Contact, Supported and the rest of its REGISTER headers.
const SIPE: &str = "Contact: <sip:127.0.0.1:58666;transport=tcp;ms-opaque=d3470f2e1d>;\
methods=\"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";\
proxy=replace;+sip.instance=\"<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>\"\r\n\
Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n\
Event: registration\r\nAllow-Events: presence\r\nms-keep-alive: UAC;hop-hop=yes\r\n";

/// A REGISTER for `user`@lab.test from `local` over `transport`.
fn register(
    user: &str,
    transport: &str,
    local: SocketAddr,
    call_id: &str,
    cseq: u32,
    extra: &str,
) -> String {
    format!(
        "REGISTER sip:lab.test SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{call_id}-{cseq}-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@lab.test>;tag={call_id}\r\n\
         To: <sip:{user}@lab.test>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        n = common::ua::unique(),
    )
}

fn all(resp: &Response, name: HeaderName) -> Vec<String> {
    resp.headers
        .all(name)
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect()
}

/// One TCP connection to the server, as a registering client keeps it.
struct Tcp {
    stream: TcpStream,
    reader: StreamReader,
}

impl Tcp {
    async fn connect(server: SocketAddr) -> Tcp {
        let stream = TcpStream::connect(server).await.expect("connect");
        Tcp {
            stream,
            reader: StreamReader::default(),
        }
    }

    fn local(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    async fn ask(&mut self, text: &str) -> Response {
        send(&mut self.stream, text.as_bytes()).await;
        self.reader.response(&mut self.stream).await
    }

    async fn register(&mut self, user: &str, call_id: &str, cseq: u32, extra: &str) -> Response {
        let text = register(user, "TCP", self.local(), call_id, cseq, extra);
        self.ask(&text).await
    }
}

fn config(extra: &str) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n[http]\nlisten = \"off\"\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refresh_query_unregister_over_tcp() {
    let server = Presenced::with_config(&config(""), 2);
    let tcp = server.addr("tcp", false);
    let mut sipe = Tcp::connect(tcp).await;

    let ok = sipe.register("alice", "c1", 1, SIPE).await;
    assert_eq!(ok.status, 200, "{}", common::reason(&ok));
    assert_eq!(all(&ok, HeaderName::Expires), ["3600"]);
    let contacts = all(&ok, HeaderName::Contact);
    assert_eq!(contacts.len(), 1);
    let contact = &contacts[0];
    assert!(
        contact.starts_with(
            "<sip:127.0.0.1:58666;transport=tcp;ms-opaque=d3470f2e1d>;expires=3600;\
             +sip.instance=\"<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>\";\
             gruu=\"sip:alice@lab.test;opaque=user:epid:"
        ),
        "{contact}"
    );
    assert!(contact.ends_with(";gruu\""), "{contact}");
    assert_eq!(
        all(&ok, HeaderName::Supported),
        [
            "adhoclist",
            "msrtc-event-categories",
            "com.microsoft.msrtc.presence",
            "gruu-10"
        ]
    );
    assert_eq!(
        all(&ok, HeaderName::AllowEvents),
        [
            "vnd-microsoft-provisioning-v2,vnd-microsoft-roaming-contacts,\
          vnd-microsoft-roaming-self,presence,presence.winfo"
        ]
    );
    server.wait_for_log(&["binding", "aor=sip:alice@lab.test", "ms-opaque=d3470f2e1d"]);

    // A refresh with a shorter interval.
    let ok = sipe
        .register("alice", "c1", 2, &format!("{SIPE}Expires: 600\r\n"))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(all(&ok, HeaderName::Expires), ["600"]);
    // A late copy of an older REGISTER of the same Call-ID: refused.
    let late = sipe.register("alice", "c1", 2, SIPE).await;
    assert_eq!(late.status, 500);
    assert_eq!(common::reason(&late), "Out of order REGISTER");

    // A query from another connection sees the binding.
    let mut other = Tcp::connect(tcp).await;
    let query = other.register("alice", "q1", 1, "").await;
    assert_eq!(query.status, 200);
    let listed = all(&query, HeaderName::Contact);
    assert_eq!(listed.len(), 1);
    assert!(listed[0].contains(";expires=600;"), "{listed:?}");
    assert!(all(&query, HeaderName::Expires).is_empty());

    // Unregister.
    let bye = sipe
        .register("alice", "c1", 3, &format!("{SIPE}Expires: 0\r\n"))
        .await;
    assert_eq!(bye.status, 200);
    assert!(all(&bye, HeaderName::Contact).is_empty());
    assert_eq!(all(&bye, HeaderName::Expires), ["0"]);
    let query = other.register("alice", "q1", 2, "").await;
    assert!(all(&query, HeaderName::Contact).is_empty());
    server.wait_for_log(&["binding removed", "aor=sip:alice@lab.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_interval_too_brief_over_udp() {
    let server = Presenced::with_config(&config(""), 2);
    let addr = server.addr("udp", false);
    let socket = udp_client(addr).await;
    let local = socket.local_addr().unwrap();
    let ask = |call_id: &'static str, cseq: u32, extra: &'static str| {
        let text = register("bob", "UDP", local, call_id, cseq, extra);
        let socket = &socket;
        async move { response(&udp_exchange(socket, addr, text.as_bytes()).await) }
    };

    let brief = ask(
        "b1",
        1,
        "Contact: <sip:bob@127.0.0.1:5999>\r\nExpires: 10\r\n",
    )
    .await;
    assert_eq!(brief.status, 423);
    assert_eq!(all(&brief, HeaderName::MinExpires), ["60"]);

    let ok = ask(
        "b1",
        2,
        "Contact: <sip:bob@127.0.0.1:5999>, <sip:bob@127.0.0.1:5998>;expires=120\r\n",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(all(&ok, HeaderName::Contact).len(), 2);
    assert_eq!(all(&ok, HeaderName::Expires), ["120"]);

    let bad = ask("b2", 1, "Contact: *\r\n").await;
    assert_eq!(bad.status, 400);
    assert_eq!(common::reason(&bad), "Invalid wildcard Contact");

    let gone = ask("b2", 2, "Contact: *\r\nExpires: 0\r\n").await;
    assert_eq!(gone.status, 200);
    assert!(all(&gone, HeaderName::Contact).is_empty());
    let query = ask("b3", 1, "").await;
    assert_eq!(query.status, 200);
    assert!(all(&query, HeaderName::Contact).is_empty());
}

/// A binding made over TCP ends `flow_grace_secs` after its connection
/// closes, unless refreshed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_binding_ends_after_its_connection_grace_period() {
    let server = Presenced::with_config(
        &config("[store]\nmode = \"memory\"\n[registrar]\nflow_grace_secs = 2\n"),
        2,
    );
    let tcp = server.addr("tcp", false);
    let mut sipe = Tcp::connect(tcp).await;
    assert_eq!(sipe.register("carol", "k1", 1, SIPE).await.status, 200);
    drop(sipe);
    let mut other = Tcp::connect(tcp).await;
    // Within the grace period the binding is still there...
    let query = other.register("carol", "q", 1, "").await;
    assert_eq!(all(&query, HeaderName::Contact).len(), 1);
    // ...and then it is gone.
    server.wait_for_log(&["binding removed", "aor=sip:carol@lab.test"]);
    let query = other.register("carol", "q", 2, "").await;
    assert!(all(&query, HeaderName::Contact).is_empty());
}

/// Bindings acknowledged with 200 survive SIGKILL: after the restart a
/// query lists them (the TCP one within its grace period), and the stored
/// CSeq still refuses a late copy of an old REGISTER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
         [http]\nlisten = \"off\"\n[store]\ndata_dir = \"{}\"\n\
         [registrar]\nflow_grace_secs = 60\n",
        dir.path().join("data").display()
    );
    let server = Presenced::with_config(&config, 2);
    let udp = server.addr("udp", false);
    let socket = udp_client(udp).await;
    let local = socket.local_addr().unwrap();
    let text = register(
        "dave",
        "UDP",
        local,
        "d1",
        5,
        "Contact: <sip:dave@127.0.0.1:5997>;expires=600\r\n",
    );
    let ok = response(&udp_exchange(&socket, udp, text.as_bytes()).await);
    assert_eq!(ok.status, 200);
    let mut sipe = Tcp::connect(server.addr("tcp", false)).await;
    assert_eq!(sipe.register("alice", "a1", 1, SIPE).await.status, 200);

    // SIGKILL: no chance to flush anything.
    drop(server);
    drop(sipe);
    let restarted = Presenced::with_config(&config, 2);
    restarted.wait_for_log(&["bindings restored", "bindings=2", "live_bindings=2"]);

    let query = register("dave", "UDP", local, "q", 1, "");
    let listed = response(&udp_exchange(&socket, udp, query.as_bytes()).await);
    let contacts = all(&listed, HeaderName::Contact);
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert!(contacts[0].starts_with("<sip:dave@127.0.0.1:5997>;expires="));
    let late = response(&udp_exchange(&socket, udp, text.as_bytes()).await);
    assert_eq!(late.status, 500, "the stored CSeq still orders requests");

    let mut reconnected = Tcp::connect(restarted.addr("tcp", false)).await;
    let query = reconnected.register("alice", "q", 1, "").await;
    assert_eq!(all(&query, HeaderName::Contact).len(), 1);
    // SIPE re-registers on its new connection: the binding is its again.
    let ok = reconnected.register("alice", "a1", 2, SIPE).await;
    assert_eq!(ok.status, 200);
    assert_eq!(all(&ok, HeaderName::Contact).len(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// `/metrics` counts the bindings (refreshed once a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_bindings() {
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"tcp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\nmode = \"memory\"\n",
        1,
    );
    let http = server.http_addr();
    let mut sipe = Tcp::connect(server.addr("tcp", false)).await;
    assert_eq!(sipe.register("erin", "e1", 1, SIPE).await.status, 200);
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let (_, body) = tokio::task::spawn_blocking(move || common::http_get(http, "/metrics"))
            .await
            .expect("http get");
        if body.lines().any(|l| l == "presenced_registrar_bindings 1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request for a registered user reaches it on its binding's
/// connection: a dialect client subscribed over one TCP connection with its
/// GRUU as Contact, loses that connection, connects again and registers
/// again; the next NOTIFY of the old dialog comes over the new connection
/// (this server opens no connections to clients, so without the binding
/// the NOTIFY would fail and the subscription end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_follow_the_binding_to_a_new_connection() {
    let server = Presenced::with_config(&config("[store]\nmode = \"memory\"\n"), 2);
    let tcp = server.addr("tcp", false);
    let mut first = Tcp::connect(tcp).await;
    let ok = first.register("alice", "r1", 1, SIPE).await;
    assert_eq!(ok.status, 200, "{}", common::reason(&ok));
    let contact = all(&ok, HeaderName::Contact).join(",");
    let gruu = contact
        .split("gruu=\"")
        .nth(1)
        .and_then(|g| g.split('"').next())
        .expect("a GRUU")
        .to_owned();

    // Alice watches Bob (categories) with her GRUU as Contact.
    let subscribe = format!(
        "SUBSCRIBE sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKsub{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@lab.test>;tag=as1\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: s1\r\nCSeq: 1 SUBSCRIBE\r\nContact: <{gruu}>\r\nEvent: presence\r\n\
         Accept: application/msrtc-event-categories+xml\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
        local = first.local(),
        n = common::ua::unique(),
    );
    send(&mut first.stream, subscribe.as_bytes()).await;
    let mut ok = None;
    let mut notified = false;
    while ok.is_none() || !notified {
        match first.reader.next(&mut first.stream).await {
            sip::framing::Frame::Message(Ok(sip::Message::Response(r)), _) => ok = Some(r),
            sip::framing::Frame::Message(Ok(sip::Message::Request(n)), _) => {
                let answer = Response::to_request(&n, 200, None).encode();
                send(&mut first.stream, &answer).await;
                notified = true;
            }
            _ => {}
        }
    }
    assert_eq!(ok.map(|r| r.status), Some(200));
    // A round trip behind the 200 on the same connection: the server has
    // taken the 200 (and completed the NOTIFY) before the connection goes.
    let options = format!(
        "OPTIONS sip:lab.test SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKo{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@lab.test>;tag=o1\r\nTo: <sip:lab.test>\r\n\
         Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local = first.local(),
        n = common::ua::unique(),
    );
    assert_eq!(first.ask(&options).await.status, 200);
    drop(first); // the connection goes

    // Alice comes back on a new connection and registers again.
    let mut second = Tcp::connect(tcp).await;
    let ok = second.register("alice", "r1", 2, SIPE).await;
    assert_eq!(ok.status, 200, "{}", common::reason(&ok));

    // Bob publishes: Alice's NOTIFY arrives on the new connection.
    let bob = common::ua::Ua::new(server.addr("udp", false), "bob").await;
    let body = common::ua::pidf(&bob.aor(), "pc", "open", Some("busy"), "");
    let published = bob
        .send(bob.publish(&common::ua::Dialog::new(), 1, 600, None, Some(&body)))
        .await;
    assert_eq!(published.status, 200);
    let arrived = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            if let sip::framing::Frame::Message(Ok(sip::Message::Request(n)), _) =
                second.reader.next(&mut second.stream).await
            {
                return n;
            }
        }
    })
    .await;
    let Ok(notify) = arrived else {
        panic!("no NOTIFY on the new connection\n{}", server.log_text());
    };
    assert_eq!(notify.method, sip::Method::Notify);
    assert!(common::ua::text(&notify.body).contains("<availability>6500</availability>"));
}
