//! The `presenced` command: serve, or check a configuration file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing_subscriber::EnvFilter;

use presenced::application::NotYetPresence;
use presenced::config::{Config, ListenSpec};
use presenced::server::Server;

/// How long tasks get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A SIP presence server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML); built-in defaults without it.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address such as udp:127.0.0.1:5060 or tls:[::1]:5061;
    /// repeatable; replaces the file's sip.listen.
    #[arg(long, value_name = "SPEC")]
    listen: Vec<ListenSpec>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validates a configuration file (including the TLS files) and exits.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        None => serve(cli.config, cli.listen),
    }
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
        presenced::transport::tls::acceptor(tls)?;
    }
    let listen: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    println!("{}: OK (listen {})", file.display(), listen.join(", "));
    Ok(())
}

fn serve(config: Option<PathBuf>, listen: Vec<ListenSpec>) -> anyhow::Result<()> {
    let mut config = load(config.as_deref())?;
    if !listen.is_empty() {
        config = config.with_listen(listen)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(config)?;
        for bound in server.bound() {
            tracing::info!(transport = %bound.transport, addr = %bound.addr, "listening");
        }
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        server.spawn(NotYetPresence, &cancel, &tracker);
        tracker.close();
        shutdown_signal().await?;
        tracing::info!("shutting down");
        cancel.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(tasks = tracker.len(), "tasks still running at exit");
        }
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
