//! Publications (RFC 3903): the PUBLISH adapter in front of the store of
//! sources.
//!
//! [`Presentities::publish`] applies RFC 3903 §6 to one request —
//! event package, entity-tags, Expires, body — and turns it into puts and
//! takes of [`SourceKey::Publication`] sources; the store itself
//! ([`crate::presentity`]) never sees SIP. Also here: the configuration,
//! outcomes and entity-tags the adapter needs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sip::header::{Header, HeaderName};
use sip::typed::{ContentType, Event, TypedError};

use crate::availability::Lcid;
use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::pidf::{self, PidfError};
use crate::presentity::{presentity_key, Presentities};
use crate::source::{Source, SourceKey};
use crate::store::StoreOp;
use crate::XmlLimits;

/// The only event package a PUBLISH here may carry (RFC 3856 §6).
pub const EVENT_PACKAGE: &str = crate::subscription::Package::Presence.as_str();

/// How long publications may live and how many a presentity may have.
/// The runtime fills it from `[presence]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationConfig {
    /// Shortest Expires accepted; below it (and not 0) the PUBLISH gets 423
    /// with Min-Expires (RFC 3903 §6 step 4). Default 60.
    pub min_expires: u32,
    /// Longest Expires granted; a longer request is granted this. Default
    /// 3600.
    pub max_expires: u32,
    /// Expires granted when the PUBLISH has none: 3600, the presence
    /// package's default (RFC 3856 §6.4).
    pub default_expires: u32,
    /// A publication made over a TCP/TLS flow ends this long after the flow
    /// closes (default 30 s): long enough for a client to reconnect and
    /// refresh, short enough that a vanished phone stops showing online.
    pub flow_grace: Duration,
    /// Most live publications one presentity may have (default 32). Every
    /// device and client of a user publishes separately, so a real user has
    /// a handful; the bound keeps one misbehaving client from growing the
    /// composition (and every NOTIFY body) without limit.
    pub max_per_presentity: usize,
    /// The language shown when a watcher's is unknown: the PIDF note of
    /// an aggregate's custom text, and the first `<custom>` of a category
    /// document (clients that read one take the first, pidgin-sipe does).
    /// The runtime sets `[sync] default_lcid`; default 1033.
    pub language: Lcid,
}

impl Default for PublicationConfig {
    fn default() -> Self {
        PublicationConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            flow_grace: Duration::from_secs(30),
            max_per_presentity: 32,
            language: Lcid::EN_US,
        }
    }
}

/// What one PUBLISH produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishOutcome<F> {
    /// 200 with SIP-ETag and Expires, or the error response.
    pub response: sip::Response,
    /// Changes to make durable before `response` is sent (a 2xx promises
    /// the publication survives a crash). Empty on every error.
    pub store: Vec<StoreOp<F>>,
    /// The presentity (its key) whose composed state changed, so its
    /// watchers get a NOTIFY. `None` when the rendered state is unchanged
    /// (a refresh, or a modification that composes to the same body).
    pub changed: Option<String>,
    /// The policy that refused it, when a bound did (see
    /// [`crate::refusal`]); `None` on success and on malformed requests.
    pub refused: Option<crate::Refusal>,
}

/// What the passage of time ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired<F> {
    /// Deletions of the publications that ended.
    pub store: Vec<StoreOp<F>>,
    /// Presentities whose composed state changed as a result.
    pub changed: Vec<String>,
}

impl<F> Default for Expired<F> {
    fn default() -> Self {
        Expired {
            store: Vec::new(),
            changed: Vec::new(),
        }
    }
}

/// What a successful PUBLISH did, before it becomes a response.
struct Done<F> {
    etag: Option<String>,
    expires: u32,
    store: Vec<StoreOp<F>>,
    changed: bool,
}

