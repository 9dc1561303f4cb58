//! Many sources' states → the one state watchers see, by meaning.
//!
//! The precedence, in the order it is applied (each step cites what it
//! follows; where the documents are silent the choice is marked
//! *decided*):
//!
//! 1. **Machine states** (one per endpoint) are reduced to the most active
//!    one, in the order Active < Inactive < Unknown < Away < Offline
//!    (OCS 2007 "The Aggregation Script", [MS-PRES] §3.8.5.1.2). Idleness
//!    is what the endpoint publishes: 3500 active, 5000 inactive, 15500
//!    away (Communicator's "Machine States" table). An inactive endpoint
//!    whose user was last active [`AggregationPolicy::away_after`] ago
//!    (20 minutes, that table's default) counts as Away even if the client
//!    never publishes it, so a client that hangs while idle still fades.
//!    [`AggregateState::changes_at`] tells the engine when that happens.
//! 2. **A manual user state wins** over everything else: the newest one,
//!    if several (`manual="true"`, the user's own choice).
//! 3. Otherwise **the busiest live source wins**: the highest number among
//!    the non-machine sources (user, phone, calendar, PIDF, sync, service,
//!    upstream) whose class is Online to Away. A phone state publishes
//!    6500 with `on-the-phone`, so a call raises Online to Busy.
//!    *Decided*: Offline (and numbers below 3000) lose to any live source,
//!    so one signed-out device or a closed PIDF tuple cannot hide a user
//!    who is active elsewhere.
//! 4. With no live non-machine source, the most active machine decides
//!    (its own number; Away 15500 once it faded).
//! 5. **Idleness overlays** the winner of steps 2–3 (*decided*, after
//!    Communicator's behaviour): with the most active machine Inactive, an
//!    Online or Busy result moves to IdleOnline or IdleBusy (number +1500);
//!    with it Away, Online and IdleOnline become Away 15500 and Busy
//!    becomes IdleBusy (a user in a call at a desk phone is still in the
//!    call). Other classes are left alone.
//! 6. With no live source at all, an Offline source's number stands (the
//!    newest); with nothing, the result is Offline 18500.
//! 7. **The activity** is chosen as [MS-PRES] §3.8.5.1.2.3 says: of all
//!    sources' activities that have a token or a custom text and whose
//!    `minAvailability`–`maxAvailability` range contains the result, the
//!    one with the highest minimum; ties go to the newest publication.
//!
//! Every tie is broken by publish time (newer wins) and then by the whole
//! source state's order, so the result never depends on the order the
//! sources are passed in. Expired sources are not passed in at all: the
//! store drops them.

use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

use super::activity::StateActivity;
use super::device::DeviceType;
use super::number::{Availability, AvailabilityClass};

/// Where a source's state comes from; decides which aggregation rule it
/// falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// A `userState`: what the user chose (manual) or a client set for
    /// them (a time-bounded Busy, say).
    User,
    /// A `machineState`: one endpoint's activity (active, idle, away).
    Machine,
    /// A `phoneState`: a call in progress on some endpoint.
    Phone,
    /// A `calendarState`: a meeting or out-of-office from the calendar.
    Calendar,
    /// A PIDF publication (RFC 3903) converted to the model.
    Pidf,
    /// A state from the sync engine (contact-centre agent states).
    Sync,
    /// A service contact's state (rooms, gateways).
    Service,
    /// A state learnt from an upstream presence server.
    Upstream,
}

impl SourceKind {
    /// The kind's name for logs and `presenced explain`.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::User => "user",
            SourceKind::Machine => "machine",
            SourceKind::Phone => "phone",
            SourceKind::Calendar => "calendar",
            SourceKind::Pidf => "pidf",
            SourceKind::Sync => "sync",
            SourceKind::Service => "service",
            SourceKind::Upstream => "upstream",
        }
    }
}

/// One source's current state for a presentity.
///
/// Built by the codecs (a `state` category instance, a PIDF publication
/// via [`super::source_from_document`]) and by the rules (sync, service,
/// upstream). The derived order is only a deterministic tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceState {
    /// What kind of source it is.
    pub kind: SourceKind,
    /// The source's identity within the presentity (category instance,
    /// endpoint id, entity-tag): names it in `explain` and breaks ties.
    pub id: String,
    /// `manual="true"`: the user set this state by hand.
    pub manual: bool,
    /// The availability, if the state has one (a calendar out-of-office
    /// state carries only an activity).
    pub availability: Option<Availability>,
    /// The activity, with its custom texts and valid range.
    pub activity: Option<StateActivity>,
    /// The endpoint's device type (machine states).
    pub device: Option<DeviceType>,
    /// When the user last used this endpoint (machine states): the start
    /// of the fade to Away. Without it, an inactive machine state counts
    /// from its publish time.
    pub last_active: Option<SystemTime>,
    /// When the server accepted the state (server time, as the aggregation
    /// script stamps machine states, so client clocks do not matter).
    pub published_at: SystemTime,
}

