//! One agent's two sides and the loop prevention between them.
//!
//! presenced is both a writer and a reader on each side: it publishes the
//! agent's contact-center state into the presentity (whose aggregate it
//! then reads back as a UC change), and it sends UC-derived changes to
//! the contact center (which then posts the agent's new status back). A
//! change that is only the echo of presenced's own write must not be
//! synced back, or the two sides chase each other (ping-pong). The rule:
//!
//! - a UC aggregate equal to the availability presenced last published
//!   for the agent is its own write seen again: not synced;
//! - a contact-center status equal to the status presenced last sent is
//!   the contact center confirming it: recorded, not synced back.
//!
//! Both sides are remembered (not consumed), so repeated echoes — a
//! re-aggregation, a retried post — stay quiet too. The functions here
//! are pure; the runtime stores [`SyncAgent`] and applies the effects.

use presence::availability::Availability;

use super::decide::{AgentView, CcChange, CcState, Trace, UcPush};
use super::model::SyncRules;
use super::states::{DeviceState, UserState, UserType};

/// An agent as the runtime keeps (and stores) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAgent {
    /// Agent id in the contact center.
    pub agent: String,
    /// The bound presentity.
    pub presentity: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// UC account type.
    pub user_type: UserType,
    /// How it is logged in.
    pub user_state: UserState,
    /// The login session's profile, if it named one.
    pub session_profile: Option<String>,
    /// The contact-center side as last posted.
    pub cc: CcState,
    /// The UC aggregate as last seen.
    pub uc: Option<Availability>,
    /// What presenced last published into the presentity.
    pub pushed_uc: Option<UcPush>,
    /// What presenced last sent to the contact center.
    pub sent_cc: Option<CcChange>,
}

/// What the runtime must do after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Publish this as the agent's sync source.
    PublishUc(UcPush),
    /// Deliver this to the contact center (the event stream).
    SendCc(CcChange),
}

impl SyncAgent {
    /// A newly bound agent, logged out, idle, with nothing synced yet.
    pub fn new(agent: &str, presentity: &str, user_type: UserType) -> SyncAgent {
        SyncAgent {
            agent: agent.to_owned(),
            presentity: presentity.to_owned(),
            groups: Vec::new(),
            user_type,
            user_state: UserState::LoggedOut,
            session_profile: None,
            cc: CcState {
                status: "Logout".into(),
                device: DeviceState::Idle,
            },
            uc: None,
            pushed_uc: None,
            sent_cc: None,
        }
    }

    /// The view the rules decide on.
    pub fn view(&self) -> AgentView<'_> {
        AgentView {
            agent: &self.agent,
            groups: &self.groups,
            user_type: self.user_type,
            user_state: self.user_state,
            session_profile: self.session_profile.as_deref(),
        }
    }

    /// The contact center posted a status and/or device state. Returns
    /// the effect (if any) and the trace.
    pub fn cc_changed(&mut self, rules: &SyncRules, cc: CcState) -> (Option<Effect>, Trace) {
        let echo = matches!(&self.sent_cc, Some(CcChange::Status(s)) if s.eq_ignore_ascii_case(&cc.status))
            && cc.device == self.cc.device;
        self.cc = cc;
        if echo {
            let trace = Trace {
                none_because: Some(format!(
                    "status {:?} is the one presenced sent: not synced back",
                    self.cc.status
                )),
                ..Trace::default()
            };
            return (None, trace);
        }
        self.resync_uc(rules)
    }

    /// Applies the current rules to the contact-center side again (after
    /// a login-session change or a reload): publishes when the result
    /// differs from what was published.
    pub fn resync_uc(&mut self, rules: &SyncRules) -> (Option<Effect>, Trace) {
        let (push, trace) = rules.cc_to_uc(&self.view(), &self.cc);
        match push {
            Some(push) if self.pushed_uc.as_ref() != Some(&push) => {
                self.pushed_uc = Some(push.clone());
                // Whatever the contact center was last sent is now stale:
                // a later post of that status is a real change again.
                self.sent_cc = None;
                (Some(Effect::PublishUc(push)), trace)
            }
            _ => (None, trace),
        }
    }

    /// The presentity's aggregated availability changed to `availability`.
    pub fn uc_changed(
        &mut self,
        rules: &SyncRules,
        availability: Availability,
    ) -> (Option<Effect>, Trace) {
        self.uc = Some(availability);
        if self
            .pushed_uc
            .as_ref()
            .is_some_and(|p| p.availability == availability)
        {
            let trace = Trace {
                none_because: Some(format!(
                    "{availability} is what presenced published: not synced back"
                )),
                ..Trace::default()
            };
            return (None, trace);
        }
        let (change, trace) = rules.uc_to_cc(&self.view(), availability);
        match change {
            Some(change) if self.sent_cc.as_ref() != Some(&change) && !self.already(&change) => {
                self.sent_cc = Some(change.clone());
                (Some(Effect::SendCc(change)), trace)
            }
            _ => (None, trace),
        }
    }

    /// Whether the contact center is already in the state a change asks
    /// for (a status it posted itself).
    fn already(&self, change: &CcChange) -> bool {
        matches!(change, CcChange::Status(s) if s.eq_ignore_ascii_case(&self.cc.status))
    }
}
