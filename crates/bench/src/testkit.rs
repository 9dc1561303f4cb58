//! A presence server in a few dozen lines, with no I/O, for unit tests of
//! the core and the scenarios: it answers SUBSCRIBE with 200 and a NOTIFY,
//! PUBLISH with 200 and a SIP-ETag, and NOTIFYs every watcher of a
//! presentity whose PUBLISH carried a body (copying the body's marker).
//! A batched SUBSCRIBE (a `<batchSub>` body) gets an RLMI multipart with a
//! category part per listed presentity, and a PUBLISH to one of them a
//! delta with that presentity's part, the marker in its custom text.

use std::collections::HashMap;

use bytes::Bytes;
use sip::{HeaderAccess, HeaderName, Message, Request, Response};

use crate::scenario::Engine;
use crate::template::{Local, Transport};

/// A watcher's dialog as the fake server keeps it.
struct Sub {
    call_id: String,
    watcher: String,
    presentity: String,
    tag: String,
    cseq: u32,
    /// The presentities of a batched dialog (AORs without brackets).
    resources: Vec<String>,
}

/// The fake server.
#[derive(Default)]
pub struct FakeServer {
    subs: Vec<Sub>,
    by_call_id: HashMap<String, usize>,
    etags: u64,
    /// When set, SUBSCRIBEs get this status and nothing else.
    pub reject_subscribe: Option<u16>,
    /// When set, requests are swallowed (to exercise timeouts).
    pub silent: bool,
    /// NOTIFYs the server sent.
    pub notifies_sent: usize,
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The name-addr of a From/To value without its parameters.
fn addr(v: &str) -> String {
    v.split(";tag=").next().unwrap_or(v).to_owned()
}

impl FakeServer {
    /// Answers one request; returns what the server sends back.
    pub fn handle(&mut self, bytes: &[u8]) -> Vec<Message> {
        let req = match sip::parse::parse_datagram(Bytes::copy_from_slice(bytes)) {
            Ok(Message::Request(r)) => r,
            other => panic!("the client sent a non-request: {other:?}"),
        };
        if self.silent {
            return Vec::new();
        }
        match req.method.as_bytes() {
            b"SUBSCRIBE" => self.subscribe(&req),
            b"PUBLISH" => self.publish(&req),
            other => panic!("unexpected {}", String::from_utf8_lossy(other)),
        }
    }

    fn subscribe(&mut self, req: &Request) -> Vec<Message> {
        if let Some(status) = self.reject_subscribe {
            return vec![Message::Response(Response::to_request(
                req,
                status,
                Some("x"),
            ))];
        }
        let call_id = text(&req.call_id().expect("call-id"));
        let i = match self.by_call_id.get(&call_id) {
            Some(&i) => i,
            None => {
                let i = self.subs.len();
                self.subs.push(Sub {
                    call_id: call_id.clone(),
                    watcher: text(req.headers.value(HeaderName::From).expect("from")),
                    presentity: addr(&text(req.headers.value(HeaderName::To).expect("to"))),
                    tag: format!("s{i}"),
                    cseq: 0,
                    resources: resources(&text(&req.body)),
                });
                self.by_call_id.insert(call_id, i);
                i
            }
        };
        let tag = self.subs[i].tag.clone();
        let ok = Response::to_request(req, 200, Some(&tag));
        if self.subs[i].resources.is_empty() {
            return vec![Message::Response(ok), self.notify(i, "")];
        }
        let all = self.subs[i].resources.clone();
        let parts: Vec<(&str, &str)> = all.iter().map(|r| (r.as_str(), "")).collect();
        vec![Message::Response(ok), self.batch_notify(i, true, &parts)]
    }

