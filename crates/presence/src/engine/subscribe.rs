//! SUBSCRIBE (RFC 6665 §4.2.1, RFC 3856 §6): new subscriptions, fetches,
//! refreshes and unsubscribes.
//!
//! Checks run in the order that gives the most useful answer: the request's
//! own form (489, 406, 400), then the dialog (481, 500), then Expires (423),
//! then policy (403, 404). A 2xx that creates, refreshes or ends a
//! subscription follows the [`Action::Store`] that makes it durable, and
//! the NOTIFY it triggers follows the 2xx (RFC 6665 §4.2.1.1 lets it
//! arrive first, but many clients handle that badly).

use std::time::{Duration, SystemTime};

use sip::header::Header;
use sip::{HeaderName, Request, Response, Uri};

use super::{lists, Action, Engine, UnknownPresentity};
use crate::authorization::Decision;
use crate::flow::Flow;
use crate::notify;
use crate::refusal::Refusal;
use crate::service::Dialect;
use crate::store::StoreOp;
use crate::subscription::{
    negotiate_expires, Expires, Format, Package, Reason, SubState, SubscribeError,
    SubscribeRequest, Subscription,
};
use crate::winfo::WatcherEvent;

/// The per-request facts [`Engine::subscribe`] needs besides the request.
pub(super) struct Context<F> {
    pub(super) txn: u64,
    pub(super) flow: F,
    pub(super) reliable: bool,
    pub(super) to_tag: String,
    pub(super) contact: Uri,
}

impl<F: Clone> Context<F> {
    fn reply(&self, resp: Response) -> Action<F> {
        Action::Respond {
            txn: self.txn,
            resp,
        }
    }

    /// Reports a refusal by policy of this request about `subject`.
    fn refused(&self, refusal: Refusal, subject: &str) -> Action<F> {
        Action::Refused {
            refusal,
            flow: self.flow.clone(),
            subject: subject.to_owned(),
        }
    }
}

/// A response to `req` with a reason phrase saying what was wrong.
fn error(req: &Request, status: u16, to_tag: &str, reason: Option<&str>) -> Response {
    let resp = Response::to_request(req, status, Some(to_tag));
    match reason {
        Some(r) => resp.with_reason(r),
        None => resp,
    }
}

impl<F: Flow> Engine<F> {
    /// One SUBSCRIBE.
    pub(super) fn subscribe(
        &mut self,
        req: &Request,
        ctx: Context<F>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let mut parsed = match SubscribeRequest::parse(req) {
            Ok(p) => p,
            Err(e) => return vec![ctx.reply(rejection(req, &ctx.to_tag, &e))],
        };
        if parsed.package == Package::Presence && parsed.batch.is_none() {
            self.unpin(&mut parsed);
        }
        match parsed.to_tag.clone() {
            Some(tag) => self.in_dialog(req, parsed, &tag, ctx, now),
            None => self.create(req, parsed, ctx, now),
        }
    }

