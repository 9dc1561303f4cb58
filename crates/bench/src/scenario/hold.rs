//! `hold`: establish S live subscriptions and measure what they cost the
//! server in resident memory.
//!
//! The server's VmRSS is read before the first SUBSCRIBE, again once all S
//! are established and a settling pause has passed (so NOTIFYs in flight
//! and allocator caches calm down), and a last time after holding them for
//! `duration`. The reading is injected as a function, so this module stays
//! free of I/O; the runtime passes one reading `/proc/PID/status`.
//! Subscriptions are not refreshed: choose `expires` above the whole run.
//!
//! In the batched mode (the Microsoft dialect) each watcher opens one
//! batched dialog over C contacts; `subscriptions` then counts batched
//! dialogs, the memory report's `subscriptions` the watch relations
//! (dialogs × C), and `extra` gives the cost per watched contact and per
//! batched dialog. The first NOTIFY of each dialog must carry a category
//! part for every contact; what it lacks is counted.

use std::time::{Duration, Instant};

use crate::core::{Core, Event};
use crate::scenario::{Batched, Establish, Layout, Pacer, Poll, Scenario};
use crate::stats::{MemoryReport, Metric};

/// Reads the server's resident set in KiB; `None` when it cannot.
pub type RssProbe = Box<dyn FnMut() -> Option<u64> + Send>;

/// The knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who subscribes to whom.
    pub layout: Layout,
    /// S.
    pub subscriptions: u32,
    /// SUBSCRIBEs per second during setup, 0 = flat out.
    pub rate: f64,
    /// Most SUBSCRIBEs outstanding.
    pub window: usize,
    /// Pause between the last subscription and the memory reading.
    pub settle: Duration,
    /// How long to hold them afterwards.
    pub duration: Duration,
    /// Expires of every SUBSCRIBE.
    pub expires: u32,
    /// The server process, for the report.
    pub server_pid: u32,
    /// Batched dialogs (then `subscriptions` counts dialogs) or not.
    pub batched: Option<Batched>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Establish,
    Settle(Instant),
    Hold(Instant),
    Done,
}

/// The scenario.
pub struct Hold {
    cfg: Config,
    phase: Phase,
    setup: Establish,
    probe: Option<RssProbe>,
    memory: MemoryReport,
    lost: u64,
    /// Batched mode: relations the first NOTIFY lacked a part for.
    parts_missing: u64,
    /// Batched mode: resources listed but not active.
    not_active: u64,
    /// Batched mode: category parts received in all.
    parts: u64,
}

impl Hold {
    /// A scenario with these settings; `probe` reads the server's VmRSS.
    pub fn new(cfg: Config, probe: Option<RssProbe>) -> Hold {
        let pacer = Pacer::new(cfg.rate, cfg.window);
        let setup = match cfg.batched {
            Some(b) => {
                Establish::batched("hold.subscribe", b, cfg.subscriptions, cfg.expires, pacer)
            }
            None => Establish::new(
                "hold.subscribe",
                cfg.layout,
                cfg.subscriptions,
                cfg.expires,
                pacer,
            ),
        };
        Hold {
            setup,
            parts_missing: 0,
            not_active: 0,
            parts: 0,
            memory: MemoryReport {
                server_pid: cfg.server_pid,
                ..MemoryReport::default()
            },
            phase: Phase::Start,
            probe,
            lost: 0,
            cfg,
        }
    }

    /// Watch relations per dialog: C when batched, else 1.
    fn contacts(&self) -> u64 {
        self.cfg.batched.map_or(1, |b| u64::from(b.contacts))
    }

    fn read(&mut self) -> Option<u64> {
        self.probe.as_mut().and_then(|p| p())
    }
}

impl Scenario for Hold {
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll {
        loop {
            match self.phase {
                Phase::Start => {
                    self.memory.rss_before_kib = self.read();
                    self.phase = Phase::Establish;
                }
                Phase::Establish => {
                    let wake = self.setup.poll(core, now);
                    if !self.setup.is_done() {
                        return Poll::Wake(wake);
                    }
                    self.phase = Phase::Settle(now + self.cfg.settle);
                }
                Phase::Settle(until) if now < until => return Poll::Wake(Some(until)),
                Phase::Settle(_) => {
                    let dialogs = self.setup.metric.completed().saturating_sub(self.lost);
                    let live = dialogs * self.contacts();
                    self.memory.subscriptions = live;
                    self.memory.rss_after_kib = self.read();
                    if let (Some(before), Some(after)) =
                        (self.memory.rss_before_kib, self.memory.rss_after_kib)
                    {
                        if live > 0 {
                            let grown = after.saturating_sub(before) as f64 * 1024.0;
                            self.memory.bytes_per_subscription = Some(grown / live as f64);
                        }
                    }
                    self.phase = Phase::Hold(now + self.cfg.duration);
                }
                Phase::Hold(until) if now < until => return Poll::Wake(Some(until)),
                Phase::Hold(_) => {
                    self.memory.rss_end_kib = self.read();
                    self.phase = Phase::Done;
                }
                Phase::Done => return Poll::Done,
            }
        }
    }

