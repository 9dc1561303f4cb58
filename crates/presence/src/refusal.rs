//! Refusals by policy: the requests the engine and the registrar turn away
//! because a bound or an authorization rule says no, rather than because
//! the request is malformed.
//!
//! These are what an operator wants to see (a client stuck in a loop over
//! its subscription bound, a watcher that keeps asking for someone who
//! blocked it) and what an attacker produces by the thousand. The domain
//! is sans-IO and does not log: it reports each one as
//! [`crate::engine::Action::Refused`] beside the response, and the runtime
//! logs it once per source and reason per interval and counts it.

/// Which policy refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The watcher holds `max_subscriptions_per_watcher` subscriptions.
    TooManySubscriptions,
    /// The presentity holds `max_publications_per_presentity`
    /// publications (PIDF or category publications).
    TooManyPublications,
    /// The address-of-record holds `max_bindings_per_aor` bindings.
    TooManyBindings,
    /// The presentity's authorization rules deny this watcher.
    WatcherNotAuthorized,
}

impl Refusal {
    /// A stable name for metrics labels and log fields (snake case, never
    /// changed once published: dashboards and alerts key on it).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooManySubscriptions => "too_many_subscriptions",
            Refusal::TooManyPublications => "too_many_publications",
            Refusal::TooManyBindings => "too_many_bindings",
            Refusal::WatcherNotAuthorized => "watcher_not_authorized",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
