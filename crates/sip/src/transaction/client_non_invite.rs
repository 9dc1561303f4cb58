//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6): how the
//! server's own requests (NOTIFY above all) survive packet loss.
//!
//! ```text
//!  Trying ──1xx──▶ Proceeding ──200-699──▶ Completed ──Timer K──▶ Terminated
//!     └────────────200-699─────────────────────▲
//!  Trying/Proceeding ──Timer F or transport error──▶ Terminated (inform TU)
//! ```
//!
//! Timer E retransmits the request on unreliable transports: T1, doubling up
//! to T2 in Trying, every T2 in Proceeding. Timer F (64*T1) gives up.
//! Timer K (T4; zero on reliable transports) absorbs retransmitted final
//! responses.

use std::time::Instant;

use bytes::Bytes;

use super::timers::{deadline, due, earliest, Backoff, Config, Retransmit};
use super::{Event, State};
use crate::message::Response;

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    /// The request as sent, shared by every retransmission.
    request: Bytes,
    reliable: bool,
    /// Timer E (retransmission), unreliable transports only.
    e: Option<Retransmit>,
    /// Timer F (transaction timeout).
    f: Option<Instant>,
    /// Timer K (wait for response retransmissions).
    k: Option<Instant>,
}

impl ClientNonInvite {
    /// Sends the request and arms Timers E and F (§17.1.2.2: "the Trying
    /// state is entered ... the request is passed to the transport layer").
    pub(crate) fn start(
        request: Bytes,
        reliable: bool,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Self {
        out.push(Event::Transmit(request.clone()));
        ClientNonInvite {
            state: State::Trying,
            request,
            reliable,
            e: Retransmit::start(now, config.first_retransmit(reliable)),
            f: Some(deadline(now, config.timeout())),
            k: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Timer K, once in Completed: from then on the transaction only
    /// absorbs retransmitted final responses, which is all the layer keeps
    /// of it (see `super::completed`).
    pub(crate) fn absorbing_until(&self) -> Option<Instant> {
        self.k.filter(|_| self.state == State::Completed)
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest(&[self.e.map(|e| e.at), self.f, self.k])
    }

    /// A response matched this transaction (§17.1.2.2).
    pub(crate) fn on_response(
        &mut self,
        resp: Response,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        match self.state {
            State::Trying | State::Proceeding if resp.status < 200 => {
                self.state = State::Proceeding;
                out.push(Event::Response(resp));
            }
            State::Trying | State::Proceeding => {
                out.push(Event::Response(resp));
                self.e = None;
                self.f = None;
                self.state = State::Completed;
                // Completed never retransmits: let the request's bytes go
                // now rather than after Timer K (a NOTIFY with its body is
                // most of what a transaction holds, and a fan-out creates
                // thousands at once).
                self.request = Bytes::new();
                // Timer K: T4 to absorb retransmitted finals, zero (leave
                // at once) on reliable transports.
                let k = config.timer_i_k(self.reliable);
                if k.is_zero() {
                    out.push(Event::Terminated);
                } else {
                    self.k = Some(deadline(now, k));
                }
            }
            // Completed: retransmissions of the final response are
            // absorbed; the TU has seen it.
            _ => {}
        }
    }

    /// Fires the timers that are due. The ending timers are looked at
    /// first so that a late wake-up does not retransmit a request that is
    /// being given up.
    pub(crate) fn on_timeout(&mut self, config: &Config, now: Instant, out: &mut Vec<Event>) {
        if due(self.f, now) {
            // Timer F: the TU treats this as a 408 (§8.1.3.1).
            self.f = None;
            self.e = None;
            out.push(Event::Timeout);
            out.push(Event::Terminated);
            return;
        }
        if due(self.k, now) {
            self.k = None;
            out.push(Event::Terminated);
            return;
        }
        if let Some(e) = self.e.as_mut().filter(|e| e.at <= now) {
            out.push(Event::Transmit(self.request.clone()));
            // In Proceeding the peer is known to be alive and working on
            // it, so retransmit at the slow pace T2 (§17.1.2.2).
            let next = if self.state == State::Proceeding {
                Backoff::Fixed(config.t2())
            } else {
                Backoff::DoubleUpTo(config.t2())
            };
            e.rearm(now, next);
        }
    }
}
