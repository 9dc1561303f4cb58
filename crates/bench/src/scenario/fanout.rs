//! `fanout`: W watchers on one presentity; each round is one PUBLISH, timed
//! from its sending to the NOTIFY that reaches the last watcher.
//!
//! Setup subscribes the W watchers (flat out, within the window). Round r
//! then publishes a PIDF whose note carries marker r (a create the first
//! time, a modify under SIP-If-Match after), and waits until every
//! established watcher has had a NOTIFY carrying r. Rounds are sequential
//! with a short gap, so the server's per-dialog coalescing never merges two
//! rounds. A round that has not reached everybody within Timer F (64×T1)
//! fails, and the watchers it missed are counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::{Core, Event};
use crate::scenario::{Establish, Layout, Pacer, Poll, Scenario};
use crate::stats::{Failure, Metric};

/// The knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// W.
    pub watchers: u32,
    /// PUBLISHes to time.
    pub rounds: u32,
    /// Pause between the end of one round and the next PUBLISH.
    pub gap: Duration,
    /// Expires of the SUBSCRIBEs.
    pub expires: u32,
    /// Expires of the PUBLISHes.
    pub publish_expires: u32,
    /// Most SUBSCRIBEs outstanding during setup.
    pub window: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    /// Waiting for round `round`'s NOTIFYs.
    Round {
        sent_at: Instant,
        deadline: Instant,
    },
    Gap(Instant),
    Done,
}

/// The scenario.
#[derive(Debug)]
pub struct Fanout {
    cfg: Config,
    phase: Phase,
    setup: Establish,
    publish: Metric,
    last: Metric,
    each: Metric,
    round: u64,
    etag: Option<Bytes>,
    target: u32,
    reached: u32,
    published: bool,
    last_at: Option<Instant>,
    seen: Vec<bool>,
    missed: u64,
    stale: u64,
}

impl Fanout {
    /// A scenario with these settings.
    pub fn new(cfg: Config) -> Fanout {
        let layout = Layout {
            watchers: cfg.watchers,
            presentities: 1,
        };
        Fanout {
            setup: Establish::new(
                "fanout.setup",
                layout,
                cfg.watchers,
                cfg.expires,
                Pacer::new(0.0, cfg.window),
            ),
            publish: Metric::new("fanout.publish"),
            last: Metric::new("fanout.last"),
            each: Metric::new("fanout.each"),
            phase: Phase::Setup,
            round: 0,
            etag: None,
            target: 0,
            reached: 0,
            published: false,
            last_at: None,
            seen: Vec::new(),
            missed: 0,
            stale: 0,
            cfg,
        }
    }

    fn start_round(&mut self, core: &mut Core, now: Instant) {
        self.round += 1;
        self.target = (0..core.dialog_count())
            .filter(|&d| core.dialog(d).is_some_and(|x| x.is_active()))
            .count() as u32;
        self.seen.clear();
        self.seen.resize(core.dialog_count() as usize, false);
        self.reached = 0;
        self.published = false;
        self.last_at = None;
        self.last.open(now);
        let etag = self.etag.clone();
        core.publish(
            0,
            self.cfg.publish_expires,
            etag.as_deref(),
            Some(self.round),
            now,
        );
        self.phase = Phase::Round {
            sent_at: now,
            deadline: now + core.timers().timeout(),
        };
    }

    fn end_round(&mut self, now: Instant, failure: Option<Failure>) {
        match (failure, self.phase) {
            (None, Phase::Round { sent_at, .. }) => {
                let at = self.last_at.unwrap_or(now);
                self.last.ok(at.saturating_duration_since(sent_at), 0);
            }
            (Some(why), _) => {
                self.missed += u64::from(self.target - self.reached.min(self.target));
                self.last.fail(why, 0);
            }
            _ => {}
        }
        self.last.close(now);
        self.phase = if self.round >= u64::from(self.cfg.rounds) {
            Phase::Done
        } else {
            Phase::Gap(now + self.cfg.gap)
        };
    }

    fn round_complete(&self) -> bool {
        self.published && self.reached >= self.target
    }
}

impl Scenario for Fanout {
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll {
        loop {
            match self.phase {
                Phase::Setup => {
                    let wake = self.setup.poll(core, now);
                    if !self.setup.is_done() {
                        return Poll::Wake(wake);
                    }
                    if self.cfg.rounds == 0 || self.setup.metric.completed() == 0 {
                        self.phase = Phase::Done;
                    } else {
                        self.start_round(core, now);
                    }
                }
                Phase::Round { deadline, .. } if now >= deadline => {
                    self.end_round(now, Some(Failure::Timeout))
                }
                Phase::Round { deadline, .. } => return Poll::Wake(Some(deadline)),
                Phase::Gap(until) if now >= until => self.start_round(core, now),
                Phase::Gap(until) => return Poll::Wake(Some(until)),
                Phase::Done => return Poll::Done,
            }
        }
    }

