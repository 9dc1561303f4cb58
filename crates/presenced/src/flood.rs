//! Flood limits: how much one source address, and one user, may ask of the
//! server per second (the job of Kamailio's pike and ratelimit modules).
//!
//! Each limit is a GCRA bucket per key (governor): `rate` requests a
//! second on average, `burst` at once. A request over the limit gets 503
//! with a Retry-After saying when the bucket has room again (RFC 3261
//! §21.5.4), which a well-behaved client obeys. A source that keeps
//! sending regardless is an obvious flood: once its refusals run past a
//! second bucket of the same size (so past about twice its limit), the
//! excess is dropped in silence, because answering a flood doubles it and
//! hands a spoofer a reflector.
//!
//! The per-source limit runs in the transports, before a request reaches
//! the core's queue: a flood from one address is turned away on the
//! socket tasks and never takes the queue space or the core time that the
//! other clients' requests need. The per-user limit runs in the core
//! after authentication (or on the From's AOR when authentication is off),
//! where the identity is known.
//!
//! The limiter is generic over governor's clock so that unit tests drive
//! it with explicit time.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Network;

/// One limit: `rate` a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed back to back.
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The validated `[limits]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodSettings {
    /// Requests per source address; `None` is unlimited.
    pub per_source: Option<Rate>,
    /// Requests per user (authenticated identity, or the From's AOR);
    /// `None` is unlimited.
    pub per_user: Option<Rate>,
    /// Sources never limited (trusted peers' addresses are added to these).
    pub exempt: Vec<Network>,
    /// How often one source's refusals for one reason are logged at most
    /// (every refusal's, not only the flood limits'; see
    /// [`crate::refusal_log`]).
    pub log_interval: Duration,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Pass,
    /// Over the limit: answer 503 with this Retry-After (seconds, ≥ 1).
    Refuse {
        /// When the bucket has room again, rounded up.
        retry_after_secs: u32,
    },
    /// Far over the limit: drop without an answer.
    Silence,
}

impl Verdict {
    /// The metric label of a refusal.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Refuse { .. } => "503",
            Verdict::Silence => "silent",
        }
    }
}

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One limit over many keys (addresses or users); shareable between
/// threads.
pub struct Limiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    requests: Keyed<K, C>,
    /// Refusals answered; past these, silence.
    answers: Keyed<K, C>,
    clock: C,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for Limiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("keys", &self.requests.len())
            .finish()
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter on the system's monotonic clock.
    pub fn new(rate: Rate) -> Limiter<K> {
        Limiter::with_clock(rate, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Limiter<K, C> {
    /// A limiter on `clock` (tests pass governor's `FakeRelativeClock`).
    pub fn with_clock(rate: Rate, clock: C) -> Limiter<K, C> {
        Limiter {
            requests: RateLimiter::dashmap_with_clock(rate.quota(), clock.clone()),
            answers: RateLimiter::dashmap_with_clock(rate.quota(), clock.clone()),
            clock,
        }
    }

    /// Counts one request of `key` and says what to do with it.
    pub fn check(&self, key: &K) -> Verdict {
        match self.requests.check_key(key) {
            Ok(()) => Verdict::Pass,
            Err(not_until) => {
                if self.answers.check_key(key).is_err() {
                    return Verdict::Silence;
                }
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict::Refuse {
                    retry_after_secs: retry_after(wait),
                }
            }
        }
    }

    /// Forgets keys whose buckets are full again (idle long enough to be
    /// as good as new), so that the memory held follows the sources active
    /// in the last few seconds, not every address ever seen.
    pub fn forget_idle(&self) {
        self.requests.retain_recent();
        self.answers.retain_recent();
        self.requests.shrink_to_fit();
        self.answers.shrink_to_fit();
    }

    /// Keys remembered (for tests and the debug output).
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// Whole seconds, rounded up, at least 1: Retry-After has no fractions.
fn retry_after(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

/// The per-source limit as the transports use it: exempt networks pass
/// without being counted.
#[derive(Debug)]
pub struct SourceLimit<C: Clock = DefaultClock> {
    limiter: Limiter<IpAddr, C>,
    exempt: Vec<Network>,
}

impl SourceLimit {
    /// From the settings, with these sources `exempt`; `None` when there
    /// is no per-source limit.
    pub fn from_settings(settings: &FloodSettings, exempt: Vec<Network>) -> Option<SourceLimit> {
        settings.per_source.map(|rate| SourceLimit {
            limiter: Limiter::new(rate),
            exempt,
        })
    }
}

impl<C: Clock + Clone> SourceLimit<C> {
    /// A limit on `clock` (tests).
    pub fn with_clock(rate: Rate, exempt: Vec<Network>, clock: C) -> SourceLimit<C> {
        SourceLimit {
            limiter: Limiter::with_clock(rate, clock),
            exempt,
        }
    }

    /// Counts one request from `source`.
    pub fn check(&self, source: IpAddr) -> Verdict {
        if self.exempt.iter().any(|n| n.contains(source)) {
            return Verdict::Pass;
        }
        self.limiter.check(&source)
    }

    /// See [`Limiter::forget_idle`].
    pub fn forget_idle(&self) {
        self.limiter.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_burst_passes_then_503_then_silence() {
        let clock = FakeRelativeClock::default();
        let limiter: Limiter<u8, _> = Limiter::with_clock(rate(10, 5), clock.clone());
        for _ in 0..5 {
            assert_eq!(limiter.check(&1), Verdict::Pass);
        }
        // The next five are answered, with a Retry-After rounded up to 1 s.
        for _ in 0..5 {
            assert_eq!(
                limiter.check(&1),
                Verdict::Refuse {
                    retry_after_secs: 1
                }
            );
        }
        // Past twice the burst: an obvious flood, dropped in silence.
        assert_eq!(limiter.check(&1), Verdict::Silence);
        // Another key is not affected.
        assert_eq!(limiter.check(&2), Verdict::Pass);
        // One tenth of a second later there is room for one more.
        clock.advance(Duration::from_millis(100));
        assert_eq!(limiter.check(&1), Verdict::Pass);
        assert_ne!(limiter.check(&1), Verdict::Pass);
    }

    #[test]
    fn the_sustained_rate_passes() {
        let clock = FakeRelativeClock::default();
        let limiter: Limiter<u8, _> = Limiter::with_clock(rate(100, 1), clock.clone());
        for _ in 0..1000 {
            assert_eq!(limiter.check(&7), Verdict::Pass);
            clock.advance(Duration::from_millis(10));
        }
    }

    #[test]
    fn retry_after_says_when_there_is_room() {
        let clock = FakeRelativeClock::default();
        // One request every 4 seconds.
        let limiter: Limiter<u8, _> = Limiter::with_clock(
            Rate {
                per_second: NonZeroU32::new(1).unwrap(),
                burst: NonZeroU32::new(1).unwrap(),
            },
            clock.clone(),
        );
        assert_eq!(limiter.check(&1), Verdict::Pass);
        clock.advance(Duration::from_millis(300));
        assert_eq!(
            limiter.check(&1),
            Verdict::Refuse {
                retry_after_secs: 1
            }
        );
        assert_eq!(retry_after(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after(Duration::ZERO), 1);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter: Limiter<u32, _> = Limiter::with_clock(rate(10, 10), clock.clone());
        for key in 0..100 {
            limiter.check(&key);
        }
        assert_eq!(limiter.len(), 100);
        clock.advance(Duration::from_secs(2));
        limiter.forget_idle();
        assert!(limiter.is_empty());
    }

    #[test]
    fn exempt_sources_are_not_counted() {
        let clock = FakeRelativeClock::default();
        let limit =
            SourceLimit::with_clock(rate(1, 1), vec!["192.0.2.0/24".parse().unwrap()], clock);
        let peer: IpAddr = "192.0.2.9".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..100 {
            assert_eq!(limit.check(peer), Verdict::Pass);
        }
        assert_eq!(limit.check(other), Verdict::Pass);
        assert_ne!(limit.check(other), Verdict::Pass);
    }
}
