//! The seeds' examples as vectors: seed 002's 15-row aggregated-states
//! table, its agentStates XML (four LCIDs for INCALL) and its DND range;
//! seed 003's presence mappings, conditions, profile levels and the RCC
//! overlap defect.

use presence::availability::{Availability, Lcid};

use super::*;

#[derive(serde::Deserialize)]
struct File {
    sync: RawSync,
}

/// Seed 002's push and pull profiles and seed 003's mapping profiles.
pub(crate) const SEEDS: &str = r#"
[sync]
default_lcid = 1033
global = { EnterpriseVoice = "tserver-push", Rcc = "cic", ImOnly = "tserver-pull" }
groups = { night = "tserver-pull" }
users = { "agent-7" = "cic" }

[[sync.profiles]]
name = "tserver-push"
aggregated_states = "1=IDLE_OUT, 2=IDLE_READY, 3=IDLE_NOTREADY, 4=IDLE_ACW, 5=IDLE_AWAY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OOS, 12=OOS, 13=OOS, 14=OOS, 15=OOS."
agent_states = [
  { id = "IDLE_OUT", availability = 18000, activity = { 1033 = "Logged out" } },
  { id = "IDLE_READY", availability = 3501, activity = { 1033 = " I am available " } },
  { id = "IDLE_NOTREADY", availability = 6001, activity = { 1033 = " I am not available " } },
  { id = "IDLE_ACW", availability = 6001, activity = { 1033 = "I am in After Call Work, do not disturb me" } },
  { id = "IDLE_AWAY", availability = 4501, activity = { 1033 = "I am away from my desk" } },
  { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer, do not disturb", 3082 = "Estoy trabajando con los clientes, no molestar", 1049 = "Работа с клиентом, не беспокоить", 1036 = "En travaillant avec les clients, ne pas déranger" } },
  { id = "OOS", availability = 18000, activity = { 1033 = "The device is out of service" } },
]

[[sync.profiles]]
name = "tserver-pull"
dnd_off_ranges = "3000-5999,12000-14999"

[[sync.profiles]]
name = "cic"
users = ["agent-9"]

[[sync.profiles.augmentations]]
name = "rcc"
order = 2
add_in_queue_text = true
conditions = [
  { name = "UserState", qualifications = ["LoggedInToRcc"] },
  { name = "UserType", qualifications = ["Rcc", "EnterpriseVoice"] },
]
mappings = [
  { cc_status = "Available", availability = 3500, accept = "3000-5999", direction = "TwoWay" },
  { cc_status = "Away from Desk", availability = 15500, accept = "15000-17999", direction = "TwoWay" },
  { cc_status = "Gone Home", availability = 15500, accept = "15000-17999", direction = "OneWayToUc" },
  { cc_status = "Do Not Disturb", availability = 9500, accept = "9000-11999", direction = "TwoWay" },
  { cc_status = "Busy", accept = "6000-8999", direction = "OneWayToCc" },
  { cc_status = "At Lunch", availability = 12500, accept = "12000-14999", direction = "None" },
]

[[sync.profiles.augmentations]]
name = "client"
order = 1
enable_uc_to_cc = false
conditions = [{ name = "UserState", qualifications = ["LoggedInToClient"] }]
mappings = [
  { cc_status = "Available", availability = 3500, accept = "3000-4499", direction = "TwoWay" },
]
"#;

fn build(text: &str) -> Result<(SyncRules, Vec<SyncWarning>), SyncError> {
    let file: File = toml::from_str(text).expect("toml");
    SyncRules::build(&file.sync, text)
}

fn rules() -> SyncRules {
    build(SEEDS).expect("seeds build").0
}

fn agent(id: &str, user_type: UserType, user_state: UserState) -> SyncAgent {
    let mut a = SyncAgent::new(id, &format!("sip:{id}@example.com"), user_type);
    a.user_state = user_state;
    a
}

fn cc(status: &str, device: DeviceState) -> CcState {
    CcState {
        status: status.into(),
        device,
    }
}

#[test]
fn seed_002_push_all_fifteen_rows_with_texts() {
    let rules = rules();
    let a = agent(
        "4711",
        UserType::EnterpriseVoice,
        UserState::LoggedInToClient,
    );
    let expect = [
        (
            DeviceState::Idle,
            [
                "Logged out",
                "I am available",
                "I am not available",
                "I am in After Call Work, do not disturb me",
                "I am away from my desk",
            ],
            [18000, 3501, 6001, 6001, 4501],
        ),
        (
            DeviceState::Busy,
            ["Working with customer, do not disturb"; 5],
            [7001; 5],
        ),
        (
            DeviceState::Oos,
            ["The device is out of service"; 5],
            [18000; 5],
        ),
    ];
    for (device, texts, numbers) in expect {
        for (i, state) in AgentState::ALL.into_iter().enumerate() {
            let (push, trace) = rules.cc_to_uc(&a.view(), &cc(state.as_str(), device));
            let push = push.unwrap_or_else(|| panic!("{state:?} {device:?}: {trace:?}"));
            assert_eq!(
                push.availability.value(),
                numbers[i],
                "{state:?} × {device:?}"
            );
            assert_eq!(
                push.texts.get(Lcid::EN_US),
                Some(texts[i]),
                "{state:?} × {device:?}"
            );
        }
    }
    let (push, _) = rules.cc_to_uc(&a.view(), &cc("Ready", DeviceState::Busy));
    let push = push.unwrap();
    assert_eq!(
        push.texts.get(Lcid(3082)),
        Some("Estoy trabajando con los clientes, no molestar")
    );
    assert_eq!(
        push.texts.get(Lcid(1049)),
        Some("Работа с клиентом, не беспокоить")
    );
    assert_eq!(
        push.texts.get(Lcid(1036)),
        Some("En travaillant avec les clients, ne pas déranger")
    );
    // A watcher whose language the map lacks gets the default one.
    assert_eq!(
        push.texts.pick(Some(Lcid(1031)), rules.default_lcid),
        Some((Lcid::EN_US, "Working with customer, do not disturb"))
    );
    assert_eq!(
        push.availability.class(),
        presence::availability::AvailabilityClass::Busy
    );
}

#[test]
fn seed_002_pull_maps_ranges_to_dnd() {
    let rules = rules();
    let a = agent("4712", UserType::ImOnly, UserState::LoggedInToClient);
    for (n, dnd) in [
        (3000, false),
        (3500, false),
        (4500, false),
        (5999, false),
        (6500, true),
        (9500, true),
        (12500, false),
        (15500, true),
        (18500, true),
    ] {
        let (change, _) = rules.uc_to_cc(&a.view(), Availability::new(n));
        assert_eq!(change, Some(CcChange::Dnd(dnd)), "{n}");
    }
    // Pull mode publishes nothing toward UC.
    assert_eq!(
        rules.cc_to_uc(&a.view(), &cc("Ready", DeviceState::Idle)).0,
        None
    );
}

#[test]
fn push_and_pull_in_one_profile_is_refused() {
    let text = "[sync]\n[[sync.profiles]]\nname = \"both\"\naggregated_states = \"1=A\"\nagent_states = [{ id = \"A\", availability = 3500 }]\ndnd_off_ranges = \"3000-5999\"\n";
    let e = build(text).unwrap_err();
    assert_eq!(e.field, "sync.profiles[0] \"both\".dnd_off_ranges");
    assert!(e.message.contains("exclusive per profile"), "{e}");
    assert_eq!(&text[e.offset..e.offset + 11], "\"3000-5999\"");
}

#[test]
fn seed_003_mappings_both_ways() {
    let rules = rules();
    let a = agent("agent-9", UserType::Rcc, UserState::LoggedInToRcc);
    let to_uc = |s: &str| {
        rules
            .cc_to_uc(&a.view(), &cc(s, DeviceState::Idle))
            .0
            .map(|p| {
                (
                    p.availability.value(),
                    p.texts.get(Lcid::EN_US).map(str::to_owned),
                )
            })
    };
    // The status text goes along with the availability (seed 003).
    assert_eq!(
        to_uc("Away from Desk"),
        Some((15500, Some("Away from Desk".into())))
    );
    assert_eq!(to_uc("Gone Home"), Some((15500, Some("Gone Home".into()))));
    assert_eq!(
        to_uc("Do Not Disturb"),
        Some((9500, Some("Do Not Disturb".into())))
    );
    // OneWayToCc and None do not publish; an unknown status changes nothing.
    assert_eq!(to_uc("Busy"), None);
    assert_eq!(to_uc("At Lunch"), None);
    assert_eq!(to_uc("Training"), None);
    let to_cc = |n: u32| rules.uc_to_cc(&a.view(), Availability::new(n)).0;
    assert_eq!(to_cc(3500), Some(CcChange::Status("Available".into())));
    assert_eq!(
        to_cc(15500),
        Some(CcChange::Status("Away from Desk".into()))
    );
    assert_eq!(to_cc(6500), Some(CcChange::Status("Busy".into())));
    assert_eq!(to_cc(9500), Some(CcChange::Status("Do Not Disturb".into())));
    // At Lunch is None: BRB has no mapping toward the contact center.
    assert_eq!(to_cc(12500), None);
    assert_eq!(to_cc(18500), None);
}

#[test]
fn add_in_queue_text_while_acd_available() {
    let rules = rules();
    let a = agent("agent-9", UserType::Rcc, UserState::LoggedInToRcc);
    let (push, _) = rules.cc_to_uc(&a.view(), &cc("Available", DeviceState::Idle));
    assert_eq!(
        push.unwrap().texts.get(Lcid::EN_US),
        Some("Available (In Queue)")
    );
    let client = agent("agent-9", UserType::Rcc, UserState::LoggedInToClient);
    let (push, _) = rules.cc_to_uc(&client.view(), &cc("Available", DeviceState::Idle));
    assert_eq!(push.unwrap().texts.get(Lcid::EN_US), Some("Available"));
}

#[test]
fn seed_003_rcc_overlap_is_an_error_naming_both_mappings() {
    let overlapping = SEEDS.replace(
        "{ cc_status = \"Gone Home\", availability = 15500, accept = \"15000-17999\", direction = \"OneWayToUc\" }",
        "{ cc_status = \"Gone Home\", availability = 15500, accept = \"15500-15999\", direction = \"TwoWay\" }",
    );
    let e = build(&overlapping).unwrap_err();
    assert_eq!(
        e.field,
        "sync.profiles[2] \"cic\".augmentations[0] \"rcc\".mappings[2].accept"
    );
    assert!(
        e.message.contains("\"Away from Desk\" (line 39)")
            && e.message.contains("\"Gone Home\" (line 40)"),
        "{e}"
    );
    assert!(e.message.contains("overlapping"), "{e}");
    // The seed's workaround (the other one OneWayToLync, i.e. OneWayToUc) is what SEEDS has.
    assert!(build(SEEDS).is_ok());
}

#[test]
fn conditions_any_qualification_all_conditions_lowest_order() {
    let rules = rules();
    // LoggedInToClient: "client" (order 1) applies even though "rcc" is listed first.
    let a = agent("agent-9", UserType::Rcc, UserState::LoggedInToClient);
    let (_, trace) = rules.cc_to_uc(&a.view(), &cc("Available", DeviceState::Idle));
    assert_eq!(
        rules.profiles[2].augmentations[trace.augmentation.unwrap()].name,
        "client"
    );
    // client has enable_uc_to_cc = false.
    assert_eq!(rules.uc_to_cc(&a.view(), Availability::AWAY).0, None);
    // RCC: UserType holds by its second qualification.
    let ev = agent(
        "agent-9",
        UserType::EnterpriseVoice,
        UserState::LoggedInToRcc,
    );
    let (_, trace) = rules.cc_to_uc(&ev.view(), &cc("Available", DeviceState::Idle));
    assert_eq!(
        rules.profiles[2].augmentations[trace.augmentation.unwrap()].name,
        "rcc"
    );
    // ImOnly fails UserType: no augmentation, no change.
    let im = agent("agent-9", UserType::ImOnly, UserState::LoggedInToRcc);
    let (push, trace) = rules.cc_to_uc(&im.view(), &cc("Available", DeviceState::Idle));
    assert_eq!(push, None);
    assert!(trace.none_because.unwrap().contains("no augmentation"));
    // LoggedOut: neither applies.
    let out = agent("agent-9", UserType::Rcc, UserState::LoggedOut);
    assert_eq!(
        rules
            .cc_to_uc(&out.view(), &cc("Available", DeviceState::Idle))
            .0,
        None
    );
}

#[test]
fn profile_levels_session_user_group_global() {
    let rules = rules();
    let mut a = agent(
        "4713",
        UserType::EnterpriseVoice,
        UserState::LoggedInToClient,
    );
    assert_eq!(
        rules.profile_for(&a.view()),
        Some((0, ProfileLevel::Global(UserType::EnterpriseVoice)))
    );
    a.groups = vec!["day".into(), "night".into()];
    assert_eq!(
        rules.profile_for(&a.view()),
        Some((1, ProfileLevel::Group("night".into())))
    );
    a.agent = "agent-7".into();
    assert_eq!(rules.profile_for(&a.view()), Some((2, ProfileLevel::User)));
    a.agent = "agent-9".into(); // a custom profile's user list
    assert_eq!(rules.profile_for(&a.view()), Some((2, ProfileLevel::User)));
    a.session_profile = Some("tserver-push".into());
    assert_eq!(
        rules.profile_for(&a.view()),
        Some((0, ProfileLevel::Session))
    );
    // An unknown session profile falls back to the next level.
    a.session_profile = Some("nope".into());
    assert_eq!(rules.profile_for(&a.view()), Some((2, ProfileLevel::User)));
}

#[test]
fn errors_name_the_field_and_position() {
    let cases = [
        ("[sync]\nglobal = { Lync = \"x\" }\n[[sync.profiles]]\nname = \"x\"\n", "sync.global.Lync", "is not one of EnterpriseVoice, Rcc, ImOnly"),
        ("[sync]\nusers = { a = \"missing\" }\n", "sync.users.a", "no profile is named \"missing\""),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\ndnd_off_ranges = \"3000-5999,5000-7000\"\n", "sync.profiles[0] \"p\".dnd_off_ranges", "overlaps"),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\naggregated_states = \"2=READY\"\n", "sync.profiles[0] \"p\".aggregated_states", "no agent_states entry"),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles.augmentations]]\nname = \"a\"\norder = 1\nmappings = [{ cc_status = \"x\", direction = \"TwoWay\", accept = \"3000-3999\" }]\n", "sync.profiles[0] \"p\".augmentations[0] \"a\".mappings[0].availability", "needs the availability"),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles.augmentations]]\nname = \"a\"\norder = 1\nmappings = [{ cc_status = \"x\", direction = \"Sideways\" }]\n", "sync.profiles[0] \"p\".augmentations[0] \"a\".mappings[0].direction", "is not one of TwoWay"),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles.augmentations]]\nname = \"a\"\norder = 1\n[[sync.profiles.augmentations]]\nname = \"b\"\norder = 1\n", "sync.profiles[0] \"p\".augmentations[1] \"b\".order", "also that of \"a\""),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles.augmentations]]\nname = \"a\"\norder = 1\nconditions = [{ name = \"Weather\", qualifications = [\"sunny\"] }]\n", "sync.profiles[0] \"p\".augmentations[0] \"a\".conditions[0].name", "not a condition"),
        ("[sync]\ntokens = { crm = \"abc\" }\n", "sync.tokens.crm", "64 hex digits"),
        ("[sync]\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles]]\nname = \"p\"\n", "sync.profiles[1].name", "also the name"),
    ];
    for (text, field, message) in cases {
        let e = build(text).unwrap_err();
        assert_eq!(e.field, field, "{text}");
        assert!(e.message.contains(message), "{e}");
        assert!(e.offset > 0 && e.offset < text.len(), "{e:?}");
    }
}

