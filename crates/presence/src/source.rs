//! Sources: where a presentity's presence comes from.
//!
//! A presentity's state is the composition of its live sources
//! (../shared/DESIGN.md, "Presentities are a store of sources"): RFC 3903
//! publications (PIDF documents) and the Microsoft dialect's category
//! publications today; the sync engine's agent states, service contacts
//! and upstream subscriptions join as further [`SourceKey`] and
//! [`SourceContent`] variants. The store ([`crate::Presentities`]) holds
//! sources without knowing which protocol made them: PUBLISH and SERVICE
//! are adapters in front of it, so nothing here touches SIP.
//!
//! Each source also carries its meaning in the availability model
//! ([`SourceState`]), computed once when it is put, so that aggregating a
//! presentity is a pass over small values rather than a re-reading of
//! documents.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::availability::{
    source_from_document, ActivityToken, Availability, CustomTexts, Lcid, SourceKind, SourceState,
    StateActivity,
};
use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::msrtc::category::{CategoryValue, State, StateType};
use crate::msrtc::publish::{CategoryXml, ExpireType};
use crate::publication::to_ms;
use crate::store::{CategoryRecord, PublicationRecord, StoreOp};

/// The expiry of a source that never expires by itself (a `static`
/// category): far enough that no deadline is ever reached, and still a
/// value the store's millisecond timestamps can hold.
pub fn never() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1 << 40)
}

/// The containers a client publishes its state inputs into ([MS-PRES]
/// §3.7.5.2): the server aggregates them and shows the result, never the
/// inputs themselves, to watchers.
pub const STATE_INPUT_CONTAINERS: [u32; 2] = [2, 3];

/// Names one source within its presentity; unique there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKey {
    /// An RFC 3903 publication, by its current entity-tag (a refresh or
    /// modification gives it a new one, so it is re-keyed).
    Publication(String),
    /// A category publication of the Microsoft dialect: one per
    /// (category, instance, container), as the client addresses it.
    Category {
        /// `categoryName`.
        name: Box<str>,
        /// `instance`.
        instance: u32,
        /// `container`.
        container: u32,
    },
    /// The presentity's state on an upstream presence server, as the
    /// presence provider's subscription last reported it. Never stored:
    /// a restarted server subscribes again and gets it anew.
    Upstream,
    /// The sync engine's state of a contact-center agent bound to the
    /// presentity (issue 11). Not stored as a publication: the runtime
    /// stores the agent and puts the source in again at start.
    Sync,
    /// What an attendant client set through the API (seed 004's
    /// attendant source), for presentities matching an attendant pattern.
    Attendant,
    /// A PSTN line's state from the call state the contact center reports
    /// (seed 004's PSTN source), for E.164 line presentities.
    Pstn,
}

impl SourceKey {
    /// The entity-tag of a publication source.
    pub fn etag(&self) -> Option<&str> {
        match self {
            SourceKey::Publication(etag) => Some(etag),
            SourceKey::Category { .. }
            | SourceKey::Upstream
            | SourceKey::Sync
            | SourceKey::Attendant
            | SourceKey::Pstn => None,
        }
    }

    /// The key of the source's record in the store (the entity-tag of a
    /// publication, a synthetic key for a category).
    pub fn record_key(&self) -> String {
        match self {
            SourceKey::Publication(etag) => etag.clone(),
            SourceKey::Category {
                name,
                instance,
                container,
            } => CategoryRecord::etag(name, *instance, *container),
            SourceKey::Upstream => "upstream".to_owned(),
            SourceKey::Sync => "sync".to_owned(),
            SourceKey::Attendant => "attendant".to_owned(),
            SourceKey::Pstn => "pstn".to_owned(),
        }
    }

    /// The store operation that deletes this source of `presentity`.
    pub fn delete_op<F>(&self, presentity: &str) -> StoreOp<F> {
        StoreOp::DeletePublication {
            presentity: presentity.to_string(),
            etag: self.record_key(),
        }
    }
}

/// A category publication as the server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CategorySource {
    /// The version the next publication of this instance must name.
    pub version: u32,
    /// How it expires.
    pub expire_type: ExpireType,
    /// The element as published, and its interpreted value.
    pub xml: CategoryXml,
}

