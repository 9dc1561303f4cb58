//! Which part of the server serves a request: one registry, by method and
//! by event package.
//!
//! Before this module the methods and packages the server speaks were
//! listed in five places (the endpoint's allow list, its refusal list, its
//! 489 check, the engine's 405 and the publication handler's 489) and
//! drifted apart: a PUBLISH with `Event: Presence` passed one check and
//! failed another. Now handlers are registered here (hickory's `Catalog`
//! is the model) and everything a peer can learn about our capabilities —
//! `Allow`, `Allow-Events`, `Accept`, `Supported`, the 405, 489 and 501
//! answers — is derived from the registry. Adding an event package is one
//! [`Router::package`] call.

use presence::Package;
use sip::{HeaderName, Method, Request};

/// The part of the server a request is handed to once the endpoint's
/// stateless checks pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The presence engine: SUBSCRIBE to and PUBLISH of the IETF
    /// packages it serves (`presence`, `presence.winfo`).
    Presence(Package),
    /// The presence engine's SERVICE handler, for the Microsoft dialect
    /// ([MS-SIP] SERVICE: category publishing).
    DialectService,
    /// The registrar (RFC 3261 §10): REGISTER.
    Registrar,
}

/// How requests of one method are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodRoute {
    /// The endpoint answers it by itself (OPTIONS, CANCEL) or absorbs it
    /// (ACK).
    Endpoint,
    /// Only meaningful inside a dialog of ours (NOTIFY, BYE): an
    /// in-dialog request whose dialog nobody owns gets 481.
    InDialog,
    /// Served by the handler of the package its Event header names
    /// (SUBSCRIBE, PUBLISH); a package nobody registered gets 489.
    ByEvent,
    /// Served by this service whatever the request carries.
    To(Service),
}

/// One event package and who serves it.
#[derive(Debug, Clone)]
struct PackageEntry {
    name: &'static str,
    methods: &'static [Method],
    service: Service,
}

/// What a request resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The endpoint answers it or absorbs it.
    Endpoint,
    /// A dialog of ours must own it, or it gets 481.
    InDialog,
    /// This service serves it.
    Service(Service),
    /// A method we know but do not serve: 405 with `Allow`.
    MethodNotAllowed,
    /// A method we do not know: 501.
    NotImplemented,
    /// A missing, malformed or unregistered event package: 489 with
    /// `Allow-Events`.
    BadEvent,
}

/// The registry; see the module documentation.
#[derive(Debug, Clone)]
pub struct Router {
    methods: Vec<(Method, MethodRoute)>,
    packages: Vec<PackageEntry>,
    accept: Vec<&'static str>,
    supported: Vec<&'static str>,
    /// The header values, joined once when the registry changes rather
    /// than on every OPTIONS, 405 and 489.
    allow: String,
    allow_events: String,
}

impl Default for Router {
    /// The server as it is built today: the IETF presence server.
    fn default() -> Self {
        Router::presence()
    }
}

impl Router {
    /// A registry with nothing in it.
    pub fn empty() -> Router {
        Router {
            methods: Vec::new(),
            packages: Vec::new(),
            accept: Vec::new(),
            supported: Vec::new(),
            allow: String::new(),
            allow_events: String::new(),
        }
    }

