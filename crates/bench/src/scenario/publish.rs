//! `publish`: PUBLISH throughput across many presentities, each with a few
//! watchers (so every state change also costs the server its NOTIFYs).
//!
//! Setup subscribes the watchers. Then, for `duration`, PUBLISHes go out at
//! the target rate (or flat out within the window), round robin over the
//! presentities with at most one outstanding per presentity (each depends
//! on the entity-tag the previous one returned). Every presentity walks the
//! RFC 3903 life cycle: create (body, no SIP-If-Match), modify (body),
//! refresh (no body), modify, refresh, remove (Expires: 0), and again. A
//! failure restarts its cycle with a create. Each step is its own metric.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::{Core, Event};
use crate::scenario::{Establish, Layout, Pacer, Poll, Scenario};
use crate::stats::Metric;

/// The knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Watchers and presentities; every watcher subscribes once.
    pub layout: Layout,
    /// PUBLISHes per second, 0 = flat out.
    pub rate: f64,
    /// Most operations outstanding at once.
    pub window: usize,
    /// Length of the measured phase.
    pub duration: Duration,
    /// Expires of the SUBSCRIBEs.
    pub expires: u32,
    /// Expires of the PUBLISHes.
    pub publish_expires: u32,
}

/// One step of a presentity's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Modify,
    Refresh,
    Remove,
}

const CYCLE: [Step; 6] = [
    Step::Create,
    Step::Modify,
    Step::Refresh,
    Step::Modify,
    Step::Refresh,
    Step::Remove,
];

#[derive(Debug, Clone, Default)]
struct Presentity {
    at: usize,
    etag: Option<Bytes>,
    busy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Run(Instant),
    Drain,
    Done,
}

/// The scenario.
#[derive(Debug)]
pub struct Publish {
    cfg: Config,
    phase: Phase,
    setup: Establish,
    metrics: [Metric; 4],
    pacer: Pacer,
    presentities: Vec<Presentity>,
    cursor: usize,
    in_flight: usize,
    marker: u64,
    notifies: u64,
}

fn index(step: Step) -> usize {
    match step {
        Step::Create => 0,
        Step::Modify => 1,
        Step::Refresh => 2,
        Step::Remove => 3,
    }
}

impl Publish {
    /// A scenario with these settings.
    pub fn new(cfg: Config) -> Publish {
        Publish {
            setup: Establish::new(
                "publish.setup",
                cfg.layout,
                cfg.layout.watchers,
                cfg.expires,
                Pacer::new(0.0, cfg.window),
            ),
            metrics: [
                Metric::new("publish.create"),
                Metric::new("publish.modify"),
                Metric::new("publish.refresh"),
                Metric::new("publish.remove"),
            ],
            pacer: Pacer::new(cfg.rate, cfg.window),
            presentities: vec![Presentity::default(); cfg.layout.presentities.max(1) as usize],
            phase: Phase::Setup,
            cursor: 0,
            in_flight: 0,
            marker: 0,
            notifies: 0,
            cfg,
        }
    }

    fn start_one(&mut self, core: &mut Core, now: Instant) -> bool {
        let n = self.presentities.len();
        for _ in 0..n {
            let p = self.cursor % n;
            self.cursor = self.cursor.wrapping_add(1);
            let pres = &mut self.presentities[p];
            if pres.busy {
                continue;
            }
            let step = CYCLE[pres.at % CYCLE.len()];
            let etag = pres.etag.clone();
            pres.busy = true;
            let (expires, marker) = match step {
                Step::Create | Step::Modify => {
                    self.marker += 1;
                    (self.cfg.publish_expires, Some(self.marker))
                }
                Step::Refresh => (self.cfg.publish_expires, None),
                Step::Remove => (0, None),
            };
            let if_match = if step == Step::Create { None } else { etag };
            self.metrics[index(step)].open(now);
            core.publish(p as u32, expires, if_match.as_deref(), marker, now);
            self.in_flight += 1;
            return true;
        }
        false
    }
}

