//! The SIP core task: the one owner of the transaction layer and of the
//! presence engine.
//!
//! This is the quinn-proto driver pattern. The transaction layer
//! (`sip::transaction::Layer`) and the presence engine
//! (`presence::Engine`) are pure state machines; this task feeds them and
//! carries out what they ask, in one documented loop:
//!
//! 1. wait for whichever comes first: shutdown, the next timer of either
//!    machine (`poll_timeout`), a store commit, a closed connection, or a
//!    message from the transports' queue;
//! 2. feed it in;
//! 3. carry out every output in order. `Transmit` goes to the connection
//!    table; a new request goes through the endpoint policy and, if the
//!    core does not answer it, to the engine. The engine's actions are
//!    responses, NOTIFYs and store writes; **whatever follows a store
//!    write waits until that write is durable** (the "nothing lost" rule:
//!    a 2xx leaves only after its commit, decided by the sans-IO
//!    [`CommitGate`]). Writes are submitted without waiting and
//!    group-committed by the store, whose acknowledgements are one of the
//!    inputs of step 1;
//! 4. if a fan-out is under way, build its next chunk of NOTIFYs
//!    (`Engine::poll_fanout`) and carry them out, so they leave while the
//!    rest wait and the watchers' 200s are taken in between; the engine
//!    keeps at most a quarter of the inbound queue's depth of NOTIFYs on
//!    the wire, so their 200s cannot crowd new requests out of the queue;
//! 5. go back to 1, which recomputes the next timer.
//!
//! The clock is read once per turn of the loop ([`Now`]) and passed down,
//! so everything a turn decides (timers, expiries, the NOTIFYs of a batch
//! of messages) agrees on one time, and the machines it drives are tested
//! with explicit time.
//!
//! Nothing in this task waits on a socket or a disk: sends are `try_send`s
//! that fail (and are logged) rather than block the core behind one slow
//! peer, and commits happen on the store's own thread.

mod admission;
mod registration;
mod sync;
mod upstream;

pub use upstream::{ProviderOverview, UpstreamParts};

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, Network};
use crate::commit_gate::{CommitGate, Pass};
use crate::config::Timers;
use crate::control::Control;
use crate::directory::AgentRoster;
use crate::endpoint::{Context, DialogId, Dialogs, Dispatch, Endpoint};
use crate::flood::Limiter;
use crate::history::{Change, Recent};
use crate::latency::Chunk;
use crate::metrics::{self, DropReason};
use crate::outbound::{self, Vias};
use crate::refusal_log::Refusals;
use crate::router::Service;
use crate::store::{encode_ops, Commits, Committed, Store, StoreError};
use crate::sync::{EventLog, SyncHub};
use crate::transport::source_limit::SourceGate;
use crate::transport::uplink::UplinkEvent;
use crate::transport::{log_drop, Connections, Flow, Inbound, Outbox, TransportKind};
use admission::Admission;
use bytes::Bytes;
use presence::notify::Notify;
use presence::{
    Action, Engine, Input as EngineInput, NotifyId, NotifyOutcome, Registrar, StoreOp, FANOUT_CHUNK,
};
use sip::transaction::{Config, Input, Key, Layer, Output};
use sip::{Method, Request, Response};

/// Changes of provider state buffered per API event stream; a stream
/// that falls further behind is told to read the state again.
const PROVIDER_EVENTS: usize = 1024;

/// How often the gauges (subscriptions, publications) are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// How long a NOTIFY's origin is kept waiting for it to be sent: far
/// beyond any commit and fan-out, so only a NOTIFY never sent is dropped.
const ORIGIN_KEPT: Duration = Duration::from_secs(120);

/// How long shutdown waits for the responses held for a commit.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);

/// Most messages taken from the transports' queue per turn of the loop:
/// one turn's fixed cost (the select, the timer computation, the flush)
/// is shared by a batch, yet timers and commits still get their turn
/// between batches.
const INBOUND_BATCH: usize = 64;

/// The time of one turn of the core's loop, read once: the transaction
/// layer runs on the monotonic clock, the engine on wall-clock time (its
/// expiries are stored and must survive a restart).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for the transaction layer and the loop's timers.
    pub mono: Instant,
    /// Wall-clock time, for the engine.
    pub wall: SystemTime,
}

