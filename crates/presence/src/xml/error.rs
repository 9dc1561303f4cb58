//! Why bytes could not be read as a (safe) XML document.

/// An XML-level failure, with the byte offset where it was found so the
/// log line for a refused PUBLISH points at the culprit. Offsets count from
/// the start of the body as received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The document exceeds [`crate::XmlLimits::max_document_size`].
    #[error("document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size of the document.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Elements nest deeper than [`crate::XmlLimits::max_depth`].
    #[error("elements nested deeper than {limit} levels at byte {position}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
        /// Where the element that went too deep starts.
        position: u64,
    },
    /// More elements than [`crate::XmlLimits::max_elements`].
    #[error("more than {limit} elements, at byte {position}")]
    TooManyElements {
        /// The limit in force.
        limit: usize,
        /// Where the element over the limit starts.
        position: u64,
    },
    /// A `<!DOCTYPE>`. Presence documents never need one, and a DTD is how
    /// entity declarations (and with them the "billion laughs" expansion
    /// and external-entity reads) get into a document, so it is refused
    /// before anything in it is looked at.
    #[error("DOCTYPE at byte {position}: DTDs and entity declarations are not accepted")]
    Doctype {
        /// Where the DOCTYPE starts.
        position: u64,
    },
    /// A reference to an entity other than the five XML predefines
    /// (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`). Without a DTD no other
    /// entity can exist, so this is also what an entity bomb without its
    /// DOCTYPE looks like.
    #[error("reference to undeclared entity &{name}; at byte {position}")]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Where the reference starts.
        position: u64,
    },
    /// A character reference to a character XML 1.0 does not allow (§2.2),
    /// such as `&#0;` or `&#x1;`.
    #[error("character reference to a forbidden character at byte {position}")]
    ForbiddenCharacter {
        /// Where the reference starts.
        position: u64,
    },
    /// The bytes are not valid in the document's encoding.
    #[error("invalid UTF-8 at byte {position}")]
    InvalidUtf8 {
        /// The first byte that is not valid UTF-8.
        position: u64,
    },
    /// An encoding other than UTF-8, US-ASCII or ISO-8859-1.
    #[error("unsupported encoding {encoding:?}")]
    UnsupportedEncoding {
        /// The encoding as declared (or detected from a byte-order mark).
        encoding: String,
    },
    /// A prefix used without a namespace declaration in scope.
    #[error("namespace prefix {prefix:?} is not declared, at byte {position}")]
    UnboundPrefix {
        /// The prefix.
        prefix: String,
        /// Where the element using it starts.
        position: u64,
    },
    /// The document has no root element.
    #[error("no root element")]
    NoRoot,
    /// The document ends inside an element.
    #[error("document ends inside an element, at byte {position}")]
    UnexpectedEof {
        /// The end of the document.
        position: u64,
    },
    /// Elements or text after the root element.
    #[error("content after the root element at byte {position}")]
    TrailingContent {
        /// Where the extra content starts.
        position: u64,
    },
    /// Anything else that makes the document ill-formed (mismatched tags,
    /// broken attributes, …), as quick-xml describes it.
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed {
        /// Where the reader noticed.
        position: u64,
        /// What it noticed.
        reason: String,
    },
}

impl XmlError {
    /// The byte offset the error points at, when it has one.
    pub fn position(&self) -> Option<u64> {
        match self {
            XmlError::TooDeep { position, .. }
            | XmlError::TooManyElements { position, .. }
            | XmlError::Doctype { position }
            | XmlError::UnknownEntity { position, .. }
            | XmlError::ForbiddenCharacter { position }
            | XmlError::InvalidUtf8 { position }
            | XmlError::UnboundPrefix { position, .. }
            | XmlError::UnexpectedEof { position }
            | XmlError::TrailingContent { position }
            | XmlError::Malformed { position, .. } => Some(*position),
            XmlError::TooLarge { .. } | XmlError::UnsupportedEncoding { .. } | XmlError::NoRoot => {
                None
            }
        }
    }
}
