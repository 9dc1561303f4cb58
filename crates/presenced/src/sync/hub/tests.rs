//! The hub's effects: push mode through to sync sources, pull mode to DND
//! events, login-session profiles, reloads, refusals, and the loop
//! prevention under fast flips on both sides.

use std::sync::Arc;

use presence::availability::{Availability, Lcid};
use rules::sync::{DeviceState, RawSync, SyncRules, UserState, UserType};

use super::*;
use crate::sync::events::EventKind;

/// A push profile for voice users, a pull profile for IM-only users, a
/// mappings profile for RCC users and a second push profile that only a
/// login session names.
const RULES: &str = r#"
[sync]
global = { EnterpriseVoice = "voice", ImOnly = "dnd", Rcc = "rcc" }

[[sync.profiles]]
name = "voice"
aggregated_states = "1=OUT, 2=READY, 3=NOTREADY, 4=ACW, 5=NOTREADY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OUT, 12=OUT, 13=OUT, 14=OUT, 15=OUT"
agent_states = [
  { id = "OUT", availability = 18000, activity = { 1033 = "Logged out" } },
  { id = "READY", availability = 3501, activity = { 1033 = "Available for customers" } },
  { id = "NOTREADY", availability = 6001, activity = { 1033 = "Not ready" } },
  { id = "ACW", availability = 6002, activity = { 1033 = "After call work", 1031 = "Nachbearbeitung" } },
  { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer, do not disturb", 1031 = "Im Kundengespräch, bitte nicht stören" } },
]

[[sync.profiles]]
name = "night"
aggregated_states = "1=QUIET, 2=QUIET, 3=QUIET, 4=QUIET, 5=QUIET, 6=QUIET, 7=QUIET, 8=QUIET, 9=QUIET, 10=QUIET, 11=QUIET, 12=QUIET, 13=QUIET, 14=QUIET, 15=QUIET"
agent_states = [{ id = "QUIET", availability = 9501, activity = { 1033 = "Night shift" } }]

[[sync.profiles]]
name = "dnd"
dnd_off_ranges = "3000-5999,12000-14999"

[[sync.profiles]]
name = "rcc"
[[sync.profiles.augmentations]]
name = "rcc"
order = 1
mappings = [
  { cc_status = "Available", availability = 3500, accept = "3000-5999", direction = "TwoWay" },
  { cc_status = "Away from Desk", availability = 15500, accept = "15000-17999", direction = "TwoWay" },
]
"#;

fn rules(text: &str) -> Arc<SyncRules> {
    #[derive(serde::Deserialize)]
    struct File {
        sync: RawSync,
    }
    let file: File = toml::from_str(text).expect("toml");
    Arc::new(SyncRules::build(&file.sync, text).expect("builds").0)
}

fn binding(presentity: &str, user_type: UserType) -> Binding {
    Binding {
        presentity: presentity.to_owned(),
        user_type,
        user_state: Some(UserState::LoggedInToClient),
        groups: Vec::new(),
    }
}

fn published(changes: &Changes) -> Vec<(String, Option<u32>)> {
    changes
        .publish
        .iter()
        .map(|(p, s)| (p.clone(), s.as_ref().map(|s| s.availability.value())))
        .collect()
}

const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";

#[test]
fn push_mode_publishes_ready_in_call_and_acw_with_their_texts() {
    let mut hub = SyncHub::new(rules(RULES));
    let bound = hub
        .bind("4711", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    assert_eq!(bound.track, vec![(ALICE.to_owned(), true)]);
    // A new agent is logged out: row 1, OUT.
    assert_eq!(published(&bound), vec![(ALICE.to_owned(), Some(18000))]);
    assert_eq!(bound.store.len(), 1);

    let ready = hub
        .post_state("4711", Some("Ready".into()), Some(DeviceState::Idle))
        .unwrap();
    assert_eq!(published(&ready), vec![(ALICE.to_owned(), Some(3501))]);
    let call = hub
        .post_state("4711", None, Some(DeviceState::Busy))
        .unwrap();
    let state = call.publish[0].1.as_ref().unwrap();
    assert_eq!(state.availability, Availability::new(7001));
    assert_eq!(
        state.texts.get(Lcid::DE_DE),
        Some("Im Kundengespräch, bitte nicht stören")
    );
    let acw = hub
        .post_state("4711", Some("ACW".into()), Some(DeviceState::Idle))
        .unwrap();
    assert_eq!(published(&acw), vec![(ALICE.to_owned(), Some(6002))]);
    // The same state again publishes nothing, but is still stored.
    let again = hub.post_state("4711", Some("ACW".into()), None).unwrap();
    assert!(again.publish.is_empty());
    assert_eq!(again.store.len(), 1);
    // presenced's own write seen again on the UC side: no event.
    assert!(hub
        .uc_changed(ALICE, Availability::new(6002))
        .events
        .is_empty());
}

#[test]
fn pull_mode_sends_dnd_on_and_off_by_ranges() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("8", binding(BOB, UserType::ImOnly)).unwrap();
    let dnd = hub.uc_changed(BOB, Availability::new(9500));
    assert_eq!(
        dnd.events,
        vec![("8".to_owned(), EventKind::Dnd { on: true })]
    );
    // A move within the DND side is no news.
    assert!(hub
        .uc_changed(BOB, Availability::new(6500))
        .events
        .is_empty());
    let off = hub.uc_changed(BOB, Availability::new(3500));
    assert_eq!(
        off.events,
        vec![("8".to_owned(), EventKind::Dnd { on: false })]
    );
    // An untracked presentity is nobody's.
    assert_eq!(
        hub.uc_changed(ALICE, Availability::new(9500)),
        Changes::default()
    );
}

#[test]
fn a_login_session_profile_overrides_the_global_one_until_it_ends() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("4711", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    hub.post_state("4711", Some("Ready".into()), None).unwrap();
    let night = hub
        .session("4711", UserState::LoggedInToClient, Some("night".into()))
        .unwrap();
    assert_eq!(published(&night), vec![(ALICE.to_owned(), Some(9501))]);
    assert_eq!(
        hub.agent("4711").unwrap().session_profile.as_deref(),
        Some("night")
    );
    let back = hub
        .session("4711", UserState::LoggedInToClient, None)
        .unwrap();
    assert_eq!(published(&back), vec![(ALICE.to_owned(), Some(3501))]);
    assert_eq!(
        hub.session("4711", UserState::LoggedInToClient, Some("nope".into())),
        Err(HubError::UnknownProfile("nope".into()))
    );
}

#[test]
fn refusals_name_their_field() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("1", binding(ALICE, UserType::Rcc)).unwrap();
    let taken = hub.bind("2", binding(ALICE, UserType::Rcc)).unwrap_err();
    assert_eq!(taken.field(), "presentity");
    assert_eq!(
        taken.to_string(),
        "sip:alice@example.com is bound to agent \"1\""
    );
    let unknown = hub.post_state("3", Some("Ready".into()), None).unwrap_err();
    assert_eq!(unknown.field(), "agent");
    assert_eq!(hub.unbind("3").unwrap_err().field(), "agent");
}