impl Now {
    /// Reads both clocks.
    pub fn read() -> Now {
        Now {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// A wall-clock deadline of the engine as a monotonic one.
    fn mono_of(&self, at: SystemTime) -> Instant {
        self.mono + at.duration_since(self.wall).unwrap_or_default()
    }
}

/// What the core is built from.
pub struct CoreParts {
    /// RFC 3261 timer values.
    pub timers: Timers,
    /// The stateless policy.
    pub endpoint: Endpoint,
    /// The presence engine, already restored by [`SipCore::restore`] or
    /// fresh.
    pub engine: Engine<Flow>,
    /// The durable store (or the memory-only one).
    pub store: Store,
    /// The connection table to send through.
    pub connections: Connections,
    /// The registrar (REGISTER bindings), restored with the engine.
    pub registrar: Registrar<Flow>,
    /// Authentication and publisher rights; `None` when `[auth]` is off.
    pub auth: Option<Authenticator>,
    /// The presence provider, when `[provider] upstream` is set.
    pub upstream: Option<UpstreamParts>,
    /// The sync engine's agents (empty until [`SipCore::restore`]).
    pub sync: SyncHub,
    /// The sync engine's event log, shared with the HTTP side.
    pub events: EventLog,
    /// The agents' statuses for the company directory, shared with it.
    pub agents: Arc<AgentRoster>,
    /// Presentities' recent changes and NOTIFY latency, shared with the
    /// HTTP side.
    pub recent: Arc<Recent>,
    /// Flood limits.
    pub flood: Flood,
}

/// The flood limits the core applies or maintains (see [`crate::flood`]).
#[derive(Debug, Default)]
pub struct Flood {
    /// The transports' per-source limit: the core only forgets its idle
    /// sources, once a second.
    pub source: Option<Arc<SourceGate>>,
    /// The per-user limit, checked after authentication.
    pub user: Option<Limiter<String>>,
    /// Sources never limited (`limits.exempt` and trusted peers).
    pub exempt: Vec<Network>,
    /// The one refusal log, shared with the transports' source gate: the
    /// core writes its intervals' counts once a second.
    pub refusals: Arc<Refusals>,
}

/// The core: transaction layer, endpoint policy, presence engine, store.
pub struct SipCore {
    layer: Layer<Flow>,
    endpoint: Endpoint,
    engine: Engine<Flow>,
    registrar: Registrar<Flow>,
    store: Store,
    commits: Option<Commits>,
    connections: Connections,
    /// UDP datagrams of the current step, flushed at its end.
    outbox: Outbox,
    vias: Vias,
    /// Server transactions the engine has yet to answer, by engine txn id.
    txns: sip::hash::HashMap<u64, Key>,
    next_txn: u64,
    /// Engine actions waiting for commits, in order.
    gate: CommitGate<Flow>,
    /// Engine actions from the current step, not yet carried out.
    actions: VecDeque<Action<Flow>>,
    /// When the gauges are refreshed next.
    next_stats: Instant,
    /// Our Contact URI per listener (transport, local address).
    contacts: HashMap<(TransportKind, std::net::SocketAddr), sip::Uri>,
    /// Authentication in front of the services; `None` when off.
    auth: Option<Authenticator>,
    /// The presence provider (sip_core/upstream.rs).
    upstream: Option<upstream::Upstream>,
    /// What the presence provider's consumers were last shown per
    /// presentity (any of its sources), for the change log lines.
    shown: presence::provider::change::Changes,
    /// Each change of what provider consumers are shown, for the API's
    /// event streams (each filters its presentity).
    provider_events: tokio::sync::broadcast::Sender<crate::control::ProviderEvent>,
    /// The sync engine's agents (sip_core/sync.rs).
    sync: SyncHub,
    /// Where the sync engine's events go.
    events: EventLog,
    /// Where the agents' statuses go for the company directory.
    agents: Arc<AgentRoster>,
    /// Where presentities' changes and NOTIFY latencies go.
    recent: Arc<Recent>,
    /// When the change each held NOTIFY carries was made (the turn's
    /// clock), by NOTIFY id, until it is handed to the transport
    /// (`crate::latency`). A NOTIFY sent in the step that queued it is not
    /// entered: its origin is that step's clock, or the fan-out's
    /// ([`SipCore::chunk`], [`Chunk::origin`]), which saves two lookups per
    /// NOTIFY.
    notify_origin: sip::hash::HashMap<u64, Instant>,
    /// The turn the fan-out under way began in, if one is.
    fanout_since: Option<Instant>,
    /// The fan-out chunk being stepped, whose NOTIFYs count from the
    /// fan-out's first turn.
    chunk: Option<Chunk>,
    /// An empty vector the transaction layer's outputs are collected in
    /// on the hot paths (see [`SipCore::carry_out_from`]); a nested call
    /// finds it taken and starts a new one.
    spare_outputs: Vec<Output<Flow>>,
    /// The string every NOTIFY's Via is written in before it is copied
    /// into the NOTIFY, kept to save an allocation per NOTIFY.
    via: String,
    /// Flood limits.
    flood: Flood,
}

impl SipCore {
    /// A core sending through `parts.connections`.
    pub fn new(parts: CoreParts) -> Self {
        let config = Config {
            t1: parts.timers.t1,
            t2: parts.timers.t2,
            t4: parts.timers.t4,
            ..Config::default()
        };
        let commits = parts.store.commits();
        let gate = CommitGate::new(!parts.store.is_memory());
        let upstream = parts.upstream.map(upstream::Upstream::new);
        let mut engine = parts.engine;
        // Every change is noted for the presentities' history.
        engine.record_changes(true);
        SipCore {
            layer: Layer::new(config),
            endpoint: parts.endpoint,
            engine,
            registrar: parts.registrar,
            store: parts.store,
            commits,
            connections: parts.connections,
            outbox: Outbox::default(),
            vias: Vias::default(),
            txns: sip::hash::map(),
            next_txn: 0,
            gate,
            actions: VecDeque::new(),
            next_stats: Instant::now(),
            contacts: HashMap::new(),
            auth: parts.auth,
            upstream,
            shown: Default::default(),
            provider_events: tokio::sync::broadcast::channel(PROVIDER_EVENTS).0,
            sync: parts.sync,
            agents: parts.agents,
            recent: parts.recent,
            notify_origin: Default::default(),
            fanout_since: None,
            chunk: None,
            spare_outputs: Vec::new(),
            via: String::new(),
            events: parts.events,
            flood: parts.flood,
        }
    }

    /// Reloads the stored publications and subscriptions into the engine:
    /// expired ones are deleted, and every live watcher gets a NOTIFY with
    /// the current state once the core runs. The sync engine's agents go
    /// first, so those NOTIFYs already carry each agent's last state.
    pub fn restore(&mut self) -> Result<(), StoreError> {
        self.restore_sync(Now::read())?;
        self.restore_provided(Now::read())?;
        self.engine.restore_roaming(self.store.load_roaming()?);
        let (publications, subscriptions) = self.store.load::<Flow>()?;
        let (p, s) = (publications.len(), subscriptions.len());
        let actions = self
            .engine
            .restore(publications, subscriptions, SystemTime::now());
        // The gauges say what was restored before any request arrives.
        self.publish_stats();
        let stats = self.engine.stats();
        tracing::info!(
            publications = p,
            subscriptions = s,
            live_publications = stats.publications,
            live_subscriptions =
                stats.subscriptions_active + stats.subscriptions_pending + stats.winfo,
            "state restored"
        );
        self.actions.extend(actions);
        self.restore_bindings()
    }

    /// Runs the driver loop until cancelled or every transport is gone,
    /// then drains: held responses and in-flight NOTIFYs get up to
    /// `DRAIN_LIMIT` to finish, and the store is flushed.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut closed: mpsc::UnboundedReceiver<Flow>,
        mut control: mpsc::Receiver<Control>,
        cancel: CancellationToken,
    ) {
        self.step(Now::read());
        let mut commits = self.commits.take();
        let mut uplink = self.upstream.as_mut().and_then(|u| u.take_events());
        let mut received = Vec::with_capacity(INBOUND_BATCH);
        // One timer for the life of the loop, moved only when the next
        // wake-up moves: a new `sleep_until` per turn registered and
        // removed an entry in the runtime's timer wheel every turn, for a
        // deadline that rarely changes.
        let sleep = tokio::time::sleep_until(self.next_wake(Now::read()));
        tokio::pin!(sleep);
        // Likewise the cancellation: a fresh `cancelled()` per turn joined
        // and left the token's list of waiters (a lock each way). The
        // commit and uplink branches are off when there is nothing to
        // wait for (the memory store, no upstream), instead of a future
        // that never finishes being made and polled every turn.
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let wake = self.next_wake(Now::read());
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
            tokio::select! {
                // Commits and timers before new work, so a flood of
                // requests cannot starve retransmissions, expiries and the
                // responses waiting on the disk.
                biased;
                _ = &mut cancelled => break,
                done = next_commit(&mut commits), if commits.is_some() => {
                    match done {
                        Some(done) => self.committed(done, Now::read()),
                        None => commits = None,
                    }
                }
                _ = &mut sleep => self.timers(Now::read()),
                event = next_uplink(&mut uplink), if uplink.is_some() => {
                    let now = Now::read();
                    match event {
                        Some(UplinkEvent::Up(flow)) => self.upstream_up(flow, now),
                        Some(UplinkEvent::Down { reason }) => self.upstream_down(reason, now),
                        None => uplink = None,
                    }
                }
                flow = closed.recv(), if !closed.is_closed() => {
                    if let Some(flow) = flow {
                        tracing::debug!(%flow, "flow closed");
                        let now = Now::read();
                        if self.is_upstream_flow(&flow) {
                            self.upstream_down("connection closed".to_owned(), now);
                        }
                        // NOTIFYs waiting on the connection fail now, not
                        // at Timer F: no response can come on it any more.
                        let failed = self.layer.peer_closed(&flow, now.mono);
                        self.carry_out(failed, now);
                        self.registrar.flow_closed(&flow, now.wall);
                        self.feed(EngineInput::FlowClosed { flow }, now);
                    }
                }
                request = control.recv(), if !control.is_closed() => {
                    if let Some(request) = request {
                        self.control(request, Now::read());
                    }
                }
                n = inbound.recv_many(&mut received, INBOUND_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    // One clock for the batch: its messages arrived
                    // together, and a read per message costs more than
                    // the microseconds it would resolve.
                    let now = Now::read();
                    for Inbound { msg, flow } in received.drain(..) {
                        metrics::message_received(flow.transport);
                        let input = Input::Received { msg, from: flow, reliable: flow.is_reliable() };
                        let mut outputs = std::mem::take(&mut self.spare_outputs);
                        self.layer.handle_into(input, now.mono, &mut outputs);
                        self.spare_outputs = self.carry_out_from(None, outputs, now);
                        // Each message's consequences in order, as before
                        // batching: a response may wait on a commit.
                        self.step(now);
                    }
                }
                // Last: a fan-out under way builds its next chunk below,
                // so the loop must not sleep while one is.
                _ = std::future::ready(()), if self.engine.has_fanout() => {}
            }
            let now = Now::read();
            self.step(now);
            if self.engine.has_fanout() {
                // One chunk per turn: its NOTIFYs leave at the flush below
                // while the rest are still to be built, and the watchers'
                // 200s are taken between chunks. Their latency counts
                // from the turn the fan-out began.
                let since = *self.fanout_since.get_or_insert(now.mono);
                let actions = self.engine.poll_fanout(now.wall, FANOUT_CHUNK);
                let ids = actions.iter().filter_map(|action| match action {
                    Action::Notify { id, .. } => Some(id.0),
                    _ => None,
                });
                self.chunk = Chunk::of(ids, since);
                self.actions.extend(actions);
                self.step(now);
                self.chunk = None;
            } else {
                self.fanout_since = None;
            }
            self.outbox.flush();
            if now.mono >= self.next_stats {
                self.refresh_stats(now);
            }
        }
        self.drain(commits).await;
    }

