//! An agent as stored: the binding and both sides' last states, so a
//! restarted server (after kill -9 too) has every agent where it was and
//! puts the same sync source into its presentity again.
//!
//! JSON like the engine's records; enums as the names the config and the
//! API use, so the file reads the way an operator writes.

use presence::availability::{Availability, CustomTexts, Lcid};
use rules::sync::{CcChange, CcState, DeviceState, SyncAgent, UcPush, UserState, UserType};
use serde::{Deserialize, Serialize};

use crate::store::{Table, Write};

/// One stored agent ([`SyncAgent`] in plain data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Agent id in the contact center (the key).
    pub agent: String,
    /// The bound presentity.
    pub presentity: String,
    /// Its groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `EnterpriseVoice`, `Rcc` or `ImOnly`.
    pub user_type: String,
    /// `LoggedOut`, `LoggedInToRcc` or `LoggedInToClient`.
    pub user_state: String,
    /// The login session's profile.
    #[serde(default)]
    pub session_profile: Option<String>,
    /// The contact-center status as last posted.
    pub status: String,
    /// `Idle`, `Busy` or `OOS`.
    pub device: String,
    /// The UC aggregate as last seen.
    #[serde(default)]
    pub uc: Option<u32>,
    /// What presenced last published: availability and texts by LCID.
    #[serde(default)]
    pub pushed: Option<(u32, Vec<(u32, String)>)>,
    /// What presenced last sent the contact center: `dnd:on`, `dnd:off`
    /// or `status:NAME`.
    #[serde(default)]
    pub sent: Option<String>,
}

/// Why a stored record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored sync agent {agent:?}: {message}")]
pub struct RecordError {
    /// The agent.
    pub agent: String,
    /// What is wrong.
    pub message: String,
}

impl AgentRecord {
    /// The record of an agent.
    pub fn of(agent: &SyncAgent) -> AgentRecord {
        AgentRecord {
            agent: agent.agent.clone(),
            presentity: agent.presentity.clone(),
            groups: agent.groups.clone(),
            user_type: agent.user_type.to_string(),
            user_state: agent.user_state.to_string(),
            session_profile: agent.session_profile.clone(),
            status: agent.cc.status.clone(),
            device: agent.cc.device.as_str().to_owned(),
            uc: agent.uc.map(|a| a.value()),
            pushed: agent.pushed_uc.as_ref().map(|p| {
                let texts = p.texts.iter().map(|(l, t)| (l.0, t.to_owned())).collect();
                (p.availability.value(), texts)
            }),
            sent: agent.sent_cc.as_ref().map(|c| match c {
                CcChange::Dnd(true) => "dnd:on".to_owned(),
                CcChange::Dnd(false) => "dnd:off".to_owned(),
                CcChange::Status(s) => format!("status:{s}"),
            }),
        }
    }

    /// The agent back.
    pub fn agent(&self) -> Result<SyncAgent, RecordError> {
        let err = |message: String| RecordError {
            agent: self.agent.clone(),
            message,
        };
        let user_type: UserType = self.user_type.parse().map_err(err)?;
        let user_state: UserState = self.user_state.parse().map_err(err)?;
        let device: DeviceState = self.device.parse().map_err(err)?;
        let sent = match self.sent.as_deref() {
            None => None,
            Some("dnd:on") => Some(CcChange::Dnd(true)),
            Some("dnd:off") => Some(CcChange::Dnd(false)),
            Some(other) => match other.strip_prefix("status:") {
                Some(status) => Some(CcChange::Status(status.to_owned())),
                None => {
                    return Err(err(format!(
                        "sent {other:?} is not dnd:on|off or status:NAME"
                    )))
                }
            },
        };
        let mut agent = SyncAgent::new(&self.agent, &self.presentity, user_type);
        agent.groups = self.groups.clone();
        agent.user_state = user_state;
        agent.session_profile = self.session_profile.clone();
        agent.cc = CcState {
            status: self.status.clone(),
            device,
        };
        agent.uc = self.uc.map(Availability::new);
        agent.pushed_uc = self.pushed.as_ref().map(|(availability, texts)| UcPush {
            availability: Availability::new(*availability),
            texts: texts.iter().fold(CustomTexts::new(), |t, (lcid, text)| {
                t.with(Lcid(*lcid), text.clone())
            }),
        });
        agent.sent_cc = sent;
        Ok(agent)
    }

    /// The store write that keeps it.
    pub fn write(&self) -> Write {
        Write::Put {
            table: Table::SyncAgents,
            key: self.agent.as_bytes().to_vec(),
            // Plain strings and numbers: serialising cannot fail.
            value: serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// The store write that forgets an agent.
    pub fn delete(agent: &str) -> Write {
        Write::Delete {
            table: Table::SyncAgents,
            key: agent.as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_survives_its_record() {
        let mut agent = SyncAgent::new("4711", "sip:alice@example.com", UserType::Rcc);
        agent.groups = vec!["sales".into()];
        agent.user_state = UserState::LoggedInToRcc;
        agent.session_profile = Some("night".into());
        agent.cc = CcState {
            status: "ACW".into(),
            device: DeviceState::Busy,
        };
        agent.uc = Some(Availability::new(6500));
        agent.pushed_uc = Some(UcPush {
            availability: Availability::new(7001),
            texts: CustomTexts::new()
                .with(Lcid::EN_US, "Working with customer")
                .with(Lcid::DE_DE, "Im Kundengespräch"),
        });
        agent.sent_cc = Some(CcChange::Status("Away from Desk".into()));
        let record = AgentRecord::of(&agent);
        let Write::Put { value, .. } = record.write() else {
            panic!("a put");
        };
        let back: AgentRecord = serde_json::from_slice(&value).expect("decodes");
        assert_eq!(back.agent().expect("reads"), agent);
        for sent in [CcChange::Dnd(true), CcChange::Dnd(false)] {
            agent.sent_cc = Some(sent);
            assert_eq!(AgentRecord::of(&agent).agent().expect("reads"), agent);
        }
    }

    #[test]
    fn a_bad_record_names_the_agent_and_the_value() {
        let mut record = AgentRecord::of(&SyncAgent::new("9", "sip:b@x", UserType::ImOnly));
        record.device = "Sleeping".into();
        let e = record.agent().unwrap_err().to_string();
        assert!(
            e.starts_with("stored sync agent \"9\": \"Sleeping\" is not a device state"),
            "{e}"
        );
    }
}
