//! Prometheus metrics: every name, label and help text lives here.
//!
//! The rest of the server calls the small functions below instead of the
//! `metrics` macros, so a metric is spelled once and a typo cannot create
//! a second series. Until [`install`] runs, the calls are no-ops (the
//! `metrics` facade has no recorder), which keeps unit tests free of global
//! state.
//!
//! The recorder is process-wide: [`install`] sets it up once and every
//! later call returns the same [`PrometheusHandle`], so several servers in
//! one test process share it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics::{Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::TransportKind;

/// Subscriptions by state (`active`, `pending`).
pub const SUBSCRIPTIONS: &str = "presenced_subscriptions";
/// Live publications.
pub const PUBLICATIONS: &str = "presenced_publications";
/// Presentities with state (published or provisioned).
pub const PRESENTITIES: &str = "presenced_presentities";
/// The presence provider's counts.
pub fn set_upstream(stats: &presence::provider::Stats) {
    for (status, n) in [
        ("live", stats.live),
        ("pending", stats.pending),
        ("queued", stats.queued),
        ("retrying", stats.retrying),
        ("failed", stats.failed),
    ] {
        gauge!(UPSTREAM_SUBSCRIPTIONS, "status" => status).set(n as f64);
    }
    gauge!(UPSTREAM_CONSUMERS).set(stats.consumers as f64);
    gauge!(UPSTREAM_CONSUMERS_MAX).set(stats.max_consumers as f64);
    gauge!(UPSTREAM_THROTTLE_QUEUE).set(stats.throttle_queue as f64);
    counter!(UPSTREAM_RESUBSCRIPTIONS).absolute(stats.resubscriptions);
}

/// Registrar bindings held.
pub const BINDINGS: &str = "presenced_registrar_bindings";
/// NOTIFY requests sent.
pub const NOTIFY_SENT: &str = "presenced_notify_sent_total";
/// NOTIFY requests that failed (error response, timeout, transport error).
pub const NOTIFY_FAILED: &str = "presenced_notify_failed_total";
/// SIP messages received, by transport.
pub const MESSAGES_RECEIVED: &str = "presenced_messages_received_total";
/// SIP messages dropped, by reason.
pub const MESSAGES_DROPPED: &str = "presenced_messages_dropped_total";
/// Durable store transactions committed.
pub const STORE_COMMITS: &str = "presenced_store_commits_total";
/// Durable store transactions that failed.
pub const STORE_COMMIT_FAILURES: &str = "presenced_store_commit_failures_total";
/// How long one durable store commit took.
pub const STORE_COMMIT_SECONDS: &str = "presenced_store_commit_seconds";
/// Configuration reloads, by result.
pub const CONFIG_RELOADS: &str = "presenced_config_reloads_total";
/// Requests refused by authentication or rights, by status.
pub const AUTH_REFUSALS: &str = "presenced_auth_refusals_total";
/// Every refusal (flood limits, authentication, rights, the engine's
/// bounds and authorization), by reason.
pub const REFUSALS: &str = "presenced_refusals_total";
/// Requests let through by authentication, by kind of principal.
pub const AUTH_PASSED: &str = "presenced_auth_passed_total";
/// Requests refused by a flood limit, by limit (source, user) and answer
/// (503, silent).
pub const FLOOD_REFUSALS: &str = "presenced_flood_refusals_total";
/// Gauge: the presence provider's upstream subscriptions, by status.
pub const UPSTREAM_SUBSCRIPTIONS: &str = "presenced_upstream_subscriptions";
/// Gauge: consumers (watched presentities' watchers) of upstream subscriptions.
pub const UPSTREAM_CONSUMERS: &str = "presenced_upstream_consumers";
/// The most consumers of one presentity.
pub const UPSTREAM_CONSUMERS_MAX: &str = "presenced_upstream_consumers_per_presentity_max";
/// Presentities waiting for the throttle.
pub const UPSTREAM_THROTTLE_QUEUE: &str = "presenced_upstream_throttle_queue";
/// Counter: upstream subscriptions restored or retried.
pub const UPSTREAM_RESUBSCRIPTIONS: &str = "presenced_upstream_resubscriptions_total";
/// Gauge: 1 while the connection to a tcp:/tls: upstream is up, else 0.
pub const UPSTREAM_CONNECTED: &str = "presenced_upstream_connected";
/// Counter: failed connection attempts to the upstream and connections
/// that ended.
pub const UPSTREAM_CONNECT_FAILURES: &str = "presenced_upstream_connect_failures_total";

