//! The workloads, as state machines over the [`Core`]: each decides what to
//! start and when, and counts what finishes. [`Engine`] pairs a scenario
//! with the core and is everything the runtime drives:
//! `handle_message` and `handle_timeout` feed it, `poll` lets the scenario
//! start work and says when to call again, `poll_transmit` drains what to
//! send.

pub mod fanout;
pub mod hold;
pub mod publish;
pub mod subscribe;
pub mod usermodel;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sip::Message;

use crate::core::{Core, Done, Event, Failed, Transmit};
use crate::stats::{MemoryReport, Metric, Verdict};

/// What a scenario's `poll` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Call again at this time at the latest (or on the next event).
    Wake(Option<Instant>),
    /// Finished; report.
    Done,
}

/// One workload.
pub trait Scenario: Send {
    /// Starts what pacing allows and moves between phases.
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll;
    /// Something finished or arrived.
    fn on_event(&mut self, core: &mut Core, event: Event, now: Instant);
    /// The metrics, in report order.
    fn metrics(&self) -> Vec<&Metric>;
    /// The server memory measurement, for `hold`.
    fn memory(&self) -> Option<MemoryReport> {
        None
    }
    /// Scenario-specific figures.
    fn extra(&self) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
    /// Whether the server held the load, for scenarios that judge it.
    fn verdict(&self) -> Option<Verdict> {
        None
    }
}

/// A scenario and the core it drives.
pub struct Engine {
    core: Core,
    scenario: Box<dyn Scenario>,
}

impl Engine {
    /// Pairs them.
    pub fn new(core: Core, scenario: Box<dyn Scenario>) -> Engine {
        Engine { core, scenario }
    }

    /// A message from the server, received at `at`.
    pub fn handle_message(&mut self, msg: Message, at: Instant) {
        self.core.on_message(msg, at);
        self.dispatch(at);
    }

    /// A NOTIFY the runtime scanned and answered itself
    /// (`notify_scan`), received at `at`.
    pub fn handle_notify(&mut self, notify: &crate::notify_scan::Notify, at: Instant) {
        self.core.on_scanned_notify(notify, at);
        self.dispatch(at);
    }

    /// A message the runtime could not parse.
    pub fn handle_unparsable(&mut self) {
        self.core.on_unparsable();
    }

    /// The runtime could not send something.
    pub fn count_send_error(&mut self) {
        self.core.counters.send_errors += 1;
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.on_timer(now);
        self.dispatch(now);
    }

    /// Lets the scenario start work.
    pub fn poll(&mut self, now: Instant) -> Poll {
        let p = self.scenario.poll(&mut self.core, now);
        self.dispatch(now);
        p
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.core.poll_transmit()
    }

    /// When the core's timers next need [`Engine::handle_timeout`].
    pub fn next_timer(&self) -> Option<Instant> {
        self.core.next_timer()
    }

    /// The core, for counters.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The scenario, for its report.
    pub fn scenario(&self) -> &dyn Scenario {
        self.scenario.as_ref()
    }

    fn dispatch(&mut self, now: Instant) {
        while let Some(ev) = self.core.poll_event() {
            self.scenario.on_event(&mut self.core, ev, now);
        }
    }
}

/// Starts operations at a target rate, or flat out, never with more than
/// `window` outstanding.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Option<Duration>,
    next: Option<Instant>,
    window: usize,
}

impl Pacer {
    /// `rate` per second (0 = flat out), at most `window` outstanding.
    pub fn new(rate: f64, window: usize) -> Pacer {
        Pacer {
            interval: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            next: None,
            window: window.max(1),
        }
    }

    /// Whether one more may start now, with `outstanding` in flight.
    /// Consumes the slot when it says yes.
    pub fn ready(&mut self, now: Instant, outstanding: usize) -> bool {
        if outstanding >= self.window {
            return false;
        }
        let Some(interval) = self.interval else {
            return true;
        };
        let next = *self.next.get_or_insert(now);
        if now < next {
            return false;
        }
        // Falling behind by more than a window's worth is not made up in a
        // burst: that would measure the burst, not the rate.
        let floor = now
            .checked_sub(interval * self.window as u32)
            .unwrap_or(now);
        self.next = Some(next.max(floor) + interval);
        true
    }

    /// When the next slot opens, if pacing (not the window) is what waits.
    pub fn wake(&self) -> Option<Instant> {
        self.interval.and(self.next)
    }
}

/// Who subscribes to whom: subscription `k` belongs to watcher `k % W`,
/// whose successive subscriptions go to successive presentities, so no
/// watcher subscribes twice to one presentity while it holds fewer
/// subscriptions than there are presentities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Watcher identities.
    pub watchers: u32,
    /// Presentities.
    pub presentities: u32,
}

impl Layout {
    /// (watcher, presentity) of subscription `k`.
    pub fn place(&self, k: u32) -> (u32, u32) {
        let w = self.watchers.max(1);
        let p = self.presentities.max(1);
        let watcher = k % w;
        let presentity = ((u64::from(watcher) + u64::from(k / w)) % u64::from(p)) as u32;
        (watcher, presentity)
    }
}