    /// The IETF presence server: RFC 3856 `presence` (SUBSCRIBE and
    /// PUBLISH, PIDF bodies) and RFC 3857 `presence.winfo` (SUBSCRIBE).
    pub fn presence() -> Router {
        let mut router = Router::empty();
        router
            .method(Method::Options, MethodRoute::Endpoint)
            .method(Method::Subscribe, MethodRoute::ByEvent)
            .method(Method::Notify, MethodRoute::InDialog)
            .method(Method::Publish, MethodRoute::ByEvent)
            .method(Method::Register, MethodRoute::To(Service::Registrar))
            .method(Method::Ack, MethodRoute::Endpoint)
            .method(Method::Cancel, MethodRoute::Endpoint)
            .method(Method::Bye, MethodRoute::InDialog)
            .method(Method::Service, MethodRoute::To(Service::DialectService))
            .package(
                Package::Presence.as_str(),
                &[Method::Subscribe, Method::Publish],
                Service::Presence(Package::Presence),
            )
            .package(
                Package::Winfo.as_str(),
                &[Method::Subscribe],
                Service::Presence(Package::Winfo),
            )
            .package(
                Package::RoamingSelf.as_str(),
                &[Method::Subscribe],
                Service::Presence(Package::RoamingSelf),
            )
            .package(
                Package::RoamingContacts.as_str(),
                &[Method::Subscribe],
                Service::Presence(Package::RoamingContacts),
            )
            .package(
                Package::Provisioning.as_str(),
                &[Method::Subscribe],
                Service::Presence(Package::Provisioning),
            )
            // The Microsoft dialect's batched subscriptions ([MS-PRES]
            // §3.7.4.3): clients Require these two.
            .supported("adhoclist")
            .supported("categoryList")
            .supported("eventlist")
            .supported("ms-benotify")
            .supported("ms-piggyback-first-notify")
            // RFC 5367 list subscriptions (liblinphone's friend lists).
            .supported("recipient-list-subscribe")
            .accept(presence::pidf::CONTENT_TYPE)
            .accept(presence::msrtc::publish::CONTENT_TYPE)
            .accept(presence::msrtc::container::SET_CONTAINER_MEMBERS_CONTENT_TYPE)
            .accept(presence::msrtc::container::SET_SUBSCRIBERS_CONTENT_TYPE)
            .accept(presence::msrtc::contacts::REQUEST_CONTENT_TYPE);
        router
    }

    /// Registers how `method` is served; `Allow` lists methods in
    /// registration order.
    pub fn method(&mut self, method: Method, route: MethodRoute) -> &mut Router {
        match self.methods.iter_mut().find(|(m, _)| *m == method) {
            Some(entry) => entry.1 = route,
            None => self.methods.push((method, route)),
        }
        self.allow = join(self.methods.iter().map(|(m, _)| m.to_string()));
        self
    }

    /// Registers an event package served by `service` for `methods` (each
    /// of which must route [`MethodRoute::ByEvent`]).
    pub fn package(
        &mut self,
        name: &'static str,
        methods: &'static [Method],
        service: Service,
    ) -> &mut Router {
        self.packages.retain(|p| p.name != name);
        self.packages.push(PackageEntry {
            name,
            methods,
            service,
        });
        self.allow_events = join(self.packages.iter().map(|p| p.name.to_owned()));
        self
    }

    /// Registers a body type requests may carry (OPTIONS' `Accept`).
    pub fn accept(&mut self, content_type: &'static str) -> &mut Router {
        if !self.accept.contains(&content_type) {
            self.accept.push(content_type);
        }
        self
    }

    /// Registers an option tag (RFC 3261 §19.2) the server supports; a
    /// `Require` naming any other gets 420.
    pub fn supported(&mut self, tag: &'static str) -> &mut Router {
        if !self.supported.contains(&tag) {
            self.supported.push(tag);
        }
        self
    }

    /// Where `req` goes. The Event header is read only for methods that
    /// route by package.
    pub fn route(&self, req: &Request) -> Route {
        let Some((_, route)) = self.methods.iter().find(|(m, _)| *m == req.method) else {
            return match req.method {
                Method::Extension(_) => Route::NotImplemented,
                _ => Route::MethodNotAllowed,
            };
        };
        match route {
            MethodRoute::Endpoint => Route::Endpoint,
            MethodRoute::InDialog => Route::InDialog,
            MethodRoute::To(service) => Route::Service(*service),
            MethodRoute::ByEvent => self
                .package_of(req)
                .map_or(Route::BadEvent, |p| Route::Service(p.service)),
        }
    }

    fn package_of(&self, req: &Request) -> Option<&PackageEntry> {
        let event = sip::typed::Event::parse(req.headers.value(HeaderName::Event)?).ok()?;
        self.packages
            .iter()
            .find(|p| event.is(p.name) && p.methods.contains(&req.method))
    }

    /// Whether `tag` is an option tag we support.
    pub fn supports(&self, tag: &[u8]) -> bool {
        self.supported
            .iter()
            .any(|s| tag.eq_ignore_ascii_case(s.as_bytes()))
    }

    /// The `Allow` value (RFC 3261 §20.5).
    pub fn allow(&self) -> &str {
        &self.allow
    }

    /// The `Allow-Events` value (RFC 6665 §8.2.2).
    pub fn allow_events(&self) -> &str {
        &self.allow_events
    }

