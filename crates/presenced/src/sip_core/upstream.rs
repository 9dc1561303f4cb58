//! The presence provider in the SIP core: `presence::provider::Provider`
//! is sans-IO, and this is its driving code, kept apart from the core
//! loop like the registrar's.
//!
//! - The engine reports each presentity's first and last watcher
//!   (`Engine::take_interest`); presentities in the configured domains
//!   whose source is the upstream (not an attendant pattern, not an
//!   E.164 line: `rules::sources`) become the provider's consumers.
//! - The provider's SUBSCRIBEs leave through client transactions on the
//!   flow to the upstream (our UDP listener's socket, or the connection
//!   `transport::uplink` keeps to a tcp:/tls: upstream); their responses,
//!   timeouts (as 408) and transport errors (as 503) come back to it.
//! - That connection going down loses every subscription it carried: they
//!   are queued as when the upstream loses its dialogs, and started again
//!   through the throttle once it is back up (`Provider::unreachable`,
//!   `Provider::reachable`).
//! - NOTIFYs in its dialogs reach it through the endpoint's in-dialog
//!   dispatch and are answered with the status it gives.
//! - Its state and status changes enter the engine as
//!   `Input::Upstream`: a live upstream's document is a source of the
//!   presentity; anything else takes the source out (presence unknown,
//!   never a stale state).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use presence::provider::change::Shown;
use presence::provider::{Entropy, Output as ProviderOutput, Provider, Status};
use presence::subscriber::{Credentials, Fresh, Identity};
use presence::Input as EngineInput;
use presence::{ProvidedSource, SyncState};
use rules::sources::SourceKind;
use sip::header::Header;
use sip::transaction::Key;
use sip::{HeaderName, Method, Request, Response};

use super::{Now, SipCore};
use crate::config::ProviderSettings;
use crate::control::{ProviderEvent, UpstreamView};
use crate::metrics;
use crate::provided::ProvidedRecord;
use crate::transport::uplink::UplinkEvent;
use crate::transport::Flow;
use tokio::sync::{broadcast, mpsc};

/// What the core needs to run the provider.
#[derive(Debug)]
pub struct UpstreamParts {
    /// The `[provider]` section.
    pub settings: ProviderSettings,
    /// What `transport::uplink` says of the way to the upstream: `Up`
    /// with the flow (a UDP socket toward its resolved address, or the
    /// connection it opened), `Down` with why.
    pub events: mpsc::UnboundedReceiver<UplinkEvent>,
    /// Tells `transport::uplink` that a udp: upstream stopped answering
    /// (a SUBSCRIBE timed out), so its name is resolved again.
    pub suspect: mpsc::UnboundedSender<String>,
}

/// Where the way to the upstream stands, for the API.
#[derive(Debug, Clone)]
enum Connection {
    /// Not up yet since start (resolving, connecting).
    Connecting,
    /// Up.
    Up,
    /// Down, with the last reason.
    Down(String),
}

/// What the operator sees of the presence provider as a whole (the
/// console's upstream page).
#[derive(Debug, Clone)]
pub struct ProviderOverview {
    /// The upstream server, as configured.
    pub upstream: Option<String>,
    /// The way to the upstream: `up` (udp: its name resolved; tcp/tls:
    /// connected), `connecting`, or `down: <why>`.
    pub connection: String,
    /// The counts.
    pub stats: presence::provider::Stats,
    /// Presentities whose upstream subscription is not live, failed
    /// first, with their status and consumers.
    pub not_live: Vec<(String, Status, usize)>,
}

/// The provider and what drives it.
#[derive(Debug)]
pub(super) struct Upstream {
    provider: Provider,
    settings: ProviderSettings,
    /// The flow to the upstream while it is reachable.
    flow: Option<Flow>,
    connection: Connection,
    /// The connection's news, until the core's loop takes them
    /// ([`Upstream::take_events`]).
    events: Option<mpsc::UnboundedReceiver<UplinkEvent>>,
    /// Where a udp: upstream's silence is reported.
    suspect: mpsc::UnboundedSender<String>,
    entropy: KeyedEntropy,
    /// Our SUBSCRIBEs in flight, for their responses (and a 408 or 503
    /// made from the request when none comes).
    txns: sip::hash::HashMap<Key, Box<Request>>,
}

