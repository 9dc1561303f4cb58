//! The subscriber side of RFC 6665: presenced subscribing to a presentity
//! on an upstream server, as the presence provider does (one upstream
//! subscription per presentity, however many consumers watch it).
//!
//! A [`Subscriber`] is one upstream subscription across its dialogs. It
//! is sans-IO like the notifier: fed responses, NOTIFYs and the time, it
//! returns [`Output`]s — requests to send (without Via: the runtime's
//! client transaction adds it), state to pass on, and how the
//! subscription ended. What makes each dialog unique (Call-ID, tag,
//! client nonce) comes from the caller in a [`Fresh`], so every case is a
//! deterministic test.
//!
//! What it handles (RFC 6665 §4.1, RFC 3261 §12, §22):
//! - the 2xx/NOTIFY race: a NOTIFY may arrive before the 2xx and then
//!   establishes the dialog (§4.1.2.4);
//! - refresh before expiry, and the expiry the server grants or lowers;
//! - 401/407 answered with digest credentials, once per nonce unless the
//!   server says `stale=true`; 423 answered with its Min-Expires;
//! - 481 and 408 on a refresh (the dialog is gone), other failures with
//!   their Retry-After;
//! - `Subscription-State: terminated` with its reason and retry-after,
//!   turned into what the owner should do next ([`Ending`]);
//! - no NOTIFY within 64×T1 of the 2xx means the subscription failed
//!   (§4.1.2.4);
//! - NOTIFYs out of CSeq order answered 500, NOTIFYs of other dialogs 481.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::digest::{self, Authorization, Secret};
use sip::header::Header;
use sip::typed::{RetryAfter, SubscriptionState};
use sip::{HeaderAccess, HeaderName, Headers, Method, Request, Response, Uri};

/// How long after a 2xx the first NOTIFY may take (64×T1, RFC 6665
/// §4.1.2.4).
pub const NOTIFY_WAIT: Duration = Duration::from_secs(32);

/// The Max-Forwards of the SUBSCRIBEs this server originates.
const MAX_FORWARDS: &str = "70";

/// Who presenced is toward the upstream, and how it proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The From URI of every SUBSCRIBE (e.g. `sip:presenced@example.com`).
    pub from: Uri,
    /// Where the upstream sends NOTIFYs: our address on the flow.
    pub contact: Uri,
    /// Username and password for digest challenges, if the upstream
    /// challenges.
    pub credentials: Option<Credentials>,
}

/// Digest credentials toward the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The digest username.
    pub username: String,
    /// The password; kept in memory only, never logged.
    pub password: String,
}

/// What a subscription asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The event package (`presence`).
    pub event: String,
    /// Accept values, in order of preference.
    pub accept: Vec<String>,
    /// The Expires asked for, seconds.
    pub expires: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            event: "presence".to_owned(),
            accept: vec!["application/pidf+xml".to_owned()],
            expires: 3600,
        }
    }
}

/// The random parts of a new dialog or request, from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The Call-ID of a new dialog.
    pub call_id: String,
    /// Our From tag in a new dialog.
    pub local_tag: String,
    /// A client nonce, if a challenge must be answered.
    pub cnonce: String,
}

/// What the owner of a [`Subscriber`] must do or know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this SUBSCRIBE toward the upstream (the runtime adds the Via
    /// and runs the client transaction, whose response comes back through
    /// [`Subscriber::on_response`]). Boxed: the other outputs are small.
    Send(Box<Request>),
    /// The upstream's state of the presentity (a NOTIFY's body).
    State {
        /// Its Content-Type.
        content_type: Bytes,
        /// The document.
        body: Bytes,
    },
    /// The upstream accepted the subscription but has not authorized it:
    /// consumers see a pending state, not an error.
    Pending,
    /// The upstream says the subscription is active (a NOTIFY with
    /// `Subscription-State: active`, with or without a document: a
    /// presentity nobody publishes for has none).
    Active,
    /// The subscription is over; the owner decides whether to start again.
    Ended(Ending),
}

