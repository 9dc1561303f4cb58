//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as corrected
//! by RFC 6026 §7.2).
//!
//! ```text
//!  Calling ──1xx──▶ Proceeding ──300-699 (send ACK)──▶ Completed ──Timer D──▶ Terminated
//!     │                 └──2xx──▶ Accepted ──Timer M──▶ Terminated
//!     ├──300-699 (send ACK)──▶ Completed
//!     ├──2xx──▶ Accepted
//!     └──Timer B or transport error──▶ Terminated (inform TU)
//! ```
//!
//! Timer A retransmits the INVITE on unreliable transports, doubling each
//! time with no cap (Timer B ends it). The ACK for a non-2xx final response
//! is built here (§17.1.1.3) and re-sent for each retransmission of that
//! response during Timer D. A 2xx is the TU's business (it ACKs it in the
//! dialog, §13.2.2.4); RFC 6026 keeps the transaction in Accepted for
//! 64*T1 so that retransmitted and forked 2xx responses still reach the TU
//! instead of being mistaken for strays.

use std::time::Instant;

use bytes::Bytes;

use super::timers::{deadline, due, earliest, Backoff, Config, Retransmit};
use super::{Event, State};
use crate::header::{Header, HeaderName, Headers};
use crate::message::{Request, Response};
use crate::method::Method;

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    /// The INVITE as sent, shared by every retransmission.
    encoded: Bytes,
    /// The INVITE itself, kept until a final response to build the ACK
    /// from (§17.1.1.3), then dropped.
    request: Option<Request>,
    /// Its CSeq number, which the ACK repeats.
    cseq: u32,
    /// The ACK sent for the non-2xx final response, re-sent for each
    /// retransmission of that response.
    ack: Option<Bytes>,
    reliable: bool,
    /// Timer A (INVITE retransmission), unreliable transports only.
    a: Option<Retransmit>,
    /// Timer B (transaction timeout in Calling).
    b: Option<Instant>,
    /// Timer D (wait for response retransmissions in Completed).
    d: Option<Instant>,
    /// Timer M (wait for 2xx retransmissions in Accepted, RFC 6026 §7.2).
    m: Option<Instant>,
}

impl ClientInvite {
    /// Sends the INVITE and arms Timers A and B (§17.1.1.2). `cseq` is the
    /// request's CSeq number, already validated by the caller.
    pub(crate) fn start(
        request: Request,
        encoded: Bytes,
        cseq: u32,
        reliable: bool,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Self {
        out.push(Event::Transmit(encoded.clone()));
        ClientInvite {
            state: State::Calling,
            encoded,
            request: Some(request),
            cseq,
            ack: None,
            reliable,
            a: Retransmit::start(now, config.first_retransmit(reliable)),
            b: Some(deadline(now, config.timeout())),
            d: None,
            m: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest(&[self.a.map(|a| a.at), self.b, self.d, self.m])
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(
        &mut self,
        resp: Response,
        config: &Config,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        match (self.state, resp.status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                // The server is alive: stop retransmitting, and stop Timer B
                // too — from here on only the TU (CANCEL) ends the wait.
                self.state = State::Proceeding;
                self.a = None;
                self.b = None;
                out.push(Event::Response(resp));
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.enter_accepted(config, now);
                out.push(Event::Response(resp));
            }
            (State::Calling | State::Proceeding, _) => {
                let ack = self
                    .request
                    .take()
                    .map(|req| Bytes::from(build_ack(&req, &resp, self.cseq).encode()));
                if let Some(ack) = &ack {
                    out.push(Event::Transmit(ack.clone()));
                }
                self.ack = ack;
                out.push(Event::Response(resp));
                self.enter_completed(config, now, out);
            }
            // RFC 6026 §7.2: every 2xx in Accepted goes to the TU, which
            // ACKs each one (a retransmission, or another fork's answer).
            (State::Accepted, 200..=299) => out.push(Event::Response(resp)),
            // §17.1.1.2: a retransmitted final response is answered with
            // the same ACK and not passed up again.
            (State::Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    out.push(Event::Transmit(ack.clone()));
                }
            }
            _ => {}
        }
    }

    fn enter_accepted(&mut self, config: &Config, now: Instant) {
        self.state = State::Accepted;
        self.request = None;
        self.a = None;
        self.b = None;
        // Timer M is 64*T1 on every transport: 2xx retransmissions are
        // end-to-end and may cross unreliable hops beyond the first.
        self.m = Some(deadline(now, config.timeout()));
    }

    fn enter_completed(&mut self, config: &Config, now: Instant, out: &mut Vec<Event>) {
        self.state = State::Completed;
        self.a = None;
        self.b = None;
        let d = config.timer_d(self.reliable);
        if d.is_zero() {
            out.push(Event::Terminated);
        } else {
            self.d = Some(deadline(now, d));
        }
    }

    /// Fires the timers that are due, ending timers first.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Vec<Event>) {
        if due(self.b, now) {
            // Timer B: the TU treats this as a 408 (§8.1.3.1).
            self.a = None;
            self.b = None;
            out.push(Event::Timeout);
            out.push(Event::Terminated);
            return;
        }
        if due(self.d, now) || due(self.m, now) {
            self.d = None;
            self.m = None;
            out.push(Event::Terminated);
            return;
        }
        if let Some(a) = self.a.as_mut().filter(|a| a.at <= now) {
            out.push(Event::Transmit(self.encoded.clone()));
            a.rearm(now, Backoff::Double);
        }
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID,
/// From and the top Via of the INVITE (so it matches the same server
/// transaction hop by hop), To of the response (it carries the server's
/// tag), CSeq number of the INVITE with method ACK, and the INVITE's Route
/// set. Max-Forwards is added because every request carries one (§8.1.1.6);
/// no body.
pub(crate) fn build_ack(invite: &Request, resp: &Response, cseq: u32) -> Request {
    let mut headers = Headers::new();
    if let Some(via) = invite.headers.values(HeaderName::Via).next() {
        headers.push(Header::new(HeaderName::Via, via));
    }
    for route in invite.headers.all(HeaderName::Route) {
        headers.push(route.clone());
    }
    headers.push(Header::new(HeaderName::MaxForwards, "70"));
    let from = invite.headers.get(HeaderName::From);
    let to = resp.headers.get(HeaderName::To);
    let call_id = invite.headers.get(HeaderName::CallId);
    for h in [from, to, call_id].into_iter().flatten() {
        headers.push(h.clone());
    }
    headers.push(Header::new(HeaderName::CSeq, format!("{cseq} ACK")));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Bytes::new(),
    }
}
