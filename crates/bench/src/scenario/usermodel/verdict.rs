//! Whether a server held the user model: the capacity criterion in one
//! place, so the report, the summary and a search all judge alike.

use std::time::Duration;

#[cfg(test)]
use crate::stats::Failure;
use crate::stats::{Metric, Verdict};

/// Failed over attempted, for the operations of `metrics`; 0 when none
/// was attempted.
pub fn ratio(metrics: &[&Metric]) -> f64 {
    let failed: u64 = metrics.iter().map(|m| m.failed()).sum();
    let all: u64 = metrics.iter().map(|m| m.completed() + m.failed()).sum();
    if all == 0 {
        0.0
    } else {
        failed as f64 / all as f64
    }
}

/// What failed, as two ratios judged apart: the server's answers to the
/// users' requests (SUBSCRIBE, PUBLISH) and the NOTIFYs the watchers
/// waited for. One ratio over both would let the millions of NOTIFYs of a
/// run hide thousands of refused sign-ins (a 2 % refusal rate judged as
/// 0.05 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failures {
    /// Failed requests over requests.
    pub requests: f64,
    /// NOTIFYs that never came over NOTIFYs expected.
    pub notifies: f64,
}

/// Judges a run: steady-phase PUBLISH → NOTIFY p99 under `p99_limit`,
/// failed requests over requests and missing NOTIFYs over NOTIFYs each at
/// most `failure_limit`, and no sign-in `backlog` left when the steady
/// phase began (a server still working off sign-ins was not measured at
/// the load asked for).
pub fn judge(
    steady: &Metric,
    failures: Failures,
    backlog: u64,
    p99_limit: Duration,
    failure_limit: f64,
) -> Verdict {
    let p99_us = steady.quantile(0.99);
    let limit_us = u64::try_from(p99_limit.as_micros()).unwrap_or(u64::MAX);
    let mut reasons = Vec::new();
    if steady.completed() == 0 {
        reasons.push("no PUBLISH → NOTIFY completed in the steady phase".to_owned());
    } else if p99_us >= limit_us {
        reasons.push(format!(
            "steady PUBLISH → NOTIFY p99 {:.0} ms ≥ {:.0} ms",
            p99_us as f64 / 1000.0,
            limit_us as f64 / 1000.0
        ));
    }
    if failures.requests > failure_limit {
        reasons.push(format!(
            "failed requests {:.3}% > {:.3}%",
            failures.requests * 100.0,
            failure_limit * 100.0
        ));
    }
    if failures.notifies > failure_limit {
        reasons.push(format!(
            "NOTIFYs missing {:.3}% > {:.3}%",
            failures.notifies * 100.0,
            failure_limit * 100.0
        ));
    }
    if backlog > 0 {
        reasons.push(format!(
            "{backlog} sign-in SUBSCRIBEs still queued or outstanding when the steady phase began"
        ));
    }
    Verdict {
        held: reasons.is_empty(),
        p99_us,
        p99_limit_us: limit_us,
        failure_ratio: failures.requests,
        failure_limit,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_p99_or_an_empty_phase_does_not_hold() {
        let second = Duration::from_secs(1);
        let mut m = Metric::new("x");
        let none = Failures {
            requests: 0.0,
            notifies: 0.0,
        };
        assert!(!judge(&m, none, 0, second, 0.001).held, "no samples");
        for _ in 0..98 {
            m.ok(Duration::from_millis(10), 0);
        }
        m.ok(Duration::from_millis(1500), 0);
        m.ok(Duration::from_millis(1500), 0);
        let v = judge(&m, none, 0, second, 0.001);
        assert!(!v.held && v.p99_us >= 1_000_000, "{v:?}");
        let v = judge(&m, none, 0, Duration::from_secs(2), 0.001);
        assert!(v.held && v.reasons.is_empty(), "{v:?}");
        let bad = Failures {
            requests: 0.002,
            notifies: 0.002,
        };
        let v = judge(&m, bad, 3, Duration::from_secs(2), 0.001);
        assert_eq!(v.reasons.len(), 3, "{v:?}");
    }

    /// The soak that was called held: 3 324 of 160 000 sign-in SUBSCRIBEs
    /// and 204 PUBLISHes refused, 7 million NOTIFYs delivered. Over every
    /// operation that is 0.05 %; over requests it is 2 %, and not held.
    #[test]
    fn refused_requests_are_not_diluted_by_notifies() {
        let ms = Duration::from_millis(5);
        let (mut subscribe, mut publish, mut notify) =
            (Metric::new("s"), Metric::new("p"), Metric::new("n"));
        for _ in 0..3_324 {
            subscribe.fail(Failure::Status(503), 0);
        }
        for _ in 0..(160_000 - 3_324) {
            subscribe.ok(ms, 0);
        }
        for _ in 0..204 {
            publish.fail(Failure::Status(503), 0);
        }
        for _ in 0..20_000 {
            publish.ok(ms, 0);
        }
        for _ in 0..7_000_000 / 1000 {
            notify.ok(ms, 0);
        }
        // 7 million NOTIFYs, as 7 000 samples of a thousand each.
        let notifies = 7_000_000u64;
        let all_ops = (3_324 + 204) as f64 / (160_000.0 + 20_204.0 + notifies as f64);
        assert!(all_ops < 0.001, "the old ratio passed: {all_ops}");
        let failures = Failures {
            requests: ratio(&[&subscribe, &publish]),
            notifies: ratio(&[&notify]),
        };
        assert!((failures.requests - 3_528.0 / 180_204.0).abs() < 1e-9);
        assert_eq!(failures.notifies, 0.0);
        let v = judge(&notify, failures, 0, Duration::from_secs(1), 0.001);
        assert!(!v.held, "{v:?}");
        assert_eq!(v.failure_ratio, failures.requests);
        assert!(v.reasons[0].starts_with("failed requests 1.958%"), "{v:?}");
    }
}
