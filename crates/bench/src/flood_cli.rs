//! The `flood` subcommand: does a flood from one address starve the
//! others? (issue 13)
//!
//! A well-behaved client (the `fanout` workload with one watcher: each
//! round a PUBLISH, timed to the NOTIFY it causes) runs twice against the
//! same server: first alone, then while [`bench::flood`] sends
//! `--flood-rate` PUBLISHes a second from `--flood-from` (another loopback
//! address, so the server sees another source). The verdict holds when
//! the loaded PUBLISH → NOTIFY p99 is within `--max-p99-ratio` of the
//! unloaded one and no publication the server acknowledged was lost
//! (every round's 200 was followed by its NOTIFY).
//!
//! On a shared machine one p99 moves with whatever else runs, so the two
//! phases alternate `--pairs` times (unloaded, loaded, unloaded, ...) and
//! the verdict takes the median of the pairs' ratios; every pair is in
//! the report.
//!
//! The server must limit the flooding address: presenced with `[limits]
//! exempt = []` (loopback is exempt by default) and `per_source_rate` a
//! twentieth of `--flood-rate`.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use bench::flood::{Flood, FloodReport};
use bench::scenario::fanout;
use bench::stats::Report;
use clap::Args;
use serde::Serialize;

use crate::{run, write_json, Builder, Common};

/// Flags of `presenced-bench flood`.
#[derive(Debug, Clone, Args)]
pub struct FloodArgs {
    /// PUBLISHes a second from the flooding address (20× the server's
    /// per-source limit).
    #[arg(long, default_value_t = 4000.0)]
    flood_rate: f64,
    /// The flooding address (any loopback address works on Linux).
    #[arg(long, default_value = "127.0.0.2")]
    flood_from: IpAddr,
    /// Timed rounds of the well-behaved client, in each phase.
    #[arg(long, default_value_t = 300)]
    rounds: u32,
    /// Milliseconds between its rounds.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// Milliseconds the flood runs before the loaded phase starts.
    #[arg(long, default_value_t = 2000)]
    warmup_ms: u64,
    /// The verdict's limit on the median of loaded p99 / unloaded p99.
    #[arg(long, default_value_t = 2.0)]
    max_p99_ratio: f64,
    /// Unloaded-then-loaded pairs.
    #[arg(long, default_value_t = 5)]
    pairs: u32,
}

/// One unloaded phase and the loaded phase after it.
#[derive(Debug, Serialize)]
struct Pair {
    unloaded_p99_us: u64,
    loaded_p99_us: u64,
    p99_ratio: f64,
    /// Rounds of the loaded phase whose PUBLISH failed or whose NOTIFY
    /// never came after the 2xx.
    lost_publications: u64,
    flood: FloodReport,
    unloaded: Vec<bench::stats::MetricReport>,
    loaded: Vec<bench::stats::MetricReport>,
}

/// The whole run, as written to `--json`.
#[derive(Debug, Serialize)]
struct FloodRun {
    median_p99_ratio: f64,
    lost_publications: u64,
    held: bool,
    pairs: Vec<Pair>,
}

fn phase(common: &Common, args: &FloodArgs, name: &str) -> anyhow::Result<Report> {
    let cfg = fanout::Config {
        watchers: 1,
        rounds: args.rounds,
        gap: Duration::from_millis(args.gap_ms),
        expires: common.expires,
        publish_expires: 3600,
        window: common.window,
    };
    let params = serde_json::json!({ "phase": name, "watchers": 1, "rounds": args.rounds, "gap_ms": args.gap_ms });
    let build: Builder = Box::new(move || Box::new(fanout::Fanout::new(cfg)));
    run(common, params, "fanout", build, None).with_context(|| format!("the {name} phase"))
}

fn op<'a>(report: &'a Report, name: &str) -> anyhow::Result<&'a bench::stats::MetricReport> {
    report
        .operations
        .iter()
        .find(|o| o.name == name)
        .with_context(|| format!("no {name} in the report"))
}

fn pair(common: &Common, args: &FloodArgs, n: u32) -> anyhow::Result<Pair> {
    let unloaded = phase(common, args, "unloaded")?;
    let flood = Flood::start(
        args.flood_from,
        common.server,
        args.flood_rate,
        &format!("{:x}-{n}", std::process::id()),
        &common.domain,
    )
    .with_context(|| format!("start the flood from {}", args.flood_from))?;
    std::thread::sleep(Duration::from_millis(args.warmup_ms));
    let loaded = phase(common, args, "loaded");
    let flood = flood.stop().context("the flood")?;
    let loaded = loaded?;
    let unloaded_p99_us = op(&unloaded, "fanout.last")?.latency_us.p99;
    let loaded_p99_us = op(&loaded, "fanout.last")?.latency_us.p99;
    let lost_publications =
        op(&loaded, "fanout.last")?.failed + op(&loaded, "fanout.publish")?.failed;
    let p99_ratio = loaded_p99_us as f64 / unloaded_p99_us.max(1) as f64;
    println!(
        "pair {n}: flood {} PUBLISH/s from {} for {:.1} s: sent {}, answered {:?}, unanswered {}; \
         PUBLISH → NOTIFY p99 unloaded {unloaded_p99_us} µs, loaded {loaded_p99_us} µs \
         (×{p99_ratio:.2}), lost {lost_publications}",
        flood.rate, flood.from, flood.elapsed_s, flood.sent, flood.statuses, flood.unanswered
    );
    Ok(Pair {
        unloaded_p99_us,
        loaded_p99_us,
        p99_ratio,
        lost_publications,
        flood,
        unloaded: unloaded.operations,
        loaded: loaded.operations,
    })
}

/// Runs the pairs and reports; exit code 3 when the verdict fails.
pub fn flood(common: &Common, args: &FloodArgs) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for n in 0..args.pairs.max(1) {
        pairs.push(pair(common, args, n)?);
    }
    let mut ratios: Vec<f64> = pairs.iter().map(|p| p.p99_ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let median_p99_ratio = ratios[ratios.len() / 2];
    let lost_publications = pairs.iter().map(|p| p.lost_publications).sum();
    let held = median_p99_ratio <= args.max_p99_ratio && lost_publications == 0;
    println!(
        "median p99 ratio ×{median_p99_ratio:.2} over {} pairs; lost publications: \
         {lost_publications}; verdict: {}",
        pairs.len(),
        if held { "held" } else { "FAILED" }
    );
    let report = FloodRun {
        median_p99_ratio,
        lost_publications,
        held,
        pairs,
    };
    if let Some(path) = &common.json {
        write_json(path, &report)?;
    }
    if !held {
        std::process::exit(3);
    }
    Ok(())
}