    /// Updates the gauges and gives back the room a burst took. Runs on its
    /// own timer (see [`SipCore::next_wake`]), so an idle server's gauges
    /// are as fresh as a busy one's: a server restarted with thousands of
    /// publications says so before any request arrives.
    fn refresh_stats(&mut self, now: Now) {
        self.publish_stats();
        self.upstream_stats();
        metrics::set_sync_agents(self.sync.len());
        // A NOTIFY the engine dropped unsent (its dialog ended while it
        // waited for a commit) leaves its origin behind: forget it.
        self.notify_origin
            .retain(|_, origin| now.mono.saturating_duration_since(*origin) < ORIGIN_KEPT);
        shrink_after_burst(&mut self.notify_origin);
        shrink_after_burst(&mut self.txns);
        if let Some(gate) = &self.flood.source {
            gate.forget_idle();
        }
        if let Some(users) = &self.flood.user {
            users.forget_idle();
        }
        self.flood.refusals.tick(now.mono);
        self.next_stats = now.mono + STATS_INTERVAL;
    }

    /// When the loop must wake without traffic: the earlier of the two
    /// machines' next timers and the next refresh of the gauges.
    fn next_wake(&self, now: Now) -> tokio::time::Instant {
        let mut at = self.next_stats;
        if let Some(layer) = self.layer.poll_timeout() {
            at = at.min(layer);
        }
        if let Some(engine) = self.engine.poll_timeout() {
            at = at.min(now.mono_of(engine));
        }
        if let Some(registrar) = self.registrar.poll_timeout() {
            at = at.min(now.mono_of(registrar));
        }
        if let Some(upstream) = self.upstream.as_ref().and_then(|u| u.poll_timeout()) {
            at = at.min(upstream);
        }
        tokio::time::Instant::from_std(at)
    }

