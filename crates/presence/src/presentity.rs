//! Presentities as a store of sources: the event state compositor.
//!
//! [`Presentities`] holds every live [`Source`] of every presentity, ends
//! sources when they expire (or when the TCP/TLS flow they were made on
//! has been gone for [`PublicationConfig::flow_grace`]), and keeps each
//! presentity's composed state rendered, so that a NOTIFY body is produced
//! once per change and shared by every watcher.
//!
//! The store knows nothing of SIP: sources are put and taken by key
//! ([`Presentities::put`], [`Presentities::take`]). The protocols are
//! adapters in front of it: PUBLISH (RFC 3903, `crate::publication`)
//! today, the Microsoft dialect's SERVICE category publishing, the sync
//! engine and service contacts next.
//!
//! Like the rest of the crate it is sans-IO: the runtime passes `now` in,
//! sleeps until [`Presentities::poll_timeout`], calls
//! [`Presentities::handle_timeout`], and makes the returned
//! [`StoreOp`]s durable before it sends the response that depends on them.
//! Expiry is a `BTreeSet<(deadline, presentity, source)>` (the mini-redis
//! pattern): the next deadline is its first element, and expiring is popping
//! from the front.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::availability::{AggregateState, Lcid};
use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::pidf;
use crate::publication::{from_ms, later, state_etag, EtagGenerator, Expired, PublicationConfig};
use crate::source::{CategorySource, Source, SourceKey};
use crate::store::PublicationRecord;

/// A presentity's composed state as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentityState {
    /// +1 on every change of the rendered body, so the engine can tell a
    /// newer state from an older one; 0 = nothing ever published.
    pub version: u64,
    /// The rendered `application/pidf+xml`, rendered once per change and
    /// shared by every NOTIFY that carries it.
    pub body: Bytes,
    /// Entity-tag of this state for conditional notification (RFC 5839):
    /// a hash of `body`, so it changes exactly when the body does.
    pub etag: Arc<str>,
    /// Whether the presentity has live publications or is provisioned; an
    /// unknown presentity may be refused (404) by configuration.
    pub known: bool,
}

/// One presentity: its sources and its rendered state.
/// The entry outlives its last publication, so that the version keeps
/// counting up if the presentity publishes again (watchers never see a
/// version go backwards). That costs one small entry (key, closed body,
/// version) per presentity published since the start; a restart drops
/// them.
#[derive(Debug)]
struct Presentity<F> {
    sources: BTreeMap<SourceKey, Source<F>>,
    provisioned: bool,
    version: u64,
    /// The PIDF rendering, what PIDF watchers get.
    body: Bytes,
    etag: Arc<str>,
    /// The aggregated availability, what every dialect shows.
    aggregate: AggregateState,
    /// The category documents of this version, rendered on first demand
    /// per container (access level) and shared by every watcher there.
    categories: Vec<(u32, Bytes)>,
    /// A category source came or went since the last recompose.
    categories_changed: bool,
    /// Sources were restored at this time and the state is not rendered
    /// yet (restoring many publications of one presentity renders once).
    stale: Option<SystemTime>,
}

impl<F: Flow> Presentity<F> {
    fn new(key: &str) -> Self {
        let body = closed_body(key);
        Presentity {
            sources: BTreeMap::new(),
            provisioned: false,
            version: 0,
            etag: state_etag(&body).into(),
            body,
            aggregate: view::nothing(),
            categories: Vec::new(),
            categories_changed: false,
            stale: None,
        }
    }

    fn known(&self) -> bool {
        self.provisioned || !self.sources.is_empty()
    }

    fn state(&self) -> PresentityState {
        PresentityState {
            version: self.version,
            body: self.body.clone(),
            etag: self.etag.clone(),
            known: self.known(),
        }
    }
}

/// What nobody publishes for: one closed tuple.
fn closed_body(key: &str) -> Bytes {
    pidf::render_bytes(&PresenceDocument::closed(key))
}

