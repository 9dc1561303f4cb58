//! Whether a server held the user model: the capacity criterion in one
//! place, so the report, the summary and a search all judge alike.

use std::time::Duration;

use crate::stats::{Metric, Verdict};

/// Judges a run: steady-phase PUBLISH → NOTIFY p99 under `p99_limit`,
/// `failure_ratio` at most `failure_limit`, and no sign-in `backlog` left
/// when the steady phase began (a server still working off sign-ins was
/// not measured at the load asked for).
pub fn judge(
    steady: &Metric,
    failure_ratio: f64,
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
    if failure_ratio > failure_limit {
        reasons.push(format!(
            "failures {:.3}% > {:.3}%",
            failure_ratio * 100.0,
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
        failure_ratio,
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
        assert!(!judge(&m, 0.0, 0, second, 0.001).held, "no samples");
        for _ in 0..98 {
            m.ok(Duration::from_millis(10), 0);
        }
        m.ok(Duration::from_millis(1500), 0);
        m.ok(Duration::from_millis(1500), 0);
        let v = judge(&m, 0.0, 0, second, 0.001);
        assert!(!v.held && v.p99_us >= 1_000_000, "{v:?}");
        let v = judge(&m, 0.0, 0, Duration::from_secs(2), 0.001);
        assert!(v.held && v.reasons.is_empty(), "{v:?}");
        let v = judge(&m, 0.002, 3, Duration::from_secs(2), 0.001);
        assert_eq!(v.reasons.len(), 2, "{v:?}");
    }
}
