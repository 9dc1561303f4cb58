//! Subscriptions: the RFC 6665 notifier side of one watcher's dialog.
//!
//! A [`Subscription`] is what the engine keeps per dialog: who watches what,
//! how to reach the watcher (remote target, route set, flow), where the
//! dialog's two CSeq spaces stand, when it expires, and whether a NOTIFY is
//! on the wire. The engine owns the collection and the timers; this module
//! holds the rules of one dialog, so each is a small unit test:
//!
//! - Expires negotiation (RFC 6665 §4.2.1.1, RFC 3261 §10.2.8's 423);
//! - the `Subscription-State` value (RFC 6665 §8.2.3);
//! - CSeq: the watcher's must increase (RFC 3261 §12.2.2), ours is
//!   persisted at least every [`CSEQ_PERSIST_EVERY`] NOTIFYs and restarts
//!   that far above the stored value, so it never goes backwards across a
//!   crash;
//! - at most one NOTIFY in flight: changes while one is outstanding only
//!   mark the subscription dirty, and the newest state goes out when the
//!   outstanding one completes (RFC 6665 §4.2.2 forbids overlapping
//!   NOTIFYs in a dialog from reordering state).

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::SubscriptionRecord;
use crate::winfo::Watcher;

mod request;

pub use request::{SubscribeError, SubscribeRequest, ACCEPT_ENCODING};

/// Our CSeq is written to the store at least this often, and a restored
/// subscription continues this far above the stored value: every NOTIFY
/// sent after the last write had a CSeq below that, so the watcher never
/// sees a CSeq go backwards (it would answer 500, RFC 3261 §12.2.2).
pub const CSEQ_PERSIST_EVERY: u32 = 1000;

/// CSeq numbers stay below 2^31 (RFC 3261 §8.1.1.5).
const CSEQ_MAX: u32 = (1 << 31) - 1;

/// The subscription bounds of `[presence]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// Shortest Expires accepted; a shorter non-zero one gets 423 with
    /// Min-Expires. Default 60.
    pub min_expires: u32,
    /// Longest Expires granted; a longer request is granted this. Default
    /// 3600.
    pub max_expires: u32,
    /// Expires granted when the SUBSCRIBE has none: 3600, the presence
    /// package's default (RFC 3856 §6.4).
    pub default_expires: u32,
    /// Most live subscriptions one watcher AOR may hold (default 1000), so
    /// one client cannot fill the server's memory and store.
    pub max_per_watcher: usize,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_per_watcher: 1000,
        }
    }
}

/// The outcome of Expires negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    /// The duration granted, in seconds; 0 means fetch or unsubscribe.
    Granted(u32),
    /// Too short: answer 423 with this Min-Expires.
    TooBrief(u32),
}

/// Negotiates a SUBSCRIBE's Expires (RFC 6665 §4.2.1.1): absent gives the
/// default, 0 stays 0, below the minimum is refused, above the maximum is
/// shortened.
pub fn negotiate_expires(requested: Option<u64>, config: &SubscriptionConfig) -> Expires {
    match requested {
        None => Expires::Granted(config.default_expires),
        Some(0) => Expires::Granted(0),
        Some(n) if n < u64::from(config.min_expires) => Expires::TooBrief(config.min_expires),
        Some(n) => Expires::Granted(n.min(u64::from(config.max_expires)) as u32),
    }
}

/// The event packages this server is a notifier for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Package {
    /// `presence` (RFC 3856), bodies `application/pidf+xml`.
    Presence,
    /// `presence.winfo` (RFC 3857), bodies `application/watcherinfo+xml`.
    Winfo,
    /// `vnd-microsoft-roaming-self` ([MS-PRES] §3.7.4): the user's own
    /// categories, containers and watchers.
    RoamingSelf,
    /// `vnd-microsoft-roaming-contacts` ([MS-SIP] §3.7): the user's
    /// contact list and its changes.
    RoamingContacts,
    /// `vnd-microsoft-provisioning-v2` ([MS-SIPREGE]): the client's
    /// settings, fetched once at sign-in.
    Provisioning,
}