/// Every presentity's sources and composed state.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use presence::{Presentities, PublicationConfig, StoreOp};
///
/// let publish = b"PUBLISH sip:alice@example.com SIP/2.0\r\n\
/// Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
/// From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
/// Call-ID: a\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n\
/// Content-Type: application/pidf+xml\r\nContent-Length: 146\r\n\r\n\
/// <presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:alice@example.com'>\
/// <tuple id='t'><status><basic>open</basic></status></tuple></presence>";
/// let framing = sip::parse::Framing::Datagram;
/// let Ok(sip::Message::Request(req)) =
///     sip::parse::parse(publish[..].into(), framing, &sip::Limits::DEFAULT)
/// else {
///     panic!("not a request")
/// };
///
/// let mut presentities = Presentities::<u32>::new(PublicationConfig::default(), 1);
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let out = presentities.publish(&req, &7, true, "totag", now);
/// assert_eq!(out.response.status, 200);
/// assert!(matches!(out.store[..], [StoreOp::PutPublication(_)]));
/// assert_eq!(out.changed.as_deref(), Some("sip:alice@example.com"));
/// let state = presentities.state("sip:alice@example.com");
/// assert!(state.known && state.version == 1);
///
/// // The TCP connection goes away; 30 s later so does the publication.
/// presentities.flow_closed(&7, now);
/// let later = presentities.poll_timeout().unwrap();
/// assert_eq!(later, now + Duration::from_secs(30));
/// let expired = presentities.handle_timeout(later);
/// assert_eq!(expired.changed, ["sip:alice@example.com"]);
/// assert!(presentities.is_empty());
/// ```
#[derive(Debug)]
pub struct Presentities<F> {
    pub(crate) config: PublicationConfig,
    pub(crate) etags: EtagGenerator,
    /// By URI, with the hot tables' seeded hasher (`sip::hash`): every
    /// NOTIFY looks its presentity up here, and SipHash was 230
    /// instructions of that lookup.
    presentities: sip::hash::HashMap<String, Presentity<F>>,
    /// When each source ends: (end, presentity, source).
    deadlines: BTreeSet<(SystemTime, String, SourceKey)>,
    /// When a presentity's aggregate changes by itself (an idle endpoint
    /// fading to Away): (when, presentity).
    fades: BTreeSet<(SystemTime, String)>,
    /// The sources tied to each open TCP/TLS flow.
    flows: HashMap<F, BTreeSet<(String, SourceKey)>>,
    /// The last composition sequence number handed out.
    sequence: u64,
    /// Live sources.
    count: usize,
    /// Known presentities (with live sources, or provisioned), kept on
    /// every change so that the once-a-second gauges do not walk (and
    /// sort) every presentity.
    known: usize,
}

impl<F: Flow> Presentities<F> {
    /// An empty compositor. `seed` makes this run's entity-tags differ from
    /// another run's (the runtime passes a random one; tests a constant).
    pub fn new(config: PublicationConfig, seed: u64) -> Self {
        Presentities {
            config,
            etags: EtagGenerator::new(seed),
            presentities: sip::hash::map(),
            deadlines: BTreeSet::new(),
            fades: BTreeSet::new(),
            flows: HashMap::new(),
            sequence: 0,
            count: 0,
            known: 0,
        }
    }

    /// The live source `source` of presentity `key`.
    pub fn source(&self, key: &str, source: &SourceKey) -> Option<&Source<F>> {
        self.presentities.get(key)?.sources.get(source)
    }

    /// How many live sources presentity `key` has.
    pub fn source_count(&self, key: &str) -> usize {
        self.presentities.get(key).map_or(0, |p| p.sources.len())
    }

    /// The next composition sequence number: a source put with it counts
    /// as newer than every live one.
    pub fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Puts a source (replacing one with the same key) and re-renders the
    /// presentity; true when its composed state changed.
    pub fn put(&mut self, key: &str, source: SourceKey, value: Source<F>, now: SystemTime) -> bool {
        self.take_quietly(key, &source);
        self.insert(key, source, value);
        self.recompose(key, now)
    }

