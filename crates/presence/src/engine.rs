//! The presence engine: publications, subscriptions and notifications in
//! one sans-IO state machine.
//!
//! The runtime feeds it [`Input`]s (requests the SIP core handed over,
//! outcomes of NOTIFYs, closed connections) and the current time, and
//! carries out the [`Action`]s it returns, **in order**: a
//! [`Action::Store`] is committed before any later action leaves, which is
//! how a 2xx never promises what a crash could lose (../shared/DESIGN.md,
//! "Nothing lost"). Timers follow quinn-proto's driver loop: sleep until
//! [`Engine::poll_timeout`], then call [`Engine::handle_timeout`].
//!
//! The pieces: [`Presentities`] (publications and composed state, RFC 3903)
//! answers PUBLISH; the subscription table (RFC 6665 dialogs, see
//! [`crate::subscription`]) answers SUBSCRIBE; every change of a
//! presentity's state pokes its watchers, each of which has at most one
//! NOTIFY in flight, and the newest state goes out when it completes.
//!
//! Record lifetime: a terminated subscription's record is deleted from the
//! store at once (with the [`Action::Store`] that precedes the 200 of an
//! unsubscribe, or at expiry), while the in-memory subscription lives on
//! until its final NOTIFY completes. A crash in between loses only that
//! final NOTIFY, which the watcher's own expiry timer covers.

mod address_book;
mod batch;
mod contacts;
mod lists;
mod notifying;
mod roaming;
mod service;
mod subscribe;
mod sync;
mod upstream;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use sip::header::Header;
use sip::{HeaderAccess, HeaderName, Method, Response};

use crate::address_book::{AddressBook, NoAddressBook};
use crate::authorization::Authorization;
use crate::contacts::{ContactError, ContactLimits, ContactLists};
use crate::flow::Flow;
use crate::presentity::Presentities;
use crate::publication::PublicationConfig;
use crate::service::{NoServices, ServiceContacts};
use crate::store::{PublicationRecord, StoreOp, SubscriptionRecord};
use crate::subscription::{
    to_millis, DialogKey, Package, Reason, SubState, Subscription, SubscriptionConfig,
};
use crate::winfo::WatcherEvent;

pub use crate::notify::NotifyId;
pub use address_book::{Shown, ShownBy};
pub use sync::{SyncState, TrackedChange};
pub use upstream::{Interest, ProvidedSource};

/// How many NOTIFYs of a fan-out are built at a time (see
/// [`Engine::poll_fanout`]): enough that a chunk's fixed cost is shared,
/// few enough that the first datagrams leave within a fraction of a
/// millisecond.
pub const FANOUT_CHUNK: usize = 256;

/// What to do with a SUBSCRIBE to a presentity nobody publishes for and
/// nobody provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPresentity {
    /// Accept it and show the presentity offline (a closed tuple), as most
    /// deployments want: the watcher's buddy list shows the contact, and it
    /// comes online with the first PUBLISH.
    #[default]
    Closed,
    /// Answer 404, for servers that must not confirm which addresses exist.
    Reject,
}

/// The engine's configuration, filled by the runtime from `[presence]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineConfig {
    /// SUBSCRIBE bounds.
    pub subscription: SubscriptionConfig,
    /// PUBLISH bounds.
    pub publication: PublicationConfig,
    /// What an unknown presentity gets.
    pub unknown_presentity: UnknownPresentity,
    /// Presentity AORs that exist without publications (rooms, lines).
    pub provisioned: Vec<String>,
    /// Who may watch whom.
    pub authorization: Authorization,
    /// Most NOTIFYs on the wire at once, over all dialogs; 0 for no limit.
    /// A dialog with news beyond it waits (as a key, its NOTIFY not yet
    /// built) until one completes, and then gets the newest state.
    ///
    /// Every NOTIFY's 200 comes back through the runtime's inbound queue,
    /// in the same queue as new requests: without a bound, a burst of
    /// NOTIFYs (a commit that held thousands, a fan-out, a core descheduled
    /// for a second) returns as a burst of 200s that fills the queue, and
    /// new requests are refused with 503 although the server has room for
    /// them. The runtime sets this to the part of its queue it keeps for
    /// responses. A NOTIFY to a watcher that is gone holds its place until
    /// it times out (Timer F, 32 s), so the bound must be large against
    /// the number of dead watchers one change can reach.
    pub max_notifies_in_flight: usize,
    /// What makes a user's URI the URI of its stored contact list (RFC
    /// 4662 list subscriptions, see `engine/lists.rs`): the list of
    /// `sip:alice@example.com` is `sip:alice<suffix>@example.com`. Empty:
    /// no list URIs.
    pub contact_list_suffix: String,
}

