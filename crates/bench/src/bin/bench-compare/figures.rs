//! From presenced-bench's JSON reports to the comparison table: which figure
//! each scenario contributes, the loopback ceiling in the same unit, the
//! ratio, and whether the targets are met (issue 4's against Kamailio,
//! issue 9's against the loopback).
//!
//! Everything read from the JSON is optional: a missing or malformed field
//! makes that cell empty, never a panic.

use serde::Serialize;
use serde_json::Value;

/// One measurement: a scenario against one server in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub scenario: String,
    pub server: String,
    pub round: u32,
    /// presenced-bench's report (null when it produced none).
    pub report: Value,
    /// Server memory before and after `hold` (bytes): shm or RSS, and PSS.
    pub memory: Option<MemoryDelta>,
    /// presenced-bench's exit code (0 all ok, 3 some failed).
    pub exit_code: Option<i32>,
}

/// What the driver read around a `hold` run.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryDelta {
    /// presenced: VmRSS; Kamailio: shared memory in use (core.shmmem real_used).
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// Proportional set size of all the server's processes.
    pub pss_before: Option<u64>,
    pub pss_after: Option<u64>,
}

/// What the loopback allowed in the same run, the figures' ceilings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loopback {
    /// Datagrams per second between echoing socket pairs, back to back.
    pub packets_per_s: Option<f64>,
    /// One round trip at a time with 2 ms idle between them (the
    /// one-watcher scenario's pacing), µs: median.
    pub paced_p50_us: Option<f64>,
    /// The same, 99th percentile.
    pub paced_p99_us: Option<f64>,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// A row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub figure: String,
    pub unit: String,
    pub better: Better,
    /// The best the loopback allows, in the figure's unit.
    pub ceiling: Option<f64>,
    /// Median over rounds.
    pub kamailio: Option<f64>,
    pub presenced: Option<f64>,
    /// How many times better presenced is: P/K when higher is better, K/P when lower.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
    pub kamailio_rounds: Vec<f64>,
    pub presenced_rounds: Vec<f64>,
    /// Failed + timed-out operations, all rounds.
    pub kamailio_failed: u64,
    pub presenced_failed: u64,
}

/// A figure of a scenario.
struct Spec {
    figure: &'static str,
    unit: &'static str,
    better: Better,
    /// Target on the ratio (`Some(2.0)`: ≥ 2×; `Some(1.0)`: better at all).
    ratio_target: Option<f64>,
    /// Target on presenced's own value (below).
    presenced_below: Option<f64>,
    /// Target on presenced's value against the ceiling: at most this many
    /// times it (a time; issue 9's targets).
    within_ceiling: Option<f64>,
    value: fn(&Run) -> Option<f64>,
    ceiling: fn(&Value, &Loopback) -> Option<f64>,
}