    /// A SUBSCRIBE outside any dialog: a new subscription or a fetch.
    fn create(
        &mut self,
        req: &Request,
        parsed: SubscribeRequest,
        ctx: Context<F>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let fail =
            |status, reason: &str| vec![ctx.reply(error(req, status, &ctx.to_tag, Some(reason)))];
        // RFC 4662 §4.1: a list URI is served only to a watcher that takes
        // RLMI; the others are told what they lack.
        let list_owner = match (&parsed.batch, parsed.package) {
            (None, Package::Presence) => self.list_owner(&parsed.presentity),
            _ => None,
        };
        let adhoc = match (&parsed.recipient_list, parsed.package) {
            (Some(uris), Package::Presence) if list_owner.is_none() => Some(uris),
            _ => None,
        };
        let listed = list_owner.is_some() || adhoc.is_some();
        if listed && !parsed.eventlist {
            let mut resp = error(req, 421, &ctx.to_tag, None);
            resp.headers
                .push(Header::new(HeaderName::Require, lists::EVENTLIST));
            return vec![ctx.reply(resp)];
        }
        let expires = match negotiate_expires(parsed.expires, &self.config.subscription) {
            Expires::Granted(e) => e,
            Expires::TooBrief(min) => return vec![ctx.reply(too_brief(req, &ctx.to_tag, min))],
        };
        let Some(remote_target) = parsed.remote_target.clone() else {
            return fail(400, "SUBSCRIBE without Contact");
        };
        let batch = match (&parsed.batch, parsed.package, &list_owner) {
            (Some(body), Package::Presence, _) => match self.new_batch(&parsed, body) {
                Ok(batch) => Some(batch),
                Err(reason) => return fail(403, reason),
            },
            // The list says whom its user watches: it is the user's own.
            (None, Package::Presence, Some(owner)) if *owner != parsed.watcher => {
                return fail(403, "Only the user may subscribe to its own contact list");
            }
            (None, Package::Presence, Some(owner)) => Some(self.list_batch(owner, &parsed.watcher)),
            // RFC 5367: the watcher's own ad-hoc list, a batch like the
            // dialect's `adhocList`.
            (None, Package::Presence, None) if adhoc.is_some() => {
                let body = lists::adhoc(&parsed.presentity, adhoc.cloned().unwrap_or_default());
                match self.new_batch(&parsed, &body) {
                    Ok(batch) => Some(batch),
                    Err(reason) => return fail(403, reason),
                }
            }
            _ => None,
        };
        let decision = match parsed.package {
            // Each resource of a batch is decided on its own.
            Package::Presence if batch.is_some() => Decision::Allow,
            // RFC 3857 §5.1: only the presentity may see its watchers.
            Package::Winfo if parsed.watcher != parsed.presentity => {
                return fail(403, "Only the presentity may watch its watchers");
            }
            // Roaming data and settings are the user's own.
            package if package.is_self() && parsed.watcher != parsed.presentity => {
                return fail(403, "Only the user may subscribe to its own data");
            }
            Package::Winfo
            | Package::RoamingSelf
            | Package::RoamingContacts
            | Package::Provisioning => Decision::Allow,
            Package::Presence => {
                if self.config.unknown_presentity == UnknownPresentity::Reject
                    && !self.provisioned.contains(&parsed.presentity)
                    && !self.presentities.is_known(&parsed.presentity)
                    && !self.service_answers(&parsed.presentity, Dialect::of(parsed.format))
                {
                    return fail(404, "No such presentity");
                }
                let remembered = self
                    .decisions
                    .get(&(parsed.presentity.clone(), parsed.watcher.clone()));
                match remembered {
                    Some(true) => Decision::Allow,
                    Some(false) => Decision::Deny,
                    None => self
                        .config
                        .authorization
                        .decide(&parsed.watcher, &parsed.presentity),
                }
            }
        };
        if decision == Decision::Deny {
            let mut out = fail(403, "Watcher not authorized");
            out.push(ctx.refused(Refusal::WatcherNotAuthorized, &parsed.watcher));
            return out;
        }
        let state = match decision {
            Decision::Pending => SubState::Pending,
            _ => SubState::Active,
        };
        let mut ok = notify::subscribe_ok(req, &ctx.to_tag, &ctx.contact, expires);
        let mut sub = Subscription::new(
            &parsed,
            &ctx.to_tag,
            remote_target,
            ctx.contact.to_string(),
            state,
            expires,
            ctx.flow.clone(),
            ctx.reliable,
            now,
        );
        if let Some(mut batch) = batch {
            batch.capitalized_event = listed && parsed.linphone && parsed.format == Format::Pidf;
            sub.set_batch(batch);
        }
        let key = sub.key.clone();
        if parsed.package == Package::Provisioning {
            self.remember_provisioning(&key, req);
        }
        if listed {
            ok.headers
                .push(Header::new(HeaderName::Require, lists::EVENTLIST));
        }
        let mut out = Vec::new();
        if expires == 0 {
            // A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, no
            // subscription to keep, nothing to store.
            sub.final_with_body = state == SubState::Active;
            sub.state = SubState::Terminated(Reason::Timeout);
            self.insert(sub);
            out.push(ctx.reply(ok));
            self.send_next(&key, now, &mut out);
            return out;
        }
        // 403 rather than 503: the bound is a policy on this watcher that
        // retrying will not change, while 503 tells clients to retry
        // (elsewhere or after Retry-After) and would invite a storm.
        let held = self
            .per_watcher
            .get(parsed.watcher.as_str())
            .copied()
            .unwrap_or(0);
        if held >= self.config.subscription.max_per_watcher {
            let mut out = fail(403, "Too many subscriptions from this watcher");
            out.push(ctx.refused(Refusal::TooManySubscriptions, &parsed.watcher));
            return out;
        }
        out.push(Action::Store(vec![StoreOp::PutSubscription(
            sub.checkpoint(),
        )]));
        self.insert(sub);
        let ok = if parsed.piggyback {
            self.piggyback(&key, ok, now)
        } else {
            ok
        };
        out.push(ctx.reply(ok));
        self.send_next(&key, now, &mut out);
        self.watcher_changed(&key, WatcherEvent::Subscribe, now, &mut out);
        out
    }

