//! The `[sync]` section of presenced's TOML file, as serde reads it.
//!
//! The vocabulary is the vendors' (seeds 002 and 003), renamed only where
//! theirs names a product: CIC's `enableIcToLyncSync` is
//! `enable_cc_to_uc`, `lyncPresenceFromIc` is `availability`,
//! `lyncPresenceToIcStart`/`End` is `accept`, and T-Server's
//! `presence-availability-range` is `dnd_off_ranges`. Every value keeps
//! its position ([`toml::Spanned`]) so a refusal names the line;
//! [`crate::sync::SyncRules::build`] checks and compiles it.
//!
//! ```toml
//! [sync]
//! default_lcid = 1033                      # texts for watchers of unknown language
//! acd_available = ["Ready", "Available"]   # statuses that get "(In Queue)"
//! global = { EnterpriseVoice = "voice", Rcc = "rcc", ImOnly = "voice" }
//! groups = { sales = "sales" }             # group → profile
//! users = { "agent-17" = "rcc" }           # agent → profile
//!
//! [[sync.profiles]]
//! name = "voice"
//! users = ["agent-9"]                      # a custom profile's user list
//! aggregated_states = "1=IDLE_OUT, 2=IDLE_READY, 6=INCALL"   # push mode
//! [[sync.profiles.agent_states]]
//! id = "INCALL"
//! availability = 7001
//! activity = { 1033 = "Working with customer, do not disturb" }
//! [[sync.profiles.augmentations]]
//! name = "client"
//! order = 1
//! conditions = [{ name = "UserState", qualifications = ["LoggedInToClient"] }]
//! [[sync.profiles.augmentations.mappings]]
//! cc_status = "Available"
//! availability = 3500
//! accept = "3000-4499"
//! direction = "TwoWay"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// `[sync]` as written; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    /// The LCID whose text a watcher of unknown language is shown.
    pub default_lcid: Option<Spanned<u32>>,
    /// Contact-center statuses in which the agent takes ACD calls: while
    /// in one, `add_in_queue_text` appends "(In Queue)".
    pub acd_available: Option<Spanned<Vec<Spanned<String>>>>,
    /// The global profile per user type (seed 003's `scope=Global`).
    #[serde(default)]
    pub global: BTreeMap<String, Spanned<String>>,
    /// Profile per agent group (seed 003's workgroup level, seed 002's
    /// device-level `presence-profile`).
    #[serde(default)]
    pub groups: BTreeMap<String, Spanned<String>>,
    /// Profile per agent (seed 003's user level).
    #[serde(default)]
    pub users: BTreeMap<String, Spanned<String>>,
    /// SHA-256 (lowercase hex) of each integration's API token, by name.
    #[serde(default)]
    pub tokens: BTreeMap<String, Spanned<String>>,
    /// The profiles.
    #[serde(default)]
    pub profiles: Vec<Spanned<RawProfile>>,
}

/// `[[sync.profiles]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// The profile's name, referred to by `global`, `groups`, `users` and
    /// login sessions.
    pub name: Spanned<String>,
    /// A custom profile's users (seed 003's `<users>`).
    #[serde(default)]
    pub users: Vec<Spanned<String>>,
    /// Push mode: T-Server's `aggregated-states` option, verbatim.
    pub aggregated_states: Option<Spanned<String>>,
    /// Push mode: T-Server's agentStates XML, as TOML.
    #[serde(default)]
    pub agent_states: Vec<Spanned<RawAgentState>>,
    /// Pull mode: T-Server's `presence-availability-range`: availability
    /// ranges in which the agent counts as available (DND off).
    pub dnd_off_ranges: Option<Spanned<String>>,
    /// The ordered augmentation configurations.
    #[serde(default)]
    pub augmentations: Vec<Spanned<RawAugmentation>>,
}

/// `[[sync.profiles.agent_states]]`: one `<agentState>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentState {
    /// The aggregated state's id (`INCALL`).
    pub id: Spanned<String>,
    /// The availability to publish.
    pub availability: Spanned<u32>,
    /// Activity text per LCID (TOML keys are strings: `1033 = "…"`).
    #[serde(default)]
    pub activity: BTreeMap<String, Spanned<String>>,
}

/// `[[sync.profiles.augmentations]]`: one `<augmentationConfiguration>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAugmentation {
    /// Its name.
    pub name: Spanned<String>,
    /// Lower wins when several match.
    pub order: Spanned<u32>,
    /// `enableIcToLyncSync`.
    #[serde(default = "yes")]
    pub enable_cc_to_uc: bool,
    /// `enableLyncToIcSync`.
    #[serde(default = "yes")]
    pub enable_uc_to_cc: bool,
    /// `addInQueueText`.
    #[serde(default)]
    pub add_in_queue_text: bool,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<Spanned<RawCondition>>,
    /// `<presenceMap>`.
    #[serde(default)]
    pub mappings: Vec<Spanned<RawMapping>>,
}

fn yes() -> bool {
    true
}

/// One `<condition>`: holds when any qualification matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// `UserState` or `UserType`.
    pub name: Spanned<String>,
    /// The values that satisfy it.
    pub qualifications: Spanned<Vec<Spanned<String>>>,
}

/// One `<presenceMapping>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// `icStatus`: the contact-center status.
    pub cc_status: Spanned<String>,
    /// `lyncPresenceFromIc`: the availability published for it.
    pub availability: Option<Spanned<u32>>,
    /// `lyncPresenceToIcStart`–`End`, as `start-end`: the UC
    /// availabilities that set `cc_status`.
    pub accept: Option<Spanned<String>>,
    /// `TwoWay`, `OneWayToCc`, `OneWayToUc` or `None`.
    pub direction: Spanned<String>,
}
