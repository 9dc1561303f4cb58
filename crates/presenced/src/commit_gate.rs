//! The commit gate: no response or NOTIFY leaves before the store has made
//! durable every write the engine asked for ahead of it.
//!
//! This is the "nothing lost" rule of ../shared/DESIGN.md in one sans-IO
//! unit. The engine returns its actions in order; a [`Action::Store`]
//! among them is handed to the group-committing store at once (writes are
//! never held, so a commit can gather them), and every later action waits
//! until that write's commit is acknowledged. Acknowledgements come back in
//! submission order; a failed commit turns each 2xx it held into a
//! `500 Storage failure`, so no client is promised state the store does
//! not have. The core task owns the I/O (submitting, receiving
//! acknowledgements); this type only decides what may leave when, so the
//! rule is tested here with plain sequences of actions.

use std::collections::VecDeque;

use presence::{Action, StoreOp};
use sip::Response;

/// What the core does with one action it passed to [`CommitGate::admit`].
// As with `presence::Action`: each is moved once and carried out at once;
// boxing the large variant would allocate per action for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Pass<F> {
    /// Carry it out now: nothing before it waits for a commit.
    Now(Action<F>),
    /// Submit these writes to the store under this ticket and report the
    /// commit with [`CommitGate::committed`]. `None` for the memory store:
    /// nothing to wait for.
    Write(Option<u64>, Vec<StoreOp<F>>),
    /// Held; [`CommitGate::committed`] releases it.
    Held,
}

/// The store acknowledged a ticket other than the oldest one pending: a
/// bug in the store, reported rather than guessed around.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store acknowledged ticket {got}, expected {expected:?}")]
pub struct OutOfOrder {
    /// The ticket acknowledged.
    pub got: u64,
    /// The oldest pending ticket, if any.
    pub expected: Option<u64>,
}

#[derive(Debug)]
enum Held<F> {
    /// The commit everything behind it waits for.
    Commit(u64),
    /// An action to carry out once the commits before it are done.
    Action(Box<Action<F>>),
    /// Someone outside the engine to tell once the commits before it are
    /// done (see [`CommitGate::after_commits`]).
    Waiter(Waiter),
}

/// An acknowledgement that is not a SIP response, such as the operator
/// API's answer to a contact-list PUT: called with whether the commit
/// before it succeeded.
pub struct Waiter(Box<dyn FnOnce(bool) + Send>);

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiter")
    }
}

/// The gate; see the module documentation.
#[derive(Debug)]
pub struct CommitGate<F> {
    durable: bool,
    held: VecDeque<Held<F>>,
    next_ticket: u64,
}

