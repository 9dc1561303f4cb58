//! The sync engine's agents in the core: bindings, both sides' last
//! states, and what each change asks of the rest of the server. Sans-IO:
//! every method returns [`Changes`] (sync sources to put into the
//! engine, presentities to track, store writes, contact-center events),
//! which the core carries out in that order, so the rules' effects are
//! unit-tested here without a socket.

use std::collections::HashMap;
use std::sync::Arc;

use presence::availability::Availability;
use presence::SyncState;
use rules::address_book::CcStatus;
use rules::sync::{
    CcState, DeviceState, Effect, ProfileLevel, SyncAgent, SyncRules, UserState, UserType,
};

use super::events::EventKind;
use super::record::AgentRecord;
use crate::store::Write;

/// An agent's binding as the contact center sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The UC presentity (its AOR).
    pub presentity: String,
    /// The UC account type.
    pub user_type: UserType,
    /// How it is logged in; unchanged when `None` (LoggedOut for a new
    /// agent).
    pub user_state: Option<UserState>,
    /// Its groups, in priority order.
    pub groups: Vec<String>,
}

/// What the core must do after a change, in this order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Start (`true`) or stop tracking a presentity's aggregate.
    pub track: Vec<(String, bool)>,
    /// Put in (`Some`) or take out the sync source of a presentity.
    pub publish: Vec<(String, Option<SyncState>)>,
    /// Writes to make durable before answering.
    pub store: Vec<Write>,
    /// Events for the contact center, per agent.
    pub events: Vec<(String, EventKind)>,
    /// The company directory's view of the agents, by presentity: its
    /// contact-center status now, or `None` when no agent is bound to it
    /// any more (`crate::directory::AgentRoster`).
    pub directory: Vec<(String, Option<CcStatus>)>,
}

impl Changes {
    fn effect(&mut self, agent: &SyncAgent, effect: Option<Effect>) {
        match effect {
            Some(Effect::PublishUc(push)) => self.publish.push((
                agent.presentity.clone(),
                Some(SyncState {
                    availability: push.availability,
                    texts: push.texts,
                }),
            )),
            Some(Effect::SendCc(change)) => self
                .events
                .push((agent.agent.clone(), EventKind::from(change))),
            None => {}
        }
    }

    /// The agent's record is written and its directory entry updated:
    /// every change of an agent passes here.
    fn keep(&mut self, agent: &SyncAgent) {
        self.store.push(AgentRecord::of(agent).write());
        self.directory
            .push((agent.presentity.clone(), Some(CcStatus::of(agent))));
    }
}

/// One agent as the console's agents page lists it: both sides' last
/// states and which profile and rule map its contact-center side now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentOverview {
    /// The agent id.
    pub agent: String,
    /// Its presentity.
    pub presentity: String,
    /// The UC account type.
    pub user_type: &'static str,
    /// How it is logged in.
    pub user_state: &'static str,
    /// The contact-center status as the directory shows it.
    pub cc: CcStatus,
    /// The profile in force and why (`session`, `user`, `group G`,
    /// `global T`); `None`: no profile applies.
    pub profile: Option<String>,
    /// What maps the contact-center side now (a table row, a mapping),
    /// or why nothing does.
    pub rule: String,
    /// What presenced last published into the presentity.
    pub published: Option<u32>,
    /// The presentity's aggregate as last seen.
    pub uc: Option<u32>,
}

/// Why the hub refused a request; the API turns each into a 4xx naming
/// the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// No agent has this id.
    #[error("no agent {0:?} is bound")]
    UnknownAgent(String),
    /// No agent has this id or presentity (explain).
    #[error("no agent is bound with id or presentity {0:?}")]
    UnknownTarget(String),
    /// The presentity belongs to another agent.
    #[error("{presentity} is bound to agent {owner:?}")]
    PresentityTaken {
        /// The presentity.
        presentity: String,
        /// Its agent.
        owner: String,
    },
    /// A login session named a profile the config does not have.
    #[error("no profile {0:?} in [sync]")]
    UnknownProfile(String),
}

impl HubError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            HubError::UnknownAgent(_) => "agent",
            HubError::UnknownTarget(_) => "target",
            HubError::PresentityTaken { .. } => "presentity",
            HubError::UnknownProfile(_) => "profile",
        }
    }
}