/// Whether the upstream's connection is up.
pub fn set_upstream_connected(up: bool) {
    gauge!(UPSTREAM_CONNECTED).set(if up { 1.0 } else { 0.0 });
}

/// One more failed attempt or lost connection to the upstream.
pub fn upstream_connect_failed() {
    counter!(UPSTREAM_CONNECT_FAILURES).increment(1);
}

/// Gauge: the sync engine's bound agents.
pub const SYNC_AGENTS: &str = "presenced_sync_agents";
/// Counter: events sent toward contact centers, by event (`dnd`,
/// `status`).
pub const SYNC_EVENTS: &str = "presenced_sync_events_total";

/// The sync engine's bound agents.
pub fn set_sync_agents(count: usize) {
    gauge!(SYNC_AGENTS).set(count as f64);
}

/// One event for a contact center (`dnd` or `status`).
pub fn sync_event(event: &'static str) {
    counter!(SYNC_EVENTS, "event" => event).increment(1);
}

/// Gauge: entries of the merged company directory, by origin.
pub const DIRECTORY_ENTRIES: &str = "presenced_directory_entries";
/// Counter: LDAP refreshes of the directory, by result.
pub const DIRECTORY_REFRESHES: &str = "presenced_directory_refreshes_total";
/// Gauge: 1 while the last LDAP refresh succeeded, 0 while it fails.
pub const DIRECTORY_UP: &str = "presenced_directory_up";
/// Gauge: when the last LDAP refresh succeeded (Unix time, seconds).
pub const DIRECTORY_LAST_SUCCESS: &str = "presenced_directory_last_success_timestamp_seconds";

/// Histogram: NOTIFY latency, from the core's turn that made the change
/// to the NOTIFY handed to the transport (`crate::latency` defines it).
pub const NOTIFY_LATENCY: &str = "presenced_notify_latency_seconds";

/// NOTIFY latency buckets: from well under a millisecond (a memory store,
/// no fan-out) to seconds (a slow disk under a large fan-out).
const NOTIFY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Commit latency buckets: an fsync takes from ~50 µs (NVMe with a write
/// cache) to tens of milliseconds (spinning disk, network storage).
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Why metrics could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot install the Prometheus recorder: {0}")]
pub struct MetricsError(String);

/// Installs the Prometheus recorder (once per process) and describes every
/// metric; returns the handle that renders the text format. Fails only if
/// some other recorder was installed first.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    UNREAD.store(false, Ordering::Relaxed);
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(STORE_COMMIT_SECONDS.to_owned()),
                    &COMMIT_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(NOTIFY_LATENCY.to_owned()),
                        &NOTIFY_BUCKETS,
                    )
                })
                .and_then(|b| b.install_recorder())
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(MetricsError)
}

