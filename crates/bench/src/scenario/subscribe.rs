//! `subscribe`: how fast new subscription dialogs are made, and then how
//! fast they are refreshed.
//!
//! Phase one starts new dialogs (SUBSCRIBE → 200 → first NOTIFY, timed as
//! one operation) for `duration`, then waits for the stragglers. Phase two
//! refreshes the dialogs that succeeded, round robin, inside their dialogs
//! (RFC 6665 §4.1.2.1; the server answers each refresh with a NOTIFY too,
//! §4.2.2), for `refresh_duration`. Both phases share the pacing settings.

use std::time::{Duration, Instant};

use crate::core::{Core, Event};
use crate::scenario::{Establish, Layout, Pacer, Poll, Scenario};
use crate::stats::Metric;

/// The knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who subscribes to whom.
    pub layout: Layout,
    /// Operations per second, 0 = flat out.
    pub rate: f64,
    /// Most operations outstanding at once.
    pub window: usize,
    /// Length of the new-dialog phase.
    pub duration: Duration,
    /// Length of the refresh phase (0 skips it).
    pub refresh_duration: Duration,
    /// Expires of every SUBSCRIBE.
    pub expires: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    DrainNew,
    Refresh,
    DrainRefresh,
    Done,
}

/// The scenario.
#[derive(Debug)]
pub struct Subscribe {
    cfg: Config,
    phase: Phase,
    phase_end: Option<Instant>,
    new: Establish,
    refresh: Metric,
    pacer: Pacer,
    in_flight: usize,
    cursor: u32,
}

impl Subscribe {
    /// A scenario with these settings.
    pub fn new(cfg: Config) -> Subscribe {
        let pacer = Pacer::new(cfg.rate, cfg.window);
        Subscribe {
            new: Establish::new(
                "subscribe.new",
                cfg.layout,
                u32::MAX,
                cfg.expires,
                pacer.clone(),
            ),
            refresh: Metric::new("subscribe.refresh"),
            pacer,
            phase: Phase::New,
            phase_end: None,
            in_flight: 0,
            cursor: 0,
            cfg,
        }
    }

    /// The next established dialog after the cursor, if any.
    fn next_active(&mut self, core: &Core) -> Option<u32> {
        let n = core.dialog_count();
        for _ in 0..n {
            let d = self.cursor % n;
            self.cursor = self.cursor.wrapping_add(1);
            if core.dialog(d).is_some_and(|x| x.is_active()) {
                return Some(d);
            }
        }
        None
    }
}

fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Scenario for Subscribe {
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll {
        let end = *self.phase_end.get_or_insert(now + self.cfg.duration);
        loop {
            match self.phase {
                Phase::New if now >= end => {
                    self.new.stop();
                    self.phase = Phase::DrainNew;
                }
                Phase::New => return Poll::Wake(earlier(self.new.poll(core, now), Some(end))),
                Phase::DrainNew if self.new.is_done() => {
                    if self.cfg.refresh_duration.is_zero() {
                        self.phase = Phase::Done;
                    } else {
                        self.phase = Phase::Refresh;
                        self.phase_end = Some(now + self.cfg.refresh_duration);
                        self.refresh.open(now);
                        return self.poll(core, now);
                    }
                }
                Phase::DrainNew => return Poll::Wake(None),
                Phase::DrainRefresh if self.in_flight > 0 => return Poll::Wake(None),
                Phase::Refresh if now >= end => self.phase = Phase::DrainRefresh,
                Phase::Refresh => {
                    while self.pacer.ready(now, self.in_flight) {
                        let Some(d) = self.next_active(core) else {
                            break;
                        };
                        core.subscribe(d, self.cfg.expires, now);
                        self.in_flight += 1;
                    }
                    return Poll::Wake(earlier(self.pacer.wake(), Some(end)));
                }
                Phase::DrainRefresh => {
                    self.refresh.close(now);
                    self.phase = Phase::Done;
                }
                Phase::Done => return Poll::Done,
            }
        }
    }

    fn on_event(&mut self, _core: &mut Core, event: Event, now: Instant) {
        let Event::Subscribed { result, .. } = event else {
            return;
        };
        match self.phase {
            Phase::New | Phase::DrainNew => self.new.on_subscribed(&result, now),
            _ => {
                self.in_flight = self.in_flight.saturating_sub(1);
                match result {
                    Ok(done) => self.refresh.ok(done.latency, done.retransmits),
                    Err(f) => self.refresh.fail(f.why, f.retransmits),
                }
            }
        }
    }

    fn metrics(&self) -> Vec<&Metric> {
        vec![&self.new.metric, &self.refresh]
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
    fn new_dialogs_then_refreshes_all_succeed() {
        let cfg = Config {
            layout: Layout {
                watchers: 5,
                presentities: 3,
            },
            rate: 0.0,
            window: 4,
            duration: Duration::from_millis(10),
            refresh_duration: Duration::from_millis(10),
            expires: 600,
        };
        let core = Core::new(Names::new("s", "bench.test"), locals(), Timers::default());
        let mut engine = Engine::new(core, Box::new(Subscribe::new(cfg)));
        let mut server = FakeServer::default();
        let t0 = Instant::now();
        let mut now = t0;
        while engine.poll(now) != Poll::Done {
            pump(&mut engine, &mut server, now);
            now += Duration::from_millis(1);
            assert!(now < t0 + Duration::from_secs(1), "did not finish");
        }
        let m = engine.scenario().metrics();
        // 10 ms with a window of 4 answered at once: 4 per millisecond.
        assert!(m[0].completed() >= 40, "{}", m[0].completed());
        assert!(m[1].completed() >= 40, "{}", m[1].completed());
        assert_eq!(m[0].failed() + m[1].failed(), 0);
        assert_eq!(
            engine.core().counters.notifies,
            m[0].completed() + m[1].completed()
        );
    }
}