/// What the runtime tells the engine.
// A request is far larger than the other inputs, but every input is moved
// once and consumed at once; boxing it would cost an allocation per message
// for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input<F> {
    /// A new request the SIP core hands over (SUBSCRIBE or PUBLISH, in or
    /// out of dialog).
    Request {
        /// Opaque, echoed in [`Action::Respond`].
        txn: u64,
        /// The request.
        req: sip::Request,
        /// The flow it came in on.
        flow: F,
        /// Whether that flow is TCP/TLS.
        reliable: bool,
        /// A fresh tag for the To of a response that creates a dialog (or
        /// of an error response).
        to_tag: String,
        /// This server's URI on that flow, for Contact of 2xx and NOTIFYs.
        contact: sip::Uri,
    },
    /// The final outcome of a NOTIFY the engine asked for.
    NotifyOutcome {
        /// Which NOTIFY.
        id: NotifyId,
        /// How it ended.
        outcome: NotifyOutcome,
    },
    /// A TCP/TLS connection closed (its publications start their grace
    /// period).
    FlowClosed {
        /// The closed flow.
        flow: F,
    },
    /// A validated configuration reload (../shared/DESIGN.md, "Config
    /// reloads are inputs"): the service contacts to answer with from now
    /// on. Watchers of a presentity whose answer changed get a NOTIFY; no
    /// subscription is dropped.
    Reconfigure {
        /// The new rooms and gateway rules.
        services: Arc<dyn ServiceContacts>,
    },
    /// A validated reload of `[sync] default_lcid`: the language of the
    /// custom texts shown to watchers whose own is unknown (the PIDF note,
    /// the first `<custom>` of a category document). Watchers of every
    /// presentity whose shown text changes get a NOTIFY.
    Language {
        /// The new default language.
        language: crate::availability::Lcid,
    },
    /// A room's participant count (the occupancy feed): Busy "In a
    /// meeting (N)" while above 0, Available again at 0.
    Occupancy {
        /// The room, by its first alias (the card's `room`).
        room: String,
        /// Participants now.
        participants: u32,
    },
    /// The upstream presence server's state of a presentity, from the
    /// presence provider's subscription: (Content-Type, document), or
    /// `None` when it is unknown (not subscribed yet, failed, ended).
    Upstream {
        /// The presentity key.
        presentity: String,
        /// The document, if any.
        state: Option<(Bytes, Bytes)>,
    },
    /// The sync engine's state of the contact-center agent bound to a
    /// presentity (issue 11): put in as its [`crate::source::SourceKey::Sync`] source and
    /// aggregated with the rest; `None` takes it out.
    Sync {
        /// The presentity key.
        presentity: String,
        /// What to publish, if anything.
        state: Option<SyncState>,
    },
    /// The presence provider's attendant or PSTN state of a presentity
    /// (seed 004), from the API; `None` takes it out (unknown).
    Provided {
        /// The presentity key.
        presentity: String,
        /// Which source.
        source: ProvidedSource,
        /// The state, if any.
        state: Option<SyncState>,
    },
}

/// How a NOTIFY's client transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// A final response with this status.
    Response(u16),
    /// Timer F fired.
    Timeout,
    /// The transport could not send it.
    TransportError,
}

/// What the engine asks the runtime to do, in the order returned.
// As with `Input`: actions are carried out once, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action<F> {
    /// Make these durable. Every action after a Store in the same returned
    /// Vec (and in later Vecs) waits until it has committed.
    Store(Vec<StoreOp<F>>),
    /// Send this response in the server transaction `txn`.
    Respond {
        /// From [`Input::Request`].
        txn: u64,
        /// The response.
        resp: Response,
    },
    /// Send this NOTIFY, encoded but for its Via: the runtime adds the Via
    /// with the branch of the client transaction it starts
    /// ([`notify::Notify::encode_with_via`]). Request-URI = remote target,
    /// Route = route set.
    /// `flow` is the flow the subscription was last refreshed on; the
    /// runtime uses it when it is still open, else resolves the next hop
    /// from Route/Request-URI.
    Notify {
        /// Echoed in [`Input::NotifyOutcome`].
        id: NotifyId,
        /// The request.
        req: crate::notify::Notify,
        /// The preferred flow.
        flow: F,
        /// Whether that flow is TCP/TLS.
        reliable: bool,
    },
    /// A request was refused by policy (a bound, an authorization rule);
    /// its response is among the same actions. The runtime logs and counts
    /// it ([`crate::refusal`]); the engine, being sans-IO, does neither.
    Refused {
        /// Which policy.
        refusal: crate::Refusal,
        /// The flow the request came on: the runtime logs per source.
        flow: F,
        /// Whom it was about (the watcher, presentity or AOR), for the log.
        subject: String,
    },
}

