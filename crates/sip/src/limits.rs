//! Bounds on every input the parser accepts.
//!
//! A presence server is reachable by anyone who can send a datagram, so each
//! dimension of a message is bounded before any work is done on it. The
//! defaults fit every real client we have seen (the largest are Lync batched
//! SUBSCRIBEs and multipart RLMI NOTIFYs, a few tens of KiB) with headroom.

/// Limits applied while parsing one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, headers and body) in bytes.
    pub max_message_size: usize,
    /// Most header lines one message may carry.
    pub max_headers: usize,
    /// Longest header line, after unfolding, in bytes.
    pub max_header_line: usize,
    /// Largest body in bytes.
    pub max_body: usize,
}

impl Limits {
    /// Limits for stream transports and UDP alike; 64 KiB is also the largest
    /// UDP payload, so one value serves both.
    pub const DEFAULT: Limits = Limits {
        max_message_size: 65_535,
        max_headers: 128,
        max_header_line: 8_192,
        max_body: 60_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
