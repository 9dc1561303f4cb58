//! The stateless policy of the SIP core: what the server answers on its own,
//! before any presence logic runs (RFC 3261 §8.2, the UAS checks in order).
//!
//! [`Endpoint::dispatch`] looks at one new request and either answers it
//! (OPTIONS, and every rejection: 405, 416, 420, 481, 489, 501) or hands it
//! to the service the [`Router`] names for it, the seam where the presence
//! server (and later the registrar and the Microsoft dialect) plug in. What
//! the server allows, accepts and supports is the router's registry; the
//! endpoint only applies it. It is pure, so every rule below is a unit
//! test.
//!
//! Two rules are deliberately absent, as RFC 3261 has them:
//! - Max-Forwards is a proxy's concern (§16.3); a UAS is the target and
//!   answers even when it reached zero (§8.2, and §11 for OPTIONS), so no 483.
//! - Proxy-Require is read by proxies only (§20.29); a UAS ignores it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

use bytes::Bytes;
use sip::uri::Scheme;
use sip::{Header, HeaderAccess, HeaderName, Method, Request, Response};

use crate::router::{Route, Router, Service};

/// One dialog as the UAS sees it (RFC 3261 §12): Call-ID, our tag (the To
/// tag of an incoming request) and the peer's (its From tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: Bytes,
    /// The tag this server chose.
    pub local_tag: Bytes,
    /// The tag the peer chose; empty when it sent none (RFC 2543 peers).
    pub remote_tag: Bytes,
}

/// Dialog lookup, supplied by the presence layer (subscriptions are
/// dialogs). The endpoint needs only to know whether one exists, to answer
/// 481 for in-dialog requests that match none (RFC 3261 §12.2.2).
pub trait Dialogs {
    /// True when this dialog exists.
    fn contains(&self, id: &DialogId) -> bool;
}

/// The dialog table of a server that has no dialogs yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDialogs;

impl Dialogs for NoDialogs {
    fn contains(&self, _id: &DialogId) -> bool {
        false
    }
}

/// What the endpoint may ask of the rest of the core: the state it does
/// not own. Kept small so the policy stays a pure function.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The application's dialogs.
    pub dialogs: &'a dyn Dialogs,
    /// For a CANCEL: whether it matches a live INVITE server transaction
    /// (`sip::transaction::Layer::find_invite_for_cancel`).
    pub cancel_matches: bool,
}

impl<'a> Context<'a> {
    /// A context with these dialogs and no transaction for a CANCEL.
    pub fn new(dialogs: &'a dyn Dialogs) -> Context<'a> {
        Context {
            dialogs,
            cancel_matches: false,
        }
    }
}

/// What the core does with a new request.
#[derive(Debug)]
pub enum Dispatch {
    /// Send this response; the request goes no further.
    Answer(Response),
    /// Hand the request to `service`, with the To tag its answers must
    /// carry when it opens no dialog of its own. (Boxed: a request is
    /// several times larger than the other variants.)
    Service(Service, Box<Request>, String),
    /// An in-dialog request (NOTIFY, BYE) whose dialog exists: the core
    /// finds its owner. The To tag is for an answer of its own.
    InDialog(Box<Request>, String),
    /// Nothing to answer (ACK, which never gets a response).
    Absorb,
}

/// Makes To tags (RFC 3261 §19.3). A tag is a keyed hash of what
/// identifies the request, so a retransmission gets the same tag even if it
/// is answered again without transaction state (§8.2.7); the key is random
/// per process, so tags are unguessable and differ across restarts.
#[derive(Debug, Clone)]
pub struct ToTags {
    key: RandomState,
}

impl Default for ToTags {
    fn default() -> Self {
        ToTags::new()
    }
}

impl ToTags {
    /// A generator with a fresh random key.
    pub fn new() -> ToTags {
        ToTags {
            key: RandomState::new(),
        }
    }