/// Counts for metrics and the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Active presence subscriptions.
    pub subscriptions_active: usize,
    /// Pending presence subscriptions.
    pub subscriptions_pending: usize,
    /// Live presence.winfo subscriptions.
    pub winfo: usize,
    /// Live self subscriptions of the Microsoft dialect (roaming self,
    /// roaming contacts, provisioning).
    pub roaming: usize,
    /// Presentities with live publications.
    pub presentities: usize,
    /// Live publications.
    pub publications: usize,
    /// NOTIFYs sent and not yet completed.
    pub notifies_in_flight: usize,
}

impl Stats {
    /// Counts a subscription in (`up`) or out of the live counters;
    /// terminated ones are not live.
    fn tally(&mut self, package: Package, state: SubState, up: bool) {
        let counter = match (package, state) {
            (_, SubState::Terminated(_)) => return,
            (Package::Winfo, _) => &mut self.winfo,
            (Package::RoamingSelf | Package::RoamingContacts | Package::Provisioning, _) => {
                &mut self.roaming
            }
            (Package::Presence, SubState::Active) => &mut self.subscriptions_active,
            (Package::Presence, SubState::Pending) => &mut self.subscriptions_pending,
        };
        if up {
            *counter += 1;
        } else {
            *counter = counter.saturating_sub(1);
        }
    }
}

/// The engine; see the module documentation.
#[derive(Debug)]
pub struct Engine<F> {
    config: EngineConfig,
    presentities: Presentities<F>,
    provisioned: HashSet<String>,
    subs: sip::hash::HashMap<DialogKey, Box<Subscription<F>>>,
    /// Presentity → its subscriptions (both packages), ordered so that
    /// NOTIFYs go out in a deterministic order.
    by_presentity: HashMap<Arc<str>, BTreeSet<DialogKey>>,
    /// Watcher AOR → live subscriptions, for `max_per_watcher`.
    per_watcher: HashMap<Arc<str>, usize>,
    /// Presentity → its watchers-of-watchers (presence.winfo and the
    /// dialect's roaming-self subscriptions), so telling them of a watcher
    /// change does not walk every watcher of a popular presentity.
    self_by_presentity: HashMap<Arc<str>, BTreeSet<DialogKey>>,
    /// The dialect users' containers and acknowledged watchers.
    roaming: crate::roaming::Roaming,
    /// Presentity → the batched dialogs that watch it (a watch relation
    /// is an entry here and in the dialog's batch, not a dialog).
    watches: batch::Watches,
    /// Presentity → how many watch it (presence subscriptions and batch
    /// resources): the presence provider's interest (engine/upstream.rs).
    interest: HashMap<Arc<str>, u32>,
    /// First and last watchers since the runtime last asked.
    interest_changes: Vec<Interest>,
    /// The sync engine's agents' presentities and their changes since the
    /// last [`Engine::take_tracked`].
    tracked: sync::Tracked,
    /// Every presentity that changed since the last
    /// [`Engine::take_changed`], when the runtime asked for them
    /// ([`Engine::record_changes`]).
    changed: Option<std::collections::HashSet<String>>,
    /// The groups each pending provisioning fetch asked for.
    provisioning: HashMap<DialogKey, Vec<String>>,
    /// Each user's last contact-list changes, for the deltas of endpoints
    /// that saw an earlier version.
    contact_history:
        HashMap<String, std::collections::VecDeque<crate::msrtc::contacts::ContactDelta>>,
    /// The list version each roaming-contacts subscription last saw.
    contacts_sent: HashMap<DialogKey, u64>,
    /// Our Contact URIs (one per listening address), shared by the
    /// subscriptions made through them.
    contacts: HashSet<Arc<str>>,
    /// Expiry index (the mini-redis pattern): the first entry is the next
    /// subscription to expire.
    deadlines: BTreeSet<(SystemTime, DialogKey)>,
    in_flight: sip::hash::HashMap<NotifyId, DialogKey>,
    /// Watchers of a changed presentity whose NOTIFY is not built yet: a
    /// fan-out builds [`FANOUT_CHUNK`] NOTIFYs at a time, so the runtime
    /// can send the first ones while the rest wait ([`Engine::poll_fanout`]).
    fanout: VecDeque<DialogKey>,
    /// Set while [`Engine::deactivate_all`] runs: at shutdown every final
    /// NOTIFY goes at once, since nothing will be sent later.
    unlimited: bool,
    next_notify: u64,
    /// Live subscriptions by package and state, kept on every change so
    /// that [`Engine::stats`] does not walk a table of a million entries
    /// (it runs in the core's loop, ahead of NOTIFYs).
    live: Stats,
    /// Decisions made through [`Engine::authorize`], keyed by (presentity,
    /// watcher); they override the configured policy.
    decisions: HashMap<(String, String), bool>,
    /// Every user's roaming contact list ([`crate::contacts`]).
    contact_lists: ContactLists,
    /// Who answers for rooms and gateway aliases ([`crate::service`]).
    services: Arc<dyn ServiceContacts>,
    /// Participants per occupied room (by its first alias); empty rooms
    /// are absent.
    occupancy: HashMap<Box<str>, u32>,
    /// Per room (its first alias), the addresses watchers were answered
    /// for with its card; checked again when used (an entry may outlive
    /// its watchers).
    room_watched: HashMap<Arc<str>, BTreeSet<Box<str>>>,
    /// Who answers dialect clients' directory searches
    /// ([`crate::address_book`]).
    address_book: Arc<dyn AddressBook>,
}

