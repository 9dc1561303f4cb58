//! A presence server in a few dozen lines, with no I/O, for unit tests of
//! the core and the scenarios: it answers SUBSCRIBE with 200 and a NOTIFY,
//! PUBLISH with 200 and a SIP-ETag, and NOTIFYs every watcher of a
//! presentity whose PUBLISH carried a body (copying the body's marker).

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
                });
                self.by_call_id.insert(call_id, i);
                i
            }
        };
        let tag = self.subs[i].tag.clone();
        let ok = Response::to_request(req, 200, Some(&tag));
        vec![Message::Response(ok), self.notify(i, "")]
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
        }
        out
    }

    fn notify(&mut self, i: usize, body: &str) -> Message {
        self.notifies_sent += 1;
        let s = &mut self.subs[i];
        s.cseq += 1;
        let wire = format!(
            "NOTIFY sip:w@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn{i}x{c}\r\n\
             From: {p};tag={t}\r\nTo: {w}\r\nCall-ID: {id}\r\nCSeq: {c} NOTIFY\r\n\
             Event: presence\r\nSubscription-State: active;expires=60\r\n\
             Content-Length: {len}\r\n\r\n{body}",
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
