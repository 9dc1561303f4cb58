//! `sync-bench`: the sync engine under load (issue 11): contact-center
//! agent state changes posted to presenced's sync API, timed to the
//! NOTIFYs that reach the agents' SIP watchers.
//!
//! Starts presenced (memory store, a `[sync]` push-mode profile as in
//! seed 002: Ready × Idle → "I am available" 3501, Ready × Busy →
//! "Working with customer, do not disturb" 7001) on loopback; binds N
//! agents over the API (`PUT /api/v1/sync/agents/{id}`, then Ready ×
//! Idle); subscribes W watchers to each agent's presentity (N × W PIDF
//! dialogs over one UDP socket, every NOTIFY answered 200); then posts
//! `--changes` device-state changes (`POST /agents/{id}/state`, Busy and
//! Idle in turn) flat out over `--connections` keep-alive HTTP
//! connections, one change in flight per agent. Each watcher's NOTIFY
//! carrying the new text is timed from the moment its request left; a
//! change is complete when all W watchers have it.
//!
//! Reports changes per second (complete changes over the phase's time),
//! API answers per second, API latency and API → NOTIFY latency (every
//! NOTIFY, and the last of each change) percentiles, as text and JSON.
//!
//! ```text
//! cargo build --release -p presenced -p bench
//! target/release/sync-bench --presenced target/release/presenced \
//!     --agents 10000 --watchers 20 [--changes 10000] [--json sync.json]
//! ```

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::api::Connection;
use bench::server::{answer_and_report, free_port, watchers_socket, Presenced};
use clap::Parser;
use hdrhistogram::Histogram;
use sip::{HeaderAccess, Message};

