//! Timer values (RFC 3261 §17 and Appendix A; Timers L and M from RFC 6026
//! §7.1 and §7.2).
//!
//! Every timer derives from three constants: T1 (the round-trip estimate),
//! T2 (the longest retransmission interval for non-INVITE requests and
//! INVITE responses) and T4 (how long a message may stay in the network).
//! On reliable transports nothing is retransmitted and the timers that only
//! exist to soak up retransmissions (D, I, J, K) are zero.

use std::time::{Duration, Instant};

/// Transaction timer configuration.
///
/// The defaults are the RFC's; an operator changes T1 only on networks
/// whose round trips are known to be longer (or, rarely, much shorter) than
/// 500 ms. Values below one millisecond are treated as one millisecond so
/// that a retransmission timer can never fire in a tight loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// T1, the RTT estimate (default 500 ms): first retransmission interval
    /// and, times 64, the transaction timeout (Timers B, F, H, J, L, M).
    pub t1: Duration,
    /// T2, the cap on retransmission intervals of non-INVITE requests and
    /// INVITE final responses (default 4 s).
    pub t2: Duration,
    /// T4, the longest a message stays in the network (default 5 s): how
    /// long Timers I and K absorb stragglers on unreliable transports.
    pub t4: Duration,
    /// Send `100 Trying` for an INVITE the TU has not answered within
    /// 200 ms (RFC 3261 §17.2.1). Turn off only if the TU always answers an
    /// INVITE at once, since without it the client keeps retransmitting.
    pub auto_100_trying: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            auto_100_trying: true,
        }
    }
}

/// Smallest timer value used, so that retransmission timers always move
/// forward (a zero T1 would otherwise fire forever at the same instant).
const MIN: Duration = Duration::from_millis(1);

/// How long an unanswered INVITE waits before the server sends 100 Trying
/// (RFC 3261 §17.2.1: "within 200 ms").
pub(crate) const TRYING_DELAY: Duration = Duration::from_millis(200);

/// Timer D is "at least 32 seconds for unreliable transports" (§17.1.1.2).
const TIMER_D_MIN: Duration = Duration::from_secs(32);

impl Config {
    pub(crate) fn t1(&self) -> Duration {
        self.t1.max(MIN)
    }

    pub(crate) fn t2(&self) -> Duration {
        self.t2.max(MIN)
    }

    fn t4(&self) -> Duration {
        self.t4.max(MIN)
    }

    /// 64*T1: Timers B, F, H, L and M, and J on unreliable transports.
    pub(crate) fn timeout(&self) -> Duration {
        self.t1().saturating_mul(64)
    }

    /// First interval of Timers A, E and G: T1, and nothing on reliable
    /// transports, where the transport itself retransmits (§17.1.1.2,
    /// §17.1.2.2, §17.2.1).
    pub(crate) fn first_retransmit(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then(|| self.t1())
    }

    /// Timer D (§17.1.1.2): zero on reliable transports, otherwise at least
    /// 32 s and never shorter than the server's Timer H (64*T1), since D is
    /// there to absorb the final responses the server retransmits until H.
    pub(crate) fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout().max(TIMER_D_MIN)
        }
    }

    /// Timers I (§17.2.1) and K (§17.1.2.2): T4, zero on reliable transports.
    pub(crate) fn timer_i_k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4()
        }
    }

    /// Timer J (§17.2.2): 64*T1, zero on reliable transports.
    pub(crate) fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout()
        }
    }
}

/// `now + d` without the panic `Instant + Duration` has on overflow; an
/// absurd configuration then waits a year rather than bringing down the
/// server.
pub(crate) fn deadline(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// True when an armed timer is due.
pub(crate) fn due(timer: Option<Instant>, now: Instant) -> bool {
    timer.is_some_and(|at| at <= now)
}

/// The earliest of a machine's armed timers.
pub(crate) fn earliest(timers: &[Option<Instant>]) -> Option<Instant> {
    timers.iter().flatten().min().copied()
}

/// A retransmission timer (A, E or G): when it fires next and the interval
/// after that.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmit {
    /// Next firing.
    pub(crate) at: Instant,
    /// The interval that brought us to `at`; the next one derives from it.
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// Arms the timer `interval` from now, or not at all (`None`, reliable
    /// transports).
    pub(crate) fn start(now: Instant, interval: Option<Duration>) -> Option<Retransmit> {
        interval.map(|interval| Retransmit {
            at: deadline(now, interval),
            interval,
        })
    }

    /// Re-arms after firing with the next interval: doubled (Timer A,
    /// §17.1.1.2), doubled up to `cap` (Timers E and G, §17.1.2.2,
    /// §17.2.1), or `cap` itself (Timer E in Proceeding).
    pub(crate) fn rearm(&mut self, now: Instant, next: Backoff) {
        self.interval = match next {
            Backoff::Double => self.interval.saturating_mul(2),
            Backoff::DoubleUpTo(cap) => self.interval.saturating_mul(2).min(cap),
            Backoff::Fixed(d) => d,
        };
        self.at = deadline(now, self.interval);
    }
}

/// How the next retransmission interval follows from the last.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backoff {
    /// Double without bound (Timer A: B ends it).
    Double,
    /// Double, but never beyond the cap (T2).
    DoubleUpTo(Duration),
    /// Always this interval.
    Fixed(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliable_transports_zero_the_absorbing_timers() {
        let c = Config::default();
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_i_k(true), Duration::ZERO);
        assert_eq!(c.timer_i_k(false), Duration::from_secs(5));
        assert_eq!(c.timer_j(true), Duration::ZERO);
        assert_eq!(c.timer_j(false), Duration::from_secs(32));
        assert_eq!(c.first_retransmit(true), None);
        assert_eq!(c.first_retransmit(false), Some(Duration::from_millis(500)));
    }

    #[test]
    fn timer_d_is_never_shorter_than_32s_nor_than_timer_h() {
        let short = Config {
            t1: Duration::from_millis(100),
            ..Config::default()
        };
        assert_eq!(short.timer_d(false), Duration::from_secs(32));
        let long = Config {
            t1: Duration::from_secs(1),
            ..Config::default()
        };
        assert_eq!(long.timer_d(false), Duration::from_secs(64));
    }

    #[test]
    fn zero_config_is_clamped() {
        let c = Config {
            t1: Duration::ZERO,
            t2: Duration::ZERO,
            t4: Duration::ZERO,
            auto_100_trying: false,
        };
        assert_eq!(c.first_retransmit(false), Some(MIN));
        assert_eq!(c.timeout(), MIN * 64);
    }
}