    /// A SUBSCRIBE inside a dialog: a refresh, or Expires: 0 to end it.
    fn in_dialog(
        &mut self,
        req: &Request,
        parsed: SubscribeRequest,
        local_tag: &str,
        ctx: Context<F>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let fail =
            |status, reason: &str| vec![ctx.reply(error(req, status, local_tag, Some(reason)))];
        let key = parsed.key(local_tag);
        let Some(sub) = self.subs.get_mut(&key).filter(|s| !s.is_terminated()) else {
            return fail(481, "Subscription does not exist");
        };
        if sub.package != parsed.package || sub.event_id.as_deref() != parsed.event_id.as_deref() {
            return fail(481, "No such subscription in this dialog");
        }
        if !sub.accept_remote_cseq(parsed.cseq) {
            return fail(500, "CSeq out of order");
        }
        let expires = match negotiate_expires(parsed.expires, &self.config.subscription) {
            Expires::Granted(e) => e,
            Expires::TooBrief(min) => return vec![ctx.reply(too_brief(req, local_tag, min))],
        };
        // RFC 6665 §4.1.2.1 / RFC 3261 §12.2: a refresh may move the target.
        if let Some(target) = parsed.remote_target.clone() {
            sub.remote_target = target.into();
        }
        sub.flow = ctx.flow.clone();
        sub.reliable = ctx.reliable;
        sub.suppress_etag = parsed.suppress_if_match.as_deref().map(Into::into);
        if let Some(batch) = sub.batch_mut() {
            // A refresh without a body resends the whole list.
            batch.full |= parsed.batch.is_none();
        }
        if let Some(body) = &parsed.batch {
            if let Err(reason) = self.change_batch(&key, body) {
                return fail(403, reason);
            }
        }
        let standard_list = self.is_standard_list(&key);
        let Some(sub) = self.subs.get_mut(&key) else {
            return fail(481, "Subscription does not exist");
        };
        let mut ok = notify::subscribe_ok(req, local_tag, &ctx.contact, expires);
        if standard_list {
            ok.headers
                .push(Header::new(HeaderName::Require, lists::EVENTLIST));
        }
        let mut out = Vec::new();
        if expires == 0 {
            if let Some(op) = self.terminate(&key, Reason::Timeout) {
                out.push(Action::Store(vec![op]));
            }
            out.push(ctx.reply(ok));
            self.send_next(&key, now, &mut out);
            self.watcher_changed(&key, WatcherEvent::Timeout, now, &mut out);
            return out;
        }
        let old = (sub.expires_at, key.clone());
        sub.expires_at = now + Duration::from_secs(u64::from(expires));
        sub.dirty = true;
        let record = sub.checkpoint();
        let new = (sub.expires_at, key.clone());
        self.deadlines.remove(&old);
        self.deadlines.insert(new);
        out.push(Action::Store(vec![StoreOp::PutSubscription(record)]));
        out.push(ctx.reply(ok));
        self.send_next(&key, now, &mut out);
        out
    }
}

impl<F: Flow> Engine<F> {
    /// `ms-piggyback-first-notify` ([MS-SIP]): the first notification's
    /// body rides in the 200, with the Event, Subscription-State and
    /// `ms-piggyback-cseq` a NOTIFY would carry, and no first NOTIFY is
    /// sent. A subscription
    /// with nothing to say yet (pending) gets a plain 200 and its NOTIFY
    /// later.
    fn piggyback(
        &mut self,
        key: &crate::subscription::DialogKey,
        mut ok: Response,
        now: SystemTime,
    ) -> Response {
        if self
            .subs
            .get(key)
            .is_none_or(|s| s.state != SubState::Active)
        {
            return ok;
        }
        let (Some(body), _) = self.notify_body(key, now) else {
            return ok;
        };
        let Some(sub) = self.subs.get_mut(key) else {
            return ok;
        };
        sub.dirty = false;
        // The CSeq the NOTIFY would have had: SIPE reads the body only
        // when this header is there, and our next NOTIFY counts on.
        let cseq = sub.next_cseq();
        let event = match &sub.event_id {
            Some(id) => format!("{};id={id}", sub.package.as_str()),
            None => sub.package.as_str().to_owned(),
        };
        ok.headers.push(Header::new(HeaderName::Event, event));
        ok.headers.push(Header::new(
            HeaderName::SubscriptionState,
            sub.state_header(now),
        ));
        ok.headers
            .push(Header::other("ms-piggyback-cseq", cseq.to_string()));
        ok.headers
            .push(Header::new(HeaderName::ContentType, body.content_type));
        ok.body = body.bytes;
        ok
    }
}

/// The response to a SUBSCRIBE that cannot be read or served.
fn rejection(req: &Request, to_tag: &str, e: &SubscribeError) -> Response {
    let mut resp = error(req, e.status(), to_tag, None);
    match e {
        SubscribeError::Malformed(reason) => resp = resp.with_reason(reason.clone()),
        SubscribeError::BadEvent => resp.headers.push(Header::new(
            HeaderName::AllowEvents,
            Package::allow_events(),
        )),
        SubscribeError::NotAcceptable(wanted) => {
            resp.headers.push(Header::new(HeaderName::Accept, *wanted))
        }
        SubscribeError::UnsupportedEncoding(_) => resp.headers.push(Header::new(
            HeaderName::AcceptEncoding,
            crate::subscription::ACCEPT_ENCODING,
        )),
    }
    resp
}

/// 423 with the shortest Expires we accept (RFC 6665 §4.2.1.1).
fn too_brief(req: &Request, to_tag: &str, min: u32) -> Response {
    let mut resp = error(req, 423, to_tag, None);
    resp.headers
        .push(Header::new(HeaderName::MinExpires, min.to_string()));
    resp
}
