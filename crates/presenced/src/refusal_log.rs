//! Refusals logged once per source address and reason per interval, and
//! counted by reason, so that a flood (or a client stuck on a wrong
//! password, or looping over its subscription bound) costs one log line
//! every few seconds instead of one per request, and an operator still
//! learns how many there were.
//!
//! Every refusal of the server goes through [`Refusals::note`]: the
//! per-source and per-user flood limits, authentication and rights
//! ([`crate::auth`]), and the engine's refusals by policy
//! ([`presence::Refusal`], which the engine reports as an action because
//! it does not log). The first refusal of a (source, reason) pair is
//! logged at once by the caller, with its details; the next ones within
//! the interval are only counted; when the interval ends, one line says
//! how many were not logged. The decision is [`RefusalLog`], sans-IO and
//! tested with explicit time.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// (source, reason) pairs remembered at most; beyond this the oldest
/// entries are dropped (their next refusal is logged at once, which is
/// harmless).
const CAPACITY: usize = 10_000;

/// The default interval (`limits.log_interval_secs`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// One (source, reason) pair's interval.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When its interval began: the refusal that was logged.
    since: Instant,
    /// Refusals since then that were not logged.
    suppressed: u64,
}

/// Refusals of one source for one reason that were counted but not
/// logged in an interval that has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    /// The source address.
    pub source: IpAddr,
    /// The reason label.
    pub reason: &'static str,
    /// How many were not logged.
    pub count: u64,
}

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admit {
    /// Log it now (the first of its interval).
    pub log: bool,
    /// The pair's previous interval ended and had refusals not logged:
    /// say so first.
    pub ended: Option<Suppressed>,
}

/// Which refusals to log: the sans-IO decision.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    entries: sip::hash::HashMap<(IpAddr, &'static str), Entry>,
}

impl RefusalLog {
    /// One line per source and reason every `interval`.
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog {
            interval,
            entries: sip::hash::map(),
        }
    }

    /// A refusal of `source` for `reason` at `now`.
    pub fn admit(&mut self, source: IpAddr, reason: &'static str, now: Instant) -> Admit {
        let key = (source, reason);
        if let Some(entry) = self.entries.get_mut(&key) {
            if now.saturating_duration_since(entry.since) < self.interval {
                entry.suppressed += 1;
                return Admit {
                    log: false,
                    ended: None,
                };
            }
            let ended = suppressed(key, *entry);
            *entry = Entry {
                since: now,
                suppressed: 0,
            };
            return Admit { log: true, ended };
        }
        if self.entries.len() >= CAPACITY {
            let interval = self.interval;
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.since) < interval);
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(
            key,
            Entry {
                since: now,
                suppressed: 0,
            },
        );
        Admit {
            log: true,
            ended: None,
        }
    }

    /// Closes the intervals that have ended by `now` and returns those
    /// with refusals not logged (called about once a second, so the count
    /// comes when its interval ends, not at the source's next refusal).
    pub fn ended(&mut self, now: Instant) -> Vec<Suppressed> {
        let mut out = Vec::new();
        let interval = self.interval;
        self.entries.retain(|key, entry| {
            if now.saturating_duration_since(entry.since) < interval {
                return true;
            }
            out.extend(suppressed(*key, *entry));
            false
        });
        out
    }

    /// Pairs in an open interval.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no interval is open.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn suppressed((source, reason): (IpAddr, &'static str), entry: Entry) -> Option<Suppressed> {
    (entry.suppressed > 0).then_some(Suppressed {
        source,
        reason,
        count: entry.suppressed,
    })
}

/// The server's one refusal log: shared by the transports' tasks (the
/// per-source limit) and the core (everything else).
#[derive(Debug)]
pub struct Refusals {
    log: Mutex<RefusalLog>,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(DEFAULT_INTERVAL)
    }
}

impl Refusals {
    /// A log writing one line per source and reason every `interval`.
    pub fn new(interval: Duration) -> Refusals {
        Refusals {
            log: Mutex::new(RefusalLog::new(interval)),
        }
    }

    /// Counts a refusal of `source` for `reason` (in
    /// `presenced_refusals_total{reason}`) and says whether the caller
    /// should log it now, with its details and `reason` as a field.
    pub fn note(&self, source: IpAddr, reason: &'static str, now: Instant) -> bool {
        crate::metrics::refused(reason);
        self.note_counted(source, reason, now)
    }

