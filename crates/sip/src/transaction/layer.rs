//! The table of live transactions and the one entry point the runtime
//! drives.
//!
//! Transactions sit in a `HashMap` by [`Key`], so matching a message is one
//! hash lookup, and each input looks its transaction up once. Armed timers
//! sit in an index ordered by `(deadline, id)` (`super::wakeups`: a FIFO
//! lane per delay, since deadlines armed with one delay arrive in order),
//! each transaction's earliest timer as a slot. Moving a timer (a NOTIFY's
//! 200 replaces Timer E at +T1 by Timer K at +T4) pushes a new slot and
//! leaves the old one in place: a slot is live only while its transaction
//! still has that id and that wake-up, so stale slots are dropped when
//! they reach the front. Arming and firing are O(1), where the
//! `BTreeMap` of the first version cost a balanced-tree insert and remove
//! and the binary heap of the second a sift through a heap larger than
//! the cache. The front is kept live after every call, so
//! [`Layer::poll_timeout`] stays exact; stale slots are bounded by the
//! timers moved in the last 64·T1, each gone by its own deadline. This is
//! what lets one core keep 100 000 transactions without scanning them.
//!
//! Driving order, for the runtime: feed every input through
//! [`Layer::handle`] (or the checked [`Layer::send_request`] /
//! [`Layer::send_response`]), carry out the returned outputs in order, and
//! whenever the clock passes [`Layer::poll_timeout`] call
//! [`Layer::handle_timeout`]. Recompute the next wake-up after every call,
//! since any call may arm or disarm timers.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use bytes::Bytes;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::server_invite::{AckFate, ServerInvite};
use super::server_non_invite::ServerNonInvite;
use super::wakeups::{Slot, Wakeups};
use super::{Config, Event, Input, Key, Output, Role, State, TransactionError};
use crate::hash;
use crate::message::{HeaderAccess, Message, Request, Response};
use crate::method::Method;

/// All transactions of one SIP endpoint, generic over the peer identity `A`
/// (a socket address, or a flow handle that also names the connection).
///
/// Sans-IO: it never reads a clock or touches a socket. See the module
/// documentation for how to drive it.
#[derive(Debug)]
pub struct Layer<A> {
    config: Config,
    /// Boxed: the machines are large, and the table's spare capacity
    /// (up to half of it after a resize) would otherwise hold that much
    /// per empty slot.
    transactions: Table<A>,
    /// Each armed transaction's earliest timer, plus stale slots of moved
    /// or ended ones (see the module documentation); the top is live.
    timers: Wakeups,
    /// Source of the unique ids that keep equal deadlines apart.
    next_id: u64,
}

#[derive(Debug)]
///
/// The entry does not repeat its key: outputs and the timer index clone
/// the map's own copy ([`Layer::stored_key`]), which keeps an entry of a
/// server transaction over a presenced flow at 208 bytes. That matters
/// beyond the bytes: over UDP every SUBSCRIBE leaves one behind for 32 s,
/// and had it the size class of a subscription (320), the two would
/// share allocator pages that could not be returned once the
/// transactions end.
struct Entry<A> {
    /// Tie-breaker in the timer index, unique for the layer's lifetime.
    id: u64,
    /// Where requests (client) or responses (server) go.
    peer: A,
    machine: Machine,
    /// This transaction's slot in the timer index, if any.
    wake: Option<Instant>,
}

/// The transaction table: hashbrown's map for `get_key_value_mut`, which
/// gives an input its transaction and the map's copy of the key in one
/// lookup (the standard map needs two).
type Table<A> = hashbrown::HashMap<Key, Box<Entry<A>>, hash::State>;

impl Slot {
    fn is_live<A>(&self, tx: &Entry<A>) -> bool {
        tx.id == self.id && tx.wake == Some(self.at)
    }
}

#[derive(Debug)]
/// The INVITE machines are boxed: they hold whole messages (for CANCEL,
/// ACK and retransmission), which would make every entry as large as they
/// are, and a presence server's transactions are nearly all non-INVITE.
enum Machine {
    InviteClient(Box<ClientInvite>),
    NonInviteClient(ClientNonInvite),
    InviteServer(Box<ServerInvite>),
    NonInviteServer(ServerNonInvite),
}