impl Package {
    /// Every package, in the order Allow-Events lists them.
    pub const ALL: [Package; 5] = [
        Package::Presence,
        Package::Winfo,
        Package::RoamingSelf,
        Package::RoamingContacts,
        Package::Provisioning,
    ];

    /// Whether only the user itself may subscribe (its own data rather
    /// than someone's presence).
    pub fn is_self(self) -> bool {
        matches!(
            self,
            Package::Winfo
                | Package::RoamingSelf
                | Package::RoamingContacts
                | Package::Provisioning
        )
    }

    /// The package an Event header names, compared as
    /// [`sip::typed::Event::is`] compares (byte by byte).
    pub fn of_event(event: &sip::typed::Event) -> Option<Package> {
        Package::ALL.into_iter().find(|p| event.is(p.as_str()))
    }

    /// The Allow-Events value of the engine's own 489 (RFC 6665 §8.2.2),
    /// for a request that reached it without passing the router.
    pub fn allow_events() -> String {
        let names: Vec<&str> = Package::ALL.iter().map(|p| p.as_str()).collect();
        names.join(", ")
    }

    /// The event type as written in Event headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Package::Presence => "presence",
            Package::Winfo => "presence.winfo",
            Package::RoamingSelf => "vnd-microsoft-roaming-self",
            Package::RoamingContacts => "vnd-microsoft-roaming-contacts",
            Package::Provisioning => "vnd-microsoft-provisioning-v2",
        }
    }
}

/// The body format a watcher takes: what its Accept asks for, within
/// its package. Rendered once per state and shared by every watcher of
/// the same format (and access level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `application/pidf+xml` (RFC 3863 with RPID).
    Pidf,
    /// `application/msrtc-event-categories+xml`, the Microsoft dialect.
    Categories,
    /// `application/watcherinfo+xml` (RFC 3858).
    Winfo,
    /// `application/vnd-microsoft-roaming-self+xml`.
    RoamingSelf,
    /// `application/vnd-microsoft-roaming-contacts+xml`.
    RoamingContacts,
    /// `application/vnd-microsoft-roaming-provisioning-v2+xml`.
    Provisioning,
}

impl Format {
    /// The Content-Type of its NOTIFY bodies.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Pidf => crate::pidf::CONTENT_TYPE,
            Format::Categories => crate::msrtc::categories::CONTENT_TYPE,
            Format::Winfo => crate::winfo::CONTENT_TYPE,
            Format::RoamingSelf => crate::msrtc::roaming::CONTENT_TYPE,
            Format::RoamingContacts => crate::msrtc::contacts::CONTENT_TYPE,
            Format::Provisioning => crate::msrtc::provisioning::CONTENT_TYPE,
        }
    }

    /// The format a stored Content-Type names.
    pub fn of_content_type(content_type: &str) -> Option<Format> {
        [
            Format::Pidf,
            Format::Categories,
            Format::Winfo,
            Format::RoamingSelf,
            Format::RoamingContacts,
            Format::Provisioning,
        ]
        .into_iter()
        .find(|f| f.content_type().eq_ignore_ascii_case(content_type))
    }

    /// The formats a package offers, preferred first: a dialect client
    /// lists PIDF among its Accept values but reads categories.
    pub fn offered(package: Package) -> &'static [Format] {
        match package {
            Package::Presence => &[Format::Categories, Format::Pidf],
            Package::Winfo => &[Format::Winfo],
            Package::RoamingSelf => &[Format::RoamingSelf],
            Package::RoamingContacts => &[Format::RoamingContacts],
            Package::Provisioning => &[Format::Provisioning],
        }
    }
}

/// Why a subscription ended (RFC 6665 §4.1.3 reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Expired, or ended by the watcher with Expires: 0.
    Timeout,
    /// Ended by the server; the watcher may resubscribe at once.
    Deactivated,
    /// The presentity refused the watcher.
    Rejected,
    /// The presentity no longer exists.
    Noresource,
    /// Authorization took too long.
    Giveup,
}