impl SourceState {
    /// A state with nothing in it yet; fill the fields it has.
    pub fn new(kind: SourceKind, id: impl Into<String>, published_at: SystemTime) -> SourceState {
        SourceState {
            kind,
            id: id.into(),
            manual: false,
            availability: None,
            activity: None,
            device: None,
            last_active: None,
            published_at,
        }
    }

    /// The same state with an availability.
    pub fn with_availability(mut self, availability: Availability) -> SourceState {
        self.availability = Some(availability);
        self
    }

    /// The same state with an activity.
    pub fn with_activity(mut self, activity: StateActivity) -> SourceState {
        self.activity = Some(activity);
        self
    }

    /// The same state marked as set by hand.
    pub fn manual(mut self) -> SourceState {
        self.manual = true;
        self
    }

    fn is_manual_user(&self) -> bool {
        self.kind == SourceKind::User && self.manual
    }

    fn live_availability(&self) -> Option<Availability> {
        self.availability.filter(|a| a.class().is_live())
    }

    /// Newest first, then the state's own order: the key every tie uses.
    fn recency(&self) -> (SystemTime, &SourceState) {
        (self.published_at, self)
    }
}

/// How active one endpoint is, in the aggregation script's total order
/// (most active first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MachineActivity {
    /// The user is using the endpoint (Online class, 3500).
    Active,
    /// The user has not used it for a while (IdleOnline class, 5000).
    Inactive,
    /// The endpoint publishes something that says nothing about its user
    /// (a number below 3000, or a willingness class such as Busy).
    Unknown,
    /// The user has been gone long (Away or Be Right Back class, 15500).
    Away,
    /// The endpoint is signing out (Offline class, 18500).
    Offline,
}

impl MachineActivity {
    /// The activity a machine state's number stands for.
    pub fn of(availability: Option<Availability>) -> MachineActivity {
        match availability.map(Availability::class) {
            Some(AvailabilityClass::Online) => MachineActivity::Active,
            Some(AvailabilityClass::IdleOnline) => MachineActivity::Inactive,
            Some(AvailabilityClass::BeRightBack | AvailabilityClass::Away) => MachineActivity::Away,
            Some(AvailabilityClass::Offline) => MachineActivity::Offline,
            _ => MachineActivity::Unknown,
        }
    }
}

/// The tunables of aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregationPolicy {
    /// How long after its user was last active an inactive endpoint counts
    /// as Away. Communicator's default from last activity to Away is 20
    /// minutes ("Machine States" table).
    pub away_after: Duration,
}

impl Default for AggregationPolicy {
    fn default() -> Self {
        AggregationPolicy {
            away_after: Duration::from_secs(20 * 60),
        }
    }
}

/// The aggregated state of a presentity: what every watcher, in every
/// dialect, is shown (before access levels filter it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateState {
    /// The aggregated availability.
    pub availability: Availability,
    /// The aggregated activity, if any activity is valid at it.
    pub activity: Option<StateActivity>,
    /// Whether a manual user state decided the availability (dialect
    /// watchers see `manual="true"` on the aggregate).
    pub manual: bool,
    /// The kind of the source whose availability won (before idleness);
    /// `None` when the result was derived from nothing. For `explain`.
    pub decided_by: Option<SourceKind>,
    /// The most active endpoint's activity, faded; `None` without
    /// machine states.
    pub machine: Option<MachineActivity>,
    /// The most active endpoint's device type.
    pub device: Option<DeviceType>,
    /// When the user was last active on the most active endpoint, if it
    /// is not active now (the aggregate's `lastActive`).
    pub last_active: Option<SystemTime>,
    /// When an inactive endpoint will fade to Away, if one will: the
    /// engine aggregates again then. Nothing else here depends on time.
    pub changes_at: Option<SystemTime>,
}

impl AggregateState {
    /// A state set outright rather than aggregated (a service contact's,
    /// a conversion test's): no manual flag, no endpoint, no fade.
    pub fn fixed(availability: Availability, activity: Option<StateActivity>) -> AggregateState {
        AggregateState {
            availability,
            activity,
            manual: false,
            decided_by: None,
            machine: None,
            device: None,
            last_active: None,
            changes_at: None,
        }
    }

    /// The class of the aggregated availability.
    pub fn class(&self) -> AvailabilityClass {
        self.availability.class()
    }
}

/// Aggregates with the default [`AggregationPolicy`].
pub fn aggregate(sources: &[SourceState], now: SystemTime) -> AggregateState {
    aggregate_with(sources, now, &AggregationPolicy::default())
}

