//! Sources: where a presentity's presence comes from.
//!
//! A presentity's state is the composition of its live sources
//! (../shared/DESIGN.md, "Presentities are a store of sources"). Today a
//! source is an RFC 3903 publication (a PIDF document); the Microsoft
//! dialect's category publications, the sync engine's agent states,
//! service contacts and upstream subscriptions join as further
//! [`SourceKey`] and [`SourceContent`] variants. The store
//! ([`crate::Presentities`]) holds sources without knowing which protocol
//! made them: PUBLISH and SERVICE are adapters in front of it, so nothing
//! here touches SIP.

use std::time::SystemTime;

use crate::document::PresenceDocument;
use crate::flow::Flow;
use crate::publication::to_ms;
use crate::store::{PublicationRecord, StoreOp};

/// Names one source within its presentity; unique there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKey {
    /// An RFC 3903 publication, by its current entity-tag (a refresh or
    /// modification gives it a new one, so it is re-keyed).
    Publication(String),
}

impl SourceKey {
    /// The entity-tag of a publication source.
    pub fn etag(&self) -> Option<&str> {
        match self {
            SourceKey::Publication(etag) => Some(etag),
        }
    }

    /// The store operation that deletes this source of `presentity`.
    pub fn delete_op<F>(&self, presentity: &str) -> StoreOp<F> {
        match self {
            SourceKey::Publication(etag) => StoreOp::DeletePublication {
                presentity: presentity.to_string(),
                etag: etag.clone(),
            },
        }
    }
}

/// What a source says.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceContent {
    /// A PIDF document (RFC 3863 with RPID), as published.
    Pidf(PresenceDocument),
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
    /// When the granted interval runs out.
    pub expires_at: SystemTime,
    /// The TCP/TLS flow the source was made or last refreshed on; the
    /// source ends a grace period after that flow closes.
    pub flow: Option<F>,
    /// Set once that flow has closed: the source ends then at the latest.
    pub grace_ends: Option<SystemTime>,
}

impl<F: Flow> Source<F> {
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

    /// The PIDF document it contributes to the composition.
    pub fn document(&self) -> &PresenceDocument {
        match &self.content {
            SourceContent::Pidf(document) => document,
        }
    }

    /// The record the store keeps for it.
    pub fn record(&self, presentity: &str, key: &SourceKey) -> PublicationRecord<F> {
        let etag = match key {
            SourceKey::Publication(etag) => etag.clone(),
        };
        PublicationRecord {
            presentity: presentity.to_string(),
            etag,
            expires_at_ms: to_ms(self.expires_at),
            published_at: self.published_at,
            body: self.body.clone(),
            flow: self.flow.clone(),
        }
    }
}
