//! The `presenced` command: serve, or check a configuration file.
//!
//! `presenced [serve] [--config FILE] [--listen SPEC]... [--data-dir DIR]
//! [--memory] [--http-listen ADDR|off]`; no subcommand means serve. The
//! options override the file. `presenced check-config FILE` validates a
//! file as a reload would; `presenced explain URI-or-AGENT [--config
//! FILE] [--server ADDR]` says which room or gateway rule answers for an
//! address, which presence-provider source serves it and how its
//! upstream subscription stands, and why a sync agent shows what it
//! shows (the last two asking the running server); `presenced passwd
//! AOR --realm REALM` prints a user's `[[auth.users]]` entry (HA1 hashes
//! of the password read from stdin); `presenced hash-password` reads a
//! password on stdin and prints its argon2id hash for `[console]`. A
//! running server
//! reloads `[service]` when its file changes or on SIGHUP
//! (`presenced::reload`). SIGTERM or Ctrl-C shuts down gracefully:
//! SIP stops (the core answers what waited for a commit), the store
//! flushes and closes, HTTP stops, `shutdown complete` is logged and the
//! exit code is 0.

#[cfg(feature = "jemalloc")]
mod allocator;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing_subscriber::EnvFilter;

use presenced::config::{parse_http_listen, Config, ListenSpec};
use presenced::directory::DirectoryHub;
use presenced::reload::{LiveConfig, Reloader};
use presenced::server::{self, Server};

/// How long tasks get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A SIP presence server.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The options of `serve`, also accepted without the subcommand.
#[derive(Debug, Clone, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); built-in defaults without it.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address such as udp:127.0.0.1:5060 or tls:[::1]:5061;
    /// repeatable; replaces the file's sip.listen.
    #[arg(long, value_name = "SPEC")]
    listen: Vec<ListenSpec>,
    /// Directory of the durable store; replaces store.data_dir.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep state in memory only (nothing survives a restart); replaces
    /// store.mode.
    #[arg(long)]
    memory: bool,
    /// Address for /metrics and /health, or "off"; replaces http.listen.
    #[arg(long, value_name = "ADDR", value_parser = http_listen)]
    http_listen: Option<HttpListen>,
}

/// `--http-listen`: an address, or `None` for off.
#[derive(Debug, Clone, Copy)]
struct HttpListen(Option<std::net::SocketAddr>);

fn http_listen(s: &str) -> Result<HttpListen, String> {
    parse_http_listen(s).map(HttpListen)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reads a password from stdin (one line) and prints its argon2id
    /// hash, for `password_argon2` in `[[console.users]]`.
    HashPassword,
    /// Runs the server (the default).
    Serve(ServeArgs),
    /// Validates a configuration file (including the TLS files and the
    /// theme images) and exits.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Says which room or gateway rule of the configuration answers for a
    /// URI, for each dialect, and why — or why nothing does; which
    /// presence-provider source serves it (seed 004's reasoning) and its
    /// upstream subscription's state; and, when the running server has a
    /// sync agent by that id or presentity, which profile, augmentation,
    /// conditions and mapping apply to its current state (asked over the
    /// HTTP API with the token in PRESENCED_SYNC_TOKEN).
    Explain {
        /// The address, `sip:user@host`, `tel:+number` or `user@host` (a
        /// `**PIN` suffix is cut off and not shown), or a sync agent's id.
        uri: String,
        /// Configuration file; built-in defaults without it.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The running server's HTTP address (for the provider's live
        /// state and the sync engine); the file's `http.listen` without it.
        #[arg(long, value_name = "ADDR")]
        server: Option<std::net::SocketAddr>,
    },
    /// Prints an `[[auth.users]]` entry for the config: the password
    /// (read from the first line of stdin) as SHA-256 and MD5 HA1 hashes,
    /// never in clear.
    Passwd {
        /// The user's address, `sip:alice@example.com`.
        aor: String,
        /// The digest realm (`auth.realm`).
        #[arg(long)]
        realm: String,
        /// The digest username; default: the AOR's user part.
        #[arg(long)]
        username: Option<String>,
    },
    /// Converts a contact center's presence-sync configuration into
    /// presenced's `[sync]` TOML, or a presence provider's into
    /// `[provider]` (printed on stdout); what could not be mapped is
    /// listed on stderr with its line.
    #[command(subcommand)]
    Import(Import),
}

