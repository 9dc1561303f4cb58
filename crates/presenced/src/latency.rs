//! NOTIFY latency, second by second, for the console's status chart.
//!
//! **Definition.** A NOTIFY's latency is the time from the SIP core's
//! turn that made the state change it carries (the turn that took the
//! PUBLISH, SERVICE, sync-API state, provider input, expiry or
//! occupancy change; the core reads the clock once per turn) to the
//! moment its bytes are handed to the transport (the transaction layer,
//! or the connection for a BENOTIFY). It includes the wait for the
//! change's store commit (no NOTIFY leaves before it is durable) and the
//! fan-out's pace (a fan-out's later chunks count from the turn the
//! fan-out began; while fan-outs follow each other without a turn free
//! of one, every chunk counts from the first one's turn: an
//! overestimate, never an underestimate). A NOTIFY a dialog sends only
//! when its previous one completes (one in flight per dialog,
//! `max_notifies_in_flight`) counts from that completion's turn. The
//! `presenced_notify_latency_seconds` histogram holds every one;
//! [`Seconds`] keeps p50 and p99 of each of the last [`KEPT`] seconds.
//!
//! Each second's durations go into log-scale buckets (4 per octave of
//! microseconds, so a quantile is within 19 % of the truth), never a
//! list of samples: memory is fixed whatever the NOTIFY rate.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Seconds kept.
pub const KEPT: usize = 120;

/// Buckets per second: 4 per octave up to 2^32 µs (over an hour).
const BUCKETS: usize = 128;

fn bucket(d: Duration) -> usize {
    let us = d.as_micros().min(u128::from(u32::MAX)) as f64;
    (((us + 1.0).log2() * 4.0) as usize).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in milliseconds.
fn upper_ms(bucket: usize) -> f64 {
    (2f64.powf((bucket + 1) as f64 / 4.0) - 1.0) / 1000.0
}

/// One second of NOTIFYs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Second {
    /// Seconds since the [`Seconds`] began (the console plots the
    /// differences).
    pub second: u64,
    /// NOTIFYs handed to the transport in that second.
    pub count: u32,
    /// The median latency, in milliseconds.
    pub p50_ms: f64,
    /// The 99th percentile, in milliseconds.
    pub p99_ms: f64,
}

#[derive(Debug)]
struct Open {
    second: u64,
    counts: [u32; BUCKETS],
    total: u32,
}

impl Open {
    fn quantile(&self, q: f64) -> f64 {
        let rank = ((f64::from(self.total) * q).ceil() as u32).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper_ms(i);
            }
        }
        upper_ms(BUCKETS - 1)
    }

    fn close(&self) -> Second {
        Second {
            second: self.second,
            count: self.total,
            p50_ms: self.quantile(0.5),
            p99_ms: self.quantile(0.99),
        }
    }
}

/// The last [`KEPT`] seconds, sans-IO (time is given).
#[derive(Debug)]
pub struct Seconds {
    start: Instant,
    open: Option<Open>,
    closed: VecDeque<Second>,
}

impl Seconds {
    /// Empty, counting seconds from `start`.
    pub fn new(start: Instant) -> Seconds {
        Seconds {
            start,
            open: None,
            closed: VecDeque::with_capacity(KEPT),
        }
    }

    fn second_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    /// Notes one NOTIFY of latency `latency`, handed over at `now`.
    pub fn record(&mut self, latency: Duration, now: Instant) {
        let second = self.second_of(now);
        if self.open.as_ref().is_some_and(|o| o.second != second) {
            self.roll();
        }
        let open = self.open.get_or_insert(Open {
            second,
            counts: [0; BUCKETS],
            total: 0,
        });
        open.counts[bucket(latency)] += 1;
        open.total += 1;
    }

    fn roll(&mut self) {
        if let Some(open) = self.open.take() {
            if self.closed.len() == KEPT {
                self.closed.pop_front();
            }
            self.closed.push_back(open.close());
        }
    }

    /// The finished seconds (not the one under way at `now`), oldest
    /// first; seconds without a NOTIFY are absent.
    pub fn series(&mut self, now: Instant) -> Vec<Second> {
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.second < self.second_of(now))
        {
            self.roll();
        }
        let oldest = self.second_of(now).saturating_sub(KEPT as u64);
        self.closed
            .iter()
            .filter(|s| s.second >= oldest)
            .cloned()
            .collect()
    }
}

/// The seconds shared by the SIP core (which records) and the console.
#[derive(Debug)]
pub struct NotifyLatency {
    seconds: Mutex<Seconds>,
}

impl Default for NotifyLatency {
    fn default() -> NotifyLatency {
        NotifyLatency {
            seconds: Mutex::new(Seconds::new(Instant::now())),
        }
    }
}

