//! Client non-INVITE transactions as a load generator needs them (RFC 3261
//! §17.1.2): the request is kept for retransmission, Timer E fires at T1,
//! doubling up to T2 (at T2 once a provisional response arrived), and
//! Timer F ends the transaction at 64×T1, which the caller counts as a
//! failure. Over a reliable transport only Timer F runs.
//!
//! Timers live in one binary heap with lazy deletion: a transaction has at
//! most one live heap entry (its next firing), and entries left behind by a
//! completed transaction are skipped when they come up. That keeps the
//! per-request cost at one hash insert and one heap push.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// RFC 3261 timer values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate; first retransmission interval.
    pub t1: Duration,
    /// Longest retransmission interval.
    pub t2: Duration,
}

impl Default for Timers {
    /// The RFC's defaults: T1 = 500 ms, T2 = 4 s.
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
        }
    }
}

impl Timers {
    /// Timer F: how long a transaction may take in all.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// One outstanding request.
#[derive(Debug)]
struct Txn<P> {
    purpose: P,
    link: usize,
    bytes: Bytes,
    sent_at: Instant,
    deadline: Instant,
    /// When the live heap entry fires (retransmission or deadline).
    fire_at: Instant,
    interval: Duration,
    retransmits: u32,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<P> {
    /// What the caller attached to it.
    pub purpose: P,
    /// From first transmission to the final response.
    pub latency: Duration,
    /// Retransmissions sent.
    pub retransmits: u32,
}

/// What a timer asks the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerAction<P> {
    /// Send these bytes again on this link.
    Retransmit {
        /// Which socket or connection.
        link: usize,
        /// The request as first sent.
        bytes: Bytes,
    },
    /// Timer F fired: no final response in time.
    Timeout(Finished<P>),
}

/// The table of outstanding client transactions, keyed by the number in
/// their branch.
#[derive(Debug)]
pub struct Table<P> {
    timers: Timers,
    reliable: bool,
    next_id: u64,
    txns: HashMap<u64, Txn<P>>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl<P: Clone> Table<P> {
    /// An empty table; `reliable` turns retransmission off.
    pub fn new(timers: Timers, reliable: bool) -> Table<P> {
        Table {
            timers,
            reliable,
            next_id: 1,
            txns: HashMap::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// The number the next transaction gets, to be written into its branch
    /// before [`Table::insert`].
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts transaction `id`, whose request `bytes` was just sent on `link`.
    pub fn insert(&mut self, id: u64, purpose: P, link: usize, bytes: Bytes, now: Instant) {
        let deadline = now + self.timers.timeout();
        let fire_at = if self.reliable {
            deadline
        } else {
            (now + self.timers.t1).min(deadline)
        };
        self.txns.insert(
            id,
            Txn {
                purpose,
                link,
                bytes,
                sent_at: now,
                deadline,
                fire_at,
                interval: self.timers.t1,
                retransmits: 0,
            },
        );
        self.heap.push(Reverse((fire_at, id)));
    }

    /// A response to transaction `id` arrived: a final one ends it, a
    /// provisional one slows retransmission to T2 (§17.1.2.2, Proceeding).
    /// Responses to unknown or finished transactions return `None`.
    pub fn on_response(&mut self, id: u64, status: u16, now: Instant) -> Option<Finished<P>> {
        if status < 200 {
            if let Some(t) = self.txns.get_mut(&id) {
                t.interval = self.timers.t2;
            }
            return None;
        }
        let t = self.txns.remove(&id)?;
        Some(Finished {
            purpose: t.purpose,
            latency: now.saturating_duration_since(t.sent_at),
            retransmits: t.retransmits,
        })
    }

    /// Fires every timer due at `now`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<TimerAction<P>>) {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(t) = self.txns.get_mut(&id) else {
                continue;
            };
            if t.fire_at != at {
                continue;
            }
            if at >= t.deadline {
                if let Some(t) = self.txns.remove(&id) {
                    out.push(TimerAction::Timeout(Finished {
                        purpose: t.purpose,
                        latency: now.saturating_duration_since(t.sent_at),
                        retransmits: t.retransmits,
                    }));
                }
                continue;
            }
            t.retransmits += 1;
            out.push(TimerAction::Retransmit {
                link: t.link,
                bytes: t.bytes.clone(),
            });
            t.interval = (t.interval * 2).min(self.timers.t2);
            t.fire_at = (at + t.interval).min(t.deadline);
            self.heap.push(Reverse((t.fire_at, id)));
        }
    }

    /// When [`Table::poll`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Transactions still outstanding.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Polls every millisecond for `total`, returning when retransmissions
    /// went out and when the timeout came (relative to `t0`).
    fn run(table: &mut Table<u8>, t0: Instant, total: u64) -> (Vec<u64>, Option<u64>) {
        let mut sent = Vec::new();
        let mut timeout = None;
        for i in 0..=total {
            let mut out = Vec::new();
            table.poll(t0 + ms(i), &mut out);
            for a in out {
                match a {
                    TimerAction::Retransmit { .. } => sent.push(i),
                    TimerAction::Timeout(_) => timeout = Some(i),
                }
            }
        }
        (sent, timeout)
    }

    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_ends_at_64_t1() {
        let t0 = Instant::now();
        let mut table = Table::new(Timers::default(), false);
        let id = table.next_id();
        table.insert(id, 1u8, 0, Bytes::from_static(b"x"), t0);
        let (sent, timeout) = run(&mut table, t0, 33_000);
        // 0.5, 1.5, 3.5, 7.5, then every 4 s until 32 s.
        assert_eq!(
            sent,
            vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(timeout, Some(32_000));
        assert!(table.is_empty());
    }

    #[test]
    fn reliable_transport_only_times_out() {
        let t0 = Instant::now();
        let mut table = Table::new(Timers::default(), true);
        let id = table.next_id();
        table.insert(id, 1u8, 0, Bytes::from_static(b"x"), t0);
        let (sent, timeout) = run(&mut table, t0, 33_000);
        assert!(sent.is_empty());
        assert_eq!(timeout, Some(32_000));
    }

    #[test]
    fn final_response_ends_and_measures() {
        let t0 = Instant::now();
        let mut table = Table::new(Timers::default(), false);
        let id = table.next_id();
        table.insert(id, 9u8, 2, Bytes::from_static(b"x"), t0);
        let mut out = Vec::new();
        table.poll(t0 + ms(600), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(table.on_response(id, 100, t0 + ms(700)), None);
        let done = table.on_response(id, 200, t0 + ms(900)).expect("finished");
        assert_eq!(
            done,
            Finished {
                purpose: 9,
                latency: ms(900),
                retransmits: 1
            }
        );
        // A retransmitted 200 finds nothing; the stale timer fires nothing.
        assert_eq!(table.on_response(id, 200, t0 + ms(950)), None);
        let (sent, timeout) = run(&mut table, t0, 40_000);
        assert!(sent.is_empty() && timeout.is_none());
    }

    #[test]
    fn provisional_response_slows_retransmission_to_t2() {
        let t0 = Instant::now();
        let mut table = Table::new(Timers::default(), false);
        let id = table.next_id();
        table.insert(id, 1u8, 0, Bytes::from_static(b"x"), t0);
        table.on_response(id, 100, t0 + ms(100));
        let (sent, _) = run(&mut table, t0, 9_000);
        // The pending T1 firing happens, then T2 spacing.
        assert_eq!(sent, vec![500, 4500, 8500]);
    }
}
