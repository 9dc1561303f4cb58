//! Contact-center agents as directory entries (seed 003's merged company
//! directory: "a user with a configuration in both CIC and Lync appears
//! with a CIC status and Lync presence information"; a user with only a
//! UC account has presence and no CC status).
//!
//! The sync engine's [`SyncAgent`] holds the contact center's side as
//! posted (agent state or configured status, device state) and how the
//! agent is logged in. [`CcStatus::of`] turns that into what a directory
//! reader needs: the raw values, for programs, and one short text, for
//! people, that says the most important thing first (logged out, out of
//! service, in a call, then the agent state).

use serde::Serialize;

use super::{Entry, Kind, Origin};
use crate::sync::{AgentState, DeviceState, SyncAgent};

/// An agent's contact-center status as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CcStatus {
    /// The agent's id in the contact center.
    pub agent: String,
    /// The agent state or configured status as last posted (`Ready`,
    /// `NotReady`, `ACW`, or a status of the contact center's own such
    /// as `Away from Desk`).
    pub state: String,
    /// The device state as last posted (`Idle`, `Busy`, `OOS`).
    pub device: &'static str,
    /// How the agent is logged in (`LoggedOut`, `LoggedInToRcc`,
    /// `LoggedInToClient`).
    pub user_state: &'static str,
    /// What a person reads: `Logged out`, `Out of service`, `In a call`,
    /// `Ready`, `Not ready`, `After-call work`, `Away from desk`, or the
    /// configured status itself.
    pub text: String,
}

impl CcStatus {
    /// The status of `agent` as it stands.
    pub fn of(agent: &SyncAgent) -> CcStatus {
        CcStatus {
            agent: agent.agent.clone(),
            state: agent.cc.status.clone(),
            device: agent.cc.device.as_str(),
            user_state: agent.user_state.as_str(),
            text: text(&agent.cc.status, agent.cc.device),
        }
    }

    /// The entry of an agent no other source names: its address, the
    /// address's user part as its name, [`Kind::Agent`], and this status.
    /// `None` when `presentity` is no `sip:` address (a `tel:` agent has
    /// no place in a directory keyed by SIP URI).
    pub fn entry(&self, presentity: &str) -> Option<Entry> {
        let uri = super::ldap::normalize_uri(presentity)?;
        let name = uri
            .strip_prefix("sip:")
            .and_then(|a| a.split('@').next())
            .unwrap_or(&uri)
            .to_owned();
        let mut entry = Entry::new(uri, name, Kind::Agent);
        entry.origins.push(Origin::Agent);
        entry.cc_status = Some(self.clone());
        Some(entry)
    }
}

/// The short text of a posted state: being logged out or a device out of
/// service says more than the agent state, and a call more than Ready.
fn text(state: &str, device: DeviceState) -> String {
    let known = AgentState::of(state);
    let fixed = match (known, device) {
        (Some(AgentState::Logout), _) => "Logged out",
        (_, DeviceState::Oos) => "Out of service",
        (_, DeviceState::Busy) => "In a call",
        (Some(AgentState::Ready), _) => "Ready",
        (Some(AgentState::NotReady), _) => "Not ready",
        (Some(AgentState::Acw), _) => "After-call work",
        (Some(AgentState::WalkAway), _) => "Away from desk",
        (None, DeviceState::Idle) => return state.to_owned(),
    };
    fixed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{CcState, UserType};

    fn agent(state: &str, device: DeviceState) -> SyncAgent {
        let mut agent = SyncAgent::new("4711", "sip:Alice@Example.com", UserType::EnterpriseVoice);
        agent.cc = CcState {
            status: state.into(),
            device,
        };
        agent
    }

    #[test]
    fn the_text_says_the_most_important_thing_first() {
        let cases = [
            ("Logout", DeviceState::Busy, "Logged out"),
            ("Ready", DeviceState::Oos, "Out of service"),
            ("Ready", DeviceState::Busy, "In a call"),
            ("ACW", DeviceState::Busy, "In a call"),
            ("ready", DeviceState::Idle, "Ready"),
            ("NotReady", DeviceState::Idle, "Not ready"),
            ("ACW", DeviceState::Idle, "After-call work"),
            ("Walk_Away", DeviceState::Idle, "Away from desk"),
            ("Away from Desk", DeviceState::Idle, "Away from Desk"),
            ("Away from Desk", DeviceState::Busy, "In a call"),
        ];
        for (state, device, want) in cases {
            assert_eq!(
                CcStatus::of(&agent(state, device)).text,
                want,
                "{state} {device:?}"
            );
        }
        let status = CcStatus::of(&agent("NotReady", DeviceState::Idle));
        assert_eq!(status.agent, "4711");
        assert_eq!(status.state, "NotReady");
        assert_eq!(status.device, "Idle");
        assert_eq!(status.user_state, "LoggedOut");
    }

    #[test]
    fn an_agent_alone_is_an_entry_of_its_own() {
        let status = CcStatus::of(&agent("Ready", DeviceState::Idle));
        let entry = status.entry("sip:Alice@Example.com").unwrap();
        assert_eq!(entry.uri, "sip:Alice@example.com");
        assert_eq!(entry.display_name, "Alice");
        assert_eq!(entry.kind, Kind::Agent);
        assert_eq!(entry.origins, [Origin::Agent]);
        assert_eq!(entry.cc_status.as_ref(), Some(&status));
        assert!(status.entry("tel:+31612345678").is_none());
    }
}
