//! Requests from the operator to the SIP core, such as approving a
//! watcher. The core owns the engine and is a single task, so the HTTP
//! side cannot touch the engine; it sends a [`Control`] over a channel and
//! the core carries it out between two SIP messages, in order with them.

use presence::contacts::ListContent;
use std::sync::Arc;

use presence::availability::Availability;
use presence::{ContactError, ContactListRecord, ServiceContacts};
use rules::sync::{DeviceState, SyncAgent, SyncRules, UserState};

use crate::sync::{Binding, HubError};
use tokio::sync::{broadcast, mpsc, oneshot};

/// One operator request.
#[derive(Debug)]
pub enum Control {
    /// Decide the pending subscriptions of `watcher` to `presentity`
    /// (the `pending` state of the allow-list policy): `allow` activates
    /// them, otherwise they end with `terminated;reason=rejected`. The
    /// decision also applies to that watcher's later SUBSCRIBEs.
    Authorize {
        /// The watched presentity's AOR.
        presentity: String,
        /// The watcher's AOR.
        watcher: String,
        /// Approve or refuse.
        allow: bool,
        /// Told once the engine has applied it (NOTIFYs are on their way).
        done: oneshot::Sender<()>,
    },
    /// Replace a user's contact list (`PUT /api/v1/users/{uri}/contacts`).
    PutContacts {
        /// The user's URI, any form.
        user: String,
        /// The new groups and contacts.
        list: ListContent,
        /// Told the list as stored once its store commit is durable, or why
        /// it was refused; nothing changes when it is refused as invalid.
        done: oneshot::Sender<Result<ContactListRecord, ContactsRefused>>,
    },
    /// Answer for service contacts from now on (a validated reload of
    /// `[service]`): the engine notifies the watchers whose answer changed.
    Reconfigure {
        /// The new rooms and rules.
        services: Arc<dyn ServiceContacts>,
        /// Told once the engine has applied it (NOTIFYs are on their way).
        done: oneshot::Sender<()>,
    },
    /// A room's participant count from the occupancy feed
    /// (`PUT /api/v1/rooms/{alias}/occupancy`).
    Occupancy {
        /// The room, by its first alias.
        room: String,
        /// Participants now.
        participants: u32,
        /// Told once the engine has applied it.
        done: oneshot::Sender<()>,
    },
    /// Where a presentity's upstream subscription stands
    /// (`GET /api/v1/provider/presentities/{uri}`, `presenced explain`).
    UpstreamStatus {
        /// The presentity, any URI form.
        presentity: sip::Uri,
        /// `None` when the provider is off.
        done: oneshot::Sender<Option<UpstreamView>>,
    },
    /// An attendant's or a PSTN line's state from the presence
    /// provider's API (`PUT`/`DELETE /api/v1/provider/attendants|lines/{uri}`).
    Provided {
        /// The presentity key.
        presentity: String,
        /// Which source.
        source: presence::ProvidedSource,
        /// The state; `None`: unknown.
        state: Option<presence::SyncState>,
        /// Told once the engine has applied it (NOTIFYs are on their way)
        /// and it is on disk: `false` when the store did not take it.
        done: oneshot::Sender<bool>,
    },
    /// A consumer starts watching a presentity over the API's event
    /// stream: counted like a SIP watcher; answered with what it is
    /// shown now and the stream of changes (`None`: the provider does not
    /// serve it).
    ProviderWatch {
        /// The presentity key.
        presentity: String,
        /// The source that serves it (`rules::sources::SourceKind` name).
        source: &'static str,
        /// The first event and the changes to come.
        done: oneshot::Sender<Option<(ProviderEvent, broadcast::Receiver<ProviderEvent>)>>,
    },
    /// That consumer left (its stream ended).
    ProviderUnwatch {
        /// The presentity key.
        presentity: String,
    },
    /// A contact-center request of the sync engine (`/api/v1/sync/...`).
    Sync {
        /// What is asked.
        request: SyncRequest,
        /// The answer, once any write it made is durable.
        done: oneshot::Sender<Result<SyncAnswer, SyncRefused>>,
    },
    /// New `[sync]` rules (a validated reload): applied to every agent.
    SyncRules {
        /// The rules.
        rules: Arc<SyncRules>,
        /// Told once the hub has applied them.
        done: oneshot::Sender<()>,
    },
    /// Read a user's contact list (`GET /api/v1/users/{uri}/contacts`):
    /// the core's, so a read after an acknowledged PUT sees it.
    GetContacts {
        /// The user's URI, any form.
        user: String,
        /// The list (empty at `deltaNum` 0 for a user without one), or why
        /// `user` is no user.
        done: oneshot::Sender<Result<ContactListRecord, ContactError>>,
    },
    /// The presence provider's counts and its presentities that are not
    /// live (the console's upstream page); `None` when it is off.
    ProviderOverview {
        /// At most this many presentities.
        max: usize,
        /// Told the overview.
        done: oneshot::Sender<Option<crate::sip_core::ProviderOverview>>,
    },
    /// The sync engine's agents with their last states and the profile
    /// and rule that map them (the console's agents page).
    SyncAgents {
        /// At most this many, by agent id.
        max: usize,
        /// Told the agents.
        done: oneshot::Sender<Vec<crate::sync::AgentOverview>>,
    },
    /// What presentities show now (`GET /api/v1/directory`): the
    /// engine's aggregate of each, in the order asked.
    Shown {
        /// Presentity keys (`sip:user@host`).
        presentities: Vec<String>,
        /// Told what each shows.
        done: oneshot::Sender<Vec<presence::Shown>>,
    },
}