/// Help texts, and a zero value for every series, so a scrape shows every
/// metric from the start (a counter that never moved is still listed).
fn describe() {
    describe_gauge!(
        SUBSCRIPTIONS,
        "Subscriptions (RFC 6665 dialogs) by state: active or pending authorization."
    );
    describe_gauge!(PUBLICATIONS, "Live publications (RFC 3903).");
    describe_gauge!(
        PRESENTITIES,
        "Presentities with state: published or provisioned."
    );
    describe_gauge!(
        BINDINGS,
        "Registrar bindings (RFC 3261 §10), including those waiting out the grace period of their closed connection."
    );
    describe_counter!(NOTIFY_SENT, "NOTIFY requests sent.");
    describe_counter!(
        NOTIFY_FAILED,
        "NOTIFY requests that failed: error response, timeout or transport error."
    );
    describe_counter!(MESSAGES_RECEIVED, "SIP messages received, by transport.");
    describe_counter!(
        MESSAGES_DROPPED,
        "SIP messages dropped without being processed, by reason."
    );
    describe_counter!(
        STORE_COMMITS,
        "Durable store transactions committed (one per group commit)."
    );
    describe_counter!(
        STORE_COMMIT_FAILURES,
        "Durable store transactions that failed; their 2xx became 500, and \
         after one the store refuses every write until a restart."
    );
    describe_counter!(
        CONFIG_RELOADS,
        "Configuration reloads (file change or SIGHUP): applied, unchanged, or \
         refused as invalid (the running configuration was kept; alert on it)."
    );
    describe_counter!(
        AUTH_REFUSALS,
        "Requests refused before a service saw them, by status: 401/407 \
         (challenge, stale nonce, replayed nonce count), 403 (wrong \
         credentials, no right to act for that user), 400."
    );
    describe_counter!(
        REFUSALS,
        "Every request refused, by reason: source_rate_limit, user_rate_limit, \
         wrong_credentials, stale_nonce, replayed_nonce, not_allowed_to_publish, \
         not_allowed_to_register, from_not_authenticated_user, \
         peer_may_not_assert, too_many_subscriptions, too_many_publications, \
         too_many_bindings, watcher_not_authorized, and the rarer ones \
         docs/security.md lists. Each (source, reason) is logged once per \
         limits.log_interval_secs."
    );
    describe_counter!(
        AUTH_PASSED,
        "Requests authenticated, by principal: user (digest) or peer (trusted)."
    );
    describe_counter!(
        FLOOD_REFUSALS,
        "Requests refused by a flood limit, by limit (source: per source address, \
         user: per user) and answer (503 with Retry-After, or silent for a source \
         past twice its limit)."
    );
    describe_gauge!(
        UPSTREAM_SUBSCRIPTIONS,
        "The presence provider's upstream subscriptions by status: live, pending \
         (sent or pending upstream), queued (waiting for the throttle), retrying \
         (after a failure) and failed (given up)."
    );
    describe_gauge!(
        UPSTREAM_CONSUMERS,
        "Watchers counted by the presence provider: one per watched presentity \
         per single subscription or batch."
    );
    describe_gauge!(
        UPSTREAM_CONSUMERS_MAX,
        "The most consumers of one presentity (consumers per presentity: the \
         mean is presenced_upstream_consumers over the subscriptions)."
    );
    describe_gauge!(
        UPSTREAM_THROTTLE_QUEUE,
        "Presentities waiting in the throttle's queue for their upstream SUBSCRIBE \
         (max_presence_subscriptions_per_second)."
    );
    describe_counter!(
        UPSTREAM_RESUBSCRIPTIONS,
        "Upstream subscriptions restored after the upstream ended or lost them, \
         or retried after a failure."
    );
    describe_gauge!(
        UPSTREAM_CONNECTED,
        "1 while the connection to a tcp: or tls: upstream is up, 0 while it is \
         not (the upstream subscriptions wait for it)."
    );
    describe_counter!(
        UPSTREAM_CONNECT_FAILURES,
        "Failed connection attempts to a tcp: or tls: upstream (refused, \
         timed out, TLS handshake or certificate failure, unresolvable name) \
         and connections to it that ended."
    );
    describe_gauge!(
        SYNC_AGENTS,
        "Contact-center agents bound by the sync engine."
    );
    describe_counter!(
        SYNC_EVENTS,
        "Events the sync engine sent toward contact centers, by event: dnd \
         (EventDNDOn/Off) or status (a UC-derived status change)."
    );
    describe_histogram!(
        NOTIFY_LATENCY,
        Unit::Seconds,
        "NOTIFY latency: from the core's turn that made the state change to \
         the NOTIFY handed to the transport, store commit and fan-out included."
    );
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        Unit::Seconds,
        "Duration of one durable store commit, fsync included."
    );
    set_subscriptions(0, 0);
    set_publications(0);
    set_presentities(0);
    set_bindings(0);
    counter!(NOTIFY_SENT).absolute(0);
    counter!(NOTIFY_FAILED).absolute(0);
    for transport in [TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls] {
        counter!(MESSAGES_RECEIVED, "transport" => transport.as_str()).absolute(0);
    }
    for reason in DropReason::ALL {
        counter!(MESSAGES_DROPPED, "reason" => reason.as_str()).absolute(0);
    }
    counter!(STORE_COMMITS).absolute(0);
    counter!(STORE_COMMIT_FAILURES).absolute(0);
    for result in ReloadResult::ALL {
        counter!(CONFIG_RELOADS, "result" => result.as_str()).absolute(0);
    }
    for limit in ["source", "user"] {
        for answer in ["503", "silent"] {
            counter!(FLOOD_REFUSALS, "limit" => limit, "answer" => answer).absolute(0);
        }
    }
    set_upstream(&presence::provider::Stats::default());
    describe_gauge!(
        DIRECTORY_ENTRIES,
        "Entries of the merged company directory by origin (ldap, room, gateway, \
         agent); an entry with two origins counts in both."
    );
    describe_counter!(
        DIRECTORY_REFRESHES,
        "LDAP refreshes of the company directory: ok, or failed (the last good \
         directory was kept; alert on it)."
    );
    describe_gauge!(
        DIRECTORY_UP,
        "1 while the last LDAP refresh of the directory succeeded, 0 while it fails."
    );
    describe_gauge!(
        DIRECTORY_LAST_SUCCESS,
        "When the last LDAP refresh of the directory succeeded, in seconds since the Unix epoch."
    );
    set_directory_entries(&rules::AddressBook::default());
    for result in ["ok", "failed"] {
        counter!(DIRECTORY_REFRESHES, "result" => result).absolute(0);
    }
    set_sync_agents(0);
    for event in ["dnd", "status"] {
        counter!(SYNC_EVENTS, "event" => event).absolute(0);
    }
    // Registered without a sample, so its buckets are listed from the start.
    let _ = histogram!(STORE_COMMIT_SECONDS);
    let _ = histogram!(NOTIFY_LATENCY);
}

