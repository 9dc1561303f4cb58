//! The mapping functions, both ways: which profile an agent has, which
//! augmentation applies, and what a change on one side becomes on the
//! other. Each decision carries its [`Trace`], which `explain` prints.
//!
//! Precedence of the profile (seeds 002 and 003): the login session's
//! own choice (T-Server's `presence-profile` login attribute), then the
//! agent's (`[sync] users` or a custom profile's user list), then the
//! first of its groups that has one, then the global profile of its user
//! type. No profile: nothing syncs.

use presence::availability::{Availability, CustomTexts};

use super::model::{Augmentation, Mapping, Mode, Profile, SyncRules, IN_QUEUE_TEXT};
use super::states::{AgentState, DeviceState, UserState, UserType};

/// What the rules need to know about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView<'a> {
    /// The agent's id in the contact center.
    pub agent: &'a str,
    /// Its groups (workgroups), in priority order.
    pub groups: &'a [String],
    /// Its UC account type.
    pub user_type: UserType,
    /// How it is logged in.
    pub user_state: UserState,
    /// The profile its login session named, if any.
    pub session_profile: Option<&'a str>,
}

/// The contact-center side of an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CcState {
    /// The agent state or configured status string.
    pub status: String,
    /// The device state.
    pub device: DeviceState,
}

/// Why a profile was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileLevel {
    /// The login session named it.
    Session,
    /// The agent is listed for it.
    User,
    /// The agent's group has it.
    Group(String),
    /// The global profile of the agent's user type.
    Global(UserType),
}

/// What a contact-center change publishes into the agent's presentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcPush {
    /// The availability number.
    pub availability: Availability,
    /// The activity text per LCID.
    pub texts: CustomTexts,
}

/// What a UC change does in the contact center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcChange {
    /// Pull mode: T-Server's EventDNDOn (`true`) / EventDNDOff.
    Dnd(bool),
    /// A mapping's contact-center status.
    Status(String),
}

/// How a decision was reached, for `explain` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The profile's index and why, if one applies.
    pub profile: Option<(usize, ProfileLevel)>,
    /// Each augmentation looked at: its index, whether it applied, and
    /// each condition with whether it held.
    pub augmentations: Vec<(usize, Vec<(String, bool)>)>,
    /// The applied augmentation.
    pub augmentation: Option<usize>,
    /// What decided the result (a mapping, a table row, a range).
    pub rule: Option<String>,
    /// Why there is no result, when there is none.
    pub none_because: Option<String>,
}

impl SyncRules {
    /// The agent's profile and why.
    pub fn profile_for(&self, agent: &AgentView<'_>) -> Option<(usize, ProfileLevel)> {
        if let Some(i) = agent.session_profile.and_then(|p| self.profile(p)) {
            return Some((i, ProfileLevel::Session));
        }
        if let Some(&i) = self.users.get(agent.agent) {
            return Some((i, ProfileLevel::User));
        }
        if let Some((g, &i)) = agent
            .groups
            .iter()
            .find_map(|g| self.groups.get(g).map(|i| (g, i)))
        {
            return Some((i, ProfileLevel::Group(g.clone())));
        }
        self.global
            .get(&agent.user_type)
            .map(|&i| (i, ProfileLevel::Global(agent.user_type)))
    }

