//! The per-source flood limit at the transports' door: every new request
//! is counted against its source address before it is parsed, and before
//! it may take a place in the core's queue (see [`crate::flood`] for the
//! limit itself). What an obvious flood sends is dropped unparsed: at 20
//! times the limit, parsing is most of what a flood would cost.
//!
//! Responses and ACKs are not counted: they finish work the server
//! already accepted (our NOTIFYs' 200s, a 2xx's ACK), and refusing them
//! would only make the server retransmit.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use sip::{Header, HeaderName, Request, Response};

use super::TransportKind;
use crate::flood::{SourceLimit, Verdict};
use crate::metrics::SourceRefusalCounters;
use crate::refusal_log::Refusals;

/// The label of this limit's refusals.
const REASON: &str = "source_rate_limit";

/// The limit and the server's refusal log, shared by every transport task.
#[derive(Debug)]
pub struct SourceGate {
    limit: SourceLimit,
    refusals: Arc<Refusals>,
    counters: SourceRefusalCounters,
}

impl SourceGate {
    /// A gate enforcing `limit`, logging to `refusals`; made after the
    /// metrics recorder is installed (see [`SourceRefusalCounters`]).
    pub fn new(limit: SourceLimit, refusals: Arc<Refusals>) -> SourceGate {
        SourceGate {
            limit,
            refusals,
            counters: SourceRefusalCounters::new(REASON),
        }
    }

    /// Counts the message `raw` from `source`, before it is parsed (so
    /// that an obvious flood costs no parse): `None` when it is not
    /// counted (a response, an ACK), else the verdict. Refusals are
    /// counted in the metrics and logged here.
    pub fn screen(&self, raw: &[u8], transport: TransportKind, source: IpAddr) -> Option<Verdict> {
        if raw.starts_with(b"SIP/2.0 ") || raw.starts_with(b"ACK ") {
            return None;
        }
        let verdict = self.limit.check(source);
        if verdict != Verdict::Pass {
            self.refused(source, transport, verdict);
        }
        Some(verdict)
    }

    fn refused(&self, ip: IpAddr, transport: TransportKind, verdict: Verdict) {
        self.counters.count(verdict);
        if self.refusals.note_counted(ip, REASON, Instant::now()) {
            tracing::warn!(
                %transport,
                source = %ip,
                reason = REASON,
                answer = verdict.as_str(),
                "request refused: over the per-source rate limit"
            );
        }
    }

    /// Forgets idle sources (called every second).
    pub fn forget_idle(&self) {
        self.limit.forget_idle();
    }
}

/// The 503 of a flood limit: Retry-After says when the bucket has room.
pub fn rate_limited(req: &Request, retry_after_secs: u32, to_tag: &str) -> Response {
    let mut resp = Response::to_request(req, 503, Some(to_tag)).with_reason("Rate limit exceeded");
    resp.headers.push(Header::new(
        HeaderName::RetryAfter,
        retry_after_secs.to_string(),
    ));
    resp
}