#[test]
fn a_rebind_to_another_presentity_moves_the_source_and_unbind_takes_it_out() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("1", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    hub.post_state("1", Some("Ready".into()), None).unwrap();
    let moved = hub
        .bind("1", binding(BOB, UserType::EnterpriseVoice))
        .unwrap();
    assert_eq!(
        moved.track,
        vec![(ALICE.to_owned(), false), (BOB.to_owned(), true)]
    );
    assert_eq!(
        published(&moved),
        vec![(ALICE.to_owned(), None), (BOB.to_owned(), Some(3501))]
    );
    assert_eq!(hub.find(BOB).map(|a| a.agent.as_str()), Some("1"));
    assert!(hub.find(ALICE).is_none());
    let gone = hub.unbind("1").unwrap();
    assert_eq!(published(&gone), vec![(BOB.to_owned(), None)]);
    assert_eq!(gone.store, vec![AgentRecord::delete("1")]);
    assert!(hub.is_empty());
}

#[test]
fn a_reload_maps_current_agents_again() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("1", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    hub.post_state("1", Some("Ready".into()), None).unwrap();
    let edited = RULES.replace(
        "{ id = \"READY\", availability = 3501",
        "{ id = \"READY\", availability = 3600",
    );
    let changes = hub.reconfigure(rules(&edited));
    assert_eq!(published(&changes), vec![(ALICE.to_owned(), Some(3600))]);
    // The same rules again: nothing to do.
    assert_eq!(hub.reconfigure(rules(&edited)), Changes::default());
}

#[test]
fn restore_puts_the_last_published_states_back_without_writing() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("1", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    let last = hub
        .post_state("1", Some("Ready".into()), Some(DeviceState::Busy))
        .unwrap();
    let agent = hub.agent("1").unwrap().clone();
    let mut restarted = SyncHub::new(rules(RULES));
    let changes = restarted.restore(vec![agent.clone()]);
    assert_eq!(changes.track, vec![(ALICE.to_owned(), true)]);
    assert_eq!(changes.publish, last.publish);
    assert!(changes.store.is_empty());
    assert_eq!(restarted.agent("1"), Some(&agent));
}

