//! Per-operation counters and latency histograms, and the machine-readable
//! report (its schema is documented in the crate's README.md).
//!
//! Latencies are recorded in microseconds into an HDR histogram (1 µs to
//! 10 min, 3 significant digits), so p99 and max are exact to 0.1 % at any
//! rate without keeping samples.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms track; longer ones are clamped.
const MAX_MICROS: u64 = 600_000_000;

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A final response other than 2xx.
    Status(u16),
    /// No final response within Timer F, or an expected NOTIFY never came.
    Timeout,
}

/// One kind of operation: its latency histogram and counts.
#[derive(Debug, Clone)]
pub struct Metric {
    name: String,
    hist: Histogram<u64>,
    completed: u64,
    failed: u64,
    timeouts: u64,
    retransmits: u64,
    statuses: BTreeMap<u16, u64>,
    window: Option<(Instant, Option<Instant>)>,
}

impl Metric {
    /// An empty metric called `name` (`subscribe.new`, `fanout.last`, ...).
    pub fn new(name: &str) -> Metric {
        Metric {
            name: name.to_owned(),
            // 3 significant digits over 1..MAX_MICROS: bounds are valid constants.
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
            completed: 0,
            failed: 0,
            timeouts: 0,
            retransmits: 0,
            statuses: BTreeMap::new(),
            window: None,
        }
    }

    /// Records a success.
    pub fn ok(&mut self, latency: Duration, retransmits: u32) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
        self.hist.saturating_record(us.clamp(1, MAX_MICROS));
        self.completed += 1;
        self.retransmits += u64::from(retransmits);
    }

    /// Records a failure.
    pub fn fail(&mut self, why: Failure, retransmits: u32) {
        self.failed += 1;
        self.retransmits += u64::from(retransmits);
        match why {
            Failure::Status(s) => *self.statuses.entry(s).or_default() += 1,
            Failure::Timeout => self.timeouts += 1,
        }
    }

    /// Starts the window the rate is computed over (the first call wins).
    pub fn open(&mut self, now: Instant) {
        if self.window.is_none() {
            self.window = Some((now, None));
        }
    }

    /// Ends the window (the last call wins).
    pub fn close(&mut self, now: Instant) {
        if let Some((start, _)) = self.window {
            self.window = Some((start, Some(now)));
        }
    }

    /// Operations completed successfully.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Operations failed (timeouts included).
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The latency quantile `q` in µs (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }

    /// The report row; an open window ends at `now`.
    pub fn report(&self, now: Instant) -> MetricReport {
        let seconds = self
            .window
            .map(|(start, end)| {
                end.unwrap_or(now)
                    .saturating_duration_since(start)
                    .as_secs_f64()
            })
            .unwrap_or(0.0);
        let rate = if seconds > 0.0 {
            self.completed as f64 / seconds
        } else {
            0.0
        };
        let empty = self.hist.is_empty();
        let q = |q: f64| {
            if empty {
                0
            } else {
                self.hist.value_at_quantile(q)
            }
        };
        MetricReport {
            name: self.name.clone(),
            completed: self.completed,
            failed: self.failed,
            timeouts: self.timeouts,
            retransmissions: self.retransmits,
            failure_statuses: self
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            window_s: seconds,
            rate_per_s: rate,
            latency_us: LatencyReport {
                min: if empty { 0 } else { self.hist.min() },
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: if empty { 0 } else { self.hist.max() },
                mean: if empty { 0.0 } else { self.hist.mean() },
            },
        }
    }
}

/// Message-level counters of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Requests sent for the first time.
    pub requests_sent: u64,
    /// Retransmissions sent (all operations).
    pub retransmissions: u64,
    /// Responses received that matched an outstanding transaction.
    pub responses: u64,
    /// Responses for no outstanding transaction (late retransmissions).
    pub stray_responses: u64,
    /// NOTIFYs received for one of our dialogs, first copies.
    pub notifies: u64,
    /// NOTIFYs whose CSeq was not new (the server retransmitted).
    pub duplicate_notifies: u64,
    /// NOTIFYs for no dialog of this run.
    pub stray_notifies: u64,
    /// NOTIFYs with Subscription-State: terminated.
    pub terminated_notifies: u64,
    /// Messages the parser rejected, or without the headers we need.
    pub unparsable: u64,
    /// Sends the socket refused.
    pub send_errors: u64,
    /// Of `notifies`, those that came as BENOTIFY (batched dialogs over a
    /// stream; never answered).
    pub benotifies: u64,
    /// Category parts (one contact's state each) in the RLMI bodies of
    /// batched dialogs' NOTIFYs.
    pub batched_parts: u64,
}