impl<F: Flow> Engine<F> {
    /// An engine with nothing in it; `seed` makes entity-tags unique per
    /// process without drawing random numbers here.
    pub fn new(config: EngineConfig, seed: u64) -> Self {
        let mut presentities = Presentities::new(config.publication.clone(), seed);
        for p in &config.provisioned {
            presentities.provision(p);
        }
        Engine {
            provisioned: config.provisioned.iter().cloned().collect(),
            config,
            presentities,
            subs: sip::hash::map(),
            live: Stats::default(),
            by_presentity: HashMap::new(),
            per_watcher: HashMap::new(),
            self_by_presentity: HashMap::new(),
            roaming: crate::roaming::Roaming::new(),
            watches: HashMap::new(),
            interest: HashMap::new(),
            interest_changes: Vec::new(),
            tracked: sync::Tracked::default(),
            changed: None,
            provisioning: HashMap::new(),
            contact_history: HashMap::new(),
            contacts_sent: HashMap::new(),
            contacts: HashSet::new(),
            deadlines: BTreeSet::new(),
            in_flight: sip::hash::map(),
            fanout: VecDeque::new(),
            unlimited: false,
            next_notify: 0,
            decisions: HashMap::new(),
            contact_lists: ContactLists::new(ContactLimits::DEFAULT),
            services: Arc::new(NoServices),
            occupancy: HashMap::new(),
            room_watched: HashMap::new(),
            address_book: Arc::new(NoAddressBook),
        }
    }

    /// The users' contact lists, for reading: the operator's API and the
    /// `vnd-microsoft-roaming-contacts` subscriptions.
    pub fn contact_lists(&self) -> &ContactLists {
        &self.contact_lists
    }

    /// After a restart: loads the stored contact lists. Returns the records
    /// that break a rule and were skipped (user and why), for the runtime
    /// to log; they stay in the store until the user's list is written
    /// again.
    pub fn restore_contacts(
        &mut self,
        records: Vec<crate::contacts::ContactListRecord>,
    ) -> Vec<(String, ContactError)> {
        self.contact_lists.restore(records)
    }

    /// The publications, for inspection (`presenced explain`).
    pub fn presentities(&self) -> &Presentities<F> {
        &self.presentities
    }