    fn timers(&mut self, now: Now) {
        let outputs = self.layer.handle_timeout(now.mono);
        self.carry_out(outputs, now);
        let actions = self.engine.handle_timeout(now.wall);
        self.actions.extend(actions);
        let actions = self.registrar.handle_timeout(now.wall);
        self.actions.extend(actions);
        self.upstream_timers(now);
    }

    /// Carries out an operator request.
    fn control(&mut self, request: Control, now: Now) {
        match request {
            Control::Authorize {
                presentity,
                watcher,
                allow,
                done,
            } => {
                tracing::info!(%presentity, %watcher, allow, "watcher authorization");
                let actions = self
                    .engine
                    .authorize(&presentity, &watcher, allow, now.wall);
                self.actions.extend(actions);
                let _ = done.send(());
            }
            Control::Reconfigure { services, done } => {
                self.feed(EngineInput::Reconfigure { services }, now);
                let _ = done.send(());
            }
            Control::Sync { request, done } => self.sync_request(request, done, now),
            Control::SyncRules { rules, done } => {
                self.sync_rules(rules, now);
                let _ = done.send(());
            }
            Control::Occupancy {
                room,
                participants,
                done,
            } => {
                tracing::info!(%room, participants, "room occupancy");
                self.feed(EngineInput::Occupancy { room, participants }, now);
                let _ = done.send(());
            }
            // Contact lists (presence::contacts): a PUT is answered only
            // once its store write is durable, through the commit gate.
            Control::ProviderOverview { max, done } => {
                let _ = done.send(self.upstream.as_ref().map(|u| u.overview(max)));
            }
            Control::SyncAgents { max, done } => {
                let _ = done.send(self.sync.overview(max));
            }
            Control::Shown { presentities, done } => {
                let shown = presentities.iter().map(|p| self.engine.shown(p)).collect();
                let _ = done.send(shown);
            }
            Control::Provided {
                presentity,
                source,
                state,
                done,
            } => {
                self.provided_request(presentity, source, state, done, now);
            }
            Control::ProviderWatch {
                presentity,
                source,
                done,
            } => {
                let _ = done.send(Some(self.provider_watch(&presentity, source)));
            }
            Control::ProviderUnwatch { presentity } => {
                self.engine.count_consumer(&presentity, false);
            }
            Control::UpstreamStatus { presentity, done } => {
                let _ = done.send(self.upstream_view(&presentity, now));
            }
            Control::GetContacts { user, done } => {
                let _ = done.send(self.engine.contact_lists().record_of(&user));
            }
            Control::PutContacts { user, list, done } => {
                let op = presence::ContactOp::Replace { user, list };
                match self.engine.change_contacts(op, now.wall) {
                    Err(e) => {
                        let _ = done.send(Err(e.into()));
                    }
                    Ok((change, actions)) => {
                        let stored = self.engine.contact_lists().record_of(&change.user);
                        self.actions.extend(actions);
                        self.step(now); // submits the write
                        self.gate.after_commits(move |ok| {
                            let _ = done.send(match ok {
                                true => stored.map_err(Into::into),
                                false => Err(crate::control::ContactsRefused::Storage),
                            });
                        });
                    }
                }
            }
        }
    }

    /// Feeds the engine and queues what it asks.
    fn feed(&mut self, input: EngineInput<Flow>, now: Now) {
        let actions = self.engine.handle(input, now.wall);
        self.actions.extend(actions);
    }

    /// Carries out queued engine actions until none is left (step 3),
    /// through the commit gate. An action's consequences (a NOTIFY that
    /// fails at once, say) may queue more; they run in the same step.
    fn step(&mut self, now: Now) {
        self.sync_tracked(now);
        self.record_history(now);
        if self.upstream.is_some() {
            self.upstream_interest(now);
        }
        while let Some(action) = self.actions.pop_front() {
            let notify = match &action {
                Action::Notify { id, .. } => Some(id.0),
                _ => None,
            };
            match self.gate.admit(action) {
                Pass::Now(action) => self.carry_out_action(action, now),
                Pass::Write(ticket, ops) => self.submit(ticket, ops, now),
                Pass::Held => {
                    // It leaves at a commit, in a later turn: keep when
                    // its change was made.
                    if let Some(id) = notify {
                        let origin = Chunk::origin(self.chunk.as_ref(), id, now.mono);
                        self.notify_origin.entry(id).or_insert(origin);
                    }
                }
            }
        }
    }

    /// Keeps what the presentities that changed since the last step show
    /// now, in their history (`crate::history`).
    fn record_history(&mut self, now: Now) {
        let changed = self.engine.take_changed();
        if changed.is_empty() {
            return;
        }
        let changes: Vec<(String, Change)> = changed
            .into_iter()
            .map(|presentity| {
                let change = Change::of(&self.engine.shown(&presentity), now.wall);
                (presentity, change)
            })
            .collect();
        self.recent.history.record(changes);
    }