/// The agents and the rules they follow.
#[derive(Debug, Default)]
pub struct SyncHub {
    rules: Arc<SyncRules>,
    agents: HashMap<String, SyncAgent>,
    /// Presentity → agent id.
    by_presentity: HashMap<String, String>,
}

impl SyncHub {
    /// A hub following `rules`, with no agents yet.
    pub fn new(rules: Arc<SyncRules>) -> SyncHub {
        SyncHub {
            rules,
            ..SyncHub::default()
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &SyncRules {
        &self.rules
    }

    /// An agent by id.
    pub fn agent(&self, agent: &str) -> Option<&SyncAgent> {
        self.agents.get(agent)
    }

    /// An agent by id or by its presentity (what `explain` is given).
    pub fn find(&self, agent_or_presentity: &str) -> Option<&SyncAgent> {
        self.agents.get(agent_or_presentity).or_else(|| {
            self.by_presentity
                .get(agent_or_presentity)
                .and_then(|a| self.agents.get(a))
        })
    }

    /// How many agents are bound.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent is bound.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The first `max` agents by id, each with its last states and the
    /// profile and rule that map it now (the console's agents page; a
    /// walk of the agents, on demand only).
    pub fn overview(&self, max: usize) -> Vec<AgentOverview> {
        let mut ids: Vec<&String> = self.agents.keys().collect();
        ids.sort();
        ids.into_iter()
            .take(max)
            .filter_map(|id| self.agents.get(id))
            .map(|agent| {
                let (_, trace) = self.rules.cc_to_uc(&agent.view(), &agent.cc);
                let profile = trace.profile.as_ref().map(|(i, level)| {
                    let name = self.rules.profiles.get(*i).map_or("?", |p| p.name.as_str());
                    let why = match level {
                        ProfileLevel::Session => "login session".to_owned(),
                        ProfileLevel::User => "agent".to_owned(),
                        ProfileLevel::Group(g) => format!("group {g}"),
                        ProfileLevel::Global(t) => format!("global {t}"),
                    };
                    format!("{name} ({why})")
                });
                let rule = trace
                    .rule
                    .or(trace.none_because)
                    .unwrap_or_else(|| "nothing maps it".to_owned());
                AgentOverview {
                    agent: agent.agent.clone(),
                    presentity: agent.presentity.clone(),
                    user_type: agent.user_type.as_str(),
                    user_state: agent.user_state.as_str(),
                    cc: CcStatus::of(agent),
                    profile,
                    rule,
                    published: agent.pushed_uc.as_ref().map(|p| p.availability.value()),
                    uc: agent.uc.map(|a| a.value()),
                }
            })
            .collect()
    }

    /// The stored agents back at start: each presentity tracked and its
    /// last published state put in again (nothing is written: it is
    /// stored already).
    pub fn restore(&mut self, agents: Vec<SyncAgent>) -> Changes {
        let mut changes = Changes::default();
        for agent in agents {
            changes.track.push((agent.presentity.clone(), true));
            if let Some(push) = &agent.pushed_uc {
                changes.publish.push((
                    agent.presentity.clone(),
                    Some(SyncState {
                        availability: push.availability,
                        texts: push.texts.clone(),
                    }),
                ));
            }
            changes
                .directory
                .push((agent.presentity.clone(), Some(CcStatus::of(&agent))));
            self.by_presentity
                .insert(agent.presentity.clone(), agent.agent.clone());
            self.agents.insert(agent.agent.clone(), agent);
        }
        changes
    }

    /// Binds (or re-binds) an agent to a presentity. A new agent starts
    /// logged out; a re-bound one keeps its contact-center state, and a
    /// move to another presentity takes the sync source out of the old
    /// one.
    pub fn bind(&mut self, id: &str, binding: Binding) -> Result<Changes, HubError> {
        if let Some(owner) = self.by_presentity.get(&binding.presentity) {
            if owner != id {
                return Err(HubError::PresentityTaken {
                    presentity: binding.presentity,
                    owner: owner.clone(),
                });
            }
        }
        let mut changes = Changes::default();
        let agent = match self.agents.remove(id) {
            Some(mut agent) => {
                if agent.presentity != binding.presentity {
                    self.by_presentity.remove(&agent.presentity);
                    changes.track.push((agent.presentity.clone(), false));
                    changes.publish.push((agent.presentity.clone(), None));
                    changes.directory.push((agent.presentity.clone(), None));
                    changes.track.push((binding.presentity.clone(), true));
                    agent.presentity = binding.presentity.clone();
                    // Nothing is published into the new one yet.
                    agent.pushed_uc = None;
                    agent.uc = None;
                }
                agent.user_type = binding.user_type;
                agent
            }
            None => {
                changes.track.push((binding.presentity.clone(), true));
                SyncAgent::new(id, &binding.presentity, binding.user_type)
            }
        };
        let mut agent = agent;
        agent.groups = binding.groups;
        if let Some(state) = binding.user_state {
            agent.user_state = state;
        }
        let (effect, _) = agent.resync_uc(&self.rules);
        changes.effect(&agent, effect);
        changes.keep(&agent);
        self.by_presentity
            .insert(agent.presentity.clone(), agent.agent.clone());
        self.agents.insert(agent.agent.clone(), agent);
        Ok(changes)
    }

    /// Unbinds an agent: its sync source leaves its presentity.
    pub fn unbind(&mut self, id: &str) -> Result<Changes, HubError> {
        let agent = self
            .agents
            .remove(id)
            .ok_or_else(|| HubError::UnknownAgent(id.to_owned()))?;
        self.by_presentity.remove(&agent.presentity);
        Ok(Changes {
            track: vec![(agent.presentity.clone(), false)],
            publish: vec![(agent.presentity.clone(), None)],
            store: vec![AgentRecord::delete(id)],
            events: Vec::new(),
            directory: vec![(agent.presentity.clone(), None)],
        })
    }

    /// The contact center posted an agent state and/or a device state
    /// (what is not given stays as it was).
    pub fn post_state(
        &mut self,
        id: &str,
        status: Option<String>,
        device: Option<DeviceState>,
    ) -> Result<Changes, HubError> {
        let agent = self
            .agents
            .get_mut(id)
            .ok_or_else(|| HubError::UnknownAgent(id.to_owned()))?;
        let cc = CcState {
            status: status.unwrap_or_else(|| agent.cc.status.clone()),
            device: device.unwrap_or(agent.cc.device),
        };
        let mut changes = Changes::default();
        let (effect, _) = agent.cc_changed(&self.rules, cc);
        changes.effect(agent, effect);
        changes.keep(agent);
        Ok(changes)
    }

    /// A login session: the agent's user state and the profile the
    /// session chose (T-Server's `presence-profile` login attribute;
    /// `None` goes back to the agent's own).
    pub fn session(
        &mut self,
        id: &str,
        user_state: UserState,
        profile: Option<String>,
    ) -> Result<Changes, HubError> {
        if let Some(p) = &profile {
            if self.rules.profile(p).is_none() {
                return Err(HubError::UnknownProfile(p.clone()));
            }
        }
        let agent = self
            .agents
            .get_mut(id)
            .ok_or_else(|| HubError::UnknownAgent(id.to_owned()))?;
        agent.user_state = user_state;
        agent.session_profile = profile;
        let mut changes = Changes::default();
        let (effect, _) = agent.resync_uc(&self.rules);
        changes.effect(agent, effect);
        changes.keep(agent);
        Ok(changes)
    }

    /// A tracked presentity's aggregate changed (any source: the user's
    /// client, a fade, presenced's own sync source seen again).
    pub fn uc_changed(&mut self, presentity: &str, availability: Availability) -> Changes {
        let mut changes = Changes::default();
        let Some(agent) = self
            .by_presentity
            .get(presentity)
            .and_then(|id| self.agents.get_mut(id))
        else {
            return changes;
        };
        if agent.uc == Some(availability) {
            return changes;
        }
        let (effect, _) = agent.uc_changed(&self.rules, availability);
        changes.effect(agent, effect);
        changes.keep(agent);
        changes
    }

    /// New rules (a reload): every agent's contact-center side is mapped
    /// again, and what differs from what it shows is published.
    pub fn reconfigure(&mut self, rules: Arc<SyncRules>) -> Changes {
        self.rules = rules;
        let mut changes = Changes::default();
        let mut ids: Vec<&String> = self.agents.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            if let Some(agent) = self.agents.get_mut(&id) {
                let (effect, _) = agent.resync_uc(&self.rules);
                if effect.is_some() {
                    changes.effect(agent, effect);
                    changes.keep(agent);
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests;
