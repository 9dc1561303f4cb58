//! Server nonces: minted without state, checked against time and a
//! secret, and counted so that no answer is accepted twice.
//!
//! A nonce is `timestamp ‖ serial ‖ HMAC-SHA256(secret, timestamp ‖
//! serial ‖ realm)` in hex. Minting one stores nothing, so a flood of
//! unauthenticated requests (each answered with a challenge) costs no
//! memory; checking one needs only the secret and the clock. The serial
//! makes every challenge's nonce unique, so two clients never share a
//! nonce's counts.
//!
//! Replays (RFC 7616 §5.2, §3.4.5's nonce-count): the first *accepted*
//! use of a nonce opens a window of the last [`WINDOW`] counts seen with
//! it; a count seen before, or older than the window, is a replay. Only
//! answers that verified reach [`Nonces::check`], so a forger cannot use
//! up a client's counts. The windows are bounded ([`Nonces::new`]'s
//! `capacity`): when one more would not fit, the oldest is forgotten and
//! every nonce minted up to it is treated as stale from then on, so
//! forgetting never reopens a replay; its client just answers a fresh
//! challenge without asking its user again.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Counts remembered per nonce: UDP may reorder a client's requests by a
/// few, never by 64.
pub const WINDOW: u32 = 64;

/// How far in the future a nonce's timestamp may be (clock steps between
/// minting and checking it).
const SKEW: Duration = Duration::from_secs(5);

/// Hex digits of the timestamp, the serial and the MAC.
const TS_HEX: usize = 16;
const SERIAL_HEX: usize = 16;
const MAC_HEX: usize = 32;

/// What a nonce and its count amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, in time, and the count is new: accept.
    Fresh,
    /// Ours but too old (or forgotten): challenge again with `stale=true`.
    Stale,
    /// Not one of ours: made by another process (another secret) or
    /// forged.
    Foreign,
    /// Ours, in time, but this count was used already (or is outside the
    /// window): a replay.
    Replayed,
}

/// The nonce policy of one realm.
#[derive(Debug)]
pub struct Nonces {
    secret: [u8; 32],
    realm: String,
    lifetime: Duration,
    serial: u64,
    windows: sip::hash::HashMap<(u64, u64), Window>,
    /// Windows in the order they opened, for pruning and eviction.
    order: VecDeque<(u64, u64)>,
    /// Nonces up to this (timestamp, serial) were forgotten: stale.
    floor: Option<(u64, u64)>,
    capacity: usize,
}

/// The counts seen with one nonce: the highest, and a bit for each of the
/// [`WINDOW`] counts below and including it.
#[derive(Debug, Clone, Copy)]
struct Window {
    highest: u32,
    seen: u64,
}

impl Window {
    /// Records `nc`; false if it was seen or is too old.
    fn accept(&mut self, nc: u32) -> bool {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = nc;
            return true;
        }
        let back = self.highest - nc;
        if back >= WINDOW || self.seen & (1 << back) != 0 {
            return false;
        }
        self.seen |= 1 << back;
        true
    }
}

impl Nonces {
    /// A policy with its secret (random per process unless configured),
    /// the realm the nonces are bound to, how long each lives, and how
    /// many nonces' counts are remembered at most.
    pub fn new(secret: [u8; 32], realm: &str, lifetime: Duration, capacity: usize) -> Nonces {
        Nonces {
            secret,
            realm: realm.to_owned(),
            lifetime,
            serial: 0,
            windows: sip::hash::map(),
            order: VecDeque::new(),
            floor: None,
            capacity: capacity.max(1),
        }
    }

    /// A new nonce, valid for the lifetime from `now`.
    pub fn mint(&mut self, now: SystemTime) -> String {
        self.serial += 1;
        let ts = unix_secs(now);
        let mac = self.mac(ts, self.serial);
        let mut nonce = format!("{ts:016x}{:016x}", self.serial);
        for b in &mac[..MAC_HEX / 2] {
            nonce.push_str(&format!("{b:02x}"));
        }
        nonce
    }

    /// Checks a verified answer's nonce and count, recording the count
    /// when it is fresh.
    pub fn check(&mut self, nonce: &str, nc: u32, now: SystemTime) -> NonceCheck {
        let Some((ts, serial, mac)) = split(nonce) else {
            return NonceCheck::Foreign;
        };
        let expected = self.mac(ts, serial);
        if !bool::from(expected[..MAC_HEX / 2].ct_eq(&mac)) {
            return NonceCheck::Foreign;
        }
        let now_secs = unix_secs(now);
        if ts > now_secs + SKEW.as_secs() {
            return NonceCheck::Foreign;
        }
        if now_secs.saturating_sub(ts) >= self.lifetime.as_secs() {
            return NonceCheck::Stale;
        }
        if self.floor.is_some_and(|floor| (ts, serial) <= floor) {
            return NonceCheck::Stale;
        }
        if nc == 0 {
            return NonceCheck::Replayed;
        }
        self.prune(now_secs);
        if let Some(window) = self.windows.get_mut(&(ts, serial)) {
            return if window.accept(nc) {
                NonceCheck::Fresh
            } else {
                NonceCheck::Replayed
            };
        }
        while self.windows.len() >= self.capacity {
            self.forget_oldest();
        }
        // The window opened by the evictions above may have passed this
        // nonce: then it is stale too.
        if self.floor.is_some_and(|floor| (ts, serial) <= floor) {
            return NonceCheck::Stale;
        }
        let window = Window {
            highest: nc,
            seen: 1,
        };
        self.windows.insert((ts, serial), window);
        self.order.push_back((ts, serial));
        NonceCheck::Fresh
    }

    /// Nonces whose counts are remembered now.
    pub fn remembered(&self) -> usize {
        self.windows.len()
    }

