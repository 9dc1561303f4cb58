//! The PIDF codec (RFC 3863), with the data model (RFC 4479) and RPID
//! (RFC 4480): `application/pidf+xml` bodies to [`PresenceDocument`]s and
//! back.
//!
//! Reading is namespace-aware and tolerant of what real clients send:
//! - any prefixes (`<dm:person>`, `<rpid:person>`, `<pp:person>`, a default
//!   namespace on a child element), and elements in no namespace read as
//!   PIDF;
//! - the pre-RFC drafts' person form used by Eyebeam, X-Lite and Asterisk
//!   (`<pp:person><status><ep:activities>…`), normalised to RFC 4480;
//! - children in any order (pjsua writes `<note>` after `<timestamp>`);
//! - missing ids (given positional ones, so composition can still merge).
//!
//! It is strict where being lenient would cost the server: the input is
//! bounded by [`XmlLimits`], DTDs are refused, and `<basic>` must be
//! `open` or `closed`, since guessing presence is worse than refusing it.
//!
//! Writing produces one canonical form: an XML declaration, UTF-8, PIDF as
//! the default namespace, `dm:` and `rpid:` declared on the root when used,
//! children in schema order, one-space indentation. Extensions are written
//! back verbatim.

mod read;
mod write;

use bytes::Bytes;

use crate::document::PresenceDocument;
use crate::xml::XmlError;
use crate::XmlLimits;

/// The media type of a PIDF body (RFC 3863 §7).
pub const CONTENT_TYPE: &str = "application/pidf+xml";

/// Why a body is not an acceptable PIDF document. Each variant says what was
/// wrong and, where it applies, at which byte: the text goes into the
/// reason phrase of the 400 and into the log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// The body is not (safe, well-formed) XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root element is not PIDF's `<presence>`.
    #[error("root element <{found}> at byte {position} is not a PIDF <presence>")]
    NotPresence {
        /// The root's qualified name, as written.
        found: String,
        /// Where the root starts.
        position: u64,
    },
    /// A required attribute is missing (`entity` on `<presence>`, RFC 3863
    /// §4.1.1).
    #[error("<{element}> at byte {position} has no {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute it lacks.
        attribute: &'static str,
        /// Where the element starts.
        position: u64,
    },
    /// A value outside its type: `<basic>` other than open/closed (RFC 3863
    /// §4.1.4), a contact `priority` that is not a number from 0 to 1
    /// (§4.1.5).
    #[error("invalid {what} {value:?} at byte {position}")]
    InvalidValue {
        /// What the value is (`basic`, `contact priority`).
        what: &'static str,
        /// The value as written.
        value: String,
        /// Where its element starts.
        position: u64,
    },
}

impl PidfError {
    /// The byte offset the error points at, when it has one.
    pub fn position(&self) -> Option<u64> {
        match self {
            PidfError::Xml(e) => e.position(),
            PidfError::NotPresence { position, .. }
            | PidfError::MissingAttribute { position, .. }
            | PidfError::InvalidValue { position, .. } => Some(*position),
        }
    }
}

/// Reads a PIDF body.
///
/// Elements the model does not interpret are kept as
/// [`Extension`](crate::Extension)s (see [`crate::extension`]); unknown
/// attributes on interpreted elements are not kept.
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<PresenceDocument, PidfError> {
    read::document(bytes, limits)
}

/// Writes a document as canonical PIDF (see the module documentation).
/// The same document always gives the same bytes, which is what makes
/// entity-tags and "has it changed" checks cheap.
pub fn render(document: &PresenceDocument) -> String {
    write::document(document)
}

/// [`render`] into shareable bytes: a NOTIFY body is rendered once per state
/// change and the same buffer goes to every watcher.
pub fn render_bytes(document: &PresenceDocument) -> Bytes {
    Bytes::from(render(document))
}
