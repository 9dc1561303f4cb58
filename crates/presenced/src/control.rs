//! Requests from the operator to the SIP core, such as approving a
//! watcher. The core owns the engine and is a single task, so the HTTP
//! side cannot touch the engine; it sends a [`Control`] over a channel and
//! the core carries it out between two SIP messages, in order with them.

use presence::contacts::ListContent;
use std::sync::Arc;

use presence::{ContactError, ContactListRecord, ServiceContacts};
use tokio::sync::{mpsc, oneshot};

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
    Upstream {
        /// At most this many presentities.
        max: usize,
        /// Told the view.
        done: oneshot::Sender<Option<crate::sip_core::UpstreamView>>,
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