    fn carry_out_action(&mut self, action: Action<Flow>, now: Now) {
        match action {
            Action::Respond { txn, resp } => self.respond(txn, resp, now),
            Action::Notify {
                id,
                req,
                flow,
                reliable,
            } => self.notify(id, req, flow, reliable, now),
            // The gate never returns a write as an action to carry out.
            Action::Store(ops) => self.submit(None, ops, now),
            Action::Refused {
                refusal,
                flow,
                subject,
            } => {
                let reason = refusal.as_str();
                if self.flood.refusals.note(flow.remote.ip(), reason, now.mono) {
                    tracing::warn!(source = %flow, reason, %subject, "request refused by policy");
                }
            }
        }
    }

    /// Hands a write to the store under its gate ticket (none for the
    /// memory store, which keeps nothing).
    fn submit(&mut self, ticket: Option<u64>, ops: Vec<StoreOp<Flow>>, now: Now) {
        ops.iter().for_each(|op| log_change(op, now.wall));
        let Some(ticket) = ticket else {
            return;
        };
        match encode_ops(&ops) {
            Ok(writes) => self.store.submit(ticket, writes),
            Err(e) => {
                // Records are our own types; failing to encode one is a
                // bug. The change is not durable, so its 2xx must not be
                // given: the commit counts as failed.
                tracing::error!(error = %e, "cannot encode a store record");
                self.release(ticket, false, now);
            }
        }
    }

    /// A commit finished: release what waited for it, up to the next
    /// commit still pending.
    fn committed(&mut self, done: Committed, now: Now) {
        if let Err(e) = &done.result {
            tracing::error!(error = %e, "store commit failed; answering 500");
        }
        self.release(done.ticket, done.result.is_ok(), now);
    }

    fn release(&mut self, ticket: u64, ok: bool, now: Now) {
        match self.gate.committed(ticket, ok) {
            Ok(released) => {
                for action in released {
                    self.carry_out_action(action, now);
                }
            }
            Err(e) => tracing::error!(error = %e, "store acknowledged out of order"),
        }
    }
}

/// Whether a remote target carries a `;gruu` or `;gr=` parameter (a GRUU,
/// RFC 5627 and [MS-SIPRE]): it then names one device. Each `;` is found
/// by a vectorised search and the name after it compared, where two
/// sliding-window scans of the target cost 300 instructions per NOTIFY.
fn names_a_gruu(target: &[u8]) -> bool {
    memchr::memchr_iter(b';', target).any(|at| {
        let rest = &target[at + 1..];
        rest.starts_with(b"gruu") || rest.starts_with(b"gr=")
    })
}

impl SipCore {
    /// Sends the engine's answer in its server transaction.
    fn respond(&mut self, txn: u64, resp: Response, now: Now) {
        let Some(key) = self.txns.remove(&txn) else {
            tracing::warn!(
                txn,
                status = resp.status,
                "response for an unknown transaction"
            );
            return;
        };
        self.send_response(key, resp, now);
    }

    fn send_response(&mut self, key: Key, resp: Response, now: Now) {
        match self.layer.send_response(key.clone(), resp, now.mono) {
            Ok(outputs) => self.carry_out_for(Some(key), outputs, now),
            Err(e) => tracing::warn!(error = %e, "response refused by the transaction layer"),
        }
    }

    /// Starts the NOTIFY's client transaction on the subscription's flow.
    /// A stream flow that has closed cannot be reused, and this server
    /// opens no connections to watchers: the send fails, the layer reports
    /// a transport error (RFC 3261 §17.1.4), and the engine ends the
    /// subscription (RFC 6665 §4.2.2), so the watcher's next refresh gets
    /// 481 and it subscribes afresh.
    fn notify(&mut self, id: NotifyId, req: Notify, flow: Flow, reliable: bool, now: Now) {
        // A held NOTIFY's origin was kept; one sent in the step that
        // queued it has the step's. The turn's clock is the origin's; this
        // one is read now, so a NOTIFY sent in its change's own turn
        // counts its build.
        let origin = match self.notify_origin.remove(&id.0) {
            Some(origin) => origin,
            None => Chunk::origin(self.chunk.as_ref(), id.0, now.mono),
        };
        self.recent.notify_latency.record(origin, Instant::now());
        let (flow, reliable) = self.deliverable(&req, flow, reliable, now);
        let mut via = std::mem::take(&mut self.via);
        let branch = self.vias.write_for_notify(&flow, id.0, &mut via);
        let benotify = req.is_benotify();
        let bytes = Bytes::from(req.into_wire_with_via(via.as_bytes()));
        if benotify {
            self.via = via;
            self.benotify(id, bytes, flow, now);
            return;
        }
        let mut outputs = std::mem::take(&mut self.spare_outputs);
        let started = self.layer.send_encoded_request_into(
            &Method::Notify,
            &via[branch],
            bytes,
            (flow, reliable),
            now.mono,
            &mut outputs,
        );
        self.via = via;
        match started {
            Ok(key) => {
                metrics::notify_sent();
                self.spare_outputs = self.carry_out_from(Some(key), outputs, now);
            }
            Err(e) => {
                self.spare_outputs = outputs;
                tracing::error!(error = %e, "NOTIFY refused by the transaction layer");
                metrics::notify_failed();
                self.feed(
                    EngineInput::NotifyOutcome {
                        id,
                        outcome: NotifyOutcome::TransportError,
                    },
                    now,
                );
            }
        }
    }