/// How a subscription ended, and what RFC 6665 says to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Subscribe again (a new dialog) after `after` (zero: at once): the
    /// dialog was deactivated, timed out, or lost (481).
    Retry {
        /// How long to wait first.
        after: Duration,
        /// Why, for logs and the API.
        reason: String,
    },
    /// The upstream refused or failed; retry only on the owner's own
    /// schedule (the provider's failure delay), never at once.
    Failed {
        /// Why: a status line or a termination reason.
        reason: String,
        /// The upstream's Retry-After, when it gave one.
        retry_after: Option<Duration>,
        /// True when the upstream said not to retry at all (`rejected`,
        /// `noresource`, `invariant`).
        permanent: bool,
    },
    /// We unsubscribed and the upstream confirmed it (or stopped answering).
    Unsubscribed,
}

/// Where the subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet, or ended.
    Idle,
    /// The initial SUBSCRIBE is out; no final response yet.
    Subscribing,
    /// A 2xx came (or a NOTIFY did): the dialog exists.
    Established,
    /// A refresh is out.
    Refreshing,
    /// The Expires: 0 SUBSCRIBE is out.
    Unsubscribing,
}

/// One dialog's state.
#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    local_tag: String,
    remote_tag: Option<Bytes>,
    /// The upstream's Contact; the Request-URI of in-dialog requests.
    remote_target: Option<Uri>,
    /// Record-Route reversed (RFC 3261 §12.1.2).
    route_set: Vec<Bytes>,
    /// Our last CSeq.
    cseq: u32,
    /// The upstream's last NOTIFY CSeq.
    remote_cseq: Option<u32>,
    /// Whether a NOTIFY has arrived in this dialog.
    notified: bool,
}

/// One upstream subscription; see the module documentation.
#[derive(Debug, Clone)]
pub struct Subscriber {
    target: Uri,
    identity: Identity,
    settings: Settings,
    phase: Phase,
    dialog: Option<Dialog>,
    /// The Expires of the outstanding or last request.
    asked: u32,
    /// The last request sent, to resend with credentials or new Expires.
    last: Option<Request>,
    /// The nonce already answered, so a wrong password is not retried.
    answered_nonce: Option<String>,
    /// Nonce counts per server nonce (RFC 2617 §3.2.2).
    nc: u32,
    /// When to refresh.
    refresh_at: Option<Instant>,
    /// When the subscription lapses without a refresh.
    expires_at: Option<Instant>,
    /// When a 2xx'd subscription without a NOTIFY counts as failed.
    notify_deadline: Option<Instant>,
    /// Whether 423 was already answered for the outstanding request.
    retried_interval: bool,
}

impl Subscriber {
    /// A subscription to `target`, not started.
    pub fn new(target: Uri, identity: Identity, settings: Settings) -> Subscriber {
        let asked = settings.expires;
        Subscriber {
            target,
            identity,
            settings,
            phase: Phase::Idle,
            dialog: None,
            asked,
            last: None,
            answered_nonce: None,
            nc: 0,
            refresh_at: None,
            expires_at: None,
            notify_deadline: None,
            retried_interval: false,
        }
    }

    /// The presentity subscribed to.
    pub fn target(&self) -> &Uri {
        &self.target
    }