impl Upstream {
    /// The provider for `parts`. It sends nothing until the upstream is
    /// reached ([`SipCore::upstream_up`]), whose flow's address the
    /// Contact then names.
    pub(super) fn new(parts: UpstreamParts) -> Upstream {
        let identity = Identity {
            from: parts.settings.from.clone(),
            // Until a flow names ours, the From stands in: nothing is
            // sent before then.
            contact: parts.settings.from.clone(),
            credentials: parts.settings.credentials.as_ref().map(|c| Credentials {
                username: c.username.clone(),
                password: c.password.clone(),
            }),
        };
        let mut provider = Provider::new(parts.settings.rules.clone(), identity);
        let mut entropy = KeyedEntropy::default();
        // Nothing is watched yet: this only holds the queue.
        provider.unreachable("not connected yet", &mut entropy, std::time::Instant::now());
        Upstream {
            provider,
            settings: parts.settings,
            flow: None,
            connection: Connection::Connecting,
            events: Some(parts.events),
            suspect: parts.suspect,
            entropy,
            txns: sip::hash::map(),
        }
    }

    /// The connection's news, for the core's loop to wait on (once).
    pub(super) fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<UplinkEvent>> {
        self.events.take()
    }

    /// The way to the upstream in words (the API, the console).
    fn connection_text(&self) -> String {
        match &self.connection {
            Connection::Connecting => "connecting".to_owned(),
            Connection::Up => "up".to_owned(),
            Connection::Down(why) => format!("down: {why}"),
        }
    }

    /// The provider's counts and up to `max` presentities that are not
    /// live (`Control::ProviderOverview`, the console's page).
    pub(super) fn overview(&self, max: usize) -> ProviderOverview {
        ProviderOverview {
            upstream: self.settings.upstream.as_ref().map(|u| u.to_string()),
            connection: self.connection_text(),
            stats: self.provider.stats(),
            not_live: self.provider.not_live(max),
        }
    }

    /// When the provider next needs the time.
    pub(super) fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.provider.poll_timeout()
    }

    /// Whether `key` is one of our SUBSCRIBE transactions.
    pub(super) fn owns(&self, key: &Key) -> bool {
        self.txns.contains_key(key)
    }

    /// Whether a dialog of the provider has this Call-ID.
    pub(super) fn has_dialog(&self, call_id: &[u8]) -> bool {
        self.provider.has_dialog(call_id)
    }
}

/// Call-IDs, tags, client nonces and jitter from a keyed hash of a
/// counter: unique by the counter, unguessable by the per-process key
/// (so nobody can forge NOTIFYs into our dialogs), like Via branches.
#[derive(Debug)]
struct KeyedEntropy {
    key: RandomState,
    next: u64,
}

impl Default for KeyedEntropy {
    fn default() -> Self {
        KeyedEntropy {
            key: RandomState::new(),
            next: 0,
        }
    }
}

impl KeyedEntropy {
    fn word(&mut self) -> u64 {
        self.next += 1;
        let mut h = self.key.build_hasher();
        h.write_u64(self.next);
        h.finish()
    }
}

impl Entropy for KeyedEntropy {
    fn fresh(&mut self) -> Fresh {
        Fresh {
            call_id: format!("{:016x}{:016x}", self.word(), self.word()),
            local_tag: format!("{:016x}", self.word()),
            cnonce: format!("{:016x}", self.word()),
        }
    }

