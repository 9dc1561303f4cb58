//! The contact-center side's vocabulary: agent states, device states,
//! T-Server's aggregated-states option, and the agent's binding (user
//! type, user state) that seed 003's conditions test.

use std::fmt;
use std::str::FromStr;

/// T-Server's agent states, in the order of the 15-row table of seed 002
/// (its row number is `agent + 5 × device + 1`). Other contact-center
/// statuses ("Away from Desk") are plain strings and go through the
/// mappings, not the aggregated-states table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentState {
    /// Logged out.
    Logout,
    /// Ready for calls.
    Ready,
    /// Logged in, not ready.
    NotReady,
    /// After-call work.
    Acw,
    /// Away from the desk.
    WalkAway,
}

impl AgentState {
    /// All, in table order.
    pub const ALL: [AgentState; 5] = [
        AgentState::Logout,
        AgentState::Ready,
        AgentState::NotReady,
        AgentState::Acw,
        AgentState::WalkAway,
    ];

    /// The name as T-Server writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Logout => "Logout",
            AgentState::Ready => "Ready",
            AgentState::NotReady => "NotReady",
            AgentState::Acw => "ACW",
            AgentState::WalkAway => "Walk_Away",
        }
    }

    /// The state a status string names, case-insensitively; `None` for a
    /// configured status of the contact center's own.
    pub fn of(status: &str) -> Option<AgentState> {
        AgentState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(status))
    }
}

/// T-Server's device states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum DeviceState {
    /// No call.
    #[default]
    Idle,
    /// A call is present.
    Busy,
    /// Out of service.
    Oos,
}

impl DeviceState {
    /// All, in table order.
    pub const ALL: [DeviceState; 3] = [DeviceState::Idle, DeviceState::Busy, DeviceState::Oos];

    /// The name as T-Server writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Idle => "Idle",
            DeviceState::Busy => "Busy",
            DeviceState::Oos => "OOS",
        }
    }
}

impl FromStr for DeviceState {
    type Err = String;
    fn from_str(s: &str) -> Result<DeviceState, String> {
        DeviceState::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?} is not a device state (Idle, Busy, OOS)"))
    }
}

/// The row of seed 002's table: 1–15.
pub fn row(agent: AgentState, device: DeviceState) -> usize {
    device as usize * AgentState::ALL.len() + agent as usize + 1
}

/// Number of rows in the table.
pub const ROWS: usize = 15;

/// T-Server's `aggregated-states` option: row → aggregated state id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregatedStates(pub [Option<String>; ROWS]);

impl AggregatedStates {
    /// Reads `1=IDLE_OUT, 2=IDLE_READY, …` (a trailing `.` as in the
    /// seed's text is allowed). Errors name the entry and its byte offset
    /// within `text`.
    pub fn parse(text: &str) -> Result<AggregatedStates, (usize, String)> {
        let mut rows: [Option<String>; ROWS] = Default::default();
        let body = text.trim_end().trim_end_matches('.');
        let mut at = 0;
        for entry in body.split(',') {
            let offset = at + (entry.len() - entry.trim_start().len());
            at += entry.len() + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some((n, id)) = entry.split_once('=') else {
                return Err((offset, format!("{entry:?} is not row=STATE")));
            };
            let n: usize = match n.trim().parse() {
                Ok(n) if (1..=ROWS).contains(&n) => n,
                _ => {
                    return Err((
                        offset,
                        format!("{:?} is not a row number 1 to {ROWS}", n.trim()),
                    ))
                }
            };
            let id = id.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err((
                    offset,
                    format!("{id:?} is not a state id (letters, digits, _)"),
                ));
            }
            if rows[n - 1].is_some() {
                return Err((offset, format!("row {n} is given twice")));
            }
            rows[n - 1] = Some(id.to_owned());
        }
        Ok(AggregatedStates(rows))
    }

    /// The aggregated state of an agent and device state, if configured.
    pub fn get(&self, agent: AgentState, device: DeviceState) -> Option<&str> {
        self.0[row(agent, device) - 1].as_deref()
    }
}

impl fmt::Display for AggregatedStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, id) in self.0.iter().enumerate() {
            if let Some(id) = id {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{}={id}", i + 1)?;
            }
        }
        Ok(())
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The name as configured.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl FromStr for $name {
            type Err = String;
            /// Case-insensitive, as seed 003 spells the same value
            /// `IMOnly` and `ImOnly`, `RCC` and `Rcc`.
            fn from_str(s: &str) -> Result<$name, String> {
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
                    let names: Vec<_> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("{s:?} is not one of {}", names.join(", "))
                })
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

