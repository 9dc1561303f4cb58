//! PUBLISH → NOTIFY latency across many presentities and watchers, with
//! state per dialog of one byte and one version number.
//!
//! Every presentity numbers its PUBLISHes with bodies (version 1, 2, ...),
//! and the version travels in the body's marker, which the server copies
//! into its NOTIFYs. A PUBLISH owes a NOTIFY to every watcher whose
//! subscription was active when it was sent; the count of active watchers
//! per presentity is its target. Each dialog remembers the highest version
//! it has accounted for: at activation that is the presentity's latest
//! version (older PUBLISHes owe it nothing), and a NOTIFY carrying version
//! `m` pays every pending PUBLISH of that presentity between the dialog's
//! last version and `m`, since servers coalesce a burst of changes into
//! one NOTIFY of the latest state. A PUBLISH still owed NOTIFYs after the
//! timeout counts each missing one as a failure.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::stats::{Failure, Metric};

/// One PUBLISH whose NOTIFYs are still owed.
#[derive(Debug, Clone, Copy)]
struct Owed {
    version: u32,
    sent_at: Instant,
    steady: bool,
    target: u32,
    reached: u32,
}

/// Where a dialog stands for the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Not (yet) counted among its presentity's watchers.
    Waiting,
    /// Counted: PUBLISHes sent now owe it a NOTIFY.
    Active,
    /// Ended; never counted again.
    Gone,
}

/// The bookkeeping of a run.
#[derive(Debug)]
pub struct Tracker {
    timeout: Duration,
    /// Per presentity: the last version sent.
    sent: Vec<u32>,
    /// Per presentity: active watchers now.
    active: Vec<u32>,
    /// Per presentity: PUBLISHes still owed NOTIFYs, oldest first.
    owed: Vec<VecDeque<Owed>>,
    /// Per dialog: the highest version accounted for.
    credited: Vec<u32>,
    watch: Vec<Watch>,
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    owed_count: usize,
    /// PUBLISH → NOTIFY of PUBLISHes sent while users were signing in.
    pub login: Metric,
    /// The same, for PUBLISHes sent in the steady phase.
    pub steady: Metric,
}

impl Tracker {
    /// A tracker for `presentities`; a NOTIFY not there within `timeout`
    /// of its PUBLISH is a failure.
    pub fn new(presentities: u32, timeout: Duration) -> Tracker {
        let n = presentities as usize;
        Tracker {
            timeout,
            sent: vec![0; n],
            active: vec![0; n],
            owed: vec![VecDeque::new(); n],
            credited: Vec::new(),
            watch: Vec::new(),
            deadlines: BinaryHeap::new(),
            owed_count: 0,
            login: Metric::new("usermodel.notify.login"),
            steady: Metric::new("usermodel.notify.steady"),
        }
    }

    fn dialog_slot(&mut self, d: u32) -> usize {
        let i = d as usize;
        if self.credited.len() <= i {
            self.credited.resize(i + 1, 0);
            self.watch.resize(i + 1, Watch::Waiting);
        }
        i
    }

    /// Dialog `d` on presentity `p` became active: from now on it is owed
    /// a NOTIFY for every PUBLISH of `p`.
    pub fn activated(&mut self, d: u32, p: u32) {
        let i = self.dialog_slot(d);
        let (Some(active), Some(&sent)) =
            (self.active.get_mut(p as usize), self.sent.get(p as usize))
        else {
            return;
        };
        if self.watch[i] != Watch::Waiting {
            return;
        }
        self.watch[i] = Watch::Active;
        *active += 1;
        self.credited[i] = self.credited[i].max(sent);
    }

    /// Dialog `d` on presentity `p` ended (terminated by the server).
    pub fn ended(&mut self, d: u32, p: u32) {
        let i = self.dialog_slot(d);
        if self.watch[i] == Watch::Active {
            if let Some(a) = self.active.get_mut(p as usize) {
                *a = a.saturating_sub(1);
            }
        }
        self.watch[i] = Watch::Gone;
    }

    /// Subscriptions counted active now.
    pub fn active_watchers(&self) -> u64 {
        self.active.iter().map(|&a| u64::from(a)).sum()
    }

    /// Presentity `p` sent PUBLISH `version` at `now`.
    pub fn published(&mut self, p: u32, version: u32, steady: bool, now: Instant) {
        let (Some(sent), Some(&target)) =
            (self.sent.get_mut(p as usize), self.active.get(p as usize))
        else {
            return;
        };
        *sent = version;
        if target == 0 {
            return;
        }
        if let Some(q) = self.owed.get_mut(p as usize) {
            q.push_back(Owed {
                version,
                sent_at: now,
                steady,
                target,
                reached: 0,
            });
            self.owed_count += 1;
            self.deadlines
                .push(Reverse((now + self.timeout, p, version)));
        }
    }