impl Machine {
    fn state(&self) -> State {
        match self {
            Machine::InviteClient(m) => m.state(),
            Machine::NonInviteClient(m) => m.state(),
            Machine::InviteServer(m) => m.state(),
            Machine::NonInviteServer(m) => m.state(),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self {
            Machine::InviteClient(m) => m.next_deadline(),
            Machine::NonInviteClient(m) => m.next_deadline(),
            Machine::InviteServer(m) => m.next_deadline(),
            Machine::NonInviteServer(m) => m.next_deadline(),
        }
    }

    fn on_timeout(&mut self, config: &Config, now: Instant, out: &mut Vec<Event>) {
        match self {
            Machine::InviteClient(m) => m.on_timeout(now, out),
            Machine::NonInviteClient(m) => m.on_timeout(config, now, out),
            Machine::InviteServer(m) => m.on_timeout(config, now, out),
            Machine::NonInviteServer(m) => m.on_timeout(now, out),
        }
    }
}

impl<A: Clone + Eq + Hash + Debug> Layer<A> {
    /// An empty layer with these timer values.
    pub fn new(config: Config) -> Self {
        Layer {
            config,
            transactions: Table::with_hasher(hash::State::default()),
            timers: Wakeups::default(),
            next_id: 0,
        }
    }

    /// Feeds one input; returns what to do, in order. Never fails: inputs
    /// that name no transaction come back as [`Output::Stray`] (received
    /// messages) or produce nothing (TU inputs; use the `send_*` methods to
    /// learn why).
    pub fn handle(&mut self, input: Input<A>, now: Instant) -> Vec<Output<A>> {
        let out = self.dispatch(input, now);
        self.settle();
        out
    }

    fn dispatch(&mut self, input: Input<A>, now: Instant) -> Vec<Output<A>> {
        match input {
            Input::Received {
                msg: Message::Request(req),
                from,
                reliable,
            } => self.received_request(req, from, reliable, now),
            Input::Received {
                msg: Message::Response(resp),
                from,
                ..
            } => self.received_response(resp, from, now),
            Input::SendRequest { req, to, .. } if req.method == Method::Ack => {
                // The TU's ACK for a 2xx is not a transaction (§13.2.2.4,
                // §17.1.1.3): it only goes on the wire.
                vec![Output::Transmit {
                    to,
                    bytes: Bytes::from(req.encode()),
                }]
            }
            Input::SendRequest { req, to, reliable } => self
                .send_request(req, to, reliable, now)
                .map(|(_, out)| out)
                .unwrap_or_default(),
            Input::SendResponse { key, resp } => {
                self.send_response(key, resp, now).unwrap_or_default()
            }
        }
    }

    /// Fires every timer due at `now`, earliest first (ties in the order
    /// they were armed, or of the transactions' age when armed with
    /// different delays). Each due transaction fires once per
    /// call, so no timer arithmetic can trap the caller in a loop; a timer
    /// that came due again meanwhile shows in [`Layer::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output<A>> {
        let mut due = Vec::new();
        while self.timers.peek().is_some_and(|top| top.at <= now) {
            let Some(slot) = self.timers.pop() else {
                break;
            };
            // A stale slot (moved or ended) fires nothing; a live one is
            // disarmed as it is taken, so its twin (if the timer went back
            // to the same instant) is stale from here on.
            if let Some(tx) = self.transactions.get_mut(&slot.key) {
                if slot.is_live(tx) {
                    tx.wake = None;
                    due.push(slot.key);
                }
            }
        }
        let mut out = Vec::new();
        for key in due {
            self.drive(&key, &mut out, now, |machine, config, events| {
                machine.on_timeout(config, now, events)
            });
        }
        self.settle();
        out
    }