    /// Profile and augmentation, with the trace filled in; `None` when
    /// either is missing (the trace says which).
    fn select<'r>(
        &'r self,
        agent: &AgentView<'_>,
        trace: &mut Trace,
    ) -> Option<(&'r Profile, &'r Augmentation)> {
        let Some((p, level)) = self.profile_for(agent) else {
            trace.none_because = Some(format!(
                "no profile: none for the session, agent {:?}, its groups or user type {}",
                agent.agent, agent.user_type
            ));
            return None;
        };
        trace.profile = Some((p, level));
        let profile = &self.profiles[p];
        for (i, aug) in profile.augmentations.iter().enumerate() {
            let results: Vec<(String, bool)> = aug
                .conditions
                .iter()
                .map(|c| (c.describe(), c.holds(agent.user_type, agent.user_state)))
                .collect();
            let all = results.iter().all(|(_, held)| *held);
            trace.augmentations.push((i, results));
            if all {
                trace.augmentation = Some(i);
                return Some((profile, aug));
            }
        }
        trace.none_because = Some(format!(
            "no augmentation of profile {:?} has all its conditions hold",
            profile.name
        ));
        None
    }

    /// A contact-center change → what to publish into the agent's
    /// presentity. `None` is "no change": the presentity keeps what it
    /// shows.
    pub fn cc_to_uc(&self, agent: &AgentView<'_>, cc: &CcState) -> (Option<UcPush>, Trace) {
        let mut trace = Trace::default();
        let Some((profile, aug)) = self.select(agent, &mut trace) else {
            return (None, trace);
        };
        if !aug.enable_cc_to_uc {
            trace.none_because = Some(format!(
                "augmentation {:?} has enable_cc_to_uc = false",
                aug.name
            ));
            return (None, trace);
        }
        let mut push = None;
        if let (Mode::Push(p), Some(state)) = (&profile.mode, AgentState::of(&cc.status)) {
            if let Some(id) = p.table.get(state, cc.device) {
                let published = &p.states[id];
                trace.rule = Some(format!(
                    "aggregated state {id} (row {}: {} × {}), agent_states line {} → {}",
                    super::states::row(state, cc.device),
                    state.as_str(),
                    cc.device.as_str(),
                    published.line,
                    published.availability
                ));
                push = Some(UcPush {
                    availability: published.availability,
                    texts: published.texts.clone(),
                });
            }
        }
        if push.is_none() {
            if let Some(m) = aug
                .mappings
                .iter()
                .find(|m| m.direction.to_uc() && m.cc_status.eq_ignore_ascii_case(&cc.status))
            {
                let availability = m.availability.unwrap_or_default();
                trace.rule = Some(format!(
                    "mapping {} ({}) → {availability}",
                    m.label(),
                    m.direction
                ));
                push = Some(UcPush {
                    availability,
                    texts: CustomTexts::new().with(self.default_lcid, m.cc_status.clone()),
                });
            }
        }
        let Some(mut push) = push else {
            trace.none_because = Some(format!(
                "no aggregated state or mapping toward UC for status {:?} on a {} device: no change (seed 003)",
                cc.status,
                cc.device.as_str()
            ));
            return (None, trace);
        };
        if aug.add_in_queue_text
            && self
                .acd_available
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&cc.status))
        {
            let mut texts = CustomTexts::new();
            for (lcid, text) in push.texts.iter() {
                texts.insert(lcid, format!("{text} {IN_QUEUE_TEXT}"));
            }
            if texts.is_empty() {
                texts.insert(self.default_lcid, format!("{} {IN_QUEUE_TEXT}", cc.status));
            }
            push.texts = texts;
        }
        (Some(push), trace)
    }

    /// A UC availability change (not one presenced made) → what changes
    /// in the contact center. `None` is "no change".
    pub fn uc_to_cc(
        &self,
        agent: &AgentView<'_>,
        availability: Availability,
    ) -> (Option<CcChange>, Trace) {
        let mut trace = Trace::default();
        let Some((profile, aug)) = self.select(agent, &mut trace) else {
            return (None, trace);
        };
        if !aug.enable_uc_to_cc {
            trace.none_because = Some(format!(
                "augmentation {:?} has enable_uc_to_cc = false",
                aug.name
            ));
            return (None, trace);
        }
        if let Mode::Pull(ranges) = &profile.mode {
            let off = ranges.contains(availability);
            trace.rule = Some(format!(
                "dnd_off_ranges {ranges}: {availability} is {} → DND {}",
                if off { "inside" } else { "outside" },
                if off { "off" } else { "on" }
            ));
            return (Some(CcChange::Dnd(!off)), trace);
        }
        let found: Option<&Mapping> = aug
            .mappings
            .iter()
            .find(|m| m.direction.to_cc() && m.accept.is_some_and(|r| r.contains(availability)));
        match found {
            Some(m) => {
                trace.rule = Some(format!(
                    "mapping {} ({}) accepts {} ∋ {availability}",
                    m.label(),
                    m.direction,
                    m.accept.map(|r| r.to_string()).unwrap_or_default()
                ));
                (Some(CcChange::Status(m.cc_status.clone())), trace)
            }
            None => {
                trace.none_because = Some(format!(
                    "no mapping toward the contact center accepts {availability}: no change (seed 003)"
                ));
                (None, trace)
            }
        }
    }
}
