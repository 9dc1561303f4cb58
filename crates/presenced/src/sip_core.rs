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
//!    a 2xx leaves only after its commit). Writes are submitted without
//!    waiting and group-committed by the store, whose acknowledgements are
//!    one of the inputs of step 1;
//! 4. go back to 1, which recomputes the next timer.
//!
//! Nothing in this task waits on a socket or a disk: sends are `try_send`s
//! that fail (and are logged) rather than block the core behind one slow
//! peer, and commits happen on the store's own thread.

mod registration;

use registration::earliest;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Timers;
use crate::control::Control;
use crate::endpoint::{Context, DialogId, Dialogs, Dispatch, Endpoint};
use crate::metrics::{self, DropReason};
use crate::outbound::{self, Branches};
use crate::store::{encode_ops, Commits, Committed, Store, StoreError};
use crate::transport::{log_drop, Connections, Flow, Inbound, Outbox, TransportKind};
use presence::{Action, Engine, Input as EngineInput, NotifyId, NotifyOutcome, Registrar};
use sip::transaction::{Config, Input, Key, Layer, Output};
use sip::{Method, Request, Response};

/// How often the gauges (subscriptions, publications) are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// How long shutdown waits for the responses held for a commit.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);

/// Most messages taken from the transports' queue per turn of the loop:
/// one turn's fixed cost (the select, the timer computation, the flush)
/// is shared by a batch, yet timers and commits still get their turn
/// between batches.
const INBOUND_BATCH: usize = 64;