impl Reason {
    /// The `reason` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Deactivated => "deactivated",
            Reason::Rejected => "rejected",
            Reason::Noresource => "noresource",
            Reason::Giveup => "giveup",
        }
    }
}

/// Where a subscription stands (RFC 6665 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// Waiting for authorization; NOTIFYs carry no state.
    Pending,
    /// Authorized; NOTIFYs carry the state.
    Active,
    /// Over; the next NOTIFY is the last one.
    Terminated(Reason),
}

/// A dialog's identity from the notifier's side (RFC 3261 §12): the key
/// of every table of subscriptions.
///
/// The three parts (Call-ID, our tag, the watcher's tag) live in one
/// shared string joined by newlines, which none of them can contain: a key
/// is held by the subscription table and by the indexes by presentity and
/// by expiry, so it must be small (16 bytes) and cheap to clone (memory per
/// subscription is a benchmark target, issue 4). Ordering the joined
/// string orders by the three parts in turn, since `\n` sorts below every
/// byte a part may hold. Looking a dialog up needs no key at all: the
/// tables are searched with the joined `&str` ([`DialogKey::join`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogKey(Arc<str>);

impl DialogKey {
    /// The key of the dialog with these parts.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> DialogKey {
        DialogKey(Self::join(call_id, local_tag, remote_tag).into())
    }

    /// The joined form the tables can be searched with
    /// (`DialogKey: Borrow<str>`).
    pub fn join(call_id: &str, local_tag: &str, remote_tag: &str) -> String {
        let mut joined =
            String::with_capacity(call_id.len() + local_tag.len() + remote_tag.len() + 2);
        joined.push_str(call_id);
        joined.push('\n');
        joined.push_str(local_tag);
        joined.push('\n');
        joined.push_str(remote_tag);
        joined
    }

    /// The three parts: Call-ID, our tag, the watcher's tag. Every NOTIFY
    /// reads two of them, so they are found with two searches for `\n`
    /// (vectorised) rather than a general splitter, once per NOTIFY
    /// ([`crate::notify::build`] takes both from one call).
    pub fn parts(&self) -> (&str, &str, &str) {
        let joined = &*self.0;
        let Some((call_id, rest)) = split_line(joined) else {
            return (joined, "", "");
        };
        let (local, remote) = split_line(rest).unwrap_or((rest, ""));
        (call_id, local, remote)
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.parts().0
    }

    /// Our tag (To of the SUBSCRIBE).
    pub fn local_tag(&self) -> &str {
        self.parts().1
    }

    /// The watcher's tag (From of the SUBSCRIBE).
    pub fn remote_tag(&self) -> &str {
        self.parts().2
    }

    /// The store key, [`SubscriptionRecord::id`]: the joined form.
    pub fn id(&self) -> String {
        self.0.to_string()
    }
}

/// `s` cut at its first line feed, which is dropped. A byte search: every
/// NOTIFY splits its dialog key, and `str::split_once` with a `char`
/// cost three times as much.
fn split_line(s: &str) -> Option<(&str, &str)> {
    let at = memchr::memchr(b'\n', s.as_bytes())?;
    // A line feed is one byte, so both cuts are on character boundaries.
    Some((s.get(..at)?, s.get(at + 1..)?))
}

impl std::borrow::Borrow<str> for DialogKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Why a stored record could not be brought back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The `event` field names no package we serve.
    #[error("unknown event package {0:?}")]
    Event(String),
    /// The `state` field is neither `active` nor `pending`.
    #[error("unknown subscription state {0:?}")]
    State(String),
    /// The remote target does not parse as a URI. It is checked here, once,
    /// so that NOTIFYs can write it as stored without parsing it each time.
    #[error("remote target {0:?} is not a URI")]
    RemoteTarget(String),
}

