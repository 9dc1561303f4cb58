//! The XML namespaces of Microsoft's presence dialect.
//!
//! Every name here is written exactly as [MS-PRES] §2.2 and [MS-SIP] §2.2.4
//! spell it; clients match documents by these strings, so a typo is an
//! interoperability bug rather than a cosmetic one.

/// `<publish>`, `<publications>`, `<publication>`: the category publication
/// a client sends in SERVICE ([MS-PRES] §2.2.2.2, §4.3).
pub const RICH_PRESENCE: &str = "http://schemas.microsoft.com/2006/09/sip/rich-presence";

/// `<categories>` / `<category>`: what a watcher receives per contact
/// ([MS-PRES] §2.2.2.3), and the `categories` section of roaming data.
pub const CATEGORIES: &str = "http://schemas.microsoft.com/2006/09/sip/categories";

/// The `state` category ([MS-PRES] §2.2.2.7.1).
pub const STATE: &str = "http://schemas.microsoft.com/2006/09/sip/state";

/// The `note` category ([MS-PRES] §2.2.2.7.2).
pub const NOTE: &str = "http://schemas.microsoft.com/2006/09/sip/note";

/// The `contactCard` category.
pub const CONTACT_CARD: &str = "http://schemas.microsoft.com/2006/09/sip/contactcard";

/// The `services` category ([MS-PRES] §2.2.2.7.3).
pub const SERVICE: &str = "http://schemas.microsoft.com/2006/09/sip/service";

/// `xsi:type` on `<state>` says which kind of state it is.
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// `<batchSub>`: the batched presence SUBSCRIBE ([MS-PRES] §6.8).
pub const BATCH_SUBSCRIBE: &str = "http://schemas.microsoft.com/2006/01/sip/batch-subscribe";

/// `<categoryList>` inside a batched SUBSCRIBE action ([MS-PRES] §6.8).
pub const CATEGORY_LIST: &str = "http://schemas.microsoft.com/2006/09/sip/categorylist";

/// `<setContainerMembers>`: access-level changes (the namespace SIPE's
/// `sipe-ocs2007.c` writes).
pub const CONTAINER_MANAGEMENT: &str =
    "http://schemas.microsoft.com/2006/09/sip/container-management";

/// `<containers>` in roaming data ([MS-PRES] §4.4.3).
pub const CONTAINERS: &str = "http://schemas.microsoft.com/2006/09/sip/containers";

/// `<subscribers>` in roaming data and `<setSubscribers>`
/// ([MS-PRES] §2.2.2.6.1, §4.8.1).
pub const PRESENCE_SUBSCRIBERS: &str =
    "http://schemas.microsoft.com/2006/09/sip/presence-subscribers";

/// `<roamingList>` and `<roamingData>` ([MS-PRES] §4.4.1, §4.4.3).
pub const ROAMING_SELF: &str = "http://schemas.microsoft.com/2006/09/sip/roaming-self";

/// `<roamingEx type="delegates"/>` inside a `<roamingList>` ([MS-PRES] §4.4.1).
pub const ROAMING_SELF_EX: &str = "http://schemas.microsoft.com/2007/09/sip/roaming-self-ex";

/// The SOAP 1.1 envelope around contact-list requests ([MS-SIP] §4.6).
pub const SOAP_ENVELOPE: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The contact-list primitives inside the envelope (`m:setContact` …,
/// [MS-SIP] §2.2.4.2).
pub const WINRTC_SIP: &str = "http://schemas.microsoft.com/winrtc/2002/11/sip";

/// The roaming contact list (`<contactList>`, `<contactDelta>`): the target
/// namespace of [MS-SIP] §9.1's contact schema.
pub const CONTACT_TYPES: &str = "http://schemas.microsoft.com/sip/types";

/// The provisioning request a client sends (`<provisioningGroupList>`).
pub const PROVISIONING_GROUP_LIST: &str =
    "http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist";

/// The provisioning groups the server returns (`<provisionGroupList>`).
pub const PROVISION_GROUP_LIST_NOTIFICATION: &str =
    "http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification";

/// RLMI, RFC 4662 §5: the first part of a batched NOTIFY.
pub const RLMI: &str = "urn:ietf:params:xml:ns:rlmi";