/// An engine action held until the store write before it is durable.
#[derive(Debug)]
enum Held {
    /// The store ticket everything behind it waits for.
    Commit(u64),
    /// An action to carry out once the commits before it are done.
    Action(Box<Action<Flow>>),
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
    branches: Branches,
    /// Server transactions the engine has yet to answer, by engine txn id.
    txns: HashMap<u64, Key>,
    next_txn: u64,
    /// NOTIFY client transactions, to report their outcome to the engine.
    notifies: HashMap<Key, NotifyId>,
    /// Engine actions waiting for commits, in order.
    held: VecDeque<Held>,
    next_ticket: u64,
    /// Engine actions from the current step, not yet carried out.
    actions: VecDeque<Action<Flow>>,
    /// When the gauges are refreshed next.
    next_stats: Instant,
    /// Our Contact URI per listener (transport, local address).
    contacts: HashMap<(TransportKind, std::net::SocketAddr), sip::Uri>,
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
        SipCore {
            layer: Layer::new(config),
            endpoint: parts.endpoint,
            engine: parts.engine,
            registrar: parts.registrar,
            store: parts.store,
            commits,
            connections: parts.connections,
            outbox: Outbox::default(),
            branches: Branches::default(),
            txns: HashMap::new(),
            next_txn: 0,
            notifies: HashMap::new(),
            held: VecDeque::new(),
            next_ticket: 0,
            actions: VecDeque::new(),
            next_stats: Instant::now(),
            contacts: HashMap::new(),
        }
    }

    /// Reloads the stored publications and subscriptions into the engine:
    /// expired ones are deleted, and every live watcher gets a NOTIFY with
    /// the current state once the core runs.
    pub fn restore(&mut self) -> Result<(), StoreError> {
        let (publications, subscriptions) = self.store.load::<Flow>()?;
        let (p, s) = (publications.len(), subscriptions.len());
        let actions = self
            .engine
            .restore(publications, subscriptions, SystemTime::now());
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
        self.step(Instant::now());
        let mut commits = self.commits.take();
        let mut received = Vec::with_capacity(INBOUND_BATCH);
        loop {
            let wake = self.next_wake();
            tokio::select! {
                // Commits and timers before new work, so a flood of
                // requests cannot starve retransmissions, expiries and the
                // responses waiting on the disk.
                biased;
                _ = cancel.cancelled() => break,
                done = next_commit(&mut commits) => {
                    match done {
                        Some(done) => self.committed(done),
                        None => commits = None,
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => self.timers(Instant::now()),
                flow = closed.recv(), if !closed.is_closed() => {
                    if let Some(flow) = flow {
                        tracing::debug!(%flow, "flow closed");
                        let now = Instant::now();
                        // NOTIFYs waiting on the connection fail now, not
                        // at Timer F: no response can come on it any more.
                        let failed = self.layer.peer_closed(&flow, now);
                        self.carry_out(failed, now);
                        self.registrar.flow_closed(&flow, SystemTime::now());
                        self.feed(EngineInput::FlowClosed { flow });
                    }
                }
                request = control.recv(), if !control.is_closed() => {
                    if let Some(request) = request {
                        self.control(request);
                    }
                }
                n = inbound.recv_many(&mut received, INBOUND_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for Inbound { msg, flow } in received.drain(..) {
                        let now = Instant::now();
                        metrics::message_received(flow.transport);
                        let input = Input::Received { msg, from: flow, reliable: flow.is_reliable() };
                        let outputs = self.layer.handle(input, now);
                        self.carry_out(outputs, now);
                        // Each message's consequences in order, as before
                        // batching: a response may wait on a commit.
                        self.step(now);
                    }
                }
            }
            let now = Instant::now();
            self.step(now);
            self.outbox.flush();
            if now >= self.next_stats {
                // The counts walk the engine's tables: refreshed at a
                // scrape-like pace, never per message.
                self.publish_stats();
                shrink_after_burst(&mut self.notifies);
                shrink_after_burst(&mut self.txns);
                self.next_stats = now + STATS_INTERVAL;
            }
        }
        self.drain(commits).await;
    }

    /// The earliest of the machines' next timers (transaction layer,
    /// engine, registrar).
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        let layer = self.layer.poll_timeout();
        let engine = earliest(self.engine.poll_timeout(), self.registrar.poll_timeout());
        let engine = engine.map(|at| {
            let now = SystemTime::now();
            Instant::now() + at.duration_since(now).unwrap_or_default()
        });
        let at = match (layer, engine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        at.map(tokio::time::Instant::from_std)
    }

    fn timers(&mut self, now: Instant) {
        let outputs = self.layer.handle_timeout(now);
        self.carry_out(outputs, now);
        let actions = self.engine.handle_timeout(SystemTime::now());
        self.actions.extend(actions);
        let actions = self.registrar.handle_timeout(SystemTime::now());
        self.actions.extend(actions);
    }

    /// Carries out an operator request.
    fn control(&mut self, request: Control) {
        match request {
            Control::Authorize {
                presentity,
                watcher,
                allow,
                done,
            } => {
                tracing::info!(%presentity, %watcher, allow, "watcher authorization");
                let actions =
                    self.engine
                        .authorize(&presentity, &watcher, allow, SystemTime::now());
                self.actions.extend(actions);
                let _ = done.send(());
            }
        }
    }

    /// Feeds the engine and queues what it asks.
    fn feed(&mut self, input: EngineInput<Flow>) {
        let actions = self.engine.handle(input, SystemTime::now());
        self.actions.extend(actions);
    }

    /// Carries out queued engine actions until none is left (step 3). An
    /// action's consequences (a NOTIFY that fails at once, say) may queue
    /// more; they run in the same step.
    fn step(&mut self, now: Instant) {
        while let Some(action) = self.actions.pop_front() {
            if !self.held.is_empty() {
                // Something before it waits for a commit: so does it.
                match action {
                    Action::Store(ops) => self.submit(ops),
                    other => self.held.push_back(Held::Action(Box::new(other))),
                }
                continue;
            }
            match action {
                Action::Store(ops) => self.submit(ops),
                Action::Respond { txn, resp } => self.respond(txn, resp, now),
                Action::Notify {
                    id,
                    req,
                    flow,
                    reliable,
                } => self.notify(id, req, flow, reliable, now),
            }
        }
    }

    /// Hands a write to the store; everything after it waits for the
    /// acknowledgement. The memory store acknowledges at once.
    fn submit(&mut self, ops: Vec<presence::StoreOp<Flow>>) {
        ops.iter().for_each(log_change);
        if self.store.is_memory() {
            return;
        }
        let writes = match encode_ops(&ops) {
            Ok(writes) => writes,
            Err(e) => {
                // Records are our own types; failing to encode one is a bug,
                // not an input error. Say so loudly and keep serving.
                tracing::error!(error = %e, "cannot encode a store record");
                return;
            }
        };
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.store.submit(ticket, writes);
        self.held.push_back(Held::Commit(ticket));
    }

    /// A commit finished: release what waited for it, up to the next
    /// commit still pending. A failed commit turns the 2xx responses that
    /// waited for it into 500s, so no client believes in state the store
    /// does not have.
    fn committed(&mut self, done: Committed) {
        let now = Instant::now();
        match self.held.pop_front() {
            Some(Held::Commit(ticket)) if ticket == done.ticket => {}
            other => {
                tracing::error!(ticket = done.ticket, held = ?other.is_some(), "store acknowledged out of order");
                if let Some(other) = other {
                    self.held.push_front(other);
                }
                return;
            }
        }
        let failed = done.result.as_ref().err().map(ToString::to_string);
        if let Some(e) = &failed {
            tracing::error!(error = %e, "store commit failed; answering 500");
        }
        while let Some(front) = self.held.front() {
            if matches!(front, Held::Commit(_)) {
                break;
            }
            let Some(Held::Action(action)) = self.held.pop_front() else {
                break;
            };
            match *action {
                Action::Respond { txn, resp } if failed.is_some() && resp.class() == 2 => {
                    self.respond(txn, storage_failure(resp), now)
                }
                Action::Respond { txn, resp } => self.respond(txn, resp, now),
                Action::Notify {
                    id,
                    req,
                    flow,
                    reliable,
                } => self.notify(id, req, flow, reliable, now),
                Action::Store(_) => {}
            }
        }
    }
}

impl SipCore {
    /// Sends the engine's answer in its server transaction.
    fn respond(&mut self, txn: u64, resp: Response, now: Instant) {
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

    fn send_response(&mut self, key: Key, resp: Response, now: Instant) {
        match self.layer.send_response(key.clone(), resp, now) {
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
    fn notify(&mut self, id: NotifyId, mut req: Request, flow: Flow, reliable: bool, now: Instant) {
        let branch = self.branches.next_branch();
        outbound::stamp(&mut req, &flow, &branch);
        match self.layer.send_request(req, flow, reliable, now) {
            Ok((key, outputs)) => {
                metrics::notify_sent();
                self.notifies.insert(key.clone(), id);
                self.carry_out_for(Some(key), outputs, now);
            }
            Err(e) => {
                tracing::error!(error = %e, "NOTIFY refused by the transaction layer");
                metrics::notify_failed();
                self.feed(EngineInput::NotifyOutcome {
                    id,
                    outcome: NotifyOutcome::TransportError,
                });
            }
        }
    }

    /// Tells the engine how a NOTIFY ended.
    fn notify_done(&mut self, key: &Key, outcome: NotifyOutcome) {
        if let Some(id) = self.notifies.remove(key) {
            if !matches!(outcome, NotifyOutcome::Response(s) if (200..300).contains(&s)) {
                metrics::notify_failed();
            }
            self.feed(EngineInput::NotifyOutcome { id, outcome });
        }
    }

    fn carry_out(&mut self, outputs: Vec<Output<Flow>>, now: Instant) {
        self.carry_out_for(None, outputs, now);
    }

    /// Carries out layer outputs until none are left.
    ///
    /// Each output is paired with the transaction it came from when that is
    /// known, so that a failed send can be reported to the layer
    /// (RFC 3261 §17.2.4, §17.1.4). `Output::Transmit` does not name its
    /// transaction, so failed retransmissions from timers are only logged.
    fn carry_out_for(&mut self, origin: Option<Key>, outputs: Vec<Output<Flow>>, now: Instant) {
        let mut work: VecDeque<(Option<Key>, Output<Flow>)> =
            outputs.into_iter().map(|o| (origin.clone(), o)).collect();
        while let Some((origin, output)) = work.pop_front() {
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
                            let failed = self.layer.transport_error(key.clone(), now);
                            work.extend(failed.into_iter().map(|o| (Some(key.clone()), o)));
                        }
                    }
                }
                Output::Request { key, req, from } => self.request(key, req, from, now),
                Output::Response { key, resp } => {
                    if resp.status >= 200 {
                        self.notify_done(&key, NotifyOutcome::Response(resp.status));
                    }
                }
                Output::Stray {
                    msg: sip::Message::Response(resp),
                    from,
                } => {
                    metrics::message_dropped(DropReason::StrayResponse);
                    let reason =
                        format_args!("stray {} response matches no transaction", resp.status);
                    log_drop(from.transport, from.remote, reason, None);
                }
                Output::Stray {
                    msg: sip::Message::Request(req),
                    from,
                } => {
                    // The ACK for a 2xx (we send none) or a late ACK.
                    tracing::debug!(%from, method = %req.method, "stray request absorbed");
                }
                Output::Timeout { key } => self.notify_done(&key, NotifyOutcome::Timeout),
                Output::TransportError { key } => {
                    self.notify_done(&key, NotifyOutcome::TransportError)
                }
                Output::Terminated { key } => {
                    // A client transaction that ended without a final
                    // response already reported Timeout or TransportError.
                    self.notifies.remove(&key);
                }
            }
        }
    }

    /// A new request: the endpoint answers what it can; SUBSCRIBE and
    /// PUBLISH go to the engine.
    fn request(&mut self, key: Key, req: Request, from: Flow, now: Instant) {
        let method = req.method.clone();
        let cancel_matches =
            method == Method::Cancel && self.layer.find_invite_for_cancel(&req).is_some();
        let dialogs = EngineDialogs(&self.engine);
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
            Dispatch::Application(req, to_tag) if method == Method::Register => {
                self.register(key, *req, from, to_tag);
            }
            Dispatch::Application(req, to_tag) => {
                if !matches!(method, Method::Subscribe | Method::Publish) {
                    // A NOTIFY or BYE outside any subscription of ours: this
                    // server subscribes to nothing yet.
                    let resp = Response::to_request(&req, 481, Some(&to_tag))
                        .with_reason("No such subscription");
                    self.send_response(key, resp, now);
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
                self.feed(EngineInput::Request {
                    txn,
                    req: *req,
                    flow: from,
                    reliable: from.is_reliable(),
                    to_tag,
                    contact,
                });
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
            notifies = self.notifies.len(),
            txns = self.txns.len(),
            held = self.held.len(),
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
        let deadline = Instant::now() + DRAIN_LIMIT;
        if self.store.is_memory() {
            // Nothing will survive this process: tell every watcher to
            // subscribe again at once (`deactivated`) rather than leave it
            // to find out at its next refresh. Each NOTIFY goes out once;
            // nobody stays to retransmit it.
            let actions = self.engine.deactivate_all(SystemTime::now());
            tracing::info!(
                notifies = actions.len(),
                "deactivating subscriptions (memory store)"
            );
            self.actions.extend(actions);
            self.step(Instant::now());
            self.outbox.flush();
        }
        while !self.held.is_empty() && Instant::now() < deadline {
            let wake = self
                .next_wake()
                .map(|w| w.min(tokio::time::Instant::from_std(deadline)))
                .unwrap_or_else(|| tokio::time::Instant::from_std(deadline));
            tokio::select! {
                done = next_commit(&mut commits) => match done {
                    Some(done) => self.committed(done),
                    None => break,
                },
                _ = tokio::time::sleep_until(wake) => self.timers(Instant::now()),
            }
            self.step(Instant::now());
            self.outbox.flush();
        }
        if let Err(e) = self.store.flush_and_close().await {
            tracing::error!(error = %e, "store not flushed cleanly");
        }
        tracing::debug!(
            transactions = self.layer.len(),
            unsent = self.held.len(),
            "sip core stopped"
        );
    }
}

/// The engine's subscriptions as the endpoint's dialog table, for its
/// 481 check of in-dialog requests.
struct EngineDialogs<'a>(&'a Engine<Flow>);

impl Dialogs for EngineDialogs<'_> {
    fn contains(&self, id: &DialogId) -> bool {
        self.0
            .contains_dialog(&id.call_id, &id.local_tag, &id.remote_tag)
    }
}

