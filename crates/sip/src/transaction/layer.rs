//! The table of live transactions and the one entry point the runtime
//! drives.
//!
//! Transactions live in a slab (`slab::Slab`): each keeps one index for
//! its lifetime, and its entry holds its key, the key's hash, its peer and
//! its machine inline. A `hashbrown::HashTable` of those indices finds a
//! transaction by [`Key`] (one hash, one probe of 8-byte buckets; the key
//! is compared in the entry the probe lands on), and everything else
//! reaches the entry by its index without hashing: a timer slot names the
//! index, so firing a timer or dropping a stale slot is an array access,
//! and ending a transaction finds its bucket by the stored hash and index
//! without comparing keys. The key leaves with the ended entry, as the
//! [`Output::Terminated`] that reports it, instead of being cloned. In a
//! 10 000-watcher fan-out every NOTIFY's transaction was hashed and
//! probed seven times (start, its 200, the stale Timer E slot, Timer K's
//! slot, the firing, the removal) and its key cloned into two timer slots
//! and three outputs; now it is hashed at its start and at its 200.
//!
//! Armed timers sit in an index ordered by `(deadline, id)` (`super::wakeups`: a FIFO
//! lane per delay, since deadlines armed with one delay arrive in order),
//! each transaction's earliest timer as a slot. Moving a timer (a NOTIFY's
//! 200 replaces Timer E at +T1 by Timer K at +T4) pushes a new slot and
//! leaves the old one in place: a slot is live only while the entry at its
//! index still has that id and that wake-up, so stale slots are dropped
//! when they reach the front. Arming and firing are O(1), where the
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
use std::hash::{BuildHasher, Hash};
use std::time::Instant;

use bytes::Bytes;
use hashbrown::HashTable;
use slab::Slab;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::completed::Completed;
use super::server_invite::{AckFate, ServerInvite};
use super::server_non_invite::ServerNonInvite;
use super::wakeups::{Slot, Wakeups};
use super::{Config, Event, Input, Key, Output, Role, State, TransactionError};
use crate::burst;
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
    /// The transactions, each at one index for its lifetime.
    entries: Slab<Entry<A>>,
    /// Key → index: the indices of `entries`, placed by their keys' hash.
    index: HashTable<usize>,
    /// The index's hasher (seeded per process, see [`crate::hash`]).
    hasher: hash::State,
    /// Each armed transaction's earliest timer, plus stale slots of moved
    /// or ended ones (see the module documentation); the top is live.
    timers: Wakeups,
    /// Source of the unique ids that keep equal deadlines apart and tell a
    /// slot's transaction from a later one at the same index.
    next_id: u64,
    /// The machines' events, one call at a time: kept to save an
    /// allocation per input.
    events: Vec<Event>,
    /// The transactions a [`Layer::handle_timeout`] call fires, kept for
    /// the same reason.
    due: Vec<(usize, u64)>,
    /// Client non-INVITE transactions in Completed, waiting for Timer K:
    /// out of the slab, as their keys only (see `super::completed`).
    completed: Completed,
}

/// One transaction. Held inline in the slab: the machines of the common
/// (non-INVITE) case are small, the INVITE machines are boxed.
#[derive(Debug)]
struct Entry<A> {
    /// The transaction's key; outputs clone it, and the ending moves it
    /// into [`Output::Terminated`].
    key: Key,
    /// `key`'s hash in the index, so that resizing the index and removing
    /// the entry need not hash it again.
    hash: u64,
    /// Unique for the layer's lifetime: ties in the timer index, and what
    /// tells a stale slot from a live one once the index is reused.
    id: u64,
    /// Where requests (client) or responses (server) go.
    peer: A,
    machine: Machine,
    /// This transaction's slot in the timer index, if any.
    wake: Option<Instant>,
}

