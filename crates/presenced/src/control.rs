//! Requests from the operator to the SIP core, such as approving a
//! watcher. The core owns the engine and is a single task, so the HTTP
//! side cannot touch the engine; it sends a [`Control`] over a channel and
//! the core carries it out between two SIP messages, in order with them.

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
}

/// The sending side, cloned into each HTTP handler.
pub type ControlSender = mpsc::Sender<Control>;

/// Operator requests waiting for the core; the core is quick, so a short
/// queue is plenty, and a full one tells the operator to retry.
pub const CONTROL_QUEUE: usize = 64;
