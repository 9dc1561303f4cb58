//! What an authenticated principal may do: publish and register only as
//! itself unless the configuration grants a delegate right, and watch
//! only as itself.
//!
//! The engine and the registrar read the watcher from the From header and
//! the publisher's presentity from the Request-URI (the registrar's AOR
//! from the To). Checking those against the principal here, before
//! either sees the request, is what makes them the authenticated
//! identity: a SUBSCRIBE's From must *be* the signed-in user (a watcher
//! cannot borrow someone else's permissions), while PUBLISH, SERVICE and
//! REGISTER may also name a user the principal is a delegate for.

use sip::{HeaderAccess, Method, Request};

use super::{Principal, Refusal};

/// Checks `req` against what `principal` may do; on success, the AOR the
/// request acts for.
pub fn authorize(principal: &Principal, req: &Request) -> Result<String, Refusal> {
    let refuse = |reason: &'static str, label: &'static str, target: &str| Refusal {
        status: 403,
        reason,
        label,
        challenges: Vec::new(),
        why: format!("{} may not act for {target}", principal.describe()),
    };
    match req.method {
        Method::Register => {
            let to = req
                .header_to()
                .map(|n| n.uri.aor())
                .map_err(|_| unreadable("To"))?;
            if !principal.may_act_for(&to) {
                return Err(refuse(
                    "Not allowed to register this address",
                    "not_allowed_to_register",
                    &to,
                ));
            }
            Ok(to)
        }
        Method::Publish | Method::Service => {
            let target = req.uri.aor();
            if !principal.may_act_for(&target) {
                return Err(refuse(
                    "Not allowed to publish for this presentity",
                    "not_allowed_to_publish",
                    &target,
                ));
            }
            Ok(target)
        }
        _ => {
            let from = req
                .header_from()
                .map(|n| n.uri.aor())
                .map_err(|_| unreadable("From"))?;
            let own = match principal {
                Principal::User(user) => user.aor == from,
                // A peer watches for the users it serves.
                Principal::Peer { .. } => principal.may_act_for(&from),
            };
            if !own {
                return Err(refuse(
                    "From is not the authenticated user",
                    "from_not_authenticated_user",
                    &from,
                ));
            }
            Ok(from)
        }
    }
}

fn unreadable(header: &str) -> Refusal {
    Refusal {
        status: 400,
        reason: "Unreadable From or To",
        label: "unreadable_from_or_to",
        challenges: Vec::new(),
        why: format!("unreadable {header}"),
    }
}
