//! The comparison table and the SIPp cross-check line, as printed.

use serde_json::Value;

use crate::figures::{Loopback, Row};
use crate::servers::{durability, Which};
use crate::Opts;

pub fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn cell(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "-".into())
}

pub fn print_table(o: &Opts, loopback: &Loopback, rows: &[Row]) {
    println!(
        "\npresenced vs Kamailio 5.6, {} over 127.0.0.1, {:?} mode, window {}, {} round(s); \
         loopback ceiling {} datagrams/s",
        o.transport,
        o.mode,
        o.window,
        o.rounds,
        cell(loopback.packets_per_s)
    );
    if loopback.paced_p50_us.is_some() {
        println!(
            "  paced loopback round trip (2 ms apart): p50 {} µs, p99 {} µs",
            cell(loopback.paced_p50_us),
            cell(loopback.paced_p99_us)
        );
    }
    for which in [Which::Kamailio, Which::Presenced] {
        println!(
            "  {:<9}  {}",
            which.name(),
            durability(which, o.mode, o.kamailio_db)
        );
    }
    println!(
        "{:<10} {:<50} {:>5} {:>9} {:>9} {:>9} {:>7}  {:<40} {:>9}",
        "scenario",
        "figure",
        "unit",
        "ceiling",
        "kamailio",
        "presenced",
        "ratio",
        "target",
        "failed K/P"
    );
    for r in rows {
        let met = match r.met {
            Some(true) => "met",
            Some(false) if r.presenced_failed > 0 => "MISSED (P failed ops)",
            Some(false) => "MISSED",
            None => "",
        };
        println!(
            "{:<10} {:<50} {:>5} {:>9} {:>9} {:>9} {:>7}  {:<40} {:>5}/{}",
            r.scenario,
            r.figure,
            r.unit,
            cell(r.ceiling),
            cell(r.kamailio),
            cell(r.presenced),
            r.ratio
                .map(|x| format!("{x:.2}x"))
                .unwrap_or_else(|| "-".into()),
            format!("{} {met}", r.target),
            r.kamailio_failed,
            r.presenced_failed
        );
    }
    println!(
        "ratio: how many times better presenced is (rates P/K, times and memory K/P); \
         ceiling: the loopback's datagram rate in the figure's unit (one: the paced round trip)"
    );
}

pub fn print_sipp(s: &Value) {
    let f = |k: &str| s.get(k).and_then(Value::as_f64);
    let sipp_rate = s.pointer("/sipp/rate_per_s").and_then(Value::as_f64);
    let sipp_failed = s
        .pointer("/sipp/failed_calls")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    println!(
        "SIPp cross-check against {}: target {}/s, SIPp {}/s ({} failed), presenced-bench {}/s ({} failed), \
         difference {}: {}",
        s.get("server").and_then(Value::as_str).unwrap_or("?"),
        cell(f("target_rate")),
        cell(sipp_rate),
        sipp_failed,
        cell(f("presenced_bench_rate_per_s")),
        s.get("presenced_bench_failed").and_then(Value::as_u64).unwrap_or(0),
        f("relative_difference")
            .map(|d| format!("{:+.1}%", d * 100.0))
            .unwrap_or_else(|| "-".into()),
        match s.get("agree_within_10_percent").and_then(Value::as_bool) {
            Some(true) => "agree within 10%",
            Some(false) => "DISAGREE (more than 10%)",
            None => "no figure",
        }
    );
}