/// What a presence.winfo subscription keeps between documents (RFC 3857).
#[derive(Debug, Clone, Default)]
pub(crate) struct WinfoProgress {
    /// The version of the next document (the record stores the last one
    /// sent).
    pub(crate) version: u64,
    /// Watcher changes not yet sent (the next partial document).
    pub(crate) pending: Vec<Watcher>,
    /// A full document went out in this process, so changes may be sent
    /// as partial ones.
    pub(crate) started: bool,
}

/// One watcher's subscription; see the module documentation.
#[derive(Debug, Clone)]
pub struct Subscription<F> {
    pub(crate) key: DialogKey,
    pub(crate) package: Package,
    pub(crate) format: Format,
    pub(crate) event_id: Option<Box<str>>,
    pub(crate) presentity: Arc<str>,
    pub(crate) watcher: Arc<str>,
    pub(crate) remote_party: Box<str>,
    pub(crate) local_party: Arc<str>,
    pub(crate) remote_target: Box<str>,
    pub(crate) route_set: Box<[Box<str>]>,
    pub(crate) contact: Arc<str>,
    pub(crate) local_cseq: u32,
    /// The CSeq value last written to the store.
    pub(crate) persisted_cseq: u32,
    pub(crate) remote_cseq: u32,
    pub(crate) expires_at: SystemTime,
    pub(crate) state: SubState,
    pub(crate) last_etag: Option<Arc<str>>,
    pub(crate) flow: F,
    pub(crate) reliable: bool,
    /// When it began (this process's view), for winfo duration-subscribed.
    /// (Milliseconds since the epoch: 8 bytes where a `SystemTime` takes 16.)
    pub(crate) created_at_ms: u64,
    /// The NOTIFY on the wire, if any.
    /// (Never 0, so the option costs no space.)
    pub(crate) in_flight: Option<NonZeroU64>,
    /// Something changed that the watcher has not been told.
    pub(crate) dirty: bool,
    /// RFC 5839: leave the body out of the next NOTIFY if the state's
    /// entity-tag still equals this (or this is `*`).
    pub(crate) suppress_etag: Option<Box<str>>,
    /// What a presence.winfo or a batched subscription keeps besides
    /// (boxed, and one box for both: few subscriptions are either, and
    /// every byte here is paid per subscription).
    pub(crate) extra: Option<Box<Extra>>,
    /// The final NOTIFY carries the state (an unsubscribe or expiry of an
    /// authorized subscription, RFC 6665 §4.2.1.4), rather than nothing
    /// (rejected, pending).
    pub(crate) final_with_body: bool,
}

/// The state only some subscriptions keep.
#[derive(Debug, Clone)]
pub(crate) enum Extra {
    /// presence.winfo's document progress.
    Winfo(WinfoProgress),
    /// A batched subscription's resources.
    Batch(Batch),
}

/// A batched subscription: one dialog watching many presentities — the
/// Microsoft dialect's ([MS-PRES] §3.7.4.3), or an RFC 4662 list
/// subscription of a standard client (parts follow the dialog's
/// [`Format`]). A watched presentity costs an
/// entry here and one in the engine's watch index, not a dialog.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// What it watches, in the order the client added them.
    pub(crate) resources: Vec<Resource>,
    /// The next NOTIFY carries every resource (the first one, or after a
    /// refresh), not only those with news.
    pub(crate) full: bool,
    /// The RLMI `version` of the next NOTIFY.
    pub(crate) version: u32,
    /// The watcher takes BENOTIFY (unanswered) for updates.
    pub(crate) benotify: bool,
    /// NOTIFYs carry `Event: Presence` rather than the package's own
    /// `presence`: liblinphone (5.1 to this day) hands a NOTIFY to its
    /// friend list only when the Event is spelled so
    /// (`linphone_core_internal_notify_received` compares it with
    /// `"Presence"` byte for byte, as Flexisip writes it), and ignores
    /// RFC 3856's spelling. Set for the list subscriptions of Linphone
    /// user agents only ([`SubscribeRequest::linphone`]).
    pub(crate) capitalized_event: bool,
}