    /// The earliest instant at which [`Layer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|top| top.at)
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// Starts a client transaction, returning its key (to correlate the
    /// [`Output::Response`]s) and the outputs (the first transmission).
    ///
    /// The request must carry a top Via with an RFC 3261 branch and a CSeq
    /// naming its method; the layer adds nothing to it. ACK is refused:
    /// send the ACK for a 2xx through [`Input::SendRequest`], which only
    /// transmits it.
    pub fn send_request(
        &mut self,
        req: Request,
        to: A,
        reliable: bool,
        now: Instant,
    ) -> Result<(Key, Vec<Output<A>>), TransactionError> {
        if req.method == Method::Ack {
            return Err(TransactionError::Ack);
        }
        let key = Key::for_client_request(&req)?;
        if self.transactions.contains_key(&key) {
            return Err(TransactionError::Duplicate(key));
        }
        let cseq = req.cseq()?.seq;
        let encoded = Bytes::from(req.encode());
        let mut events = Vec::new();
        let machine = if req.method == Method::Invite {
            Machine::InviteClient(Box::new(ClientInvite::start(
                req,
                encoded,
                cseq,
                reliable,
                &self.config,
                now,
                &mut events,
            )))
        } else {
            Machine::NonInviteClient(ClientNonInvite::start(
                encoded,
                reliable,
                &self.config,
                now,
                &mut events,
            ))
        };
        let mut out = Vec::with_capacity(events.len());
        // A new transaction only adds a live slot: nothing to settle.
        self.insert(key.clone(), to, machine, events, &mut out, now);
        Ok((key, out))
    }

    /// Starts a non-INVITE client transaction for a request the TU has
    /// encoded itself, with a top Via whose branch is `branch` (the
    /// per-NOTIFY hot path of a notifier: no `Request` is built, parsed
    /// for its key or encoded again). The layer trusts the bytes; INVITE
    /// and ACK are refused, since their machines need the request itself
    /// (CANCEL and ACK are built from it).
    pub fn send_encoded_request(
        &mut self,
        method: &Method,
        branch: &str,
        encoded: Bytes,
        to: A,
        reliable: bool,
        now: Instant,
    ) -> Result<(Key, Vec<Output<A>>), TransactionError> {
        match method {
            Method::Ack => return Err(TransactionError::Ack),
            Method::Invite => return Err(TransactionError::InviteNeedsRequest),
            _ => {}
        }
        let key = Key::for_client(method, branch)?;
        if self.transactions.contains_key(&key) {
            return Err(TransactionError::Duplicate(key));
        }
        let mut events = Vec::new();
        let machine = Machine::NonInviteClient(ClientNonInvite::start(
            encoded,
            reliable,
            &self.config,
            now,
            &mut events,
        ));
        let mut out = Vec::with_capacity(events.len());
        // A new transaction only adds a live slot: nothing to settle.
        self.insert(key.clone(), to, machine, events, &mut out, now);
        Ok((key, out))
    }

