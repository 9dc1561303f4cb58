//! `bench-compare`: presenced against Kamailio 5.6 on this machine (issue 4).
//!
//! Installs Kamailio with its presence modules when missing (as root; else
//! prints the apt-get command), measures the loopback ceiling, then for each
//! round and scenario starts Kamailio (bench/kamailio/presence-bench.cfg)
//! and runs presenced-bench against it, stops it, starts presenced (release
//! build) and runs the same, stops it. Every server start is fresh, on its
//! own loopback port, in its own process group, stopped by PID. Prints the
//! table (scenario, ceiling, Kamailio, presenced, ratio), writes
//! `OUT/results.json`, `OUT/latency.png` and every raw report to `OUT/raw/`.
//! `--sipp-check` runs SIPp's subscribe scenario (bench/sipp/) and
//! presenced-bench subscribe at the same rate against the same server and
//! says whether the two rates agree within 10%.
//!
//! `--mode durable` runs Kamailio on a PostgreSQL of its own (fsync and
//! synchronous commit on, a fresh cluster per Kamailio start, postgres.rs)
//! and first checks that a SUBSCRIBE and a PUBLISH it answered 2xx survive
//! a SIGKILL (durability.rs).
//!
//!     scripts/bench-vs-kamailio --quick
//!     scripts/bench-vs-kamailio --duration 10 --fanout-watchers 10000 --sipp-check
//!     scripts/bench-vs-kamailio --mode durable --scenarios subscribe,publish

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value};

// The modules live in bench-compare/ (a file directly in src/bin/ would be
// a binary of its own).
#[path = "bench-compare/durability.rs"]
mod durability;
#[path = "bench-compare/figures.rs"]
mod figures;
#[path = "bench-compare/plot.rs"]
mod plot;
#[path = "bench-compare/postgres.rs"]
mod postgres;
#[path = "bench-compare/servers.rs"]
mod servers;
#[path = "bench-compare/sipp.rs"]
mod sipp;
#[path = "bench-compare/table.rs"]
mod table;

use figures::{Loopback, MemoryDelta, Row, Run};
use servers::{durability, KamailioDb, Mode, Server, Setup, Which};
use table::{fmt_num, print_sipp, print_table};