/// One watched presentity of a batch: 24 bytes, on top of its entry in the
/// engine's watch index (the capacity budget of ../shared/DESIGN.md allows
/// 32 bytes per watch relation in the index).
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its presentity key, shared with the engine's watch index (the
    /// client's URI as written when it does not parse).
    pub(crate) presentity: Arc<str>,
    /// Whether the watcher may see it.
    pub(crate) state: ResourceState,
    /// It has news the watcher has not been sent.
    pub(crate) pending: bool,
}

impl Resource {
    /// A resource named `uri` by the client.
    pub(crate) fn new(uri: &str, state: ResourceState) -> Resource {
        match sip::Uri::parse_str(uri) {
            Ok(parsed) => Resource {
                presentity: Arc::from(crate::presentity::presentity_key(&parsed)),
                state,
                pending: true,
            },
            Err(_) => Resource {
                presentity: Arc::from(uri),
                state: ResourceState::NoResource,
                pending: true,
            },
        }
    }

    /// Whether it is in the engine's watch index.
    pub(crate) fn watched(&self) -> bool {
        matches!(self.state, ResourceState::Active | ResourceState::Pending)
    }
}

/// A batched resource's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    /// Watched and shown.
    Active,
    /// Awaiting the presentity's authorization.
    Pending,
    /// Refused by policy (RFC 4662 §4.4 `rejected`).
    Rejected,
    /// Names nobody (RFC 4662 §4.4 `noresource`).
    NoResource,
    /// Taken out of a list subscription's list: reported once more as
    /// terminated (`noresource`), then dropped from the batch.
    Removed,
}

