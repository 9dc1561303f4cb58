//! Microsoft's presence dialect ([MS-PRES], [MS-SIP]): the bodies the
//! server reads from and writes to Lync / Skype for Business clients and
//! pidgin-sipe, as sans-IO codecs on the crate's bounded XML reader.
//!
//! Readers (client → server), each bounded by [`crate::XmlLimits`] and
//! failing with an [`MsrtcError`] that names the element at fault:
//! - [`publish`] — `application/msrtc-category-publish+xml`;
//! - [`batch`] — `application/msrtc-adrl-categorylist+xml` (batched SUBSCRIBE);
//! - [`container`] — `application/msrtc-setcontainermembers+xml` and
//!   `application/msrtc-presence-setsubscriber+xml`;
//! - [`roaming`] — the `<roamingList>` of the self subscription;
//! - [`contacts`] — the SOAP contact-list requests (`setContact`, …);
//! - [`provisioning`] — the `<provisioningGroupList>` request.
//!
//! Writers (server → client), producing what SIPE's `sipe-notify.c` and
//! `sipe-ocs2007.c` read, every value escaped:
//! - [`categories`] — `application/msrtc-event-categories+xml`;
//! - [`rlmi`] — the `multipart/related` RLMI NOTIFY of a batched
//!   subscription, assembled from per-contact parts rendered once;
//! - [`roaming`] — `application/vnd-microsoft-roaming-self+xml`;
//! - [`contacts`] — `application/vnd-microsoft-roaming-contacts+xml`;
//! - [`provisioning`] — `application/vnd-microsoft-roaming-provisioning-v2+xml`;
//! - [`fault`] — `application/msrtc-fault+xml` (409 on a stale version).
//!
//! The values are wire-level (availability as a number, activity as a
//! token); the availability model maps them.

pub mod batch;
pub mod categories;
pub mod category;
pub mod contacts;
pub mod container;
mod error;
pub mod fault;
mod markup;
pub mod namespace;
pub mod provisioning;
pub mod publish;
mod read;
pub mod rlmi;
pub mod roaming;

pub use error::MsrtcError;