/// presenced against Kamailio: each scenario against both, a table, JSON and a plot.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Opts {
    /// Where results.json, latency.png and raw/ go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Rounds; each round runs every scenario against Kamailio, then presenced.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// A tiny run (seconds, a few hundred watchers) to see that all works.
    #[arg(long)]
    quick: bool,
    /// Scenarios, in order: subscribe, publish, fanout, one, hold,
    /// usermodel (one and usermodel are not run by default). `one` is one
    /// watcher and a PUBLISH every 2 ms, read against the paced loopback
    /// round trip measured in the same run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "subscribe,publish,fanout,hold"
    )]
    scenarios: Vec<String>,
    /// udp or tcp, for every workload.
    #[arg(long, default_value = "udp")]
    transport: String,
    /// memory (presenced --memory, Kamailio memory mode) or durable.
    #[arg(long, value_enum, default_value_t = Mode::Memory)]
    mode: Mode,
    /// Kamailio's database in durable mode: postgres (fsync'ed commits, a
    /// fresh cluster per start) or text (db_text: written at shutdown only).
    #[arg(long, value_enum, default_value_t = KamailioDb::Postgres)]
    kamailio_db: KamailioDb,
    /// PostgreSQL's port on 127.0.0.1 (durable mode on postgres).
    #[arg(long, default_value_t = 27360)]
    pg_port: u16,
    /// Seconds of each timed phase (subscribe, refresh, publish).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Operations outstanding at once (presenced-bench --window).
    #[arg(long, default_value_t = 100)]
    window: usize,
    /// Target rate of the timed phases, 0 = flat out within --window.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// subscribe: watchers and presentities.
    #[arg(long, default_value_t = 1000)]
    subscribe_watchers: u32,
    #[arg(long, default_value_t = 100)]
    subscribe_presentities: u32,
    /// publish: watchers (each subscribes to one presentity) and presentities.
    #[arg(long, default_value_t = 2000)]
    publish_watchers: u32,
    #[arg(long, default_value_t = 1000)]
    publish_presentities: u32,
    /// fanout: watchers of the one presentity, and PUBLISH rounds.
    #[arg(long, default_value_t = 10_000)]
    fanout_watchers: u32,
    #[arg(long, default_value_t = 5)]
    fanout_rounds: u32,
    /// one: PUBLISH rounds, 2 ms apart.
    #[arg(long, default_value_t = 1000)]
    one_rounds: u32,
    /// hold: live subscriptions whose memory is measured.
    #[arg(long, default_value_t = 20_000)]
    hold_subscriptions: u32,
    /// hold: seconds to wait after the last subscription before reading
    /// memory, so that what is measured is the live subscriptions and not
    /// the transactions of their setup: Kamailio keeps finished
    /// transactions 5 s (tm's wait timer), presenced keeps a UDP server
    /// transaction 32 s (Timer J, 64×T1).
    #[arg(long, default_value_t = 40.0)]
    hold_settle: f64,
    /// usermodel: users N, contacts C, time compression F, steady seconds.
    #[arg(long, default_value_t = 2000)]
    usermodel_users: u32,
    #[arg(long, default_value_t = 80)]
    usermodel_contacts: u32,
    #[arg(long, default_value_t = 60.0)]
    usermodel_compression: f64,
    #[arg(long, default_value_t = 60.0)]
    usermodel_steady: f64,
    /// usermodel: search for the largest N held, from --usermodel-users up
    /// to this, instead of the p99 at one N.
    #[arg(long)]
    usermodel_users_max: Option<u32>,
    /// Seconds of the loopback ceiling measurement.
    #[arg(long, default_value_t = 3.0)]
    ceiling_duration: f64,
    /// Kamailio's port (UDP and TCP on 127.0.0.1).
    #[arg(long, default_value_t = 27060)]
    kamailio_port: u16,
    /// presenced's port.
    #[arg(long, default_value_t = 27160)]
    presenced_port: u16,
    /// SIPp's local port (--sipp-check).
    #[arg(long, default_value_t = 27260)]
    sipp_port: u16,
    /// Kamailio worker processes (UDP, and TCP alike).
    #[arg(long, default_value_t = 4)]
    kamailio_children: u32,
    /// Kamailio shared memory, MB (-m).
    #[arg(long, default_value_t = 2048)]
    kamailio_shm_mb: u32,
    /// Kamailio private memory per process, MB (-M).
    #[arg(long, default_value_t = 64)]
    kamailio_pkg_mb: u32,
    /// Expiry limits of both servers (presenced's defaults).
    #[arg(long, default_value_t = 60)]
    min_expires: u32,
    #[arg(long, default_value_t = 3600)]
    max_expires: u32,
    /// Also cross-check presenced-bench against SIPp (subscribe).
    #[arg(long)]
    sipp_check: bool,
    /// Only the SIPp cross-check, no comparison.
    #[arg(long)]
    sipp_only: bool,
    /// Target rate of the cross-check, calls/s (0 = both flat out within
    /// --window; SIPp then makes as many calls as presenced-bench started).
    #[arg(long, default_value_t = 500.0)]
    sipp_rate: f64,
    /// Seconds of presenced-bench's part of the cross-check.
    #[arg(long, default_value_t = 10.0)]
    sipp_duration: f64,
    /// Servers the cross-check runs against.
    #[arg(long, value_delimiter = ',', default_value = "kamailio,presenced")]
    sipp_servers: Vec<String>,
    /// presenced binary (default: next to this one, built if missing).
    #[arg(long)]
    presenced_bin: Option<PathBuf>,
    /// presenced-bench binary (default: next to this one, built if missing).
    #[arg(long)]
    bench_bin: Option<PathBuf>,
    /// Kamailio config (default: bench/kamailio/presence-bench.cfg; when
    /// durable, presence-bench-pg.cfg, or -db.cfg with --kamailio-db text).
    #[arg(long)]
    kamailio_cfg: Option<PathBuf>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn check_interrupt() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// The workspace root (this crate is crates/bench).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> anyhow::Result<()> {
    let mut o = Opts::parse();
    if o.quick {
        o.duration = o.duration.min(2.0);
        o.subscribe_watchers = o.subscribe_watchers.min(200);
        o.subscribe_presentities = o.subscribe_presentities.min(20);
        o.publish_watchers = o.publish_watchers.min(200);
        o.publish_presentities = o.publish_presentities.min(100);
        o.fanout_watchers = o.fanout_watchers.min(200);
        o.fanout_rounds = o.fanout_rounds.min(3);
        o.one_rounds = o.one_rounds.min(200);
        o.hold_subscriptions = o.hold_subscriptions.min(2000);
        o.hold_settle = o.hold_settle.min(6.0);
        o.ceiling_duration = o.ceiling_duration.min(1.0);
        o.sipp_duration = o.sipp_duration.min(3.0);
        o.usermodel_users = o.usermodel_users.min(200);
        o.usermodel_contacts = o.usermodel_contacts.min(20);
        o.usermodel_compression = o.usermodel_compression.max(600.0);
        o.usermodel_steady = o.usermodel_steady.min(10.0);
    }
    if !matches!(o.transport.as_str(), "udp" | "tcp") {
        bail!("--transport must be udp or tcp");
    }
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    servers::ensure_kamailio()?;
    let on_postgres = o.mode == Mode::Durable && o.kamailio_db == KamailioDb::Postgres;
    if on_postgres {
        postgres::ensure_installed()?;
    }
    let root = repo_root();
    let here = std::env::current_exe().context("locate this binary")?;
    let bin_dir = here
        .parent()
        .context("binary has no directory")?
        .to_path_buf();
    let presenced_bin = match &o.presenced_bin {
        Some(p) => p.clone(),
        None => ensure_built(&root, &bin_dir, "presenced", &["-p", "presenced"])?,
    };
    let bench_bin = match &o.bench_bin {
        Some(p) => p.clone(),
        None => ensure_built(
            &root,
            &bin_dir,
            "presenced-bench",
            &["-p", "bench", "--bin", "presenced-bench"],
        )?,
    };
    let kamailio_cfg = o.kamailio_cfg.clone().unwrap_or_else(|| {
        root.join(match (o.mode, o.kamailio_db) {
            (Mode::Memory, _) => "bench/kamailio/presence-bench.cfg",
            (Mode::Durable, KamailioDb::Postgres) => "bench/kamailio/presence-bench-pg.cfg",
            (Mode::Durable, KamailioDb::Text) => "bench/kamailio/presence-bench-db.cfg",
        })
    });
    let raw = o.out.join("raw");
    fs::create_dir_all(&raw).with_context(|| format!("create {}", raw.display()))?;
    let out = fs::canonicalize(&o.out).context("resolve --out")?;
    let raw = out.join("raw");
    let setup_for = |which: Which| Setup {
        port: match which {
            Which::Kamailio => o.kamailio_port,
            Which::Presenced => o.presenced_port,
        },
        mode: o.mode,
        run_dir: out.join("run").join(which.name()),
        kamailio_cfg: kamailio_cfg.clone(),
        kamailio_db: o.kamailio_db,
        pg_port: o.pg_port,
        kamailio_children: o.kamailio_children,
        kamailio_shm_mb: o.kamailio_shm_mb,
        kamailio_pkg_mb: o.kamailio_pkg_mb,
        presenced_bin: presenced_bin.clone(),
        min_expires: o.min_expires,
        max_expires: o.max_expires,
    };
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);

    let mut sipp_results = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut ceiling = Value::Null;
    let mut paced = Value::Null;
    let mut durability_check = Value::Null;
    if on_postgres && !o.sipp_only {
        println!("Kamailio on PostgreSQL: SUBSCRIBE, PUBLISH, SIGKILL, rows left? ...");
        durability_check = match durability::check_kamailio(&setup_for(Which::Kamailio)) {
            Ok(c) => {
                let word = |kept| if kept { "kept" } else { "LOST" };
                println!(
                    "  SUBSCRIBE {}, PUBLISH {}; after SIGKILL: subscription {} \
                     ({} active_watchers row), publication {} ({} presentity row)",
                    c.subscribe_status,
                    c.publish_status,
                    word(c.subscription_survived),
                    c.active_watchers_rows,
                    word(c.publication_survived),
                    c.presentity_rows,
                );
                serde_json::to_value(&c).context("render durability check")?
            }
            Err(e) => {
                eprintln!("  durability check failed: {e:#}");
                json!({ "error": format!("{e:#}") })
            }
        };
    }
    if !o.sipp_only {
        println!("loopback ceiling ({} s) ...", o.ceiling_duration);
        ceiling = run_ceiling(
            &bench_bin,
            &[],
            o.ceiling_duration,
            &raw.join("ceiling.json"),
        );
        if o.scenarios.iter().any(|s| s == "one") {
            println!("paced loopback round trip ({} s) ...", o.ceiling_duration);
            // One round trip at a time, idle between, as `one` is paced.
            let gap = ONE_GAP_MS.to_string();
            let paced_args = ["--window", "1", "--pairs", "1", "--gap-ms", gap.as_str()];
            let path = raw.join("ceiling-paced.json");
            paced = run_ceiling(&bench_bin, &paced_args, o.ceiling_duration, &path);
        }
        for round in 1..=o.rounds {
            for scenario in &o.scenarios {
                for which in [Which::Kamailio, Which::Presenced] {
                    check_interrupt()?;
                    let run = measure(
                        &o,
                        &bench_bin,
                        &setup_for(which),
                        which,
                        scenario,
                        round,
                        &raw,
                    )?;
                    runs.push(run);
                }
            }
        }
    }
    if o.sipp_check || o.sipp_only {
        for name in &o.sipp_servers {
            let which = match name.as_str() {
                "kamailio" => Which::Kamailio,
                "presenced" => Which::Presenced,
                other => bail!("--sipp-servers: unknown server {other}"),
            };
            check_interrupt()?;
            sipp_results.push(sipp_check(&o, &bench_bin, &setup_for(which), which, &raw)?);
        }
    }

    let paced_us = |pct: &str| {
        paced
            .get("round_trip_us")
            .and_then(|l| l.get(pct))
            .and_then(Value::as_f64)
    };
    let loopback = Loopback {
        packets_per_s: ceiling.get("packets_per_s").and_then(Value::as_f64),
        paced_p50_us: paced_us("p50"),
        paced_p99_us: paced_us("p99"),
    };
    let mut rows: Vec<Row> = Vec::new();
    for scenario in &o.scenarios {
        let mine: Vec<&Run> = runs.iter().filter(|r| &r.scenario == scenario).collect();
        rows.extend(figures::rows(scenario, &mine, &loopback));
    }
    if !o.sipp_only {
        print_table(&o, &loopback, &rows);
    }
    for s in &sipp_results {
        print_sipp(s);
    }
    let results = json!({
        "tool": "bench-compare",
        "version": env!("CARGO_PKG_VERSION"),
        "started_unix_ms": started,
        "host": host_info(),
        "options": options_json(&o),
        "kamailio_cfg": kamailio_cfg.display().to_string(),
        "durability": {
            "kamailio": durability(Which::Kamailio, o.mode, o.kamailio_db),
            "presenced": durability(Which::Presenced, o.mode, o.kamailio_db),
        },
        "kamailio_durability_check": durability_check,
        "ceiling": ceiling,
        "ceiling_paced": paced,
        "rows": rows,
        "sipp_check": sipp_results,
        "runs": runs,
    });
    let results_path = out.join("results.json");
    let text = serde_json::to_string_pretty(&results).context("render results")?;
    fs::write(&results_path, text + "\n")
        .with_context(|| format!("write {}", results_path.display()))?;
    println!("\nresults: {}", results_path.display());
    if !runs.is_empty() {
        let png = out.join("latency.png");
        let title = format!(
            "latency, Kamailio 5.6 vs presenced ({}, {} mode, round 1)",
            o.transport,
            match o.mode {
                Mode::Memory => "memory",
                Mode::Durable => "durable",
            }
        );
        match plot::draw(&png, &title, &curves(&runs)) {
            Ok(()) => println!("plot:    {}", png.display()),
            Err(e) => eprintln!("no plot: {e:#}"),
        }
    }
    Ok(())
}

