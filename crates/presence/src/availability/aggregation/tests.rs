use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{aggregate, MachineActivity, SourceKind, SourceState};
use crate::availability::{
    ActivityToken, Availability, AvailabilityClass as C, CustomTexts, DeviceType, Lcid,
    StateActivity,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
}

fn state(kind: SourceKind, id: &str, value: u32, published: u64) -> SourceState {
    SourceState::new(kind, id, at(published)).with_availability(Availability::new(value))
}

fn phone_call(published: u64) -> SourceState {
    state(SourceKind::Phone, "phone", 6500, published).with_activity(
        StateActivity::token(ActivityToken::OnThePhone)
            .within(Availability::BUSY, Some(Availability::new(8999))),
    )
}

#[test]
fn nothing_is_offline() {
    let got = aggregate(&[], at(0));
    assert_eq!(got.availability, Availability::OFFLINE);
    assert_eq!(got.decided_by, None);
    assert_eq!(got.activity, None);
}

#[test]
fn an_active_machine_alone_is_online() {
    let got = aggregate(&[state(SourceKind::Machine, "pc", 3500, 0)], at(1));
    assert_eq!(got.availability, Availability::ONLINE);
    assert_eq!(got.machine, Some(MachineActivity::Active));
    assert_eq!(got.last_active, None);
}

#[test]
fn manual_state_wins_over_a_busier_source() {
    let sources = [
        phone_call(10),
        state(SourceKind::User, "user", 3500, 5).manual(),
    ];
    let got = aggregate(&sources, at(20));
    assert_eq!(got.availability, Availability::ONLINE);
    assert!(got.manual);
    // on-the-phone is valid only from 6500: it is not shown at 3500.
    assert_eq!(got.activity, None);
}

#[test]
fn newest_manual_state_wins() {
    let sources = [
        state(SourceKind::User, "a", 9500, 5).manual(),
        state(SourceKind::User, "b", 12500, 6).manual(),
    ];
    assert_eq!(
        aggregate(&sources, at(7)).availability,
        Availability::BE_RIGHT_BACK
    );
}

#[test]
fn a_call_raises_online_to_busy_and_shows_on_the_phone() {
    let sources = [state(SourceKind::Machine, "pc", 3500, 0), phone_call(1)];
    let got = aggregate(&sources, at(2));
    assert_eq!(got.availability, Availability::BUSY);
    assert_eq!(got.decided_by, Some(SourceKind::Phone));
    let token = got.activity.and_then(|a| a.token);
    assert_eq!(token, Some(ActivityToken::OnThePhone));
}

#[test]
fn busiest_live_source_wins_and_offline_loses_to_any_live_one() {
    let sources = [
        state(SourceKind::Pidf, "closed-phone", 18500, 9),
        state(SourceKind::Calendar, "cal", 6500, 1),
        state(SourceKind::Sync, "agent", 9500, 2),
        state(SourceKind::Machine, "pc", 3500, 0),
    ];
    let got = aggregate(&sources, at(10));
    assert_eq!(got.availability, Availability::DO_NOT_DISTURB);
    assert_eq!(got.decided_by, Some(SourceKind::Sync));
}

#[test]
fn offline_stands_only_when_nothing_is_live() {
    let sources = [
        state(SourceKind::Pidf, "closed", 18000, 3),
        state(SourceKind::Machine, "pc", 18500, 1),
        state(SourceKind::Upstream, "odd", 100, 4),
    ];
    let got = aggregate(&sources, at(5));
    assert_eq!(got.availability, Availability::new(18000));
    assert_eq!(got.machine, Some(MachineActivity::Offline));
}

#[test]
fn most_active_machine_decides_idleness() {
    let sources = [
        state(SourceKind::Machine, "laptop", 5000, 10),
        state(SourceKind::Machine, "desktop", 3500, 0),
        state(SourceKind::Machine, "old", 18500, 20),
    ];
    let got = aggregate(&sources, at(30));
    assert_eq!(got.availability, Availability::ONLINE);
    assert_eq!(got.machine, Some(MachineActivity::Active));
}

#[test]
fn inactive_machine_idles_online_and_busy() {
    let pc = state(SourceKind::Machine, "pc", 5000, 0);
    let online = aggregate(&[pc.clone(), state(SourceKind::Pidf, "p", 3700, 1)], at(60));
    assert_eq!(online.availability, Availability::new(5200));
    assert_eq!(online.class(), C::IdleOnline);
    assert_eq!(online.last_active, Some(at(0)));
    let busy = aggregate(&[pc, phone_call(1)], at(60));
    assert_eq!(busy.availability, Availability::IDLE_BUSY);
    // The call's range reaches 8999, so the activity stays.
    assert!(busy.activity.is_some());
}