    /// The To tag for responses to `req`: sixteen hex digits. Every new
    /// request asks, so the tags and the branch are read by scans, not by
    /// parsing the From and the Via (the parser has checked them), and the
    /// digits are written without `fmt`.
    pub fn for_request(&self, req: &Request) -> String {
        let mut h = self.key.build_hasher();
        req.call_id().ok().hash(&mut h);
        req.header_from_tag().ok().flatten().hash(&mut h);
        req.top_via_branch().ok().flatten().hash(&mut h);
        if let Ok(cseq) = req.cseq() {
            cseq.seq.hash(&mut h);
        }
        req.method.as_bytes().hash(&mut h);
        sip::encode::hex16(h.finish())
    }
}

/// The stateless policy; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    tags: ToTags,
    router: Router,
}

impl Endpoint {
    /// An endpoint using `tags` for the To tags of its answers and
    /// `router` for what it serves.
    pub fn new(tags: ToTags, router: Router) -> Endpoint {
        Endpoint { tags, router }
    }

    /// The registry this endpoint applies.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The tag generator, shared with the transports' overload answers.
    pub fn tags(&self) -> &ToTags {
        &self.tags
    }

    /// Decides what happens to a new request (retransmissions never get
    /// here: the transaction layer absorbs them). The checks run in the
    /// order of RFC 3261 §8.2.
    pub fn dispatch(&self, req: Request, ctx: Context<'_>) -> Dispatch {
        if req.method == Method::Ack {
            // An ACK for a response we sent (non-2xx ACKs are absorbed by the
            // transaction layer) or a stray one: never answered (§17.2.1).
            return Dispatch::Absorb;
        }
        let tag = self.tags.for_request(&req);
        let route = self.router.route(&req);
        // §8.2.1: method inspection.
        match route {
            Route::MethodNotAllowed => {
                return Dispatch::Answer(self.with_allow(Response::to_request(
                    &req,
                    405,
                    Some(&tag),
                )))
            }
            Route::NotImplemented => {
                return Dispatch::Answer(self.with_allow(Response::to_request(
                    &req,
                    501,
                    Some(&tag),
                )))
            }
            _ => {}
        }
        // §8.2.2.1: a Request-URI scheme we cannot serve.
        if req.uri.scheme() == Scheme::Other {
            return Dispatch::Answer(Response::to_request(&req, 416, Some(&tag)));
        }
        // §8.2.2.3: Require, except on CANCEL (ACK is handled above).
        if req.method != Method::Cancel {
            let unsupported: Vec<Bytes> = req
                .headers
                .values(HeaderName::Require)
                .filter(|t| !self.router.supports(t))
                .collect();
            if !unsupported.is_empty() {
                let mut resp = Response::to_request(&req, 420, Some(&tag));
                resp.headers
                    .push(Header::new(HeaderName::Unsupported, join(&unsupported)));
                return Dispatch::Answer(resp);
            }
        }
        // §9.2: a CANCEL that matches a transaction gets 200 (it changes
        // nothing: we answer every request at once, so the INVITE already has
        // its final response); one that matches none gets 481.
        if req.method == Method::Cancel {
            let status = if ctx.cancel_matches { 200 } else { 481 };
            return Dispatch::Answer(Response::to_request(&req, status, Some(&tag)));
        }
        // §12.2.2: in-dialog requests need an existing dialog. BYE only ever
        // comes inside one.
        let to_tag = req.header_to_tag().ok().flatten();
        match to_tag {
            Some(local_tag) => {
                let id = DialogId {
                    call_id: req.call_id().unwrap_or_default(),
                    local_tag,
                    remote_tag: req.header_from_tag().ok().flatten().unwrap_or_default(),
                };
                if !ctx.dialogs.contains(&id) {
                    return Dispatch::Answer(Response::to_request(&req, 481, None));
                }
            }
            None if req.method == Method::Bye => {
                return Dispatch::Answer(Response::to_request(&req, 481, Some(&tag)));
            }
            None => {}
        }
        // RFC 6665 §8.2.1 / RFC 3903 §4: SUBSCRIBE and PUBLISH name a package
        // we serve, or get 489 with the ones we do.
        match route {
            Route::BadEvent => {
                let mut resp = Response::to_request(&req, 489, Some(&tag));
                resp.headers.push(Header::new(
                    HeaderName::AllowEvents,
                    self.router.allow_events().to_owned(),
                ));
                Dispatch::Answer(resp)
            }
            Route::Service(service) => Dispatch::Service(service, Box::new(req), tag),
            Route::InDialog => Dispatch::InDialog(Box::new(req), tag),
            // OPTIONS (CANCEL and ACK were answered above).
            Route::Endpoint if req.method == Method::Options => {
                Dispatch::Answer(self.options_answer(&req, &tag))
            }
            Route::Endpoint | Route::MethodNotAllowed | Route::NotImplemented => {
                Dispatch::Answer(self.with_allow(Response::to_request(&req, 405, Some(&tag))))
            }
        }
    }