/// What became of a transaction after its machine ran (see
/// [`Layer::advance`]).
enum Fate {
    /// It goes on, with its earliest timer in the index.
    Live,
    /// It ended; its [`Output::Terminated`] goes at this place in the
    /// outputs.
    Ended(usize),
    /// A client non-INVITE transaction in Completed: from now on it only
    /// absorbs retransmitted final responses, until this Timer K.
    Absorbing(Instant),
}

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
            entries: Slab::new(),
            index: HashTable::new(),
            hasher: hash::State::default(),
            timers: Wakeups::default(),
            next_id: 0,
            events: Vec::new(),
            due: Vec::new(),
            completed: Completed::default(),
        }
    }

    /// Feeds one input; returns what to do, in order. Never fails: inputs
    /// that name no transaction come back as [`Output::Stray`] (received
    /// messages) or produce nothing (TU inputs; use the `send_*` methods to
    /// learn why).
    pub fn handle(&mut self, input: Input<A>, now: Instant) -> Vec<Output<A>> {
        let mut out = Vec::new();
        self.handle_into(input, now, &mut out);
        out
    }

    /// [`Layer::handle`], appending the outputs to `out`: a runtime that
    /// keeps one vector for them saves an allocation per input (every 200
    /// to a fan-out's NOTIFYs is one).
    pub fn handle_into(&mut self, input: Input<A>, now: Instant, out: &mut Vec<Output<A>>) {
        self.dispatch(input, now, out);
        self.settle(now);
    }

    fn dispatch(&mut self, input: Input<A>, now: Instant, out: &mut Vec<Output<A>>) {
        let more = match input {
            Input::Received {
                msg: Message::Request(req),
                from,
                reliable,
            } => self.received_request(req, from, reliable, now),
            Input::Received {
                msg: Message::Response(resp),
                from,
                ..
            } => return self.received_response(resp, from, now, out),
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
        };
        out.extend(more);
    }

    /// Fires every timer due at `now`, earliest first (ties in the order
    /// they were armed, or of the transactions' age when armed with
    /// different delays). Each due transaction fires once per
    /// call, so no timer arithmetic can trap the caller in a loop; a timer
    /// that came due again meanwhile shows in [`Layer::poll_timeout`]. The
    /// ends of completed client non-INVITE transactions (their Timer K,
    /// kept apart in `super::completed`) come last, oldest first.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output<A>> {
        let mut due = std::mem::take(&mut self.due);
        while self.timers.peek().is_some_and(|top| top.at <= now) {
            let Some(slot) = self.timers.pop() else {
                break;
            };
            // A stale slot (moved or ended) fires nothing; a live one is
            // disarmed as it is taken, so its twin (if the timer went back
            // to the same instant) is stale from here on.
            if let Some(tx) = self.entries.get_mut(slot.entry) {
                if slot.is_live(tx) {
                    tx.wake = None;
                    due.push((slot.entry, slot.id));
                }
            }
        }
        // Most fire one output (a retransmission, Timer K's end): one
        // allocation, where growing by doubling copied a burst's outputs
        // about twice.
        let mut out = Vec::with_capacity(due.len() + self.completed.due(now));
        for (at, id) in due.drain(..) {
            // Only timers end transactions here, each its own, so the
            // entry is still there; the id check costs nothing.
            if self.entries.get(at).is_some_and(|tx| tx.id == id) {
                self.drive(at, &mut out, now, |machine, config, events| {
                    machine.on_timeout(config, now, events)
                });
            }
        }
        self.due = due;
        while let Some(key) = self.completed.pop_due(now) {
            out.push(Output::Terminated { key });
        }
        self.settle(now);
        out
    }

    /// The earliest instant at which [`Layer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|top| top.at);
        match (timer, self.completed.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of live transactions, the completed ones waiting for Timer
    /// K included.
    pub fn len(&self) -> usize {
        self.entries.len() + self.completed.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.completed.is_empty()
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
        let (hash, found) = self.find_hashed(&key);
        if found.is_some() || self.completed.contains(&key, hash) {
            return Err(TransactionError::Duplicate(key));
        }
        let cseq = req.cseq()?.seq;
        let encoded = Bytes::from(req.encode());
        let mut events = std::mem::take(&mut self.events);
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
        self.insert(hash, key.clone(), to, machine, &mut events, &mut out, now);
        self.events = events;
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
        let mut out = Vec::with_capacity(1);
        let key =
            self.send_encoded_request_into(method, branch, encoded, (to, reliable), now, &mut out)?;
        Ok((key, out))
    }

    /// [`Layer::send_encoded_request`], appending the outputs (the first
    /// transmission) to `out`: a notifier that keeps one vector for them
    /// saves an allocation per NOTIFY. `to` is the peer and whether its
    /// transport is reliable.
    pub fn send_encoded_request_into(
        &mut self,
        method: &Method,
        branch: &str,
        encoded: Bytes,
        (to, reliable): (A, bool),
        now: Instant,
        out: &mut Vec<Output<A>>,
    ) -> Result<Key, TransactionError> {
        match method {
            Method::Ack => return Err(TransactionError::Ack),
            Method::Invite => return Err(TransactionError::InviteNeedsRequest),
            _ => {}
        }
        let key = Key::for_client(method, branch)?;
        // Only live transactions are searched, not the completed ones
        // waiting for Timer K: a branch is unique to its request (§8.1.1.7;
        // the notifier numbers its NOTIFYs), and the probe into a table of
        // a fan-out's recent NOTIFYs cost one cache miss per NOTIFY. A
        // reused branch would only absorb a stray response a little
        // longer.
        let (hash, found) = self.find_hashed(&key);
        if found.is_some() {
            return Err(TransactionError::Duplicate(key));
        }
        let mut events = std::mem::take(&mut self.events);
        let machine = Machine::NonInviteClient(ClientNonInvite::start(
            encoded,
            reliable,
            &self.config,
            now,
            &mut events,
        ));
        // A new transaction only adds a live slot: nothing to settle.
        self.insert(hash, key.clone(), to, machine, &mut events, out, now);
        self.events = events;
        Ok(key)
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
        let Some(at) = self.find(&key) else {
            return Err(TransactionError::UnknownTransaction(key));
        };
        if matches!(
            self.entries[at].machine,
            Machine::InviteClient(_) | Machine::NonInviteClient(_)
        ) {
            return Err(TransactionError::UnknownTransaction(key));
        }
        let mut out = Vec::new();
        self.drive(at, &mut out, now, |machine, config, events| match machine {
            Machine::InviteServer(m) => {
                let encoded = Bytes::from(resp.encode());
                m.on_tu_response(&resp, encoded, config, now, events)
            }
            Machine::NonInviteServer(m) => {
                let encoded = Bytes::from(resp.encode());
                m.on_tu_response(resp.status, encoded, config, now, events)
            }
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
        });
        self.settle(now);
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
        let mut out = Vec::new();
        if let Some(at) = self.find(&key) {
            self.transport_error_at(at, &mut out, now);
        }
        self.settle(now);
        out
    }

    fn transport_error_at(&mut self, at: usize, out: &mut Vec<Output<A>>, now: Instant) {
        let key = &self.entries[at].key;
        let client = key.role() == Role::Client;
        out.push(Output::TransportError { key: key.clone() });
        if client {
            self.drive(at, out, now, |_, _, events| events.push(Event::Terminated));
        }
    }

    /// The connection to `peer` has closed: every client transaction
    /// waiting on it fails now with a transport error (RFC 3261 §17.1.4)
    /// instead of waiting for Timer F, since nothing can arrive on a closed
    /// stream. Server transactions are left to their timers, as with
    /// [`Layer::transport_error`].
    pub fn peer_closed(&mut self, peer: &A, now: Instant) -> Vec<Output<A>> {
        let failing: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, tx)| tx.key.role() == Role::Client && tx.peer == *peer)
            .map(|(at, _)| at)
            .collect();
        let mut out = Vec::new();
        for at in failing {
            self.transport_error_at(at, &mut out, now);
        }
        self.settle(now);
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
        match self.entries[self.find(&key)?].machine {
            Machine::InviteServer(_) => Some(key),
            _ => None,
        }
    }

    /// The state of a live transaction.
    pub fn state(&self, key: &Key) -> Option<State> {
        let (hash, found) = self.find_hashed(key);
        match found {
            Some(at) => Some(self.entries[at].machine.state()),
            None => self
                .completed
                .contains(key, hash)
                .then_some(State::Completed),
        }
    }

    /// The peer of a live transaction: where its messages go. A client
    /// non-INVITE transaction in Completed sends nothing more, and has
    /// none.
    pub fn peer(&self, key: &Key) -> Option<&A> {
        self.find(key).map(|at| &self.entries[at].peer)
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
                msg: Box::new(Message::Request(req)),
                from,
            }];
        };
        if req.method == Method::Ack {
            return self.received_ack(req, key, from, now);
        }
        let mut out = Vec::new();
        let (hash, found) = self.find_hashed(&key);
        if let Some(at) = found {
            // A retransmission (§17.2.3): the machine decides what to resend.
            self.drive(at, &mut out, now, |machine, _, events| match machine {
                Machine::InviteServer(m) => m.on_request(events),
                Machine::NonInviteServer(m) => m.on_request(events),
                Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
            });
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
        let mut events = std::mem::take(&mut self.events);
        self.insert(
            hash,
            key.clone(),
            from.clone(),
            machine,
            &mut events,
            &mut out,
            now,
        );
        self.events = events;
        out.push(Output::Request {
            key,
            req: Box::new(req),
            from,
        });
        out
    }

    /// An ACK belongs to the INVITE server transaction it matches, or to
    /// the TU as a stray (the ACK for a 2xx, §17.2.3, or a late one).
    fn received_ack(&mut self, ack: Request, key: Key, from: A, now: Instant) -> Vec<Output<A>> {
        let Some(at) = self.ack_target(&key) else {
            return vec![Output::Stray {
                msg: Box::new(Message::Request(ack)),
                from,
            }];
        };
        let mut out = Vec::new();
        let mut events = std::mem::take(&mut self.events);
        let tx = &mut self.entries[at];
        if let Machine::InviteServer(m) = &mut tx.machine {
            if m.on_ack(&self.config, now, &mut events) == AckFate::ToTu {
                out.push(Output::Request {
                    key: tx.key.clone(),
                    req: Box::new(ack),
                    from,
                });
            }
        }
        let fate = Self::advance(&mut self.timers, at, tx, &mut events, &mut out, now);
        self.events = events;
        self.finish(at, fate, &mut out);
        out
    }

    /// The INVITE server transaction an ACK's key designates. RFC 2543
    /// ACKs carry the To tag of our response while the INVITE usually had
    /// none, so they are also tried against the untagged key, provided the
    /// tag is the one our final response carried (§17.2.3).
    fn ack_target(&self, key: &Key) -> Option<usize> {
        if let Some(at) = self.find(key) {
            return matches!(self.entries[at].machine, Machine::InviteServer(_)).then_some(at);
        }
        let (untagged, tag) = key.untagged_invite()?;
        let at = self.find(&untagged)?;
        match &self.entries[at].machine {
            Machine::InviteServer(m) if m.final_to_tag() == Some(&tag) => Some(at),
            _ => None,
        }
    }

    fn received_response(
        &mut self,
        resp: Response,
        from: A,
        now: Instant,
        out: &mut Vec<Output<A>>,
    ) {
        let found = match Key::for_response(&resp) {
            Ok(key) => match self.find_hashed(&key) {
                (_, Some(at)) => Some(at),
                // A retransmitted final response, absorbed in Completed
                // (§17.1.2.2).
                (hash, None) if self.completed.contains(&key, hash) => return,
                (_, None) => None,
            },
            Err(_) => None,
        };
        let Some(at) = found else {
            out.push(Output::Stray {
                msg: Box::new(Message::Response(resp)),
                from,
            });
            return;
        };
        self.drive(at, out, now, |machine, config, events| match machine {
            Machine::InviteClient(m) => m.on_response(resp, config, now, events),
            Machine::NonInviteClient(m) => m.on_response(resp, config, now, events),
            Machine::InviteServer(_) | Machine::NonInviteServer(_) => {}
        });
    }

    /// The index of the transaction with this key.
    fn find(&self, key: &Key) -> Option<usize> {
        self.find_hashed(key).1
    }

    /// `key`'s hash in the index, and the index of its transaction.
    fn find_hashed(&self, key: &Key) -> (u64, Option<usize>) {
        let hash = self.hasher.hash_one(key);
        let entries = &self.entries;
        let found = self
            .index
            .find(hash, |&at| entries.get(at).is_some_and(|tx| tx.key == *key))
            .copied();
        (hash, found)
    }

    /// Adds a transaction whose key hashes to `hash` (and is not in the
    /// table) and carries out the events of its start.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        hash: u64,
        key: Key,
        peer: A,
        machine: Machine,
        events: &mut Vec<Event>,
        out: &mut Vec<Output<A>>,
        now: Instant,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.entries.insert(Entry {
            key,
            hash,
            id,
            peer,
            machine,
            wake: None,
        });
        let entries = &self.entries;
        self.index
            .insert_unique(hash, at, |&i| entries.get(i).map_or(0, |tx| tx.hash));
        let tx = &mut self.entries[at];
        let fate = Self::advance(&mut self.timers, at, tx, events, out, now);
        self.finish(at, fate, out);
    }

    /// Lets `step` feed the machine of the transaction at `at` and carries
    /// out the events.
    fn drive(
        &mut self,
        at: usize,
        out: &mut Vec<Output<A>>,
        now: Instant,
        step: impl FnOnce(&mut Machine, &Config, &mut Vec<Event>),
    ) {
        let Some(tx) = self.entries.get_mut(at) else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        step(&mut tx.machine, &self.config, &mut events);
        let fate = Self::advance(&mut self.timers, at, tx, &mut events, out, now);
        self.events = events;
        self.finish(at, fate, out);
    }

    /// Turns a machine's events into outputs and, unless it ended or only
    /// absorbs now, puts its earliest timer into the index. Says what the
    /// caller ([`Layer::finish`]) does with the entry: when the
    /// transaction ended, where in `out` its [`Output::Terminated`] goes
    /// (the key moves there); when it is a client non-INVITE transaction
    /// gone to Completed, until when its key absorbs responses. Takes the
    /// fields rather than `self`, so that callers can hold the entry.
    fn advance(
        timers: &mut Wakeups,
        at: usize,
        tx: &mut Entry<A>,
        events: &mut Vec<Event>,
        out: &mut Vec<Output<A>>,
        now: Instant,
    ) -> Fate {
        let mut ended = None;
        for event in events.drain(..) {
            out.push(match event {
                Event::Transmit(bytes) => Output::Transmit {
                    to: tx.peer.clone(),
                    bytes,
                },
                Event::Response(resp) => Output::Response {
                    key: tx.key.clone(),
                    resp,
                },
                Event::Timeout => Output::Timeout {
                    key: tx.key.clone(),
                },
                Event::Terminated => {
                    ended = Some(out.len());
                    continue;
                }
            });
        }
        let absorbing = match &tx.machine {
            Machine::NonInviteClient(m) => m.absorbing_until(),
            _ => None,
        };
        let fate = match (ended, absorbing) {
            (Some(place), _) => Fate::Ended(place),
            (None, Some(until)) => Fate::Absorbing(until),
            (None, None) => Fate::Live,
        };
        if !matches!(fate, Fate::Live) {
            // The entry leaves the slab: its slot goes stale.
            if let Some(wake) = tx.wake.take() {
                timers.disarmed(wake, tx.id);
            }
            return fate;
        }
        let next = tx.machine.next_deadline();
        if next != tx.wake {
            if let Some(wake) = tx.wake {
                timers.disarmed(wake, tx.id);
            }
            tx.wake = next;
            if let Some(wake) = next {
                timers.push(
                    Slot {
                        at: wake,
                        id: tx.id,
                        entry: at,
                    },
                    now,
                );
            }
        }
        Fate::Live
    }

    /// Does what [`Layer::advance`] said: removes an ended transaction,
    /// reporting it at the place it gave, or moves a completed client
    /// non-INVITE transaction's key to the table that absorbs
    /// retransmitted responses until Timer K.
    fn finish(&mut self, at: usize, fate: Fate, out: &mut Vec<Output<A>>) {
        if matches!(fate, Fate::Live) {
            return;
        }
        let Some(tx) = self.entries.try_remove(at) else {
            return;
        };
        if let Ok(bucket) = self.index.find_entry(tx.hash, |&i| i == at) {
            bucket.remove();
        }
        match fate {
            Fate::Ended(place) => {
                out.insert(place.min(out.len()), Output::Terminated { key: tx.key })
            }
            Fate::Absorbing(until) => self.completed.insert(tx.key, tx.hash, until),
            Fate::Live => {}
        }
    }

    /// Drops stale slots from the front of the timer index, so that
    /// [`Layer::poll_timeout`] names a timer that will fire. Every public
    /// call that can move or end a timer ends with this (starting a
    /// transaction only adds a live slot, so those calls skip it). It is
    /// also where the slab is compacted after a burst: only between calls,
    /// never while a call holds indices (the transactions a
    /// [`Layer::handle_timeout`] fires, the ones a closed peer fails).
    fn settle(&mut self, now: Instant) {
        self.shrink_after_burst(now);
        while self.timers.is_unsure() {
            let Some(top) = self.timers.peek() else {
                self.timers.settled();
                break;
            };
            if self
                .entries
                .get(top.entry)
                .is_some_and(|tx| top.is_live(tx))
            {
                self.timers.settled();
            } else {
                self.timers.pop();
            }
        }
    }

    /// Gives back the room a burst took, by the rule of `crate::burst`
    /// (neither a slab nor a hash table shrinks by itself). The slab is
    /// compacted: entries
    /// from its end move into the holes, their buckets are renumbered and
    /// their timers get a slot at the new index (the old slot goes stale,
    /// as the index it names is empty or holds another id): a moved timer
    /// counts as armed when it moved, for the order of equal deadlines.
    fn shrink_after_burst(&mut self, now: Instant) {
        self.completed.shrink_after_burst();
        if burst::drained(self.entries.len(), self.entries.capacity()) {
            let index = &mut self.index;
            let mut moved = Vec::new();
            self.entries.compact(|tx, from, to| {
                if let Ok(mut bucket) = index.find_entry(tx.hash, |&i| i == from) {
                    *bucket.get_mut() = to;
                }
                if let Some(wake) = tx.wake {
                    moved.push(Slot {
                        at: wake,
                        id: tx.id,
                        entry: to,
                    });
                }
                true
            });
            // Compaction takes entries from the end; their new slots go in
            // by deadline, then age.
            moved.sort_unstable_by_key(|slot| (slot.at, slot.id));
            for slot in moved {
                self.timers.disarmed(slot.at, slot.id);
                self.timers.push(slot, now);
            }
        }
        let (entries, index) = (&self.entries, &mut self.index);
        burst::give_back(index.len(), index.capacity(), |to| {
            index.shrink_to(to, |&i| entries.get(i).map_or(0, |tx| tx.hash));
        });
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
    /// them all (and the oldest completed one, whose Timer K is the
    /// earliest of its table): the oracle the heap's top is checked
    /// against.
    pub(crate) fn earliest_by_scan(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|(_, tx)| tx.machine.next_deadline())
            .chain(self.completed.next_deadline())
            .min()
    }

    /// Slots in the timer index, stale ones included.
    pub(crate) fn slots(&self) -> usize {
        self.timers.len()
    }

    /// Transactions held whole in the slab (the completed client
    /// non-INVITE ones are not).
    pub(crate) fn in_slab(&self) -> usize {
        self.entries.len()
    }

    /// Entries the slab has room for.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod footprint {
    /// See [`Entry`]: a slab slot of an entry with a peer the size of
    /// presenced's flow (80 bytes) stays within 384 bytes. Every
    /// transaction of a fan-out or a sign-in storm holds one; the old
    /// layout was a boxed 208-byte entry plus a table bucket with the key.
    #[test]
    fn an_entry_with_an_80_byte_peer_stays_small() {
        let size = std::mem::size_of::<super::Entry<[u64; 10]>>();
        assert!(size <= 384, "Entry is {size} bytes");
    }
}