#[test]
fn unmapped_states_are_warnings() {
    let (_, warnings) = build(SEEDS).unwrap();
    let all: Vec<String> = warnings
        .iter()
        .map(|w| format!("{}: {}", w.field, w.message))
        .collect();
    assert!(
        all.iter()
            .any(|w| w.contains("\"rcc\"") && w.contains("no mapping accepts 12500 (BeRightBack)")),
        "{all:#?}"
    );
    let text = "[sync]\nglobal = { Rcc = \"p\" }\n[[sync.profiles]]\nname = \"p\"\naggregated_states = \"2=READY\"\nagent_states = [{ id = \"READY\", availability = 3500 }, { id = \"SPARE\", availability = 6500 }]\n";
    let (_, warnings) = build(text).unwrap();
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.message.contains("has no aggregated state"))
            .count(),
        14
    );
    assert!(warnings
        .iter()
        .any(|w| w.message.contains("row 1 (Logout × Idle)")));
    assert!(warnings
        .iter()
        .any(|w| w.message.contains("\"SPARE\" is in no row")));
}

#[test]
fn tokens_are_hashes_matched_whole() {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // sha256("test")
    let text = format!("[sync]\ntokens = {{ crm = \"{hash}\" }}\n");
    let (rules, _) = build(&text).unwrap();
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap();
    }
    assert_eq!(rules.token_owner(&bytes), Some("crm"));
    bytes[31] ^= 1;
    assert_eq!(rules.token_owner(&bytes), None);
}

