//! The seam between the SIP core and what the server is for.
//!
//! The core answers what any SIP server answers ([`crate::endpoint`]) and
//! hands every other request to an [`Application`]: the presence server
//! (SUBSCRIBE, PUBLISH, NOTIFY) plugs in here. Until it exists,
//! [`NotYetPresence`] gives those requests a clear, honest answer.

use sip::{Request, Response};

use crate::endpoint::{Dialogs, NoDialogs};
use crate::transport::Flow;

/// What serves the requests the core does not answer itself.
pub trait Application: Send {
    /// Answers one new request. `to_tag` is the tag a response must carry
    /// when the application creates no dialog with a tag of its own
    /// (RFC 3261 §8.2.6.2); it is stable across retransmissions.
    fn handle(&mut self, req: &Request, flow: &Flow, to_tag: &str) -> Response;

    /// The dialogs the application holds, so the core can answer 481 to
    /// in-dialog requests that match none (RFC 3261 §12.2.2).
    fn dialogs(&self) -> &dyn Dialogs;
}

/// The application of a server whose presence package is not enabled yet:
/// it holds no dialogs and turns away what it would serve.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotYetPresence;

/// The reason phrase that says why, so a client's log is self-explanatory.
const NOT_ENABLED: &str = "Presence service not enabled";

impl Application for NotYetPresence {
    fn handle(&mut self, req: &Request, _flow: &Flow, to_tag: &str) -> Response {
        // 480: the presentity cannot be served right now. Not 501, which
        // would contradict the Allow header, nor 503, which makes clients
        // retry against a server that will not change its mind.
        Response::to_request(req, 480, Some(to_tag)).with_reason(NOT_ENABLED)
    }

    fn dialogs(&self) -> &dyn Dialogs {
        &NoDialogs
    }
}