impl NotifyLatency {
    /// Notes one NOTIFY handed to the transport now, made at `origin`,
    /// here and in the metrics histogram.
    pub fn record(&self, origin: Instant, now: Instant) {
        let latency = now.saturating_duration_since(origin);
        crate::metrics::notify_latency(latency);
        self.lock().record(latency, now);
    }

    /// The finished seconds, oldest first.
    pub fn series(&self) -> Vec<Second> {
        self.lock().series(Instant::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seconds> {
        self.seconds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The NOTIFYs of one fan-out chunk (the ids one `poll_fanout` call
/// numbered, consecutive) and the turn the fan-out began in: by the
/// definition above, their latency counts from that turn, not from the
/// turn that built them. The core keeps the chunk only while it steps it,
/// so a chunk's NOTIFYs that leave at once need no entry in its table of
/// origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    ids: std::ops::RangeInclusive<u64>,
    since: Instant,
}

impl Chunk {
    /// The chunk of the NOTIFY ids `ids`, in the order they were numbered;
    /// `None` when the call built no NOTIFY.
    pub fn of(mut ids: impl Iterator<Item = u64>, since: Instant) -> Option<Chunk> {
        let first = ids.next()?;
        let last = ids.last().unwrap_or(first);
        Some(Chunk {
            ids: first..=last,
            since,
        })
    }

    /// When the change NOTIFY `id` carries was made, for a NOTIFY queued
    /// in the step under way: the fan-out's first turn when `id` is one of
    /// `chunk`'s, else the step's own clock `now`.
    pub fn origin(chunk: Option<&Chunk>, id: u64, now: Instant) -> Instant {
        match chunk {
            Some(chunk) if chunk.ids.contains(&id) => chunk.since,
            _ => now,
        }
    }
}

#[cfg(test)]
mod tests {
    /// A chunk's NOTIFYs, first to last, count from the fan-out's first
    /// turn; any other NOTIFY of the step, and every NOTIFY of a step
    /// with no chunk, from the step's clock.
    #[test]
    fn a_chunks_notifys_count_from_the_fan_outs_first_turn() {
        let since = Instant::now();
        let now = since + Duration::from_millis(40);
        let chunk = Chunk::of([7, 8, 9, 263].into_iter(), since).expect("ids");
        for id in [7, 100, 263] {
            assert_eq!(Chunk::origin(Some(&chunk), id, now), since, "{id}");
        }
        for id in [6, 264, 0] {
            assert_eq!(Chunk::origin(Some(&chunk), id, now), now, "{id}");
        }
        assert_eq!(Chunk::origin(None, 7, now), now);
        let one = Chunk::of(std::iter::once(5), since).expect("one id");
        assert_eq!(Chunk::origin(Some(&one), 5, now), since);
        assert_eq!(Chunk::origin(Some(&one), 6, now), now);
        assert_eq!(Chunk::of(std::iter::empty(), since), None);
    }

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_second_has_its_median_and_99th_percentile() {
        let t0 = Instant::now();
        let mut s = Seconds::new(t0);
        // Second 0: 98 at 1 ms, 2 at 100 ms.
        for i in 0..100 {
            let d = if i < 98 { MS } else { MS * 100 };
            s.record(d, t0 + MS * 10);
        }
        // Second 2: one at 10 ms. Second 1 had none.
        s.record(MS * 10, t0 + Duration::from_millis(2_500));
        assert!(
            s.series(t0 + Duration::from_millis(2_900)).len() == 1,
            "second 2 is under way"
        );
        let series = s.series(t0 + Duration::from_secs(3));
        assert_eq!(series.len(), 2);
        let first = &series[0];
        assert_eq!((first.second, first.count), (0, 100));
        assert!((1.0..1.2).contains(&first.p50_ms), "{first:?}");
        assert!((100.0..120.0).contains(&first.p99_ms), "{first:?}");
        assert_eq!(series[1].second, 2);
        assert!((10.0..12.0).contains(&series[1].p50_ms), "{:?}", series[1]);
    }

    #[test]
    fn only_the_last_seconds_are_kept() {
        let t0 = Instant::now();
        let mut s = Seconds::new(t0);
        for sec in 0..(KEPT as u64 + 10) {
            s.record(MS, t0 + Duration::from_secs(sec));
        }
        let series = s.series(t0 + Duration::from_secs(KEPT as u64 + 10));
        assert_eq!(series.len(), KEPT);
        assert_eq!(series[0].second, 10);
        // Long quiet: nothing recent to show.
        assert!(s.series(t0 + Duration::from_secs(10_000)).is_empty());
    }

    #[test]
    fn buckets_bound_their_durations() {
        for us in [0u64, 1, 7, 999, 1_000, 65_000, 3_600_000_000] {
            let d = Duration::from_micros(us);
            let upper = upper_ms(bucket(d));
            let ms = us as f64 / 1000.0;
            assert!(upper >= ms, "{us} µs ≤ {upper} ms");
            assert!(upper <= ms * 1.2 + 0.002, "{us} µs: {upper} ms is close");
        }
    }
}
