//! `presenced import` on the seeds' examples: the result passes the
//! checks and behaves as the seeds describe; what cannot be carried over
//! is listed with its line.

use presence::availability::{Availability, Lcid};
use rules::import::{cic, tserver};
use rules::sync::{
    AgentState, CcChange, CcState, DeviceState, RawSync, SyncAgent, SyncRules, UserState, UserType,
};

#[derive(serde::Deserialize)]
struct File {
    sync: RawSync,
}

fn build(text: &str) -> Result<SyncRules, rules::sync::SyncError> {
    let file: File = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    SyncRules::build(&file.sync, text).map(|(r, _)| r)
}

const OPTION: &str = include_str!("vectors/seed002_aggregated_states.txt");
const AGENT_STATES: &str = include_str!("vectors/seed002_agent_states.xml");
const CIC: &str = include_str!("vectors/seed003_presence_sync.xml");

#[test]
fn seed_002_imports_to_a_push_profile_that_maps_all_15_rows() {
    let import = tserver::import("tserver", OPTION, AGENT_STATES).unwrap();
    assert!(import.unmapped.is_empty(), "{:?}", import.unmapped);
    let rules = build(&import.toml).unwrap();
    let agent = SyncAgent::new("4711", "sip:alice@example.com", UserType::EnterpriseVoice);
    for device in DeviceState::ALL {
        for state in AgentState::ALL {
            let cc = CcState {
                status: state.as_str().into(),
                device,
            };
            let push = rules.cc_to_uc(&agent.view(), &cc).0.unwrap();
            let expect = match (state, device) {
                (_, DeviceState::Busy) => 7001,
                (_, DeviceState::Oos) | (AgentState::Logout, _) => 18000,
                (AgentState::Ready, _) => 3501,
                (AgentState::WalkAway, _) => 4501,
                _ => 6001,
            };
            assert_eq!(push.availability.value(), expect, "{state:?} {device:?}");
        }
    }
    let cc = CcState {
        status: "Ready".into(),
        device: DeviceState::Busy,
    };
    let push = rules.cc_to_uc(&agent.view(), &cc).0.unwrap();
    assert_eq!(push.texts.iter().count(), 4);
    assert_eq!(
        push.texts.get(Lcid(1049)),
        Some("Работа с клиентом, не беспокоить")
    );
    let cc = CcState {
        status: "Ready".into(),
        device: DeviceState::Idle,
    };
    assert_eq!(
        rules
            .cc_to_uc(&agent.view(), &cc)
            .0
            .unwrap()
            .texts
            .get(Lcid::EN_US),
        Some("I am available")
    );
}

#[test]
fn tserver_gaps_are_listed_with_lines() {
    let xml = AGENT_STATES
        .replace(
            "<agentState ID=\"OOS\" availability=\"18000\">",
            "<agentState ID=\"OOS\">",
        )
        .replace("<activity LCID=\"3082\">", "<activity>");
    let import = tserver::import("t", OPTION, &xml).unwrap();
    let listed: Vec<String> = import.unmapped.iter().map(ToString::to_string).collect();
    assert!(
        listed.contains(
            &"agentStates XML line 24: <agentState ID=\"OOS\"> without an availability: left out"
                .to_owned()
        ),
        "{listed:#?}"
    );
    assert!(
        listed.contains(
            &"agentStates XML line 20: <activity> of INCALL without a numeric LCID: left out"
                .to_owned()
        ),
        "{listed:#?}"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|l| l.contains("=OOS: no <agentState"))
            .count(),
        5
    );
    // What is left still passes the checks: rows without a state change nothing.
    let rules = build(&import.toml).unwrap();
    let agent = SyncAgent::new("1", "sip:a@example.com", UserType::Rcc);
    let cc = CcState {
        status: "Ready".into(),
        device: DeviceState::Oos,
    };
    assert_eq!(rules.cc_to_uc(&agent.view(), &cc).0, None);
}

