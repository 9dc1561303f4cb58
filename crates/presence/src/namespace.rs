//! The XML namespaces a presence document is read and written in.
//!
//! PIDF reuses local names across namespaces (`note` and `timestamp` exist in
//! PIDF and in the data model, `person` in the data model and in the legacy
//! drafts), so every element is recognised by its *expanded* name: namespace
//! plus local name. This module names the namespaces and says which of the
//! historical ones count as the standard one.

/// PIDF, RFC 3863 §4.1: `<presence>`, `<tuple>`, `<status>`, `<basic>`,
/// `<contact>`, `<note>`, `<timestamp>`. Written as the default namespace.
pub const PIDF: &str = "urn:ietf:params:xml:ns:pidf";

/// The CPIM-era draft name of PIDF (draft-ietf-impp-cpim-pidf), still sent
/// by some old gateways; read as [`PIDF`].
pub const PIDF_CPIM_DRAFT: &str = "urn:ietf:params:xml:ns:cpim-pidf";

/// The presence data model, RFC 4479 §4: `<dm:person>`, `<dm:device>`,
/// `<dm:deviceID>`, `<dm:note>`, `<dm:timestamp>`. Written with prefix `dm:`.
pub const DATA_MODEL: &str = "urn:ietf:params:xml:ns:pidf:data-model";

/// RPID, RFC 4480 §3: `<rpid:activities>`, `<rpid:mood>`, `<rpid:place-is>`
/// and the other rich elements. Written with prefix `rpid:`.
pub const RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";

/// The person namespace of the pre-RFC 4479 drafts, used by Eyebeam, X-Lite
/// and Asterisk's `chan_sip` as `<pp:person>` (without an `id`). Read as the
/// data-model person.
pub const LEGACY_PERSON: &str = "urn:ietf:params:xml:ns:pidf:person";

/// The RPID person namespace of the pre-RFC 4480 drafts (`ep:` in the same
/// clients): `<ep:activities><ep:away/></ep:activities>` or
/// `<ep:activity>away</ep:activity>`. Read as [`RPID`].
pub const LEGACY_RPID_PERSON: &str = "urn:ietf:params:xml:ns:pidf:rpid:rpid-person";

/// The RPID status namespace of the same drafts (`es:`). Declared by those
/// clients next to [`LEGACY_RPID_PERSON`]; read as [`RPID`].
pub const LEGACY_RPID_STATUS: &str = "urn:ietf:params:xml:ns:pidf:rpid:status:rpid-status";

/// The namespace of `xml:lang` (Namespaces in XML §3: the `xml` prefix is
/// bound by definition and never declared).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Whether `ns` is PIDF proper. Elements without any namespace are read as
/// PIDF too (see [`crate::pidf`]): some hand-written bodies forget `xmlns`.
pub fn is_pidf(ns: Option<&[u8]>) -> bool {
    match ns {
        None => true,
        Some(ns) => ns == PIDF.as_bytes() || ns == PIDF_CPIM_DRAFT.as_bytes(),
    }
}

/// Whether `ns` is the data model, or the legacy person namespace whose
/// elements it replaced.
pub fn is_data_model(ns: Option<&[u8]>) -> bool {
    matches!(ns, Some(ns) if ns == DATA_MODEL.as_bytes() || ns == LEGACY_PERSON.as_bytes())
}

/// Whether `ns` is RPID or one of its draft predecessors.
pub fn is_rpid(ns: Option<&[u8]>) -> bool {
    matches!(ns, Some(ns) if ns == RPID.as_bytes()
        || ns == LEGACY_RPID_PERSON.as_bytes()
        || ns == LEGACY_RPID_STATUS.as_bytes())
}