    /// The flow a NOTIFY goes on: the subscription's own while it is open;
    /// once that connection has closed (this server opens none toward
    /// clients), the connection of a live registrar binding its remote
    /// target names — a client that reconnected and registered again, or
    /// a GRUU — so a dialog outlives the connection it was made on.
    fn deliverable(&self, req: &Notify, flow: Flow, reliable: bool, now: Now) -> (Flow, bool) {
        let target = req.target();
        // A GRUU names one device: its binding's connection is where that
        // device is now, even when the old connection's close has not been
        // noticed yet. An AOR may name several; only a closed flow is
        // replaced by one of them.
        let gruu = names_a_gruu(target);
        if !gruu && self.connections.is_usable(&flow) {
            return (flow, reliable);
        }
        let Ok(uri) = sip::Uri::parse(bytes::Bytes::copy_from_slice(target)) else {
            return (flow, reliable);
        };
        let bound = self
            .registrar
            .targets(&uri, now.wall)
            .into_iter()
            .find(|t| t.connected && t.reliable && self.connections.is_usable(&t.flow));
        match bound {
            Some(t) if t.flow != flow => {
                tracing::debug!(old = %flow, new = %t.flow, "NOTIFY follows the watcher's binding");
                (t.flow, t.reliable)
            }
            _ => (flow, reliable),
        }
    }

    /// Sends a BENOTIFY ([MS-SIP]): a NOTIFY the watcher does not answer,
    /// so no client transaction waits for a response or retransmits; the
    /// engine only asks for one over a stream, where the connection does
    /// the delivering. Its outcome is known once it is written.
    fn benotify(&mut self, id: NotifyId, bytes: Bytes, flow: Flow, now: Now) {
        let outcome = match self.connections.send(&mut self.outbox, &flow, bytes) {
            Ok(()) => {
                metrics::notify_sent();
                NotifyOutcome::Response(200)
            }
            Err(e) => {
                metrics::notify_failed();
                metrics::message_dropped(DropReason::SendFailed);
                log_drop(
                    flow.transport,
                    flow.remote,
                    format_args!("BENOTIFY not sent: {e}"),
                    None,
                );
                NotifyOutcome::TransportError
            }
        };
        self.feed(EngineInput::NotifyOutcome { id, outcome }, now);
    }

    /// Tells the engine how a NOTIFY ended.
    /// A NOTIFY's transaction ended with `outcome`. Its branch carries
    /// its id (`outbound::Branches`), so the key names it; a key of any
    /// other transaction names none.
    fn notify_done(&mut self, key: &Key, outcome: NotifyOutcome, now: Now) {
        let notify = (key.role() == sip::transaction::Role::Client
            && *key.method() == Method::Notify)
            .then(|| key.branch_number())
            .flatten()
            .and_then(crate::outbound::notify_of_branch);
        if let Some(id) = notify.map(NotifyId) {
            if !matches!(outcome, NotifyOutcome::Response(s) if (200..300).contains(&s)) {
                metrics::notify_failed();
            }
            self.feed(EngineInput::NotifyOutcome { id, outcome }, now);
        }
    }

    fn carry_out(&mut self, outputs: Vec<Output<Flow>>, now: Now) {
        self.carry_out_for(None, outputs, now);
    }

    /// Carries out layer outputs until none are left.
    ///
    /// Each output is paired with the transaction it came from when that is
    /// known, so that a failed send can be reported to the layer
    /// (RFC 3261 §17.2.4, §17.1.4). `Output::Transmit` does not name its
    /// transaction, so failed retransmissions from timers are only logged.
    fn carry_out_for(&mut self, origin: Option<Key>, outputs: Vec<Output<Flow>>, now: Now) {
        self.carry_out_from(origin, outputs, now);
    }

    /// [`SipCore::carry_out_for`], giving back the emptied vector: the hot
    /// paths (a 200 to a NOTIFY, a NOTIFY's first transmission) hand the
    /// layer the same one again ([`SipCore::spare_outputs`]) instead of
    /// allocating one per message.
    fn carry_out_from(
        &mut self,
        origin: Option<Key>,
        mut buffer: Vec<Output<Flow>>,
        now: Now,
    ) -> Vec<Output<Flow>> {
        // The outputs in order, then what a failed send adds (in the order
        // of the failures). Nearly every call is one or two outputs and no
        // failure, so the outputs are not copied into a queue up front.
        let mut outputs = buffer.drain(..);
        let mut failures: VecDeque<(Key, Output<Flow>)> = VecDeque::new();
        loop {
            let (origin, output) = match outputs.next() {
                Some(output) => (origin.as_ref(), output),
                None => match failures.pop_front() {
                    Some((key, output)) => {
                        self.carry_out_one(Some(&key), output, &mut failures, now);
                        continue;
                    }
                    None => break,
                },
            };
            self.carry_out_one(origin, output, &mut failures, now);
        }
        drop(outputs);
        buffer
    }

