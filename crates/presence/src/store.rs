//! What the engine asks the runtime to make durable.
//!
//! A publication or subscription acknowledged with a 2xx must survive a
//! crash (../shared/DESIGN.md, "Nothing lost"), so the engine emits
//! [`StoreOp`]s ahead of the responses that depend on them and the runtime
//! commits them (group-committed) before sending those responses. Records
//! are plain data with wall-clock times in milliseconds since the Unix
//! epoch, so they mean the same thing after a restart; the runtime chooses
//! the encoding and the engine never sees the store.

use serde::{Deserialize, Serialize};

pub use crate::contacts::ContactListRecord;

/// One change to the durable state.
// The records are large next to the deletes, but ops are built, committed
// and dropped; boxing them would only add an allocation per write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StoreOp<F> {
    /// Create or replace a publication.
    PutPublication(PublicationRecord<F>),
    /// Remove a publication (removed by its publisher, expired, or ended
    /// with its flow).
    DeletePublication {
        /// The presentity's key (its AOR).
        presentity: String,
        /// The publication's entity-tag at the time of removal.
        etag: String,
    },
    /// Create or replace a subscription.
    PutSubscription(SubscriptionRecord<F>),
    /// Remove a terminated subscription.
    DeleteSubscription {
        /// [`SubscriptionRecord::id`].
        id: String,
    },
    /// Create or replace a user's contact list (the whole list: one record
    /// per user, see [`crate::contacts`]).
    PutContactList(ContactListRecord),
    /// Remove a user's contact list.
    DeleteContactList {
        /// [`ContactListRecord::user`].
        user: String,
    },
}

impl<F> StoreOp<F> {
    /// The table the record lives in, so a key-value store can keep
    /// publications and subscriptions apart and reload each kind alone.
    pub fn table(&self) -> &'static str {
        match self {
            StoreOp::PutPublication(_) | StoreOp::DeletePublication { .. } => PUBLICATIONS,
            StoreOp::PutSubscription(_) | StoreOp::DeleteSubscription { .. } => SUBSCRIPTIONS,
            StoreOp::PutContactList(_) | StoreOp::DeleteContactList { .. } => CONTACT_LISTS,
        }
    }

    /// The record's key within its table. A publication is keyed by
    /// presentity and entity-tag, so a refresh (which changes the
    /// entity-tag) is a delete plus a put.
    pub fn key(&self) -> String {
        match self {
            StoreOp::PutPublication(p) => publication_key(&p.presentity, &p.etag),
            StoreOp::DeletePublication { presentity, etag } => publication_key(presentity, etag),
            StoreOp::PutSubscription(s) => s.id.clone(),
            StoreOp::DeleteSubscription { id } => id.clone(),
            StoreOp::PutContactList(list) => list.user.clone(),
            StoreOp::DeleteContactList { user } => user.clone(),
        }
    }
}

/// The table of publications.
pub const PUBLICATIONS: &str = "publications";
/// The table of subscriptions.
pub const SUBSCRIPTIONS: &str = "subscriptions";
/// The table of contact lists, keyed by the user's address of record.
pub const CONTACT_LISTS: &str = "contact_lists";

/// Newline cannot occur in a URI or an entity-tag token, so it separates
/// the two parts unambiguously.
fn publication_key(presentity: &str, etag: &str) -> String {
    format!("{presentity}\n{etag}")
}

/// A publication as stored (RFC 3903 event state of one source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationRecord<F> {
    /// The presentity's key (its AOR).
    pub presentity: String,
    /// The current entity-tag.
    pub etag: String,
    /// When it expires, in ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// The composition order ([`crate::PublicationRef::published_at`]):
    /// larger is newer. Persisted so the order survives a restart.
    pub published_at: u64,
    /// The published PIDF document, as received.
    pub body: String,
    /// The TCP/TLS flow it was published on, if any: the publication ends a
    /// grace period after that flow closes. After a restart every flow is
    /// gone, so a restored publication with a flow starts its grace period.
    pub flow: Option<F>,
}

/// A subscription (RFC 6665 dialog) as stored: everything needed to send
/// it a NOTIFY after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord<F> {
    /// Unique key: Call-ID, local tag and remote tag joined by newlines.
    pub id: String,
    /// `presence` or `presence.winfo`.
    pub event: String,
    /// The watched presentity's key (its AOR).
    pub presentity: String,
    /// The watcher's AOR (from its From header).
    pub watcher: String,
    /// Call-ID of the dialog.
    pub call_id: String,
    /// Our tag (the To tag of the SUBSCRIBE, the From tag of NOTIFYs).
    pub local_tag: String,
    /// The watcher's tag.
    pub remote_tag: String,
    /// The watcher's From header value (becomes the NOTIFY's To).
    pub remote_party: String,
    /// The SUBSCRIBE's To URI (becomes the NOTIFY's From, with our tag).
    pub local_party: String,
    /// Where NOTIFYs go: the watcher's Contact URI.
    pub remote_target: String,
    /// Route set from Record-Route, in the order NOTIFYs carry it.
    pub route_set: Vec<String>,
    /// Our Contact URI.
    pub contact: String,
    /// CSeq of the last NOTIFY sent (or reserved).
    pub local_cseq: u32,
    /// CSeq of the last SUBSCRIBE received in the dialog.
    pub remote_cseq: u32,
    /// When the subscription expires, in ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// `active` or `pending`.
    pub state: String,
    /// The body type NOTIFYs carry.
    pub content_type: String,
    /// Entity-tag of the last state notified (RFC 5839), if any.
    pub last_etag: Option<String>,
    /// The flow the subscription was last refreshed on.
    pub flow: F,
    /// Whether that flow is reliable (TCP/TLS).
    pub reliable: bool,
    /// Version of the last watcherinfo document sent (winfo only).
    pub winfo_version: u64,
}