    /// Takes a source out and re-renders the presentity: the source, and
    /// whether the composed state changed.
    pub fn take(
        &mut self,
        key: &str,
        source: &SourceKey,
        now: SystemTime,
    ) -> Option<(Source<F>, bool)> {
        let taken = self.take_quietly(key, source)?;
        Some((taken, self.recompose(key, now)))
    }

    /// Moves a source to a new key (an RFC 3903 refresh or modification
    /// changes the entity-tag) and lets `update` change it; the presentity
    /// is re-rendered only when `update` says the content changed. Returns
    /// whether the composed state changed, or `None` when there is no
    /// such source.
    pub fn rekey(
        &mut self,
        key: &str,
        old: &SourceKey,
        new: SourceKey,
        update: impl FnOnce(&mut Source<F>) -> bool,
        now: SystemTime,
    ) -> Option<bool> {
        let mut value = self.take_quietly(key, old)?;
        let modified = update(&mut value);
        self.insert(key, new, value);
        Some(modified && self.recompose(key, now))
    }

    /// Adds a source to the presentity and to the indexes.
    fn insert(&mut self, key: &str, source: SourceKey, value: Source<F>) {
        self.deadlines
            .insert((value.ends(), key.to_string(), source.clone()));
        if let Some(flow) = value.watches_flow() {
            self.flows
                .entry(flow.clone())
                .or_default()
                .insert((key.to_string(), source.clone()));
        }
        let presentity = match self.presentities.get_mut(key) {
            Some(p) => p,
            None => self
                .presentities
                .entry(key.to_string())
                .or_insert_with(|| Presentity::new(key)),
        };
        let was_known = presentity.known();
        if value.category_source().is_some() {
            presentity.categories_changed = true;
        }
        if presentity.sources.insert(source, value).is_none() {
            self.count += 1;
        }
        if !was_known {
            self.known += 1;
        }
    }

    /// Removes a source from the presentity and from the indexes, without
    /// re-rendering.
    fn take_quietly(&mut self, key: &str, source: &SourceKey) -> Option<Source<F>> {
        let presentity = self.presentities.get_mut(key)?;
        let value = presentity.sources.remove(source)?;
        if value.category_source().is_some() {
            presentity.categories_changed = true;
        }
        if !presentity.known() {
            self.known -= 1;
        }
        self.count -= 1;
        // The entry's own strings serve the flow index's lookup below.
        let entry = (value.ends(), key.to_string(), source.clone());
        let (_, key, source) = self.deadlines.take(&entry).unwrap_or(entry);
        if let Some(flow) = value.watches_flow() {
            if let Some(set) = self.flows.get_mut(flow) {
                set.remove(&(key, source));
                if set.is_empty() {
                    self.flows.remove(flow);
                }
            }
        }
        Some(value)
    }

    /// Shows custom texts in `language` to watchers of unknown language
    /// from now on (a live reload of `[sync] default_lcid`), and renders
    /// again every presentity whose aggregate carries texts in two or more
    /// languages, the only ones the choice shows in (a single text is
    /// shown whatever the language). Returns the presentities whose
    /// watchers must be told; none when the language is the same.
    pub fn set_language(&mut self, language: Lcid, now: SystemTime) -> Vec<String> {
        if language == self.config.language {
            return Vec::new();
        }
        self.config.language = language;
        let texts: Vec<String> = self
            .presentities
            .iter_mut()
            .filter(|(_, p)| {
                p.aggregate
                    .activity
                    .as_ref()
                    .is_some_and(|a| a.custom.iter().nth(1).is_some())
            })
            .map(|(key, p)| {
                // The category documents order their texts by language
                // even when the PIDF note stays the same.
                p.categories_changed = true;
                key.clone()
            })
            .collect();
        texts
            .into_iter()
            .filter(|key| self.recompose(key, now))
            .collect()
    }