/// What a source says.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceContent {
    /// A PIDF document (RFC 3863 with RPID), as published.
    Pidf(PresenceDocument),
    /// A category publication of the Microsoft dialect.
    Category(CategorySource),
    /// A state a rule made (the sync engine's): only its meaning, so
    /// every watcher format renders it from the aggregate.
    State,
}

/// One live source of a presentity.
#[derive(Debug, Clone)]
pub struct Source<F> {
    /// What it says.
    pub content: SourceContent,
    /// The body as received, kept for the store (a restart parses it
    /// again, so what was acknowledged is what comes back).
    pub body: String,
    /// Composition order: a higher number was published later. Sources
    /// that say contradictory things are resolved in favour of the newer
    /// (RFC 3903 §4's compositor policy).
    pub published_at: u64,
    /// When the granted interval runs out ([`never`] for none).
    pub expires_at: SystemTime,
    /// The TCP/TLS flow the source was made or last refreshed on; the
    /// source ends a grace period after that flow closes.
    pub flow: Option<F>,
    /// Set once that flow has closed: the source ends then at the latest.
    pub grace_ends: Option<SystemTime>,
    /// What the source means for the aggregated availability, if anything
    /// (a note or a contact card does not take part).
    pub state: Option<SourceState>,
}

impl<F: Flow> Source<F> {
    /// A PIDF publication's source, its meaning read from the document.
    pub fn pidf(
        document: PresenceDocument,
        body: String,
        published_at: u64,
        expires_at: SystemTime,
        flow: Option<F>,
        now: SystemTime,
    ) -> Source<F> {
        let state = source_from_document(&document, published_at.to_string(), now, Lcid::EN_US);
        Source {
            content: SourceContent::Pidf(document),
            body,
            published_at,
            expires_at,
            flow,
            grace_ends: None,
            state: Some(state),
        }
    }

    /// A category publication's source; a `state` category in a state
    /// input container takes part in the aggregation.
    #[allow(clippy::too_many_arguments)]
    pub fn category(
        container: u32,
        instance: u32,
        category: CategorySource,
        published_at: u64,
        expires_at: SystemTime,
        flow: Option<F>,
        now: SystemTime,
    ) -> Source<F> {
        let state = match &category.xml.value {
            Some(CategoryValue::State(state)) if STATE_INPUT_CONTAINERS.contains(&container) => {
                state_source(state, instance, now)
            }
            _ => None,
        };
        Source {
            body: String::from_utf8_lossy(&category.xml.raw).into_owned(),
            content: SourceContent::Category(category),
            published_at,
            expires_at,
            flow,
            grace_ends: None,
            state,
        }
    }

    /// A rule-made state (the sync engine's) as a source that never
    /// expires by itself; `body` is what `explain` and logs show.
    pub fn state(state: SourceState, body: String, published_at: u64) -> Source<F> {
        Source {
            content: SourceContent::State,
            body,
            published_at,
            expires_at: never(),
            flow: None,
            grace_ends: None,
            state: Some(state),
        }
    }