impl Scenario for Publish {
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll {
        loop {
            match self.phase {
                Phase::Setup => {
                    let wake = self.setup.poll(core, now);
                    if !self.setup.is_done() {
                        return Poll::Wake(wake);
                    }
                    self.phase = Phase::Run(now + self.cfg.duration);
                }
                Phase::Run(end) if now >= end => {
                    self.phase = Phase::Drain;
                    for m in &mut self.metrics {
                        m.close(now);
                    }
                }
                Phase::Run(end) => {
                    while self.pacer.ready(now, self.in_flight) {
                        if !self.start_one(core, now) {
                            break;
                        }
                    }
                    let wake = self.pacer.wake().map_or(end, |w| w.min(end));
                    return Poll::Wake(Some(wake));
                }
                Phase::Drain if self.in_flight > 0 => return Poll::Wake(None),
                Phase::Drain => self.phase = Phase::Done,
                Phase::Done => return Poll::Done,
            }
        }
    }

    fn on_event(&mut self, _core: &mut Core, event: Event, now: Instant) {
        match event {
            Event::Subscribed { result, .. } if self.phase == Phase::Setup => {
                self.setup.on_subscribed(&result, now)
            }
            Event::Subscribed { .. } | Event::Batch { .. } => {}
            Event::Notify { .. } => {
                if matches!(self.phase, Phase::Run(_) | Phase::Drain) {
                    self.notifies += 1;
                }
            }
            Event::Published {
                presentity,
                result,
                etag,
            } => {
                let Some(pres) = self.presentities.get_mut(presentity as usize) else {
                    return;
                };
                if !pres.busy {
                    return;
                }
                pres.busy = false;
                self.in_flight = self.in_flight.saturating_sub(1);
                let step = CYCLE[pres.at % CYCLE.len()];
                let metric = &mut self.metrics[index(step)];
                match result {
                    Ok(done) => {
                        metric.ok(done.latency, done.retransmits);
                        pres.etag = if step == Step::Remove { None } else { etag };
                        pres.at = (pres.at + 1) % CYCLE.len();
                    }
                    Err(f) => {
                        metric.fail(f.why, f.retransmits);
                        pres.etag = None;
                        pres.at = 0;
                    }
                }
            }
        }
    }

    fn metrics(&self) -> Vec<&Metric> {
        std::iter::once(&self.setup.metric)
            .chain(self.metrics.iter())
            .collect()
    }

    fn extra(&self) -> BTreeMap<String, f64> {
        let published: u64 = self.metrics.iter().map(Metric::completed).sum();
        BTreeMap::from([
            ("notifies_during_run".to_owned(), self.notifies as f64),
            ("publishes_completed".to_owned(), published as f64),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Engine;
    use crate::template::Names;
    use crate::testkit::{locals, pump, FakeServer};
    use crate::txn::Timers;

    #[test]
    fn every_step_of_the_cycle_runs_and_watchers_hear_changes() {
        let cfg = Config {
            layout: Layout {
                watchers: 6,
                presentities: 3,
            },
            rate: 0.0,
            window: 3,
            duration: Duration::from_millis(20),
            expires: 600,
            publish_expires: 60,
        };
        let core = Core::new(Names::new("p", "bench.test"), locals(), Timers::default());
        let mut engine = Engine::new(core, Box::new(Publish::new(cfg)));
        let mut server = FakeServer::default();
        let t0 = Instant::now();
        let mut now = t0;
        while engine.poll(now) != Poll::Done {
            pump(&mut engine, &mut server, now);
            now += Duration::from_millis(1);
            assert!(now < t0 + Duration::from_secs(1), "did not finish");
        }
        let s = engine.scenario();
        let m = s.metrics();
        assert_eq!(m[0].completed(), 6);
        for step in &m[1..] {
            assert!(step.completed() > 0, "{step:?}");
            assert_eq!(step.failed(), 0);
        }
        // Creates and modifies (2/3 of the changing steps) reach 2 watchers.
        assert!(s.extra()["notifies_during_run"] > 0.0);
    }
}