/// The loop prevention under fast flips: a contact center that applies
/// every status event at once and posts it back, and a UC side where the
/// user's own manual state, when set, wins over the sync source (the
/// engine's aggregation). Whatever order the flips come in, the
/// exchange settles within a few messages and both sides agree.
#[test]
fn fast_flips_on_both_sides_settle_without_ping_pong() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("1", binding(ALICE, UserType::Rcc)).unwrap();
    let mut manual: Option<u32> = None;
    let mut source: Option<u32> = None;
    let mut cc_status = String::from("Logout");
    // Carries out changes until nothing is left; returns how many
    // messages crossed between the sides.
    let settle = |hub: &mut SyncHub,
                  mut pending: Changes,
                  manual: &Option<u32>,
                  source: &mut Option<u32>,
                  cc_status: &mut String| {
        let mut messages = 0;
        for _ in 0..50 {
            if pending.publish.is_empty() && pending.events.is_empty() {
                return messages;
            }
            let mut next = Changes::default();
            for (_, state) in pending.publish.drain(..) {
                messages += 1;
                *source = state.map(|s| s.availability.value());
                let aggregate = manual.or(*source).unwrap_or(18000);
                let more = hub.uc_changed(ALICE, Availability::new(aggregate));
                next.publish.extend(more.publish);
                next.events.extend(more.events);
            }
            for (agent, event) in pending.events.drain(..) {
                messages += 1;
                if let EventKind::Status { status } = event {
                    *cc_status = status.clone();
                    let more = hub.post_state(&agent, Some(status), None).unwrap();
                    next.publish.extend(more.publish);
                    next.events.extend(more.events);
                }
            }
            pending = next;
        }
        panic!("no settling within 50 rounds: ping-pong");
    };
    let flips: [(&str, Option<u32>); 6] = [
        ("Available", None),
        ("Away from Desk", Some(3500)),
        ("Available", Some(15500)),
        ("Away from Desk", None),
        ("Available", Some(15500)),
        ("Available", Some(3500)),
    ];
    for (status, user) in flips {
        // Both sides change "at once": the contact center posts while the
        // user's client publishes.
        cc_status = status.to_owned();
        let cc = hub.post_state("1", Some(status.into()), None).unwrap();
        manual = user;
        let aggregate = manual.or(source).unwrap_or(18000);
        let uc = hub.uc_changed(ALICE, Availability::new(aggregate));
        let mut both = cc;
        both.publish.extend(uc.publish);
        both.events.extend(uc.events);
        let messages = settle(&mut hub, both, &manual, &mut source, &mut cc_status);
        assert!(messages <= 4, "{messages} messages for one flip");
    }
    // Final: the user's Available (3500) and the contact center agree.
    assert_eq!(cc_status, "Available");
    assert_eq!(hub.agent("1").unwrap().cc.status, "Available");
    assert_eq!(manual.or(source), Some(3500));
}

/// What the directory is told: `(presentity, text)`, `None` for gone.
fn directory(changes: &Changes) -> Vec<(String, Option<String>)> {
    changes
        .directory
        .iter()
        .map(|(p, s)| (p.clone(), s.as_ref().map(|s| s.text.clone())))
        .collect()
}

#[test]
fn the_directory_follows_every_agent_change() {
    let mut hub = SyncHub::new(rules(RULES));
    let bound = hub
        .bind("4711", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    assert_eq!(
        directory(&bound),
        vec![(ALICE.to_owned(), Some("Logged out".to_owned()))]
    );
    let ready = hub
        .post_state("4711", Some("Ready".into()), Some(DeviceState::Idle))
        .unwrap();
    let status = ready.directory[0].1.clone().unwrap();
    assert_eq!(
        (status.agent.as_str(), status.state.as_str(), status.device),
        ("4711", "Ready", "Idle")
    );
    assert_eq!(status.user_state, "LoggedInToClient");
    let call = hub
        .post_state("4711", None, Some(DeviceState::Busy))
        .unwrap();
    assert_eq!(
        directory(&call),
        vec![(ALICE.to_owned(), Some("In a call".to_owned()))]
    );
    let moved = hub
        .bind("4711", binding(BOB, UserType::EnterpriseVoice))
        .unwrap();
    assert_eq!(
        directory(&moved),
        vec![
            (ALICE.to_owned(), None),
            (BOB.to_owned(), Some("In a call".to_owned()))
        ]
    );
    let gone = hub.unbind("4711").unwrap();
    assert_eq!(directory(&gone), vec![(BOB.to_owned(), None)]);

    let mut restarted = SyncHub::new(rules(RULES));
    let agent = rules::sync::SyncAgent::new("9", ALICE, UserType::ImOnly);
    let restored = restarted.restore(vec![agent]);
    assert_eq!(
        directory(&restored),
        vec![(ALICE.to_owned(), Some("Logged out".to_owned()))]
    );
}

#[test]
fn the_overview_says_which_profile_and_rule_map_each_agent() {
    let mut hub = SyncHub::new(rules(RULES));
    hub.bind("4711", binding(ALICE, UserType::EnterpriseVoice))
        .unwrap();
    hub.bind("8", binding(BOB, UserType::ImOnly)).unwrap();
    hub.post_state("4711", Some("Ready".into()), Some(DeviceState::Idle))
        .unwrap();
    hub.session("4711", UserState::LoggedInToClient, Some("night".into()))
        .unwrap();
    let all = hub.overview(10);
    let ids: Vec<&str> = all.iter().map(|a| a.agent.as_str()).collect();
    assert_eq!(ids, ["4711", "8"], "by id");
    let alice = &all[0];
    assert_eq!(alice.profile.as_deref(), Some("night (login session)"));
    assert_eq!(alice.cc.text, "Ready");
    assert_eq!(alice.published, Some(9501));
    assert!(alice.rule.contains("QUIET"), "{}", alice.rule);
    let bob = &all[1];
    assert_eq!(bob.profile.as_deref(), Some("dnd (global ImOnly)"));
    assert_eq!(hub.overview(1).len(), 1, "bounded");
}
