//! A harness for driving the [`Engine`] with real request texts, parsed by
//! `sip::parse::parse_datagram`, at explicit times.

#![allow(dead_code)]

pub mod lists;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use presence::{Action, Engine, EngineConfig, Input, NotifyId, NotifyOutcome, StoreOp};
use sip::{HeaderAccess, HeaderName, Message, Request, Response};

/// The flows of these tests: a connection number.
pub type Flow = u32;

pub const ALICE: &str = "sip:alice@example.com";
pub const BOB: &str = "sip:bob@example.com";
pub const CAROL: &str = "sip:carol@example.org";
/// The server's own URI, which goes into Contact.
pub const CONTACT: &str = "sip:pres@192.0.2.9:5060";

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// Parses a request written with `\n` line ends; Content-Length is added.
pub fn parse(head: &str, body: &str) -> Request {
    let mut text = head.trim_end().replace('\n', "\r\n");
    text.push_str(&format!("\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    match sip::parse::parse_datagram(Bytes::from(text)) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// A SUBSCRIBE, with the fields a test varies.
#[derive(Debug, Clone)]
pub struct Sub {
    pub watcher: String,
    pub presentity: String,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    pub event: String,
    pub expires: Option<u32>,
    /// The Contact URI; `None` leaves the header out.
    pub contact: Option<String>,
    pub extra: Vec<String>,
}

impl Sub {
    pub fn new(watcher: &str, presentity: &str, call_id: &str) -> Sub {
        Sub {
            watcher: watcher.into(),
            presentity: presentity.into(),
            call_id: call_id.into(),
            from_tag: format!("w-{call_id}"),
            to_tag: None,
            cseq: 1,
            event: "presence".into(),
            expires: Some(600),
            contact: Some("sip:watcher@192.0.2.1:5070".into()),
            extra: Vec::new(),
        }
    }

    pub fn event(mut self, event: &str) -> Sub {
        self.event = event.into();
        self
    }

    pub fn expires(mut self, expires: Option<u32>) -> Sub {
        self.expires = expires;
        self
    }

    pub fn contact(mut self, contact: Option<&str>) -> Sub {
        self.contact = contact.map(str::to_owned);
        self
    }

    pub fn header(mut self, line: &str) -> Sub {
        self.extra.push(line.into());
        self
    }

    /// The refresh of this subscription in dialog `to_tag`.
    pub fn in_dialog(&self, to_tag: &str, cseq: u32) -> Sub {
        Sub {
            to_tag: Some(to_tag.into()),
            cseq,
            extra: Vec::new(),
            ..self.clone()
        }
    }

    pub fn request(&self) -> Request {
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let mut head = format!(
            "SUBSCRIBE {p} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK{c}{n}\n\
             Max-Forwards: 70\nFrom: <{w}>;tag={ft}\nTo: <{p}>{to_tag}\nCall-ID: {c}\n\
             CSeq: {n} SUBSCRIBE\nEvent: {e}\n",
            p = self.presentity,
            w = self.watcher,
            c = self.call_id,
            n = self.cseq,
            ft = self.from_tag,
            e = self.event,
        );
        if let Some(c) = &self.contact {
            head.push_str(&format!("Contact: <{c}>\n"));
        }
        if let Some(x) = self.expires {
            head.push_str(&format!("Expires: {x}\n"));
        }
        for line in &self.extra {
            head.push_str(line);
            head.push('\n');
        }
        parse(&head, "")
    }
}

/// The Accept of a Microsoft-dialect watcher (SIPE's).
pub const ACCEPT_DIALECT: &str = "Accept: application/rlmi+xml, multipart/related, text/xml+msrtc.pidf, application/msrtc-event-categories+xml, application/xpidf+xml, application/pidf+xml";

/// SIPE's batched SUBSCRIBE (../shared/captures/sipe/SUBSCRIBE-presence-batched-adrl.txt)
/// for `resources`, as a new dialog or inside `dialog` (our tag).
pub fn batched(
    watcher: &str,
    resources: &[&str],
    action: &str,
    call_id: &str,
    to_tag: Option<&str>,
    cseq: u32,
) -> sip::Request {
    let list: String = resources
        .iter()
        .map(|r| format!("<resource uri=\"{r}\"/>"))
        .collect();
    let body = format!(
        "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" uri=\"{watcher}\" name=\"\">\
         <action name=\"{action}\" id=\"63792024\"><adhocList>{list}</adhocList>\
         <categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\"><category name=\"contactCard\"/>\
         <category name=\"note\"/><category name=\"state\"/></categoryList></action></batchSub>"
    );
    let to = match to_tag {
        Some(t) => format!("<{watcher}>;tag={t}"),
        None => format!("<{watcher}>"),
    };
    parse(
        &format!(
            "SUBSCRIBE {watcher} SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.3;branch=z9hG4bKb{call_id}{cseq}\nMax-Forwards: 70\n\
             From: <{watcher}>;tag=f-{call_id}\nTo: {to}\nCall-ID: {call_id}\nCSeq: {cseq} SUBSCRIBE\n\
             Require: adhoclist, categoryList\nSupported: eventlist\n{ACCEPT_DIALECT}\nSupported: ms-benotify\n\
             Event: presence\nContent-Type: application/msrtc-adrl-categorylist+xml\n\
             Contact: <{watcher};opaque=user:epid:x;gruu>\nExpires: 3600\n"
        ),
        &body,
    )
}

/// A PIDF body with one tuple.
pub fn pidf(entity: &str, basic: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"{entity}\"><tuple id=\"t1\"><status><basic>{basic}</basic></status>\
         <note>{note}</note></tuple></presence>"
    )
}

/// A PUBLISH of `body` (initial when `etag` is None).
pub fn publish(presentity: &str, etag: Option<&str>, body: &str, n: u64) -> Request {
    let mut head = format!(
        "PUBLISH {presentity} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKp{n}\n\
         Max-Forwards: 70\nFrom: <{presentity}>;tag=p{n}\nTo: <{presentity}>\nCall-ID: pub{n}\n\
         CSeq: 1 PUBLISH\nEvent: presence\nExpires: 3600\n"
    );
    if let Some(e) = etag {
        head.push_str(&format!("SIP-If-Match: {e}\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/pidf+xml\n");
    }
    parse(&head, body)
}

/// The engine with a counter for transactions and tags.
pub struct Harness {
    pub engine: Engine<Flow>,
    next: u64,
}

impl Harness {
    pub fn new(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(config, 7),
            next: 0,
        }
    }

    /// Hands a request over on flow 1 (UDP), with a fresh to-tag `t<n>`.
    pub fn request(&mut self, req: Request, now: SystemTime) -> Vec<Action<Flow>> {
        self.next += 1;
        self.engine.handle(
            Input::Request {
                txn: self.next,
                req,
                flow: 1,
                reliable: false,
                to_tag: format!("t{}", self.next),
                contact: sip::Uri::parse_str(CONTACT).unwrap(),
            },
            now,
        )
    }

    pub fn outcome(
        &mut self,
        id: NotifyId,
        outcome: NotifyOutcome,
        now: SystemTime,
    ) -> Vec<Action<Flow>> {
        self.engine
            .handle(Input::NotifyOutcome { id, outcome }, now)
    }

    /// Answers every NOTIFY in `actions` with 200, returning what follows.
    pub fn ok_all(&mut self, actions: &[Action<Flow>], now: SystemTime) -> Vec<Action<Flow>> {
        let mut out = Vec::new();
        for (id, _) in notifies(actions) {
            out.extend(self.outcome(id, NotifyOutcome::Response(200), now));
        }
        out
    }

    /// Answers every NOTIFY in `actions` with 200, and every NOTIFY those
    /// answers release, until none is left.
    pub fn ok_until_quiet(&mut self, actions: &[Action<Flow>], now: SystemTime) {
        let mut next = self.ok_all(actions, now);
        while !notifies(&next).is_empty() {
            next = self.ok_all(&next, now);
        }
    }

    /// Subscribes and answers the first NOTIFY; returns our tag.
    pub fn subscribed(&mut self, sub: &Sub, now: SystemTime) -> String {
        let actions = self.request(sub.request(), now);
        let tag = ok_tag(&actions);
        self.ok_all(&actions, now);
        tag
    }

    /// Publishes and returns the entity-tag granted.
    pub fn published(&mut self, req: Request, now: SystemTime) -> (String, Vec<Action<Flow>>) {
        let actions = self.request(req, now);
        let resp = responses(&actions)[0].clone();
        assert_eq!(resp.status, 200, "PUBLISH refused: {resp:?}");
        let etag = header(&resp.headers, HeaderName::SipEtag);
        (etag, actions)
    }
}

pub fn responses(actions: &[Action<Flow>]) -> Vec<&Response> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { resp, .. } => Some(resp),
            _ => None,
        })
        .collect()
}

