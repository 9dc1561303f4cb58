//! The availability model across sources: PIDF publications aggregated
//! with dialect states in either order (table-driven), and the properties
//! aggregation promises (order independence, where a result's number comes
//! from, monotone classes).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use presence::availability::{
    aggregate, source_from_document, ActivityToken, AggregateState, Availability,
    AvailabilityClass as C, Lcid, SourceKind, SourceState, StateActivity,
};
use presence::{pidf, XmlLimits};
use proptest::prelude::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A publication in one of the two dialects, as the engine would turn it
/// into a source.
#[derive(Debug, Clone, Copy)]
enum Publication {
    /// A PIDF body: basic status and RPID activity elements.
    Pidf(&'static str, &'static str),
    /// A dialect `userState` with `manual="true"`.
    Manual(u32),
    /// A dialect `machineState`.
    Machine(u32),
    /// A dialect `phoneState` in a call (6500, on-the-phone 6500–8999).
    PhoneCall,
}

fn pidf_body(basic: &str, activities: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">
  <tuple id="t1"><status><basic>{basic}</basic></status></tuple>
  <dm:person id="p1"><rpid:activities>{activities}</rpid:activities></dm:person>
</presence>"#
    )
}

fn source(publication: Publication, published: u64) -> SourceState {
    let t = at(published);
    match publication {
        Publication::Pidf(basic, activities) => {
            let body = pidf_body(basic, activities);
            let document = pidf::parse(body.as_bytes(), &XmlLimits::DEFAULT)
                .expect("the test bodies are valid PIDF");
            source_from_document(&document, format!("etag-{published}"), t, Lcid::EN_US)
        }
        Publication::Manual(value) => SourceState::new(SourceKind::User, "0x20000000", t)
            .with_availability(Availability::new(value))
            .manual(),
        Publication::Machine(value) => SourceState::new(SourceKind::Machine, "endpoint-1", t)
            .with_availability(Availability::new(value)),
        Publication::PhoneCall => SourceState::new(SourceKind::Phone, "0x80000001", t)
            .with_availability(Availability::BUSY)
            .with_activity(
                StateActivity::token(ActivityToken::OnThePhone)
                    .within(Availability::BUSY, Some(Availability::new(8999))),
            ),
    }
}

/// Two conflicting publications, published first → second, and the class
/// and token watchers must see whichever order they arrive in and
/// whichever order the store lists them in.
#[test]
fn pidf_and_dialect_publications_aggregate_in_either_order() {
    use Publication::{Machine, Manual, PhoneCall, Pidf};
    let cases: &[(Publication, Publication, C, Option<ActivityToken>)] = &[
        (Pidf("open", "<rpid:busy/>"), Manual(3500), C::Online, None),
        (Manual(3500), Pidf("open", "<rpid:busy/>"), C::Online, None),
        (Machine(3500), Pidf("open", "<rpid:busy/>"), C::Busy, None),
        (Pidf("open", "<rpid:busy/>"), Machine(3500), C::Busy, None),
        (Pidf("open", "<rpid:away/>"), Machine(3500), C::Away, None),
        (Pidf("closed", ""), Machine(3500), C::Online, None),
        (Machine(3500), Pidf("closed", ""), C::Online, None),
        (Pidf("open", ""), Manual(6500), C::Busy, None),
        (
            Manual(9500),
            Pidf("open", "<rpid:on-the-phone/>"),
            C::DoNotDisturb,
            None,
        ),
        (
            Pidf("open", "<rpid:on-the-phone/>"),
            Machine(5000),
            C::IdleBusy,
            Some(ActivityToken::OnThePhone),
        ),
        (
            Pidf("open", "<rpid:meeting/>"),
            Machine(3500),
            C::Busy,
            Some(ActivityToken::InAMeeting),
        ),
        (
            Pidf("open", ""),
            PhoneCall,
            C::Busy,
            Some(ActivityToken::OnThePhone),
        ),
        (PhoneCall, Pidf("open", "<rpid:away/>"), C::Away, None),
        (Pidf("open", ""), Machine(18500), C::Online, None),
        (Pidf("closed", ""), Machine(18500), C::Offline, None),
    ];
    for (i, (first, second, class, token)) in cases.iter().enumerate() {
        let sources = [source(*first, 1), source(*second, 2)];
        let reversed = [sources[1].clone(), sources[0].clone()];
        let got = aggregate(&sources, at(3));
        assert_eq!(got, aggregate(&reversed, at(3)), "case {i}: slice order");
        assert_eq!(got.class(), *class, "case {i}: {first:?} then {second:?}");
        let got_token = got.activity.and_then(|a| a.token);
        assert_eq!(got_token, *token, "case {i}: activity");
    }
}