impl<F: Clone> Subscription<F> {
    /// A subscription created by `req`, accepted with `expires` seconds.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        req: &SubscribeRequest,
        local_tag: &str,
        remote_target: String,
        contact: String,
        state: SubState,
        expires: u32,
        flow: F,
        reliable: bool,
        now: SystemTime,
    ) -> Self {
        Subscription {
            key: req.key(local_tag),
            package: req.package,
            format: req.format,
            event_id: req.event_id.as_deref().map(Into::into),
            presentity: req.presentity.as_str().into(),
            watcher: req.watcher.as_str().into(),
            remote_party: req.remote_party.as_str().into(),
            local_party: req.local_party.as_str().into(),
            remote_target: remote_target.into(),
            route_set: req.route_set.iter().map(|r| r.as_str().into()).collect(),
            contact: contact.into(),
            local_cseq: 0,
            persisted_cseq: 0,
            remote_cseq: req.cseq,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            state,
            last_etag: None,
            flow,
            reliable,
            created_at_ms: to_millis(now),
            in_flight: None,
            dirty: true,
            suppress_etag: req.suppress_if_match.as_deref().map(Into::into),
            extra: (req.package == Package::Winfo)
                .then(|| Box::new(Extra::Winfo(WinfoProgress::default()))),
            final_with_body: false,
        }
    }

    /// Brings a stored subscription back after a restart. Our CSeq resumes
    /// [`CSEQ_PERSIST_EVERY`] above the stored value (see there).
    pub fn from_record(
        record: SubscriptionRecord<F>,
        now: SystemTime,
    ) -> Result<Self, RecordError> {
        let (package_token, event_id) = match record.event.split_once(";id=") {
            Some((p, id)) => (p.to_owned(), Some(id.to_owned())),
            None => (record.event.clone(), None),
        };
        let package = Package::ALL
            .into_iter()
            .find(|p| p.as_str() == package_token)
            .ok_or_else(|| RecordError::Event(record.event.clone()))?;
        let state = match record.state.as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            other => return Err(RecordError::State(other.to_owned())),
        };
        if sip::Uri::parse_str(&record.remote_target).is_err() {
            return Err(RecordError::RemoteTarget(record.remote_target));
        }
        let local_cseq = record
            .local_cseq
            .saturating_add(CSEQ_PERSIST_EVERY)
            .min(CSEQ_MAX);
        let format = Format::of_content_type(&record.content_type)
            .filter(|f| Format::offered(package).contains(f))
            .unwrap_or(Format::offered(package)[Format::offered(package).len() - 1]);
        Ok(Subscription {
            key: DialogKey::new(&record.call_id, &record.local_tag, &record.remote_tag),
            package,
            format,
            event_id: event_id.map(Into::into),
            presentity: record.presentity.into(),
            watcher: record.watcher.into(),
            remote_party: record.remote_party.into(),
            local_party: record.local_party.into(),
            remote_target: record.remote_target.into(),
            route_set: record.route_set.into_iter().map(Into::into).collect(),
            contact: record.contact.into(),
            local_cseq,
            persisted_cseq: record.local_cseq,
            remote_cseq: record.remote_cseq,
            expires_at: from_millis(record.expires_at_ms),
            state,
            last_etag: record.last_etag.map(Into::into),
            flow: record.flow,
            reliable: record.reliable,
            created_at_ms: to_millis(now),
            in_flight: None,
            dirty: true,
            suppress_etag: None,
            extra: if package == Package::Winfo {
                Some(Box::new(Extra::Winfo(WinfoProgress {
                    // Internally the version of the *next* document.
                    version: record.winfo_version.saturating_add(1),
                    ..WinfoProgress::default()
                })))
            } else if !record.resources.is_empty() || record.capitalized_event {
                Some(Box::new(Extra::Batch(Batch {
                    resources: record
                        .resources
                        .iter()
                        .map(|uri| Resource::new(uri, ResourceState::Active))
                        .collect(),
                    full: true,
                    version: 0,
                    benotify: record.benotify,
                    capitalized_event: record.capitalized_event,
                })))
            } else {
                None
            },
            final_with_body: false,
        })
    }

    /// presence.winfo's progress, for a winfo subscription.
    pub(crate) fn winfo(&self) -> Option<&WinfoProgress> {
        match self.extra.as_deref() {
            Some(Extra::Winfo(w)) => Some(w),
            _ => None,
        }
    }

    /// presence.winfo's progress, made on first use.
    pub(crate) fn winfo_mut(&mut self) -> &mut WinfoProgress {
        if !matches!(self.extra.as_deref(), Some(Extra::Winfo(_))) {
            self.extra = Some(Box::new(Extra::Winfo(WinfoProgress::default())));
        }
        match self.extra.as_deref_mut() {
            Some(Extra::Winfo(w)) => w,
            _ => unreachable!("set just above"),
        }
    }

    /// The batch of a batched subscription.
    pub(crate) fn batch(&self) -> Option<&Batch> {
        match self.extra.as_deref() {
            Some(Extra::Batch(b)) => Some(b),
            _ => None,
        }
    }

    /// The batch of a batched subscription, to change.
    pub(crate) fn batch_mut(&mut self) -> Option<&mut Batch> {
        match self.extra.as_deref_mut() {
            Some(Extra::Batch(b)) => Some(b),
            _ => None,
        }
    }

    /// Makes this a batched subscription over `batch`.
    pub(crate) fn set_batch(&mut self, batch: Batch) {
        self.extra = Some(Box::new(Extra::Batch(batch)));
    }

    /// The record to store; writing it persists our CSeq, hence `&mut`.
    pub(crate) fn checkpoint(&mut self) -> SubscriptionRecord<F> {
        self.persisted_cseq = self.local_cseq;
        let event = match &self.event_id {
            Some(id) => format!("{};id={id}", self.package.as_str()),
            None => self.package.as_str().to_owned(),
        };
        SubscriptionRecord {
            id: self.key.id(),
            event,
            presentity: self.presentity.to_string(),
            watcher: self.watcher.to_string(),
            call_id: self.key.call_id().to_owned(),
            local_tag: self.key.local_tag().to_owned(),
            remote_tag: self.key.remote_tag().to_owned(),
            remote_party: self.remote_party.to_string(),
            local_party: self.local_party.to_string(),
            remote_target: self.remote_target.to_string(),
            route_set: self.route_set.iter().map(|r| r.to_string()).collect(),
            contact: self.contact.to_string(),
            local_cseq: self.local_cseq,
            remote_cseq: self.remote_cseq,
            expires_at_ms: to_millis(self.expires_at),
            state: match self.state {
                SubState::Pending => "pending".into(),
                _ => "active".into(),
            },
            content_type: self.format.content_type().into(),
            last_etag: self.last_etag.as_deref().map(str::to_owned),
            flow: self.flow.clone(),
            reliable: self.reliable,
            winfo_version: self.winfo().map_or(0, |w| w.version.saturating_sub(1)),
            resources: self.batch().map_or_else(Vec::new, |b| {
                b.resources
                    .iter()
                    .map(|r| r.presentity.to_string())
                    .collect()
            }),
            benotify: self.batch().is_some_and(|b| b.benotify),
            capitalized_event: self.batch().is_some_and(|b| b.capitalized_event),
        }
    }
}