named_enum!(
    /// The agent's UC account type (seed 003's UserType qualification).
    UserType {
        /// A Lync Enterprise Voice user.
        EnterpriseVoice = "EnterpriseVoice",
        /// A Lync Remote Call Control user.
        Rcc = "Rcc",
        /// An IM-only user.
        ImOnly = "ImOnly",
    }
);

named_enum!(
    /// How the agent is logged in (seed 003's UserState qualification).
    UserState {
        /// Logged out of the contact center.
        LoggedOut = "LoggedOut",
        /// Logged in through Remote Call Control.
        LoggedInToRcc = "LoggedInToRcc",
        /// Running the contact-center client.
        LoggedInToClient = "LoggedInToClient",
    }
);

named_enum!(
    /// Which way a mapping syncs (seed 003's `direction`; `OneWayToIc` is
    /// `OneWayToCc`, `OneWayToLync` is `OneWayToUc`).
    SyncDirection {
        /// Both ways.
        TwoWay = "TwoWay",
        /// UC availability → contact-center status only.
        OneWayToCc = "OneWayToCc",
        /// Contact-center status → UC availability only.
        OneWayToUc = "OneWayToUc",
        /// Disabled for the time being.
        None = "None",
    }
);

impl SyncDirection {
    /// Whether UC changes set the contact-center status through it.
    pub fn to_cc(self) -> bool {
        matches!(self, SyncDirection::TwoWay | SyncDirection::OneWayToCc)
    }

    /// Whether contact-center changes set the UC availability through it.
    pub fn to_uc(self) -> bool {
        matches!(self, SyncDirection::TwoWay | SyncDirection::OneWayToUc)
    }
}

#[cfg(test)]
mod tests {
    use super::{row, AgentState, AggregatedStates, DeviceState, UserType};

    /// Seed 002's option, verbatim (with its trailing full stop).
    pub const SEED_002: &str = "1=IDLE_OUT, 2=IDLE_READY, 3=IDLE_NOTREADY, 4=IDLE_ACW, 5=IDLE_AWAY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OOS, 12=OOS, 13=OOS, 14=OOS, 15=OOS.";

    #[test]
    fn the_15_rows_of_seed_002() {
        let table = AggregatedStates::parse(SEED_002).unwrap();
        let expect = [
            ("Logout", "Idle", "IDLE_OUT"),
            ("Ready", "Idle", "IDLE_READY"),
            ("NotReady", "Idle", "IDLE_NOTREADY"),
            ("ACW", "Idle", "IDLE_ACW"),
            ("Walk_Away", "Idle", "IDLE_AWAY"),
            ("Logout", "Busy", "INCALL"),
            ("Ready", "Busy", "INCALL"),
            ("NotReady", "Busy", "INCALL"),
            ("ACW", "Busy", "INCALL"),
            ("Walk_Away", "Busy", "INCALL"),
            ("Logout", "OOS", "OOS"),
            ("Ready", "OOS", "OOS"),
            ("NotReady", "OOS", "OOS"),
            ("ACW", "OOS", "OOS"),
            ("Walk_Away", "OOS", "OOS"),
        ];
        for (n, (agent, device, id)) in expect.iter().enumerate() {
            let agent = AgentState::of(agent).unwrap();
            let device: DeviceState = device.parse().unwrap();
            assert_eq!(row(agent, device), n + 1);
            assert_eq!(table.get(agent, device), Some(*id), "row {}", n + 1);
        }
        assert_eq!(table.to_string() + ".", SEED_002);
    }

    #[test]
    fn bad_entries_are_named_with_their_offset() {
        assert_eq!(
            AggregatedStates::parse("1=IDLE_OUT, 16=X").unwrap_err(),
            (12, "\"16\" is not a row number 1 to 15".to_owned())
        );
        assert!(AggregatedStates::parse("1=A, 1=B")
            .unwrap_err()
            .1
            .contains("row 1 is given twice"));
        assert!(AggregatedStates::parse("1 IDLE")
            .unwrap_err()
            .1
            .contains("row=STATE"));
        assert_eq!("IMOnly".parse::<UserType>(), Ok(UserType::ImOnly));
        assert!("Lync"
            .parse::<UserType>()
            .unwrap_err()
            .contains("EnterpriseVoice, Rcc, ImOnly"));
    }
}
