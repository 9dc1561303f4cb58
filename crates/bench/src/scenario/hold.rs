//! `hold`: establish S live subscriptions and measure what they cost the
//! server in resident memory.
//!
//! The server's VmRSS is read before the first SUBSCRIBE, again once all S
//! are established and a settling pause has passed (so NOTIFYs in flight
//! and allocator caches calm down), and a last time after holding them for
//! `duration`. The reading is injected as a function, so this module stays
//! free of I/O; the runtime passes one reading `/proc/PID/status`.
//! Subscriptions are not refreshed: choose `expires` above the whole run.

use std::time::{Duration, Instant};

use crate::core::{Core, Event};
use crate::scenario::{Establish, Layout, Pacer, Poll, Scenario};
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
}

impl Hold {
    /// A scenario with these settings; `probe` reads the server's VmRSS.
    pub fn new(cfg: Config, probe: Option<RssProbe>) -> Hold {
        Hold {
            setup: Establish::new(
                "hold.subscribe",
                cfg.layout,
                cfg.subscriptions,
                cfg.expires,
                Pacer::new(cfg.rate, cfg.window),
            ),
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
                    let live = self.setup.metric.completed().saturating_sub(self.lost);
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
        std::collections::BTreeMap::from([(
            "subscriptions_ended_by_server".to_owned(),
            self.lost as f64,
        )])
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