/// A 2xx that can no longer be given: the store did not take the change.
/// The 500 keeps the transaction's headers (Via, From, To with its tag,
/// Call-ID, CSeq) and drops what described the success.
fn storage_failure(mut resp: Response) -> Response {
    use sip::HeaderName as H;
    for name in [
        H::SipEtag,
        H::Expires,
        H::Contact,
        H::RecordRoute,
        H::ContentType,
    ] {
        resp.headers.remove(name);
    }
    resp.status = 500;
    resp.reason = bytes::Bytes::from_static(b"Storage failure");
    resp.body = bytes::Bytes::new();
    resp
}

/// One log line per publication and subscription change. Every change
/// the engine makes passes through a store write, so this is the one place
/// that sees them all, in order.
fn log_change(op: &presence::StoreOp<Flow>) {
    use presence::StoreOp;
    match op {
        StoreOp::PutPublication(p) => tracing::info!(
            presentity = %p.presentity,
            etag = %p.etag,
            expires_in_secs = secs_until(p.expires_at_ms),
            flow = ?p.flow.map(|f| f.to_string()),
            "publication"
        ),
        StoreOp::DeletePublication { presentity, etag } => {
            tracing::info!(%presentity, %etag, "publication removed")
        }
        StoreOp::PutSubscription(s) => tracing::info!(
            event = %s.event,
            presentity = %s.presentity,
            watcher = %s.watcher,
            state = %s.state,
            expires_in_secs = secs_until(s.expires_at_ms),
            flow = %s.flow,
            "subscription"
        ),
        StoreOp::DeleteSubscription { id } => {
            tracing::info!(dialog = %id.replace('\n', ";"), "subscription removed")
        }
        StoreOp::PutBinding(_) | StoreOp::DeleteBinding { .. } => registration::log_change(op),
    }
}

/// Seconds from now until `at_ms` (ms since the Unix epoch), for logs.
fn secs_until(at_ms: u64) -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    at_ms.saturating_sub(now) / 1000
}

/// Gives back a table's spare room once a burst (a fan-out, a login
/// storm) has drained; hash tables never shrink by themselves.
fn shrink_after_burst<K: std::hash::Hash + Eq, V>(table: &mut HashMap<K, V>) {
    let (len, capacity) = (table.len(), table.capacity());
    if capacity > 1024 && len < capacity / 8 {
        table.shrink_to(len * 2);
    }
}

/// The next store acknowledgement; pends forever without a store.
async fn next_commit(commits: &mut Option<Commits>) -> Option<Committed> {
    match commits {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; never called with `None` (the select guard prevents it).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
