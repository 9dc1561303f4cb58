//! Request text, written from templates rather than through the message
//! model: a load generator sends far more than it parses, and appending a
//! few fixed slices and numbers to one buffer costs one allocation per
//! request, which the retransmission table then keeps.
//!
//! Every name a run creates (watcher and presentity AORs, Call-IDs, tags,
//! branches) is derived from a number and the run id, so a dialog stores
//! no strings and a response or NOTIFY is matched by parsing the number
//! back out of its Call-ID or branch. The run id keeps runs against the
//! same server apart: a later run never sees an earlier run's state.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use sip::{Request, Response};

/// The transport a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Datagrams; the client retransmits (RFC 3261 §17.1.2.2).
    Udp,
    /// A stream; no retransmission, only the overall timeout (Timer F).
    Tcp,
}

impl Transport {
    /// The Via transport token.
    pub fn token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Reliable transports are not retransmitted over (RFC 3261 §17.1.2.2).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The URI parameter a Contact needs so the server reaches us the same way.
    fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        }
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            other => Err(format!("{other:?} is not a transport (udp or tcp)")),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One socket or connection as the requests sent on it must describe it:
/// its transport and the address that goes into Via and Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// How requests travel.
    pub transport: Transport,
    /// `host:port` of the socket, for Via sent-by and Contact.
    pub host_port: String,
}

/// The naming scheme of one run.
#[derive(Debug, Clone)]
pub struct Names {
    run: String,
    domain: String,
}

/// The text a PUBLISH body carries so that a NOTIFY can be traced back to
/// the PUBLISH (the fan-out round) that caused it.
const MARKER: &[u8] = b"bench-r";

impl Names {
    /// A scheme for run `run` (letters and digits only) in `domain`.
    pub fn new(run: &str, domain: &str) -> Names {
        Names {
            run: run.to_owned(),
            domain: domain.to_owned(),
        }
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// `sip:w{i}.{run}@{domain}`.
    pub fn watcher_aor(&self, out: &mut Vec<u8>, i: u32) {
        let _ = write!(out, "sip:w{i}.{}@{}", self.run, self.domain);
    }

    /// `sip:p{j}.{run}@{domain}`.
    pub fn presentity_aor(&self, out: &mut Vec<u8>, j: u32) {
        let _ = write!(out, "sip:p{j}.{}@{}", self.run, self.domain);
    }

    /// The presentity a URI names (`sip:p{j}.{run}@...`, with or without
    /// angle brackets), if it is one of this run's.
    pub fn presentity_of(&self, uri: &[u8]) -> Option<u32> {
        let uri = uri.strip_prefix(b"<").unwrap_or(uri);
        let rest = uri.strip_prefix(b"sip:p")?;
        let dot = rest.iter().position(|&b| b == b'.')?;
        let after = rest[dot + 1..].strip_prefix(self.run.as_bytes())?;
        if after.first() != Some(&b'@') {
            return None;
        }
        parse_u64(&rest[..dot]).and_then(|j| u32::try_from(j).ok())
    }

    /// The Call-ID of subscription dialog `d`.
    fn dialog_call_id(&self, out: &mut Vec<u8>, d: u32) {
        let _ = write!(out, "{}-d{d}", self.run);
    }

    /// The dialog a Call-ID names, if it is one of this run's.
    pub fn dialog_of(&self, call_id: &[u8]) -> Option<u32> {
        let rest = call_id.strip_prefix(self.run.as_bytes())?;
        parse_u64(rest.strip_prefix(b"-d")?).and_then(|d| u32::try_from(d).ok())
    }

    /// The branch of transaction `id` (RFC 3261 §8.1.1.7 magic cookie first).
    fn branch(&self, out: &mut Vec<u8>, id: u64) {
        let _ = write!(out, "z9hG4bK-{}-{id}", self.run);
    }

    /// The transaction a branch names, if it is one of this run's.
    pub fn txn_of(&self, branch: &[u8]) -> Option<u64> {
        let rest = branch.strip_prefix(b"z9hG4bK-")?;
        let rest = rest.strip_prefix(self.run.as_bytes())?;
        parse_u64(rest.strip_prefix(b"-")?)
    }

    /// The rest of the request line, Via (with rport, RFC 3581) and
    /// Max-Forwards.
    fn via(&self, out: &mut Vec<u8>, local: &Local, txn: u64) {
        let _ = write!(
            out,
            " SIP/2.0\r\nVia: SIP/2.0/{} {};branch=",
            local.transport.token(),
            local.host_port
        );
        self.branch(out, txn);
        out.extend_from_slice(b";rport\r\nMax-Forwards: 70\r\n");
    }
}

/// What varies between the SUBSCRIBEs of a run.
#[derive(Debug, Clone, Copy)]
pub struct Subscribe<'a> {
    /// The socket it goes out on.
    pub local: &'a Local,
    /// The dialog number (gives Call-ID and From tag).
    pub dialog: u32,
    /// The watcher number (gives From and Contact).
    pub watcher: u32,
    /// The presentity number (gives Request-URI and To).
    pub presentity: u32,
    /// The server's tag, for a refresh inside the dialog.
    pub remote_tag: Option<&'a [u8]>,
    /// CSeq number.
    pub cseq: u32,
    /// Expires; 0 ends the subscription.
    pub expires: u32,
    /// The transaction number (gives the branch).
    pub txn: u64,
}