    /// After a restart: reloads the records; expired (or unreadable) ones
    /// are dropped with Store deletes, and every live subscription gets a
    /// NOTIFY with the current state. Publications go first, so those
    /// NOTIFYs carry the restored state.
    pub fn restore(
        &mut self,
        publications: Vec<PublicationRecord<F>>,
        subscriptions: Vec<SubscriptionRecord<F>>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let mut deletes = Vec::new();
        for record in publications {
            let (presentity, etag) = (record.presentity.clone(), record.etag.clone());
            if !self.presentities.restore(record, now) {
                deletes.push(StoreOp::DeletePublication { presentity, etag });
            }
        }
        let mut restored = Vec::new();
        for record in subscriptions {
            let id = record.id.clone();
            if record.expires_at_ms <= to_millis(now) {
                deletes.push(StoreOp::DeleteSubscription { id });
                continue;
            }
            match Subscription::from_record(record, now) {
                Ok(mut sub) => {
                    self.restore_list(&mut sub);
                    restored.push(sub.key.clone());
                    self.insert(sub);
                }
                Err(_) => deletes.push(StoreOp::DeleteSubscription { id }),
            }
        }
        let mut out = Vec::new();
        if !deletes.is_empty() {
            out.push(Action::Store(deletes));
        }
        for key in restored {
            self.send_next(&key, now, &mut out);
        }
        out
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input<F>, now: SystemTime) -> Vec<Action<F>> {
        match input {
            Input::Request {
                txn,
                req,
                flow,
                reliable,
                to_tag,
                contact,
            } => match req.method {
                Method::Subscribe => {
                    let ctx = subscribe::Context {
                        txn,
                        flow,
                        reliable,
                        to_tag,
                        contact,
                    };
                    self.subscribe(&req, ctx, now)
                }
                Method::Publish => self.publish(txn, &req, &flow, reliable, &to_tag, now),
                Method::Service => self.service(txn, &req, &flow, reliable, &to_tag, now),
                _ => {
                    let mut resp = Response::to_request(&req, 405, Some(&to_tag));
                    resp.headers.push(Header::new(
                        HeaderName::Allow,
                        "SUBSCRIBE, PUBLISH, SERVICE",
                    ));
                    vec![Action::Respond { txn, resp }]
                }
            },
            Input::NotifyOutcome { id, outcome } => {
                let mut out = Vec::new();
                self.notify_outcome(id, outcome, now, &mut out);
                out
            }
            Input::FlowClosed { flow } => {
                self.presentities.flow_closed(&flow, now);
                Vec::new()
            }
            Input::Reconfigure { services } => self.reconfigure(services, now),
            Input::Language { language } => {
                let mut out = Vec::new();
                for presentity in self.presentities.set_language(language, now) {
                    self.presentity_changed(&presentity, now, &mut out);
                }
                out
            }
            Input::Occupancy { room, participants } => self.occupancy(&room, participants, now),
            Input::Upstream { presentity, state } => self.upstream(&presentity, state, now),
            Input::Sync { presentity, state } => self.sync_state(&presentity, state, now),
            Input::Provided {
                presentity,
                source,
                state,
            } => self.provided(&presentity, source, state, now),
        }
    }

    fn publish(
        &mut self,
        txn: u64,
        req: &sip::Request,
        flow: &F,
        reliable: bool,
        to_tag: &str,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let outcome = self.presentities.publish(req, flow, reliable, to_tag, now);
        self.published(txn, (req, flow), outcome, now)
    }

    /// A SERVICE of the Microsoft dialect: category publishing.
    fn service(
        &mut self,
        txn: u64,
        req: &sip::Request,
        flow: &F,
        reliable: bool,
        to_tag: &str,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        if req.content_type_is("application", "msrtc-category-publish+xml") {
            let user = crate::presentity::presentity_key(&req.uri);
            let outcome = self
                .presentities
                .publish_categories(req, flow, reliable, to_tag, now);
            // The user's own categories are in its roaming data; a change
            // watchers see reaches it through `presentity_changed`, one
            // they do not (an input container, a version) through here.
            let quiet = !outcome.store.is_empty() && outcome.changed.is_none();
            let mut out = self.published(txn, (req, flow), outcome, now);
            if quiet {
                self.roaming_changed(&user, now, &mut out);
            }
            return out;
        }
        if let Some(out) = self.directory_search(txn, req, to_tag) {
            return out;
        }
        if let Some(out) = self.service_settings(txn, req, to_tag, now) {
            return out;
        }
        if let Some(out) = self.service_contacts(txn, req, to_tag, now) {
            return out;
        }
        let mut resp = Response::to_request(req, 415, Some(to_tag));
        resp.headers
            .push(Header::new(HeaderName::Accept, roaming::service_types()));
        vec![Action::Respond { txn, resp }]
    }