/// The refusals by policy reported among `actions`: (label, subject).
#[allow(dead_code)] // not every test binary checks refusals
pub fn refusals(actions: &[Action<Flow>]) -> Vec<(&'static str, &str)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Refused {
                refusal, subject, ..
            } => Some((refusal.as_str(), subject.as_str())),
            _ => None,
        })
        .collect()
}

/// The NOTIFYs among `actions`, parsed back into requests. (Leaked, so
/// the tests can copy the pairs around as they did when the engine
/// returned `Request`s; a test builds a few dozen.)
pub fn notifies(actions: &[Action<Flow>]) -> Vec<(NotifyId, &'static Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify { id, req, .. } => {
                let req: &'static Request = Box::leak(Box::new(req.to_request()));
                Some((*id, req))
            }
            _ => None,
        })
        .collect()
}

pub fn stores(actions: &[Action<Flow>]) -> Vec<&StoreOp<Flow>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Store(ops) => Some(ops),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The single response's status.
pub fn status(actions: &[Action<Flow>]) -> u16 {
    let r = responses(actions);
    assert_eq!(r.len(), 1, "{actions:?}");
    r[0].status
}

/// The To tag of the 200 among `actions`.
pub fn ok_tag(actions: &[Action<Flow>]) -> String {
    let r = responses(actions);
    assert_eq!(r.len(), 1, "{actions:?}");
    assert_eq!(r[0].status, 200, "{:?}", r[0]);
    String::from_utf8(r[0].header_to().unwrap().tag().unwrap().to_vec()).unwrap()
}

pub fn header(h: &sip::Headers, name: HeaderName) -> String {
    h.value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

pub fn body(req: &Request) -> String {
    String::from_utf8_lossy(&req.body).into_owned()
}

/// A compact picture of the action kinds, for ordering assertions.
pub fn kinds(actions: &[Action<Flow>]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::Store(_) => "store",
            Action::Respond { .. } => "respond",
            Action::Notify { .. } => "notify",
            Action::Refused { .. } => "refused",
        })
        .collect()
}