impl<F> CommitGate<F> {
    /// A gate in front of a durable store (`durable`), or of the memory
    /// store, whose writes need no waiting.
    pub fn new(durable: bool) -> Self {
        CommitGate {
            durable,
            held: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Commits and actions waiting, for the core's diagnostics.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Takes the engine's next action, in the order the engine returned
    /// them.
    pub fn admit(&mut self, action: Action<F>) -> Pass<F> {
        match action {
            Action::Store(ops) if !self.durable => Pass::Write(None, ops),
            Action::Store(ops) => {
                self.next_ticket += 1;
                self.held.push_back(Held::Commit(self.next_ticket));
                Pass::Write(Some(self.next_ticket), ops)
            }
            other if self.held.is_empty() => Pass::Now(other),
            other => {
                self.held.push_back(Held::Action(Box::new(other)));
                Pass::Held
            }
        }
    }

    /// Reserves a commit for writes that are not the engine's (the sync
    /// engine's agents, `crate::sync`): everything admitted after it waits
    /// for it as for an engine write. The caller submits its writes under
    /// the ticket; `None` for the memory store, where nothing waits.
    pub fn reserve(&mut self) -> Option<u64> {
        if !self.durable {
            return None;
        }
        self.next_ticket += 1;
        self.held.push_back(Held::Commit(self.next_ticket));
        Some(self.next_ticket)
    }

    /// Holds `waiter` behind everything admitted so far: it is called once
    /// the commits before it are done, with `true` if the last of them
    /// succeeded, or at once (`true`) when nothing waits (no write came
    /// before it, or the memory store). Dropping the gate drops the
    /// waiters it holds uncalled, which is how a shutdown says "never".
    pub fn after_commits(&mut self, waiter: impl FnOnce(bool) + Send + 'static) {
        if self.held.is_empty() {
            waiter(true);
        } else {
            self.held.push_back(Held::Waiter(Waiter(Box::new(waiter))));
        }
    }

    /// The store finished `ticket`: `ok` when the commit is durable. Returns
    /// what may leave now, in order, up to the next commit still pending;
    /// after a failed commit its 2xx responses are 500s.
    pub fn committed(&mut self, ticket: u64, ok: bool) -> Result<Vec<Action<F>>, OutOfOrder> {
        match self.held.front() {
            Some(Held::Commit(t)) if *t == ticket => {
                self.held.pop_front();
            }
            front => {
                let expected = match front {
                    Some(Held::Commit(t)) => Some(*t),
                    _ => None,
                };
                return Err(OutOfOrder {
                    got: ticket,
                    expected,
                });
            }
        }
        let mut released = Vec::new();
        while let Some(Held::Action(_) | Held::Waiter(_)) = self.held.front() {
            match self.held.pop_front() {
                Some(Held::Action(action)) => released.push(match *action {
                    Action::Respond { txn, resp } if !ok && resp.class() == 2 => Action::Respond {
                        txn,
                        resp: storage_failure(resp),
                    },
                    other => other,
                }),
                Some(Held::Waiter(Waiter(waiter))) => waiter(ok),
                _ => break,
            }
        }
        Ok(released)
    }
}

/// A 2xx that can no longer be given: the store did not take the change.
/// The 500 keeps the transaction's headers (Via, From, To with its tag,
/// Call-ID, CSeq) and drops what described the success.
pub fn storage_failure(mut resp: Response) -> Response {
    use sip::HeaderName as H;
    for name in [
        H::SipEtag,
        H::Expires,
        H::Contact,
        H::RecordRoute,
        H::ContentType,
    ] {
        resp.headers.remove(name);
    }
    resp.status = 500;
    resp.reason = bytes::Bytes::from_static(b"Storage failure");
    resp.body = bytes::Bytes::new();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use presence::NotifyId;
    use sip::{HeaderAccess, HeaderName, Request};

    type F = u8;

    fn request() -> Request {
        let text = "PUBLISH sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\n\r\n";
        match sip::parse::parse_datagram(Bytes::from(text)) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn respond(txn: u64, status: u16) -> Action<F> {
        let mut resp = Response::to_request(&request(), status, Some("t1"));
        resp.headers
            .push(sip::Header::new(HeaderName::SipEtag, "e1"));
        resp.headers
            .push(sip::Header::new(HeaderName::Expires, "60"));
        Action::Respond { txn, resp }
    }

    fn notify(id: u64) -> Action<F> {
        Action::Notify {
            id: NotifyId(id),
            req: presence::notify::Notify::from_request(&request()),
            flow: 0,
            reliable: false,
        }
    }

    fn store() -> Action<F> {
        Action::Store(vec![StoreOp::DeletePublication {
            presentity: "sip:alice@example.com".into(),
            etag: "e0".into(),
        }])
    }

    fn txn_of(action: &Action<F>) -> Option<(u64, u16)> {
        match action {
            Action::Respond { txn, resp } => Some((*txn, resp.status)),
            _ => None,
        }
    }

    #[test]
    fn nothing_waits_without_a_write() {
        let mut gate = CommitGate::new(true);
        assert!(matches!(gate.admit(respond(1, 200)), Pass::Now(_)));
        assert!(matches!(gate.admit(notify(1)), Pass::Now(_)));
        assert!(gate.is_empty());
    }

    #[test]
    fn a_response_after_a_write_waits_for_its_commit() {
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(ticket), ops) = gate.admit(store()) else {
            panic!("a write is submitted at once")
        };
        assert_eq!(ops.len(), 1);
        assert_eq!(gate.admit(respond(1, 200)), Pass::Held);
        assert_eq!(gate.admit(notify(7)), Pass::Held);
        assert_eq!(gate.len(), 3);
        let released = gate.committed(ticket, true).unwrap();
        assert_eq!(released.len(), 2);
        assert_eq!(txn_of(&released[0]), Some((1, 200)));
        assert!(matches!(
            released[1],
            Action::Notify {
                id: NotifyId(7),
                ..
            }
        ));
        assert!(gate.is_empty());
    }

    #[test]
    fn writes_are_never_held_and_release_stops_at_the_next_commit() {
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(first), _) = gate.admit(store()) else {
            panic!()
        };
        assert_eq!(gate.admit(respond(1, 200)), Pass::Held);
        // A second write while the first is pending still goes to the store
        // now, so one group commit can carry both.
        let Pass::Write(Some(second), _) = gate.admit(store()) else {
            panic!("writes are submitted even behind a pending commit")
        };
        assert_eq!(gate.admit(respond(2, 200)), Pass::Held);
        let released = gate.committed(first, true).unwrap();
        assert_eq!(
            released.iter().map(txn_of).collect::<Vec<_>>(),
            [Some((1, 200))]
        );
        assert!(!gate.is_empty(), "the second response waits for its commit");
        let released = gate.committed(second, true).unwrap();
        assert_eq!(
            released.iter().map(txn_of).collect::<Vec<_>>(),
            [Some((2, 200))]
        );
    }

    #[test]
    fn nothing_overtakes_a_held_action() {
        // A response that needs no write of its own still leaves after an
        // earlier one that does: responses keep the engine's order.
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(ticket), _) = gate.admit(store()) else {
            panic!()
        };
        assert_eq!(gate.admit(respond(1, 200)), Pass::Held);
        assert_eq!(gate.admit(respond(2, 412)), Pass::Held);
        let released = gate.committed(ticket, true).unwrap();
        assert_eq!(
            released.iter().map(txn_of).collect::<Vec<_>>(),
            [Some((1, 200)), Some((2, 412))]
        );
    }