/// The engine's counts, after each step that may change them.
pub fn set_subscriptions(active: usize, pending: usize) {
    gauge!(SUBSCRIPTIONS, "state" => "active").set(active as f64);
    gauge!(SUBSCRIPTIONS, "state" => "pending").set(pending as f64);
}

/// Live publications.
pub fn set_publications(count: usize) {
    gauge!(PUBLICATIONS).set(count as f64);
}

/// Presentities with state.
pub fn set_presentities(count: usize) {
    gauge!(PRESENTITIES).set(count as f64);
}

/// Registrar bindings held.
pub fn set_bindings(count: usize) {
    gauge!(BINDINGS).set(count as f64);
}

/// The per-source limit's counters, looked up once: the transports count
/// every refused datagram of a flood (tens of thousands a second), and a
/// handle is one atomic add where `counter!` hashes the name and labels
/// and searches the registry each time. Made after [`install`] (the
/// server starts its transports after the HTTP side installed the
/// recorder); made before, they count nowhere.
#[derive(Clone)]
pub struct SourceRefusalCounters {
    answered: metrics::Counter,
    silent: metrics::Counter,
    refused: metrics::Counter,
}

impl std::fmt::Debug for SourceRefusalCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceRefusalCounters")
    }
}

impl SourceRefusalCounters {
    /// Handles to `presenced_flood_refusals_total{limit="source"}` and
    /// `presenced_refusals_total{reason}`.
    pub fn new(reason: &'static str) -> SourceRefusalCounters {
        SourceRefusalCounters {
            answered: counter!(FLOOD_REFUSALS, "limit" => "source", "answer" => "503"),
            silent: counter!(FLOOD_REFUSALS, "limit" => "source", "answer" => "silent"),
            refused: counter!(REFUSALS, "reason" => reason),
        }
    }

    /// One datagram refused with `verdict`.
    pub fn count(&self, verdict: crate::flood::Verdict) {
        match verdict {
            crate::flood::Verdict::Silence => self.silent.increment(1),
            _ => self.answered.increment(1),
        }
        self.refused.increment(1);
    }
}

