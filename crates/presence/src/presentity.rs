//! Presentities and their publications: the event state compositor of
//! RFC 3903 for the presence package (RFC 3856).
//!
//! [`Presentities`] holds every live publication, answers PUBLISH, ends
//! publications when they expire (or when the TCP/TLS flow they were made
//! on has been gone for [`PublicationConfig::flow_grace`]), and keeps each
//! presentity's composed document rendered, so that a NOTIFY body is
//! produced once per change and shared by every watcher.
//!
//! Like the rest of the crate it is sans-IO: the runtime passes `now` in,
//! sleeps until [`Presentities::poll_timeout`], calls
//! [`Presentities::handle_timeout`], and makes the returned
//! [`StoreOp`]s durable before it sends the response that depends on them.
//! Expiry is a `BTreeSet<(deadline, presentity, etag)>` (the mini-redis
//! pattern): the next deadline is its first element, and expiring is popping
//! from the front.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::composition::{compose, PublicationRef};
use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::pidf;
use crate::publication::{
    check_event, from_ms, grant, if_match, later, ok_response, read_body, requested_expires,
    state_etag, Body, EtagGenerator, Expired, Publication, PublicationConfig, PublishError,
    PublishOutcome,
};
use crate::store::{PublicationRecord, StoreOp};
use crate::XmlLimits;

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

/// One presentity: its publications (by entity-tag) and its rendered state.
/// The entry outlives its last publication, so that the version keeps
/// counting up if the presentity publishes again (watchers never see a
/// version go backwards). That costs one small entry (key, closed body,
/// version) per presentity published since the start; a restart drops
/// them.
#[derive(Debug)]
struct Presentity<F> {
    publications: BTreeMap<String, Publication<F>>,
    provisioned: bool,
    version: u64,
    body: Bytes,
    etag: Arc<str>,
    /// Publications were restored and the state is not rendered yet.
    stale: bool,
}

impl<F: Flow> Presentity<F> {
    fn new(key: &str) -> Self {
        let body = closed_body(key);
        Presentity {
            publications: BTreeMap::new(),
            provisioned: false,
            version: 0,
            etag: state_etag(&body).into(),
            body,
            stale: false,
        }
    }

    fn known(&self) -> bool {
        self.provisioned || !self.publications.is_empty()
    }

    /// Composes and renders the live publications; true when the rendered
    /// body differs from the previous one (and the version went up).
    fn recompose(&mut self, key: &str) -> bool {
        self.stale = false;
        let document = if self.publications.is_empty() {
            PresenceDocument::closed(key)
        } else {
            let parts: Vec<(PublicationRef, &PresenceDocument)> = self
                .publications
                .iter()
                .map(|(etag, p)| {
                    let reference = PublicationRef {
                        etag: etag.clone(),
                        published_at: p.published_at,
                    };
                    (reference, &p.document)
                })
                .collect();
            compose(key, &parts)
        };
        let body = pidf::render_bytes(&document);
        if body == self.body {
            return false;
        }
        self.version += 1;
        self.etag = state_etag(&body).into();
        self.body = body;
        true
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

/// Every presentity's publications and composed state.
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
    config: PublicationConfig,
    etags: EtagGenerator,
    presentities: HashMap<String, Presentity<F>>,
    /// When each publication ends: (end, presentity, etag).
    deadlines: BTreeSet<(SystemTime, String, String)>,
    /// The publications tied to each open TCP/TLS flow.
    flows: HashMap<F, BTreeSet<(String, String)>>,
    /// The last composition sequence number handed out.
    sequence: u64,
    /// Live publications.
    count: usize,
}

/// What a successful PUBLISH did, before it becomes a response.
struct Done<F> {
    etag: Option<String>,
    expires: u32,
    store: Vec<StoreOp<F>>,
    changed: bool,
}

impl<F: Flow> Presentities<F> {
    /// An empty compositor. `seed` makes this run's entity-tags differ from
    /// another run's (the runtime passes a random one; tests a constant).
    pub fn new(config: PublicationConfig, seed: u64) -> Self {
        Presentities {
            config,
            etags: EtagGenerator::new(seed),
            presentities: HashMap::new(),
            deadlines: BTreeSet::new(),
            flows: HashMap::new(),
            sequence: 0,
            count: 0,
        }
    }

    /// Handles one PUBLISH (RFC 3903 §6) addressed to the presentity of its
    /// Request-URI. `to_tag` goes on the response's To. `reliable`: `flow`
    /// is TCP/TLS, so the publication ends a grace period after it closes.
    ///
    /// On an error nothing changes: the outcome has no store operations and
    /// no changed presentity.
    pub fn publish(
        &mut self,
        req: &sip::Request,
        flow: &F,
        reliable: bool,
        to_tag: &str,
        now: SystemTime,
    ) -> PublishOutcome<F> {
        let key = presentity_key(&req.uri);
        let flow = reliable.then(|| flow.clone());
        match self.try_publish(req, &key, flow, now) {
            Ok(done) => PublishOutcome {
                response: ok_response(req, to_tag, done.etag.as_deref(), done.expires),
                store: done.store,
                changed: done.changed.then_some(key),
            },
            Err(e) => PublishOutcome {
                response: e.response(req, to_tag),
                store: Vec::new(),
                changed: None,
            },
        }
    }