/// The binary `name` beside this one; `cargo build --release ARGS` when missing.
fn ensure_built(root: &Path, bin_dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<PathBuf> {
    let path = bin_dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let target_dir = bin_dir.parent().context("binary directory has no parent")?;
    println!("building {name}: cargo build --release {}", args.join(" "));
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release"])
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .context("run cargo")?
        .success();
    if !ok || !path.is_file() {
        bail!("could not build {}", path.display());
    }
    Ok(path)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// The common flags of presenced-bench for `server`.
fn common_args(o: &Opts, server: &Server) -> Vec<String> {
    vec![
        "--server".into(),
        server.addr.to_string(),
        "--transport".into(),
        o.transport.clone(),
        "--window".into(),
        o.window.to_string(),
        "--expires".into(),
        o.max_expires.to_string(),
    ]
}

fn scenario_args(o: &Opts, scenario: &str) -> anyhow::Result<Vec<String>> {
    let d = o.duration.to_string();
    let rate = o.rate.to_string();
    Ok(match scenario {
        "subscribe" => vec![
            "--watchers".into(),
            o.subscribe_watchers.to_string(),
            "--presentities".into(),
            o.subscribe_presentities.to_string(),
            "--duration".into(),
            d,
            "--rate".into(),
            rate,
        ],
        "publish" => vec![
            "--watchers".into(),
            o.publish_watchers.to_string(),
            "--presentities".into(),
            o.publish_presentities.to_string(),
            "--duration".into(),
            d,
            "--rate".into(),
            rate,
        ],
        "fanout" => vec![
            "--watchers".into(),
            o.fanout_watchers.to_string(),
            "--rounds".into(),
            o.fanout_rounds.to_string(),
            "--gap-ms".into(),
            "500".into(),
        ],
        "one" => vec![
            "--watchers".into(),
            "1".into(),
            "--rounds".into(),
            o.one_rounds.to_string(),
            "--gap-ms".into(),
            ONE_GAP_MS.to_string(),
        ],
        "hold" => vec![
            "--subscriptions".into(),
            o.hold_subscriptions.to_string(),
            "--duration".into(),
            "1".into(),
        ],
        // Every server start is fresh, so a single run needs no cleanup;
        // a search does (its rounds share the server).
        "usermodel" => {
            let mut v = vec![
                "--users".into(),
                o.usermodel_users.to_string(),
                "--contacts".into(),
                o.usermodel_contacts.to_string(),
                "--compression".into(),
                o.usermodel_compression.to_string(),
                "--steady".into(),
                o.usermodel_steady.to_string(),
                "--rate".into(),
                rate,
            ];
            match o.usermodel_users_max {
                Some(max) => v.extend(["--users-max".into(), max.to_string()]),
                None => v.push("--no-cleanup".into()),
            }
            v
        }
        other => {
            bail!("unknown scenario {other} (subscribe, publish, fanout, one, hold, usermodel)")
        }
    })
}

/// Milliseconds between the `one` scenario's PUBLISHes, and between the
/// paced loopback round trips it is read against.
const ONE_GAP_MS: u32 = 2;

/// `presenced-bench ceiling` with `args` for `seconds`: its JSON report
/// (written to `path`), or null when it failed (said on stderr; the rows
/// it would have bounded are left without a ceiling).
fn run_ceiling(bench: &Path, args: &[&str], seconds: f64, path: &Path) -> Value {
    let output = Command::new(bench)
        .arg("ceiling")
        .args(args)
        .arg("--duration")
        .arg(seconds.to_string())
        .arg("--json")
        .arg(path)
        .output();
    match output {
        Ok(out) if out.status.success() => read_json(path).unwrap_or(Value::Null),
        Ok(out) => {
            eprintln!(
                "presenced-bench ceiling {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            Value::Null
        }
        Err(e) => {
            eprintln!("cannot run presenced-bench ceiling: {e}");
            Value::Null
        }
    }
}

/// One scenario against one freshly started server.
fn measure(
    o: &Opts,
    bench: &Path,
    setup: &Setup,
    which: Which,
    scenario: &str,
    round: u32,
    raw: &Path,
) -> anyhow::Result<Run> {
    let extra = scenario_args(o, scenario)?;
    let server = Server::start(which, setup)?;
    let stem = format!("{scenario}-{}-r{round}", which.name());
    let json_path = raw.join(format!("{stem}.json"));
    let _ = fs::remove_file(&json_path);
    // `one` is presenced-bench's fan-out with one watcher.
    let command = if scenario == "one" {
        "fanout"
    } else {
        scenario
    };
    let mut args = vec![command.to_owned()];
    args.extend(common_args(o, &server));
    args.extend(extra);
    if matches!(scenario, "hold" | "usermodel") && which == Which::Presenced {
        if let Some(pid) = server.pid() {
            args.extend(["--server-pid".into(), pid.to_string()]);
        }
    }
    args.push("--json".into());
    args.push(json_path.display().to_string());
    let (before, pss_before) = (server.memory_bytes(), server.group_pss_bytes());
    let output = Command::new(bench)
        .args(&args)
        .output()
        .with_context(|| format!("run presenced-bench {}", args.join(" ")))?;
    if scenario == "hold" {
        std::thread::sleep(std::time::Duration::from_secs_f64(
            o.hold_settle.clamp(0.0, 600.0),
        ));
    }
    let memory = matches!(scenario, "hold" | "usermodel").then(|| MemoryDelta {
        before,
        after: server.memory_bytes(),
        pss_before,
        pss_after: server.group_pss_bytes(),
    });
    let log = format!(
        "$ {} {}\n{}{}",
        bench.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = fs::write(raw.join(format!("{stem}.log")), &log);
    let server_log = server.log_path();
    let pg_log = server.postgres().map(|pg| pg.log_path().to_path_buf());
    drop(server);
    let _ = fs::copy(&server_log, raw.join(format!("{stem}.server.log")));
    if let Some(log) = pg_log {
        let _ = fs::copy(&log, raw.join(format!("{stem}.postgres.log")));
    }
    let report = read_json(&json_path).unwrap_or(Value::Null);
    let code = output.status.code();
    let headline = figures::rows(
        scenario,
        &[&Run {
            scenario: scenario.into(),
            server: which.name().into(),
            round,
            report: report.clone(),
            memory: memory.clone(),
            exit_code: code,
        }],
        &Loopback::default(),
    );
    // The first figure this run has (a usermodel search fills other rows
    // than a single run).
    let first = headline
        .iter()
        .find_map(|r| r.kamailio.or(r.presenced).map(|v| (v, r.unit.as_str())));
    println!(
        "round {round} {scenario:<9} {:<9} exit {:?}: {} {} ({} failed)",
        which.name(),
        code,
        first.map(|f| fmt_num(f.0)).unwrap_or_else(|| "-".into()),
        first.map(|f| f.1).unwrap_or(""),
        figures::failures(&report),
    );
    if report.is_null() {
        eprintln!(
            "  no report; see {}",
            raw.join(format!("{stem}.log")).display()
        );
    }
    Ok(Run {
        scenario: scenario.into(),
        server: which.name().into(),
        round,
        report,
        memory,
        exit_code: code,
    })
}

/// presenced-bench subscribe, then SIPp's subscribe scenario with as many
/// calls, at the same target rate, window and layout, each against a fresh
/// start of the same server: the two must report the same rate.
fn sipp_check(
    o: &Opts,
    bench: &Path,
    setup: &Setup,
    which: Which,
    raw: &Path,
) -> anyhow::Result<Value> {
    let sipp_bin = sipp::find_sipp()?;
    let scenario = repo_root().join("bench/sipp/subscribe_uac.xml");

    let server = Server::start(which, setup)?;
    let json_path = raw.join(format!("sipp-check-bench-{}.json", which.name()));
    let mut args = vec!["subscribe".to_owned()];
    args.extend(common_args(o, &server));
    args.extend([
        "--watchers".into(),
        o.subscribe_watchers.to_string(),
        "--presentities".into(),
        o.subscribe_presentities.to_string(),
        "--rate".into(),
        o.sipp_rate.to_string(),
        "--duration".into(),
        o.sipp_duration.to_string(),
        "--refresh-duration".into(),
        "0".into(),
        "--json".into(),
        json_path.display().to_string(),
    ]);
    let output = Command::new(bench)
        .args(&args)
        .output()
        .context("run presenced-bench")?;
    drop(server);
    let _ = fs::write(
        raw.join(format!("sipp-check-bench-{}.log", which.name())),
        String::from_utf8_lossy(&output.stdout).as_bytes(),
    );
    let report = read_json(&json_path).unwrap_or(Value::Null);
    let ours = figures::operation(&report, "subscribe.new");
    let our_rate = ours
        .and_then(|op| op.get("rate_per_s"))
        .and_then(Value::as_f64);
    let our_failed = figures::failures(&report);
    let our_started = ours
        .map(|op| {
            let n = |k: &str| op.get(k).and_then(Value::as_u64).unwrap_or(0);
            n("completed") + n("failed") + n("timeouts")
        })
        .unwrap_or(0);
    // As many calls as our generator started: the same number of live
    // subscriptions at the end (Kamailio slows down as they pile up). Below
    // the server's capacity that is rate × duration; above it, or flat out,
    // the window holds both tools back alike.
    let calls = if our_started > 0 {
        our_started
    } else {
        (o.sipp_rate * o.sipp_duration).round().max(1.0) as u64
    };

    let server = Server::start(which, setup)?;
    let work = raw.join(format!("sipp-{}", which.name()));
    let sipp_run = sipp::run(&sipp::SippJob {
        sipp: &sipp_bin,
        scenario: &scenario,
        server: server.addr,
        tcp: o.transport == "tcp",
        local_port: o.sipp_port,
        rate: o.sipp_rate,
        calls,
        window: o.window,
        watchers: o.subscribe_watchers,
        presentities: o.subscribe_presentities,
        expires: o.max_expires,
        work_dir: &work,
    });
    drop(server);
    let sipp_run = sipp_run?;
    let diff = our_rate.and_then(|r| {
        (sipp_run.rate_per_s > 0.0).then(|| (r - sipp_run.rate_per_s) / sipp_run.rate_per_s)
    });
    Ok(json!({
        "server": which.name(),
        "target_rate": o.sipp_rate,
        "window": o.window,
        "calls": calls,
        "sipp": sipp_run,
        "presenced_bench_rate_per_s": our_rate,
        "presenced_bench_started": our_started,
        "presenced_bench_failed": our_failed,
        "relative_difference": diff,
        "agree_within_10_percent": diff.map(|d| d.abs() <= 0.10),
        "presenced_bench_report": report,
    }))
}

/// Latency curves of round 1, one per operation and server.
fn curves(runs: &[Run]) -> Vec<plot::Curve> {
    let wanted = [
        "subscribe.new",
        "subscribe.refresh",
        "publish.create",
        "publish.modify",
        "fanout.each",
        "fanout.last",
        "hold.subscribe",
        "usermodel.notify.steady",
    ];
    let mut out = Vec::new();
    for name in wanted {
        for r in runs.iter().filter(|r| r.round == 1) {
            let Some(op) = figures::operation(&r.report, name) else {
                continue;
            };
            if op.get("completed").and_then(Value::as_u64).unwrap_or(0) == 0 {
                continue;
            }
            let Some(lat) = op.get("latency_us") else {
                continue;
            };
            let mut pts = [0.0; 6];
            let mut ok = true;
            for (i, k) in ["min", "p50", "p90", "p99", "p999", "max"]
                .iter()
                .enumerate()
            {
                match lat.get(*k).and_then(Value::as_f64) {
                    Some(v) => pts[i] = v / 1000.0,
                    None => ok = false,
                }
            }
            if ok {
                let n = |k: &str| op.get(k).and_then(Value::as_u64).unwrap_or(0);
                out.push(plot::Curve {
                    operation: name.to_owned(),
                    server: r.server.clone(),
                    points_ms: pts,
                    failed: n("failed") + n("timeouts"),
                });
            }
        }
    }
    out
}

fn host_info() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kamailio = Command::new("kamailio")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        });
    json!({ "cpus": cpus, "kernel": kernel.trim(), "kamailio": kamailio })
}

fn options_json(o: &Opts) -> Value {
    json!({
        "rounds": o.rounds, "quick": o.quick, "scenarios": o.scenarios,
        "transport": o.transport, "mode": o.mode, "kamailio_db": o.kamailio_db,
        "pg_port": o.pg_port, "duration_s": o.duration,
        "window": o.window, "rate": o.rate,
        "subscribe_watchers": o.subscribe_watchers, "subscribe_presentities": o.subscribe_presentities,
        "publish_watchers": o.publish_watchers, "publish_presentities": o.publish_presentities,
        "fanout_watchers": o.fanout_watchers, "fanout_rounds": o.fanout_rounds,
        "one_rounds": o.one_rounds,
        "hold_subscriptions": o.hold_subscriptions, "hold_settle_s": o.hold_settle,
        "usermodel_users": o.usermodel_users, "usermodel_contacts": o.usermodel_contacts,
        "usermodel_compression": o.usermodel_compression,
        "usermodel_steady_s": o.usermodel_steady, "usermodel_users_max": o.usermodel_users_max,
        "kamailio_children": o.kamailio_children, "kamailio_shm_mb": o.kamailio_shm_mb,
        "kamailio_pkg_mb": o.kamailio_pkg_mb,
        "min_expires": o.min_expires, "max_expires": o.max_expires,
        "sipp_check": o.sipp_check || o.sipp_only, "sipp_rate": o.sipp_rate,
        "sipp_duration_s": o.sipp_duration,
    })
}
