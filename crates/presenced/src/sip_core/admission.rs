//! Authentication and publisher rights in the SIP core: between the
//! router, which said which service a request is for, and the service.
//!
//! The decisions are [`crate::auth`]'s (sans-IO, unit-tested with explicit
//! time); this is the driving code: it gives the authenticator the
//! request's origin and the time of the turn, sends the refusal it
//! returns, counts it, and logs it once per source per interval.

use sip::transaction::Key;
use sip::Request;

use super::{Now, SipCore};
use crate::auth::{rights, Origin, Principal};
use crate::metrics;
use crate::transport::Flow;

/// Whether a request may reach its service.
pub(super) enum Admission {
    /// Authentication is off: the request speaks for whom it says.
    Open,
    /// Authenticated; it acts for this AOR (itself, or a user it is a
    /// delegate or trusted peer for).
    As(String),
    /// Answered here.
    Refused,
}

impl SipCore {
    /// Checks `req` before its service sees it; a refusal is sent here.
    pub(super) fn admit(
        &mut self,
        key: &Key,
        req: &Request,
        from: &Flow,
        to_tag: &str,
        now: Now,
    ) -> Admission {
        let Some(auth) = self.auth.as_mut() else {
            return Admission::Open;
        };
        let names = self.connections.certificate_names(from);
        let origin = Origin {
            addr: from.remote.ip(),
            certificate_names: names.as_deref().unwrap_or(&[]),
        };
        let checked = auth
            .check(req, origin, now.wall)
            .and_then(|principal| rights::authorize(&principal, req).map(|aor| (principal, aor)));
        match checked {
            Ok((principal, aor)) => {
                metrics::auth_passed(match principal {
                    Principal::User(_) => "user",
                    Principal::Peer { .. } => "peer",
                });
                Admission::As(aor)
            }
            Err(refusal) => {
                metrics::auth_refused(refusal.status);
                if !refusal.is_routine() {
                    if let Some(suppressed) = self.refusals.admit(from.remote.ip(), now.mono) {
                        tracing::warn!(
                            source = %from,
                            method = %req.method,
                            status = refusal.status,
                            reason = refusal.reason,
                            why = %refusal.why,
                            suppressed,
                            "request refused"
                        );
                    }
                }
                let resp = refusal.response(req, to_tag);
                self.send_response(key.clone(), resp, now);
                Admission::Refused
            }
        }
    }
}