/// A SUBSCRIBE for presence in PIDF (RFC 3856 §6).
pub fn subscribe(names: &Names, r: &Subscribe<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"SUBSCRIBE ");
    names.presentity_aor(&mut out, r.presentity);
    names.via(&mut out, r.local, r.txn);
    out.extend_from_slice(b"From: <");
    names.watcher_aor(&mut out, r.watcher);
    let _ = write!(out, ">;tag=t{}\r\nTo: <", r.dialog);
    names.presentity_aor(&mut out, r.presentity);
    out.push(b'>');
    if let Some(tag) = r.remote_tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag);
    }
    out.extend_from_slice(b"\r\nCall-ID: ");
    names.dialog_call_id(&mut out, r.dialog);
    let _ = write!(
        out,
        "\r\nCSeq: {} SUBSCRIBE\r\nContact: <sip:w{}.{}@{}{}>\r\nEvent: presence\r\n\
         Accept: application/pidf+xml\r\nExpires: {}\r\nContent-Length: 0\r\n\r\n",
        r.cseq,
        r.watcher,
        names.run,
        r.local.host_port,
        r.local.transport.uri_param(),
        r.expires
    );
    out
}

/// What varies between the batched SUBSCRIBEs of a run (the Microsoft
/// dialect, [MS-PRES] §3.7.4.3): one dialog per watcher over its whole
/// contact list, addressed to the watcher's own URI.
#[derive(Debug, Clone, Copy)]
pub struct BatchSubscribe<'a> {
    /// The socket it goes out on.
    pub local: &'a Local,
    /// The dialog number (gives Call-ID and From tag).
    pub dialog: u32,
    /// The watcher number (gives Request-URI, From, To and Contact).
    pub watcher: u32,
    /// The presentities to add, as an `adhocList`; empty for a refresh or
    /// an unsubscription, which then carries no body.
    pub contacts: &'a [u32],
    /// The server's tag, for a request inside the dialog.
    pub remote_tag: Option<&'a [u8]>,
    /// CSeq number.
    pub cseq: u32,
    /// Expires; 0 ends the subscription.
    pub expires: u32,
    /// The transaction number (gives the branch).
    pub txn: u64,
}