    /// One output of the transaction layer; a send that fails queues the
    /// transaction's transport-error outputs on `failures`.
    fn carry_out_one(
        &mut self,
        origin: Option<&Key>,
        output: Output<Flow>,
        failures: &mut VecDeque<(Key, Output<Flow>)>,
        now: Now,
    ) {
        match output {
            Output::Transmit { to, bytes } => {
                if let Err(e) = self.connections.send(&mut self.outbox, &to, bytes) {
                    metrics::message_dropped(DropReason::SendFailed);
                    log_drop(
                        to.transport,
                        to.remote,
                        format_args!("outgoing message not sent: {e}"),
                        None,
                    );
                    if let Some(key) = origin {
                        let failed = self.layer.transport_error(key.clone(), now.mono);
                        failures.extend(failed.into_iter().map(|o| (key.clone(), o)));
                    }
                }
            }
            Output::Request { key, req, from } => self.request(key, *req, from, now),
            Output::Response { key, resp } => {
                if resp.status >= 200 {
                    if self.upstream.as_ref().is_some_and(|u| u.owns(&key)) {
                        self.upstream_response(&key, Some(&resp), resp.status, now);
                    } else {
                        self.notify_done(&key, NotifyOutcome::Response(resp.status), now);
                    }
                }
            }
            Output::Stray { msg, from } => match *msg {
                sip::Message::Response(resp) => {
                    metrics::message_dropped(DropReason::StrayResponse);
                    let reason =
                        format_args!("stray {} response matches no transaction", resp.status);
                    log_drop(from.transport, from.remote, reason, None);
                }
                sip::Message::Request(req) => {
                    // The ACK for a 2xx (we send none) or a late ACK.
                    tracing::debug!(%from, method = %req.method, "stray request absorbed");
                }
            },
            Output::Timeout { key } if self.upstream.as_ref().is_some_and(|u| u.owns(&key)) => {
                self.upstream_response(&key, None, 408, now)
            }
            Output::TransportError { key }
                if self.upstream.as_ref().is_some_and(|u| u.owns(&key)) =>
            {
                self.upstream_response(&key, None, 503, now)
            }
            Output::Timeout { key } => self.notify_done(&key, NotifyOutcome::Timeout, now),
            Output::TransportError { key } => {
                self.notify_done(&key, NotifyOutcome::TransportError, now)
            }
            // A client transaction that ended without a final response
            // already reported Timeout or TransportError.
            Output::Terminated { .. } => {}
        }
    }

    /// A new request: the endpoint answers what it can; SUBSCRIBE and
    /// PUBLISH go to the engine.
    fn request(&mut self, key: Key, req: Request, from: Flow, now: Now) {
        let method = req.method.clone();
        let cancel_matches =
            method == Method::Cancel && self.layer.find_invite_for_cancel(&req).is_some();
        let dialogs = EngineDialogs(&self.engine, self.upstream.as_ref());
        let ctx = Context {
            dialogs: &dialogs,
            cancel_matches,
        };
        match self.endpoint.dispatch(req, ctx) {
            Dispatch::Answer(resp) => {
                tracing::debug!(%from, %method, status = resp.status, "answered");
                self.send_response(key, resp, now);
            }
            Dispatch::Absorb => {}
            Dispatch::Service(Service::Registrar, req, to_tag) => {
                let acting_for = match self.admit(&key, &req, &from, &to_tag, now) {
                    Admission::Refused => return,
                    Admission::Open => None,
                    Admission::As { aor, .. } => Some(aor),
                };
                self.register(key, *req, from, to_tag, acting_for, now);
            }
            Dispatch::InDialog(req, to_tag) => {
                // A NOTIFY in a dialog of ours: the presence provider's
                // upstream subscriptions are the only dialogs where we are
                // the subscriber; anything else (a BYE, a NOTIFY in a
                // dialog where we notify) gets 481.
                self.upstream_notify(key, *req, to_tag, now);
            }
            Dispatch::Service(Service::Presence(_) | Service::DialectService, req, to_tag) => {
                // The engine reads the watcher from the From and the
                // presentity from the Request-URI; admission checked both
                // against the authenticated identity.
                if let Admission::Refused = self.admit(&key, &req, &from, &to_tag, now) {
                    return;
                }
                let contact = match self.contact(&from) {
                    Ok(contact) => contact,
                    Err(e) => {
                        tracing::error!(%from, error = %e, "cannot form our Contact");
                        let resp = Response::to_request(&req, 500, Some(&to_tag));
                        self.send_response(key, resp, now);
                        return;
                    }
                };
                self.next_txn += 1;
                let txn = self.next_txn;
                self.txns.insert(txn, key);
                self.feed(
                    EngineInput::Request {
                        txn,
                        req: *req,
                        flow: from,
                        reliable: from.is_reliable(),
                        to_tag,
                        contact,
                    },
                    now,
                );
            }
        }
    }

    /// Our Contact on a flow's listener, parsed once per listener rather
    /// than formatted and parsed again for every request.
    fn contact(&mut self, flow: &Flow) -> Result<sip::Uri, sip::uri::UriError> {
        let listener = (flow.transport, flow.local);
        if let Some(uri) = self.contacts.get(&listener) {
            return Ok(uri.clone());
        }
        let uri = sip::Uri::parse_str(&outbound::contact(flow))?;
        self.contacts.insert(listener, uri.clone());
        Ok(uri)
    }

    /// Updates the gauges from the engine's counts.
    fn publish_stats(&self) {
        let stats = self.engine.stats();
        tracing::trace!(
            transactions = self.layer.len(),
            txns = self.txns.len(),
            held = self.gate.len(),
            subscriptions = stats.subscriptions_active,
            in_flight = stats.notifies_in_flight,
            "core tables"
        );
        metrics::set_subscriptions(
            stats.subscriptions_active + stats.winfo,
            stats.subscriptions_pending,
        );
        metrics::set_publications(stats.publications);
        metrics::set_presentities(stats.presentities);
        metrics::set_bindings(self.registrar.len());
    }