/// The latency distribution of one operation, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Fastest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// One operation's row in the report.
#[derive(Debug, Clone, Serialize)]
pub struct MetricReport {
    /// `scenario.operation`.
    pub name: String,
    /// Successes.
    pub completed: u64,
    /// Failures, timeouts included.
    pub failed: u64,
    /// Failures by timeout.
    pub timeouts: u64,
    /// Retransmissions spent on this operation.
    pub retransmissions: u64,
    /// Failures by final status code.
    pub failure_statuses: BTreeMap<String, u64>,
    /// Seconds the rate is computed over.
    pub window_s: f64,
    /// `completed / window_s`.
    pub rate_per_s: f64,
    /// The latency distribution of successes.
    pub latency_us: LatencyReport,
}

/// The server's resident memory before and after the subscriptions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryReport {
    /// The process measured.
    pub server_pid: u32,
    /// Subscriptions live when `rss_after_kib` was read.
    pub subscriptions: u64,
    /// VmRSS before the first SUBSCRIBE.
    pub rss_before_kib: Option<u64>,
    /// VmRSS once every subscription was established and things settled.
    pub rss_after_kib: Option<u64>,
    /// VmRSS at the end of the hold period.
    pub rss_end_kib: Option<u64>,
    /// `(rss_after - rss_before) / subscriptions`, in bytes.
    pub bytes_per_subscription: Option<f64>,
}

/// Everything one run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `presenced-bench`.
    pub tool: &'static str,
    /// The crate version.
    pub version: &'static str,
    /// The subcommand.
    pub scenario: String,
    /// The run id in every name the run created.
    pub run_id: String,
    /// The server address.
    pub server: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The flags, as given or defaulted.
    pub params: serde_json::Value,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_unix_ms: u128,
    /// Seconds the whole run took.
    pub elapsed_s: f64,
    /// One row per operation kind.
    pub operations: Vec<MetricReport>,
    /// Message counters.
    pub messages: Counters,
    /// `hold` only.
    pub memory: Option<MemoryReport>,
    /// Scenario-specific numbers (fan-out watcher counts, ...).
    pub extra: BTreeMap<String, f64>,
    /// Whether the server held the load (`usermodel` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// Whether a server held a load: the capacity criterion, its inputs, and
/// what failed it, so a search can bisect on `held` and a reader can see
/// why.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Every criterion met.
    pub held: bool,
    /// The latency judged, µs (`usermodel`: steady-phase PUBLISH → NOTIFY p99).
    pub p99_us: u64,
    /// Its limit, µs.
    pub p99_limit_us: u64,
    /// Failed requests over requests (`usermodel`: SUBSCRIBE and PUBLISH;
    /// missing NOTIFYs are judged apart, see `reasons`).
    pub failure_ratio: f64,
    /// Its limit.
    pub failure_limit: f64,
    /// The criteria missed, in words; empty when held.
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_uses_the_window_and_quantiles_the_histogram() {
        let t0 = Instant::now();
        let mut m = Metric::new("x.y");
        m.open(t0);
        for i in 1..=100u64 {
            m.ok(Duration::from_micros(i * 10), 0);
        }
        m.fail(Failure::Status(503), 1);
        m.fail(Failure::Timeout, 10);
        m.close(t0 + Duration::from_secs(2));
        let r = m.report(t0 + Duration::from_secs(9));
        assert_eq!(r.completed, 100);
        assert_eq!(r.failed, 2);
        assert_eq!(r.timeouts, 1);
        assert_eq!(r.retransmissions, 11);
        assert_eq!(r.failure_statuses.get("503"), Some(&1));
        assert!((r.rate_per_s - 50.0).abs() < 1e-9);
        assert_eq!(r.latency_us.p50, 500);
        assert_eq!(r.latency_us.max, 1000);
    }

    #[test]
    fn empty_metric_reports_zeros() {
        let r = Metric::new("e").report(Instant::now());
        assert_eq!(r.latency_us.max, 0);
        assert_eq!(r.rate_per_s, 0.0);
    }
}