    /// Re-renders a presentity; true when what watchers see changed.
    fn recompose(&mut self, key: &str, now: SystemTime) -> bool {
        let Some(p) = self.presentities.get_mut(key) else {
            return false;
        };
        let before = p.fades_at();
        let changed = p.recompose(key, now, self.config.language);
        let after = p.fades_at();
        if before != after {
            if let Some(at) = before {
                self.fades.remove(&(at, key.to_string()));
            }
            if let Some(at) = after {
                self.fades.insert((at, key.to_string()));
            }
        }
        changed
    }

    /// The presentity's current composed state. An unknown presentity gets
    /// the closed document ([`PresenceDocument::closed`]) with `known =
    /// false` and version 0, so a watcher of someone who never published
    /// sees "offline" rather than nothing.
    pub fn state(&mut self, presentity: &str) -> PresentityState {
        self.shown_state(presentity).0
    }

    /// [`Presentities::state`], and whether the presentity has a live
    /// source (a service contact answers only for one without): one table
    /// lookup on the path every NOTIFY of a fan-out takes.
    pub fn shown_state(&mut self, presentity: &str) -> (PresentityState, bool) {
        if let Some(p) = self.presentities.get(presentity) {
            if p.stale.is_none() {
                return (p.state(), !p.sources.is_empty());
            }
        }
        self.render_restored(presentity);
        match self.presentities.get(presentity) {
            Some(p) => (p.state(), !p.sources.is_empty()),
            None => {
                let body = closed_body(presentity);
                let state = PresentityState {
                    version: 0,
                    etag: state_etag(&body).into(),
                    body,
                    known: false,
                };
                (state, false)
            }
        }
    }

    /// The presentity's aggregated state, if it has any source (the sync
    /// engine reads the availability after every change).
    pub fn aggregate(&self, presentity: &str) -> Option<&crate::availability::AggregateState> {
        self.presentities
            .get(presentity)
            .filter(|p| !p.sources.is_empty())
            .map(|p| &p.aggregate)
    }

    /// Whether the presentity has live publications or is provisioned (for
    /// the engine's 404 policy on unknown presentities).
    pub fn is_known(&self, presentity: &str) -> bool {
        self.presentities
            .get(presentity)
            .is_some_and(Presentity::known)
    }

    /// Makes a presentity known without publications (configured users,
    /// who should be watchable before their phone first publishes).
    /// Idempotent.
    pub fn provision(&mut self, presentity: &str) {
        let entry = self
            .presentities
            .entry(presentity.to_string())
            .or_insert_with(|| Presentity::new(presentity));
        if !entry.known() {
            self.known += 1;
        }
        entry.provisioned = true;
    }

    /// A TCP/TLS flow closed: its sources end `flow_grace` from `now`
    /// unless they expire sooner or are refreshed over another flow first
    /// (a client that reconnects keeps its publication).
    pub fn flow_closed(&mut self, flow: &F, now: SystemTime) {
        let Some(names) = self.flows.remove(flow) else {
            return;
        };
        let grace_ends = later(now, self.config.flow_grace);
        for (key, source) in names {
            let Some(p) = self
                .presentities
                .get_mut(&key)
                .and_then(|p| p.sources.get_mut(&source))
            else {
                continue;
            };
            let old = (p.ends(), key, source);
            p.grace_ends = Some(grace_ends);
            let new = (p.ends(), old.1.clone(), old.2.clone());
            self.deadlines.remove(&old);
            self.deadlines.insert(new);
        }
    }

    /// When [`Presentities::handle_timeout`] next has work: the earliest end
    /// of any source.
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        let ends = self.deadlines.first().map(|(at, _, _)| *at);
        let fades = self.fades.first().map(|(at, _)| *at);
        match (ends, fades) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The category document (`application/msrtc-event-categories+xml`)
    /// that watchers of `presentity` in `container` see, rendered once per
    /// state and container. An unknown presentity shows Offline.
    pub fn categories(&mut self, presentity: &str, container: u32) -> Bytes {
        self.render_restored(presentity);
        match self.presentities.get_mut(presentity) {
            Some(p) => p.categories(presentity, container, self.config.language),
            None => Presentity::<F>::new(presentity).categories(
                presentity,
                container,
                self.config.language,
            ),
        }
    }