/// A batched SUBSCRIBE as pidgin-sipe sends it
/// (../shared/captures/sipe/SUBSCRIBE-presence-batched-adrl.txt), without
/// `ms-piggyback-first-notify`: the first NOTIFY comes on its own.
pub fn batch_subscribe(names: &Names, r: &BatchSubscribe<'_>) -> Vec<u8> {
    let mut aor = Vec::with_capacity(64);
    names.watcher_aor(&mut aor, r.watcher);
    let mut out = Vec::with_capacity(900 + 48 * r.contacts.len());
    out.extend_from_slice(b"SUBSCRIBE ");
    out.extend_from_slice(&aor);
    names.via(&mut out, r.local, r.txn);
    out.extend_from_slice(b"From: <");
    out.extend_from_slice(&aor);
    let _ = write!(out, ">;tag=t{}\r\nTo: <", r.dialog);
    out.extend_from_slice(&aor);
    out.push(b'>');
    if let Some(tag) = r.remote_tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag);
    }
    out.extend_from_slice(b"\r\nCall-ID: ");
    names.dialog_call_id(&mut out, r.dialog);
    let _ = write!(
        out,
        "\r\nCSeq: {} SUBSCRIBE\r\nContact: <sip:w{}.{}@{}{}>\r\nEvent: presence\r\n\
         Require: adhoclist, categoryList\r\nSupported: eventlist\r\nSupported: ms-benotify\r\n\
         Accept: application/msrtc-event-categories+xml, application/rlmi+xml, multipart/related\r\n\
         Expires: {}\r\n",
        r.cseq,
        r.watcher,
        names.run,
        r.local.host_port,
        r.local.transport.uri_param(),
        r.expires
    );
    if r.contacts.is_empty() {
        out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        return out;
    }
    let mut body = Vec::with_capacity(400 + 48 * r.contacts.len());
    body.extend_from_slice(
        b"<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" uri=\"",
    );
    body.extend_from_slice(&aor);
    body.extend_from_slice(b"\" name=\"\"><action name=\"subscribe\" id=\"1\"><adhocList>");
    for &c in r.contacts {
        body.extend_from_slice(b"<resource uri=\"");
        names.presentity_aor(&mut body, c);
        body.extend_from_slice(b"\"/>");
    }
    body.extend_from_slice(
        b"</adhocList><categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\">\
          <category name=\"contactCard\"/><category name=\"note\"/><category name=\"state\"/>\
          </categoryList></action></batchSub>",
    );
    let _ = write!(
        out,
        "Content-Type: application/msrtc-adrl-categorylist+xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(&body);
    out
}

/// What varies between the PUBLISHes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    /// The socket it goes out on.
    pub local: &'a Local,
    /// The presentity published for (its own AOR is the target).
    pub presentity: u32,
    /// CSeq number (the Call-ID is fixed per presentity).
    pub cseq: u32,
    /// Expires; 0 removes the publication.
    pub expires: u32,
    /// The entity-tag being refreshed, modified or removed (RFC 3903 §4.1).
    pub if_match: Option<&'a [u8]>,
    /// With a body: the marker it carries; without: a refresh or removal.
    pub marker: Option<u64>,
    /// An RPID activity (RFC 4480 §3.2: `busy`, `away`, `on-the-phone`) for
    /// the body's person element, so state changes look like a client's;
    /// `None` publishes plain availability.
    pub activity: Option<&'a str>,
    /// The transaction number (gives the branch).
    pub txn: u64,
}

