//! `presenced explain AGENT`: for an agent's current state, which
//! profile (and at which level), which augmentation (each condition with
//! whether it held), and which mapping, table row or range decided each
//! direction — or why nothing does.

use super::agent::SyncAgent;
use super::decide::{CcChange, ProfileLevel, Trace};
use super::model::{Mode, SyncRules};
use crate::explain::Explanation;

impl SyncRules {
    /// Explains both directions for the agent's current state.
    pub fn explain(&self, agent: &SyncAgent) -> Explanation {
        let mut lines = vec![format!(
            "agent {} → {} ({}, {}{})",
            agent.agent,
            agent.presentity,
            agent.user_type,
            agent.user_state,
            agent
                .session_profile
                .as_ref()
                .map(|p| format!(", login session profile {p:?}"))
                .unwrap_or_default()
        )];
        let (push, trace) = self.cc_to_uc(&agent.view(), &agent.cc);
        lines.push(format!(
            "contact center → UC: status {:?}, device {}",
            agent.cc.status,
            agent.cc.device.as_str()
        ));
        self.trace_lines(&trace, &mut lines);
        if let Some(push) = push {
            let texts: Vec<String> = push
                .texts
                .iter()
                .map(|(l, t)| format!("{}={t:?}", l.0))
                .collect();
            lines.push(format!(
                "  publishes {} [{}]",
                push.availability,
                texts.join(", ")
            ));
        }
        match agent.uc {
            Some(uc) => {
                let (change, trace) = self.uc_to_cc(&agent.view(), uc);
                lines.push(format!("UC → contact center: aggregate {uc}"));
                self.trace_lines(&trace, &mut lines);
                match change {
                    Some(CcChange::Dnd(on)) => {
                        lines.push(format!("  sends DND {}", if on { "on" } else { "off" }))
                    }
                    Some(CcChange::Status(s)) => lines.push(format!("  sends status {s:?}")),
                    None => {}
                }
            }
            None => lines.push("UC → contact center: no UC state seen yet".into()),
        }
        let answered = trace.profile.is_some();
        Explanation { lines, answered }
    }

    fn trace_lines(&self, trace: &Trace, lines: &mut Vec<String>) {
        if let Some((p, level)) = &trace.profile {
            let profile = &self.profiles[*p];
            let why = match level {
                ProfileLevel::Session => "named by the login session".to_owned(),
                ProfileLevel::User => "the agent's own (user level)".to_owned(),
                ProfileLevel::Group(g) => format!("of group {g:?}"),
                ProfileLevel::Global(t) => format!("global for user type {t}"),
            };
            let mode = match &profile.mode {
                Mode::Push(_) => "push",
                Mode::Pull(_) => "pull",
                Mode::Mappings => "mappings",
            };
            lines.push(format!(
                "  profile {:?} (line {}, {mode} mode): {why}",
                profile.name, profile.line
            ));
            for (i, conditions) in &trace.augmentations {
                let aug = &profile.augmentations[*i];
                let applied = trace.augmentation == Some(*i);
                let conds: Vec<String> = conditions
                    .iter()
                    .map(|(c, held)| format!("{c} {}", if *held { "holds" } else { "fails" }))
                    .collect();
                lines.push(format!(
                    "  augmentation {:?} (order {}{}): {}{}",
                    aug.name,
                    aug.order,
                    if aug.line > 0 {
                        format!(", line {}", aug.line)
                    } else {
                        String::new()
                    },
                    if conds.is_empty() {
                        "no conditions".to_owned()
                    } else {
                        conds.join("; ")
                    },
                    if applied {
                        " → applies (lowest order whose conditions all hold)"
                    } else {
                        " → skipped"
                    }
                ));
            }
        }
        if let Some(rule) = &trace.rule {
            lines.push(format!("  by {rule}"));
        }
        if let Some(why) = &trace.none_because {
            lines.push(format!("  no change: {why}"));
        }
    }
}