    /// True while a dialog exists or is being made.
    pub fn is_live(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// The Call-ID of the current dialog, to route NOTIFYs to this
    /// subscriber.
    pub fn call_id(&self) -> Option<&str> {
        self.dialog.as_ref().map(|d| d.call_id.as_str())
    }

    /// Starts a new dialog (the first subscription, or a retry after an
    /// [`Ending`]).
    pub fn start(&mut self, fresh: &Fresh) -> Vec<Output> {
        self.dialog = Some(Dialog {
            call_id: fresh.call_id.clone(),
            local_tag: fresh.local_tag.clone(),
            remote_tag: None,
            remote_target: None,
            route_set: Vec::new(),
            cseq: 0,
            remote_cseq: None,
            notified: false,
        });
        self.answered_nonce = None;
        self.nc = 0;
        self.refresh_at = None;
        self.expires_at = None;
        self.notify_deadline = None;
        self.phase = Phase::Subscribing;
        self.send(self.settings.expires)
    }

    /// Ends the subscription: `Expires: 0` in the dialog, or nothing when
    /// there is no dialog yet (the 2xx of an initial SUBSCRIBE still out
    /// is then ignored; its NOTIFYs are answered 481).
    pub fn unsubscribe(&mut self) -> Vec<Output> {
        self.refresh_at = None;
        self.notify_deadline = None;
        match self.phase {
            Phase::Established | Phase::Refreshing
                if self.dialog.as_ref().is_some_and(|d| d.remote_tag.is_some()) =>
            {
                self.phase = Phase::Unsubscribing;
                self.send(0)
            }
            Phase::Idle => Vec::new(),
            _ => self.end(Ending::Unsubscribed),
        }
    }

    /// The flow to the upstream is gone (a TCP or TLS connection closed,
    /// reset or refused): the dialog cannot be reached any more, so the
    /// subscription ends as after a 481, to be started anew once the
    /// upstream is reachable again. An unsubscription under way simply
    /// ends; an idle subscriber gives nothing.
    pub fn lost(&mut self, reason: &str) -> Vec<Output> {
        match self.phase {
            Phase::Idle => Vec::new(),
            Phase::Unsubscribing => self.end(Ending::Unsubscribed),
            _ => self.end(Ending::Retry {
                after: Duration::ZERO,
                reason: reason.to_owned(),
            }),
        }
    }

    /// Our address for the next dialog's Contact: on a stream
    /// transport, each new connection has its own local port.
    pub fn set_contact(&mut self, contact: Uri) {
        self.identity.contact = contact;
    }

    /// The response to the last SUBSCRIBE (a timeout is a 408 from the
    /// transaction layer). `fresh` supplies a client nonce when a
    /// challenge must be answered.
    pub fn on_response(&mut self, resp: &Response, fresh: &Fresh, now: Instant) -> Vec<Output> {
        let Some(dialog) = &self.dialog else {
            return Vec::new();
        };
        // Only the outstanding request's answer counts; a late answer to
        // an earlier one (its CSeq is lower) is stale.
        let current = resp
            .cseq()
            .is_ok_and(|c| c.seq == dialog.cseq && c.method == Method::Subscribe);
        if !current || resp.status < 200 || self.phase == Phase::Idle {
            return Vec::new();
        }
        if self.phase == Phase::Unsubscribing {
            return self.end(Ending::Unsubscribed);
        }
        match resp.status {
            200..=299 => self.accepted(resp, now),
            401 | 407 => self.challenged(resp, fresh),
            423 => self.interval_too_brief(resp),
            // The dialog is gone on the upstream (a refresh after its
            // restart): start over (RFC 6665 §4.1.2.2).
            481 => self.end(Ending::Retry {
                after: Duration::ZERO,
                reason: "481 on refresh: the upstream lost the dialog".to_owned(),
            }),
            // A refresh that timed out: the dialog may be gone; a new one
            // is the way back. An initial SUBSCRIBE that timed out is a
            // failure, retried on the owner's schedule.
            408 if self.phase == Phase::Refreshing => self.end(Ending::Retry {
                after: Duration::ZERO,
                reason: "refresh timed out".to_owned(),
            }),
            status => {
                let retry_after = resp
                    .headers
                    .value(HeaderName::RetryAfter)
                    .and_then(|v| RetryAfter::parse(v).ok())
                    .map(|r| Duration::from_secs(u64::from(r.seconds)));
                let reason = format!("{status} {}", reason_of(resp));
                self.end(Ending::Failed {
                    reason,
                    retry_after,
                    permanent: false,
                })
            }
        }
    }

    /// A NOTIFY the upstream sent. Returns the status to answer it with
    /// (200, or 481 / 489 / 500 / 400 for one this dialog cannot take)
    /// and what follows from it.
    pub fn on_notify(&mut self, req: &Request, now: Instant) -> (u16, Vec<Output>) {
        let Some(dialog) = self.dialog.as_mut() else {
            return (481, Vec::new());
        };
        if self.phase == Phase::Idle
            || req.call_id().ok().as_deref() != Some(dialog.call_id.as_bytes())
        {
            return (481, Vec::new());
        }
        let to_tag = req.header_to().ok().and_then(|t| t.tag());
        if to_tag.as_deref() != Some(dialog.local_tag.as_bytes()) {
            return (481, Vec::new());
        }
        let Ok(from) = req.header_from() else {
            return (400, Vec::new());
        };
        let Some(from_tag) = from.tag() else {
            return (400, Vec::new());
        };
        match &dialog.remote_tag {
            // RFC 6665 §4.1.2.4: a NOTIFY before the 2xx makes the dialog.
            None => dialog.remote_tag = Some(from_tag),
            Some(tag) if *tag != from_tag => return (481, Vec::new()),
            Some(_) => {}
        }
        let event_ok = req
            .headers
            .value(HeaderName::Event)
            .and_then(|v| sip::typed::Event::parse(v).ok())
            .is_some_and(|e| e.is(&self.settings.event));
        if !event_ok {
            return (489, Vec::new());
        }
        let Ok(cseq) = req.cseq() else {
            return (400, Vec::new());
        };
        if dialog.remote_cseq.is_some_and(|last| cseq.seq <= last) {
            // RFC 3261 §12.2.2: out of order.
            return (500, Vec::new());
        }
        let Some(state) = req
            .headers
            .value(HeaderName::SubscriptionState)
            .and_then(|v| SubscriptionState::parse(v).ok())
        else {
            return (400, Vec::new());
        };
        dialog.remote_cseq = Some(cseq.seq);
        dialog.notified = true;
        if dialog.remote_target.is_none() {
            dialog.remote_target = contact_of(&req.headers);
        }
        self.notify_deadline = None;
        if self.phase == Phase::Subscribing {
            self.phase = Phase::Established;
        }
        let mut out = Vec::new();
        if !req.body.is_empty() {
            out.push(Output::State {
                content_type: req
                    .headers
                    .value(HeaderName::ContentType)
                    .cloned()
                    .unwrap_or_default(),
                body: req.body.clone(),
            });
        }
        let state_name = String::from_utf8_lossy(&state.state).to_ascii_lowercase();
        match state_name.as_str() {
            "terminated" => {
                let ending = if self.phase == Phase::Unsubscribing {
                    Ending::Unsubscribed
                } else {
                    terminated(&state)
                };
                out.extend(self.end(ending));
            }
            other => {
                if other == "pending" {
                    out.push(Output::Pending);
                } else {
                    out.insert(0, Output::Active);
                }
                // The notifier may shorten the subscription (§4.1.2.3).
                if let Some(secs) = state
                    .params
                    .value("expires")
                    .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u32>().ok())
                {
                    self.schedule(secs, now);
                }
            }
        }
        (200, out)
    }

