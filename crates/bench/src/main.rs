//! `presenced-bench`: SIP presence workloads against any server.
//!
//! `presenced-bench <subscribe|fanout|publish|hold|usermodel|flood|ceiling> [flags]`; every
//! workload takes the common flags (`--server`, `--transport`, `--rate`,
//! `--window`, `--json`, ...). A human summary goes to stdout, the full
//! report (schema in README.md) to `--json FILE`. The exit code is 0 when
//! every operation succeeded, 3 when some failed, 1 on an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bench::core::Core;
use bench::runtime::{Links, NetConfig};
use bench::scenario::{fanout, hold, publish, subscribe, Batched, Engine, Layout, Scenario};
use bench::stats::Report;
use bench::template::{Names, Transport};
use bench::txn::Timers;
use bench::{ceiling, procfs};
use clap::{Args, Parser, Subcommand};

/// jemalloc, as in presenced: every NOTIFY's parse and answer allocate,
/// and the generator shares the machine's cores with the server it
/// measures, so its allocator's cost shows in the server's figures.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod flood_cli;
pub(crate) mod summary;
mod usermodel_cli;

/// A load generator for SIP presence servers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// New subscription dialogs per second (SUBSCRIBE → 200 → NOTIFY), then refreshes.
    Subscribe {
        #[command(flatten)]
        common: Common,
        /// Watcher identities.
        #[arg(long, default_value_t = 1000)]
        watchers: u32,
        /// Presentities.
        #[arg(long, default_value_t = 100)]
        presentities: u32,
        /// Seconds of new dialogs.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds of refreshes afterwards (default: --duration; 0 skips).
        #[arg(long)]
        refresh_duration: Option<f64>,
    },
    /// One PUBLISH to a presentity with W watchers: time to the last NOTIFY.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// W, the watchers of the one presentity.
        #[arg(long, default_value_t = 100)]
        watchers: u32,
        /// PUBLISHes to time.
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        /// Milliseconds between the end of a round and the next PUBLISH.
        #[arg(long, default_value_t = 100)]
        gap_ms: u64,
        /// Expires of the PUBLISHes.
        #[arg(long, default_value_t = 3600)]
        publish_expires: u32,
    },
    /// PUBLISH create/modify/refresh/remove across many presentities.
    Publish {
        #[command(flatten)]
        common: Common,
        /// Watchers in all (each subscribes to one presentity).
        #[arg(long, default_value_t = 2000)]
        watchers: u32,
        /// Presentities.
        #[arg(long, default_value_t = 1000)]
        presentities: u32,
        /// Seconds of PUBLISHes.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Expires of the PUBLISHes.
        #[arg(long, default_value_t = 3600)]
        publish_expires: u32,
    },
    /// Hold S subscriptions; report the server's resident memory per subscription.
    Hold {
        #[command(flatten)]
        common: Common,
        /// S, the subscriptions to establish (batched: watch relations,
        /// users × --contacts).
        #[arg(long, default_value_t = 10_000)]
        subscriptions: u32,
        /// Watcher identities (default S/10, at least 1).
        #[arg(long)]
        watchers: Option<u32>,
        /// Presentities (default 1000; batched: --users).
        #[arg(long)]
        presentities: Option<u32>,
        /// One batched dialog per user over --contacts presentities (the
        /// Microsoft dialect), not one dialog per subscription.
        #[arg(long)]
        batched: bool,
        /// Batched: contacts per user, C.
        #[arg(long, default_value_t = 80)]
        contacts: u32,
        /// Batched: users, N (default S / C); S becomes N × C.
        #[arg(long)]
        users: Option<u32>,
        /// Seconds to hold them after measuring.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Milliseconds between the last subscription and the reading.
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
        /// The server's process id (VmRSS from /proc/PID/status).
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// The Skype for Business user model, time-compressed: does the server
    /// hold N users (PUBLISH → NOTIFY p99 < 1 s), and at what memory?
    Usermodel {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: usermodel_cli::UsermodelArgs,
    },
    /// A flood from one address (20× its limit) while a well-behaved
    /// client's PUBLISH → NOTIFY is timed, against the same unloaded.
    Flood {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: flood_cli::FloodArgs,
    },
    /// The loopback ceiling: UDP echo pairs with messages of SIP size.
    Ceiling {
        /// Bytes per datagram.
        #[arg(long, default_value_t = 500)]
        size: usize,
        /// Datagrams in flight per pair.
        #[arg(long, default_value_t = 64)]
        window: usize,
        /// Pairs at once.
        #[arg(long, default_value_t = 1)]
        pairs: usize,
        /// Seconds.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Idle milliseconds between round trips (window 1 only), as
        /// `fanout --gap-ms` paces its rounds.
        #[arg(long, default_value_t = 0.0)]
        gap_ms: f64,
        /// Write the report here as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

/// Flags every workload takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Common {
    /// The server's SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddr,
    /// udp or tcp.
    #[arg(long, default_value = "udp")]
    transport: Transport,
    /// UDP sockets or TCP connections to spread dialogs over.
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// Operations started per second; 0 = flat out within --window.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Most operations outstanding at once.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// Expires of every SUBSCRIBE.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// Domain of every AOR the run creates.
    #[arg(long, default_value = "bench.test")]
    domain: String,
    /// RFC 3261 T1 in milliseconds (retransmission start; timeout 64×T1).
    #[arg(long, default_value_t = 500)]
    t1_ms: u64,
    /// RFC 3261 T2 in milliseconds (longest retransmission interval).
    #[arg(long, default_value_t = 4000)]
    t2_ms: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Socket buffer size to ask the kernel for, bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    socket_buffer: usize,
    /// Write the report here as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub(crate) fn secs(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("{s} is not a duration in seconds"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut server_pid = None;
    let (name, common, params, build): (&str, Common, serde_json::Value, Builder) =
        match cli.command {
            Command::Ceiling {
                size,
                window,
                pairs,
                duration,
                gap_ms,
                json,
            } => {
                if gap_ms > 0.0 && window > 1 {
                    anyhow::bail!("--gap-ms needs --window 1: a gap paces single round trips");
                }
                let report = ceiling::run(ceiling::Config {
                    size,
                    window,
                    pairs,
                    duration: secs(duration)?,
                    gap: secs(gap_ms / 1000.0)?,
                })
                .context("loopback ceiling")?;
                summary::ceiling(&report);
                if let Some(path) = json {
                    write_json(&path, &report)?;
                }
                return Ok(());
            }
            Command::Subscribe {
                common,
                watchers,
                presentities,
                duration,
                refresh_duration,
            } => {
                let cfg = subscribe::Config {
                    layout: Layout {
                        watchers,
                        presentities,
                    },
                    rate: common.rate,
                    window: common.window,
                    duration: secs(duration)?,
                    refresh_duration: secs(refresh_duration.unwrap_or(duration))?,
                    expires: common.expires,
                };
                let params = serde_json::json!({
                    "watchers": watchers, "presentities": presentities, "duration_s": duration,
                    "refresh_duration_s": cfg.refresh_duration.as_secs_f64(),
                });
                (
                    "subscribe",
                    common,
                    params,
                    Box::new(move || Box::new(subscribe::Subscribe::new(cfg))),
                )
            }
            Command::Fanout {
                common,
                watchers,
                rounds,
                gap_ms,
                publish_expires,
            } => {
                let cfg = fanout::Config {
                    watchers,
                    rounds,
                    gap: Duration::from_millis(gap_ms),
                    expires: common.expires,
                    publish_expires,
                    window: common.window,
                };
                let params = serde_json::json!({
                    "watchers": watchers, "rounds": rounds, "gap_ms": gap_ms,
                    "publish_expires": publish_expires,
                });
                (
                    "fanout",
                    common,
                    params,
                    Box::new(move || Box::new(fanout::Fanout::new(cfg))),
                )
            }
            Command::Publish {
                common,
                watchers,
                presentities,
                duration,
                publish_expires,
            } => {
                let cfg = publish::Config {
                    layout: Layout {
                        watchers,
                        presentities,
                    },
                    rate: common.rate,
                    window: common.window,
                    duration: secs(duration)?,
                    expires: common.expires,
                    publish_expires,
                };
                let params = serde_json::json!({
                    "watchers": watchers, "presentities": presentities, "duration_s": duration,
                    "publish_expires": publish_expires,
                });
                (
                    "publish",
                    common,
                    params,
                    Box::new(move || Box::new(publish::Publish::new(cfg))),
                )
            }
            Command::Hold {
                common,
                subscriptions,
                watchers,
                presentities,
                duration,
                settle_ms,
                server_pid,
                batched,
                contacts,
                users,
            } => {
                let contacts = contacts.max(1);
                let users = users.unwrap_or((subscriptions / contacts).max(1));
                let presentities =
                    presentities.unwrap_or(if batched { users.max(contacts) } else { 1000 });
                let batch = batched.then_some(Batched {
                    contacts,
                    presentities,
                });
                if batched && contacts > presentities {
                    anyhow::bail!("--contacts {contacts} exceeds --presentities {presentities}");
                }
                // Batched: the setup's "subscriptions" are the users' dialogs.
                let (subscriptions, watchers) = if batched {
                    (users, users)
                } else {
                    (
                        subscriptions,
                        watchers.unwrap_or((subscriptions / 10).max(1)),
                    )
                };
                let cfg = hold::Config {
                    layout: Layout {
                        watchers,
                        presentities,
                    },
                    subscriptions,
                    rate: common.rate,
                    window: common.window,
                    settle: Duration::from_millis(settle_ms),
                    duration: secs(duration)?,
                    expires: common.expires,
                    server_pid: server_pid.unwrap_or(0),
                    batched: batch,
                };
                if server_pid.is_none() {
                    eprintln!("presenced-bench: no --server-pid, so no memory reading");
                }
                let params = serde_json::json!({
                    "subscriptions": subscriptions, "watchers": watchers,
                    "presentities": presentities, "duration_s": duration, "settle_ms": settle_ms,
                    "server_pid": server_pid, "batched": batched,
                    "contacts": batched.then_some(contacts), "users": batched.then_some(users),
                });
                let probe = server_pid
                    .map(|pid| -> hold::RssProbe { Box::new(move || procfs::read_vm_rss(pid)) });
                (
                    "hold",
                    common,
                    params,
                    Box::new(move || Box::new(hold::Hold::new(cfg, probe))),
                )
            }
            Command::Flood { common, args } => return flood_cli::flood(&common, &args),
            Command::Usermodel { common, args } => {
                if args.searching() {
                    return usermodel_cli::search(&common, &args);
                }
                server_pid = args.server_pid;
                let (params, build) = args.build(&common, args.users())?;
                ("usermodel", common, params, build)
            }
        };
    let report = run(&common, params, name, build, server_pid)?;
    summary::report(&report);
    if let Some(path) = &common.json {
        write_json(path, &report)?;
    }
    let failed: u64 = report.operations.iter().map(|o| o.failed).sum();
    if failed > 0 {
        std::process::exit(3);
    }
    Ok(())
}

/// Makes the scenario once the runtime exists.
pub(crate) type Builder = Box<dyn FnOnce() -> Box<dyn Scenario>>;

pub(crate) fn write_json<T: serde::Serialize>(path: &PathBuf, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("render JSON")?;
    std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A run id of letters and digits, different for every run.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(40)) & 0xffff_ffff_ffff
    )
}