#[test]
fn seed_003_import_refuses_the_rcc_overlap_naming_both_mappings() {
    let import = cic::import(CIC).unwrap();
    let e = build(&import.toml).unwrap_err();
    assert!(
        e.field.contains("\"global-rcc\"") && e.field.ends_with("mappings[2].accept"),
        "{e}"
    );
    assert!(
        e.message.contains("\"Away from Desk\"") && e.message.contains("\"Out of the Office\""),
        "{e}"
    );
}

#[test]
fn seed_003_import_with_the_workaround_behaves_as_described() {
    // The seed's workaround: only one mapping per range toward CIC.
    let fixed = CIC.replace(
        "icStatus=\"Out of the Office\" lyncPresenceFromIc=\"15500\" lyncPresenceToIcStart=\"15000\" lyncPresenceToIcEnd=\"17999\" direction=\"OneWayToIc\"",
        "icStatus=\"Out of the Office\" lyncPresenceFromIc=\"15500\" lyncPresenceToIcStart=\"15000\" lyncPresenceToIcEnd=\"17999\" direction=\"OneWayToLync\"",
    );
    let import = cic::import(&fixed).unwrap();
    let listed: Vec<String> = import.unmapped.iter().map(ToString::to_string).collect();
    assert_eq!(
        listed,
        [
            "CIC XML line 61: condition \"Weather\" is not UserState or UserType: left out (the augmentation then applies more widely)",
            "CIC XML line 66: mapping \"Available\": direction \"sideways\" is not TwoWay, OneWayToIc, OneWayToLync or None: left out",
        ]
    );
    let rules = build(&import.toml).unwrap_or_else(|e| panic!("{e}\n{}", import.toml));
    // Global EnterpriseVoice profile, logged in to the client.
    let mut ev = SyncAgent::new("4711", "sip:alice@example.com", UserType::EnterpriseVoice);
    ev.user_state = UserState::LoggedInToClient;
    let to_cc = |a: &SyncAgent, n| rules.uc_to_cc(&a.view(), Availability::new(n)).0;
    assert_eq!(
        to_cc(&ev, 9500),
        Some(CcChange::Status("Do Not Disturb".into()))
    );
    assert_eq!(to_cc(&ev, 6500), Some(CcChange::Status("Busy".into())));
    assert_eq!(to_cc(&ev, 12500), None, "no mapping accepts BRB: no change");
    let lunch = CcState {
        status: "At Lunch".into(),
        device: DeviceState::Idle,
    };
    assert_eq!(
        rules
            .cc_to_uc(&ev.view(), &lunch)
            .0
            .unwrap()
            .availability
            .value(),
        12500
    );
    let gone = CcState {
        status: "Gone Home".into(),
        device: DeviceState::Idle,
    };
    assert_eq!(rules.cc_to_uc(&ev.view(), &gone).0, None, "direction None");
    // addInQueueText on the client augmentation.
    let available = CcState {
        status: "Available".into(),
        device: DeviceState::Idle,
    };
    assert_eq!(
        rules
            .cc_to_uc(&ev.view(), &available)
            .0
            .unwrap()
            .texts
            .get(Lcid::EN_US),
        Some("Available (In Queue)")
    );
    // RCC: Away goes to "Away from Desk" only.
    let mut rcc = SyncAgent::new("4712", "sip:bob@example.com", UserType::Rcc);
    rcc.user_state = UserState::LoggedInToRcc;
    assert_eq!(
        to_cc(&rcc, 15500),
        Some(CcChange::Status("Away from Desk".into()))
    );
    // The custom profile's users.
    let sup = SyncAgent::new("jdoe", "sip:jdoe@example.com", UserType::EnterpriseVoice);
    let meeting = CcState {
        status: "In a Meeting".into(),
        device: DeviceState::Idle,
    };
    assert_eq!(
        rules
            .cc_to_uc(&sup.view(), &meeting)
            .0
            .unwrap()
            .availability
            .value(),
        6500
    );
}