    /// The 200 to OPTIONS (RFC 3261 §11.2): what we allow, accept and
    /// support.
    fn options_answer(&self, req: &Request, tag: &str) -> Response {
        let mut resp = self.with_allow(Response::to_request(req, 200, Some(tag)));
        resp.headers
            .push(Header::new(HeaderName::Accept, self.router.accept_header()));
        resp.headers.push(Header::new(
            HeaderName::Supported,
            self.router.supported_header(),
        ));
        resp.headers.push(Header::new(
            HeaderName::AllowEvents,
            self.router.allow_events().to_owned(),
        ));
        resp
    }

    /// Adds `Allow` (required on 405, §21.4.6).
    fn with_allow(&self, mut resp: Response) -> Response {
        resp.headers.push(Header::new(
            HeaderName::Allow,
            self.router.allow().to_owned(),
        ));
        resp
    }
}

fn join(tokens: &[Bytes]) -> String {
    let parts: Vec<String> = tokens
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::Message;

    fn request(method: &str, extra: &str) -> Request {
        request_to(
            method,
            "sip:alice@example.com",
            "<sip:alice@example.com>",
            extra,
        )
    }

    fn request_to(method: &str, uri: &str, to: &str, extra: &str) -> Request {
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:bob@example.com>;tag=f1\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n{extra}\r\n"
        );
        match sip::parse::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn answer(req: Request) -> Response {
        match Endpoint::default().dispatch(req, Context::new(&NoDialogs)) {
            Dispatch::Answer(r) => r,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn header(resp: &Response, name: HeaderName) -> String {
        String::from_utf8_lossy(
            resp.headers
                .value(name)
                .unwrap_or_else(|| panic!("no {name:?}")),
        )
        .into_owned()
    }

    #[test]
    fn options_lists_capabilities() {
        let r = answer(request("OPTIONS", "Max-Forwards: 0\r\n"));
        assert_eq!(r.status, 200);
        assert_eq!(
            header(&r, HeaderName::Allow),
            "OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, ACK, CANCEL, BYE, SERVICE"
        );
        assert_eq!(
            header(&r, HeaderName::Accept),
            "application/pidf+xml, application/msrtc-category-publish+xml, application/msrtc-setcontainermembers+xml, application/msrtc-presence-setsubscriber+xml, application/SOAP+xml"
        );
        assert_eq!(
            header(&r, HeaderName::AllowEvents),
            "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
        );
        assert!(r.headers.get(HeaderName::Supported).is_some());
        assert!(r.header_to().unwrap().tag().is_some());
    }

    #[test]
    fn refused_and_unknown_methods() {
        let r = answer(request("INVITE", ""));
        assert_eq!(r.status, 405);
        assert!(header(&r, HeaderName::Allow).contains("SUBSCRIBE"));
        assert!(matches!(
            Endpoint::default().dispatch(request("REGISTER", ""), Context::new(&NoDialogs)),
            Dispatch::Service(Service::Registrar, ..)
        ));
        assert_eq!(answer(request("FROBNICATE", "")).status, 501);
        // Methods are case-sensitive: "options" is an unknown extension.
        assert_eq!(answer(request("options", "")).status, 501);
    }

    #[test]
    fn require_gets_420_with_unsupported() {
        let r = answer(request(
            "OPTIONS",
            "Require: foo, bar\r\nRequire: baz\r\nProxy-Require: qux\r\n",
        ));
        assert_eq!(r.status, 420);
        assert_eq!(header(&r, HeaderName::Unsupported), "foo, bar, baz");
        // Proxy-Require alone is ignored by a UAS.
        assert_eq!(
            answer(request("OPTIONS", "Proxy-Require: qux\r\n")).status,
            200
        );
    }

    #[test]
    fn in_dialog_requests_without_a_dialog_get_481() {
        for method in ["SUBSCRIBE", "NOTIFY", "BYE", "OPTIONS"] {
            let req = request_to(
                method,
                "sip:alice@example.com",
                "<sip:alice@example.com>;tag=gone",
                "Event: presence\r\n",
            );
            let r = answer(req);
            assert_eq!(r.status, 481, "{method}");
            assert_eq!(r.header_to().unwrap().tag().unwrap(), "gone");
        }
        assert_eq!(answer(request("BYE", "")).status, 481);
        assert_eq!(answer(request("CANCEL", "")).status, 481);
        let ctx = Context {
            dialogs: &NoDialogs,
            cancel_matches: true,
        };
        let Dispatch::Answer(r) =
            Endpoint::default().dispatch(request("CANCEL", "Require: foo\r\n"), ctx)
        else {
            panic!("CANCEL is answered by the core")
        };
        assert_eq!(r.status, 200, "Require is ignored on CANCEL");
    }

    #[test]
    fn known_dialogs_reach_the_application() {
        struct One;
        impl Dialogs for One {
            fn contains(&self, id: &DialogId) -> bool {
                id.local_tag == "t1" && id.remote_tag == "f1" && id.call_id == "c1"
            }
        }
        let req = request_to(
            "NOTIFY",
            "sip:alice@example.com",
            "<sip:alice@example.com>;tag=t1",
            "Event: presence\r\n",
        );
        assert!(matches!(
            Endpoint::default().dispatch(req, Context::new(&One)),
            Dispatch::InDialog(..)
        ));
    }

    #[test]
    fn event_packages_are_checked() {
        assert!(matches!(
            Endpoint::default().dispatch(
                request("SUBSCRIBE", "Event: presence;id=1\r\n"),
                Context::new(&NoDialogs)
            ),
            Dispatch::Service(..)
        ));
        assert!(matches!(
            Endpoint::default().dispatch(
                request("PUBLISH", "Event: presence\r\n"),
                Context::new(&NoDialogs)
            ),
            Dispatch::Service(Service::Presence(presence::Package::Presence), ..)
        ));
        // Event types compare byte by byte, for every method alike.
        for method in ["SUBSCRIBE", "PUBLISH"] {
            let r = answer(request(method, "Event: Presence\r\n"));
            assert_eq!(r.status, 489, "{method}");
        }
        let r = answer(request("SUBSCRIBE", "Event: dialog\r\n"));
        assert_eq!(r.status, 489);
        assert_eq!(
            header(&r, HeaderName::AllowEvents),
            "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
        );
        assert_eq!(answer(request("PUBLISH", "")).status, 489);
    }

    #[test]
    fn unknown_uri_schemes_get_416() {
        let req = request_to(
            "SUBSCRIBE",
            "im:alice@example.com",
            "<sip:alice@example.com>",
            "Event: presence\r\n",
        );
        assert_eq!(answer(req).status, 416);
        let req = request_to(
            "SUBSCRIBE",
            "tel:+31612345678",
            "<tel:+31612345678>",
            "Event: presence\r\n",
        );
        assert!(matches!(
            Endpoint::default().dispatch(req, Context::new(&NoDialogs)),
            Dispatch::Service(..)
        ));
    }

    #[test]
    fn ack_is_never_answered() {
        assert!(matches!(
            Endpoint::default().dispatch(request("ACK", ""), Context::new(&NoDialogs)),
            Dispatch::Absorb
        ));
    }

    #[test]
    fn to_tags_are_stable_per_request_and_differ_between_requests() {
        let tags = ToTags::new();
        let a = request("OPTIONS", "");
        assert_eq!(tags.for_request(&a), tags.for_request(&a.clone()));
        let b = request_to(
            "OPTIONS",
            "sip:alice@example.com",
            "<sip:alice@example.com>",
            "",
        );
        assert_eq!(tags.for_request(&a), tags.for_request(&b));
        let c = request("SUBSCRIBE", "Event: presence\r\n");
        assert_ne!(tags.for_request(&a), tags.for_request(&c));
        assert_eq!(tags.for_request(&a).len(), 16);
    }
}
