//! Bounds on every XML body the presence codecs read.
//!
//! A PUBLISH body comes from anyone who can reach the server, and XML has
//! famous ways to turn a few bytes into gigabytes or a stack overflow
//! (entity expansion, unbounded nesting). Entity declarations are refused
//! outright (a DOCTYPE is an error, see [`crate::XmlError::Doctype`]);
//! what remains is bounded here before any work is done on it. One more
//! bound is fixed rather than configurable: an element may declare at most
//! 64 namespaces, which keeps every name lookup short.

/// Limits applied while parsing one XML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest document in bytes. 64 KiB matches the largest SIP body the
    /// `sip` crate accepts ([`sip::Limits::max_body`]), so a body that got
    /// through the message parser is never refused for size alone.
    pub max_document_size: usize,
    /// Deepest element nesting, the root counting as 1. A PIDF document
    /// with RPID is 5 deep (`presence/person/activities/away`, one more for
    /// the legacy `status` wrapper); geolocation extensions reach about 10.
    pub max_depth: usize,
    /// Most elements in one document, extensions included. Bounds the work
    /// and the memory a document can cost, independently of its byte size.
    pub max_elements: usize,
}

impl XmlLimits {
    /// Limits that fit every client body we have seen with wide headroom.
    pub const DEFAULT: XmlLimits = XmlLimits {
        max_document_size: 65_536,
        max_depth: 32,
        max_elements: 2_048,
    };
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
