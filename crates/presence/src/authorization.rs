//! Who may watch whom: the watcher authorization policy.
//!
//! RFC 3856 §6.6 leaves the policy to the server; presenced's is one of
//! three, chosen in `[presence.authorization]`:
//!
//! - [`Authorization::AllowAll`]: every watcher (a closed deployment whose
//!   proxy already authenticated everyone);
//! - [`Authorization::SameDomain`]: watchers of the presentity's own domain
//!   (colleagues see each other, strangers do not);
//! - [`Authorization::AllowList`]: listed AORs and domains; the rest are
//!   refused, or left pending until the presentity (or an operator)
//!   decides through `Engine::authorize`.
//!
//! A presentity may always watch itself: its own clients show it the state
//! they composed to, and refusing that only breaks them.

/// The policy, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Authorization {
    /// Every watcher is allowed.
    #[default]
    AllowAll,
    /// Watchers whose AOR domain equals the presentity's.
    SameDomain,
    /// Watchers on the list are allowed; `unlisted` says what happens to
    /// the others.
    AllowList {
        /// AORs (`sip:bob@example.com`) or domains (`@example.com`).
        allow: Vec<String>,
        /// The fate of watchers not on the list.
        unlisted: Unlisted,
    },
}

/// What [`Authorization::AllowList`] does with a watcher not on its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unlisted {
    /// Refuse with 403.
    #[default]
    Reject,
    /// Accept the subscription as pending: the watcher learns nothing until
    /// someone decides.
    Pending,
}

/// The policy's answer for one watcher of one presentity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Subscribe as active.
    Allow,
    /// Subscribe as pending.
    Pending,
    /// Answer 403.
    Deny,
}

impl Authorization {
    /// Decides for `watcher` (an AOR) subscribing to `presentity` (an AOR).
    pub fn decide(&self, watcher: &str, presentity: &str) -> Decision {
        if watcher == presentity {
            return Decision::Allow;
        }
        match self {
            Authorization::AllowAll => Decision::Allow,
            Authorization::SameDomain => match (domain(watcher), domain(presentity)) {
                (Some(w), Some(p)) if w.eq_ignore_ascii_case(p) => Decision::Allow,
                _ => Decision::Deny,
            },
            Authorization::AllowList { allow, unlisted } => {
                let listed = allow.iter().any(|entry| match entry.strip_prefix('@') {
                    Some(d) => domain(watcher).is_some_and(|w| w.eq_ignore_ascii_case(d)),
                    None => entry == watcher,
                });
                match (listed, unlisted) {
                    (true, _) => Decision::Allow,
                    (false, Unlisted::Pending) => Decision::Pending,
                    (false, Unlisted::Reject) => Decision::Deny,
                }
            }
        }
    }
}

/// The host of an AOR (`sip:user@host` → `host`); `tel:` numbers and
/// other schemes have none, so [`Authorization::SameDomain`] refuses them.
fn domain(aor: &str) -> Option<&str> {
    let rest = aor
        .strip_prefix("sip:")
        .or_else(|| aor.strip_prefix("sips:"))?;
    Some(rest.rsplit_once('@').map_or(rest, |(_, host)| host))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "sip:alice@example.com";

    #[test]
    fn allow_all_and_self() {
        assert_eq!(
            Authorization::AllowAll.decide("tel:+1", ALICE),
            Decision::Allow
        );
        assert_eq!(
            Authorization::SameDomain.decide(ALICE, ALICE),
            Decision::Allow
        );
    }

    #[test]
    fn same_domain() {
        let p = Authorization::SameDomain;
        assert_eq!(p.decide("sip:bob@EXAMPLE.com", ALICE), Decision::Allow);
        assert_eq!(p.decide("sips:bob@example.com", ALICE), Decision::Allow);
        assert_eq!(p.decide("sip:eve@example.org", ALICE), Decision::Deny);
        assert_eq!(p.decide("tel:+31612345678", ALICE), Decision::Deny);
    }

    #[test]
    fn allow_list() {
        let list = |unlisted| Authorization::AllowList {
            allow: vec!["sip:bob@example.org".into(), "@example.net".into()],
            unlisted,
        };
        let p = list(Unlisted::Reject);
        assert_eq!(p.decide("sip:bob@example.org", ALICE), Decision::Allow);
        assert_eq!(p.decide("sip:carol@example.net", ALICE), Decision::Allow);
        assert_eq!(p.decide("sip:eve@example.org", ALICE), Decision::Deny);
        assert_eq!(
            list(Unlisted::Pending).decide("sip:eve@example.org", ALICE),
            Decision::Pending
        );
    }
}