    fn unit(&mut self) -> f64 {
        (self.word() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl SipCore {
    /// Tells the provider which presentities gained their first watcher or
    /// lost their last one since the last call.
    pub(super) fn upstream_interest(&mut self, now: Now) {
        let changes = self.engine.take_interest();
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let mut outputs = Vec::new();
        for change in changes {
            let Ok(uri) = sip::Uri::parse_str(&change.presentity) else {
                continue;
            };
            // Attendant and PSTN presentities get their presence through
            // the API; only the fallback source subscribes upstream.
            if up.settings.source_of(&uri) != Some(SourceKind::Upstream) {
                continue;
            }
            if change.watched {
                outputs.extend(up.provider.watch(&uri, &mut up.entropy, now.mono));
            } else {
                outputs.extend(up.provider.unwatch(&uri, now.mono));
            }
        }
        self.carry_out_upstream(outputs, now);
    }

    /// The provider's timers.
    pub(super) fn upstream_timers(&mut self, now: Now) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let outputs = up.provider.on_timeout(&mut up.entropy, now.mono);
        self.carry_out_upstream(outputs, now);
    }

    /// A final response (or its stand-in) to one of our SUBSCRIBEs.
    pub(super) fn upstream_response(
        &mut self,
        key: &Key,
        resp: Option<&Response>,
        status: u16,
        now: Now,
    ) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let Some(req) = up.txns.remove(key) else {
            return;
        };
        if resp.is_none() && up.flow.is_some_and(|f| !f.is_reliable()) {
            // No answer over UDP (Timer F, or the socket refused): the
            // upstream may have moved; its name is resolved again.
            let _ = up
                .suspect
                .send(format!("a SUBSCRIBE got no answer ({status})"));
        }
        let made;
        let resp = match resp {
            Some(resp) => resp,
            None => {
                made = Response::to_request(&req, status, None);
                &made
            }
        };
        let outputs = up.provider.on_response(resp, &mut up.entropy, now.mono);
        self.carry_out_upstream(outputs, now);
    }

    /// A NOTIFY in a dialog of ours: the provider's, or 481.
    pub(super) fn upstream_notify(&mut self, key: Key, req: Request, to_tag: String, now: Now) {
        let (status, outputs) = match self.upstream.as_mut() {
            Some(up) if req.method == Method::Notify => {
                up.provider.on_notify(&req, &mut up.entropy, now.mono)
            }
            _ => (481, Vec::new()),
        };
        let mut resp = Response::to_request(&req, status, Some(&to_tag));
        if status == 481 {
            resp = resp.with_reason("No such subscription");
        }
        self.send_response(key, resp, now);
        self.carry_out_upstream(outputs, now);
    }

    /// Where `presentity`'s upstream subscription stands; `None` when the
    /// provider is off.
    pub(super) fn upstream_view(&self, presentity: &sip::Uri, now: Now) -> Option<UpstreamView> {
        let up = self.upstream.as_ref()?;
        let consumers = up.provider.consumers(presentity);
        let mut view = UpstreamView {
            status: String::new(),
            consumers,
            failures: None,
            reason: None,
            retry_in_secs: None,
            connection: Some(up.connection_text()),
        };
        view.status = match up.provider.status(presentity) {
            None => "unsubscribed",
            Some(status) => {
                match status {
                    Status::Retrying {
                        at,
                        failures,
                        reason,
                    } => {
                        view.failures = Some(*failures);
                        view.reason = Some(reason.clone());
                        view.retry_in_secs = Some(at.saturating_duration_since(now.mono).as_secs());
                    }
                    Status::Failed { reason } => view.reason = Some(reason.clone()),
                    _ => {}
                }
                status_name(status)
            }
        }
        .to_owned();
        Some(view)
    }

    /// The connection to the upstream is up over `flow`: the queued
    /// subscriptions start through the throttle, naming its address.
    pub(super) fn upstream_up(&mut self, flow: Flow, now: Now) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let contact = match sip::Uri::parse_str(&crate::outbound::contact(&flow)) {
            Ok(contact) => contact,
            Err(e) => {
                tracing::error!(%flow, error = %e, "no Contact for the upstream's connection");
                return;
            }
        };
        up.flow = Some(flow);
        up.connection = Connection::Up;
        let outputs = up.provider.reachable(contact, &mut up.entropy, now.mono);
        self.carry_out_upstream(outputs, now);
    }

