//! Why a body of the dialect was refused.

use crate::xml::XmlError;

/// A body that is not an acceptable document of the dialect. Each variant
/// names the element (and attribute) at fault, because the server turns the
/// error into a `400` reason phrase (`Bad publication: missing version
/// attribute on <publication> at byte 97`) and a client author has nothing
/// else to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsrtcError {
    /// Not (safe, well-formed, bounded) XML at all.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root is not the element this media type carries, or is in the
    /// wrong namespace.
    #[error("root <{found}> at byte {position} is not <{expected}> in namespace {namespace}")]
    UnexpectedRoot {
        /// The root this media type requires.
        expected: &'static str,
        /// Its namespace.
        namespace: &'static str,
        /// The root's qualified name as written.
        found: String,
        /// Where the root starts.
        position: u64,
    },
    /// A required attribute is absent.
    #[error("missing {attribute} attribute on <{element}> at byte {position}")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute it lacks.
        attribute: &'static str,
        /// Where the element starts.
        position: u64,
    },
    /// An attribute whose value is outside its type (a number that is not
    /// one, an unknown token).
    #[error("invalid {attribute} attribute {value:?} on <{element}> at byte {position}")]
    InvalidAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value as written.
        value: String,
        /// Where the element starts.
        position: u64,
    },
    /// A required child element is absent.
    #[error("missing <{child}> in <{element}> at byte {position}")]
    MissingElement {
        /// The parent.
        element: &'static str,
        /// The child it lacks.
        child: &'static str,
        /// Where the parent starts.
        position: u64,
    },
    /// A child element the server does not implement where only known ones
    /// may be (an unknown contact-list primitive in a SOAP body).
    #[error("unsupported <{found}> in <{element}> at byte {position}")]
    UnsupportedElement {
        /// The parent.
        element: &'static str,
        /// The child's qualified name as written.
        found: String,
        /// Where the child starts.
        position: u64,
    },
    /// An element's text is outside its type.
    #[error("invalid <{element}> value {value:?} at byte {position}")]
    InvalidValue {
        /// The element.
        element: &'static str,
        /// Its text as written.
        value: String,
        /// Where the element starts.
        position: u64,
    },
}

impl MsrtcError {
    /// The element the error is about, when it is about one: what the
    /// server logs next to the request.
    pub fn element(&self) -> Option<&'static str> {
        match self {
            MsrtcError::Xml(_) => None,
            MsrtcError::UnexpectedRoot { expected, .. } => Some(expected),
            MsrtcError::MissingAttribute { element, .. }
            | MsrtcError::InvalidAttribute { element, .. }
            | MsrtcError::MissingElement { element, .. }
            | MsrtcError::UnsupportedElement { element, .. }
            | MsrtcError::InvalidValue { element, .. } => Some(element),
        }
    }

    /// The byte offset the error points at, when it has one.
    pub fn position(&self) -> Option<u64> {
        match self {
            MsrtcError::Xml(e) => e.position(),
            MsrtcError::UnexpectedRoot { position, .. }
            | MsrtcError::MissingAttribute { position, .. }
            | MsrtcError::InvalidAttribute { position, .. }
            | MsrtcError::MissingElement { position, .. }
            | MsrtcError::UnsupportedElement { position, .. }
            | MsrtcError::InvalidValue { position, .. } => Some(*position),
        }
    }
}
