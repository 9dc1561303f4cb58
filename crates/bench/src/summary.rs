//! The human-readable summary printed after a run.

use bench::ceiling;
use bench::stats::Report;

/// Prints a run's report as a table.
pub fn report(r: &Report) {
    println!(
        "presenced-bench {} over {} to {} (run {}, {:.1} s)",
        r.scenario, r.transport, r.server, r.run_id, r.elapsed_s
    );
    println!(
        "{:<20} {:>9} {:>7} {:>7} {:>11} {:>9} {:>9} {:>9}",
        "operation", "ok", "failed", "retx", "rate/s", "p50 µs", "p99 µs", "max µs"
    );
    for o in &r.operations {
        println!(
            "{:<20} {:>9} {:>7} {:>7} {:>11.1} {:>9} {:>9} {:>9}",
            o.name,
            o.completed,
            o.failed,
            o.retransmissions,
            o.rate_per_s,
            o.latency_us.p50,
            o.latency_us.p99,
            o.latency_us.max
        );
        if !o.failure_statuses.is_empty() || o.timeouts > 0 {
            let statuses: Vec<String> = o
                .failure_statuses
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect();
            println!(
                "{:<20} failures: {} timeouts {}",
                "",
                statuses.join(" "),
                o.timeouts
            );
        }
    }
    let m = &r.messages;
    println!(
        "messages: sent {} retransmitted {} responses {} notifies {} (dup {}, stray {}, terminated {}) stray responses {} unparsable {} send errors {}",
        m.requests_sent,
        m.retransmissions,
        m.responses,
        m.notifies,
        m.duplicate_notifies,
        m.stray_notifies,
        m.terminated_notifies,
        m.stray_responses,
        m.unparsable,
        m.send_errors
    );
    if m.batched_parts > 0 || m.benotifies > 0 {
        println!(
            "batched: {} category parts, {} of the notifies as BENOTIFY (unanswered)",
            m.batched_parts, m.benotifies
        );
    }
    if let Some(mem) = &r.memory {
        let kib = |v: Option<u64>| v.map_or("?".to_owned(), |k| format!("{k} KiB"));
        println!(
            "memory of pid {}: before {} after {} end {}; {} subscriptions; {} bytes/subscription",
            mem.server_pid,
            kib(mem.rss_before_kib),
            kib(mem.rss_after_kib),
            kib(mem.rss_end_kib),
            mem.subscriptions,
            mem.bytes_per_subscription
                .map_or("?".to_owned(), |b| format!("{b:.0}"))
        );
    }
    for (k, v) in &r.extra {
        println!("{k}: {v}");
    }
    if let Some(v) = &r.verdict {
        println!(
            "held: {} (p99 {:.1} ms, limit {:.0} ms; failed requests {:.3}%, limit {:.3}%){}{}",
            v.held,
            v.p99_us as f64 / 1000.0,
            v.p99_limit_us as f64 / 1000.0,
            v.failure_ratio * 100.0,
            v.failure_limit * 100.0,
            if v.reasons.is_empty() { "" } else { ": " },
            v.reasons.join("; ")
        );
    }
}

/// Prints the loopback ceiling.
pub fn ceiling(r: &ceiling::Report) {
    println!(
        "loopback ceiling: {} pair(s), {} B datagrams, window {}: {:.0} packets/s ({:.0} round trips/s) over {:.1} s",
        r.pairs, r.message_bytes, r.window, r.packets_per_s, r.round_trips_per_s, r.seconds
    );
    if let Some(t) = &r.round_trip_us {
        println!(
            "round trip (gap {} µs): p50 {} µs, p99 {} µs, mean {:.1} µs, max {} µs",
            r.gap_us, t.p50, t.p99, t.mean, t.max
        );
    }
}