impl<F: Flow> Presentities<F> {
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
                refused: None,
            },
            Err(e) => PublishOutcome {
                response: e.response(req, to_tag),
                store: Vec::new(),
                changed: None,
                refused: (e == PublishError::TooManyPublications)
                    .then_some(crate::Refusal::TooManyPublications),
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
        let if_match = if_match(req).map(SourceKey::Publication);
        if let Some(source) = &if_match {
            // One whose time has passed is gone, even if handle_timeout
            // has not run yet: the answer must not depend on timer jitter.
            if self.source(key, source).is_none_or(|p| p.ends() <= now) {
                return Err(PublishError::UnknownEtag);
            }
        }
        let requested = requested_expires(req)?;
        if requested == Some(0) {
            // RFC 3903 §4.5: removal; a body, if any, is irrelevant.
            let source = if_match.ok_or(PublishError::RemovalWithoutEtag)?;
            return Ok(self.unpublish(key, &source, now));
        }
        let expires = grant(&self.config, requested)?;
        let body = read_body(req)?;
        let expires_at = later(now, Duration::from_secs(u64::from(expires)));
        match (if_match, body) {
            (None, None) => Err(PublishError::MissingBody),
            (None, Some(body)) => {
                if self.source_count(key) >= self.config.max_per_presentity {
                    return Err(PublishError::TooManyPublications);
                }
                Ok(self.create(key, body, expires_at, flow, expires, now))
            }
            (Some(old), body) => self.modify(key, &old, body, expires_at, flow, expires, now),
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
        now: SystemTime,
    ) -> Done<F> {
        let etag = self.new_etag(key);
        let sequence = self.next_sequence();
        let source = Source::pidf(body.document, body.text, sequence, expires_at, flow, now);
        let source_key = SourceKey::Publication(etag.clone());
        let record = source.record(key, &source_key);
        let changed = self.put(key, source_key, source, now);
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
    #[allow(clippy::too_many_arguments)]
    fn modify(
        &mut self,
        key: &str,
        old: &SourceKey,
        body: Option<Body>,
        expires_at: SystemTime,
        flow: Option<F>,
        expires: u32,
        now: SystemTime,
    ) -> Result<Done<F>, PublishError> {
        // The new tag is made while the old one is live, so they differ.
        let etag = self.new_etag(key);
        let new = SourceKey::Publication(etag.clone());
        let sequence = body.is_some().then(|| self.next_sequence());
        // The store's record is taken while the source is in hand, not
        // looked up again once it is filed under the new tag.
        let mut record = None;
        let changed = self
            .rekey(
                key,
                old,
                new.clone(),
                |source| {
                    source.expires_at = expires_at;
                    source.flow = flow;
                    source.grace_ends = None;
                    let modified = match (body, sequence) {
                        (Some(body), Some(sequence)) => {
                            let fresh = Source::<F>::pidf(
                                body.document,
                                body.text,
                                sequence,
                                expires_at,
                                None,
                                now,
                            );
                            source.content = fresh.content;
                            source.body = fresh.body;
                            source.state = fresh.state;
                            source.published_at = sequence;
                            true
                        }
                        _ => false,
                    };
                    record = Some(source.record(key, &new));
                    modified
                },
                now,
            )
            .ok_or(PublishError::UnknownEtag)?;
        let record = record.ok_or(PublishError::UnknownEtag)?;
        Ok(Done {
            etag: Some(etag),
            expires,
            store: vec![old.delete_op(key), StoreOp::PutPublication(record)],
            changed,
        })
    }

    /// A removal (RFC 3903 §4.5).
    fn unpublish(&mut self, key: &str, source: &SourceKey, now: SystemTime) -> Done<F> {
        let (store, changed) = match self.take(key, source, now) {
            Some((_, changed)) => (vec![source.delete_op(key)], changed),
            None => (Vec::new(), false),
        };
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
            if self
                .source(key, &SourceKey::Publication(etag.clone()))
                .is_none()
            {
                return etag;
            }
        }
    }
}

