//! When and where the one outbound connection to the upstream is opened
//! again: the decisions of [`super::uplink`], sans-IO and fed explicit
//! time so that every case is a unit test.
//!
//! - The upstream's name is resolved before the first connection and
//!   again after every failure (a failover may have moved it). A name
//!   that stops resolving keeps its last good addresses meanwhile: the
//!   resolver being down must not take a reachable upstream away.
//! - A failed attempt (refused, timed out, a TLS handshake that fails)
//!   moves to the name's next address; once every address has failed,
//!   the next round waits, doubling from [`FIRST_DELAY`] up to
//!   [`MAX_DELAY`].
//! - A connection that closes after it lived [`STABLE`] clears the
//!   failures (the upstream restarted: reconnect at once); one that
//!   closes sooner counts as a failure, so an upstream that accepts and
//!   hangs up at once is not hammered.
//! - Each wait is spread by up to ±20 % ([`Redial::with_jitter`]), so
//!   that the presenced instances an upstream's restart disconnected
//!   together do not all come back in the same instant.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The wait after the first round of failures.
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between rounds.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A connection that lived this long was a working one.
pub const STABLE: Duration = Duration::from_secs(10);

/// What the connecting task must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Resolve the name, then report with [`Redial::resolved`].
    Resolve,
    /// Connect to this address, then report with [`Redial::connected`]
    /// or [`Redial::failed`].
    Connect(SocketAddr),
    /// Nothing before this time.
    Wait(Instant),
}

/// What a resolution gave, for the caller's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// New addresses are in use.
    Fresh,
    /// The name did not resolve; the last good addresses stay in use.
    KeptLastGood,
    /// The name did not resolve and none ever did: wait and try again.
    Nothing,
}

/// The redial state; see the module documentation.
#[derive(Debug, Clone)]
pub struct Redial {
    /// The last good resolution, in the resolver's order.
    addresses: Vec<SocketAddr>,
    /// The address tried next.
    next: usize,
    /// Failed attempts since the last working connection.
    failures: u32,
    /// The name is to be resolved before the next attempt.
    resolve: bool,
    /// No attempt before this.
    not_before: Option<Instant>,
    /// When the current connection opened.
    opened: Option<Instant>,
    /// The state of the jitter's xorshift generator; `None`: exact waits.
    jitter: Option<u64>,
}

impl Default for Redial {
    fn default() -> Self {
        Redial::new()
    }
}

impl Redial {
    /// Nothing resolved yet: the first step resolves.
    pub fn new() -> Redial {
        Redial {
            addresses: Vec::new(),
            next: 0,
            failures: 0,
            resolve: true,
            not_before: None,
            opened: None,
            jitter: None,
        }
    }

    /// Like [`Redial::new`], with each wait spread by up to ±20 %, drawn
    /// from a generator seeded with `seed` (the caller's randomness: the
    /// decisions stay reproducible in tests).
    pub fn with_jitter(seed: u64) -> Redial {
        Redial {
            // xorshift has one fixed point, zero.
            jitter: Some(seed | 1),
            ..Redial::new()
        }
    }

    /// What to do at `now`.
    pub fn poll(&self, now: Instant) -> Step {
        if let Some(at) = self.not_before.filter(|at| *at > now) {
            return Step::Wait(at);
        }
        if self.resolve {
            return Step::Resolve;
        }
        match self.addresses.get(self.next % self.addresses.len().max(1)) {
            Some(addr) => Step::Connect(*addr),
            None => Step::Resolve,
        }
    }

    /// The name resolved to `found` (empty or `Err`: it did not).
    pub fn resolved<E>(&mut self, found: Result<Vec<SocketAddr>, E>, now: Instant) -> Resolution {
        self.resolve = false;
        match found {
            Ok(found) if !found.is_empty() => {
                if found != self.addresses {
                    self.next = 0;
                }
                self.addresses = found;
                Resolution::Fresh
            }
            _ if !self.addresses.is_empty() => Resolution::KeptLastGood,
            _ => {
                // Nothing to connect to: a failed round.
                self.failures += 1;
                self.resolve = true;
                self.not_before = Some(now + self.delay());
                Resolution::Nothing
            }
        }
    }

    /// The connection to the address of the last [`Step::Connect`] is up.
    pub fn connected(&mut self, now: Instant) {
        self.opened = Some(now);
        self.not_before = None;
    }

    /// The attempt at the last [`Step::Connect`] failed: the next address,
    /// or after a whole round a wait and a new resolution.
    pub fn failed(&mut self, now: Instant) {
        self.failures += 1;
        self.next += 1;
        self.resolve = true;
        if self.next.is_multiple_of(self.addresses.len().max(1)) {
            self.not_before = Some(now + self.delay());
        }
    }

    /// The connection closed (by the peer, a reset, an idle timeout).
    pub fn closed(&mut self, now: Instant) {
        let lived = self
            .opened
            .take()
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        if lived >= STABLE {
            // A working connection lost: at once, to the same address
            // first (a restarted upstream comes back where it was), after
            // the name is looked up again.
            self.failures = 0;
            self.resolve = true;
            self.not_before = None;
        } else {
            self.failed(now);
        }
    }