/// One run of `scenario`; `server_pid`, when known, gets its CPU time read.
pub(crate) fn run(
    common: &Common,
    mut params: serde_json::Value,
    scenario: &str,
    build: Builder,
    server_pid: Option<u32>,
) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common.threads.max(1))
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let run = run_id();
    let net = NetConfig {
        server: common.server,
        transport: common.transport,
        links: common.sockets,
        socket_buffer: common.socket_buffer,
    };
    let timers = Timers {
        t1: Duration::from_millis(common.t1_ms.max(1)),
        t2: Duration::from_millis(common.t2_ms.max(common.t1_ms).max(1)),
    };
    // Kernel drop counters, read around the run: only meaningful when the
    // server is on this host.
    let local = common.server.ip().is_loopback();
    let port = common.server.port();
    let drops_before = (local && common.transport == Transport::Udp)
        .then(|| procfs::read_udp_port_drops(port))
        .flatten();
    let rcvbuf_before = procfs::read_udp_rcvbuf_errors();
    let cpu_before = procfs::read_cpu_seconds(std::process::id());
    let server_cpu_before = server_pid.and_then(procfs::read_cpu_seconds);
    let start = Instant::now();
    let names = Names::new(&run, &common.domain);
    let workload = build();
    // The driver runs as a task on the workers, beside the socket readers,
    // rather than on this thread inside `block_on`: there every message a
    // reader handed over crossed threads, a futex wake each (a third of the
    // generator's system calls in a 10 000-watcher fan-out, and CPU taken
    // from the server under test on a small host).
    let driver = async move {
        let mut links = Links::open(&net).await?;
        let core = Core::new(names, links.locals(), timers);
        let mut engine = Engine::new(core, workload);
        // Ctrl-C or SIGTERM (as `timeout` sends) ends the run early, and
        // what finished so far is still reported.
        let interrupted = tokio::select! {
            done = links.drive(&mut engine) => {
                done?;
                false
            }
            _ = interrupt() => true,
        };
        anyhow::Ok((engine, interrupted))
    };
    let driver = runtime.spawn(driver);
    let (engine, interrupted) = runtime
        .block_on(driver)
        .context("the driver task failed")??;
    if interrupted {
        eprintln!("presenced-bench: interrupted; reporting what finished");
    }
    let now = Instant::now();
    if let Some(map) = params.as_object_mut() {
        for (k, v) in [
            ("sockets", serde_json::json!(common.sockets)),
            ("rate", serde_json::json!(common.rate)),
            ("window", serde_json::json!(common.window)),
            ("expires", serde_json::json!(common.expires)),
            ("t1_ms", serde_json::json!(common.t1_ms)),
            ("t2_ms", serde_json::json!(common.t2_ms)),
            ("threads", serde_json::json!(common.threads)),
        ] {
            map.insert(k.to_owned(), v);
        }
    }
    let s = engine.scenario();
    let mut extra = s.extra();
    if let (Some(a), Some(b)) = (drops_before, procfs::read_udp_port_drops(port)) {
        extra.insert(
            "server_udp_socket_drops".to_owned(),
            b.saturating_sub(a) as f64,
        );
    }
    if interrupted {
        extra.insert("interrupted".to_owned(), 1.0);
    }
    // Whether the generator itself was the bottleneck: CPU seconds and
    // cores busy on average (the server's too, when its pid is known).
    let elapsed = now.duration_since(start).as_secs_f64().max(1e-9);
    for (key, before, pid) in [
        ("generator", cpu_before, Some(std::process::id())),
        ("server", server_cpu_before, server_pid),
    ] {
        if let (Some(a), Some(b)) = (before, pid.and_then(procfs::read_cpu_seconds)) {
            extra.insert(format!("{key}_cpu_s"), b - a);
            extra.insert(format!("{key}_cpu_cores"), (b - a) / elapsed);
        }
    }
    let mut verdict = s.verdict();
    if let (Some(v), true) = (verdict.as_mut(), interrupted) {
        v.held = false;
        v.reasons.push("interrupted".to_owned());
    }
    if let (Some(a), Some(b)) = (rcvbuf_before, procfs::read_udp_rcvbuf_errors()) {
        extra.insert(
            "host_udp_rcvbuf_errors".to_owned(),
            b.saturating_sub(a) as f64,
        );
    }
    Ok(Report {
        tool: "presenced-bench",
        version: env!("CARGO_PKG_VERSION"),
        scenario: scenario.to_owned(),
        run_id: run,
        server: common.server.to_string(),
        transport: common.transport.to_string(),
        params,
        started_unix_ms,
        elapsed_s: now.duration_since(start).as_secs_f64(),
        operations: s.metrics().iter().map(|m| m.report(now)).collect(),
        messages: engine.core().counters.clone(),
        memory: s.memory(),
        extra,
        verdict,
    })
}