    /// Drops the windows of nonces that are stale anyway.
    fn prune(&mut self, now_secs: u64) {
        while let Some(&(ts, serial)) = self.order.front() {
            if now_secs.saturating_sub(ts) < self.lifetime.as_secs() {
                break;
            }
            self.order.pop_front();
            self.windows.remove(&(ts, serial));
        }
    }

    fn forget_oldest(&mut self) {
        if let Some(key) = self.order.pop_front() {
            self.windows.remove(&key);
            self.floor = Some(self.floor.map_or(key, |f| f.max(key)));
        }
    }

    /// HMAC-SHA256 (RFC 2104) of the timestamp, the serial and the realm.
    fn mac(&self, ts: u64, serial: u64) -> [u8; 32] {
        let mut inner_pad = [0x36u8; 64];
        let mut outer_pad = [0x5cu8; 64];
        for (i, k) in self.secret.iter().enumerate() {
            inner_pad[i] ^= k;
            outer_pad[i] ^= k;
        }
        let inner = Sha256::new()
            .chain_update(inner_pad)
            .chain_update(ts.to_be_bytes())
            .chain_update(serial.to_be_bytes())
            .chain_update(self.realm.as_bytes())
            .finalize();
        Sha256::new()
            .chain_update(outer_pad)
            .chain_update(inner)
            .finalize()
            .into()
    }
}

/// The timestamp, serial and MAC of a nonce of our shape.
fn split(nonce: &str) -> Option<(u64, u64, [u8; MAC_HEX / 2])> {
    if nonce.len() != TS_HEX + SERIAL_HEX + MAC_HEX || !nonce.is_ascii() {
        return None;
    }
    let ts = u64::from_str_radix(&nonce[..TS_HEX], 16).ok()?;
    let serial = u64::from_str_radix(&nonce[TS_HEX..TS_HEX + SERIAL_HEX], 16).ok()?;
    let hex = &nonce[TS_HEX + SERIAL_HEX..];
    let mut mac = [0u8; MAC_HEX / 2];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some((ts, serial, mac))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn nonces() -> Nonces {
        Nonces::new([7; 32], "lab.test", Duration::from_secs(300), 1000)
    }

    #[test]
    fn a_fresh_nonce_is_accepted_once_per_count() {
        let mut n = nonces();
        let nonce = n.mint(at(0));
        assert_eq!(n.check(&nonce, 1, at(1)), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, 1, at(2)), NonceCheck::Replayed);
        assert_eq!(n.check(&nonce, 2, at(2)), NonceCheck::Fresh);
    }

    #[test]
    fn counts_may_arrive_out_of_order_within_the_window() {
        let mut n = nonces();
        let nonce = n.mint(at(0));
        assert_eq!(n.check(&nonce, 5, at(1)), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, 3, at(1)), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, 3, at(1)), NonceCheck::Replayed);
        assert_eq!(n.check(&nonce, 100, at(1)), NonceCheck::Fresh);
        // 100 - 5 > WINDOW: too old to tell, so refused.
        assert_eq!(n.check(&nonce, 4, at(1)), NonceCheck::Replayed);
        assert_eq!(n.check(&nonce, 0, at(1)), NonceCheck::Replayed);
    }

    #[test]
    fn nonces_expire_into_stale() {
        let mut n = nonces();
        let nonce = n.mint(at(0));
        assert_eq!(n.check(&nonce, 1, at(299)), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, 2, at(300)), NonceCheck::Stale);
        // Expired windows are dropped when the next nonce is checked.
        let other = n.mint(at(300));
        assert_eq!(n.check(&other, 1, at(301)), NonceCheck::Fresh);
        assert_eq!(n.remembered(), 1);
    }

    #[test]
    fn another_secret_realm_or_a_tampered_nonce_is_foreign() {
        let mut n = nonces();
        let nonce = n.mint(at(0));
        let mut other = Nonces::new([8; 32], "lab.test", Duration::from_secs(300), 10);
        assert_eq!(other.check(&nonce, 1, at(1)), NonceCheck::Foreign);
        let mut realm = Nonces::new([7; 32], "other.test", Duration::from_secs(300), 10);
        assert_eq!(realm.check(&nonce, 1, at(1)), NonceCheck::Foreign);
        // A later timestamp with the old MAC: refused.
        let tampered = format!("{:016x}{}", unix_secs(at(200)), &nonce[TS_HEX..]);
        assert_eq!(n.check(&tampered, 1, at(201)), NonceCheck::Foreign);
        assert_eq!(n.check("abc", 1, at(1)), NonceCheck::Foreign);
        assert_eq!(n.check(&"é".repeat(32), 1, at(1)), NonceCheck::Foreign);
    }

    #[test]
    fn every_challenge_gets_its_own_nonce() {
        let mut n = nonces();
        assert_ne!(n.mint(at(0)), n.mint(at(0)));
    }

    #[test]
    fn forgetting_a_window_makes_its_nonce_stale_not_replayable() {
        let mut n = Nonces::new([7; 32], "lab.test", Duration::from_secs(300), 2);
        let a = n.mint(at(0));
        let b = n.mint(at(0));
        let c = n.mint(at(0));
        assert_eq!(n.check(&a, 1, at(1)), NonceCheck::Fresh);
        assert_eq!(n.check(&b, 1, at(1)), NonceCheck::Fresh);
        assert_eq!(n.check(&c, 1, at(1)), NonceCheck::Fresh);
        assert_eq!(n.remembered(), 2);
        // a's counts are gone: a replay of it is stale, never fresh.
        assert_eq!(n.check(&a, 1, at(2)), NonceCheck::Stale);
        assert_eq!(n.check(&b, 1, at(2)), NonceCheck::Replayed);
    }
}