/// Why a PUBLISH was refused. Each variant is one status code of RFC 3903
/// §6's processing steps; the text is the reason phrase, so a client's log
/// (and ours) says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Event missing or not `presence` (RFC 3903 §6 step 2): 489 with
    /// Allow-Events.
    #[error("Bad Event")]
    BadEvent,
    /// A header the rules read does not follow its grammar: 400.
    #[error("{0}")]
    BadHeader(TypedError),
    /// SIP-If-Match names no live publication of this presentity (§6 step
    /// 3): 412, and the client starts over with an initial PUBLISH.
    #[error("Conditional Request Failed")]
    UnknownEtag,
    /// Expires below the minimum and not 0 (§6 step 4): 423 with
    /// Min-Expires.
    #[error("Interval Too Brief")]
    IntervalTooBrief {
        /// The minimum, for Min-Expires.
        min: u32,
    },
    /// A body that is not `application/pidf+xml` (or has no Content-Type):
    /// 415 with Accept (§6 step 5).
    #[error("Unsupported Media Type")]
    UnsupportedMediaType,
    /// An initial PUBLISH (no SIP-If-Match) without a body (§6 step 5): 400.
    #[error("Missing body in initial PUBLISH")]
    MissingBody,
    /// Expires 0 without SIP-If-Match: a removal must name what it removes
    /// (§4.5), and creating a publication that is gone at once helps
    /// nobody: 400.
    #[error("Expires 0 without SIP-If-Match")]
    RemovalWithoutEtag,
    /// The body is not acceptable PIDF: 400 naming the problem.
    #[error("Bad PIDF body: {0}")]
    BadBody(PidfError),
    /// The body is not UTF-8 (publications are persisted as text): 400.
    #[error("Bad PIDF body: not UTF-8")]
    NotUtf8,
    /// The presentity already has [`PublicationConfig::max_per_presentity`]
    /// publications: 403. Not 503, which says "this server is overloaded,
    /// retry later (or elsewhere)" and makes clients retry in a loop or fail
    /// over; the refusal is about this presentity and lasts until one of
    /// its publications ends, which is what 403 ("understood, will not do
    /// it, do not repeat as is") says.
    #[error("Too many publications")]
    TooManyPublications,
}

impl PublishError {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            PublishError::BadEvent => 489,
            PublishError::UnknownEtag => 412,
            PublishError::IntervalTooBrief { .. } => 423,
            PublishError::UnsupportedMediaType => 415,
            PublishError::TooManyPublications => 403,
            PublishError::BadHeader(_)
            | PublishError::MissingBody
            | PublishError::RemovalWithoutEtag
            | PublishError::BadBody(_)
            | PublishError::NotUtf8 => 400,
        }
    }

    /// The answer to `req`, with the header each status requires.
    pub fn response(&self, req: &sip::Request, to_tag: &str) -> sip::Response {
        let mut resp = sip::Response::to_request(req, self.status(), Some(to_tag))
            .with_reason(reason_phrase(&self.to_string()));
        let extra = match self {
            PublishError::BadEvent => Some((HeaderName::AllowEvents, EVENT_PACKAGE.to_string())),
            PublishError::UnsupportedMediaType => {
                Some((HeaderName::Accept, pidf::CONTENT_TYPE.to_string()))
            }
            PublishError::IntervalTooBrief { min } => {
                Some((HeaderName::MinExpires, min.to_string()))
            }
            _ => None,
        };
        if let Some((name, value)) = extra {
            resp.headers.push(Header::new(name, value));
        }
        resp
    }
}