/// Aggregates the live sources of one presentity at `now` (see the module
/// documentation for the precedence). Pure: the same sources, in any
/// order, at the same time give the same state.
pub fn aggregate_with(
    sources: &[SourceState],
    now: SystemTime,
    policy: &AggregationPolicy,
) -> AggregateState {
    let machine = most_active_machine(sources, now, policy);
    let machine_activity = machine.as_ref().map(|m| m.activity);

    let manual = sources
        .iter()
        .filter(|s| s.is_manual_user() && s.availability.is_some())
        .max_by(|a, b| a.recency().cmp(&b.recency()));
    let busiest = || {
        sources
            .iter()
            .filter(|s| s.kind != SourceKind::Machine)
            .filter_map(|s| s.live_availability().map(|a| (a, s)))
            .max_by(|(a, s), (b, t)| (a, s.recency()).cmp(&(b, t.recency())))
    };

    let (availability, decided_by) =
        if let Some((state, availability)) = manual.and_then(|s| s.availability.map(|a| (s, a))) {
            (
                idle_overlay(availability, machine_activity),
                Some(state.kind),
            )
        } else if let Some((availability, state)) = busiest() {
            (
                idle_overlay(availability, machine_activity),
                Some(state.kind),
            )
        } else if let Some(m) = machine.as_ref().filter(|m| m.live.is_some()) {
            (
                m.live.unwrap_or(Availability::OFFLINE),
                Some(SourceKind::Machine),
            )
        } else if let Some(state) = sources
            .iter()
            .filter(|s| {
                s.availability
                    .is_some_and(|a| a.class() == AvailabilityClass::Offline)
            })
            .max_by(|a, b| a.recency().cmp(&b.recency()))
        {
            (
                state.availability.unwrap_or(Availability::OFFLINE),
                Some(state.kind),
            )
        } else {
            (Availability::OFFLINE, None)
        };

    AggregateState {
        availability,
        activity: aggregated_activity(sources, availability),
        manual: manual.is_some(),
        decided_by,
        machine: machine_activity,
        device: machine.as_ref().and_then(|m| m.state.device.clone()),
        last_active: machine
            .as_ref()
            .filter(|m| m.activity != MachineActivity::Active)
            .map(|m| m.last_active),
        changes_at: next_fade(sources, now, policy),
    }
}

/// The most active endpoint, with its activity after fading.
struct Machine<'a> {
    state: &'a SourceState,
    activity: MachineActivity,
    /// The availability the machine stands for when it decides alone.
    live: Option<Availability>,
    last_active: SystemTime,
}

fn most_active_machine<'a>(
    sources: &'a [SourceState],
    now: SystemTime,
    policy: &AggregationPolicy,
) -> Option<Machine<'a>> {
    sources
        .iter()
        .filter(|s| s.kind == SourceKind::Machine)
        .map(|state| {
            let last_active = state.last_active.unwrap_or(state.published_at);
            let mut activity = MachineActivity::of(state.availability);
            let mut live = state.live_availability();
            if activity == MachineActivity::Inactive && fades_at(state, policy) <= now {
                activity = MachineActivity::Away;
                live = Some(Availability::AWAY);
            }
            Machine {
                state,
                activity,
                live,
                last_active,
            }
        })
        .min_by(|a, b| {
            (a.activity, Reverse(a.state.recency())).cmp(&(b.activity, Reverse(b.state.recency())))
        })
}

fn fades_at(state: &SourceState, policy: &AggregationPolicy) -> SystemTime {
    let since = state.last_active.unwrap_or(state.published_at);
    since.checked_add(policy.away_after).unwrap_or(since)
}

fn next_fade(
    sources: &[SourceState],
    now: SystemTime,
    policy: &AggregationPolicy,
) -> Option<SystemTime> {
    sources
        .iter()
        .filter(|s| {
            s.kind == SourceKind::Machine
                && MachineActivity::of(s.availability) == MachineActivity::Inactive
        })
        .map(|s| fades_at(s, policy))
        .filter(|at| *at > now)
        .min()
}

/// Step 5 of the module documentation.
fn idle_overlay(availability: Availability, machine: Option<MachineActivity>) -> Availability {
    match (availability.class(), machine) {
        (AvailabilityClass::Online | AvailabilityClass::Busy, Some(MachineActivity::Inactive)) => {
            availability.idled()
        }
        (
            AvailabilityClass::Online | AvailabilityClass::IdleOnline,
            Some(MachineActivity::Away),
        ) => Availability::AWAY,
        (AvailabilityClass::Busy, Some(MachineActivity::Away)) => availability.idled(),
        _ => availability,
    }
}

/// Step 7 of the module documentation ([MS-PRES] §3.8.5.1.2.3).
fn aggregated_activity(
    sources: &[SourceState],
    availability: Availability,
) -> Option<StateActivity> {
    sources
        .iter()
        .filter_map(|s| s.activity.as_ref().map(|a| (a, s)))
        .filter(|(a, _)| a.is_meaningful() && a.admits(availability))
        .max_by(|(a, s), (b, t)| (a.min, s.recency()).cmp(&(b.min, t.recency())))
        .map(|(a, _)| a.clone())
}

#[cfg(test)]
mod tests;