    /// RFC 3903 §6 steps 2 to 6, in order; every check comes before any
    /// change.
    fn try_publish(
        &mut self,
        req: &sip::Request,
        key: &str,
        flow: Option<F>,
        now: SystemTime,
    ) -> Result<Done<F>, PublishError> {
        check_event(req)?;
        let if_match = if_match(req);
        if let Some(etag) = &if_match {
            // One whose time has passed is gone, even if handle_timeout
            // has not run yet: the answer must not depend on timer jitter.
            if self.get(key, etag).is_none_or(|p| p.ends() <= now) {
                return Err(PublishError::UnknownEtag);
            }
        }
        let requested = requested_expires(req)?;
        if requested == Some(0) {
            // RFC 3903 §4.5: removal; a body, if any, is irrelevant.
            let etag = if_match.ok_or(PublishError::RemovalWithoutEtag)?;
            return Ok(self.remove(key, &etag));
        }
        let expires = grant(&self.config, requested)?;
        let body = read_body(req)?;
        let expires_at = later(now, Duration::from_secs(u64::from(expires)));
        match (if_match, body) {
            (None, None) => Err(PublishError::MissingBody),
            (None, Some(body)) => {
                let count = self
                    .presentities
                    .get(key)
                    .map_or(0, |p| p.publications.len());
                if count >= self.config.max_per_presentity {
                    return Err(PublishError::TooManyPublications);
                }
                Ok(self.create(key, body, expires_at, flow, expires))
            }
            (Some(old), body) => self.replace(key, &old, body, expires_at, flow, expires),
        }
    }

    /// An initial PUBLISH (RFC 3903 §4.2).
    fn create(
        &mut self,
        key: &str,
        body: Body,
        expires_at: SystemTime,
        flow: Option<F>,
        expires: u32,
    ) -> Done<F> {
        let etag = self.new_etag(key);
        self.sequence += 1;
        let publication = Publication {
            document: body.document,
            body: body.text,
            published_at: self.sequence,
            expires_at,
            flow,
            grace_ends: None,
        };
        let record = publication.record(key, &etag);
        self.insert(key, &etag, publication);
        let changed = self.recompose(key);
        Done {
            etag: Some(etag),
            expires,
            store: vec![StoreOp::PutPublication(record)],
            changed,
        }
    }

    /// A refresh (RFC 3903 §4.3, no body) or a modification (§4.4, a new
    /// document): either way a new entity-tag, a new expiry, and the flow
    /// it came on (which cancels a grace period begun by an older flow).
    fn replace(
        &mut self,
        key: &str,
        old: &str,
        body: Option<Body>,
        expires_at: SystemTime,
        flow: Option<F>,
        expires: u32,
    ) -> Result<Done<F>, PublishError> {
        // The new tag is made while the old one is live, so they differ.
        let etag = self.new_etag(key);
        let mut publication = self.take(key, old).ok_or(PublishError::UnknownEtag)?;
        let modified = body.is_some();
        if let Some(body) = body {
            self.sequence += 1;
            publication.document = body.document;
            publication.body = body.text;
            publication.published_at = self.sequence;
        }
        publication.expires_at = expires_at;
        publication.flow = flow;
        publication.grace_ends = None;
        let record = publication.record(key, &etag);
        self.insert(key, &etag, publication);
        let changed = modified && self.recompose(key);
        let delete = StoreOp::DeletePublication {
            presentity: key.to_string(),
            etag: old.to_string(),
        };
        Ok(Done {
            etag: Some(etag),
            expires,
            store: vec![delete, StoreOp::PutPublication(record)],
            changed,
        })
    }

    /// A removal (RFC 3903 §4.5).
    fn remove(&mut self, key: &str, etag: &str) -> Done<F> {
        let mut store = Vec::new();
        if self.take(key, etag).is_some() {
            store.push(StoreOp::DeletePublication {
                presentity: key.to_string(),
                etag: etag.to_string(),
            });
        }
        let changed = !store.is_empty() && self.recompose(key);
        Done {
            etag: None,
            expires: 0,
            store,
            changed,
        }
    }

    /// A fresh entity-tag, distinct from every live one of the presentity
    /// (a restored one from an earlier run could otherwise coincide).
    fn new_etag(&mut self, key: &str) -> String {
        loop {
            let etag = self.etags.next_etag();
            if self.get(key, &etag).is_none() {
                return etag;
            }
        }
    }

    fn get(&self, key: &str, etag: &str) -> Option<&Publication<F>> {
        self.presentities.get(key)?.publications.get(etag)
    }