    /// Failed attempts since the last working connection.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait after `failures` failed attempts, spread when jitter is
    /// on.
    fn delay(&mut self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        let nominal = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
        let Some(state) = self.jitter.as_mut() else {
            return nominal;
        };
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        // A factor in [0.8, 1.2), in thousandths.
        let thousandths = 800 + (*state % 400) as u32;
        nominal.saturating_mul(thousandths) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolves_first_then_connects_and_resolves_again_after_a_loss() {
        let t0 = Instant::now();
        let mut r = Redial::new();
        assert_eq!(r.poll(t0), Step::Resolve);
        let a = addr("192.0.2.1:5060");
        assert_eq!(r.resolved::<()>(Ok(vec![a]), t0), Resolution::Fresh);
        assert_eq!(r.poll(t0), Step::Connect(a));
        r.connected(t0);
        // Lost after a long life: resolve again, then straight back.
        let t1 = t0 + Duration::from_secs(60);
        r.closed(t1);
        assert_eq!(r.poll(t1), Step::Resolve);
        let b = addr("192.0.2.2:5060");
        assert_eq!(r.resolved::<()>(Ok(vec![b]), t1), Resolution::Fresh);
        assert_eq!(r.poll(t1), Step::Connect(b), "the name moved");
        assert_eq!(r.failures(), 0);
    }

    #[test]
    fn refused_attempts_back_off_doubling_up_to_the_cap() {
        let t0 = Instant::now();
        let a = addr("127.0.0.1:5060");
        let mut r = Redial::new();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            loop {
                match r.poll(now) {
                    Step::Resolve => {
                        r.resolved::<()>(Ok(vec![a]), now);
                    }
                    Step::Connect(to) => {
                        assert_eq!(to, a);
                        r.failed(now);
                        break;
                    }
                    Step::Wait(at) => {
                        waits.push(at - now);
                        now = at;
                    }
                }
            }
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(
            ms,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000],
            "no wait before the first attempt"
        );
        // A working connection clears them.
        r.poll(now);
        r.resolved::<()>(Ok(vec![a]), now);
        r.connected(now);
        r.closed(now + STABLE);
        assert_eq!(r.failures(), 0);
        assert_eq!(r.poll(now + STABLE), Step::Resolve);
    }

    /// Waits of a redial that never connects, from `r`.
    fn waits(mut r: Redial, rounds: usize) -> Vec<Duration> {
        let a = addr("127.0.0.1:5060");
        let mut now = Instant::now();
        let mut waits = Vec::new();
        while waits.len() < rounds {
            match r.poll(now) {
                Step::Resolve => {
                    r.resolved::<()>(Ok(vec![a]), now);
                }
                Step::Connect(_) => r.failed(now),
                Step::Wait(at) => {
                    waits.push(at - now);
                    now = at;
                }
            }
        }
        waits
    }

    #[test]
    fn jitter_spreads_each_wait_within_a_fifth_of_its_nominal() {
        let nominal = waits(Redial::new(), 9);
        let spread = waits(Redial::with_jitter(0x5eed), 9);
        for (n, s) in nominal.iter().zip(&spread) {
            assert!(
                *s >= n.mul_f64(0.8) && *s < n.mul_f64(1.2),
                "{s:?} for {n:?}"
            );
        }
        assert_ne!(nominal, spread, "some wait moved");
        assert_ne!(
            spread,
            waits(Redial::with_jitter(42), 9),
            "instances with different seeds wait differently"
        );
        assert_eq!(
            spread,
            waits(Redial::with_jitter(0x5eed), 9),
            "reproducible"
        );
    }

    #[test]
    fn every_address_is_tried_before_a_wait() {
        let t0 = Instant::now();
        let (a, b) = (addr("[2001:db8::1]:5061"), addr("192.0.2.1:5061"));
        let mut r = Redial::new();
        r.resolved::<()>(Ok(vec![a, b]), t0);
        assert_eq!(r.poll(t0), Step::Connect(a));
        r.failed(t0);
        // Resolved again (same answer): the round goes on with b.
        assert_eq!(r.poll(t0), Step::Resolve);
        r.resolved::<()>(Ok(vec![a, b]), t0);
        assert_eq!(r.poll(t0), Step::Connect(b));
        r.failed(t0);
        assert!(matches!(r.poll(t0), Step::Wait(_)), "a whole round failed");
    }

    #[test]
    fn a_name_that_stops_resolving_keeps_the_last_good_address() {
        let t0 = Instant::now();
        let a = addr("192.0.2.1:5060");
        let mut r = Redial::new();
        // Never resolved: back off and try the name again.
        assert_eq!(r.resolved(Err("no such name"), t0), Resolution::Nothing);
        let Step::Wait(at) = r.poll(t0) else {
            panic!("a wait")
        };
        assert_eq!(at - t0, FIRST_DELAY);
        assert_eq!(r.poll(at), Step::Resolve);
        r.resolved::<()>(Ok(vec![a]), at);
        r.connected(at);
        let t1 = at + Duration::from_secs(30);
        r.closed(t1);
        assert_eq!(r.poll(t1), Step::Resolve);
        assert_eq!(r.resolved(Err("SERVFAIL"), t1), Resolution::KeptLastGood);
        assert_eq!(r.poll(t1), Step::Connect(a));
    }

    #[test]
    fn a_connection_that_dies_at_once_counts_as_a_failure() {
        let t0 = Instant::now();
        let a = addr("127.0.0.1:5061");
        let mut r = Redial::new();
        r.resolved::<()>(Ok(vec![a]), t0);
        r.connected(t0);
        r.closed(t0 + Duration::from_millis(5));
        assert_eq!(r.failures(), 1);
        assert!(matches!(r.poll(t0), Step::Wait(_)));
    }
}