    /// A stored record back as a source, or `None` when its body no longer
    /// reads (the caller deletes it). Its meaning is computed again at
    /// `now`: the server's clock, as for a fresh publication.
    pub fn from_record(
        record: &PublicationRecord<F>,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Option<(SourceKey, Source<F>)> {
        let limits = crate::XmlLimits::DEFAULT;
        let Some(meta) = &record.category else {
            let document = crate::pidf::parse(record.body.as_bytes(), &limits).ok()?;
            let mut source = Source::pidf(
                document,
                record.body.clone(),
                record.published_at,
                expires_at,
                record.flow.clone(),
                now,
            );
            source.published_at = record.published_at;
            return Some((SourceKey::Publication(record.etag.clone()), source));
        };
        // The stored element is read by the same reader as a SERVICE body,
        // so a record means exactly what its publication meant.
        let wrapped = format!(
            "<publish xmlns=\"{}\"><publications uri=\"{}\"><publication categoryName=\"{}\" \
             instance=\"{}\" container=\"{}\" version=\"{}\" expireType=\"{}\">{}</publication>\
             </publications></publish>",
            crate::msrtc::namespace::RICH_PRESENCE,
            crate::xml::escape::attribute(&record.presentity),
            crate::xml::escape::attribute(&meta.name),
            meta.instance,
            meta.container,
            meta.version,
            crate::xml::escape::attribute(&meta.expire_type),
            record.body,
        );
        let publish = crate::msrtc::publish::parse(wrapped.as_bytes(), &limits).ok()?;
        let publication = publish.publications.into_iter().next()?;
        let category = CategorySource {
            version: meta.version,
            expire_type: publication.expire_type,
            xml: publication.body?,
        };
        let key = SourceKey::Category {
            name: meta.name.as_str().into(),
            instance: meta.instance,
            container: meta.container,
        };
        let mut source = Source::category(
            meta.container,
            meta.instance,
            category,
            record.published_at,
            expires_at,
            record.flow.clone(),
            now,
        );
        source.body = record.body.clone();
        Some((key, source))
    }

    /// When the source ends: its expiry, or the end of its flow's grace
    /// period if that comes first.
    pub fn ends(&self) -> SystemTime {
        self.grace_ends
            .map_or(self.expires_at, |g| g.min(self.expires_at))
    }

    /// The flow whose closing must be noticed: none once the grace period
    /// has begun.
    pub fn watches_flow(&self) -> Option<&F> {
        self.flow.as_ref().filter(|_| self.grace_ends.is_none())
    }

    /// The PIDF document it contributes to the PIDF composition, if it is
    /// a PIDF publication.
    pub fn document(&self) -> Option<&PresenceDocument> {
        match &self.content {
            SourceContent::Pidf(document) => Some(document),
            SourceContent::Category(_) | SourceContent::State => None,
        }
    }

    /// The category publication, if it is one.
    pub fn category_source(&self) -> Option<&CategorySource> {
        match &self.content {
            SourceContent::Category(category) => Some(category),
            SourceContent::Pidf(_) | SourceContent::State => None,
        }
    }

    /// The record the store keeps for it.
    pub fn record(&self, presentity: &str, key: &SourceKey) -> PublicationRecord<F> {
        let category = match (key, &self.content) {
            (
                SourceKey::Category {
                    name,
                    instance,
                    container,
                },
                SourceContent::Category(c),
            ) => Some(CategoryRecord {
                name: name.to_string(),
                instance: *instance,
                container: *container,
                version: c.version,
                expire_type: c.expire_type.as_str().to_owned(),
            }),
            _ => None,
        };
        PublicationRecord {
            presentity: presentity.to_string(),
            etag: key.record_key(),
            expires_at_ms: to_ms(self.expires_at),
            published_at: self.published_at,
            body: self.body.clone(),
            flow: self.flow.clone(),
            category,
        }
    }
}

/// A published `state` category in the availability model: user states
/// are manual, machine states describe one endpoint, phone and calendar
/// states carry their activity's valid range.
fn state_source(state: &State, instance: u32, now: SystemTime) -> Option<SourceState> {
    let kind = match state.state_type {
        StateType::User => SourceKind::User,
        StateType::Machine => SourceKind::Machine,
        StateType::Phone => SourceKind::Phone,
        StateType::Calendar => SourceKind::Calendar,
        // The server's own outputs are never inputs.
        StateType::Aggregate | StateType::AggregateMachine => return None,
    };
    let mut source = SourceState::new(kind, instance.to_string(), now);
    source.manual = state.manual || kind == SourceKind::User;
    source.availability = state.availability.map(Availability::new);
    source.activity = state.activity.as_ref().map(|a| {
        let mut custom = CustomTexts::new();
        for (lcid, text) in &a.custom {
            custom.insert(Lcid(*lcid), text.clone());
        }
        StateActivity {
            token: a.token.as_deref().map(ActivityToken::from_token),
            custom,
            min: Availability::new(a.min_availability.unwrap_or(0)),
            max: a.max_availability.map(Availability::new),
        }
    });
    Some(source)
}