/// A reason phrase must stay on one line (RFC 3261 §25.1 Reason-Phrase);
/// error texts quote client input, so control characters become spaces,
/// and the length is capped so one bad body cannot make a huge response.
pub(crate) fn reason_phrase(text: &str) -> String {
    const MAX: usize = 200;
    let mut out = String::with_capacity(text.len().min(MAX));
    for c in text.chars() {
        if out.len() + c.len_utf8() > MAX {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// The 200 of a successful PUBLISH (RFC 3903 §6 step 7): the new
/// entity-tag and the granted interval. A removal has no publication left
/// for a tag to name, so it carries `Expires: 0` only.
pub(crate) fn ok_response(
    req: &sip::Request,
    to_tag: &str,
    etag: Option<&str>,
    expires: u32,
) -> sip::Response {
    let mut resp = sip::Response::to_request(req, 200, Some(to_tag));
    if let Some(etag) = etag {
        resp.headers
            .push(Header::new(HeaderName::SipEtag, etag.to_string()));
    }
    let mut value = Vec::with_capacity(10);
    sip::encode::decimal(&mut value, u64::from(expires));
    resp.headers.push(Header::new(HeaderName::Expires, value));
    resp
}

/// Step 2 of RFC 3903 §6: the request must be for the presence package.
pub(crate) fn check_event(req: &sip::Request) -> Result<(), PublishError> {
    let value = req
        .headers
        .value(HeaderName::Event)
        .ok_or(PublishError::BadEvent)?;
    let event = Event::parse(value).map_err(PublishError::BadHeader)?;
    if event.is(EVENT_PACKAGE) {
        Ok(())
    } else {
        Err(PublishError::BadEvent)
    }
}

/// The SIP-If-Match entity-tag, if any (RFC 3903 §11.3.2).
pub(crate) fn if_match(req: &sip::Request) -> Option<String> {
    req.headers
        .value(HeaderName::SipIfMatch)
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
}

/// The Expires the client asked for; `None` when it sent none.
pub(crate) fn requested_expires(req: &sip::Request) -> Result<Option<u32>, PublishError> {
    let Some(value) = req.headers.value(HeaderName::Expires) else {
        return Ok(None);
    };
    let secs = sip::typed::parse_delta(HeaderName::Expires, value, u64::from(u32::MAX))
        .map_err(PublishError::BadHeader)?;
    Ok(Some(u32::try_from(secs).unwrap_or(u32::MAX)))
}

/// Step 4 of RFC 3903 §6 for a non-zero (or absent) Expires: the interval
/// granted, or 423 below the minimum.
pub(crate) fn grant(
    config: &PublicationConfig,
    requested: Option<u32>,
) -> Result<u32, PublishError> {
    match requested {
        None => Ok(config.default_expires.min(config.max_expires)),
        Some(secs) if secs < config.min_expires => Err(PublishError::IntervalTooBrief {
            min: config.min_expires,
        }),
        Some(secs) => Ok(secs.min(config.max_expires)),
    }
}

/// A published document as parsed, with its text for the store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Body {
    pub(crate) document: PresenceDocument,
    pub(crate) text: String,
}

/// Step 5 of RFC 3903 §6: the body, if the request has one. An empty body
/// is no body, whatever Content-Type says (baresip's refreshes keep
/// `Content-Type: application/pidf+xml` with `Content-Length: 0`).
pub(crate) fn read_body(req: &sip::Request) -> Result<Option<Body>, PublishError> {
    if req.body.is_empty() {
        return Ok(None);
    }
    let value = req
        .headers
        .value(HeaderName::ContentType)
        .ok_or(PublishError::UnsupportedMediaType)?;
    let content_type = ContentType::parse(value).map_err(PublishError::BadHeader)?;
    if !content_type.matches("application", "pidf+xml") {
        return Err(PublishError::UnsupportedMediaType);
    }
    let document = pidf::parse(&req.body, &XmlLimits::DEFAULT).map_err(PublishError::BadBody)?;
    let text = String::from_utf8(req.body.to_vec()).map_err(|_| PublishError::NotUtf8)?;
    Ok(Some(Body { document, text }))
}

/// Makes publication entity-tags (RFC 3903 §4.1): a new one for every
/// successful PUBLISH, never the same twice in one run, and not guessable
/// at a glance from the previous one (they are not a security measure,
/// RFC 3903 §13: authentication is).
///
/// Each tag is SplitMix64 of `key + n·γ` for a counter `n`: γ is odd, so
/// distinct counters give distinct inputs, and the mix is a bijection, so
/// distinct inputs give distinct tags.
#[derive(Debug, Clone)]
pub(crate) struct EtagGenerator {
    key: u64,
    counter: u64,
}

/// The SplitMix64 increment (2^64 / φ, odd).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl EtagGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        EtagGenerator {
            key: mix(seed),
            counter: 0,
        }
    }

    pub(crate) fn next_etag(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        let tag = mix(self.key.wrapping_add(self.counter.wrapping_mul(GAMMA)));
        sip::encode::hex16(tag)
    }

    /// Folds a restored entity-tag into the key, so a restart with the same
    /// seed does not walk the previous run's sequence again (a stale
    /// SIP-If-Match must not hit a new publication). Called only while
    /// restoring, before any tag of this run is made.
    pub(crate) fn absorb(&mut self, etag: &str) {
        self.key = mix(self.key ^ fnv1a(etag.as_bytes()));
    }
}