/// One request refused by the `limit` ("source" or "user") flood limit.
pub fn flood_refused(limit: &'static str, verdict: crate::flood::Verdict) {
    counter!(FLOOD_REFUSALS, "limit" => limit, "answer" => verdict.as_str()).increment(1);
}

/// One NOTIFY handed to the transaction layer.
pub fn notify_sent() {
    if unread_now() {
        return;
    }
    static SENT: OnceLock<Counter> = OnceLock::new();
    let register = || counter!(NOTIFY_SENT);
    match handle(&SENT, register) {
        Some(sent) => sent.increment(1),
        None => register().increment(1),
    }
}

/// Set when this process serves no HTTP (`[http] listen = "off"`) and
/// no recorder was installed: nothing can read a metric, so the
/// per-message metrics skip their work (building a key for the no-op
/// recorder cost about 300 instructions of a NOTIFY exchange). Cleared by
/// [`install`].
static UNREAD: AtomicBool = AtomicBool::new(false);

/// This process will serve no metrics: see [`UNREAD`]. Without effect
/// once [`install`] has run.
pub fn unread() {
    if HANDLE.get().is_none() {
        UNREAD.store(true, Ordering::Relaxed);
    }
}

/// Whether the per-message metrics may skip their work.
fn unread_now() -> bool {
    UNREAD.load(Ordering::Relaxed)
}

/// A metric's handle, registered once with the installed recorder: the
/// per-message metrics (a message received, a NOTIFY sent and its
/// latency) otherwise build their key and look it up in the registry on
/// every call, a few hundred instructions each of a NOTIFY exchange's
/// budget. `None` until [`install`] has run, so a handle is never taken
/// from the no-op recorder that precedes it (the caller then uses the
/// macro, which is what it did before).
fn handle<T: Clone>(
    slot: &'static OnceLock<T>,
    register: impl FnOnce() -> T,
) -> Option<&'static T> {
    HANDLE.get()?.as_ref().ok()?;
    Some(slot.get_or_init(register))
}

/// One NOTIFY that got an error response, timed out or could not be sent.
pub fn notify_failed() {
    counter!(NOTIFY_FAILED).increment(1);
}

/// One SIP message received (before parsing), on `transport`.
pub fn message_received(transport: TransportKind) {
    if unread_now() {
        return;
    }
    static RECEIVED: [OnceLock<Counter>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match transport {
        TransportKind::Udp => &RECEIVED[0],
        TransportKind::Tcp => &RECEIVED[1],
        TransportKind::Tls => &RECEIVED[2],
    };
    let register = || counter!(MESSAGES_RECEIVED, "transport" => transport.as_str());
    match handle(slot, register) {
        Some(received) => received.increment(1),
        None => register().increment(1),
    }
}

/// Why a message was dropped: a closed set, so the `reason` label has
/// bounded values (never text from the message itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Could not be parsed (answered 400 when it was a request).
    Unparsable,
    /// The core's queue was full (answered 503).
    Overload,
    /// A response that matches no client transaction.
    StrayResponse,
    /// An outgoing message that could not be sent.
    SendFailed,
}

impl DropReason {
    /// Every reason, for pre-registering the series.
    pub const ALL: [DropReason; 4] = [
        DropReason::Unparsable,
        DropReason::Overload,
        DropReason::StrayResponse,
        DropReason::SendFailed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Unparsable => "unparsable",
            DropReason::Overload => "overload",
            DropReason::StrayResponse => "stray_response",
            DropReason::SendFailed => "send_failed",
        }
    }
}

/// One SIP message dropped.
pub fn message_dropped(reason: DropReason) {
    counter!(MESSAGES_DROPPED, "reason" => reason.as_str()).increment(1);
}

/// One durable store transaction, and how long it took.
pub fn store_committed(elapsed: Duration) {
    counter!(STORE_COMMITS).increment(1);
    histogram!(STORE_COMMIT_SECONDS).record(elapsed.as_secs_f64());
}

