//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8): the one
//! every SUBSCRIBE, PUBLISH and REGISTER to a presence server runs through.
//!
//! ```text
//!  Trying ──1xx from TU──▶ Proceeding ──200-699 from TU──▶ Completed ──Timer J──▶ Terminated
//!     └──────────────200-699 from TU───────────────────────────▲
//! ```
//!
//! The server never retransmits on its own: the client does, and each
//! retransmitted request is answered with the last response sent (none in
//! Trying, where the TU is still working and the retransmission is
//! absorbed silently). Timer J (64*T1; zero on reliable transports) keeps
//! the final response around for as long as the client may retransmit, so
//! that a retransmission is never mistaken for a new request and the
//! request is never processed twice.

use std::time::Instant;

use bytes::Bytes;

use super::timers::{deadline, due, Config};
use super::{Event, State};

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    /// The last response sent, re-sent for each retransmitted request.
    last: Option<Bytes>,
    reliable: bool,
    /// Timer J (wait for request retransmissions in Completed).
    j: Option<Instant>,
}

impl ServerNonInvite {
    /// A new transaction in Trying; the layer hands the request to the TU.
    pub(crate) fn new(reliable: bool) -> Self {
        ServerNonInvite {
            state: State::Trying,
            last: None,
            reliable,
            j: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.j
    }

    /// The client retransmitted the request (§17.2.2): absorb it in Trying,
    /// otherwise answer with the last response again.
    pub(crate) fn on_request(&mut self, out: &mut Vec<Event>) {
        if let Some(last) = &self.last {
            out.push(Event::Transmit(last.clone()));
        }
    }

    /// The TU sends a response (already encoded). Finals after the first
    /// are discarded (§17.2.2: "any other final responses passed by the TU
    /// ... MUST be discarded while in the Completed state").
    pub(crate) fn on_tu_response(
        &mut self,
        status: u16,
        encoded: Bytes,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        if self.state == State::Completed {
            return;
        }
        out.push(Event::Transmit(encoded.clone()));
        self.last = Some(encoded);
        if status < 200 {
            self.state = State::Proceeding;
            return;
        }
        self.state = State::Completed;
        let j = config.timer_j(self.reliable);
        if j.is_zero() {
            out.push(Event::Terminated);
        } else {
            self.j = Some(deadline(now, j));
        }
    }

    /// Timer J: the client has stopped retransmitting.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Vec<Event>) {
        if due(self.j, now) {
            self.j = None;
            out.push(Event::Terminated);
        }
    }
}