    /// The `Accept` value of an OPTIONS answer.
    pub fn accept_header(&self) -> String {
        self.accept.join(", ")
    }

    /// The `Supported` value of an OPTIONS answer.
    pub fn supported_header(&self) -> String {
        self.supported.join(", ")
    }
}

fn join(names: impl Iterator<Item = String>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(method: &str, extra: &str) -> Request {
        let text = format!(
            "{method} sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:bob@example.com>;tag=f1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n{extra}\r\n"
        );
        match sip::parse::parse_datagram(Bytes::from(text)) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn headers_come_from_the_registry() {
        let router = Router::presence();
        assert_eq!(
            router.allow(),
            "OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, ACK, CANCEL, BYE, SERVICE"
        );
        assert_eq!(
            router.allow_events(),
            "presence, presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2"
        );
        assert_eq!(
            router.accept_header(),
            "application/pidf+xml, application/msrtc-category-publish+xml, application/msrtc-setcontainermembers+xml, application/msrtc-presence-setsubscriber+xml, application/SOAP+xml"
        );
        assert_eq!(
            router.supported_header(),
            "adhoclist, categoryList, eventlist, ms-benotify, ms-piggyback-first-notify, recipient-list-subscribe"
        );
    }

    #[test]
    fn packages_route_by_method_and_event() {
        let router = Router::presence();
        let sub = request("SUBSCRIBE", "Event: presence;id=4\r\n");
        assert_eq!(
            router.route(&sub),
            Route::Service(Service::Presence(Package::Presence))
        );
        let winfo = request("SUBSCRIBE", "Event: presence.winfo\r\n");
        assert_eq!(
            router.route(&winfo),
            Route::Service(Service::Presence(Package::Winfo))
        );
        // presence.winfo is a SUBSCRIBE-only package (RFC 3857 §3).
        let pub_winfo = request("PUBLISH", "Event: presence.winfo\r\n");
        assert_eq!(router.route(&pub_winfo), Route::BadEvent);
        assert_eq!(router.route(&request("PUBLISH", "")), Route::BadEvent);
    }

    #[test]
    fn event_types_compare_byte_by_byte_for_every_method() {
        let router = Router::presence();
        for method in ["SUBSCRIBE", "PUBLISH"] {
            let req = request(method, "Event: Presence\r\n");
            assert_eq!(router.route(&req), Route::BadEvent, "{method}");
        }
    }

    #[test]
    fn methods_not_registered() {
        let router = Router::presence();
        assert_eq!(
            router.route(&request("INVITE", "")),
            Route::MethodNotAllowed
        );
        assert_eq!(
            router.route(&request("REGISTER", "")),
            Route::Service(Service::Registrar)
        );
        assert_eq!(
            router.route(&request("MESSAGE", "")),
            Route::MethodNotAllowed
        );
        assert_eq!(
            router.route(&request("FROBNICATE", "")),
            Route::NotImplemented
        );
        assert_eq!(router.route(&request("BYE", "")), Route::InDialog);
        assert_eq!(router.route(&request("OPTIONS", "")), Route::Endpoint);
    }

    #[test]
    fn registering_again_replaces_and_keeps_the_order() {
        let mut router = Router::presence();
        router
            .method(Method::Info, MethodRoute::Endpoint)
            .method(Method::Options, MethodRoute::Endpoint)
            .supported("adhoclist")
            .supported("adhoclist");
        assert_eq!(
            router.allow(),
            "OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, REGISTER, ACK, CANCEL, BYE, SERVICE, INFO"
        );
        assert_eq!(
            router.supported_header(),
            "adhoclist, categoryList, eventlist, ms-benotify, ms-piggyback-first-notify, recipient-list-subscribe"
        );
        assert!(router.supports(b"AdHocList"));
        router.package(
            "presence",
            &[Method::Subscribe],
            Service::Presence(Package::Presence),
        );
        assert_eq!(
            router.allow_events(),
            "presence.winfo, vnd-microsoft-roaming-self, vnd-microsoft-roaming-contacts, vnd-microsoft-provisioning-v2, presence"
        );
        let publish = request("PUBLISH", "Event: presence\r\n");
        assert_eq!(router.route(&publish), Route::BadEvent);
    }
}