    /// The TU answers server transaction `key`. A response the state no
    /// longer allows (a second final response, a provisional after the
    /// final) is discarded, which is `Ok` with no outputs (§17.2.1,
    /// §17.2.2).
    pub fn send_response(
        &mut self,
        key: Key,
        resp: Response,
        now: Instant,
    ) -> Result<Vec<Output<A>>, TransactionError> {
        if !(100..=699).contains(&resp.status) {
            return Err(TransactionError::InvalidStatus(resp.status));
        }
        let Some((stored, tx)) = self.transactions.get_key_value_mut(&key) else {
            return Err(TransactionError::UnknownTransaction(key));
        };
        let mut events = Vec::new();
        match &mut tx.machine {
            Machine::InviteServer(m) => {
                let encoded = Bytes::from(resp.encode());
                m.on_tu_response(&resp, encoded, &self.config, now, &mut events)
            }
            Machine::NonInviteServer(m) => {
                let encoded = Bytes::from(resp.encode());
                m.on_tu_response(resp.status, encoded, &self.config, now, &mut events)
            }
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                return Err(TransactionError::UnknownTransaction(key));
            }
        }
        let mut out = Vec::new();
        if Self::advance(&mut self.timers, stored, tx, events, &mut out, now) {
            self.forget(&key);
        }
        self.settle();
        Ok(out)
    }

    /// The runtime could not send a message of transaction `key`.
    ///
    /// A client transaction reports [`Output::TransportError`] and ends
    /// (§17.1.4): the request never left, so the TU should treat it as a
    /// failure (503, §8.1.3.1). A server transaction reports it and stays
    /// in its state (RFC 6026 §8.8, amending §17.2.4): it must go on
    /// absorbing the client's retransmissions, or a retransmitted request
    /// would be processed twice; a 2xx in Accepted may still get through
    /// on the TU's next retransmission (RFC 6026 §7.1). Its own timers end
    /// it. Unknown keys yield nothing. `now` is when the failure was seen,
    /// as for every other input.
    pub fn transport_error(&mut self, key: Key, now: Instant) -> Vec<Output<A>> {
        let Some(stored) = self.stored_key(&key) else {
            return Vec::new();
        };
        let mut out = vec![Output::TransportError { key: stored }];
        if key.role() == Role::Client {
            self.apply(&key, vec![Event::Terminated], &mut out, now);
        }
        self.settle();
        out
    }

    /// The connection to `peer` has closed: every client transaction
    /// waiting on it fails now with a transport error (RFC 3261 §17.1.4)
    /// instead of waiting for Timer F, since nothing can arrive on a closed
    /// stream. Server transactions are left to their timers, as with
    /// [`Layer::transport_error`].
    pub fn peer_closed(&mut self, peer: &A, now: Instant) -> Vec<Output<A>> {
        let keys: Vec<Key> = self
            .transactions
            .iter()
            .filter(|(key, tx)| key.role() == Role::Client && tx.peer == *peer)
            .map(|(key, _)| key.clone())
            .collect();
        let mut out = Vec::new();
        for key in keys {
            out.extend(self.transport_error(key, now));
        }
        out
    }

    /// The INVITE server transaction a CANCEL names (§9.2: the same
    /// matching as §17.2.3 except for the method), for the TU to answer it
    /// with 487 after answering the CANCEL itself with 200. `None` means
    /// the TU answers the CANCEL with 481.
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<Key> {
        if cancel.method != Method::Cancel {
            return None;
        }
        let key = Key::for_server_request(cancel)
            .ok()?
            .with_method(Method::Invite);
        match self.transactions.get(&key)?.machine {
            Machine::InviteServer(_) => Some(key),
            _ => None,
        }
    }

    /// The state of a live transaction.
    pub fn state(&self, key: &Key) -> Option<State> {
        self.transactions.get(key).map(|tx| tx.machine.state())
    }

    /// The peer of a live transaction: where its messages go.
    pub fn peer(&self, key: &Key) -> Option<&A> {
        self.transactions.get(key).map(|tx| &tx.peer)
    }

    fn received_request(
        &mut self,
        req: Request,
        from: A,
        reliable: bool,
        now: Instant,
    ) -> Vec<Output<A>> {
        let Ok(key) = Key::for_server_request(&req) else {
            return vec![Output::Stray {
                msg: Message::Request(req),
                from,
            }];
        };
        if req.method == Method::Ack {
            return self.received_ack(req, key, from, now);
        }
        let mut out = Vec::new();
        // A retransmission (§17.2.3): the machine decides what to resend.
        let retransmission = self.drive(&key, &mut out, now, |machine, _, events| match machine {
            Machine::InviteServer(m) => m.on_request(events),
            Machine::NonInviteServer(m) => m.on_request(events),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
        });
        if retransmission {
            return out;
        }
        let machine = if req.method == Method::Invite {
            Machine::InviteServer(Box::new(ServerInvite::new(
                &req,
                reliable,
                &self.config,
                now,
            )))
        } else {
            Machine::NonInviteServer(ServerNonInvite::new(reliable))
        };
        self.insert(
            key.clone(),
            from.clone(),
            machine,
            Vec::new(),
            &mut out,
            now,
        );
        out.push(Output::Request { key, req, from });
        out
    }

    /// An ACK belongs to the INVITE server transaction it matches, or to
    /// the TU as a stray (the ACK for a 2xx, §17.2.3, or a late one).
    fn received_ack(&mut self, ack: Request, key: Key, from: A, now: Instant) -> Vec<Output<A>> {
        let Some(key) = self.ack_target(key) else {
            return vec![Output::Stray {
                msg: Message::Request(ack),
                from,
            }];
        };
        let mut out = Vec::new();
        let mut events = Vec::new();
        let stored = self.stored_key(&key);
        if let (Some(tx), Some(stored)) = (self.transactions.get_mut(&key), stored) {
            if let Machine::InviteServer(m) = &mut tx.machine {
                if m.on_ack(&self.config, now, &mut events) == AckFate::ToTu {
                    out.push(Output::Request {
                        key: stored,
                        req: ack,
                        from,
                    });
                }
            }
        }
        self.apply(&key, events, &mut out, now);
        out
    }

    /// The INVITE server transaction an ACK's key designates. RFC 2543
    /// ACKs carry the To tag of our response while the INVITE usually had
    /// none, so they are also tried against the untagged key, provided the
    /// tag is the one our final response carried (§17.2.3).
    fn ack_target(&self, key: Key) -> Option<Key> {
        if let Some(tx) = self.transactions.get(&key) {
            return matches!(tx.machine, Machine::InviteServer(_)).then_some(key);
        }
        let (untagged, tag) = key.untagged_invite()?;
        match &self.transactions.get(&untagged)?.machine {
            Machine::InviteServer(m) if m.final_to_tag() == Some(&tag) => Some(untagged),
            _ => None,
        }
    }

    fn received_response(&mut self, resp: Response, from: A, now: Instant) -> Vec<Output<A>> {
        let found = match Key::for_response(&resp) {
            Ok(key) => self.transactions.get_key_value_mut(&key),
            Err(_) => None,
        };
        let Some((stored, tx)) = found else {
            return vec![Output::Stray {
                msg: Message::Response(resp),
                from,
            }];
        };
        let mut events = Vec::new();
        match &mut tx.machine {
            Machine::InviteClient(m) => m.on_response(resp, &self.config, now, &mut events),
            Machine::NonInviteClient(m) => m.on_response(resp, &self.config, now, &mut events),
            Machine::InviteServer(_) | Machine::NonInviteServer(_) => {}
        }
        let mut out = Vec::with_capacity(events.len());
        if Self::advance(&mut self.timers, stored, tx, events, &mut out, now) {
            let stored = stored.clone();
            self.forget(&stored);
        }
        out
    }

    /// Adds a transaction and carries out the events of its start.
    fn insert(
        &mut self,
        key: Key,
        peer: A,
        machine: Machine,
        events: Vec<Event>,
        out: &mut Vec<Output<A>>,
        now: Instant,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let entry = self.transactions.entry(key).insert(Box::new(Entry {
            id,
            peer,
            machine,
            wake: None,
        }));
        let (stored, tx) = (entry.key().clone(), entry.into_mut());
        if Self::advance(&mut self.timers, &stored, tx, events, out, now) {
            self.forget(&stored);
        }
    }

    /// Looks transaction `key` up once, lets `step` feed its machine, and
    /// carries out the events. False when there is no such transaction.
    fn drive(
        &mut self,
        key: &Key,
        out: &mut Vec<Output<A>>,
        now: Instant,
        step: impl FnOnce(&mut Machine, &Config, &mut Vec<Event>),
    ) -> bool {
        let Some((stored, tx)) = self.transactions.get_key_value_mut(key) else {
            return false;
        };
        let mut events = Vec::new();
        step(&mut tx.machine, &self.config, &mut events);
        if Self::advance(&mut self.timers, stored, tx, events, out, now) {
            self.forget(key);
        }
        true
    }

    /// Carries out events for a transaction found by other means.
    fn apply(&mut self, key: &Key, events: Vec<Event>, out: &mut Vec<Output<A>>, now: Instant) {
        self.drive(key, out, now, |_, _, all| *all = events);
    }

    /// Turns a machine's events into outputs and, unless it ended, puts
    /// its earliest timer into the heap. True when the transaction ended:
    /// the caller then forgets it (its slots go stale by themselves).
    /// Takes the fields rather than `self`, so that callers can hold the
    /// entry they looked up once.
    fn advance(
        timers: &mut Wakeups,
        stored: &Key,
        tx: &mut Entry<A>,
        events: Vec<Event>,
        out: &mut Vec<Output<A>>,
        now: Instant,
    ) -> bool {
        let mut terminated = false;
        for event in events {
            out.push(match event {
                Event::Transmit(bytes) => Output::Transmit {
                    to: tx.peer.clone(),
                    bytes,
                },
                Event::Response(resp) => Output::Response {
                    key: stored.clone(),
                    resp,
                },
                Event::Timeout => Output::Timeout {
                    key: stored.clone(),
                },
                Event::Terminated => {
                    terminated = true;
                    Output::Terminated {
                        key: stored.clone(),
                    }
                }
            });
        }
        if terminated {
            if let Some(at) = tx.wake {
                timers.disarmed(at, tx.id);
            }
            return true;
        }
        let next = tx.machine.next_deadline();
        if next != tx.wake {
            if let Some(at) = tx.wake {
                timers.disarmed(at, tx.id);
            }
            tx.wake = next;
            if let Some(at) = next {
                // The key is cloned only when a slot is taken.
                timers.push(
                    Slot {
                        at,
                        id: tx.id,
                        key: stored.clone(),
                    },
                    now,
                );
            }
        }
        false
    }

    /// Removes an ended transaction.
    fn forget(&mut self, key: &Key) {
        self.transactions.remove(key);
        self.shrink_after_burst();
    }

    /// Drops stale slots from the top of the heap, so that
    /// [`Layer::poll_timeout`] names a timer that will fire. Every public
    /// call that can move or end a timer ends with this (starting a
    /// transaction only adds a live slot, so those calls skip it).
    fn settle(&mut self) {
        while self.timers.is_unsure() {
            let Some(top) = self.timers.peek() else {
                self.timers.settled();
                break;
            };
            match self.transactions.get(&top.key) {
                Some(tx) if top.is_live(tx) => self.timers.settled(),
                _ => {
                    self.timers.pop();
                }
            }
        }
        self.shrink_timers_after_burst();
    }

    /// Gives back the table's spare room once a burst has drained: a hash
    /// table never shrinks by itself, so after a login storm it would keep
    /// the capacity of its peak (over UDP, every SUBSCRIBE's transaction
    /// lives 32 s) for the life of the process.
    fn shrink_after_burst(&mut self) {
        let (len, capacity) = (self.transactions.len(), self.transactions.capacity());
        if capacity > 1024 && len < capacity / 8 {
            self.transactions.shrink_to(len * 2);
        }
    }

    /// The heap's counterpart of [`Layer::shrink_after_burst`].
    fn shrink_timers_after_burst(&mut self) {
        self.timers.shrink_after_burst();
    }

    /// The map's copy of a key equal to `key`: outputs and the timer index
    /// hold that one rather than a key computed from an incoming message,
    /// so they share the stored bytes.
    fn stored_key(&self, key: &Key) -> Option<Key> {
        self.transactions.get_key_value(key).map(|(k, _)| k.clone())
    }
}

impl<A: Clone + Eq + Hash + Debug> Default for Layer<A> {
    fn default() -> Self {
        Layer::new(Config::default())
    }
}

#[cfg(test)]
impl<A: Clone + Eq + Hash + Debug> Layer<A> {
    /// The earliest deadline of any live transaction, found by scanning
    /// them all: the oracle the heap's top is checked against.
    pub(crate) fn earliest_by_scan(&self) -> Option<Instant> {
        self.transactions
            .values()
            .filter_map(|tx| tx.machine.next_deadline())
            .min()
    }

    /// Slots in the heap, stale ones included.
    pub(crate) fn slots(&self) -> usize {
        self.timers.len()
    }
}

#[cfg(test)]
mod footprint {
    /// See [`Entry`]: with a peer the size of presenced's flow (80 bytes)
    /// an entry must stay below the subscription's 320-byte size class.
    #[test]
    fn an_entry_with_an_80_byte_peer_stays_in_a_smaller_size_class() {
        let size = std::mem::size_of::<super::Entry<[u64; 10]>>();
        assert!(size <= 256, "Entry is {size} bytes");
    }
}
