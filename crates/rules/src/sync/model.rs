//! The checked `[sync]` rules: profiles, their mode (push, pull, or
//! mappings only), ordered augmentations with conditions, and mappings.
//! Built by [`SyncRules::build`] (`build.rs`); read by the decisions in
//! `decide.rs` and by `explain`.

use std::collections::BTreeMap;

use presence::availability::{Availability, CustomTexts, Lcid};

use super::ranges::{Range, Ranges};
use super::states::{AggregatedStates, SyncDirection, UserState, UserType};

/// The text `add_in_queue_text` appends (seed 003's "(In Queue)").
pub const IN_QUEUE_TEXT: &str = "(In Queue)";

/// The checked `[sync]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRules {
    /// The language whose text a watcher of unknown language is shown,
    /// and the LCID a mapping's contact-center status is published in.
    pub default_lcid: Lcid,
    /// Statuses in which the agent takes ACD calls.
    pub acd_available: Vec<String>,
    /// Profile index per user type (the global level).
    pub global: BTreeMap<UserType, usize>,
    /// Profile index per agent group.
    pub groups: BTreeMap<String, usize>,
    /// Profile index per agent, from `[sync] users` and custom profiles'
    /// user lists.
    pub users: BTreeMap<String, usize>,
    /// SHA-256 of each integration's API token, by integration name.
    pub tokens: BTreeMap<String, [u8; 32]>,
    /// The profiles, in file order.
    pub profiles: Vec<Profile>,
}

impl Default for SyncRules {
    /// No profiles: nothing syncs.
    fn default() -> SyncRules {
        SyncRules {
            default_lcid: Lcid::EN_US,
            acd_available: vec!["Ready".into(), "Available".into()],
            global: BTreeMap::new(),
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            tokens: BTreeMap::new(),
            profiles: Vec::new(),
        }
    }
}

/// One profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// Its config line.
    pub line: usize,
    /// Push, pull, or neither.
    pub mode: Mode,
    /// Augmentations, sorted by `order` (lowest first). A profile written
    /// without any gets one that always applies, syncs both ways and has
    /// no mappings (a T-Server profile has no augmentations).
    pub augmentations: Vec<Augmentation>,
}

/// Seed 002's two modes, exclusive per profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Agent × device → aggregated state → availability and texts.
    Push(Box<Push>),
    /// UC availability → DND off inside the ranges, on outside them.
    Pull(Ranges),
    /// Only the augmentations' mappings sync (seed 003).
    Mappings,
}

/// Push mode's two tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The `aggregated-states` option.
    pub table: AggregatedStates,
    /// The agentStates map: aggregated state id → what is published.
    pub states: BTreeMap<String, Published>,
}

/// What an aggregated state publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The availability number.
    pub availability: Availability,
    /// The activity text per LCID.
    pub texts: CustomTexts,
    /// Config line of its `agent_states` entry.
    pub line: usize,
}

/// One augmentation configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Augmentation {
    /// Its name.
    pub name: String,
    /// Lower wins.
    pub order: u32,
    /// Config line (0 for the implicit one).
    pub line: usize,
    /// Contact-center changes reach UC.
    pub enable_cc_to_uc: bool,
    /// UC changes reach the contact center.
    pub enable_uc_to_cc: bool,
    /// Append "(In Queue)" while the agent is ACD-available.
    pub add_in_queue_text: bool,
    /// All must hold.
    pub conditions: Vec<Condition>,
    /// The presence map.
    pub mappings: Vec<Mapping>,
}

/// A condition: holds when any of its qualifications matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The agent's user state is one of these.
    UserState(Vec<UserState>),
    /// The agent's user type is one of these.
    UserType(Vec<UserType>),
}

impl Condition {
    /// Whether it holds for an agent.
    pub fn holds(&self, user_type: UserType, user_state: UserState) -> bool {
        match self {
            Condition::UserState(any) => any.contains(&user_state),
            Condition::UserType(any) => any.contains(&user_type),
        }
    }

    /// `UserState in [LoggedInToRcc]`, for explain.
    pub fn describe(&self) -> String {
        let (name, values): (_, Vec<&str>) = match self {
            Condition::UserState(v) => ("UserState", v.iter().map(|s| s.as_str()).collect()),
            Condition::UserType(v) => ("UserType", v.iter().map(|s| s.as_str()).collect()),
        };
        format!("{name} in [{}]", values.join(", "))
    }
}

/// One presence mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The contact-center status.
    pub cc_status: String,
    /// The availability published for it (needed toward UC).
    pub availability: Option<Availability>,
    /// The UC availabilities that set it (needed toward the contact center).
    pub accept: Option<Range>,
    /// Which way it syncs.
    pub direction: SyncDirection,
    /// Its config line.
    pub line: usize,
}

impl Mapping {
    /// `"Available" (line 12)`, how errors and explain name it.
    pub fn label(&self) -> String {
        format!("{:?} (line {})", self.cc_status, self.line)
    }
}

/// A finding `check-config` shows without refusing the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncWarning {
    /// Byte offset in the config text.
    pub offset: usize,
    /// The field it is about.
    pub field: String,
    /// What will happen.
    pub message: String,
}

/// A refusal, naming the field, at a byte offset of the config text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SyncError {
    /// Byte offset of the offending value.
    pub offset: usize,
    /// `sync.profiles[1] "rcc".augmentations[0] "away".mappings[2]` and the like.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl SyncRules {
    /// The profile with this name.
    pub fn profile(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    /// Whether `hash` (SHA-256 of a presented token) is one of the
    /// integrations' tokens, compared in constant time; the integration's
    /// name when it is.
    pub fn token_owner(&self, hash: &[u8; 32]) -> Option<&str> {
        use subtle::ConstantTimeEq;
        let mut owner = None;
        // Every entry is compared in full, so timing tells nothing.
        for (name, known) in &self.tokens {
            if bool::from(known.ct_eq(hash)) {
                owner = Some(name.as_str());
            }
        }
        owner
    }
}
