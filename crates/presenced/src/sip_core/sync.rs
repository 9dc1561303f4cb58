//! The core's side of the sync engine (issue 11): the contact center's
//! requests carried out on the hub, the hub's [`Changes`] carried out on
//! the engine, the store and the event log, and the tracked presentities'
//! UC changes fed back to the hub.
//!
//! Order, so nothing is acknowledged before it is durable: the hub's
//! writes take a commit of the gate ([`CommitGate::reserve`]) before the
//! engine is fed, so the NOTIFYs of a published state and the API's
//! answer both wait for the agent's record to be on disk.
//!
//! [`CommitGate::reserve`]: crate::commit_gate::CommitGate::reserve

use std::sync::Arc;

use presence::Input as EngineInput;
use rules::sync::SyncRules;
use tokio::sync::oneshot;

use super::{Now, SipCore};
use crate::control::{SyncAnswer, SyncRefused, SyncRequest};
use crate::store::StoreError;
use crate::sync::{Changes, HubError};

/// How many rounds of UC echoes one step follows: each round is the
/// engine's answer to the sync sources the previous one put in, and the
/// loop prevention ends it in one or two.
const ECHO_ROUNDS: usize = 4;

impl SipCore {
    /// Loads the stored agents into the hub and puts their last
    /// published states back into their presentities.
    pub(super) fn restore_sync(&mut self, now: Now) -> Result<(), StoreError> {
        let mut agents = Vec::new();
        for record in self.store.load_sync_agents()? {
            match record.agent() {
                Ok(agent) => agents.push(agent),
                Err(error) => tracing::warn!(%error, "stored sync agent skipped"),
            }
        }
        let n = agents.len();
        let changes = self.sync.restore(agents);
        self.apply_sync(changes, now);
        if n > 0 {
            tracing::info!(agents = n, "sync agents restored");
        }
        Ok(())
    }

    /// Carries out a contact center's request; `done` is told once what
    /// it wrote is durable.
    pub(super) fn sync_request(
        &mut self,
        request: SyncRequest,
        done: oneshot::Sender<Result<SyncAnswer, SyncRefused>>,
        now: Now,
    ) {
        let (agent, result) = match request {
            SyncRequest::Get { agent } => {
                let _ = done.send(self.sync_read(&agent));
                return;
            }
            SyncRequest::Explain { target } => {
                let answer = match self.sync.find(&target) {
                    Some(agent) => Ok(SyncAnswer::Explained(
                        self.sync.rules().explain(agent).lines,
                    )),
                    None => Err(HubError::UnknownTarget(target).into()),
                };
                let _ = done.send(answer);
                return;
            }
            SyncRequest::Bind { agent, binding } => {
                tracing::info!(%agent, presentity = %binding.presentity, user_type = %binding.user_type, "sync agent bound");
                let result = self.sync.bind(&agent, binding);
                (Some(agent), result)
            }
            SyncRequest::Unbind { agent } => {
                tracing::info!(%agent, "sync agent unbound");
                (None, self.sync.unbind(&agent))
            }
            SyncRequest::State {
                agent,
                status,
                device,
            } => {
                tracing::debug!(%agent, ?status, ?device, "agent state");
                let result = self.sync.post_state(&agent, status, device);
                (Some(agent), result)
            }
            SyncRequest::Session {
                agent,
                user_state,
                profile,
            } => {
                tracing::info!(%agent, %user_state, ?profile, "agent login session");
                let result = self.sync.session(&agent, user_state, profile);
                (Some(agent), result)
            }
        };
        let changes = match result {
            Ok(changes) => changes,
            Err(e) => {
                let _ = done.send(Err(e.into()));
                return;
            }
        };
        self.apply_sync(changes, now);
        // The engine's answer to the sources just put in (the echo) is
        // taken now, so the read below shows the aggregate after it.
        self.sync_tracked(now);
        let answer = match agent {
            Some(agent) => self.sync_read(&agent),
            None => Ok(SyncAnswer::Unbound),
        };
        self.gate.after_commits(move |ok| {
            let _ = done.send(match ok {
                true => answer,
                false => Err(SyncRefused::Storage),
            });
        });
    }

    /// An agent's two sides now.
    fn sync_read(&self, agent: &str) -> Result<SyncAnswer, SyncRefused> {
        let agent = self
            .sync
            .agent(agent)
            .ok_or_else(|| HubError::UnknownAgent(agent.to_owned()))?;
        let aggregate = self.engine.aggregate_availability(&agent.presentity);
        Ok(SyncAnswer::Agent(Box::new(agent.clone()), aggregate))
    }

    /// New rules from a reload, applied to every agent. `default_lcid`
    /// goes to the engine first, so what the new rules republish is
    /// rendered in it and the texts already shown follow it too.
    pub(super) fn sync_rules(&mut self, rules: Arc<SyncRules>, now: Now) {
        let language = rules.default_lcid;
        self.feed(EngineInput::Language { language }, now);
        let changes = self.sync.reconfigure(rules);
        let n = changes.publish.len();
        self.apply_sync(changes, now);
        tracing::info!(
            agents = self.sync.len(),
            republished = n,
            "sync rules applied"
        );
    }

    /// Feeds the tracked presentities' UC changes to the hub, and what
    /// the hub makes of them back, until it settles.
    pub(super) fn sync_tracked(&mut self, now: Now) {
        for _ in 0..ECHO_ROUNDS {
            let tracked = self.engine.take_tracked();
            if tracked.is_empty() {
                return;
            }
            for change in tracked {
                let changes = self
                    .sync
                    .uc_changed(&change.presentity, change.availability);
                self.apply_sync(changes, now);
            }
        }
    }

    /// Carries out the hub's changes: tracking, then the agents' writes
    /// (a commit of their own, which everything after waits for), then
    /// the sync sources, then the events and the directory's statuses.
    fn apply_sync(&mut self, changes: Changes, now: Now) {
        let Changes {
            track,
            publish,
            store,
            events,
            directory,
        } = changes;
        for (presentity, on) in track {
            self.engine.track(&presentity, on);
        }
        if !store.is_empty() {
            if let Some(ticket) = self.gate.reserve() {
                self.store.submit(ticket, store);
            }
        }
        for (presentity, state) in publish {
            self.feed(EngineInput::Sync { presentity, state }, now);
        }
        for (agent, kind) in events {
            let event = self.events.push(&agent, kind);
            crate::metrics::sync_event(event.kind.name());
            tracing::info!(agent = %event.agent, id = event.id, event = event.kind.name(), "sync event");
        }
        self.agents.apply(directory);
    }
}