/// Agent state changes through the sync API to SIP watchers.
#[derive(Debug, Parser)]
struct Args {
    /// The presenced binary.
    #[arg(long, default_value = "target/release/presenced")]
    presenced: PathBuf,
    /// N: agents, each bound to its own presentity.
    #[arg(long, default_value_t = 10_000)]
    agents: u32,
    /// W: watchers per agent (PIDF subscriptions to its presentity).
    #[arg(long, default_value_t = 20)]
    watchers: u32,
    /// State changes to post and time (default: one per agent).
    #[arg(long)]
    changes: Option<u32>,
    /// Keep-alive HTTP connections posting at once.
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Changes per second to post, spread over the connections (0: flat
    /// out, which measures the most the server takes and the latency
    /// under that saturation).
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The token the bench presents; its SHA-256 is in the config below.
const TOKEN: &str = "crm-secret";

/// The `[sync]` section: one push-mode profile for every agent.
const SYNC: &str = r#"
[sync]
default_lcid = 1033
tokens = { bench = "0d9acc4910ea35d3c9aa2d0b1150c904ad82d35251f9a4fd30f075c8b7178977" }
global = { EnterpriseVoice = "voice" }

[[sync.profiles]]
name = "voice"
aggregated_states = "1=IDLE_OUT, 2=IDLE_READY, 3=IDLE_NOTREADY, 4=IDLE_ACW, 5=IDLE_AWAY, 6=INCALL, 7=INCALL, 8=INCALL, 9=INCALL, 10=INCALL, 11=OOS, 12=OOS, 13=OOS, 14=OOS, 15=OOS"
agent_states = [
  { id = "IDLE_OUT", availability = 18000, activity = { 1033 = "Logged out" } },
  { id = "IDLE_READY", availability = 3501, activity = { 1033 = "I am available" } },
  { id = "IDLE_NOTREADY", availability = 6001, activity = { 1033 = "I am not available" } },
  { id = "IDLE_ACW", availability = 6002, activity = { 1033 = "I am in After Call Work" } },
  { id = "IDLE_AWAY", availability = 4501, activity = { 1033 = "I am away from my desk" } },
  { id = "INCALL", availability = 7001, activity = { 1033 = "Working with customer, do not disturb" } },
  { id = "OOS", availability = 18000, activity = { 1033 = "The device is out of service" } },
]
"#;

/// What a watcher's NOTIFY says (the PIDF note is the `default_lcid` text).
const BUSY_TEXT: &[u8] = b"Working with customer";
const IDLE_TEXT: &[u8] = b"I am available";

/// How long the NOTIFYs of the last changes may take once all are posted.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// One agent's change in flight.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    /// When its request left; `None` before the first change.
    sent: Option<Instant>,
    /// Busy (in a call) or Idle (available) now.
    busy: bool,
    /// Which of the agent's changes this is (1, 2, ...).
    round: u32,
    /// Watchers that have not seen it yet.
    remaining: u32,
}

/// What the watchers' receiving thread saw.
enum Seen {
    /// A final response to a SUBSCRIBE (index of the subscription).
    Subscribed { sub: u32, ok: bool },
    /// A NOTIFY (already answered 200): its subscription, whether it
    /// shows the agent busy or available, and when it arrived.
    Notify {
        sub: u32,
        busy: Option<bool>,
        at: Instant,
    },
}

fn presentity(agent: u32) -> String {
    format!("sip:agent{agent}@127.0.0.1")
}

/// The subscription index from a Call-ID `sb-{index}`.
fn sub_index(call_id: &[u8]) -> Option<u32> {
    std::str::from_utf8(call_id.strip_prefix(b"sb-")?)
        .ok()?
        .parse()
        .ok()
}

/// Answers NOTIFYs and reports responses and NOTIFYs until the socket is
/// closed or the main thread stops listening.
fn receive(socket: UdpSocket, seen: mpsc::Sender<Seen>) {
    answer_and_report(socket, seen, |message, at| match message {
        Message::Response(resp) => {
            let sub = resp.call_id().ok().and_then(|c| sub_index(&c))?;
            Some(Seen::Subscribed {
                sub,
                ok: resp.status < 300,
            })
        }
        Message::Request(req) => {
            let sub = req.call_id().ok().and_then(|c| sub_index(&c))?;
            let has = |text: &[u8]| memchr::memmem::find(&req.body, text).is_some();
            let busy = if has(BUSY_TEXT) {
                Some(true)
            } else if has(IDLE_TEXT) {
                Some(false)
            } else {
                None
            };
            Some(Seen::Notify { sub, busy, at })
        }
    })
}

fn subscribe(local: SocketAddr, sub: u32, presentity: &str) -> String {
    format!(
        "SUBSCRIBE {presentity} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-sb-{sub};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:watcher{sub}@127.0.0.1>;tag=w{sub}\r\n\
         To: <{presentity}>\r\n\
         Call-ID: sb-{sub}\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:watcher{sub}@{local}>\r\n\
         Event: presence\r\n\
         Accept: application/pidf+xml\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
    )
}

/// Calls the API, retrying while the core is busy (503); fails on any
/// other status than 200.
fn call(
    api: &mut Connection,
    method: &str,
    path: &str,
    body: &str,
    busy: &mut u64,
) -> anyhow::Result<()> {
    loop {
        let (status, answer) = api.call(method, path, body.as_bytes())?;
        match status {
            200 => return Ok(()),
            503 => {
                *busy += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
}

/// The agents `connection` posts for: those ≡ connection mod connections.
fn agents_of(connection: u32, connections: u32, agents: u32) -> impl Iterator<Item = u32> {
    (connection..agents).step_by(connections as usize)
}

/// Binds every agent (Ready × Idle) over `connections` connections.
fn bind_agents(http: SocketAddr, args: &Args) -> anyhow::Result<u64> {
    let threads: Vec<_> = (0..args.connections)
        .map(|c| {
            let (connections, agents) = (args.connections, args.agents);
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut api = Connection::new(http, Some(TOKEN));
                let mut busy = 0;
                for a in agents_of(c, connections, agents) {
                    let binding = format!(
                        "{{\"presentity\":\"{}\",\"user_type\":\"EnterpriseVoice\",\"user_state\":\"LoggedInToClient\"}}",
                        presentity(a)
                    );
                    call(&mut api, "PUT", &format!("/api/v1/sync/agents/{a}"), &binding, &mut busy)?;
                    call(
                        &mut api,
                        "POST",
                        &format!("/api/v1/sync/agents/{a}/state"),
                        r#"{"state":"Ready","device":"Idle"}"#,
                        &mut busy,
                    )?;
                }
                Ok(busy)
            })
        })
        .collect();
    let mut busy = 0;
    for t in threads {
        busy += t
            .join()
            .map_err(|_| anyhow::anyhow!("a binding thread panicked"))??;
    }
    Ok(busy)
}

/// What the posting threads share with the main thread.
struct Shared {
    pending: Mutex<Vec<Pending>>,
    api: Mutex<Histogram<u64>>,
}

/// Posts the timed changes: connection c takes its agents round robin
/// until it has posted its share, one change in flight per agent (its
/// next change waits until all its watchers saw the last, or 5 s).
fn post_changes(
    http: SocketAddr,
    args: &Args,
    changes: u32,
    shared: &Arc<Shared>,
) -> Vec<std::thread::JoinHandle<anyhow::Result<u64>>> {
    (0..args.connections)
        .map(|c| {
            let shared = shared.clone();
            let (connections, agents, watchers) = (args.connections, args.agents, args.watchers);
            let share = changes / connections + u32::from(c < changes % connections);
            // Each connection posts every `connections / rate` seconds.
            let interval = (args.rate > 0)
                .then(|| Duration::from_secs_f64(f64::from(connections) / f64::from(args.rate)));
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mine: Vec<u32> = agents_of(c, connections, agents).collect();
                let mut api = Connection::new(http, Some(TOKEN));
                let mut busy_answers = 0;
                let start = Instant::now();
                for k in 0..share as usize {
                    if let Some(interval) = interval {
                        let due = start + interval * k as u32;
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let Some(&a) = mine.get(k % mine.len().max(1)) else {
                        break;
                    };
                    wait_settled(&shared, a);
                    let busy = {
                        let mut pending = shared
                            .pending
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?;
                        let p = &mut pending[a as usize];
                        p.busy = !p.busy;
                        p.round += 1;
                        p.remaining = watchers;
                        p.sent = Some(Instant::now());
                        p.busy
                    };
                    let device = if busy { "Busy" } else { "Idle" };
                    let sent = Instant::now();
                    call(
                        &mut api,
                        "POST",
                        &format!("/api/v1/sync/agents/{a}/state"),
                        &format!("{{\"device\":\"{device}\"}}"),
                        &mut busy_answers,
                    )?;
                    let took = sent.elapsed().as_micros().max(1) as u64;
                    if let Ok(mut h) = shared.api.lock() {
                        h.record(took)?;
                    }
                }
                Ok(busy_answers)
            })
        })
        .collect()
}

/// Waits until the agent's last change reached all its watchers (at
/// most 5 s: a lost one is counted missed by the main thread).
fn wait_settled(shared: &Shared, agent: u32) {
    let start = Instant::now();
    loop {
        let settled = shared
            .pending
            .lock()
            .map(|p| p[agent as usize].remaining == 0)
            .unwrap_or(true);
        if settled || start.elapsed() > Duration::from_secs(5) {
            return;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.agents == 0 || args.watchers == 0 || args.connections == 0 {
        bail!("--agents, --watchers and --connections must be above 0");
    }
    if args.connections > args.agents {
        bail!("--connections must not exceed --agents (one agent, one connection)");
    }
    let changes = args.changes.unwrap_or(args.agents);
    let subscriptions = u64::from(args.agents) * u64::from(args.watchers);
    let subscriptions = u32::try_from(subscriptions).context("agents × watchers too large")?;
    let run = std::env::temp_dir().join(format!("sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&run)?;
    let sip_port = free_port()?;
    let http_port = free_port()?;
    let config = run.join("presenced.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{sip_port}\"]\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\
             [store]\nmode = \"memory\"\n{SYNC}"
        ),
    )?;
    let presenced = Presenced::start(&args.presenced, &config)
        .with_context(|| format!("start {}", args.presenced.display()))?;
    let server: SocketAddr = format!("127.0.0.1:{sip_port}").parse()?;
    let http: SocketAddr = format!("127.0.0.1:{http_port}").parse()?;
    let up = Instant::now();
    while Connection::new(http, None)
        .call("GET", "/metrics", b"")
        .is_err()
    {
        if up.elapsed() > Duration::from_secs(10) {
            bail!("presenced did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Agents: bound and Ready × Idle before anyone watches.
    let started = Instant::now();
    let mut busy_answers = bind_agents(http, &args)?;
    let bound_after = started.elapsed();

    // Watchers: one socket, N × W dialogs; subscription s watches agent s / W.
    let socket = watchers_socket()?;
    let local = socket.local_addr()?;
    let (tx, seen) = mpsc::channel();
    let reader = socket.try_clone()?;
    std::thread::spawn(move || receive(reader, tx));
    let started = Instant::now();
    for s in 0..subscriptions {
        let text = subscribe(local, s, &presentity(s / args.watchers));
        socket.send_to(text.as_bytes(), server)?;
        if s % 200 == 199 {
            // Keep the server's inbound queue from overflowing.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A dialog is established by its 2xx or by its first NOTIFY showing
    // the agent available (a 2xx lost over UDP is not retransmitted).
    let mut established: HashSet<u32> = HashSet::new();
    let mut refused = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30 + u64::from(subscriptions / 2_000));
    while (established.len() as u32) + refused < subscriptions && Instant::now() < deadline {
        match seen.recv_timeout(Duration::from_millis(100)) {
            Ok(Seen::Subscribed { sub, ok: true }) | Ok(Seen::Notify { sub, .. }) => {
                established.insert(sub);
            }
            Ok(Seen::Subscribed { ok: false, .. }) => refused += 1,
            Err(_) => {}
        }
    }
    let watched_after = started.elapsed();
    if established.len() as u32 != subscriptions {
        bail!(
            "{} of {subscriptions} subscriptions established ({refused} refused)",
            established.len()
        );
    }
    // Let the first NOTIFYs drain.
    while seen.recv_timeout(Duration::from_millis(500)).is_ok() {}

    // The timed phase.
    let shared = Arc::new(Shared {
        pending: Mutex::new(vec![Pending::default(); args.agents as usize]),
        api: Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?),
    });
    let mut each = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut last = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    // The round each subscription saw last, so a repeated NOTIFY counts once.
    let mut seen_round = vec![0u32; subscriptions as usize];
    let mut complete = 0u32;
    let mut stray = 0u64;
    let phase = Instant::now();
    let mut last_complete = phase;
    let posters = post_changes(http, &args, changes, &shared);
    let mut drain_from: Option<Instant> = None;
    while complete < changes {
        if drain_from.is_none() && posters.iter().all(|t| t.is_finished()) {
            drain_from = Some(Instant::now());
        }
        if drain_from.is_some_and(|d| d.elapsed() > DRAIN_LIMIT) {
            break;
        }
        let Ok(Seen::Notify { sub, busy, at }) = seen.recv_timeout(Duration::from_millis(50))
        else {
            continue;
        };
        let agent = (sub / args.watchers) as usize;
        let mut pending = shared
            .pending
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let p = &mut pending[agent];
        let (Some(sent), Some(busy)) = (p.sent, busy) else {
            stray += 1;
            continue;
        };
        if busy != p.busy || seen_round[sub as usize] == p.round || p.remaining == 0 {
            stray += 1;
            continue;
        }
        seen_round[sub as usize] = p.round;
        let took = at.saturating_duration_since(sent).as_micros().max(1) as u64;
        each.record(took)?;
        p.remaining -= 1;
        if p.remaining == 0 {
            last.record(took)?;
            complete += 1;
            last_complete = at;
        }
    }
    let mut posted_ok = true;
    for t in posters {
        match t.join() {
            Ok(Ok(n)) => busy_answers += n,
            Ok(Err(e)) => {
                eprintln!("sync-bench: posting failed: {e:#}");
                posted_ok = false;
            }
            Err(_) => posted_ok = false,
        }
    }
    let elapsed = last_complete
        .saturating_duration_since(phase)
        .as_secs_f64()
        .max(1e-6);
    let api = shared
        .api
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let missed = u64::from(changes) * u64::from(args.watchers) - each.len();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let report = serde_json::json!({
        "agents": args.agents,
        "watchers_per_agent": args.watchers,
        "subscriptions": subscriptions,
        "connections": args.connections,
        "rate": args.rate,
        "bound_after_secs": bound_after.as_secs_f64(),
        "watched_after_secs": watched_after.as_secs_f64(),
        "changes": changes,
        "changes_complete": complete,
        "changes_per_sec": f64::from(complete) / elapsed,
        "api_answers": api.len(),
        "api_answers_per_sec": api.len() as f64 / elapsed,
        "api_busy_503": busy_answers,
        "notifies_timed": each.len(),
        "notifies_missed": missed,
        "notifies_stray": stray,
        "api_ms": { "p50": ms(&api, 0.5), "p99": ms(&api, 0.99), "max": api.max() as f64 / 1000.0 },
        "api_to_notify_ms": { "p50": ms(&each, 0.5), "p90": ms(&each, 0.9), "p99": ms(&each, 0.99), "max": each.max() as f64 / 1000.0 },
        "api_to_last_notify_ms": { "p50": ms(&last, 0.5), "p99": ms(&last, 0.99), "max": last.max() as f64 / 1000.0 },
    });
    println!(
        "sync-bench: {} agents × {} watchers ({subscriptions} dialogs): bound in {:.2} s, watched in {:.2} s",
        args.agents,
        args.watchers,
        bound_after.as_secs_f64(),
        watched_after.as_secs_f64()
    );
    println!(
        "{complete} of {changes} changes complete over {} connections in {elapsed:.2} s: {:.0} changes/s ({} API 503s retried)",
        args.connections,
        f64::from(complete) / elapsed,
        busy_answers
    );
    println!(
        "API answer: p50 {:.2} ms, p99 {:.2} ms; API → NOTIFY over {} NOTIFYs ({missed} missed): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; → last NOTIFY of a change p99 {:.2} ms",
        ms(&api, 0.5),
        ms(&api, 0.99),
        each.len(),
        ms(&each, 0.5),
        ms(&each, 0.9),
        ms(&each, 0.99),
        each.max() as f64 / 1000.0,
        ms(&last, 0.99)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    drop(presenced);
    let _ = std::fs::remove_dir_all(&run);
    if !posted_ok {
        bail!("a posting connection failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_is_named_by_its_call_id() {
        assert_eq!(sub_index(b"sb-0"), Some(0));
        assert_eq!(sub_index(b"sb-199999"), Some(199_999));
        assert_eq!(sub_index(b"pb-1"), None);
        assert_eq!(sub_index(b"sb-x"), None);
    }

    #[test]
    fn every_agent_is_posted_for_by_exactly_one_connection() {
        let mut all: Vec<u32> = (0..3).flat_map(|c| agents_of(c, 3, 10)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(
            agents_of(4, 8, 3).count(),
            0,
            "more connections than agents"
        );
    }
}