/// The vendors' formats `presenced import` reads.
#[derive(Debug, Subcommand)]
enum Import {
    /// Genesys T-Server push mode: the `aggregated-states` option and the
    /// agentStates XML (`agent-presence-map`).
    Tserver {
        /// A file holding the option's value (or its `aggregated-states = …` line).
        #[arg(long, value_name = "FILE")]
        aggregated_states: PathBuf,
        /// The agentStates XML file.
        #[arg(long, value_name = "FILE")]
        agent_states: PathBuf,
        /// The name of the profile written.
        #[arg(long, default_value = "tserver")]
        profile: String,
    },
    /// PureConnect CIC's Lync Presence Integration Service XML
    /// (profiles, augmentation configurations, presence mappings).
    Cic {
        /// The service's XML configuration file.
        file: PathBuf,
    },
    /// The presence provider's `<PresenceProvider>` XML (seed 004) into
    /// `[provider]`: throttle, retries, sources and attendant patterns.
    Provider {
        /// The UCC's XML configuration file holding `<PresenceProvider>`.
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::Explain {
            uri,
            config,
            server,
        }) => explain(&uri, config.as_deref(), server),
        Some(Command::Import(import)) => run_import(import),
        Some(Command::Passwd {
            aor,
            realm,
            username,
        }) => passwd(&aor, &realm, username),
        Some(Command::HashPassword) => hash_password(),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

/// `presenced passwd`: one `[[auth.users]]` entry on stdout.
fn passwd(aor: &str, realm: &str, username: Option<String>) -> anyhow::Result<()> {
    use sip::digest::{ha1, Algorithm};
    let uri = sip::Uri::parse_str(aor).with_context(|| format!("{aor:?} is not a SIP URI"))?;
    let aor = uri.aor();
    let username = match username {
        Some(name) => name,
        None => aor
            .split_once(':')
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(user, _)| user.to_owned())
            .with_context(|| format!("{aor} has no user part: pass --username"))?,
    };
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "an empty password: type it on stdin");
    println!("[[auth.users]]");
    println!("aor = \"{aor}\"");
    println!("username = \"{username}\"");
    println!(
        "ha1_sha256 = \"{}\"",
        ha1(Algorithm::Sha256, &username, realm, password)
    );
    println!(
        "ha1_md5 = \"{}\"",
        ha1(Algorithm::Md5, &username, realm, password)
    );
    Ok(())
}

/// Logs go to stderr, filtered by RUST_LOG (default `info`), without
/// colours unless stderr is a terminal, so log lines can be parsed.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    })
}

fn check_config(file: &Path) -> anyhow::Result<()> {
    let config = load(Some(file))?;
    if let Some(tls) = &config.tls {
        presenced::transport::tls::acceptor(tls, &server::peer_names(&config))?;
    }
    let listen: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    println!("{}: OK (listen {})", file.display(), listen.join(", "));
    println!("service contacts: {}", config.service.directory.summary());
    println!(
        "sync: {} profile(s), {} warning(s)",
        config.sync.rules.profiles.len(),
        config.sync.warnings.len()
    );
    for warning in &config.sync.warnings {
        println!("warning: {warning}");
    }
    match &config.directory.ldap {
        Some(ldap) => println!(
            "directory: {} base {:?} filter {} every {} s",
            ldap.url,
            ldap.base,
            ldap.filter,
            ldap.refresh.as_secs()
        ),
        None => println!("directory: no ldap (rooms of [service] only)"),
    }
    Ok(())
}

/// `presenced hash-password`: the password never appears on a command
/// line (where `ps` and shell histories would keep it).
fn hash_password() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    let hash = presenced::http::console::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(())
}

/// `presenced import …`: the TOML on stdout, then the result checked as
/// `check-config` would (an overlap the vendor accepted is refused here,
/// naming both mappings), with the unmapped parts on stderr.
fn run_import(import: Import) -> anyhow::Result<()> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))
    };
    let (result, input) = match &import {
        Import::Tserver {
            aggregated_states,
            agent_states,
            profile,
        } => (
            rules::import::tserver::import(
                profile,
                &read(aggregated_states)?,
                &read(agent_states)?,
            ),
            agent_states,
        ),
        Import::Cic { file } => (rules::import::cic::import(&read(file)?), file),
        Import::Provider { file } => (rules::import::provider::import(&read(file)?), file),
    };
    let result = result.with_context(|| format!("{}", input.display()))?;
    print!("{}", result.toml);
    for unmapped in &result.unmapped {
        eprintln!("not mapped: {unmapped}");
    }
    Config::parse(Path::new("<imported>"), &result.toml)
        .context("the imported configuration does not pass the checks")?;
    Ok(())
}

