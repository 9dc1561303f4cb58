//! The client's protocol core, with no I/O: it writes requests into a
//! transmit queue, matches what the server sends to transactions and
//! dialogs, runs the timers, and reports finished operations as [`Event`]s
//! for the scenario to count. The runtime feeds it parsed messages and the
//! time; unit tests feed it messages they make up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderAccess, HeaderName, Message, Request, Response};

use crate::dialog::{Dialog, State};
use crate::notify_scan::Notify;
use crate::rlmi;
use crate::stats::{Counters, Failure};
use crate::template::{self, Local, Names};
use crate::txn::{Finished, Table, TimerAction, Timers};

/// Bytes to send on one socket or connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Index into the runtime's links.
    pub link: usize,
    /// The message.
    pub bytes: Bytes,
}

/// A successful operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// From the first transmission to completion.
    pub latency: Duration,
    /// Retransmissions it took.
    pub retransmits: u32,
}

/// A failed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// Status or timeout.
    pub why: Failure,
    /// Retransmissions it took.
    pub retransmits: u32,
}

/// What the core tells the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A SUBSCRIBE finished: 2xx and the NOTIFY after it, or a failure.
    Subscribed {
        /// The dialog.
        dialog: u32,
        /// How it went.
        result: Result<Done, Failed>,
    },
    /// A PUBLISH got its final response or timed out.
    Published {
        /// The presentity.
        presentity: u32,
        /// How it went.
        result: Result<Done, Failed>,
        /// SIP-ETag of a 2xx (RFC 3903 §11.3.1).
        etag: Option<Bytes>,
    },
    /// A new NOTIFY (or BENOTIFY) arrived on a batched dialog.
    Batch {
        /// The dialog.
        dialog: u32,
        /// What its RLMI body carried (empty when it had none, as a final
        /// NOTIFY may not).
        body: rlmi::Notify,
        /// When the runtime received it.
        at: Instant,
    },
    /// A new NOTIFY arrived on a dialog.
    Notify {
        /// The dialog.
        dialog: u32,
        /// The marker in its body, if any.
        marker: Option<u64>,
        /// When the runtime received it.
        at: Instant,
    },
}

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Subscribe(u32),
    Publish(u32),
}

/// The protocol state of one run.
#[derive(Debug)]
pub struct Core {
    names: Names,
    locals: Vec<Local>,
    timers: Timers,
    txns: Table<Purpose>,
    dialogs: Vec<Dialog>,
    /// Dialogs whose SUBSCRIBE got its 2xx and whose NOTIFY is awaited:
    /// (deadline, dialog, CSeq of the SUBSCRIBE).
    waits: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    publish_cseq: Vec<u32>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    timer_buf: Vec<TimerAction<Purpose>>,
    /// Message counters.
    pub counters: Counters,
}