/// The SplitMix64 finaliser: a bijection on u64 that spreads every input
/// bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a: stable across runs, platforms and Rust versions (unlike
/// `std`'s `DefaultHasher`), which an entity-tag a watcher keeps across a
/// restart needs.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The entity-tag of a rendered state (RFC 5839 §7.1): a function of the
/// bytes only, so the same body always has the same tag, before and after
/// a restart.
pub(crate) fn state_etag(body: &[u8]) -> String {
    sip::encode::hex16(fnv1a(body))
}

/// Wall-clock time as the store keeps it.
pub(crate) fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The store's milliseconds as wall-clock time.
pub(crate) fn from_ms(ms: u64) -> SystemTime {
    later(UNIX_EPOCH, Duration::from_millis(ms))
}

/// `t + d`, saturating instead of panicking at the end of time.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = PublicationConfig::default();
        assert_eq!(
            (c.min_expires, c.max_expires, c.default_expires),
            (60, 3600, 3600)
        );
        assert_eq!(
            (c.flow_grace, c.max_per_presentity),
            (Duration::from_secs(30), 32)
        );
    }

    #[test]
    fn grant_clamps_and_refuses_brief_intervals() {
        let c = PublicationConfig::default();
        assert_eq!(grant(&c, None), Ok(3600));
        assert_eq!(grant(&c, Some(60)), Ok(60));
        assert_eq!(grant(&c, Some(7200)), Ok(3600));
        assert_eq!(
            grant(&c, Some(59)),
            Err(PublishError::IntervalTooBrief { min: 60 })
        );
        let odd = PublicationConfig {
            default_expires: 9000,
            ..c
        };
        assert_eq!(grant(&odd, None), Ok(3600));
    }

    #[test]
    fn entity_tags_are_distinct_hex_and_depend_on_the_seed() {
        let mut a = EtagGenerator::new(1);
        let tags: std::collections::HashSet<String> = (0..10_000).map(|_| a.next_etag()).collect();
        assert_eq!(tags.len(), 10_000);
        assert!(tags
            .iter()
            .all(|t| t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit())));
        let mut same = EtagGenerator::new(1);
        let mut other = EtagGenerator::new(2);
        let first = same.next_etag();
        assert!(tags.contains(&first));
        assert!(!tags.contains(&other.next_etag()));
        // Restoring moves the sequence off the previous run's.
        let mut restored = EtagGenerator::new(1);
        restored.absorb(&first);
        assert!(!tags.contains(&restored.next_etag()));
    }

    #[test]
    fn state_etags_are_stable_fnv1a() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(state_etag(b""), "cbf29ce484222325");
        assert_eq!(state_etag(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn reason_phrases_are_one_bounded_line() {
        assert_eq!(reason_phrase("bad\r\nvalue\t!"), "bad  value !");
        assert_eq!(reason_phrase(&"é".repeat(300)).len(), 200);
    }

    #[test]
    fn times_round_trip_through_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_ms(to_ms(t)), t);
        assert_eq!(to_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(later(t, Duration::MAX), t);
    }
}