#[test]
fn inactive_machine_fades_to_away_after_the_threshold() {
    let mut pc = state(SourceKind::Machine, "pc", 5000, 600);
    pc.last_active = Some(at(300));
    pc.device = Some(DeviceType::Computer);
    let before = aggregate(std::slice::from_ref(&pc), at(300 + 1199));
    assert_eq!(before.availability, Availability::IDLE_ONLINE);
    assert_eq!(before.changes_at, Some(at(300 + 1200)));
    let after = aggregate(std::slice::from_ref(&pc), at(300 + 1200));
    assert_eq!(after.availability, Availability::AWAY);
    assert_eq!(after.machine, Some(MachineActivity::Away));
    assert_eq!(after.changes_at, None);
    assert_eq!(after.device, Some(DeviceType::Computer));
    // A manual Online fades with it; a manual Busy only idles.
    let manual_online = state(SourceKind::User, "u", 3500, 0).manual();
    let got = aggregate(&[pc.clone(), manual_online], at(2000));
    assert_eq!(got.availability, Availability::AWAY);
    let manual_busy = state(SourceKind::User, "u", 6500, 0).manual();
    let got = aggregate(&[pc, manual_busy], at(2000));
    assert_eq!(got.availability, Availability::IDLE_BUSY);
}

#[test]
fn do_not_disturb_is_not_touched_by_idleness() {
    let sources = [
        state(SourceKind::Machine, "pc", 15500, 0),
        state(SourceKind::User, "u", 9500, 1).manual(),
    ];
    assert_eq!(
        aggregate(&sources, at(5)).availability,
        Availability::DO_NOT_DISTURB
    );
}

#[test]
fn activity_with_highest_minimum_wins_then_newest() {
    let typed = StateActivity::custom(CustomTexts::new().with(Lcid::EN_US, "Deep work"));
    let meeting = StateActivity::token(ActivityToken::InAMeeting)
        .within(Availability::BUSY, Some(Availability::new(8999)));
    let sources = [
        state(SourceKind::User, "u", 6500, 9)
            .manual()
            .with_activity(typed.clone()),
        state(SourceKind::Calendar, "cal", 6500, 1).with_activity(meeting.clone()),
    ];
    assert_eq!(aggregate(&sources, at(10)).activity, Some(meeting));
    let newer_typed = StateActivity::custom(CustomTexts::new().with(Lcid::EN_US, "Later"));
    let sources = [
        state(SourceKind::User, "u", 3500, 1)
            .manual()
            .with_activity(typed),
        state(SourceKind::Pidf, "p", 3500, 2).with_activity(newer_typed.clone()),
        state(SourceKind::Pidf, "empty", 3500, 3).with_activity(StateActivity::default()),
    ];
    assert_eq!(aggregate(&sources, at(10)).activity, Some(newer_typed));
}

#[test]
fn out_of_office_without_availability_shows_only_when_away() {
    let oof =
        StateActivity::token(ActivityToken::OutOfOffice).within(Availability::new(12000), None);
    let cal = SourceState::new(SourceKind::Calendar, "oof", at(0)).with_activity(oof);
    let online = aggregate(
        &[cal.clone(), state(SourceKind::Machine, "pc", 3500, 0)],
        at(1),
    );
    assert_eq!(online.availability, Availability::ONLINE);
    assert_eq!(online.activity, None);
    let away = aggregate(&[cal, state(SourceKind::Machine, "pc", 15500, 0)], at(1));
    let token = away.activity.and_then(|a| a.token);
    assert_eq!(token, Some(ActivityToken::OutOfOffice));
}

#[test]
fn equal_numbers_go_to_the_newest_source() {
    let old = state(SourceKind::Sync, "agent", 6500, 1);
    let new = state(SourceKind::Pidf, "pidf", 6500, 2);
    assert_eq!(
        aggregate(&[old.clone(), new.clone()], at(3)).decided_by,
        Some(SourceKind::Pidf)
    );
    assert_eq!(
        aggregate(&[new, old], at(3)).decided_by,
        Some(SourceKind::Pidf)
    );
}