    #[test]
    fn a_failed_commit_turns_its_2xx_into_500_and_keeps_the_rest() {
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(ticket), _) = gate.admit(store()) else {
            panic!()
        };
        gate.admit(respond(1, 200));
        gate.admit(respond(2, 412));
        gate.admit(notify(3));
        let released = gate.committed(ticket, false).unwrap();
        assert_eq!(
            released.iter().map(txn_of).collect::<Vec<_>>(),
            [Some((1, 500)), Some((2, 412)), None]
        );
        let Action::Respond { resp, .. } = &released[0] else {
            panic!()
        };
        assert_eq!(&resp.reason[..], b"Storage failure");
        assert!(resp.headers.value(HeaderName::SipEtag).is_none());
        assert!(resp.headers.value(HeaderName::Expires).is_none());
        assert!(
            resp.header_to().unwrap().tag().is_some(),
            "the To tag stays"
        );
    }

    #[test]
    fn acknowledgements_out_of_order_are_refused() {
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(first), _) = gate.admit(store()) else {
            panic!()
        };
        gate.admit(respond(1, 200));
        let Pass::Write(Some(second), _) = gate.admit(store()) else {
            panic!()
        };
        assert_eq!(
            gate.committed(second, true),
            Err(OutOfOrder {
                got: second,
                expected: Some(first)
            })
        );
        assert_eq!(gate.len(), 3, "nothing released or lost");
        assert_eq!(gate.committed(first, true).unwrap().len(), 1);
        let mut empty: CommitGate<F> = CommitGate::new(true);
        assert_eq!(
            empty.committed(9, true),
            Err(OutOfOrder {
                got: 9,
                expected: None
            })
        );
    }

    /// A waiter that records what it was told.
    fn waiter() -> (
        impl FnOnce(bool) + Send + 'static,
        std::sync::Arc<std::sync::Mutex<Vec<bool>>>,
    ) {
        let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = told.clone();
        (move |ok| sink.lock().unwrap().push(ok), told)
    }

    #[test]
    fn a_waiter_is_told_after_the_commit_before_it_in_order() {
        let mut gate = CommitGate::new(true);
        let Pass::Write(Some(first), _) = gate.admit(store()) else {
            panic!()
        };
        let (first_waiter, first_told) = waiter();
        gate.after_commits(first_waiter);
        assert_eq!(gate.admit(respond(1, 200)), Pass::Held);
        let Pass::Write(Some(second), _) = gate.admit(store()) else {
            panic!()
        };
        let (second_waiter, second_told) = waiter();
        gate.after_commits(second_waiter);
        assert!(
            first_told.lock().unwrap().is_empty(),
            "not before its commit"
        );
        let released = gate.committed(first, true).unwrap();
        assert_eq!(*first_told.lock().unwrap(), [true]);
        assert_eq!(released.len(), 1, "the response behind it still leaves");
        assert!(second_told.lock().unwrap().is_empty());
        gate.committed(second, false).unwrap();
        assert_eq!(
            *second_told.lock().unwrap(),
            [false],
            "a failed commit says so"
        );
        assert!(gate.is_empty());
    }

    #[test]
    fn a_waiter_with_nothing_before_it_is_told_at_once() {
        let mut durable = CommitGate::<F>::new(true);
        let (now, told) = waiter();
        durable.after_commits(now);
        assert_eq!(*told.lock().unwrap(), [true]);
        let mut memory = CommitGate::new(false);
        assert!(matches!(memory.admit(store()), Pass::Write(None, _)));
        let (now, told) = waiter();
        memory.after_commits(now);
        assert_eq!(*told.lock().unwrap(), [true]);
        assert!(memory.is_empty());
    }

    #[test]
    fn the_memory_store_holds_nothing() {
        let mut gate = CommitGate::new(false);
        assert!(matches!(gate.admit(store()), Pass::Write(None, _)));
        assert!(matches!(gate.admit(respond(1, 200)), Pass::Now(_)));
        assert!(gate.is_empty());
    }
}