impl<F> Subscription<F> {
    /// The dialog.
    pub fn key(&self) -> &DialogKey {
        &self.key
    }

    /// The event package.
    pub fn package(&self) -> Package {
        self.package
    }

    /// The watched presentity's key.
    pub fn presentity(&self) -> &str {
        &self.presentity
    }

    /// The watcher's AOR.
    pub fn watcher(&self) -> &str {
        &self.watcher
    }

    /// Pending, active or terminated.
    pub fn state(&self) -> SubState {
        self.state
    }

    /// When it expires.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Whole seconds left, as `Subscription-State: ...;expires=` says.
    pub fn remaining(&self, now: SystemTime) -> u32 {
        let left = self.expires_at.duration_since(now).unwrap_or_default();
        u32::try_from(left.as_secs()).unwrap_or(u32::MAX)
    }

    /// The `Subscription-State` value for a NOTIFY sent `now`.
    pub fn state_header(&self, now: SystemTime) -> String {
        match self.state {
            SubState::Active => format!("active;expires={}", self.remaining(now)),
            SubState::Pending => format!("pending;expires={}", self.remaining(now)),
            SubState::Terminated(r) => format!("terminated;reason={}", r.as_str()),
        }
    }

    /// Writes the `Subscription-State` value straight into a NOTIFY being
    /// built (what [`Subscription::state_header`] returns, without the
    /// `String`).
    pub(crate) fn write_state_header(&self, out: &mut Vec<u8>, now: SystemTime) {
        match self.state {
            SubState::Active | SubState::Pending => {
                out.extend_from_slice(if self.state == SubState::Active {
                    b"active;expires="
                } else {
                    b"pending;expires="
                });
                crate::notify::decimal(out, u64::from(self.remaining(now)));
            }
            SubState::Terminated(r) => {
                out.extend_from_slice(b"terminated;reason=");
                out.extend_from_slice(r.as_str().as_bytes());
            }
        }
    }

