//! The sync engine's rules: contact-center agent states ↔ UC presence
//! (seeds 002 and 003), with no I/O.
//!
//! - [`config`]: `[sync]` as written, every value with its position;
//! - [`ranges`], [`states`]: availability ranges, agent / device /
//!   aggregated states, user types and states, directions;
//! - [`model`]: the checked rules; `build.rs` holds every check
//!   ([`SyncRules::build`]: refusals name the field and offset, warnings
//!   list what nothing maps);
//! - [`decide`]: the mapping functions both ways, with their trace;
//! - [`agent`]: one agent's two sides and the loop prevention;
//! - `explain.rs`: [`SyncRules::explain`].
//!
//! ```
//! use rules::sync::{CcState, DeviceState, Effect, RawSync, SyncAgent, SyncRules, UserType};
//!
//! #[derive(serde::Deserialize)]
//! struct File { sync: RawSync }
//! let text = r#"
//! [sync]
//! global = { EnterpriseVoice = "voice" }
//! [[sync.profiles]]
//! name = "voice"
//! aggregated_states = "2=IDLE_READY, 7=INCALL"
//! agent_states = [
//!   { id = "IDLE_READY", availability = 3501, activity = { 1033 = "I am available" } },
//!   { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer" } },
//! ]
//! "#;
//! let file: File = toml::from_str(text).unwrap();
//! let (rules, _warnings) = SyncRules::build(&file.sync, text).unwrap();
//! let mut agent = SyncAgent::new("4711", "sip:alice@example.com", UserType::EnterpriseVoice);
//! let ready = CcState { status: "Ready".into(), device: DeviceState::Busy };
//! let (effect, _) = agent.cc_changed(&rules, ready);
//! let Some(Effect::PublishUc(push)) = effect else { panic!() };
//! assert_eq!(push.availability.value(), 7001);
//! ```

pub mod agent;
mod build;
pub mod config;
pub mod decide;
mod explain;
pub mod model;
pub mod ranges;
pub mod states;
#[cfg(test)]
mod tests;

pub use agent::{Effect, SyncAgent};
pub use config::RawSync;
pub use decide::{AgentView, CcChange, CcState, ProfileLevel, Trace, UcPush};
pub use model::{
    Augmentation, Condition, Mapping, Mode, Profile, SyncError, SyncRules, SyncWarning,
};
pub use ranges::{Range, Ranges};
pub use states::{AgentState, AggregatedStates, DeviceState, SyncDirection, UserState, UserType};