    fn on_event(&mut self, _core: &mut Core, event: Event, now: Instant) {
        match event {
            Event::Subscribed { result, .. } if self.phase == Phase::Setup => {
                self.setup.on_subscribed(&result, now)
            }
            Event::Subscribed { .. } => {}
            Event::Published { result, etag, .. } => {
                match result {
                    Ok(done) => {
                        self.publish.ok(done.latency, done.retransmits);
                        self.etag = etag;
                        self.published = true;
                        if matches!(self.phase, Phase::Round { .. }) && self.round_complete() {
                            self.end_round(now, None);
                        }
                    }
                    Err(f) => {
                        self.publish.fail(f.why, f.retransmits);
                        // The next round starts a new publication.
                        self.etag = None;
                        if matches!(self.phase, Phase::Round { .. }) {
                            self.end_round(now, Some(f.why));
                        }
                    }
                }
            }
            // Fan-out has no batched mode.
            Event::Batch { .. } => {}
            Event::Notify { dialog, marker, at } => {
                let Phase::Round { sent_at, .. } = self.phase else {
                    return;
                };
                if marker != Some(self.round) {
                    // An older state sent after this round's PUBLISH was
                    // answered: the server notified without the change.
                    self.stale += 1;
                    return;
                }
                let Some(seen) = self.seen.get_mut(dialog as usize) else {
                    return;
                };
                if *seen {
                    return;
                }
                *seen = true;
                self.reached += 1;
                self.each.ok(at.saturating_duration_since(sent_at), 0);
                self.last_at = Some(at);
                if self.round_complete() {
                    self.end_round(now, None);
                }
            }
        }
    }

    fn metrics(&self) -> Vec<&Metric> {
        vec![&self.setup.metric, &self.publish, &self.last, &self.each]
    }

    fn extra(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            (
                "watchers_established".to_owned(),
                self.setup.metric.completed() as f64,
            ),
            ("rounds".to_owned(), self.round as f64),
            ("watchers_missed".to_owned(), self.missed as f64),
            ("stale_notifies".to_owned(), self.stale as f64),
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

    fn engine(watchers: u32, rounds: u32) -> Engine {
        let cfg = Config {
            watchers,
            rounds,
            gap: Duration::from_millis(5),
            expires: 600,
            publish_expires: 60,
            window: 8,
        };
        let core = Core::new(Names::new("f", "bench.test"), locals(), Timers::default());
        Engine::new(core, Box::new(Fanout::new(cfg)))
    }

    #[test]
    fn every_round_reaches_every_watcher() {
        let mut engine = engine(20, 3);
        let mut server = FakeServer::default();
        let t0 = Instant::now();
        let mut now = t0;
        while engine.poll(now) != Poll::Done {
            pump(&mut engine, &mut server, now);
            now += Duration::from_millis(1);
            assert!(now < t0 + Duration::from_secs(1), "did not finish");
        }
        let m = engine.scenario().metrics();
        assert_eq!(m[0].completed(), 20);
        assert_eq!(m[1].completed(), 3);
        assert_eq!(m[2].completed(), 3);
        assert_eq!(m[3].completed(), 60);
        assert_eq!(m[2].failed(), 0);
        // 20 initial NOTIFYs and 3 rounds of 20.
        assert_eq!(server.notifies_sent, 80);
    }

    #[test]
    fn a_silent_server_fails_the_round_at_timer_f() {
        let mut engine = engine(2, 1);
        let mut server = FakeServer::default();
        let t0 = Instant::now();
        // Setup succeeds; then the server stops answering.
        engine.poll(t0);
        pump(&mut engine, &mut server, t0);
        server.silent = true;
        let mut now = t0;
        while engine.poll(now) != Poll::Done {
            pump(&mut engine, &mut server, now);
            engine.handle_timeout(now);
            now += Duration::from_millis(250);
            assert!(now < t0 + Duration::from_secs(40), "did not finish");
        }
        let m = engine.scenario().metrics();
        assert_eq!(m[2].failed(), 1);
        assert_eq!(engine.scenario().extra()["watchers_missed"], 2.0);
    }
}