    /// The category publications of `presentity` with their keys: what its
    /// user's roaming data lists, so a client learns the versions it must
    /// name in its next publication.
    pub fn category_sources(&self, presentity: &str) -> Vec<(SourceKey, CategorySource)> {
        self.presentities
            .get(presentity)
            .map_or_else(Vec::new, |p| {
                p.sources
                    .iter()
                    .filter_map(|(k, s)| Some((k.clone(), s.category_source()?.clone())))
                    .collect()
            })
    }

    /// Renders a presentity whose sources were restored and not rendered
    /// since, as of the time of the restore.
    fn render_restored(&mut self, presentity: &str) {
        if let Some(at) = self.presentities.get(presentity).and_then(|p| p.stale) {
            self.recompose(presentity, at);
        }
    }

    /// Ends every source whose time has come (expiry or flow grace),
    /// and re-renders the presentities that lost one.
    pub fn handle_timeout(&mut self, now: SystemTime) -> Expired<F> {
        let mut expired = Expired::default();
        let mut touched = BTreeSet::new();
        while let Some((at, key, source)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if self.take_quietly(&key, &source).is_some() {
                expired.store.push(source.delete_op(&key));
                touched.insert(key);
            }
        }
        while let Some((at, key)) = self.fades.first().cloned() {
            if at > now {
                break;
            }
            self.fades.pop_first();
            touched.insert(key);
        }
        for key in touched {
            if self.recompose(&key, now) {
                expired.changed.push(key);
            }
        }
        expired
    }

    /// Reloads a stored publication after a restart. Returns false, keeping
    /// nothing, when it has expired by `now` or its body no longer parses;
    /// the caller then deletes it from the store. Flows do not survive a
    /// restart, so a publication that was tied to one starts its grace
    /// period now. The composition sequence continues above every restored
    /// one, so older publications stay older. The bound on publications
    /// per presentity is not applied: they were all acknowledged.
    pub fn restore(&mut self, record: PublicationRecord<F>, now: SystemTime) -> bool {
        let expires_at = from_ms(record.expires_at_ms);
        if expires_at <= now {
            return false;
        }
        let key = record.presentity.clone();
        let grace_ends = record
            .flow
            .is_some()
            .then(|| later(now, self.config.flow_grace));
        let Some((source_key, mut source)) = Source::from_record(&record, expires_at, now) else {
            return false;
        };
        source.grace_ends = grace_ends;
        if source_key.etag().is_some() {
            self.etags.absorb(&record.etag);
        }
        self.take_quietly(&key, &source_key);
        self.sequence = self.sequence.max(record.published_at);
        self.insert(&key, source_key, source);
        if let Some(p) = self.presentities.get_mut(&key) {
            p.stale = Some(now);
        }
        true
    }

    /// The number of live sources.
    pub fn len(&self) -> usize {
        self.count
    }

    /// The number of known presentities (live sources, or provisioned),
    /// without walking them.
    pub fn known_count(&self) -> usize {
        self.known
    }

    /// True when there are no live sources.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The keys of the known presentities (live publications or
    /// provisioned), sorted: for statistics and the console.
    pub fn presentities(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .presentities
            .iter()
            .filter(|(_, p)| p.known())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// The live sources of one presentity, as they are stored: for
    /// `presenced explain` and for checking the store against memory.
    pub fn publications(&self, presentity: &str) -> Vec<PublicationRecord<F>> {
        self.presentities
            .get(presentity)
            .map_or_else(Vec::new, |p| {
                p.sources
                    .iter()
                    .map(|(key, source)| source.record(presentity, key))
                    .collect()
            })
    }
}

/// The canonical key of a presentity: the address of record of a URI
/// (`scheme:user@host`, host lowercased, no port or parameters), so that
/// `sip:Alice@Example.COM;transport=tcp` and `sip:Alice@example.com` are
/// the same presentity (RFC 3261 §19.1.4).
pub fn presentity_key(uri: &sip::Uri) -> String {
    uri.aor()
}

mod view;

pub(crate) use view::wire_activity;