    /// When [`Subscriber::on_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.refresh_at, self.notify_deadline, self.expires_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Refreshes, or gives up on a missing NOTIFY or a lapsed dialog.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Output> {
        if self.notify_deadline.is_some_and(|t| now >= t) {
            return self.end(Ending::Failed {
                reason: "no NOTIFY within 64×T1 of the 2xx".to_owned(),
                retry_after: None,
                permanent: false,
            });
        }
        if self.expires_at.is_some_and(|t| now >= t) {
            return self.end(Ending::Retry {
                after: Duration::ZERO,
                reason: "the subscription lapsed before a refresh succeeded".to_owned(),
            });
        }
        if self.phase == Phase::Established && self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.phase = Phase::Refreshing;
            return self.send(self.settings.expires);
        }
        Vec::new()
    }

    /// A 2xx: the dialog is made (or refreshed) and its expiry known.
    fn accepted(&mut self, resp: &Response, now: Instant) -> Vec<Output> {
        let initial = self.phase == Phase::Subscribing;
        if let Some(dialog) = self.dialog.as_mut() {
            if initial {
                if dialog.remote_tag.is_none() {
                    dialog.remote_tag = resp.header_to().ok().and_then(|t| t.tag());
                }
                if let Some(contact) = contact_of(&resp.headers) {
                    dialog.remote_target = Some(contact);
                }
                // RFC 3261 §12.1.2: the route set is Record-Route reversed.
                let mut routes: Vec<Bytes> = resp.headers.values(HeaderName::RecordRoute).collect();
                routes.reverse();
                dialog.route_set = routes;
                if !dialog.notified {
                    self.notify_deadline = Some(now + NOTIFY_WAIT);
                }
            }
        }
        // RFC 6665 §4.1.2.1: the 2xx's Expires is what was granted; a
        // server may grant less than asked, never more.
        let granted = resp
            .headers
            .value(HeaderName::Expires)
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u32>().ok())
            .unwrap_or(self.asked)
            .min(self.asked.max(1));
        self.phase = Phase::Established;
        self.retried_interval = false;
        self.schedule(granted, now);
        Vec::new()
    }

    /// Plans the refresh for a subscription granted `secs` from `now`: a
    /// tenth of the period early, at least 5 s and at most 60 s, so a
    /// refresh's own retransmissions fit before the expiry.
    fn schedule(&mut self, secs: u32, now: Instant) {
        let period = Duration::from_secs(u64::from(secs));
        let margin = (period / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
        self.expires_at = Some(now + period);
        self.refresh_at = Some(now + period.saturating_sub(margin).max(period / 2));
    }

    /// A 401/407: the same request again with credentials, unless this
    /// nonce was already answered (a wrong password) and not stale.
    fn challenged(&mut self, resp: &Response, fresh: &Fresh) -> Vec<Output> {
        let (challenge_header, answer_header) = if resp.status == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        // One challenge per line: a challenge's own parameters have commas,
        // so the lines are not split as a list header's would be.
        let values: Vec<String> = resp
            .headers
            .all(challenge_header)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
            .collect();
        let refused = |reason: String| Ending::Failed {
            reason,
            retry_after: None,
            permanent: false,
        };
        let Some(credentials) = self.identity.credentials.clone() else {
            return self.end(refused(format!(
                "{} {} and no credentials are configured",
                resp.status,
                reason_of(resp)
            )));
        };
        let Some(challenge) = digest::choose(values.iter().map(String::as_str)) else {
            return self.end(refused(format!(
                "{} {} without a Digest challenge this server supports",
                resp.status,
                reason_of(resp)
            )));
        };
        if self.answered_nonce.as_deref() == Some(challenge.nonce.as_str())
            || (self.answered_nonce.is_some() && !challenge.stale)
        {
            return self.end(refused(format!(
                "{} {}: the upstream refused the credentials of {}",
                resp.status,
                reason_of(resp),
                credentials.username
            )));
        }
        let Some(mut req) = self.last.clone() else {
            return Vec::new();
        };
        self.nc = 1;
        let uri = req.uri.to_string();
        let answer = Authorization::answer(
            &challenge,
            digest::Request {
                method: "SUBSCRIBE",
                uri: &uri,
                body: &req.body,
            },
            &credentials.username,
            Secret::Password(&credentials.password),
            &fresh.cnonce,
            self.nc,
        );
        let answer = match answer {
            Ok(a) => a,
            Err(e) => return self.end(refused(format!("cannot answer the challenge: {e}"))),
        };
        self.answered_nonce = Some(challenge.nonce.clone());
        req.headers.remove(HeaderName::Authorization);
        req.headers.remove(HeaderName::ProxyAuthorization);
        req.headers
            .push(Header::new(answer_header, answer.to_header_value()));
        self.resend(req)
    }

    /// A 423: once more with the server's Min-Expires.
    fn interval_too_brief(&mut self, resp: &Response) -> Vec<Output> {
        let min = resp
            .headers
            .value(HeaderName::MinExpires)
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u32>().ok());
        match min {
            Some(min) if !self.retried_interval && min > self.asked => {
                self.retried_interval = true;
                self.settings.expires = min;
                let Some(mut req) = self.last.clone() else {
                    return Vec::new();
                };
                req.headers.set(HeaderName::Expires, min.to_string());
                self.asked = min;
                self.resend(req)
            }
            _ => self.end(Ending::Failed {
                reason: "423 Interval Too Brief without a usable Min-Expires".to_owned(),
                retry_after: None,
                permanent: false,
            }),
        }
    }

    /// Sends `req` again with the next CSeq.
    fn resend(&mut self, mut req: Request) -> Vec<Output> {
        let Some(dialog) = self.dialog.as_mut() else {
            return Vec::new();
        };
        dialog.cseq += 1;
        req.headers
            .set(HeaderName::CSeq, format!("{} SUBSCRIBE", dialog.cseq));
        self.last = Some(req.clone());
        vec![Output::Send(Box::new(req))]
    }

    /// Builds and sends a SUBSCRIBE in the current dialog with `expires`.
    fn send(&mut self, expires: u32) -> Vec<Output> {
        let Some(dialog) = self.dialog.as_mut() else {
            return Vec::new();
        };
        dialog.cseq += 1;
        self.asked = expires;
        self.retried_interval = false;
        let mut headers = Headers::new();
        for route in &dialog.route_set {
            headers.push(Header::new(HeaderName::Route, route.clone()));
        }
        headers.push(Header::new(
            HeaderName::From,
            format!("<{}>;tag={}", self.identity.from, dialog.local_tag),
        ));
        let to = match &dialog.remote_tag {
            Some(tag) => format!("<{}>;tag={}", self.target, String::from_utf8_lossy(tag)),
            None => format!("<{}>", self.target),
        };
        headers.push(Header::new(HeaderName::To, to));
        headers.push(Header::new(HeaderName::CallId, dialog.call_id.clone()));
        headers.push(Header::new(
            HeaderName::CSeq,
            format!("{} SUBSCRIBE", dialog.cseq),
        ));
        headers.push(Header::new(
            HeaderName::Contact,
            format!("<{}>", self.identity.contact),
        ));
        headers.push(Header::new(HeaderName::Event, self.settings.event.clone()));
        if !self.settings.accept.is_empty() {
            headers.push(Header::new(
                HeaderName::Accept,
                self.settings.accept.join(", "),
            ));
        }
        headers.push(Header::new(HeaderName::Expires, expires.to_string()));
        headers.push(Header::new(HeaderName::MaxForwards, MAX_FORWARDS));
        headers.push(Header::new(HeaderName::ContentLength, "0"));
        let uri = dialog
            .remote_target
            .clone()
            .unwrap_or_else(|| self.target.clone());
        let req = Request {
            method: Method::Subscribe,
            uri,
            headers,
            body: Bytes::new(),
        };
        // A new request answers a new challenge: the nonce of the last
        // one may be answered again with a higher count only by a resend.
        self.answered_nonce = None;
        self.last = Some(req.clone());
        vec![Output::Send(Box::new(req))]
    }

    /// Ends the subscription with `ending`.
    fn end(&mut self, ending: Ending) -> Vec<Output> {
        self.phase = Phase::Idle;
        self.refresh_at = None;
        self.expires_at = None;
        self.notify_deadline = None;
        self.last = None;
        vec![Output::Ended(ending)]
    }
}