impl Core {
    /// A core sending on `locals` (one per socket or connection, at least one).
    pub fn new(names: Names, locals: Vec<Local>, timers: Timers) -> Core {
        let reliable = locals.first().is_some_and(|l| l.transport.is_reliable());
        Core {
            names,
            locals,
            timers,
            txns: Table::new(timers, reliable),
            dialogs: Vec::new(),
            waits: BinaryHeap::new(),
            publish_cseq: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timer_buf: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// The naming scheme.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The timers in force.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Adds a dialog of `watcher` on `presentity`, spread over the links.
    pub fn add_dialog(&mut self, watcher: u32, presentity: u32) -> u32 {
        let d = self.dialogs.len() as u32;
        let link = (d as usize % self.locals.len().max(1)) as u16;
        self.dialogs.push(Dialog::new(watcher, presentity, link));
        d
    }

    /// Adds a batched dialog of `watcher` (the Microsoft dialect), spread
    /// over the links like the others; its first SUBSCRIBE is
    /// [`Core::subscribe_batch`].
    pub fn add_batch(&mut self, watcher: u32) -> u32 {
        let d = self.add_dialog(watcher, u32::MAX);
        self.dialogs[d as usize].batched = true;
        d
    }

    /// Sends a batched SUBSCRIBE on dialog `d` adding `contacts` (see
    /// [`template::batch_subscribe`]); its end comes as
    /// [`Event::Subscribed`], once the 2xx and the first NOTIFY are in.
    pub fn subscribe_batch(&mut self, d: u32, contacts: &[u32], expires: u32, now: Instant) {
        let Some(dialog) = self.dialogs.get_mut(d as usize) else {
            return;
        };
        let cseq = dialog.begin(now);
        let link = usize::from(dialog.link);
        let id = self.txns.next_id();
        let Some(local) = self.locals.get(link) else {
            return;
        };
        let bytes = Bytes::from(template::batch_subscribe(
            &self.names,
            &template::BatchSubscribe {
                local,
                dialog: d,
                watcher: dialog.watcher,
                contacts,
                remote_tag: dialog.remote_tag.as_deref(),
                cseq,
                expires,
                txn: id,
            },
        ));
        self.send(id, Purpose::Subscribe(d), link, bytes, now);
    }

    /// Dialog `d`.
    pub fn dialog(&self, d: u32) -> Option<&Dialog> {
        self.dialogs.get(d as usize)
    }

    /// How many dialogs exist.
    pub fn dialog_count(&self) -> u32 {
        self.dialogs.len() as u32
    }

    /// Sends a SUBSCRIBE on dialog `d`: the initial one, or a refresh once
    /// the dialog is established. Its end comes as [`Event::Subscribed`].
    pub fn subscribe(&mut self, d: u32, expires: u32, now: Instant) {
        if self.dialogs.get(d as usize).is_some_and(|x| x.batched) {
            // A refresh or the end of a batched dialog: no list.
            return self.subscribe_batch(d, &[], expires, now);
        }
        let Some(dialog) = self.dialogs.get_mut(d as usize) else {
            return;
        };
        let cseq = dialog.begin(now);
        let link = usize::from(dialog.link);
        let id = self.txns.next_id();
        let Some(local) = self.locals.get(link) else {
            return;
        };
        let bytes = Bytes::from(template::subscribe(
            &self.names,
            &template::Subscribe {
                local,
                dialog: d,
                watcher: dialog.watcher,
                presentity: dialog.presentity,
                remote_tag: dialog.remote_tag.as_deref(),
                cseq,
                expires,
                txn: id,
            },
        ));
        self.send(id, Purpose::Subscribe(d), link, bytes, now);
    }

    /// Sends a PUBLISH for `presentity` (see [`template::Publish`]); its
    /// end comes as [`Event::Published`].
    pub fn publish(
        &mut self,
        presentity: u32,
        expires: u32,
        if_match: Option<&[u8]>,
        marker: Option<u64>,
        now: Instant,
    ) {
        self.publish_activity(presentity, expires, if_match, marker, None, now);
    }

    /// [`Core::publish`] with an RPID activity in the body, as the
    /// `usermodel` users' state changes carry.
    pub fn publish_activity(
        &mut self,
        presentity: u32,
        expires: u32,
        if_match: Option<&[u8]>,
        marker: Option<u64>,
        activity: Option<&str>,
        now: Instant,
    ) {
        let slot = presentity as usize;
        if self.publish_cseq.len() <= slot {
            self.publish_cseq.resize(slot + 1, 0);
        }
        self.publish_cseq[slot] += 1;
        let link = slot % self.locals.len().max(1);
        let id = self.txns.next_id();
        let Some(local) = self.locals.get(link) else {
            return;
        };
        let bytes = Bytes::from(template::publish(
            &self.names,
            &template::Publish {
                local,
                presentity,
                cseq: self.publish_cseq[slot],
                expires,
                if_match,
                marker,
                activity,
                txn: id,
            },
        ));
        self.send(id, Purpose::Publish(presentity), link, bytes, now);
    }

    fn send(&mut self, id: u64, purpose: Purpose, link: usize, bytes: Bytes, now: Instant) {
        self.counters.requests_sent += 1;
        self.transmits.push_back(Transmit {
            link,
            bytes: bytes.clone(),
        });
        self.txns.insert(id, purpose, link, bytes, now);
    }

    /// A message from the server, received at `at`. NOTIFYs have already
    /// been answered by the runtime (see [`template::answer`]).
    pub fn on_message(&mut self, msg: Message, at: Instant) {
        match msg {
            Message::Response(resp) => self.on_response(&resp, at),
            Message::Request(req) if matches!(req.method.as_bytes(), b"NOTIFY" | b"BENOTIFY") => {
                self.on_notify(&req, at)
            }
            Message::Request(_) => {}
        }
    }

    /// A message the runtime could not parse.
    pub fn on_unparsable(&mut self) {
        self.counters.unparsable += 1;
    }

    fn on_response(&mut self, resp: &Response, at: Instant) {
        let Some(id) = resp
            .top_via()
            .ok()
            .and_then(|v| v.branch().and_then(|b| self.names.txn_of(b)))
        else {
            self.counters.unparsable += 1;
            return;
        };
        let Some(fin) = self.txns.on_response(id, resp.status, at) else {
            if resp.status >= 200 {
                self.counters.stray_responses += 1;
            }
            return;
        };
        self.counters.responses += 1;
        let ok = (200..300).contains(&resp.status);
        match fin.purpose {
            Purpose::Subscribe(d) => {
                if ok {
                    self.subscribe_answered(d, resp, fin, at);
                } else {
                    self.subscribe_failed(d, Failure::Status(resp.status), fin.retransmits);
                }
            }
            Purpose::Publish(p) => {
                let result = if ok {
                    Ok(Done {
                        latency: fin.latency,
                        retransmits: fin.retransmits,
                    })
                } else {
                    Err(Failed {
                        why: Failure::Status(resp.status),
                        retransmits: fin.retransmits,
                    })
                };
                let etag = resp.headers.value(HeaderName::SipEtag).cloned();
                self.events.push_back(Event::Published {
                    presentity: p,
                    result,
                    etag: if ok { etag } else { None },
                });
            }
        }
    }

    fn subscribe_answered(&mut self, d: u32, resp: &Response, fin: Finished<Purpose>, at: Instant) {
        let Some(dialog) = self.dialogs.get_mut(d as usize) else {
            return;
        };
        if dialog.remote_tag.is_none() {
            dialog.remote_tag = resp
                .header_to()
                .ok()
                .and_then(|to| to.tag())
                .map(|t| t.to_vec().into_boxed_slice());
        }
        match dialog.answered(fin.retransmits) {
            Some(p) => self.events.push_back(Event::Subscribed {
                dialog: d,
                result: Ok(Done {
                    latency: at.saturating_duration_since(p.started),
                    retransmits: p.retransmits,
                }),
            }),
            None => {
                if matches!(dialog.state, State::Busy(_)) {
                    let deadline = at + self.timers.timeout();
                    self.waits.push(Reverse((deadline, d, dialog.cseq)));
                }
            }
        }
    }

    fn subscribe_failed(&mut self, d: u32, why: Failure, retransmits: u32) {
        if let Some(dialog) = self.dialogs.get_mut(d as usize) {
            if dialog.fail().is_some() {
                self.events.push_back(Event::Subscribed {
                    dialog: d,
                    result: Err(Failed { why, retransmits }),
                });
            }
        }
    }

    fn on_notify(&mut self, req: &Request, at: Instant) {
        let Some(notify) = Notify::of_request(req) else {
            self.counters.unparsable += 1;
            return;
        };
        self.on_notify_facts(&notify, req.method.as_bytes() == b"BENOTIFY", at);
    }

    /// A NOTIFY the runtime's scan read (`notify_scan`), already answered.
    pub fn on_scanned_notify(&mut self, notify: &Notify, at: Instant) {
        self.on_notify_facts(notify, false, at);
    }

    fn on_notify_facts(&mut self, notify: &Notify, benotify: bool, at: Instant) {
        let Some(dialog) = self
            .names
            .dialog_of(&notify.call_id)
            .and_then(|d| self.dialogs.get_mut(d as usize).map(|x| (d, x)))
        else {
            self.counters.stray_notifies += 1;
            return;
        };
        let (d, dialog) = dialog;
        if !dialog.accept_notify_cseq(notify.cseq) {
            self.counters.duplicate_notifies += 1;
            return;
        }
        self.counters.notifies += 1;
        if dialog.remote_tag.is_none() {
            // RFC 6665 §4.1.2.4: the NOTIFY may come before the 2xx.
            dialog.remote_tag = notify
                .from_tag
                .as_ref()
                .map(|t| t.to_vec().into_boxed_slice());
        }
        let terminated = notify.terminated;
        if terminated {
            self.counters.terminated_notifies += 1;
        }
        if benotify {
            self.counters.benotifies += 1;
        }
        if dialog.batched {
            let body = notify
                .content_type
                .as_ref()
                .and_then(|ct| rlmi::parse(&self.names, ct, &notify.body))
                .unwrap_or_default();
            self.counters.batched_parts += body.parts.len() as u64;
            if let Some(p) = dialog.notified(terminated) {
                self.events.push_back(Event::Subscribed {
                    dialog: d,
                    result: Ok(Done {
                        latency: at.saturating_duration_since(p.started),
                        retransmits: p.retransmits,
                    }),
                });
            }
            self.events.push_back(Event::Batch {
                dialog: d,
                body,
                at,
            });
            return;
        }
        let marker = template::find_marker(&notify.body);
        if let Some(m) = marker {
            dialog.marker = dialog.marker.max(m);
        }
        if let Some(p) = dialog.notified(terminated) {
            self.events.push_back(Event::Subscribed {
                dialog: d,
                result: Ok(Done {
                    latency: at.saturating_duration_since(p.started),
                    retransmits: p.retransmits,
                }),
            });
        }
        self.events.push_back(Event::Notify {
            dialog: d,
            marker,
            at,
        });
    }

    /// Runs the timers due at `now`: retransmissions, transaction timeouts,
    /// and NOTIFYs that never followed their 2xx.
    pub fn on_timer(&mut self, now: Instant) {
        let mut actions = std::mem::take(&mut self.timer_buf);
        self.txns.poll(now, &mut actions);
        for a in actions.drain(..) {
            match a {
                TimerAction::Retransmit { link, bytes } => {
                    self.counters.retransmissions += 1;
                    self.transmits.push_back(Transmit { link, bytes });
                }
                TimerAction::Timeout(fin) => match fin.purpose {
                    Purpose::Subscribe(d) => {
                        self.subscribe_failed(d, Failure::Timeout, fin.retransmits)
                    }
                    Purpose::Publish(p) => self.events.push_back(Event::Published {
                        presentity: p,
                        result: Err(Failed {
                            why: Failure::Timeout,
                            retransmits: fin.retransmits,
                        }),
                        etag: None,
                    }),
                },
            }
        }
        self.timer_buf = actions;
        while let Some(&Reverse((at, d, cseq))) = self.waits.peek() {
            if at > now {
                break;
            }
            self.waits.pop();
            let waiting = self
                .dialogs
                .get(d as usize)
                .is_some_and(|x| x.cseq == cseq && matches!(x.state, State::Busy(_)));
            if waiting {
                self.subscribe_failed(d, Failure::Timeout, 0);
            }
        }
    }

    /// When [`Core::on_timer`] next has work.
    pub fn next_timer(&self) -> Option<Instant> {
        let w = self.waits.peek().map(|Reverse((at, _, _))| *at);
        match (self.txns.next_deadline(), w) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the scenario.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Transactions outstanding.
    pub fn outstanding(&self) -> usize {
        self.txns.len()
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