    /// Graceful end: stop taking requests, let the responses held for a
    /// commit go out (bounded by `DRAIN_LIMIT`), flush the store. With the
    /// memory store, every subscription is ended with `deactivated` first. NOTIFYs
    /// in flight are not waited for: the transports have stopped reading,
    /// so their responses could not arrive, and the subscriptions survive
    /// in the store (the restarted server notifies every watcher).
    async fn drain(mut self, mut commits: Option<Commits>) {
        let now = Now::read();
        let deadline = now.mono + DRAIN_LIMIT;
        // Upstream subscriptions end with Expires: 0 rather than linger on
        // the upstream until they expire; a restarted server subscribes
        // again for the watchers it restores.
        self.upstream_shutdown(now);
        self.outbox.flush();
        if self.store.is_memory() {
            // Nothing will survive this process: tell every watcher to
            // subscribe again at once (`deactivated`) rather than leave it
            // to find out at its next refresh. Each NOTIFY goes out once;
            // nobody stays to retransmit it.
            let actions = self.engine.deactivate_all(now.wall);
            tracing::info!(
                notifies = actions.len(),
                "deactivating subscriptions (memory store)"
            );
            self.actions.extend(actions);
            self.step(now);
            self.outbox.flush();
        }
        while !self.gate.is_empty() && Instant::now() < deadline {
            let wake = self
                .next_wake(Now::read())
                .min(tokio::time::Instant::from_std(deadline));
            tokio::select! {
                done = next_commit(&mut commits) => match done {
                    Some(done) => self.committed(done, Now::read()),
                    None => break,
                },
                _ = tokio::time::sleep_until(wake) => self.timers(Now::read()),
            }
            self.step(Now::read());
            self.outbox.flush();
        }
        if let Err(e) = self.store.flush_and_close().await {
            tracing::error!(error = %e, "store not flushed cleanly");
        }
        tracing::debug!(
            transactions = self.layer.len(),
            unsent = self.gate.len(),
            "sip core stopped"
        );
    }
}

/// The engine's subscriptions as the endpoint's dialog table, for its
/// 481 check of in-dialog requests.
struct EngineDialogs<'a>(&'a Engine<Flow>, Option<&'a upstream::Upstream>);

impl Dialogs for EngineDialogs<'_> {
    fn contains(&self, id: &DialogId) -> bool {
        self.0
            .contains_dialog(&id.call_id, &id.local_tag, &id.remote_tag)
            || self.1.is_some_and(|u| u.has_dialog(&id.call_id))
    }
}

/// One log line per publication and subscription change, at debug level.
/// Every change the engine makes passes through a store write, so this is
/// the one place that sees them all, in order. Not at info: a loaded
/// server makes tens of thousands of changes a second, and a line each
/// (formatted, then written to stderr with a system call on the core's
/// thread) was a tenth of a one-watcher PUBLISH → NOTIFY.
fn log_change(op: &StoreOp<Flow>, now: SystemTime) {
    match op {
        StoreOp::PutPublication(p) => {
            // A static category never expires: say so rather than print
            // the far-future sentinel as seconds.
            let never = presence::source::never()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(u64::MAX, |d| d.as_millis() as u64);
            let expires = if p.expires_at_ms >= never {
                "never".to_owned()
            } else {
                secs_until(p.expires_at_ms, now).to_string()
            };
            tracing::debug!(
                presentity = %p.presentity,
                etag = %p.etag,
                expires_in_secs = %expires,
                flow = ?p.flow.as_ref().map(|f| f.to_string()),
                "publication"
            )
        }
        StoreOp::DeletePublication { presentity, etag } => {
            tracing::debug!(%presentity, %etag, "publication removed")
        }
        StoreOp::PutSubscription(s) => tracing::debug!(
            event = %s.event,
            presentity = %s.presentity,
            watcher = %s.watcher,
            state = %s.state,
            expires_in_secs = secs_until(s.expires_at_ms, now),
            flow = %s.flow,
            "subscription"
        ),
        StoreOp::DeleteSubscription { id } => {
            tracing::debug!(dialog = %id.replace('\n', ";"), "subscription removed")
        }
        StoreOp::PutBinding(_) | StoreOp::DeleteBinding { .. } => registration::log_change(op, now),
        StoreOp::PutRoaming(r) => tracing::debug!(
            user = %r.user,
            containers = r.containers.len(),
            acknowledged = r.acknowledged.len(),
            "roaming settings"
        ),
        StoreOp::PutContactList(list) => tracing::debug!(
            user = %list.user,
            delta_num = list.delta_num,
            groups = list.groups.len(),
            contacts = list.contacts.len(),
            "contact list"
        ),
        StoreOp::DeleteContactList { user } => tracing::debug!(%user, "contact list removed"),
    }
}

/// Seconds from now until `at_ms` (ms since the Unix epoch), for logs.
fn secs_until(at_ms: u64, now: SystemTime) -> u64 {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    at_ms.saturating_sub(now) / 1000
}

/// Gives back a table's spare room once a burst (a fan-out, a login
/// storm) has drained, by the rule the transaction layer's tables follow
/// (`sip::burst`); hash tables never shrink by themselves.
fn shrink_after_burst<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(
    table: &mut HashMap<K, V, S>,
) {
    let (len, capacity) = (table.len(), table.capacity());
    sip::burst::give_back(len, capacity, |to| table.shrink_to(to));
}

/// The next store acknowledgement; pends forever without a store.
/// The upstream connection's next news; never, without a stream
/// upstream.
async fn next_uplink(
    events: &mut Option<mpsc::UnboundedReceiver<UplinkEvent>>,
) -> Option<UplinkEvent> {
    match events {
        Some(e) => e.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_commit(commits: &mut Option<Commits>) -> Option<Committed> {
    match commits {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod gruu_tests {
    /// The same answers as the sliding-window scans it replaced.
    #[test]
    fn a_gruu_is_found_where_the_windows_found_it() {
        let windows =
            |t: &[u8]| t.windows(5).any(|w| w == b";gruu") || t.windows(4).any(|w| w == b";gr=");
        for target in [
            "sip:alice@192.0.2.1:5060",
            "sip:alice@example.com;gruu;opaque=urn:uuid:1",
            "sip:alice@example.com;opaque=x;gr=urn:uuid:1",
            "sip:alice@example.com;gr",
            "sip:alice@example.com;gru",
            "sip:alice@example.com;grid=1;gr",
            "sip:alice@example.com;grr=1",
            ";gr=",
            "",
        ] {
            let t = target.as_bytes();
            assert_eq!(super::names_a_gruu(t), windows(t), "{target}");
        }
    }
}
