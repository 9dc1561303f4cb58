//! The SIP core task: the one owner of the transaction layer.
//!
//! This is the quinn-proto driver pattern. The transaction layer
//! (`sip::transaction::Layer`) is a pure state machine; this task feeds it
//! and carries out what it asks, in one documented loop:
//!
//! 1. wait for whichever comes first: shutdown, the layer's next timer
//!    (`poll_timeout`), or a message from the transports' queue;
//! 2. feed it in (`handle_timeout(now)` or `handle(Input::Received, now)`);
//! 3. carry out every output in order. `Transmit` goes to the connection
//!    table; a new `Request` goes through the endpoint policy and, if the
//!    core does not answer it, to the application. Their responses are fed
//!    back through `Layer::send_response`, whose outputs join the same work
//!    list (as do those of `Layer::transport_error` when a send fails),
//!    so one step ends only when the layer has nothing more to say;
//! 4. go back to 1, which recomputes the next timer.
//!
//! Nothing in this task waits on a socket: sends are `try_send`s that fail
//! (and are logged) rather than block the core behind one slow peer.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::application::Application;
use crate::config::Timers;
use crate::endpoint::{Context, Dispatch, Endpoint};
use crate::transport::{log_drop, Connections, Flow, Inbound};
use sip::transaction::{Config, Input, Key, Layer, Output};
use sip::HeaderAccess;

/// The core: transaction layer, endpoint policy and application.
pub struct SipCore<App> {
    layer: Layer<Flow>,
    endpoint: Endpoint,
    app: App,
    connections: Connections,
}

impl<App: Application> SipCore<App> {
    /// A core sending through `connections`.
    pub fn new(timers: Timers, endpoint: Endpoint, app: App, connections: Connections) -> Self {
        let config = Config {
            t1: timers.t1,
            t2: timers.t2,
            t4: timers.t4,
            ..Config::default()
        };
        SipCore {
            layer: Layer::new(config),
            endpoint,
            app,
            connections,
        }
    }

    /// Runs the driver loop until cancelled or every transport is gone.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, cancel: CancellationToken) {
        loop {
            let deadline = self.layer.poll_timeout();
            let wake = deadline.map(tokio::time::Instant::from_std);
            tokio::select! {
                // Timers before new work, so a flood of requests cannot
                // starve retransmissions and timeouts.
                biased;
                _ = cancel.cancelled() => break,
                _ = sleep_until(wake), if wake.is_some() => {
                    let now = Instant::now();
                    let outputs = self.layer.handle_timeout(now);
                    self.carry_out(outputs, now);
                }
                received = inbound.recv() => {
                    let Some(Inbound { msg, flow }) = received else { break };
                    let now = Instant::now();
                    let input = Input::Received { msg, from: flow, reliable: flow.is_reliable() };
                    let outputs = self.layer.handle(input, now);
                    self.carry_out(outputs, now);
                }
            }
        }
        tracing::debug!(transactions = self.layer.len(), "sip core stopped");
    }

    /// Carries out layer outputs until none are left (step 3 above).
    ///
    /// Each output is paired with the transaction it came from when that is
    /// known (the outputs of `send_response`), so that a failed send can be
    /// reported to the layer (RFC 3261 §17.2.4). `Output::Transmit` does not
    /// name its transaction, so sends from timers are only logged.
    fn carry_out(&mut self, outputs: Vec<Output<Flow>>, now: Instant) {
        let mut work: VecDeque<(Option<Key>, Output<Flow>)> =
            outputs.into_iter().map(|o| (None, o)).collect();
        while let Some((origin, output)) = work.pop_front() {
            match output {
                Output::Transmit { to, bytes } => {
                    if let Err(e) = self.connections.send(&to, bytes) {
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
                Output::Request { key, req, from } => {
                    let Some(resp) = self.answer(req, &from) else {
                        continue;
                    };
                    match self.layer.send_response(key.clone(), resp, now) {
                        Ok(outputs) => {
                            work.extend(outputs.into_iter().map(|o| (Some(key.clone()), o)))
                        }
                        Err(e) => {
                            tracing::warn!(%from, error = %e, "response refused by the transaction layer")
                        }
                    }
                }
                Output::Response { key, resp } => {
                    // This server sends no requests yet; the presence
                    // layer's NOTIFYs will get their responses here.
                    tracing::debug!(
                        ?key,
                        status = resp.status,
                        "response to a client transaction"
                    );
                }
                Output::Stray {
                    msg: sip::Message::Response(resp),
                    from,
                } => {
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
                Output::Timeout { key } => tracing::debug!(?key, "transaction timed out"),
                Output::TransportError { key } => {
                    tracing::debug!(?key, "transaction ended by a transport error")
                }
                Output::Terminated { key } => tracing::trace!(?key, "transaction terminated"),
            }
        }
    }

    /// What the core answers to a new request, or `None` for an ACK.
    fn answer(&mut self, req: sip::Request, from: &Flow) -> Option<sip::Response> {
        let method = req.method.clone();
        let call_id = req.call_id().unwrap_or_default();
        let cancel_matches =
            method == sip::Method::Cancel && self.layer.find_invite_for_cancel(&req).is_some();
        let ctx = Context {
            dialogs: self.app.dialogs(),
            cancel_matches,
        };
        let resp = match self.endpoint.dispatch(req, ctx) {
            Dispatch::Answer(resp) => resp,
            Dispatch::Application(req, tag) => self.app.handle(&req, from, &tag),
            Dispatch::Absorb => return None,
        };
        let call_id = String::from_utf8_lossy(&call_id);
        tracing::debug!(%from, %method, %call_id, status = resp.status, "answered");
        Some(resp)
    }
}

/// Sleeps until `at`; never called with `None` (the select guard prevents it).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