    fn on_event(&mut self, core: &mut Core, event: Event, now: Instant) {
        match event {
            Event::Subscribed { result, .. } => self.setup.on_subscribed(&result, now),
            Event::Notify { dialog, .. } => {
                // A subscription the server ended no longer counts.
                if core
                    .dialog(dialog)
                    .is_some_and(|d| d.state == crate::dialog::State::Dead)
                {
                    self.lost += 1;
                }
            }
            Event::Batch { dialog, body, .. } => {
                let dead = core
                    .dialog(dialog)
                    .is_some_and(|d| d.state == crate::dialog::State::Dead);
                if dead {
                    self.lost += 1;
                    return;
                }
                self.parts += body.parts.len() as u64;
                if body.full_state {
                    let c = self.contacts();
                    self.parts_missing += c.saturating_sub(body.parts.len() as u64);
                    self.not_active += body.resources.iter().filter(|r| !r.active).count() as u64;
                }
            }
            Event::Published { .. } => {}
        }
    }

    fn metrics(&self) -> Vec<&Metric> {
        vec![&self.setup.metric]
    }

    fn memory(&self) -> Option<MemoryReport> {
        Some(self.memory.clone())
    }

    fn extra(&self) -> std::collections::BTreeMap<String, f64> {
        let mut out = std::collections::BTreeMap::from([(
            "subscriptions_ended_by_server".to_owned(),
            self.lost as f64,
        )]);
        if self.cfg.batched.is_some() {
            let relations = self.memory.subscriptions;
            let dialogs = relations / self.contacts().max(1);
            out.insert("batched_dialogs".to_owned(), dialogs as f64);
            out.insert("watched_contacts".to_owned(), relations as f64);
            out.insert(
                "first_notify_parts_missing".to_owned(),
                self.parts_missing as f64,
            );
            out.insert("resources_not_active".to_owned(), self.not_active as f64);
            out.insert("category_parts".to_owned(), self.parts as f64);
            if let (Some(b), Some(a)) = (self.memory.rss_before_kib, self.memory.rss_after_kib) {
                let grown = a.saturating_sub(b) as f64 * 1024.0;
                if relations > 0 {
                    out.insert(
                        "bytes_per_watched_contact".to_owned(),
                        grown / relations as f64,
                    );
                    out.insert(
                        "bytes_per_batched_dialog".to_owned(),
                        grown / dialogs as f64,
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Engine;
    use crate::template::Names;
    use crate::testkit::{locals, pump, FakeServer};
    use crate::txn::Timers;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn memory_is_read_before_and_after_and_divided() {
        let cfg = Config {
            layout: Layout {
                watchers: 10,
                presentities: 10,
            },
            subscriptions: 100,
            rate: 0.0,
            window: 16,
            settle: Duration::from_millis(5),
            duration: Duration::from_millis(5),
            expires: 3600,
            server_pid: 1,
            batched: None,
        };
        // The "server" grows by 1 KiB per SUBSCRIBE it answered.
        let answered = Arc::new(AtomicU64::new(0));
        let seen = answered.clone();
        let probe: RssProbe = Box::new(move || Some(1000 + seen.load(Ordering::Relaxed)));
        let core = Core::new(Names::new("h", "bench.test"), locals(), Timers::default());
        let mut engine = Engine::new(core, Box::new(Hold::new(cfg, Some(probe))));
        let mut server = FakeServer::default();
        let t0 = Instant::now();
        let mut now = t0;
        while engine.poll(now) != Poll::Done {
            let n = pump(&mut engine, &mut server, now);
            answered.fetch_add(n as u64, Ordering::Relaxed);
            now += Duration::from_millis(1);
            assert!(now < t0 + Duration::from_secs(1), "did not finish");
        }
        let mem = engine.scenario().memory().expect("memory");
        assert_eq!(mem.subscriptions, 100);
        assert_eq!(mem.rss_before_kib, Some(1000));
        assert_eq!(mem.rss_after_kib, Some(1100));
        assert_eq!(mem.bytes_per_subscription, Some(1024.0));
    }
}