/// A PUBLISH (RFC 3903 §4): create and modify carry a PIDF body whose note
/// holds the marker (and, with an activity, an RPID person after it, as
/// RFC 3863 §4.1 orders extensions); refresh and removal carry none.
pub fn publish(names: &Names, r: &Publish<'_>) -> Vec<u8> {
    let mut aor = Vec::with_capacity(64);
    names.presentity_aor(&mut aor, r.presentity);
    let mut out = Vec::with_capacity(768);
    out.extend_from_slice(b"PUBLISH ");
    out.extend_from_slice(&aor);
    names.via(&mut out, r.local, r.txn);
    out.extend_from_slice(b"From: <");
    out.extend_from_slice(&aor);
    out.extend_from_slice(b">;tag=pub\r\nTo: <");
    out.extend_from_slice(&aor);
    let _ = write!(
        out,
        ">\r\nCall-ID: {}-p{}\r\nCSeq: {} PUBLISH\r\nEvent: presence\r\nExpires: {}\r\n",
        names.run, r.presentity, r.cseq, r.expires
    );
    if let Some(etag) = r.if_match {
        out.extend_from_slice(b"SIP-If-Match: ");
        out.extend_from_slice(etag);
        out.extend_from_slice(b"\r\n");
    }
    match r.marker {
        Some(marker) => {
            let mut body = Vec::with_capacity(320);
            body.extend_from_slice(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                  <presence xmlns=\"urn:ietf:params:xml:ns:pidf\"",
            );
            if r.activity.is_some() {
                body.extend_from_slice(
                    b" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
                      xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"",
                );
            }
            body.extend_from_slice(b" entity=\"");
            body.extend_from_slice(&aor);
            body.extend_from_slice(
                b"\"><tuple id=\"bench\"><status><basic>open</basic></status></tuple><note>",
            );
            body.extend_from_slice(MARKER);
            let _ = write!(body, "{marker}.</note>");
            if let Some(activity) = r.activity {
                let _ = write!(
                    body,
                    "<dm:person id=\"bench\"><rpid:activities><rpid:{activity}/>\
                     </rpid:activities></dm:person>"
                );
            }
            body.extend_from_slice(b"</presence>");
            let _ = write!(
                out,
                "Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            out.extend_from_slice(&body);
        }
        None => out.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
    }
    out
}

/// The marker a NOTIFY body carries, if it reflects one of our PUBLISHes.
pub fn find_marker(body: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(body, MARKER)? + MARKER.len();
    let rest = &body[at..];
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    parse_u64(&rest[..end])
}

/// What a client answers to a request the server sends: 200 to NOTIFY (and
/// OPTIONS, so a keep-alive probe does not fail), nothing to BENOTIFY (the
/// Microsoft dialect's best-effort NOTIFY is never answered), 501 to
/// anything else. The To tag a 200 to an in-dialog NOTIFY needs is already
/// in the request.
pub fn answer(req: &Request) -> Option<Vec<u8>> {
    let status = match req.method.as_bytes() {
        b"NOTIFY" | b"OPTIONS" => 200,
        b"BENOTIFY" => return None,
        _ => 501,
    };
    Some(Response::to_request(req, status, None).encode())
}

/// Decimal digits to a number; `None` for empty, non-digits or overflow.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sip::{HeaderAccess, HeaderName, Message};

    fn local(transport: Transport) -> Local {
        Local {
            transport,
            host_port: "127.0.0.1:40000".into(),
        }
    }

    fn parse(text: Vec<u8>) -> Request {
        match sip::parse::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn subscribe_parses_and_names_round_trip() {
        let names = Names::new("r1", "bench.test");
        let l = local(Transport::Tcp);
        let req = parse(subscribe(
            &names,
            &Subscribe {
                local: &l,
                dialog: 7,
                watcher: 3,
                presentity: 9,
                remote_tag: Some(b"srv"),
                cseq: 2,
                expires: 600,
                txn: 42,
            },
        ));
        assert_eq!(&req.uri.as_bytes()[..], b"sip:p9.r1@bench.test");
        let via = req.top_via().expect("via");
        assert_eq!(names.txn_of(via.branch().expect("branch")), Some(42));
        assert_eq!(names.dialog_of(&req.call_id().expect("call-id")), Some(7));
        assert_eq!(
            req.header_to().expect("to").tag().as_deref(),
            Some(&b"srv"[..])
        );
        let contact = req.headers.value(HeaderName::Contact).expect("contact");
        assert!(contact.ends_with(b";transport=tcp>"));
        assert_eq!(
            req.headers.value(HeaderName::Expires).map(|v| &v[..]),
            Some(&b"600"[..])
        );
    }

    #[test]
    fn publish_body_carries_the_marker() {
        let names = Names::new("r1", "bench.test");
        let l = local(Transport::Udp);
        let req = parse(publish(
            &names,
            &Publish {
                local: &l,
                presentity: 4,
                cseq: 3,
                expires: 60,
                if_match: Some(b"e1"),
                marker: Some(17),
                activity: Some("on-the-phone"),
                txn: 5,
            },
        ));
        assert_eq!(find_marker(&req.body), Some(17));
        let body = String::from_utf8_lossy(&req.body);
        assert!(
            body.contains("data-model\" xmlns:rpid=")
                && body.contains(
                    "</note><dm:person id=\"bench\"><rpid:activities><rpid:on-the-phone/>"
                ),
            "{body}"
        );
        assert_eq!(
            req.headers.value(HeaderName::SipIfMatch).map(|v| &v[..]),
            Some(&b"e1"[..])
        );
        let refresh = parse(publish(
            &names,
            &Publish {
                local: &l,
                presentity: 4,
                cseq: 4,
                expires: 60,
                if_match: Some(b"e2"),
                marker: None,
                activity: None,
                txn: 6,
            },
        ));
        assert!(refresh.body.is_empty());
    }

    #[test]
    fn foreign_names_are_not_ours() {
        let names = Names::new("r1", "bench.test");
        assert_eq!(names.dialog_of(b"r2-d7"), None);
        assert_eq!(names.dialog_of(b"r1-d"), None);
        assert_eq!(names.dialog_of(b"r1-d99999999999"), None);
        assert_eq!(names.txn_of(b"z9hG4bK-r1-x"), None);
        assert_eq!(find_marker(b"<note>bench-r</note>"), None);
        assert_eq!(find_marker(b"no marker"), None);
    }

    #[test]
    fn notify_gets_200_and_other_methods_501() {
        let notify = "NOTIFY sip:w1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
                      From: <sip:p@h>;tag=s\r\nTo: <sip:w@h>;tag=t1\r\nCall-ID: r1-d1\r\nCSeq: 1 NOTIFY\r\n\
                      Content-Length: 0\r\n\r\n";
        let ok = String::from_utf8(answer(&parse(notify.as_bytes().to_vec())).expect("answered"))
            .expect("utf8");
        assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
        assert!(ok.contains("To: <sip:w@h>;tag=t1"));
        let info = notify
            .replace("NOTIFY sip", "INFO sip")
            .replace("1 NOTIFY", "1 INFO");
        let no =
            String::from_utf8(answer(&parse(info.into_bytes())).expect("answered")).expect("utf8");
        assert!(no.starts_with("SIP/2.0 501 "), "{no}");
        let benotify = notify
            .replace("NOTIFY sip", "BENOTIFY sip")
            .replace("1 NOTIFY", "2 BENOTIFY");
        assert_eq!(answer(&parse(benotify.into_bytes())), None);
    }

    #[test]
    fn batched_subscribe_lists_the_contacts_as_sipe_does() {
        let names = Names::new("r1", "bench.test");
        let l = local(Transport::Udp);
        let req = parse(batch_subscribe(
            &names,
            &BatchSubscribe {
                local: &l,
                dialog: 5,
                watcher: 3,
                contacts: &[7, 11],
                remote_tag: None,
                cseq: 1,
                expires: 3600,
                txn: 9,
            },
        ));
        assert_eq!(&req.uri.as_bytes()[..], b"sip:w3.r1@bench.test");
        assert_eq!(names.dialog_of(&req.call_id().expect("call-id")), Some(5));
        let value = |h: HeaderName| {
            req.headers
                .value(h)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(
            value(HeaderName::ContentType).as_deref(),
            Some("application/msrtc-adrl-categorylist+xml")
        );
        let body = String::from_utf8_lossy(&req.body);
        assert!(
            body.contains(" uri=\"sip:w3.r1@bench.test\" name=\"\"><action name=\"subscribe\"")
                && body.contains(
                    "<adhocList><resource uri=\"sip:p7.r1@bench.test\"/>\
                     <resource uri=\"sip:p11.r1@bench.test\"/></adhocList>"
                ),
            "{body}"
        );
        let text = String::from_utf8_lossy(&req.encode()).into_owned();
        for h in [
            "Require: adhoclist, categoryList",
            "Supported: eventlist",
            "Supported: ms-benotify",
            "Event: presence",
        ] {
            assert!(text.contains(h), "{h} missing: {text}");
        }
        // A refresh or an unsubscription carries no body.
        let end = parse(batch_subscribe(
            &names,
            &BatchSubscribe {
                local: &l,
                dialog: 5,
                watcher: 3,
                contacts: &[],
                remote_tag: Some(b"srv"),
                cseq: 2,
                expires: 0,
                txn: 10,
            },
        ));
        assert!(end.body.is_empty());
        assert!(end.headers.value(HeaderName::ContentType).is_none());
    }

    #[test]
    fn presentity_uris_map_back_to_numbers() {
        let names = Names::new("r1", "bench.test");
        let mut uri = Vec::new();
        names.presentity_aor(&mut uri, 42);
        assert_eq!(names.presentity_of(&uri), Some(42));
        assert_eq!(names.presentity_of(b"<sip:p7.r1@bench.test>"), Some(7));
        assert_eq!(names.presentity_of(b"sip:p7.r12@bench.test"), None);
        assert_eq!(names.presentity_of(b"sip:w7.r1@bench.test"), None);
        assert_eq!(names.presentity_of(b"sip:px.r1@bench.test"), None);
    }
}