fn specs(scenario: &str) -> Vec<Spec> {
    match scenario {
        "subscribe" => vec![
            Spec {
                figure: "new dialogs (SUBSCRIBE→200+NOTIFY)",
                unit: "/s",
                better: Better::Higher,
                ratio_target: Some(2.0),
                presenced_below: None,
                within_ceiling: None,
                value: |r| op_f64(&r.report, "subscribe.new", "rate_per_s"),
                ceiling: |_, l| Some(l.packets_per_s? / 4.0),
            },
            Spec {
                figure: "in-dialog refreshes",
                unit: "/s",
                better: Better::Higher,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: |r| op_f64(&r.report, "subscribe.refresh", "rate_per_s"),
                ceiling: |_, l| Some(l.packets_per_s? / 4.0),
            },
        ],
        "publish" => vec![Spec {
            figure: "PUBLISH (create/modify/refresh/remove)",
            unit: "/s",
            better: Better::Higher,
            ratio_target: Some(2.0),
            presenced_below: None,
            within_ceiling: None,
            value: publish_rate,
            // PUBLISH + 200, then NOTIFY + 200 per watcher of the presentity.
            ceiling: |report, l| {
                let pps = l.packets_per_s?;
                let w = param(report, "watchers")?;
                let p = param(report, "presentities")?.max(1.0);
                Some(pps / (2.0 + 2.0 * w / p))
            },
        }],
        "fanout" => vec![
            Spec {
                figure: "PUBLISH → last watcher's NOTIFY, p50",
                unit: "ms",
                better: Better::Lower,
                ratio_target: Some(1.0),
                presenced_below: None,
                // At least half the loopback's rate (issue 9).
                within_ceiling: Some(2.0),
                value: |r| op_latency_ms(&r.report, "fanout.last", "p50"),
                ceiling: fanout_ceiling,
            },
            Spec {
                figure: "PUBLISH → last watcher's NOTIFY, max",
                unit: "ms",
                better: Better::Lower,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: |r| op_latency_ms(&r.report, "fanout.last", "max"),
                ceiling: fanout_ceiling,
            },
        ],
        "one" => vec![
            Spec {
                figure: "one watcher, paced: PUBLISH → NOTIFY, p50",
                unit: "ms",
                better: Better::Lower,
                ratio_target: Some(1.0),
                presenced_below: None,
                within_ceiling: None,
                value: |r| op_latency_ms(&r.report, "fanout.each", "p50"),
                ceiling: |_, l| Some(l.paced_p50_us? / 1000.0),
            },
            Spec {
                figure: "one watcher, paced: PUBLISH → NOTIFY, p99",
                unit: "ms",
                better: Better::Lower,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: Some(3.0),
                value: |r| op_latency_ms(&r.report, "fanout.each", "p99"),
                ceiling: |_, l| Some(l.paced_p99_us? / 1000.0),
            },
        ],
        "hold" => vec![
            Spec {
                figure: "memory per live subscription (K: shm, P: RSS)",
                unit: "B",
                better: Better::Lower,
                ratio_target: None,
                presenced_below: Some(1024.0),
                within_ceiling: None,
                value: |r| per_subscription(r, false),
                ceiling: |_, _| None,
            },
            Spec {
                figure: "memory per live subscription (PSS, all processes)",
                unit: "B",
                better: Better::Lower,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: |r| per_subscription(r, true),
                ceiling: |_, _| None,
            },
        ],
        "usermodel" => vec![
            Spec {
                figure: "usermodel: largest N held (search)",
                unit: "users",
                better: Better::Higher,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: |r| r.report.get("largest_users_held")?.as_f64(),
                ceiling: |_, _| None,
            },
            Spec {
                figure: "usermodel: steady PUBLISH → NOTIFY p99",
                unit: "ms",
                better: Better::Lower,
                ratio_target: Some(1.0),
                presenced_below: None,
                within_ceiling: None,
                value: |r| op_latency_ms(&r.report, "usermodel.notify.steady", "p99"),
                ceiling: |_, _| None,
            },
            Spec {
                figure: "usermodel: held (p99 < 1 s, failures ≤ 0.1%)",
                unit: "1/0",
                better: Better::Higher,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: |r| r.report.get("extra")?.get("held")?.as_f64(),
                ceiling: |_, _| None,
            },
            Spec {
                figure: "usermodel: memory per live subscription (K: shm, P: RSS)",
                unit: "B",
                better: Better::Lower,
                ratio_target: None,
                presenced_below: None,
                within_ceiling: None,
                value: usermodel_per_subscription,
                ceiling: |_, _| None,
            },
        ],
        _ => Vec::new(),
    }
}

/// Memory growth over the run per subscription live at its end (a single
/// run leaves them in place, and the driver reads after it).
fn usermodel_per_subscription(run: &Run) -> Option<f64> {
    let m = run.memory.as_ref()?;
    let live = run
        .report
        .get("extra")?
        .get("subscriptions_live")?
        .as_f64()?;
    let grown = m.after?.saturating_sub(m.before?) as f64;
    (live > 0.0).then(|| grown / live)
}