    /// PUBLISH `version` of `p` failed: the server never took the state,
    /// so nobody is owed a NOTIFY for it (the PUBLISH itself is counted
    /// as failed).
    pub fn publish_failed(&mut self, p: u32, version: u32) {
        if let Some(q) = self.owed.get_mut(p as usize) {
            let before = q.len();
            q.retain(|o| o.version != version);
            self.owed_count -= before - q.len();
        }
    }

    /// A NOTIFY on dialog `d` of presentity `p`, carrying `marker`,
    /// arrived at `at`.
    pub fn notified(&mut self, d: u32, p: u32, marker: Option<u64>, at: Instant) {
        let Some(m) = marker.and_then(|m| u32::try_from(m).ok()) else {
            return;
        };
        let i = self.dialog_slot(d);
        let from = self.credited[i];
        if m <= from {
            return;
        }
        self.credited[i] = m;
        if self.watch[i] != Watch::Active {
            return;
        }
        let Some(q) = self.owed.get_mut(p as usize) else {
            return;
        };
        for o in q.iter_mut().filter(|o| o.version > from && o.version <= m) {
            o.reached += 1;
            let metric = if o.steady {
                &mut self.steady
            } else {
                &mut self.login
            };
            metric.ok(at.saturating_duration_since(o.sent_at), 0);
        }
        let before = q.len();
        q.retain(|o| o.reached < o.target);
        self.owed_count -= before - q.len();
    }

    /// Fails the NOTIFYs still owed past their deadline; returns the next
    /// deadline.
    pub fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((at, p, version))) = self.deadlines.peek() {
            if at > now {
                return Some(at);
            }
            self.deadlines.pop();
            let Some(q) = self.owed.get_mut(p as usize) else {
                continue;
            };
            let Some(k) = q.iter().position(|o| o.version == version) else {
                continue;
            };
            if let Some(o) = q.remove(k) {
                self.owed_count -= 1;
                let metric = if o.steady {
                    &mut self.steady
                } else {
                    &mut self.login
                };
                for _ in o.reached..o.target {
                    metric.fail(Failure::Timeout, 0);
                }
            }
        }
        None
    }

    /// PUBLISHes still owed NOTIFYs.
    pub fn owed(&self) -> usize {
        self.owed_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_later_notify_pays_for_coalesced_earlier_publishes() {
        let t0 = Instant::now();
        let mut t = Tracker::new(2, Duration::from_secs(1));
        t.activated(0, 1);
        t.activated(1, 1);
        t.published(1, 1, true, t0);
        t.published(1, 2, true, t0 + MS);
        assert_eq!(t.owed(), 2);
        // Dialog 0 hears only the latest state; dialog 1 hears both.
        t.notified(0, 1, Some(2), t0 + 10 * MS);
        t.notified(1, 1, Some(1), t0 + 3 * MS);
        t.notified(1, 1, Some(2), t0 + 4 * MS);
        assert_eq!(t.steady.completed(), 4);
        assert_eq!(t.owed(), 0);
        assert_eq!(t.steady.quantile(1.0), 10_007, "PUBLISH 1 → dialog 0");
        // A repeated marker pays nothing twice.
        t.notified(0, 1, Some(2), t0 + 20 * MS);
        assert_eq!(t.steady.completed(), 4);
    }

    #[test]
    fn only_watchers_active_at_send_time_are_owed() {
        let t0 = Instant::now();
        let mut t = Tracker::new(1, Duration::from_secs(1));
        t.activated(0, 0);
        t.published(0, 1, false, t0);
        // Dialog 1 becomes active after PUBLISH 1 left: owed nothing for it,
        // even if its first NOTIFY carries it.
        t.activated(1, 0);
        t.notified(1, 0, Some(1), t0 + MS);
        assert_eq!(t.login.completed(), 0);
        t.notified(0, 0, Some(1), t0 + MS);
        assert_eq!((t.login.completed(), t.owed()), (1, 0));
        // Nobody watching: nothing owed.
        let mut lonely = Tracker::new(1, Duration::from_secs(1));
        lonely.published(0, 1, true, t0);
        assert_eq!(lonely.owed(), 0);
    }

    #[test]
    fn missing_notifies_fail_at_the_deadline_and_failed_publishes_owe_none() {
        let t0 = Instant::now();
        let mut t = Tracker::new(1, Duration::from_secs(1));
        for d in 0..3 {
            t.activated(d, 0);
        }
        t.ended(2, 0);
        assert_eq!(t.active_watchers(), 2);
        t.published(0, 1, true, t0);
        t.published(0, 2, true, t0 + MS);
        t.publish_failed(0, 2);
        t.notified(0, 0, Some(1), t0 + MS);
        assert_eq!(t.expire(t0), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.expire(t0 + Duration::from_secs(2)), None);
        assert_eq!((t.steady.completed(), t.steady.failed()), (1, 1));
        assert_eq!(t.owed(), 0);
    }
}
