//! Authentication, publisher rights and the per-user flood limit in the
//! SIP core: between the router, which said which service a request is
//! for, and the service.
//!
//! The decisions are [`crate::auth`]'s (sans-IO, unit-tested with explicit
//! time); this is the driving code: it gives the authenticator the
//! request's origin and the time of the turn, sends the refusal it
//! returns, counts it, and logs it once per source and reason per
//! interval ([`crate::refusal_log`]).

use sip::transaction::Key;
use sip::{HeaderAccess, Request};

use super::{Now, SipCore};
use crate::auth::{rights, Origin, Principal};
use crate::flood::Verdict;
use crate::metrics;
use crate::transport::source_limit::rate_limited;
use crate::transport::Flow;

/// Whether a request may reach its service.
pub(super) enum Admission {
    /// Authentication is off: the request speaks for whom it says.
    Open,
    /// Authenticated.
    As {
        /// The AOR it acts for: itself, or a user it is a delegate or
        /// trusted peer for.
        aor: String,
        /// Who is speaking: the signed-in user, or the identity a
        /// trusted peer asserted.
        speaker: String,
    },
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
        let admission = self.authenticate(key, req, from, to_tag, now);
        // The per-user limit counts what a user asks for, whoever it is
        // signed in as: the authenticated identity, or (authentication
        // off) the From's AOR.
        if matches!(admission, Admission::Refused) {
            return Admission::Refused;
        }
        // Without a per-user limit there is no user to find (the From's
        // URI and AOR were a parse and a `format!` on every request).
        let Some(limiter) = &self.flood.user else {
            return admission;
        };
        if self
            .flood
            .exempt
            .iter()
            .any(|n| n.contains(from.remote.ip()))
        {
            return admission;
        }
        let user = match &admission {
            Admission::As { speaker, .. } => Some(speaker.clone()),
            _ => req.header_from_uri().ok().map(|uri| uri.aor()),
        };
        let Some(user) = user else {
            return admission;
        };
        let verdict = limiter.check(&user);
        let Verdict::Refuse { retry_after_secs } = verdict else {
            if verdict == Verdict::Silence {
                self.flood_refused(&user, from, verdict, now);
                return Admission::Refused;
            }
            return admission;
        };
        self.flood_refused(&user, from, verdict, now);
        let resp = rate_limited(req, retry_after_secs, to_tag);
        self.send_response(key.clone(), resp, now);
        Admission::Refused
    }

    fn flood_refused(&mut self, user: &str, from: &Flow, verdict: Verdict, now: Now) {
        const REASON: &str = "user_rate_limit";
        metrics::flood_refused("user", verdict);
        if self.flood.refusals.note(from.remote.ip(), REASON, now.mono) {
            tracing::warn!(
                source = %from,
                %user,
                reason = REASON,
                answer = verdict.as_str(),
                "request refused: over the per-user rate limit"
            );
        }
    }

    /// Authentication and rights (see the module's doc); a refusal is
    /// sent here.
    fn authenticate(
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
                Admission::As {
                    aor,
                    speaker: principal.identity().to_owned(),
                }
            }
            Err(refusal) => {
                metrics::auth_refused(refusal.status);
                let ip = from.remote.ip();
                if !refusal.is_routine() && self.flood.refusals.note(ip, refusal.label, now.mono) {
                    tracing::warn!(
                        source = %from,
                        method = %req.method,
                        status = refusal.status,
                        reason = refusal.label,
                        phrase = refusal.reason,
                        why = %refusal.why,
                        "request refused"
                    );
                }
                let resp = refusal.response(req, to_tag);
                self.send_response(key.clone(), resp, now);
                Admission::Refused
            }
        }
    }
}