    /// Takes the CSeq for the next NOTIFY.
    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.local_cseq = (self.local_cseq + 1).min(CSEQ_MAX);
        self.local_cseq
    }

    /// Whether the next NOTIFY's CSeq must be written to the store first.
    pub(crate) fn cseq_needs_persist(&self) -> bool {
        self.local_cseq + 1 >= self.persisted_cseq.saturating_add(CSEQ_PERSIST_EVERY)
    }

    /// Checks an in-dialog SUBSCRIBE's CSeq and records it: it must be
    /// above the last one (RFC 3261 §12.2.2, else 500).
    pub(crate) fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        if cseq <= self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// Whether it is over (waiting only for its last NOTIFY to finish).
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, SubState::Terminated(_))
    }
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub(crate) fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`to_millis`].
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn expires_negotiation() {
        let c = SubscriptionConfig::default();
        assert_eq!(negotiate_expires(None, &c), Expires::Granted(3600));
        assert_eq!(negotiate_expires(Some(0), &c), Expires::Granted(0));
        assert_eq!(negotiate_expires(Some(59), &c), Expires::TooBrief(60));
        assert_eq!(negotiate_expires(Some(60), &c), Expires::Granted(60));
        assert_eq!(negotiate_expires(Some(1 << 40), &c), Expires::Granted(3600));
    }

    /// A dialog key gives back its parts, empty ones included (a watcher
    /// that sent no From tag).
    #[test]
    fn dialog_key_parts_round_trip() {
        let key = DialogKey::new("a84b4c76e66710@pc33", "n1", "1928301774");
        assert_eq!(key.call_id(), "a84b4c76e66710@pc33");
        assert_eq!(key.local_tag(), "n1");
        assert_eq!(key.remote_tag(), "1928301774");
        let untagged = DialogKey::new("c@h", "n2", "");
        assert_eq!(
            (
                untagged.call_id(),
                untagged.local_tag(),
                untagged.remote_tag()
            ),
            ("c@h", "n2", "")
        );
    }

    proptest::proptest! {
        /// Any three parts without a line feed, non-ASCII ones included,
        /// come back as they went in (the split is by byte search).
        #[test]
        fn dialog_key_parts_are_the_joined_ones(
            call_id in "[^\n]{0,40}",
            local in "[^\n]{0,12}",
            remote in "[^\n]{0,12}",
        ) {
            let key = DialogKey::new(&call_id, &local, &remote);
            proptest::prop_assert_eq!(
                (key.call_id(), key.local_tag(), key.remote_tag()),
                (call_id.as_str(), local.as_str(), remote.as_str())
            );
        }
    }

    use super::request::tests::{request, SUB};

    #[test]
    fn record_round_trip_moves_cseq_on() {
        let s = SubscribeRequest::parse(&request(SUB)).unwrap();
        let mut sub = Subscription::new(
            &s,
            "n1",
            "sip:bob@192.0.2.1".into(),
            "sip:pres@192.0.2.9".into(),
            SubState::Active,
            600,
            7u32,
            false,
            at(1000),
        );
        assert_eq!(sub.state_header(at(1100)), "active;expires=500");
        assert_eq!(sub.next_cseq(), 1);
        let record = sub.checkpoint();
        assert_eq!(record.id, "c1\nn1\nb1");
        assert_eq!(record.event, "presence;id=3");
        assert_eq!(record.expires_at_ms, 1_600_000);
        let back = Subscription::from_record(record, at(1200)).unwrap();
        assert_eq!(back.local_cseq, 1 + CSEQ_PERSIST_EVERY);
        assert_eq!(back.event_id.as_deref(), Some("3"));
        assert_eq!(back.expires_at, at(1600));
        assert_eq!(back.state, SubState::Active);
    }

    #[test]
    fn remote_cseq_must_increase() {
        let s = SubscribeRequest::parse(&request(SUB)).unwrap();
        let mut sub = Subscription::new(
            &s,
            "n1",
            String::new(),
            String::new(),
            SubState::Pending,
            60,
            (),
            false,
            at(0),
        );
        assert!(!sub.accept_remote_cseq(7));
        assert!(sub.accept_remote_cseq(8));
        assert_eq!(sub.state_header(at(0)), "pending;expires=60");
        sub.state = SubState::Terminated(Reason::Rejected);
        assert_eq!(sub.state_header(at(0)), "terminated;reason=rejected");
    }

    #[test]
    fn a_watch_relation_inside_a_batch_is_small() {
        // What one watched contact costs in its batch, stored list or
        // ad-hoc, whatever the dialect (its watch-index entry aside).
        assert_eq!(std::mem::size_of::<Resource>(), 24);
        assert!(std::mem::size_of::<Batch>() <= 32);
    }

    #[test]
    fn cseq_is_persisted_in_time() {
        let s = SubscribeRequest::parse(&request(SUB)).unwrap();
        let mut sub = Subscription::new(
            &s,
            "n1",
            String::new(),
            String::new(),
            SubState::Active,
            60,
            (),
            false,
            at(0),
        );
        for _ in 0..CSEQ_PERSIST_EVERY - 1 {
            assert!(!sub.cseq_needs_persist());
            sub.next_cseq();
        }
        assert!(sub.cseq_needs_persist());
        let _ = sub.checkpoint();
        assert!(!sub.cseq_needs_persist());
    }
}