const KINDS: [SourceKind; 8] = [
    SourceKind::User,
    SourceKind::Machine,
    SourceKind::Phone,
    SourceKind::Calendar,
    SourceKind::Pidf,
    SourceKind::Sync,
    SourceKind::Service,
    SourceKind::Upstream,
];

fn availability() -> impl Strategy<Value = Availability> {
    prop_oneof![
        prop::sample::select(C::ALL.to_vec()).prop_map(|c| c.published()),
        (0u32..20_000).prop_map(Availability::new),
        any::<u32>().prop_map(Availability::new),
    ]
}

fn activity() -> impl Strategy<Value = StateActivity> {
    let token = prop::option::of(prop::sample::select(
        ActivityToken::known().collect::<Vec<_>>(),
    ));
    (token, 0u32..20_000, prop::option::of(0u32..20_000)).prop_map(|(token, min, max)| {
        StateActivity {
            token,
            ..StateActivity::default()
        }
        .within(Availability::new(min), max.map(Availability::new))
    })
}

prop_compose! {
    fn source_state()(
        kind in prop::sample::select(KINDS.to_vec()),
        id in prop::sample::select(vec!["a", "b", "c"]),
        manual in any::<bool>(),
        availability in prop::option::of(availability()),
        activity in prop::option::of(activity()),
        published in 0u64..4,
        last_active in prop::option::of(0u64..4),
    ) -> SourceState {
        let mut state = SourceState::new(kind, id, at(published * 600));
        state.manual = manual;
        state.availability = availability;
        state.activity = activity;
        state.last_active = last_active.map(|t| at(t * 600));
        state
    }
}

fn sources_and_shuffle() -> impl Strategy<Value = (Vec<SourceState>, Vec<SourceState>)> {
    prop::collection::vec(source_state(), 0..8)
        .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
}

/// The numbers aggregation may produce: an input's, an input's idle
/// companion (+1500 on Online/Busy), Away 15500 from a faded machine, or
/// Offline 18500 when nothing is live.
fn derivable(sources: &[SourceState], got: &AggregateState) -> bool {
    let a = got.availability;
    a == Availability::AWAY
        || a == Availability::OFFLINE
        || sources
            .iter()
            .filter_map(|s| s.availability)
            .any(|input| input == a || input.idled() == a)
}

proptest! {
    #[test]
    fn aggregation_ignores_input_order((sources, shuffled) in sources_and_shuffle(), now in 0u64..4000) {
        prop_assert_eq!(aggregate(&sources, at(now)), aggregate(&shuffled, at(now)));
    }

    #[test]
    fn the_result_comes_from_an_input_or_a_documented_derivation(
        sources in prop::collection::vec(source_state(), 0..8),
        now in 0u64..4000,
    ) {
        let got = aggregate(&sources, at(now));
        prop_assert!(derivable(&sources, &got), "{got:?} from {sources:?}");
        if let Some(activity) = &got.activity {
            prop_assert!(activity.admits(got.availability));
            prop_assert!(sources.iter().any(|s| s.activity.as_ref() == Some(activity)));
        }
    }

    #[test]
    fn a_manual_state_that_idleness_cannot_touch_is_what_watchers_see(
        mut sources in prop::collection::vec(source_state(), 0..6),
        class in prop::sample::select(vec![C::DoNotDisturb, C::BeRightBack, C::Away, C::Offline]),
    ) {
        sources.retain(|s| !(s.kind == SourceKind::User && s.manual));
        let manual = SourceState::new(SourceKind::User, "manual", at(0))
            .with_availability(class.published())
            .manual();
        sources.push(manual);
        let got = aggregate(&sources, at(4000));
        prop_assert_eq!(got.class(), class);
        prop_assert!(got.manual);
    }

    #[test]
    fn classification_is_monotone(a in any::<u32>(), b in any::<u32>()) {
        let (low, high) = (a.min(b), a.max(b));
        prop_assert!(Availability::new(low).class() <= Availability::new(high).class());
    }

    #[test]
    fn parsing_reads_back_what_display_writes(value in any::<u32>()) {
        let availability = Availability::new(value);
        prop_assert_eq!(availability.to_string().parse::<Availability>(), Ok(availability));
    }
}
