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
    /// Create or replace a registrar binding (RFC 3261 §10.3).
    PutBinding(BindingRecord<F>),
    /// Remove a binding (unregistered, expired, or its flow's grace
    /// period ended).
    DeleteBinding {
        /// [`BindingRecord::aor`].
        aor: String,
        /// [`BindingRecord::key`].
        key: String,
    },
    /// Create or replace a user's roaming settings (containers and
    /// acknowledged watchers of the Microsoft dialect).
    PutRoaming(RoamingRecord),
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
            StoreOp::PutBinding(_) | StoreOp::DeleteBinding { .. } => BINDINGS,
            StoreOp::PutRoaming(_) => ROAMING,
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
            StoreOp::PutBinding(b) => binding_key(&b.aor, &b.key),
            StoreOp::DeleteBinding { aor, key } => binding_key(aor, key),
            StoreOp::PutRoaming(r) => r.user.clone(),
            StoreOp::PutContactList(list) => list.user.clone(),
            StoreOp::DeleteContactList { user } => user.clone(),
        }
    }
}

/// The table of users' roaming settings, keyed by user AOR.
pub const ROAMING: &str = "roaming";

/// A user's roaming settings as stored ([`crate::roaming::Roaming`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoamingRecord {
    /// The user's AOR.
    pub user: String,
    /// The containers with their versions and members.
    pub containers: Vec<RoamingContainer>,
    /// The watchers the user acknowledged, without `sip:`, lowercased.
    pub acknowledged: Vec<String>,
}

/// One container as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoamingContainer {
    /// Its id (access level).
    pub id: u32,
    /// Its version.
    pub version: u32,
    /// Members as (`type` token, `value`).
    pub members: Vec<(String, Option<String>)>,
}

/// The table of publications.
pub const PUBLICATIONS: &str = "publications";
/// The table of subscriptions.
pub const SUBSCRIPTIONS: &str = "subscriptions";
/// The table of registrar bindings.
pub const BINDINGS: &str = "bindings";
/// The table of contact lists, keyed by the user's address of record.
pub const CONTACT_LISTS: &str = "contact_lists";

/// Newline cannot occur in a URI or an entity-tag token, so it separates
/// the two parts unambiguously.
fn publication_key(presentity: &str, etag: &str) -> String {
    format!("{presentity}\n{etag}")
}

/// A binding is keyed by its AOR and its key within the AOR (instance id
/// or Contact URI); neither contains a newline.
fn binding_key(aor: &str, key: &str) -> String {
    format!("{aor}\n{key}")
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
    /// Set for a Microsoft-dialect category publication, whose `body` is
    /// the category element as the client sent it and whose `etag` is the
    /// synthetic key [`CategoryRecord::etag`]. Absent (and not written)
    /// for RFC 3903 publications, so records stored before the dialect
    /// existed read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryRecord>,
}

/// What a category publication adds to its record: the identity and
/// version the client will refer to in its next SERVICE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRecord {
    /// `categoryName`.
    pub name: String,
    /// `instance`.
    pub instance: u32,
    /// `container`.
    pub container: u32,
    /// The version the server holds (the next publication must name it).
    pub version: u32,
    /// `expireType` as written on the wire.
    pub expire_type: String,
}

impl CategoryRecord {
    /// The record key within the presentity: one per (category, instance,
    /// container), which no RFC 3903 entity-tag can equal (they are hex).
    pub fn etag(name: &str, instance: u32, container: u32) -> String {
        format!("category:{name}:{instance}:{container}")
    }
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
    /// The resources of a batched subscription of the Microsoft dialect
    /// (one dialog watching a contact list), as the client named them.
    /// Empty, and not written, for a subscription to one presentity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The batched subscription's watcher takes BENOTIFY for updates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub benotify: bool,
    /// The list subscription's NOTIFYs spell the package `Presence`
    /// (liblinphone's, see [`crate::subscription::Batch`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub capitalized_event: bool,
}

/// A registrar binding as stored (RFC 3261 §10.3): an address-of-record
/// bound to one contact of one user agent, with what the ordering rule of
/// step 7 needs (Call-ID and CSeq) and the flow requests for the AOR are
/// delivered on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord<F> {
    /// The address-of-record (`sip:user@host`, host lowercased).
    pub aor: String,
    /// The binding's identity within the AOR: the `+sip.instance` value
    /// when the UA sent one (RFC 5626 §6: a UA's instance keeps one binding
    /// whatever its Contact), else the Contact URI as registered.
    pub key: String,
    /// The Contact URI as registered.
    pub contact: String,
    /// The `+sip.instance` value (quotes removed, `<urn:…>` kept), if any.
    pub instance: Option<String>,
    /// Call-ID of the REGISTER that last changed the binding.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// When the binding expires, in ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// The flow the REGISTER came in on: requests for the AOR go back on
    /// it (the same connection for TCP/TLS).
    pub flow: F,
    /// Whether that flow is TCP/TLS (the binding then ends a grace period
    /// after the connection closes).
    pub reliable: bool,
}