/// What RFC 6665 §4.1.3 says a terminated subscription's reason means.
fn terminated(state: &SubscriptionState) -> Ending {
    let reason = state
        .params
        .value("reason")
        .map(|r| String::from_utf8_lossy(&r).to_ascii_lowercase());
    let retry_after = state
        .params
        .value("retry-after")
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = reason.clone().unwrap_or_else(|| "no reason".to_owned());
    match reason.as_deref() {
        // Re-subscribe at once (§4.1.3: deactivated, timeout; and no
        // reason or an unknown one: "at any time").
        Some("deactivated") | Some("timeout") | None => Ending::Retry {
            after: retry_after.unwrap_or(Duration::ZERO),
            reason: text,
        },
        // Retry later: after retry-after when given.
        Some("probation") | Some("giveup") => Ending::Failed {
            reason: text,
            retry_after,
            permanent: false,
        },
        // Do not retry.
        Some("rejected") | Some("noresource") | Some("invariant") => Ending::Failed {
            reason: text,
            retry_after: None,
            permanent: true,
        },
        Some(_) => Ending::Retry {
            after: retry_after.unwrap_or(Duration::ZERO),
            reason: text,
        },
    }
}

/// A response's reason phrase, for messages.
fn reason_of(resp: &Response) -> String {
    String::from_utf8_lossy(&resp.reason).into_owned()
}

/// The first Contact URI of a message.
fn contact_of(headers: &Headers) -> Option<Uri> {
    let value = headers.value(HeaderName::Contact)?;
    let first = split_list(value).into_iter().next()?;
    sip::typed::NameAddr::parse(&first).ok().map(|n| n.uri)
}

/// The comma-separated elements of a header value.
fn split_list(value: &Bytes) -> Vec<Bytes> {
    match sip::grammar::split_commas(value) {
        Ok(parts) => parts
            .into_iter()
            .filter(|(a, b)| a < b)
            .map(|(a, b)| value.slice(a..b))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod upstream;