    /// The actions of a publication's outcome: its writes, the first
    /// NOTIFY of the change, its response (and the report of a refusal by
    /// policy), then the other NOTIFYs.
    ///
    /// A watcher goes first because the change is what it waits for,
    /// while the publisher waits only to learn it was taken: sent in one
    /// batch behind the 200, a NOTIFY waited for the publisher's wake-up
    /// (on a shared host the woken publisher preempts the sender inside
    /// the system call), which put the 200's delivery into a watcher's
    /// latency. Only the first: with a fan-out's whole first chunk ahead
    /// of it, the 200 waited for 256 NOTIFYs and the 10 000-watcher
    /// fan-out measured slower (crates/bench/README.md, eighth session).
    /// The commit gate holds all of them behind the writes alike, and RFC
    /// 3903 sets no order between a PUBLISH's 200 and the NOTIFYs.
    fn published(
        &mut self,
        txn: u64,
        (req, flow): (&sip::Request, &F),
        outcome: crate::PublishOutcome<F>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let mut out = Vec::new();
        if !outcome.store.is_empty() {
            out.push(Action::Store(outcome.store));
        }
        let first_notify = out.len();
        if let Some(presentity) = outcome.changed {
            self.presentity_changed(&presentity, now, &mut out);
        }
        let respond_at = out[first_notify..]
            .iter()
            .position(|a| matches!(a, Action::Notify { .. }))
            .map_or(out.len(), |i| first_notify + i + 1);
        out.insert(
            respond_at,
            Action::Respond {
                txn,
                resp: outcome.response,
            },
        );
        if let Some(refusal) = outcome.refused {
            out.push(Action::Refused {
                refusal,
                flow: flow.clone(),
                subject: crate::presentity::presentity_key(&req.uri),
            });
        }
        out
    }

    /// Whether a fan-out still has NOTIFYs to build, and room on the wire
    /// for them ([`Engine::poll_fanout`]).
    pub fn has_fanout(&self) -> bool {
        !self.fanout.is_empty() && self.room_in_flight()
    }

    /// Whether another NOTIFY may go on the wire
    /// ([`EngineConfig::max_notifies_in_flight`]).
    pub(crate) fn room_in_flight(&self) -> bool {
        let max = self.config.max_notifies_in_flight;
        max == 0 || self.unlimited || self.in_flight.len() < max
    }

    /// Builds the next NOTIFYs of the fan-outs under way, at most `max`.
    ///
    /// A state change of a presentity with W watchers would otherwise
    /// build W NOTIFYs before the first could leave (a 10 000-watcher
    /// fan-out took 60–70 ms to build). [`Engine::handle`] builds the
    /// first [`FANOUT_CHUNK`] and queues the rest; the runtime calls this
    /// once per turn of its loop until [`Engine::has_fanout`] is false,
    /// between taking the watchers' responses. Each NOTIFY carries the
    /// state at the time it is built, as a coalesced one would.
    pub fn poll_fanout(&mut self, now: SystemTime, max: usize) -> Vec<Action<F>> {
        let mut out = Vec::new();
        let mut built = 0;
        while built < max && self.room_in_flight() {
            let Some(key) = self.fanout.pop_front() else {
                break;
            };
            // One lookup asks for news and reads the body.
            if self.send_now(&key, now, &mut out) {
                built += 1;
            }
        }
        if self.fanout.is_empty() && self.fanout.capacity() > 4 * FANOUT_CHUNK {
            self.fanout = VecDeque::new();
        }
        out
    }