/// `presenced explain URI`: service contacts from the configuration
/// alone, so it works without a running server (a person publishing for
/// the address would win over what it says; the last line repeats
/// that); then the presence provider's source and the running server's
/// subscription state; then the sync engine's view of the agent, from
/// the running server when a token is given, since it depends on the
/// agent's current states.
fn explain(
    uri: &str,
    file: Option<&Path>,
    server: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let config = load(file)?;
    if uri.contains('@') {
        print!("{}", config.service.directory.explain(uri));
    }
    let server = server.or(config.http.listen);
    if uri.contains(['@', ':']) {
        print!("{}", presenced::explain::provider(&config, uri, server));
    }
    let Ok(token) = std::env::var("PRESENCED_SYNC_TOKEN") else {
        println!("sync engine: not asked (set PRESENCED_SYNC_TOKEN to an integration's token)");
        return Ok(());
    };
    let Some(addr) = server else {
        println!("sync engine: not asked (no --server and http.listen is off)");
        return Ok(());
    };
    match presenced::sync::remote::explain(addr, token.trim(), uri) {
        Ok(lines) => {
            println!("sync engine (server at {addr}):");
            for line in lines {
                println!("  {line}");
            }
        }
        Err(e) => println!("sync engine: {e}"),
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load(args.config.as_deref())?;
    if !args.listen.is_empty() {
        config = config.with_listen(args.listen)?;
    }
    if let Some(dir) = args.data_dir {
        config = config.with_data_dir(dir);
    }
    if args.memory {
        config = config.with_memory();
    }
    if let Some(HttpListen(listen)) = args.http_listen {
        config = config.with_http_listen(listen);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let shutdown = ShutdownSignal::install()?;
        let store = server::open_store(&config.store)?;
        let http = server::bind_http(&config.http)?;
        // Photo URLs point at the listener's real address unless
        // `service.public_url` says otherwise.
        let listener_base = http
            .as_ref()
            .map(|h| format!("{}://{}", h.scheme(), h.local_addr()));
        if let Some(base) = &listener_base {
            let directory = config.service.directory.with_listener_base(base);
            config.service.directory = std::sync::Arc::new(directory);
        }
        tracing::info!(service = %config.service.directory.summary(), "service contacts");
        let themes_dir = config.service.themes_dir.clone();
        let ldap = config.directory.ldap.clone();
        let mapping = config.directory.mapping.clone();
        let live: LiveConfig = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(config.clone()));
        let directory = DirectoryHub::new(live.clone(), ldap.is_some());
        let mut server = Server::bind(config)?.with_directory(directory.clone());
        if mapping.credentials.is_on() && ldap.is_some() {
            server = server.with_directory_users(directory.clone());
        }
        for bound in server.bound() {
            tracing::info!(transport = %bound.transport, addr = %bound.addr, "listening");
        }
        // HTTP has its own token: it stops last, after the store is flushed.
        let http_cancel = CancellationToken::new();
        let http_tracker = TaskTracker::new();
        let (control, control_rx) = tokio::sync::mpsc::channel(presenced::control::CONTROL_QUEUE);
        let reloader = args.config.clone().map(|path| {
            std::sync::Arc::new(Reloader::new(
                path,
                live.clone(),
                control.clone(),
                listener_base.clone(),
            ))
        });
        if let Some(http) = http {
            let mut listeners: Vec<String> = server
                .bound()
                .iter()
                .map(|b| format!("{}:{}", b.transport, b.addr))
                .collect();
            listeners.push(format!("{}:{}", http.scheme(), http.local_addr()));
            let mut settings = live.load().console.clone();
            // Cookies served over HTTPS are `Secure` whatever the config
            // says: a browser then never sends them in the clear.
            settings.cookie_secure |= http.is_tls();
            let console = settings.is_on().then(|| {
                presenced::http::console::Console::new(&settings, listeners, reloader.clone())
            });
            let shared = presenced::http::Shared {
                control: control.clone(),
                store: store.clone(),
                live: live.clone(),
                events: server.events(),
                directory: directory.clone(),
                recent: server.recent(),
                console,
            };
            http.spawn(shared, http_cancel.clone(), &http_tracker);
        }
        http_tracker.close();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        server.spawn(store.clone(), control_rx, &cancel, &tracker)?;
        if let Some(ldap) = ldap {
            presenced::directory::spawn_refresh(directory, ldap, mapping, cancel.clone(), &tracker);
        }
        if let Some(reloader) = reloader {
            reloader.spawn(themes_dir, cancel.clone(), &tracker);
        }
        tracker.close();
        shutdown.received().await?;
        tracing::info!("shutting down");
        cancel.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(tasks = tracker.len(), "tasks still running at exit");
        }
        // The core flushes as it stops; this covers a core that ended early,
        // and is a no-op otherwise.
        store
            .flush_and_close()
            .await
            .context("flushing the store")?;
        drop(store);
        http_cancel.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, http_tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("http still running at exit");
        }
        tracing::info!("shutdown complete");
        Ok(())
    })
}

/// Ctrl-C and SIGTERM, listened for from the start of `serve`: a signal
/// that arrives while presenced is still starting (a supervisor stopping
/// it at once) must end it gracefully too, not by the default action of
/// a signal nobody handles yet, which kills the process on the spot.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Installs the handlers; must run inside the runtime.
    fn install() -> anyhow::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(ShutdownSignal {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                interrupt: signal(SignalKind::interrupt())
                    .context("installing the Ctrl-C handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignal {})
    }

    /// Resolves on the first Ctrl-C or SIGTERM since [`ShutdownSignal::install`].
    async fn received(mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        Ok(())
    }
}