/// Both sides flip fast; presenced's own writes come back as echoes and
/// are not synced back, and the final state is stable.
#[test]
fn no_ping_pong_when_both_sides_flip_fast() {
    let rules = rules();
    let mut a = agent("agent-9", UserType::Rcc, UserState::LoggedInToRcc);
    // A small world: the UC aggregate is the user's manual state if any,
    // else what sync published; the contact center applies what it is sent
    // and posts it back.
    let mut manual: Option<Availability> = None;
    let mut effects = 0;
    let mut pending_cc: Vec<String> = Vec::new();
    let uc_of = |a: &SyncAgent, manual: Option<Availability>| {
        manual.or(a.pushed_uc.as_ref().map(|p| p.availability))
    };
    let script: [(&str, Option<u32>); 8] = [
        ("Available", None),
        ("", Some(9500)),
        ("Away from Desk", None),
        ("", Some(3500)),
        ("Gone Home", Some(15500)),
        ("Available", Some(6500)),
        ("", Some(3500)),
        ("Do Not Disturb", None),
    ];
    for (status, uc) in script {
        if let Some(n) = uc {
            manual = Some(Availability::new(n));
        }
        if !status.is_empty() {
            pending_cc.push(status.to_owned());
        }
        // Settle: deliver every effect until nothing moves (bounded).
        for round in 0.. {
            assert!(round < 10, "ping-pong: still changing after {round} rounds");
            let mut moved = false;
            if let Some(status) = pending_cc.pop() {
                if let (Some(Effect::PublishUc(_)), _) =
                    a.cc_changed(&rules, cc(&status, DeviceState::Idle))
                {
                    effects += 1;
                }
                moved = true;
            }
            if let Some(now) = uc_of(&a, manual) {
                if a.uc != Some(now) {
                    moved = true;
                    if let (Some(Effect::SendCc(CcChange::Status(s))), _) =
                        a.uc_changed(&rules, now)
                    {
                        effects += 1;
                        pending_cc.push(s); // the contact center confirms
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }
    assert!(effects <= 12, "{effects} effects for 8 steps");
    // Final: the user chose 3500 by hand, then the agent went Do Not Disturb in the CC.
    assert_eq!(a.cc.status, "Do Not Disturb");
    assert_eq!(
        a.pushed_uc.as_ref().map(|p| p.availability.value()),
        Some(9500)
    );
    // The user's manual Available stands on the UC side (a manual state
    // wins the aggregation); each side keeps its own last change.
    assert_eq!(a.uc, Some(Availability::ONLINE));
    // Settled: a repeated post changes nothing.
    assert_eq!(a.cc_changed(&rules, a.cc.clone()).0, None);
}

#[test]
fn an_echo_of_our_own_write_is_not_synced_back() {
    let rules = rules();
    let mut a = agent("agent-9", UserType::Rcc, UserState::LoggedInToRcc);
    let (effect, _) = a.cc_changed(&rules, cc("Away from Desk", DeviceState::Idle));
    assert!(
        matches!(effect, Some(Effect::PublishUc(ref p)) if p.availability == Availability::AWAY)
    );
    // The presentity's aggregate becomes our 15500: not sent to the CC.
    let (effect, trace) = a.uc_changed(&rules, Availability::AWAY);
    assert_eq!(effect, None);
    assert!(trace
        .none_because
        .unwrap()
        .contains("what presenced published"));
    // The user sets DND: sent; the CC confirms it: not published back.
    let (effect, _) = a.uc_changed(&rules, Availability::DO_NOT_DISTURB);
    assert_eq!(
        effect,
        Some(Effect::SendCc(CcChange::Status("Do Not Disturb".into())))
    );
    let (effect, trace) = a.cc_changed(&rules, cc("Do Not Disturb", DeviceState::Idle));
    assert_eq!(effect, None, "{trace:?}");
}

#[test]
fn explain_names_profile_augmentation_conditions_and_mapping() {
    let rules = rules();
    let mut a = agent(
        "agent-9",
        UserType::EnterpriseVoice,
        UserState::LoggedInToRcc,
    );
    a.cc_changed(&rules, cc("Away from Desk", DeviceState::Idle));
    a.uc_changed(&rules, Availability::new(6500));
    let text = rules.explain(&a).to_string();
    for needle in [
        "agent agent-9 → sip:agent-9@example.com (EnterpriseVoice, LoggedInToRcc)",
        "profile \"cic\" (line 25, mappings mode): the agent's own (user level)",
        "augmentation \"client\" (order 1, line 46): UserState in [LoggedInToClient] fails → skipped",
        "augmentation \"rcc\" (order 2, line 29): UserState in [LoggedInToRcc] holds; UserType in [Rcc, EnterpriseVoice] holds → applies",
        "by mapping \"Away from Desk\" (line 39) (TwoWay) → 15500",
        "publishes 15500 [1033=\"Away from Desk\"]",
        "by mapping \"Busy\" (line 42) (OneWayToCc) accepts 6000-8999 ∋ 6500",
        "sends status \"Busy\"",
    ] {
        assert!(text.contains(needle), "{needle}\n---\n{text}");
    }
}