    /// The earliest time [`Engine::handle_timeout`] has work: a
    /// publication's or a subscription's expiry.
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        let subs = self.deadlines.first().map(|(t, _)| *t);
        match (self.presentities.poll_timeout(), subs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires what is due at `now`: publications (their watchers are
    /// notified of the new state) and subscriptions (a final NOTIFY with
    /// `terminated;reason=timeout`).
    pub fn handle_timeout(&mut self, now: SystemTime) -> Vec<Action<F>> {
        let mut out = Vec::new();
        let expired = self.presentities.handle_timeout(now);
        if !expired.store.is_empty() {
            out.push(Action::Store(expired.store));
        }
        for presentity in expired.changed {
            self.presentity_changed(&presentity, now, &mut out);
        }
        while let Some((at, key)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            // A subscription still pending when it runs out was never
            // authorized: RFC 6665 §4.2.2's `giveup`, not a plain timeout.
            let reason = match self.subs.get(&key).map(|s| s.state) {
                Some(SubState::Pending) => Reason::Giveup,
                _ => Reason::Timeout,
            };
            self.end_subscription(&key, reason, now, &mut out);
        }
        out
    }

    /// Ends every live subscription with `terminated;reason=deactivated`
    /// (RFC 6665 §4.2.2: "retry immediately"), for a server that is going
    /// away without keeping its subscriptions (the memory-only store): the
    /// watchers re-subscribe to whatever takes its place instead of
    /// waiting for their refresh to fail. A durable server does not call
    /// this; its subscriptions survive the restart.
    pub fn deactivate_all(&mut self, now: SystemTime) -> Vec<Action<F>> {
        let keys: Vec<DialogKey> = self
            .subs
            .iter()
            .filter(|(_, s)| !s.is_terminated())
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        self.unlimited = true;
        for key in keys {
            self.end_subscription(&key, Reason::Deactivated, now, &mut out);
        }
        // Those whose NOTIFY was waiting for room get theirs too.
        let waiting: Vec<DialogKey> = self.fanout.drain(..).collect();
        for key in waiting {
            self.send_now(&key, now, &mut out);
        }
        self.unlimited = false;
        out
    }

    /// Decides a watcher's pending subscriptions to `presentity`: `allow`
    /// makes them active (NOTIFY with the state), otherwise they end with
    /// `terminated;reason=rejected`. The decision is remembered for later
    /// SUBSCRIBEs of the same watcher (in memory only; a subscription
    /// already made active is stored as active).
    pub fn authorize(
        &mut self,
        presentity: &str,
        watcher: &str,
        allow: bool,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        self.decisions
            .insert((presentity.to_owned(), watcher.to_owned()), allow);
        let batched = self.decide_in_batches(presentity, watcher, allow);
        let keys: Vec<DialogKey> = self
            .by_presentity
            .get(presentity)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for key in keys {
            let Some(sub) = self.subs.get_mut(&key) else {
                continue;
            };
            if sub.package != Package::Presence
                || *sub.watcher != *watcher
                || sub.state != SubState::Pending
            {
                continue;
            }
            if allow {
                self.live.tally(sub.package, sub.state, false);
                sub.state = SubState::Active;
                self.live.tally(sub.package, sub.state, true);
                sub.dirty = true;
                out.push(Action::Store(vec![StoreOp::PutSubscription(
                    sub.checkpoint(),
                )]));
                self.send_next(&key, now, &mut out);
                self.watcher_changed(&key, WatcherEvent::Approved, now, &mut out);
            } else {
                self.end_subscription(&key, Reason::Rejected, now, &mut out);
            }
        }
        for key in batched {
            self.send_next(&key, now, &mut out);
        }
        out
    }

    /// Whether an in-dialog request belongs to a live subscription, for the
    /// SIP core's 481 check.
    pub fn contains_dialog(&self, call_id: &[u8], local_tag: &[u8], remote_tag: &[u8]) -> bool {
        // Lossy, as the SUBSCRIBE's parts were when the key was made.
        let joined = DialogKey::join(
            &String::from_utf8_lossy(call_id),
            &String::from_utf8_lossy(local_tag),
            &String::from_utf8_lossy(remote_tag),
        );
        self.subs
            .get(joined.as_str())
            .is_some_and(|s| !s.is_terminated())
    }

    /// The subscription of a dialog, for inspection.
    pub fn subscription(&self, key: &DialogKey) -> Option<&Subscription<F>> {
        self.subs.get(key).map(|s| &**s)
    }

    /// Counts for metrics.
    pub fn stats(&self) -> Stats {
        let stats = Stats {
            presentities: self.presentities.known_count(),
            publications: self.presentities.len(),
            notifies_in_flight: self.in_flight.len(),
            ..self.live
        };
        debug_assert_eq!(stats, self.stats_by_walking(), "live counters drifted");
        stats
    }

    /// What the live counters must equal: checked on every `stats` call in
    /// debug builds, so every test that reads them checks them.
    fn stats_by_walking(&self) -> Stats {
        let mut stats = Stats {
            presentities: self.presentities.presentities().len(),
            publications: self.presentities.len(),
            notifies_in_flight: self.in_flight.len(),
            ..Stats::default()
        };
        for sub in self.subs.values() {
            stats.tally(sub.package, sub.state, true);
        }
        stats
    }
}
