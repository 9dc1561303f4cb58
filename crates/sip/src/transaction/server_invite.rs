//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as corrected
//! by RFC 6026 §7.1).
//!
//! ```text
//!  Proceeding ──300-699 from TU──▶ Completed ──ACK──▶ Confirmed ──Timer I──▶ Terminated
//!     │                               └──Timer H (inform TU)──▶ Terminated
//!     └──2xx from TU──▶ Accepted ──Timer L──▶ Terminated
//! ```
//!
//! - Proceeding: a retransmitted INVITE gets the last provisional response
//!   again; if the TU stays silent for 200 ms the transaction sends
//!   `100 Trying` itself (configurable), which stops the client's Timer A.
//! - Completed: the final response is retransmitted by Timer G (unreliable
//!   transports: T1 doubling up to T2) until the ACK arrives or Timer H
//!   (64*T1) gives up.
//! - Confirmed: further ACKs are absorbed until Timer I (T4; zero on
//!   reliable transports).
//! - Accepted (RFC 6026): the TU retransmits its 2xx itself and gets the
//!   ACKs; the transaction absorbs retransmitted INVITEs for 64*T1 (Timer
//!   L) so that they are not taken for new requests.

use std::time::Instant;

use bytes::Bytes;

use super::timers::{deadline, due, earliest, Backoff, Config, Retransmit, TRYING_DELAY};
use super::{Event, State};
use crate::message::{Request, Response};

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
    /// The INVITE, kept only while the transaction may still have to build
    /// `100 Trying` from it.
    request: Option<Request>,
    /// The last provisional (Proceeding) or the final (Completed) response.
    last: Option<Bytes>,
    /// The To tag of the final response, which an RFC 2543 ACK must carry
    /// to match (§17.2.3).
    final_to_tag: Option<Bytes>,
    reliable: bool,
    /// When to send `100 Trying` if the TU has not answered.
    trying: Option<Instant>,
    /// Timer G (final response retransmission), unreliable transports only.
    g: Option<Retransmit>,
    /// Timer H (wait for ACK).
    h: Option<Instant>,
    /// Timer I (wait for ACK retransmissions).
    i: Option<Instant>,
    /// Timer L (wait for INVITE retransmissions after a 2xx, RFC 6026).
    l: Option<Instant>,
}

/// What became of an ACK that matched this transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckFate {
    /// Part of the transaction; nothing for the TU.
    Absorbed,
    /// RFC 6026 §7.1: in Accepted, the ACK goes to the TU.
    ToTu,
}

impl ServerInvite {
    /// A new transaction in Proceeding. With `auto_100_trying` the request
    /// is kept so that `100 Trying` can be built from it 200 ms from now.
    pub(crate) fn new(request: &Request, reliable: bool, config: &Config, now: Instant) -> Self {
        let auto = config.auto_100_trying;
        ServerInvite {
            state: State::Proceeding,
            request: auto.then(|| request.clone()),
            last: None,
            final_to_tag: None,
            reliable,
            trying: auto.then(|| deadline(now, TRYING_DELAY)),
            g: None,
            h: None,
            i: None,
            l: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The To tag of the final response sent, if any.
    pub(crate) fn final_to_tag(&self) -> Option<&Bytes> {
        self.final_to_tag.as_ref()
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest(&[self.trying, self.g.map(|g| g.at), self.h, self.i, self.l])
    }

    /// The client retransmitted the INVITE (§17.2.1).
    pub(crate) fn on_request(&mut self, out: &mut Vec<Event>) {
        match self.state {
            State::Proceeding => {
                if let Some(last) = &self.last {
                    out.push(Event::Transmit(last.clone()));
                } else {
                    // The client is already retransmitting: no point in
                    // waiting out the 200 ms before telling it we are here.
                    self.send_trying(out);
                }
            }
            State::Completed => {
                if let Some(last) = &self.last {
                    out.push(Event::Transmit(last.clone()));
                }
            }
            // Confirmed: the client has our final response. Accepted: the
            // TU retransmits its 2xx; RFC 6026 §7.1 absorbs the INVITE.
            _ => {}
        }
    }

    /// An ACK matched this transaction.
    pub(crate) fn on_ack(
        &mut self,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> AckFate {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                self.g = None;
                self.h = None;
                let i = config.timer_i_k(self.reliable);
                if i.is_zero() {
                    out.push(Event::Terminated);
                } else {
                    self.i = Some(deadline(now, i));
                }
                AckFate::Absorbed
            }
            State::Accepted => AckFate::ToTu,
            // Confirmed: a retransmitted ACK. Proceeding: an ACK before
            // any final response acknowledges nothing.
            _ => AckFate::Absorbed,
        }
    }

    /// The TU sends a response (already encoded).
    pub(crate) fn on_tu_response(
        &mut self,
        resp: &Response,
        encoded: Bytes,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        match (self.state, resp.status) {
            (State::Proceeding, 100..=199) => {
                self.stop_trying();
                out.push(Event::Transmit(encoded.clone()));
                self.last = Some(encoded);
            }
            (State::Proceeding, 200..=299) => {
                self.stop_trying();
                out.push(Event::Transmit(encoded));
                self.last = None;
                self.final_to_tag = super::key::to_tag(resp);
                self.state = State::Accepted;
                // Timer L: 64*T1 on every transport (RFC 6026 §7.1).
                self.l = Some(deadline(now, config.timeout()));
            }
            (State::Proceeding, _) => {
                self.stop_trying();
                out.push(Event::Transmit(encoded.clone()));
                self.last = Some(encoded);
                self.final_to_tag = super::key::to_tag(resp);
                self.state = State::Completed;
                self.g = Retransmit::start(now, config.first_retransmit(self.reliable));
                self.h = Some(deadline(now, config.timeout()));
            }
            // RFC 6026 §7.1: the TU's own 2xx retransmissions pass through.
            (State::Accepted, 200..=299) => out.push(Event::Transmit(encoded)),
            // Any other response after the final one contradicts it.
            _ => {}
        }
    }

    /// Fires the timers that are due, ending timers first.
    pub(crate) fn on_timeout(&mut self, config: &Config, now: Instant, out: &mut Vec<Event>) {
        if due(self.h, now) {
            // Timer H: the ACK never came; the TU learns that the final
            // response probably never arrived (§17.2.1).
            self.h = None;
            self.g = None;
            out.push(Event::Timeout);
            out.push(Event::Terminated);
            return;
        }
        if due(self.i, now) || due(self.l, now) {
            self.i = None;
            self.l = None;
            out.push(Event::Terminated);
            return;
        }
        if due(self.trying, now) {
            self.send_trying(out);
        }
        if let Some(g) = self.g.as_mut().filter(|g| g.at <= now) {
            if let Some(last) = &self.last {
                out.push(Event::Transmit(last.clone()));
            }
            g.rearm(now, Backoff::DoubleUpTo(config.t2()));
        }
    }

    /// Sends `100 Trying` built from the INVITE (§8.2.6.1: Timestamp
    /// copied, no To tag) and keeps it as the provisional to repeat.
    fn send_trying(&mut self, out: &mut Vec<Event>) {
        self.trying = None;
        if let Some(req) = self.request.take() {
            let trying = Bytes::from(Response::to_request(&req, 100, None).encode());
            out.push(Event::Transmit(trying.clone()));
            self.last = Some(trying);
        }
    }

    /// The TU answered: the automatic 100 is no longer needed.
    fn stop_trying(&mut self) {
        self.trying = None;
        self.request = None;
    }
}
