//! Typed views of header values.
//!
//! Each parser takes the raw value (already unfolded and trimmed) and returns
//! a small struct of `Bytes` slices into it. Errors say which header was
//! wrong, because that text becomes the reason phrase of the 400 a server
//! answers (RFC 4475 asks for exactly this).

mod name_addr;
mod scalar;
mod via;

pub use name_addr::NameAddr;
pub use scalar::{
    parse_date, parse_delta, CSeq, ContentType, Event, RetryAfter, SubscriptionState, Warning,
};
pub use via::{is_rfc3261_branch, SentBy, Via};

use crate::header::HeaderName;

/// Why a typed header could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TypedError {
    /// A header the message must carry is absent.
    #[error("missing {} header", .0.as_str())]
    Missing(HeaderName),
    /// A header that may appear once appears several times.
    #[error("multiple {} headers", .0.as_str())]
    Multiple(HeaderName),
    /// The value does not follow the header's grammar.
    #[error("bad {name} header: {reason}", name = .0.as_str(), reason = .1)]
    Invalid(HeaderName, &'static str),
}

impl TypedError {
    /// The header at fault.
    pub fn header(&self) -> HeaderName {
        match *self {
            TypedError::Missing(h) | TypedError::Multiple(h) | TypedError::Invalid(h, _) => h,
        }
    }
}