/// The batched mode of a setup (the Microsoft dialect): watcher `w` opens
/// one dialog over `contacts` presentities, `w`, `w + 1`, ... modulo
/// `presentities` (so `contacts` ≤ `presentities` keeps them distinct).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batched {
    /// Contacts per watcher, C.
    pub contacts: u32,
    /// Presentities they are drawn from.
    pub presentities: u32,
}

impl Batched {
    /// The contacts of watcher `w`, into `out`.
    pub fn contacts_of(&self, w: u32, out: &mut Vec<u32>) {
        let p = u64::from(self.presentities.max(1));
        out.clear();
        out.extend((0..self.contacts).map(|k| ((u64::from(w) + u64::from(k)) % p) as u32));
    }
}

/// Establishes `total` subscriptions laid out by a [`Layout`], paced,
/// recording each into `metric`. Used by every scenario's setup. In the
/// batched mode each of the `total` is a batched dialog (watcher k of
/// `total`) over its contacts.
#[derive(Debug)]
pub struct Establish {
    batched: Option<Batched>,
    buf: Vec<u32>,
    layout: Layout,
    total: u32,
    started: u32,
    in_flight: usize,
    expires: u32,
    pacer: Pacer,
    /// Latency of SUBSCRIBE → 200 + NOTIFY.
    pub metric: Metric,
}

impl Establish {
    /// `total` subscriptions with `expires`, paced by `pacer`.
    pub fn new(name: &str, layout: Layout, total: u32, expires: u32, pacer: Pacer) -> Establish {
        Establish {
            batched: None,
            buf: Vec::new(),
            layout,
            total,
            started: 0,
            in_flight: 0,
            expires,
            pacer,
            metric: Metric::new(name),
        }
    }

    /// `total` batched dialogs, one per watcher 0..total, over the
    /// contacts `batched` gives each.
    pub fn batched(
        name: &str,
        batched: Batched,
        total: u32,
        expires: u32,
        pacer: Pacer,
    ) -> Establish {
        let mut e = Establish::new(
            name,
            Layout {
                watchers: total,
                presentities: batched.presentities,
            },
            total,
            expires,
            pacer,
        );
        e.batched = Some(batched);
        e
    }

    /// Starts what the pacer allows; returns when to poll again.
    pub fn poll(&mut self, core: &mut Core, now: Instant) -> Option<Instant> {
        self.metric.open(now);
        while self.started < self.total && self.pacer.ready(now, self.in_flight) {
            if let Some(b) = self.batched {
                let w = self.started;
                b.contacts_of(w, &mut self.buf);
                let d = core.add_batch(w);
                core.subscribe_batch(d, &self.buf, self.expires, now);
                self.started += 1;
                self.in_flight += 1;
                continue;
            }
            let (w, p) = self.layout.place(self.started);
            let d = core.add_dialog(w, p);
            core.subscribe(d, self.expires, now);
            self.started += 1;
            self.in_flight += 1;
        }
        if self.started < self.total {
            self.pacer.wake()
        } else {
            None
        }
    }

    /// Counts a finished SUBSCRIBE of this setup.
    pub fn on_subscribed(&mut self, result: &Result<Done, Failed>, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match result {
            Ok(done) => self.metric.ok(done.latency, done.retransmits),
            Err(f) => self.metric.fail(f.why, f.retransmits),
        }
        if self.is_done() {
            self.metric.close(now);
        }
    }

    /// Stops starting more (a time-bounded phase ended).
    pub fn stop(&mut self) {
        self.total = self.started;
    }

    /// Everything started has finished.
    pub fn is_done(&self) -> bool {
        self.started >= self.total && self.in_flight == 0
    }

    /// Still outstanding.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_out_pacer_only_respects_the_window() {
        let now = Instant::now();
        let mut p = Pacer::new(0.0, 3);
        assert!(p.ready(now, 0) && p.ready(now, 2));
        assert!(!p.ready(now, 3));
        assert_eq!(p.wake(), None);
    }

    #[test]
    fn paced_pacer_spaces_starts_and_does_not_burst_after_a_stall() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, 4);
        assert!(p.ready(t0, 0));
        assert!(!p.ready(t0, 0));
        assert_eq!(p.wake(), Some(t0 + Duration::from_millis(1)));
        assert!(p.ready(t0 + Duration::from_millis(1), 0));
        // A 1 s stall allows at most a window's worth of catch-up.
        let late = t0 + Duration::from_secs(1);
        let burst = (0..100).take_while(|_| p.ready(late, 0)).count();
        assert!(burst <= 5, "{burst}");
    }

    #[test]
    fn layout_never_repeats_a_pair_while_presentities_last() {
        let l = Layout {
            watchers: 10,
            presentities: 7,
        };
        let mut seen = std::collections::HashSet::new();
        for k in 0..70 {
            assert!(seen.insert(l.place(k)), "{k}");
        }
        let fan = Layout {
            watchers: 5,
            presentities: 1,
        };
        assert!((0..5).all(|k| fan.place(k) == (k, 0)));
    }

    #[test]
    fn batched_contacts_are_distinct_and_wrap() {
        let b = Batched {
            contacts: 4,
            presentities: 6,
        };
        let mut out = Vec::new();
        b.contacts_of(4, &mut out);
        assert_eq!(out, [4, 5, 0, 1]);
        b.contacts_of(0, &mut out);
        assert_eq!(out, [0, 1, 2, 3]);
    }
}