    /// Adds a publication to the presentity and to the indexes.
    fn insert(&mut self, key: &str, etag: &str, publication: Publication<F>) {
        let names = (key.to_string(), etag.to_string());
        self.deadlines
            .insert((publication.ends(), names.0.clone(), names.1.clone()));
        if let Some(flow) = publication.watches_flow() {
            self.flows.entry(flow.clone()).or_default().insert(names);
        }
        let presentity = self
            .presentities
            .entry(key.to_string())
            .or_insert_with(|| Presentity::new(key));
        if presentity
            .publications
            .insert(etag.to_string(), publication)
            .is_none()
        {
            self.count += 1;
        }
    }

    /// Removes a publication from the presentity and from the indexes.
    fn take(&mut self, key: &str, etag: &str) -> Option<Publication<F>> {
        let publication = self.presentities.get_mut(key)?.publications.remove(etag)?;
        self.count -= 1;
        let names = (key.to_string(), etag.to_string());
        self.deadlines
            .remove(&(publication.ends(), names.0.clone(), names.1.clone()));
        if let Some(flow) = publication.watches_flow() {
            if let Some(set) = self.flows.get_mut(flow) {
                set.remove(&names);
                if set.is_empty() {
                    self.flows.remove(flow);
                }
            }
        }
        Some(publication)
    }

    /// Re-renders a presentity; true when its body changed.
    fn recompose(&mut self, key: &str) -> bool {
        self.presentities
            .get_mut(key)
            .is_some_and(|p| p.recompose(key))
    }

    /// The presentity's current composed state. An unknown presentity gets
    /// the closed document ([`PresenceDocument::closed`]) with `known =
    /// false` and version 0, so a watcher of someone who never published
    /// sees "offline" rather than nothing.
    pub fn state(&mut self, presentity: &str) -> PresentityState {
        match self.presentities.get_mut(presentity) {
            Some(p) => {
                if p.stale {
                    p.recompose(presentity);
                }
                p.state()
            }
            None => {
                let body = closed_body(presentity);
                PresentityState {
                    version: 0,
                    etag: state_etag(&body).into(),
                    body,
                    known: false,
                }
            }
        }
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
        self.presentities
            .entry(presentity.to_string())
            .or_insert_with(|| Presentity::new(presentity))
            .provisioned = true;
    }

    /// A TCP/TLS flow closed: its publications end `flow_grace` from `now`
    /// unless they expire sooner or are refreshed over another flow first
    /// (a client that reconnects keeps its publication).
    pub fn flow_closed(&mut self, flow: &F, now: SystemTime) {
        let Some(names) = self.flows.remove(flow) else {
            return;
        };
        let grace_ends = later(now, self.config.flow_grace);
        for (key, etag) in names {
            let Some(p) = self
                .presentities
                .get_mut(&key)
                .and_then(|p| p.publications.get_mut(&etag))
            else {
                continue;
            };
            let old = (p.ends(), key, etag);
            p.grace_ends = Some(grace_ends);
            let new = (p.ends(), old.1.clone(), old.2.clone());
            self.deadlines.remove(&old);
            self.deadlines.insert(new);
        }
    }

    /// When [`Presentities::handle_timeout`] next has work: the earliest end
    /// of any publication.
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        self.deadlines.first().map(|(at, _, _)| *at)
    }

    /// Ends every publication whose time has come (expiry or flow grace),
    /// and re-renders the presentities that lost one.
    pub fn handle_timeout(&mut self, now: SystemTime) -> Expired<F> {
        let mut expired = Expired::default();
        let mut touched = BTreeSet::new();
        while let Some((at, key, etag)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if self.take(&key, &etag).is_some() {
                expired.store.push(StoreOp::DeletePublication {
                    presentity: key.clone(),
                    etag,
                });
                touched.insert(key);
            }
        }
        for key in touched {
            if self.recompose(&key) {
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
        let Ok(document) = pidf::parse(record.body.as_bytes(), &XmlLimits::DEFAULT) else {
            return false;
        };
        let key = record.presentity;
        let grace_ends = record
            .flow
            .is_some()
            .then(|| later(now, self.config.flow_grace));
        let publication = Publication {
            document,
            body: record.body,
            published_at: record.published_at,
            expires_at,
            flow: record.flow,
            grace_ends,
        };
        self.take(&key, &record.etag);
        self.etags.absorb(&record.etag);
        self.sequence = self.sequence.max(record.published_at);
        self.insert(&key, &record.etag, publication);
        if let Some(p) = self.presentities.get_mut(&key) {
            p.stale = true;
        }
        true
    }

    /// The number of live publications.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no live publications.
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

    /// The live publications of one presentity, as they are stored: for
    /// `presenced explain` and for checking the store against memory.
    pub fn publications(&self, presentity: &str) -> Vec<PublicationRecord<F>> {
        self.presentities
            .get(presentity)
            .map_or_else(Vec::new, |p| {
                p.publications
                    .iter()
                    .map(|(etag, publication)| publication.record(presentity, etag))
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