/// One NOTIFY was handed to the transport `latency` after its change.
pub fn notify_latency(latency: std::time::Duration) {
    if unread_now() {
        return;
    }
    static LATENCY: OnceLock<Histogram> = OnceLock::new();
    let register = || histogram!(NOTIFY_LATENCY);
    match handle(&LATENCY, register) {
        Some(seconds) => seconds.record(latency.as_secs_f64()),
        None => register().record(latency.as_secs_f64()),
    }
}

/// One durable store transaction that failed. Counted apart from the
/// log line so an alert can fire on it: `/health` stays `ok` while every
/// write is refused.
pub fn store_commit_failed() {
    counter!(STORE_COMMIT_FAILURES).increment(1);
}

/// How a configuration reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    /// Valid, with changes that were applied.
    Applied,
    /// Valid, with nothing that applies live changed.
    Unchanged,
    /// Invalid: refused, the running configuration kept.
    Refused,
}

impl ReloadResult {
    /// Every result, for registering the series at start.
    pub const ALL: [ReloadResult; 3] = [
        ReloadResult::Applied,
        ReloadResult::Unchanged,
        ReloadResult::Refused,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Refused => "refused",
        }
    }
}

/// A configuration reload ended with `result`.
pub fn config_reloaded(result: ReloadResult) {
    counter!(CONFIG_RELOADS, "result" => result.as_str()).increment(1);
}

/// A request refused by authentication or rights with `status`.
pub fn auth_refused(status: u16) {
    let status = match status {
        401 => "401",
        403 => "403",
        407 => "407",
        _ => "400",
    };
    counter!(AUTH_REFUSALS, "status" => status).increment(1);
}

/// One request refused for `reason` (see [`crate::refusal_log`]).
pub fn refused(reason: &'static str) {
    counter!(REFUSALS, "reason" => reason).increment(1);
}

/// A request authenticated as a `user` or a `peer`.
pub fn auth_passed(principal: &'static str) {
    counter!(AUTH_PASSED, "principal" => principal).increment(1);
}

/// The merged directory's counts, after each rebuild.
pub fn set_directory_entries(book: &rules::AddressBook) {
    use rules::Origin;
    for (origin, name) in [
        (Origin::Ldap, "ldap"),
        (Origin::Room, "room"),
        (Origin::Gateway, "gateway"),
        (Origin::Agent, "agent"),
    ] {
        gauge!(DIRECTORY_ENTRIES, "origin" => name).set(book.count(origin) as f64);
    }
}

/// One LDAP refresh of the directory ended, at `now`.
pub fn directory_refreshed(ok: bool, now: std::time::SystemTime) {
    let result = if ok { "ok" } else { "failed" };
    counter!(DIRECTORY_REFRESHES, "result" => result).increment(1);
    gauge!(DIRECTORY_UP).set(if ok { 1.0 } else { 0.0 });
    if ok {
        let secs = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        gauge!(DIRECTORY_LAST_SUCCESS).set(secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one series in the rendered text, 0 when absent.
    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// The cached handles count into the installed recorder: what a
    /// scrape shows moves with every call, per transport label.
    #[test]
    fn cached_handles_reach_the_scrape() {
        let handle = install().expect("our recorder");
        // A recorder is installed: saying the metrics go unread changes
        // nothing (the HTTP listener of another server may read them).
        unread();
        let udp = "presenced_messages_received_total{transport=\"udp\"}";
        let tls = "presenced_messages_received_total{transport=\"tls\"}";
        let sent = "presenced_notify_sent_total";
        let before = handle.render();
        message_received(TransportKind::Udp);
        message_received(TransportKind::Udp);
        message_received(TransportKind::Tls);
        notify_sent();
        notify_latency(Duration::from_micros(50));
        let after = handle.render();
        // Other tests of this process may count too: at least ours.
        assert!(value(&after, udp) >= value(&before, udp) + 2.0);
        assert!(value(&after, tls) >= value(&before, tls) + 1.0);
        assert!(value(&after, sent) >= value(&before, sent) + 1.0);
        assert!(
            value(&after, "presenced_notify_latency_seconds_count")
                >= value(&before, "presenced_notify_latency_seconds_count") + 1.0
        );
    }
}
