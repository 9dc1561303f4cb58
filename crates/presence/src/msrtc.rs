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
//! - [`provisioning`] — the `<provisioningGroupList>` request;
//! - [`search`] — the SOAP `directorySearch` request (and its answer);
//! - [`categories`] — a category document, as an upstream server of the
//!   dialect sends it.
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
//!
//! ```
//! use presence::msrtc::categories::{self, CategoryEntry, EntryValue};
//! use presence::msrtc::category::CategoryValue;
//! use presence::msrtc::publish;
//! use presence::XmlLimits;
//!
//! // A client sets itself Busy (SIPE's SERVICE body, shortened)…
//! let body = br#"<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence">
//!   <publications uri="sip:alice@example.com">
//!     <publication categoryName="state" instance="536870912" container="2" version="0" expireType="static">
//!       <state xmlns="http://schemas.microsoft.com/2006/09/sip/state" manual="true"
//!              xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="userState">
//!         <availability>6500</availability></state>
//!     </publication>
//!   </publications>
//! </publish>"#;
//! let publish = publish::parse(body, &XmlLimits::DEFAULT)?;
//! let publication = &publish.publications[0];
//! let Some(CategoryValue::State(state)) = publication.body.as_ref().and_then(|b| b.value.clone())
//! else { unreachable!("a userState") };
//! assert_eq!(state.availability, Some(6500));
//!
//! // …and its watchers in container 2 receive the state in a category document.
//! let document = categories::render(&publish.uri, &[CategoryEntry {
//!     name: publication.category.clone(),
//!     instance: Some(publication.instance),
//!     container: Some(publication.container),
//!     version: Some(publication.version + 1),
//!     publish_time: None,
//!     expire_type: None,
//!     value: EntryValue::Value(CategoryValue::State(state)),
//! }]);
//! assert!(std::str::from_utf8(&document).unwrap().contains("<availability>6500</availability>"));
//! # Ok::<(), presence::msrtc::MsrtcError>(())
//! ```

pub mod batch;
pub mod categories;
pub mod category;
pub mod contacts;
pub mod container;
mod error;
pub mod fault;
use crate::xml::markup;
pub mod namespace;
pub mod provisioning;
pub mod publish;
mod read;
pub mod rlmi;
pub mod roaming;
pub mod search;

pub use error::MsrtcError;
