//! Parse errors, and the answer a server gives for each.

use crate::header::HeaderName;
use crate::typed::TypedError;
use crate::uri::UriError;

/// Why bytes could not be read as a SIP message. Every variant names what
/// broke, because [`ParseError::reason`] becomes the reason phrase of the
/// error response and the text of the log line for a dropped message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The whole message exceeds [`crate::Limits::max_message_size`].
    #[error("message larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// More header lines than [`crate::Limits::max_headers`].
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// A header line longer than [`crate::Limits::max_header_line`].
    #[error("header line longer than {limit} bytes")]
    HeaderLineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A body larger than [`crate::Limits::max_body`].
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The header block does not end (no empty line).
    #[error("message ends inside the header block")]
    Incomplete,
    /// The request or status line does not follow RFC 3261 §7.1/§7.2.
    #[error("malformed {0}")]
    StartLine(&'static str),
    /// The Request-URI is malformed or not allowed there.
    #[error("bad Request-URI: {0}")]
    RequestUri(UriError),
    /// Headers in a Request-URI (RFC 3261 §19.1.1 table 1).
    #[error("bad Request-URI: headers are not allowed in a Request-URI")]
    RequestUriHeaders,
    /// A SIP version other than 2.0.
    #[error("SIP version not supported")]
    Version,
    /// A header line without a colon or with a malformed name.
    #[error("malformed header line")]
    HeaderLine,
    /// A header value that does not follow its grammar, or a missing or
    /// repeated header.
    #[error("{0}")]
    Header(#[from] TypedError),
    /// Content-Length says more than the datagram holds (RFC 4475 clerr).
    #[error("Content-Length {declared} exceeds the {available} body bytes received")]
    BodyTruncated {
        /// The declared length.
        declared: usize,
        /// What was actually there.
        available: usize,
    },
    /// The CSeq method differs from the request method (RFC 4475 mismatch01).
    #[error("bad CSeq header: method does not match the request method")]
    CSeqMismatch,
    /// As `CSeqMismatch`, but the request method is one no element here
    /// implements: RFC 4475 mismatch02 prefers 501 over 400 then, because
    /// the method is the more fundamental problem.
    #[error("method not implemented (and the CSeq method does not match it)")]
    UnknownMethodCSeqMismatch,
    /// A status code that is not three digits from 100 to 699.
    #[error("malformed status code")]
    Status,
}

impl ParseError {
    /// The status code a server answers a request with this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Version => 505,
            ParseError::MessageTooLarge { .. } => 513,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::UnknownMethodCSeqMismatch => 501,
            ParseError::RequestUri(UriError::Whitespace) => 400,
            _ => 400,
        }
    }

    /// The reason phrase for that answer: the error text with a capital
    /// first letter, with no CR or LF (it goes on the status line).
    pub fn reason(&self) -> String {
        let text = self.to_string().replace(['\r', '\n'], " ");
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => text,
        }
    }

    /// The header at fault, when one is.
    pub fn header(&self) -> Option<HeaderName> {
        match self {
            ParseError::Header(e) => Some(e.header()),
            ParseError::CSeqMismatch | ParseError::UnknownMethodCSeqMismatch => {
                Some(HeaderName::CSeq)
            }
            ParseError::BodyTruncated { .. } => Some(HeaderName::ContentLength),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_header() {
        let e = ParseError::Header(TypedError::Invalid(HeaderName::Via, "malformed value"));
        assert_eq!(e.status(), 400);
        assert_eq!(e.reason(), "Bad Via header: malformed value");
        assert_eq!(ParseError::Version.status(), 505);
        assert_eq!(
            ParseError::Header(TypedError::Missing(HeaderName::CallId)).reason(),
            "Missing Call-ID header"
        );
    }
}