/// The SUBSCRIBE and PUBLISH datagrams of one fan-out round at loopback speed.
fn fanout_ceiling(report: &Value, l: &Loopback) -> Option<f64> {
    let pps = l.packets_per_s?;
    let w = param(report, "watchers")?;
    (pps > 0.0).then(|| (2.0 + 2.0 * w) / pps * 1000.0)
}

/// Builds the rows of one scenario from all its runs.
pub fn rows(scenario: &str, runs: &[&Run], loopback: &Loopback) -> Vec<Row> {
    let mut out = Vec::new();
    for spec in specs(scenario) {
        let values = |server: &str| -> Vec<f64> {
            runs.iter()
                .filter(|r| r.server == server)
                .filter_map(|r| (spec.value)(r))
                .collect()
        };
        let failed = |server: &str| -> u64 {
            runs.iter()
                .filter(|r| r.server == server)
                .map(|r| failures(&r.report))
                .sum()
        };
        let (kr, pr) = (values("kamailio"), values("presenced"));
        let (k, p) = (median(&kr), median(&pr));
        let ratio = match (k, p, spec.better) {
            (Some(k), Some(p), Better::Higher) if k > 0.0 => Some(p / k),
            (Some(k), Some(p), Better::Lower) if p > 0.0 => Some(k / p),
            _ => None,
        };
        let ceiling = runs
            .first()
            .and_then(|r| (spec.ceiling)(&r.report, loopback));
        // Each target of the spec on its own; the row meets them all.
        let mut goals: Vec<(String, Option<bool>)> = Vec::new();
        if let Some(t) = spec.ratio_target {
            goals.push(if t > 1.0 {
                (format!("ratio ≥ {t}"), ratio.map(|r| r >= t))
            } else {
                ("presenced sooner".to_owned(), ratio.map(|r| r > t))
            });
        }
        if let Some(times) = spec.within_ceiling {
            goals.push((
                format!("presenced ≤ {times}× ceiling"),
                p.zip(ceiling).map(|(p, c)| at_most(p, times * c)),
            ));
        }
        if let Some(b) = spec.presenced_below {
            goals.push((format!("presenced < {b} B"), p.map(|p| p < b)));
        }
        let (target, met) = if goals.is_empty() {
            ("-".to_owned(), None)
        } else {
            let text: Vec<&str> = goals.iter().map(|(t, _)| t.as_str()).collect();
            let met = goals
                .iter()
                .try_fold(true, |all, (_, m)| m.map(|m| all && m));
            (text.join(", "), met)
        };
        // A figure from runs where presenced failed operations does not
        // meet a target, whatever the surviving samples say.
        let presenced_failed = failed("presenced");
        let met = met.map(|m| m && presenced_failed == 0);
        out.push(Row {
            scenario: scenario.to_owned(),
            figure: spec.figure.to_owned(),
            unit: spec.unit.to_owned(),
            better: spec.better,
            ceiling,
            kamailio: k,
            presenced: p,
            ratio,
            target,
            met,
            kamailio_rounds: kr,
            presenced_rounds: pr,
            kamailio_failed: failed("kamailio"),
            presenced_failed,
        });
    }
    out
}

/// `value ≤ bound`, where both come from µs turned into ms: a figure exactly
/// at its bound (450 µs against 3 × 150 µs) must not miss by a rounding.
fn at_most(value: f64, bound: f64) -> bool {
    value <= bound + bound.abs() * 1e-9
}

pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The operation row named `name` of a report.
pub fn operation<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report
        .get("operations")?
        .as_array()?
        .iter()
        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
}

fn op_f64(report: &Value, name: &str, field: &str) -> Option<f64> {
    operation(report, name)?.get(field)?.as_f64()
}

fn op_latency_ms(report: &Value, name: &str, pct: &str) -> Option<f64> {
    let op = operation(report, name)?;
    if op.get("completed")?.as_u64()? == 0 {
        return None;
    }
    Some(op.get("latency_us")?.get(pct)?.as_f64()? / 1000.0)
}

