//! The presence domain of presenced, sans-IO.
//!
//! This crate knows what presence *is* and how it is written; it never
//! touches a socket, a clock or a store. The runtime feeds it bodies and
//! publication metadata and gets documents and bytes back, so every rule
//! here is a plain unit test.
//!
//! - [`document`]: the presence document model, RFC 3863 (PIDF) + RFC 4479
//!   (data model) + RFC 4480 (RPID), with [`Activity`] tokens and lossless
//!   [`Extension`]s for everything else;
//! - [`pidf`]: the `application/pidf+xml` codec, bounded by [`XmlLimits`];
//! - [`composition`]: many publications of one presentity → one document
//!   (RFC 3903 §4's server policy);
//! - [`summary`]: open/closed, activities and the leading note, which the
//!   availability mapping starts from;
//! - [`availability`]: Microsoft's availability model (number and classes,
//!   activity tokens with texts per LCID, devices and modalities), the
//!   aggregation of many sources into one state by meaning, and the one
//!   table that converts it to and from PIDF/RPID.
//!
//! - [`presentity`], [`source`]: presentities as a SIP-free store of
//!   sources (expiry, flow binding) and each presentity's composed state,
//!   rendered once per change with a version;
//! - [`publication`]: the PUBLISH adapter in front of that store (RFC 3903
//!   entity-tags, Expires, bodies);
//! - [`category_publish`]: the SERVICE adapter of the Microsoft dialect
//!   (versioned category publications, 409 `WrongDelta`);
//! - [`subscription`], [`notify`], [`winfo`], [`authorization`]: RFC 6665
//!   dialogs, NOTIFY construction, watcher information (RFC 3857/3858) and
//!   who may watch whom;
//! - [`contacts`]: each user's roaming contact list (groups, contacts,
//!   `deltaNum`), checked and changed operation by operation;
//! - [`engine`]: all of the above behind one `handle(input, now)` that
//!   returns ordered actions (store, respond, notify) for the runtime;
//! - [`roaming`]: a dialect user's containers (access levels) and
//!   acknowledged watchers;
//! - [`service`]: service contacts (rooms, gateway aliases) as a source:
//!   the card a room or rule answers with, rendered per watcher format;
//! - [`registrar`]: RFC 3261 §10 bindings per address-of-record, with
//!   the flow each was registered on and RFC 5627 GRUUs;
//! - [`resource_lists`]: RFC 4826 resource-lists bodies, the ad-hoc lists
//!   of RFC 5367 list subscriptions;
//! - [`store`], [`flow`]: what the runtime persists, and its flows;
//! - [`refusal`]: the refusals by policy (bounds, authorization) the
//!   engine reports for the runtime to log and count;
//! - [`msrtc`]: Microsoft's presence dialect ([MS-PRES], [MS-SIP]): category
//!   publications, batched subscriptions, containers, roaming self data,
//!   contact lists, provisioning and faults, read and written on the same
//!   bounded XML layer.
//!
//! ```
//! use presence::{compose, pidf, Activity, Basic, PublicationRef, XmlLimits};
//!
//! let body = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <presence xmlns="urn:ietf:params:xml:ns:pidf"
//!     xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
//!     xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">
//!   <tuple id="t1"><status><basic>open</basic></status></tuple>
//!   <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person>
//! </presence>"#;
//! let published = pidf::parse(body, &XmlLimits::DEFAULT)?;
//! let etag = PublicationRef { etag: "a1".into(), published_at: 1 };
//! let state = compose("sip:alice@example.com", &[(etag, &published)]);
//! let summary = state.summary();
//! assert_eq!(summary.basic, Basic::Open);
//! assert_eq!(summary.activities, [Activity::Busy]);
//! let notify_body = pidf::render(&state);
//! assert!(notify_body.contains("<rpid:busy/>"));
//! # Ok::<(), presence::PidfError>(())
//! ```

#![warn(missing_docs)]

pub mod activity;
pub mod address_book;
pub mod authorization;
pub mod availability;
pub mod category_publish;
pub mod composition;
pub mod contacts;
pub mod document;
pub mod engine;
pub mod extension;
pub mod flow;
pub mod limits;
pub mod msrtc;
pub mod namespace;
pub mod notify;
pub mod pidf;
pub mod presentity;
pub mod provider;
pub mod publication;
pub mod refusal;
pub mod registrar;
pub mod resource_lists;
pub mod roaming;
pub mod service;
pub mod source;
pub mod store;
pub mod subscriber;
pub mod subscription;
pub mod summary;
pub mod winfo;
mod xml;

pub use activity::Activity;
pub use address_book::{AddressBook, NoAddressBook, SearchAnswer};
pub use authorization::{Authorization, Decision, Unlisted};
pub use composition::{compose, PublicationRef};
// `contacts::Contact` and `contacts::Group` stay in their module: the
// root's `Contact` is PIDF's.
pub use contacts::{
    ContactChange, ContactError, ContactErrorKind, ContactLimits, ContactList, ContactListRecord,
    ContactLists, ContactOp,
};
pub use document::{
    Basic, Contact, Device, Mood, Note, Person, PlaceIs, PresenceDocument, RpidToken, Tuple,
};
pub use engine::{
    Action, Engine, EngineConfig, Input, Interest, NotifyId, NotifyOutcome, ProvidedSource, Shown,
    ShownBy, Stats, SyncState, TrackedChange, UnknownPresentity, FANOUT_CHUNK,
};
pub use extension::Extension;
pub use flow::Flow;
pub use limits::XmlLimits;
pub use pidf::PidfError;
pub use presentity::{presentity_key, Presentities, PresentityState};
pub use publication::{Expired, PublicationConfig, PublishError, PublishOutcome};
pub use refusal::Refusal;
pub use registrar::{Identity, RegisterContext, RegisterError, Registrar, RegistrarConfig, Target};
pub use service::{Dialect, NoServices, ServiceCard, ServiceContacts, ServiceView};
pub use source::{Source, SourceContent, SourceKey};
pub use store::{
    BindingRecord, PublicationRecord, RoamingContainer, RoamingRecord, StoreOp, SubscriptionRecord,
};
pub use subscription::{Package, Reason, SubState, Subscription, SubscriptionConfig};
pub use summary::Summary;
pub use xml::XmlError;