    /// A batched NOTIFY: the RLMI list and a category part per
    /// (presentity, custom text).
    fn batch_notify(&mut self, i: usize, full: bool, parts: &[(&str, &str)]) -> Message {
        let boundary = "fake-rlmi";
        let mut body = format!(
            "--{boundary}\r\nContent-Type: application/rlmi+xml\r\n\r\n\
             <list xmlns=\"urn:ietf:params:xml:ns:rlmi\" version=\"0\" fullState=\"{full}\">"
        );
        for (uri, _) in parts {
            body += &format!(
                "<resource uri=\"{uri}\"><instance id=\"1\" state=\"active\" cid=\"{uri}\"/></resource>"
            );
        }
        body += "</list>\r\n";
        for (uri, custom) in parts {
            body += &format!(
                "--{boundary}\r\nContent-Type: application/msrtc-event-categories+xml\r\n\r\n\
                 <categories uri=\"{uri}\"><custom LCID=\"1033\">{custom}</custom></categories>\r\n"
            );
        }
        body += &format!("--{boundary}--\r\n");
        let ct = format!("multipart/related; type=\"application/rlmi+xml\"; boundary={boundary}");
        self.notify_typed(i, &body, Some(&ct))
    }

    fn publish(&mut self, req: &Request) -> Vec<Message> {
        self.etags += 1;
        let mut ok = Response::to_request(req, 200, Some("p"));
        ok.headers.push(sip::Header::new(
            HeaderName::SipEtag,
            format!("e{}", self.etags),
        ));
        let mut out = vec![Message::Response(ok)];
        if !req.body.is_empty() {
            let aor = format!("<{}>", text(req.uri.as_bytes()));
            let body = text(&req.body);
            let watching: Vec<usize> = (0..self.subs.len())
                .filter(|&i| self.subs[i].presentity == aor)
                .collect();
            for i in watching {
                out.push(self.notify(i, &body));
            }
            let bare = text(req.uri.as_bytes());
            let custom = crate::template::find_marker(&req.body)
                .map(|m| format!("bench-r{m}."))
                .unwrap_or_default();
            let batches: Vec<usize> = (0..self.subs.len())
                .filter(|&i| self.subs[i].resources.contains(&bare))
                .collect();
            for i in batches {
                out.push(self.batch_notify(i, false, &[(bare.as_str(), custom.as_str())]));
            }
        }
        out
    }

    fn notify(&mut self, i: usize, body: &str) -> Message {
        self.notify_typed(i, body, None)
    }

    fn notify_typed(&mut self, i: usize, body: &str, content_type: Option<&str>) -> Message {
        self.notifies_sent += 1;
        let content_type = content_type
            .map(|ct| format!("Content-Type: {ct}\r\n"))
            .unwrap_or_default();
        let s = &mut self.subs[i];
        s.cseq += 1;
        let wire = format!(
            "NOTIFY sip:w@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn{i}x{c}\r\n\
             From: {p};tag={t}\r\nTo: {w}\r\nCall-ID: {id}\r\nCSeq: {c} NOTIFY\r\n\
             Event: presence\r\nSubscription-State: active;expires=60\r\n\
             {content_type}Content-Length: {len}\r\n\r\n{body}",
            p = s.presentity,
            t = s.tag,
            w = s.watcher,
            id = s.call_id,
            c = s.cseq,
            len = body.len(),
        );
        sip::parse::parse_datagram(Bytes::from(wire)).expect("fake NOTIFY parses")
    }
}

/// The resource URIs of a `<batchSub>` body (none for other bodies).
fn resources(body: &str) -> Vec<String> {
    body.split("<resource uri=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Two UDP links, as the tests' clients have.
pub fn locals() -> Vec<Local> {
    (0..2)
        .map(|i| Local {
            transport: Transport::Udp,
            host_port: format!("127.0.0.1:{}", 40000 + i),
        })
        .collect()
}

/// Moves every transmit of `engine` through `server` and back, until
/// nothing is left to send; returns how many requests went out.
pub fn pump(engine: &mut Engine, server: &mut FakeServer, now: std::time::Instant) -> usize {
    let mut sent = 0;
    while let Some(t) = engine.poll_transmit() {
        sent += 1;
        for m in server.handle(&t.bytes) {
            engine.handle_message(m, now);
        }
    }
    sent
}