    /// The connection to the upstream is down (`reason`): the
    /// subscriptions it carried are lost and wait, queued, for the next
    /// connection, as when the upstream loses its dialogs.
    pub(super) fn upstream_down(&mut self, reason: String, now: Now) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        up.connection = Connection::Down(reason.clone());
        if up.flow.take().is_none() {
            return;
        }
        tracing::warn!(%reason, "upstream connection lost; its subscriptions wait for the next one");
        let outputs = up.provider.unreachable(&reason, &mut up.entropy, now.mono);
        self.carry_out_upstream(outputs, now);
    }

    /// Whether `flow` is the upstream's connection (its close notice is
    /// then [`SipCore::upstream_down`] before anything else, so that the
    /// transactions failing with it do not count as refusals).
    pub(super) fn is_upstream_flow(&self, flow: &Flow) -> bool {
        self.upstream
            .as_ref()
            .is_some_and(|up| up.flow.as_ref() == Some(flow) && flow.is_reliable())
    }

    /// Publishes the provider's counts.
    pub(super) fn upstream_stats(&self) {
        if let Some(up) = &self.upstream {
            metrics::set_upstream(&up.provider.stats());
        }
    }

    /// Ends every upstream subscription (shutdown).
    pub(super) fn upstream_shutdown(&mut self, now: Now) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let outputs = up.provider.shutdown();
        tracing::info!(
            subscriptions = outputs.len(),
            "ending upstream subscriptions (Expires: 0)"
        );
        self.carry_out_upstream(outputs, now);
    }

    fn carry_out_upstream(&mut self, outputs: Vec<ProviderOutput>, now: Now) {
        for output in outputs {
            match output {
                ProviderOutput::Send(req) => self.send_upstream(*req, now),
                ProviderOutput::State {
                    presentity,
                    content_type,
                    body,
                } => {
                    tracing::debug!(%presentity, bytes = body.len(), "upstream state");
                    self.log_change(&presentity, Shown::of_pidf(&body, UPSTREAM));
                    self.feed(
                        EngineInput::Upstream {
                            presentity,
                            state: Some((content_type, body)),
                        },
                        now,
                    );
                }
                ProviderOutput::Status { presentity, status } => {
                    log_status(&presentity, &status);
                    if !status.is_live() {
                        self.log_change(&presentity, Shown::unknown(UPSTREAM));
                        self.feed(
                            EngineInput::Upstream {
                                presentity,
                                state: None,
                            },
                            now,
                        );
                    }
                }
                ProviderOutput::Released { presentity } => {
                    tracing::info!(%presentity, "upstream subscription released: no watcher left");
                    self.log_change(&presentity, Shown::unknown(UPSTREAM));
                    self.shown.forget(&presentity);
                    self.feed(
                        EngineInput::Upstream {
                            presentity,
                            state: None,
                        },
                        now,
                    );
                }
            }
        }
    }

    /// One log line per change of what consumers are shown (seed 004's
    /// `PreviousPresence` / `NewPresence` line).
    pub(super) fn log_change(&mut self, presentity: &str, shown: Shown) {
        if let Some(change) = self.shown.record(presentity, shown) {
            let previous = change
                .previous
                .as_ref()
                .map_or_else(|| "[]".to_owned(), ToString::to_string);
            tracing::info!(%presentity, %previous, new = %change.new, "presence change");
            // No stream listening is no error.
            let _ = self
                .provider_events
                .send(self.provider_event(presentity, &change.new));
        }
    }

    /// A consumer of the API's event stream starts watching `presentity`
    /// (served by `source`): counted like a watcher; what it is shown now
    /// and the changes to come.
    pub(super) fn provider_watch(
        &mut self,
        presentity: &str,
        source: &'static str,
    ) -> (ProviderEvent, broadcast::Receiver<ProviderEvent>) {
        self.engine.count_consumer(presentity, true);
        let shown = self
            .shown
            .last(presentity)
            .cloned()
            .unwrap_or_else(|| Shown::unknown(source));
        (
            self.provider_event(presentity, &shown),
            self.provider_events.subscribe(),
        )
    }

    /// What the event stream says of `shown`.
    fn provider_event(&self, presentity: &str, shown: &Shown) -> ProviderEvent {
        // The upstream's own status while it has one (queued, pending,
        // live, retrying, failed); otherwise known or not yet.
        let upstream = self
            .upstream
            .as_ref()
            .filter(|_| shown.source == UPSTREAM)
            .and_then(|up| {
                let uri = sip::Uri::parse_str(presentity).ok()?;
                up.provider.status(&uri).map(status_name)
            });
        let status = upstream.unwrap_or(match shown.availability {
            Some(_) => "live",
            None => "pending",
        });
        ProviderEvent {
            presentity: presentity.to_owned(),
            availability: shown.availability.map(|a| a.value()),
            class: shown.availability.map(|a| a.class().to_string()),
            activity: shown.activity.clone(),
            note: shown.note.clone(),
            source: shown.source.to_owned(),
            status: status.to_owned(),
        }
    }

    /// An attendant's or a PSTN line's state from the API: stored (a
    /// commit everything after it waits for), applied, and `done` told
    /// once it is on disk.
    pub(super) fn provided_request(
        &mut self,
        presentity: String,
        source: ProvidedSource,
        state: Option<SyncState>,
        done: tokio::sync::oneshot::Sender<bool>,
        now: Now,
    ) {
        let write = match &state {
            Some(state) => ProvidedRecord::of(&presentity, source, state).write(),
            None => ProvidedRecord::delete(&presentity, source),
        };
        if let Some(ticket) = self.gate.reserve() {
            self.store.submit(ticket, vec![write]);
        }
        self.provided(presentity, source, state, now);
        self.gate.after_commits(move |ok| {
            let _ = done.send(ok);
        });
    }

    /// Puts the stored attendant and PSTN states back (at start, before
    /// the restored subscriptions are notified).
    pub(super) fn restore_provided(&mut self, now: Now) -> Result<(), crate::store::StoreError> {
        let records = self.store.load_provided()?;
        let n = records.len();
        for record in records {
            match record.state() {
                Ok((source, state)) => self.provided(record.presentity, source, Some(state), now),
                Err(error) => tracing::warn!(%error, "stored provider state skipped"),
            }
        }
        if n > 0 {
            tracing::info!(states = n, "attendant and PSTN states restored");
        }
        Ok(())
    }

    /// An attendant's or a PSTN line's state: into the presentity as its
    /// source, and logged as a change.
    fn provided(
        &mut self,
        presentity: String,
        source: ProvidedSource,
        state: Option<SyncState>,
        now: Now,
    ) {
        let name = match source {
            ProvidedSource::Attendant => SourceKind::Attendant.as_str(),
            ProvidedSource::Pstn => SourceKind::Pstn.as_str(),
        };
        let shown = match &state {
            Some(state) => Shown {
                availability: Some(state.availability),
                activity: None,
                note: state
                    .texts
                    .get(presence::availability::Lcid::EN_US)
                    .map(str::to_owned),
                source: name,
            },
            None => Shown::unknown(name),
        };
        self.log_change(&presentity, shown);
        self.feed(
            EngineInput::Provided {
                presentity,
                source,
                state,
            },
            now,
        );
    }

    /// Starts a client transaction for one of the provider's SUBSCRIBEs.
    fn send_upstream(&mut self, mut req: Request, now: Now) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let Some(flow) = up.flow else {
            // Only an unsubscription (a release, shutdown) can come out
            // while the upstream is unreachable: its dialog went with the
            // connection.
            tracing::debug!(uri = %req.uri, "upstream unreachable: request not sent");
            return;
        };
        let (via, branch) = self.vias.next(&flow);
        req.headers
            .push_front(Header::new(HeaderName::Via, via.clone()));
        let bytes = Bytes::from(req.encode());
        match self.layer.send_encoded_request(
            &Method::Subscribe,
            &via[branch],
            bytes,
            flow,
            false,
            now.mono,
        ) {
            Ok((key, outputs)) => {
                // Kept with its Via: a 408 or 503 standing in for a
                // response that never came is made from it.
                up.txns.insert(key.clone(), Box::new(req));
                self.carry_out_for(Some(key), outputs, now);
            }
            Err(e) => {
                tracing::error!(error = %e, "upstream SUBSCRIBE refused by the transaction layer");
            }
        }
    }
}

/// A status's name in the API and the metrics.
fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Queued => "queued",
        Status::Pending => "pending",
        Status::Live => "live",
        Status::Retrying { .. } => "retrying",
        Status::Failed { .. } => "failed",
    }
}

/// The upstream source's name in logs.
const UPSTREAM: &str = SourceKind::Upstream.as_str();

/// One log line per status change, as seed 004's provider logs them.
fn log_status(presentity: &str, status: &Status) {
    match status {
        Status::Live => tracing::info!(%presentity, "upstream subscription live"),
        Status::Queued => tracing::debug!(%presentity, "upstream subscription queued"),
        Status::Pending => tracing::debug!(%presentity, "upstream subscription pending"),
        Status::Retrying {
            failures, reason, ..
        } => {
            tracing::warn!(%presentity, failures, %reason, "upstream subscription failed; retrying")
        }
        Status::Failed { reason } => {
            tracing::warn!(%presentity, %reason, "upstream subscription given up")
        }
    }
}