fn param(report: &Value, name: &str) -> Option<f64> {
    report.get("params")?.get(name)?.as_f64()
}

/// All PUBLISHes completed per second over the longest window of the four kinds.
fn publish_rate(run: &Run) -> Option<f64> {
    let kinds = [
        "publish.create",
        "publish.modify",
        "publish.refresh",
        "publish.remove",
    ];
    let mut completed = 0u64;
    let mut window = 0.0f64;
    for k in kinds {
        let op = operation(&run.report, k)?;
        completed += op.get("completed")?.as_u64()?;
        window = window.max(op.get("window_s")?.as_f64()?);
    }
    (window > 0.0).then(|| completed as f64 / window)
}

/// Failed and timed-out operations of a report.
pub fn failures(report: &Value) -> u64 {
    let Some(ops) = report.get("operations").and_then(Value::as_array) else {
        return 0;
    };
    ops.iter()
        .map(|o| {
            let f = o.get("failed").and_then(Value::as_u64).unwrap_or(0);
            let t = o.get("timeouts").and_then(Value::as_u64).unwrap_or(0);
            f + t
        })
        .sum()
}

fn per_subscription(run: &Run, pss: bool) -> Option<f64> {
    let m = run.memory.as_ref()?;
    let (before, after) = if pss {
        (m.pss_before?, m.pss_after?)
    } else {
        (m.before?, m.after?)
    };
    let subs = operation(&run.report, "hold.subscribe")?
        .get("completed")?
        .as_u64()?;
    (subs > 0).then(|| after.saturating_sub(before) as f64 / subs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server: &str, rate: f64) -> Run {
        Run {
            scenario: "subscribe".into(),
            server: server.into(),
            round: 1,
            report: serde_json::json!({
                "params": {},
                "operations": [{"name": "subscribe.new", "rate_per_s": rate, "failed": 1,
                                "timeouts": 2, "completed": 10}]
            }),
            memory: None,
            exit_code: Some(0),
        }
    }

    fn pps(packets_per_s: f64) -> Loopback {
        Loopback {
            packets_per_s: Some(packets_per_s),
            ..Loopback::default()
        }
    }

    fn one_watcher(server: &str, p50_us: f64, p99_us: f64) -> Run {
        Run {
            scenario: "one".into(),
            server: server.into(),
            round: 1,
            report: serde_json::json!({
                "params": {"watchers": 1},
                "operations": [{"name": "fanout.each", "completed": 1000,
                                "latency_us": {"p50": p50_us, "p99": p99_us}}]
            }),
            memory: None,
            exit_code: Some(0),
        }
    }

    #[test]
    fn one_watcher_p99_is_held_to_three_paced_round_trips() {
        let loopback = Loopback {
            paced_p50_us: Some(40.0),
            paced_p99_us: Some(150.0),
            ..Loopback::default()
        };
        let k = one_watcher("kamailio", 700.0, 2000.0);
        let near = one_watcher("presenced", 200.0, 450.0);
        let rows = rows("one", &[&k, &near], &loopback);
        assert_eq!(rows[0].ceiling, Some(0.04));
        assert!(rows[0].ratio.is_some_and(|r| (r - 3.5).abs() < 1e-9));
        assert_eq!(rows[0].met, Some(true));
        assert_eq!(rows[1].ceiling, Some(0.15));
        assert_eq!(rows[1].target, "presenced ≤ 3× ceiling");
        assert_eq!(rows[1].met, Some(true));
        let far = one_watcher("presenced", 200.0, 451.0);
        assert_eq!(
            super::rows("one", &[&k, &far], &loopback)[1].met,
            Some(false)
        );
        // No paced ceiling measured: no verdict rather than a wrong one.
        let blind = super::rows("one", &[&k, &far], &Loopback::default());
        assert_eq!((blind[1].ceiling, blind[1].met), (None, None));
    }

    #[test]
    fn fan_out_must_beat_kamailio_and_reach_half_the_loopback() {
        let fan = |server: &str, p50_us: f64| Run {
            scenario: "fanout".into(),
            server: server.into(),
            round: 1,
            report: serde_json::json!({
                "params": {"watchers": 9999},
                "operations": [{"name": "fanout.last", "completed": 5,
                                "latency_us": {"p50": p50_us}}]
            }),
            memory: None,
            exit_code: Some(0),
        };
        // 20 000 datagrams per round at 100 000/s: the ceiling is 200 ms.
        let k = fan("kamailio", 900_000.0);
        let rows = rows(
            "fanout",
            &[&k, &fan("presenced", 400_000.0)],
            &pps(100_000.0),
        );
        assert_eq!(rows[0].ceiling, Some(200.0));
        assert_eq!(rows[0].met, Some(true));
        let slow = super::rows(
            "fanout",
            &[&k, &fan("presenced", 400_001.0)],
            &pps(100_000.0),
        );
        assert_eq!(slow[0].met, Some(false));
        assert_eq!(slow[0].target, "presenced sooner, presenced ≤ 2× ceiling");
        // Within the loopback's bound but behind Kamailio: not met either.
        let quick_k = fan("kamailio", 300_000.0);
        let behind = super::rows(
            "fanout",
            &[&quick_k, &fan("presenced", 350_000.0)],
            &pps(100_000.0),
        );
        assert_eq!(behind[0].met, Some(false));
    }

    #[test]
    fn ratio_and_target() {
        let (k, mut p) = (run("kamailio", 500.0), run("presenced", 1500.0));
        // presenced failed some operations: the target is not met.
        let failing = rows("subscribe", &[&k, &p], &pps(40_000.0));
        assert_eq!(failing[0].ratio, Some(3.0));
        assert_eq!(failing[0].met, Some(false));
        p.report["operations"][0]["failed"] = serde_json::json!(0);
        p.report["operations"][0]["timeouts"] = serde_json::json!(0);
        let rows = rows("subscribe", &[&k, &p], &pps(40_000.0));
        let new = &rows[0];
        assert_eq!(new.met, Some(true));
        assert_eq!(new.ceiling, Some(10_000.0));
        assert_eq!(new.kamailio_failed, 3);
        assert_eq!(new.presenced_failed, 0);
        assert_eq!(rows[1].presenced, None);
    }

    #[test]
    fn usermodel_rows_read_single_runs_and_searches() {
        let single = Run {
            scenario: "usermodel".into(),
            server: "presenced".into(),
            round: 1,
            report: serde_json::json!({
                "operations": [{"name": "usermodel.notify.steady", "completed": 5,
                                "latency_us": {"p99": 250_000}}],
                "extra": {"held": 1.0, "subscriptions_live": 1000.0}
            }),
            memory: Some(MemoryDelta {
                before: Some(1_000_000),
                after: Some(3_000_000),
                pss_before: None,
                pss_after: None,
            }),
            exit_code: Some(0),
        };
        let search = Run {
            server: "kamailio".into(),
            report: serde_json::json!({"largest_users_held": 4000, "rounds": []}),
            memory: None,
            ..single.clone()
        };
        let rows = rows("usermodel", &[&single, &search], &Loopback::default());
        assert_eq!((rows[0].kamailio, rows[0].presenced), (Some(4000.0), None));
        assert_eq!(rows[1].presenced, Some(250.0));
        assert_eq!(rows[2].presenced, Some(1.0));
        assert_eq!(rows[3].presenced, Some(2000.0));
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn garbage_reports_give_empty_cells() {
        let r = Run {
            scenario: "publish".into(),
            server: "kamailio".into(),
            round: 1,
            report: serde_json::json!({"operations": "nope"}),
            memory: None,
            exit_code: None,
        };
        let rows = rows("publish", &[&r], &Loopback::default());
        assert_eq!(rows[0].kamailio, None);
        assert_eq!(failures(&r.report), 0);
    }
}