/// What a provider consumer is shown, as the API's event stream sends
/// it: one event per change of a presentity's provider state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderEvent {
    /// The presentity key.
    pub presentity: String,
    /// The availability number; `None`: unknown.
    pub availability: Option<u32>,
    /// Its class (`Online`, `Busy`, `Away` …).
    pub class: Option<String>,
    /// The activity token.
    pub activity: Option<String>,
    /// The note (custom activity text).
    pub note: Option<String>,
    /// The source (`upstream`, `attendant`, `pstn`).
    pub source: String,
    /// `live` while the state is known; `pending` while the source has
    /// none yet (queued behind the throttle, subscribing, not set); `failed`
    /// when the upstream subscription was given up (shown unknown).
    pub status: String,
}

/// One presentity's upstream subscription as the API shows it; the
/// status names are the metrics' (`presenced_upstream_subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpstreamView {
    /// `unsubscribed` (nobody watches it), `queued` (waiting for the
    /// throttle), `pending`, `live`, `retrying` or `failed`.
    pub status: String,
    /// Consumers watching it (SIP watchers and API consumers).
    pub consumers: usize,
    /// Consecutive failures (retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// The last failure (retrying, failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds until the next try (retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
    /// The way to the upstream: `up` (udp: its name resolved; tcp/tls:
    /// connected), `connecting`, or `down: <why>` (a name that does not
    /// resolve, a refused connection, a certificate that does not
    /// verify): while it is not up every upstream subscription waits.
    /// Optional so that an older server's answer still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

/// What a contact center asks of the sync engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// Bind (or re-bind) an agent.
    Bind {
        /// The agent id.
        agent: String,
        /// To what.
        binding: Binding,
    },
    /// Forget an agent; its sync source leaves its presentity.
    Unbind {
        /// The agent id.
        agent: String,
    },
    /// An agent state and/or a device state.
    State {
        /// The agent id.
        agent: String,
        /// Agent state or configured status, if it changed.
        status: Option<String>,
        /// Device state, if it changed.
        device: Option<DeviceState>,
    },
    /// A login session: user state and the session's own profile.
    Session {
        /// The agent id.
        agent: String,
        /// How it is logged in now.
        user_state: UserState,
        /// The profile the session chose (T-Server's `presence-profile`).
        profile: Option<String>,
    },
    /// Read an agent's two sides.
    Get {
        /// The agent id.
        agent: String,
    },
    /// Why an agent (by id or presentity) shows what it shows.
    Explain {
        /// Agent id or presentity URI.
        target: String,
    },
}

/// The sync engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAnswer {
    /// The agent as it is now, with its presentity's aggregate.
    Agent(Box<SyncAgent>, Option<Availability>),
    /// The agent is unbound.
    Unbound,
    /// `explain`'s lines.
    Explained(Vec<String>),
}

/// Why a sync request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SyncRefused {
    /// The hub refused it; nothing changed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// Its store commit failed.
    #[error("the store did not take the change")]
    Storage,
}

/// Why a contact-list change was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ContactsRefused {
    /// It breaks a rule of [`presence::contacts`]; nothing changed.
    #[error(transparent)]
    Invalid(#[from] ContactError),
    /// Its store commit failed: the list is not durable (see
    /// ARCHITECTURE.md, "When a store commit fails").
    #[error("the store did not take the change")]
    Storage,
}

/// The sending side, cloned into each HTTP handler.
pub type ControlSender = mpsc::Sender<Control>;

/// Operator requests waiting for the core; the core is quick, so a short
/// queue is plenty, and a full one tells the operator to retry.
pub const CONTROL_QUEUE: usize = 64;