    /// [`Refusals::note`] for a caller that counted the refusal itself
    /// (the transports, with a counter handle: see
    /// [`crate::metrics::SourceRefusalCounters`]).
    pub fn note_counted(&self, source: IpAddr, reason: &'static str, now: Instant) -> bool {
        let admit = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(source, reason, now);
        if let Some(s) = admit.ended {
            write(&s);
        }
        admit.log
    }

    /// Writes the counts of the intervals that ended by `now`.
    pub fn tick(&self, now: Instant) {
        let ended = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ended(now);
        ended.iter().for_each(write);
    }
}

fn write(s: &Suppressed) {
    tracing::warn!(
        source = %s.source,
        reason = s.reason,
        suppressed = s.count,
        "more refusals not logged in the last interval"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn quiet() -> Admit {
        Admit {
            log: false,
            ended: None,
        }
    }

    fn logged(ended: Option<Suppressed>) -> Admit {
        Admit { log: true, ended }
    }

    #[test]
    fn one_line_per_source_and_reason_per_interval() {
        let mut log = RefusalLog::new(10 * SECOND);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(log.admit(a, "wrong_credentials", t0), logged(None));
        assert_eq!(log.admit(a, "wrong_credentials", t0 + SECOND), quiet());
        assert_eq!(log.admit(a, "wrong_credentials", t0 + 2 * SECOND), quiet());
        // Another reason of the same source, and another source: their own
        // intervals.
        assert_eq!(
            log.admit(a, "too_many_subscriptions", t0 + 2 * SECOND),
            logged(None)
        );
        assert_eq!(
            log.admit(b, "wrong_credentials", t0 + 2 * SECOND),
            logged(None)
        );
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn the_count_comes_when_the_interval_ends() {
        let mut log = RefusalLog::new(10 * SECOND);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        log.admit(a, "too_many_subscriptions", t0);
        for i in 1..100 {
            assert_eq!(
                log.admit(a, "too_many_subscriptions", t0 + i * SECOND / 100),
                quiet()
            );
        }
        log.admit(b, "wrong_credentials", t0 + 5 * SECOND);
        // Before the end: nothing to say.
        assert_eq!(log.ended(t0 + 9 * SECOND), []);
        // At the end: a's 99, and its interval is closed; b's (nothing
        // suppressed) is still open.
        assert_eq!(
            log.ended(t0 + 10 * SECOND),
            [Suppressed {
                source: a,
                reason: "too_many_subscriptions",
                count: 99
            }]
        );
        assert_eq!(log.len(), 1);
        // b's ends with nothing suppressed: closed without a line.
        assert_eq!(log.ended(t0 + 15 * SECOND), []);
        assert!(log.is_empty());
        // a's next refusal opens a new interval and is logged at once.
        assert_eq!(
            log.admit(a, "too_many_subscriptions", t0 + 16 * SECOND),
            logged(None)
        );
    }

    #[test]
    fn a_refusal_after_an_unclosed_interval_carries_its_count() {
        let mut log = RefusalLog::new(10 * SECOND);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        log.admit(a, "replayed_nonce", t0);
        log.admit(a, "replayed_nonce", t0 + SECOND);
        log.admit(a, "replayed_nonce", t0 + 2 * SECOND);
        assert_eq!(
            log.admit(a, "replayed_nonce", t0 + 12 * SECOND),
            logged(Some(Suppressed {
                source: a,
                reason: "replayed_nonce",
                count: 2
            }))
        );
        assert_eq!(log.admit(a, "replayed_nonce", t0 + 13 * SECOND), quiet());
    }

    #[test]
    fn a_full_log_forgets_closed_intervals_first() {
        let mut log = RefusalLog::new(SECOND);
        let t0 = Instant::now();
        for i in 0..CAPACITY as u32 {
            log.admit(IpAddr::from(i.to_be_bytes()), "source_rate_limit", t0);
        }
        let late = IpAddr::from([203, 0, 113, 1]);
        assert_eq!(
            log.admit(late, "source_rate_limit", t0 + 2 * SECOND),
            logged(None)
        );
        assert_eq!(log.len(), 1);
    }
}
