//! Refusals logged once per source per interval, so that a flood (or a
//! client stuck on a wrong password) costs one log line every few seconds
//! instead of one per request, and the line says how many were not
//! logged.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Sources remembered at most; beyond this the oldest entries are
/// dropped (their next refusal is logged at once, which is harmless).
const CAPACITY: usize = 10_000;

/// One source's log state.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When its last line was written.
    logged_at: Instant,
    /// Refusals since then that were not logged.
    suppressed: u64,
}

/// Which refusals to log.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    sources: sip::hash::HashMap<IpAddr, Entry>,
}

impl RefusalLog {
    /// One line per source every `interval`.
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog {
            interval,
            sources: sip::hash::map(),
        }
    }

    /// Whether to log a refusal of `source` now: `Some(n)` with the number
    /// of its refusals not logged since its last line, or `None` to stay
    /// quiet.
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> Option<u64> {
        if let Some(entry) = self.sources.get_mut(&source) {
            if now.duration_since(entry.logged_at) < self.interval {
                entry.suppressed += 1;
                return None;
            }
            let suppressed = entry.suppressed;
            *entry = Entry {
                logged_at: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if self.sources.len() >= CAPACITY {
            let interval = self.interval;
            self.sources
                .retain(|_, e| now.duration_since(e.logged_at) < interval);
            if self.sources.len() >= CAPACITY {
                self.sources.clear();
            }
        }
        self.sources.insert(
            source,
            Entry {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_interval_with_the_count() {
        let mut log = RefusalLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(log.admit(a, t0), Some(0));
        assert_eq!(log.admit(a, t0 + Duration::from_secs(1)), None);
        assert_eq!(log.admit(a, t0 + Duration::from_secs(2)), None);
        assert_eq!(log.admit(b, t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(log.admit(a, t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(log.admit(a, t0 + Duration::from_secs(11)), None);
    }
}
