//! Live configuration: the running [`Config`] behind an `ArcSwap`, and
//! the task that reloads it when the file changes or on SIGHUP
//! (../shared/DESIGN.md, "Config reloads are inputs").
//!
//! A reload reads and validates the whole file exactly as at start (and
//! as `presenced check-config` does). An invalid file is refused: the
//! error, with file, line and field, is logged and the running
//! configuration stays. A valid one is swapped in atomically and its
//! changes logged, one line each; the SIP core gets them as an input
//! ([`Control::Reconfigure`] → `presence::Input::Reconfigure`) in order
//! with SIP messages, so the watchers whose answer changed are notified
//! and no subscription is dropped.
//!
//! What a reload applies today is `[service]` (rooms, gateway rules,
//! themes, the occupancy token) and `[sync]` (the sync engine's profiles,
//! mappings, API tokens and `default_lcid`: [`Control::SyncRules`] maps
//! every current agent again and publishes what differs, and re-renders
//! the texts already shown in the new language). Every other section is read at start
//! only: listeners, the store and the engine's limits keep their running
//! values until a restart (a later section that can change live adds
//! itself to [`Reloader::apply`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::control::{Control, ControlSender};
use crate::metrics::{self, ReloadResult};

/// The running configuration, shared by the HTTP handlers and the
/// reloader; readers take a snapshot with `load()`.
pub type LiveConfig = Arc<ArcSwap<Config>>;

/// Editors write a file in several steps (truncate, write, rename); the
/// reload waits this long after the last change it saw.
const SETTLE: Duration = Duration::from_millis(250);

/// Why a reload was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is invalid; the running configuration is kept.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The core has stopped (shutdown under way).
    #[error("the SIP core has stopped")]
    CoreStopped,
    /// The new text could not be written over the file.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Reloads the file into the live configuration and the core.
pub struct Reloader {
    path: PathBuf,
    live: LiveConfig,
    control: ControlSender,
    /// The HTTP listener's bound address as a URL, the base of photo URLs
    /// when `service.public_url` is not set.
    listener_base: Option<String>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish()
    }
}

impl Reloader {
    /// A reloader of `path` into `live`, telling the core through
    /// `control`.
    pub fn new(
        path: PathBuf,
        live: LiveConfig,
        control: ControlSender,
        listener_base: Option<String>,
    ) -> Reloader {
        Reloader {
            path,
            live,
            control,
            listener_base,
        }
    }

    /// The file reloaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Validates `text` as the new file (the same checks as a reload),
    /// writes it in place atomically (a temporary file beside it, then a
    /// rename) and reloads it: the console's "save and reload". An
    /// invalid text is refused and the file left as it was.
    pub async fn replace(&self, text: &str) -> Result<Vec<String>, ReloadError> {
        Config::parse(&self.path, text)?;
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".presenced-new");
        let temporary = PathBuf::from(temporary);
        let written =
            std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(ReloadError::Write {
                path: self.path.clone(),
                source,
            });
        }
        let outcome = self.reload().await;
        self.record("console", &outcome);
        outcome
    }

    /// Reads, validates and applies the file once; returns the changes.
    pub async fn reload(&self) -> Result<Vec<String>, ReloadError> {
        let new = Config::load(&self.path)?;
        self.apply(new).await
    }

    /// Swaps in what a reload may change and tells the core: the service
    /// contacts and the sync engine's rules (and its API tokens), each
    /// only when it changed.
    async fn apply(&self, new: Config) -> Result<Vec<String>, ReloadError> {
        let running = self.live.load_full();
        let service = match &self.listener_base {
            Some(base) => Arc::new(new.service.directory.with_listener_base(base)),
            None => new.service.directory,
        };
        let mut changes = running.service.directory.changes(&service);
        let services_changed = !changes.is_empty();
        let sync_changed = running.sync.rules != new.sync.rules;
        if sync_changed {
            changes.push(format!(
                "[sync]: {} profile(s), {} token(s), {} warning(s); applied to the current agents",
                new.sync.rules.profiles.len(),
                new.sync.rules.tokens.len(),
                new.sync.warnings.len()
            ));
            changes.extend(new.sync.warnings.iter().map(|w| format!("warning: {w}")));
        }
        if changes.is_empty() {
            return Ok(changes);
        }
        let mut next = (*running).clone();
        next.service.directory = service.clone();
        next.sync = new.sync.clone();
        self.live.store(Arc::new(next));
        if services_changed {
            let (done, applied) = tokio::sync::oneshot::channel();
            let control = Control::Reconfigure {
                services: service,
                done,
            };
            self.tell(control, applied).await?;
        }
        if sync_changed {
            let (done, applied) = tokio::sync::oneshot::channel();
            let control = Control::SyncRules {
                rules: new.sync.rules,
                done,
            };
            self.tell(control, applied).await?;
        }
        Ok(changes)
    }

    /// Sends the core a request and waits until it is applied.
    async fn tell(
        &self,
        control: Control,
        applied: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<(), ReloadError> {
        self.control
            .send(control)
            .await
            .map_err(|_| ReloadError::CoreStopped)?;
        applied.await.map_err(|_| ReloadError::CoreStopped)
    }

    /// Reloads on SIGHUP and whenever the file (or a theme under
    /// `themes_dir`) changes, until `cancel` fires.
    pub fn spawn(
        self: Arc<Self>,
        themes_dir: Option<PathBuf>,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) {
        let (tx, mut changed) = mpsc::unbounded_channel::<()>();
        let watcher = watch(&self.path, themes_dir.as_deref(), tx);
        tracker.spawn(async move {
            // Kept alive as long as the task runs; dropping it stops it.
            let _watcher = watcher;
            let mut hangup = hangup();
            loop {
                let why = tokio::select! {
                    _ = cancel.cancelled() => break,
                    Some(()) = changed.recv() => {
                        // Let the editor finish, and take the burst as one.
                        tokio::time::sleep(SETTLE).await;
                        while changed.try_recv().is_ok() {}
                        "file changed"
                    }
                    Some(()) = recv_hangup(&mut hangup) => "SIGHUP",
                };
                self.log(why).await;
            }
        });
    }

    async fn log(&self, why: &str) {
        let outcome = self.reload().await;
        self.record(why, &outcome);
    }

    /// Logs and counts how a reload ended.
    fn record(&self, why: &str, outcome: &Result<Vec<String>, ReloadError>) {
        let file = self.path.display();
        match outcome {
            Ok(changes) if changes.is_empty() => {
                metrics::config_reloaded(ReloadResult::Unchanged);
                tracing::info!(%file, why, "config reloaded: nothing that applies live changed");
            }
            Ok(changes) => {
                metrics::config_reloaded(ReloadResult::Applied);
                tracing::info!(%file, why, changes = changes.len(), "config reloaded");
                for change in changes {
                    tracing::info!(%file, "config change: {change}");
                }
            }
            Err(error) => {
                metrics::config_reloaded(ReloadResult::Refused);
                tracing::error!(%file, why, %error, "config reload refused; the running configuration is kept");
            }
        }
    }
}

/// Watches the config file's directory (editors replace the file by
/// renaming, which a watch on the file itself would miss) and the themes
/// folder; `None` when the platform refuses, the reload then being
/// SIGHUP's alone.
fn watch(
    path: &Path,
    themes_dir: Option<&Path>,
    tx: mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let name = path.file_name()?.to_owned();
    let themes = themes_dir.map(Path::to_path_buf);
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let ours = event.paths.iter().any(|p| {
            p.file_name() == Some(name.as_os_str())
                || themes.as_ref().is_some_and(|t| p.starts_with(t))
        });
        if ours {
            let _ = tx.send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the config file; reload with SIGHUP");
            return None;
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Err(error) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(%error, dir = %dir.display(), "cannot watch the config file; reload with SIGHUP");
        return None;
    }
    if let Some(themes) = themes_dir {
        if let Err(error) = watcher.watch(themes, RecursiveMode::Recursive) {
            tracing::warn!(%error, dir = %themes.display(), "cannot watch the themes; reload with SIGHUP");
        }
    }
    Some(watcher)
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(error) => {
            tracing::warn!(%error, "cannot take SIGHUP; reloads follow the file only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {
    None
}

/// The next SIGHUP; never, without a handler.
async fn recv_hangup(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use presence::{Dialect, ServiceContacts};

    const ROOM: &str = "[service]\n[[service.rooms]]\naliases = [\"meet.alice@vc.example.com\"]\nname = \"Alice's meeting room\"\n";

    #[tokio::test]
    async fn a_valid_edit_is_swapped_in_and_an_invalid_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("presenced.toml");
        std::fs::write(&path, ROOM).unwrap();
        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::load(&path).unwrap()));
        let (control, mut core) = mpsc::channel(4);
        let base = Some("http://127.0.0.1:8088".to_owned());
        let reloader = Arc::new(Reloader::new(path.clone(), live.clone(), control, base));
        // The core's side: apply and acknowledge.
        let applied = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(Control::Reconfigure { services, done }) = core.recv().await {
                seen.push(services.answer("sip:standup@vc.example.com", Dialect::Ietf));
                let _ = done.send(());
            }
            seen
        });

        // Nothing changed: nothing to tell the core.
        assert!(reloader.reload().await.unwrap().is_empty());
        let added = format!("{ROOM}[[service.rooms]]\naliases = [\"standup@vc.example.com\"]\nname = \"Stand-up\"\n");
        std::fs::write(&path, &added).unwrap();
        assert_eq!(
            reloader.reload().await.unwrap(),
            ["room standup@vc.example.com added"]
        );
        let card = live
            .load()
            .service
            .directory
            .answer("sip:standup@vc.example.com", Dialect::Microsoft)
            .expect("swapped in");
        // Photo URLs keep pointing at the bound listener.
        assert!(card
            .photo
            .is_some_and(|p| p.uri.starts_with("http://127.0.0.1:8088/")));

        std::fs::write(
            &path,
            format!("{added}[[service.rooms]]\naliases = [\"x\"]\nname = \"X\"\n"),
        )
        .unwrap();
        let error = reloader.reload().await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "{}:9:12: service.rooms[2].aliases",
                path.display()
            )),
            "{error}"
        );
        assert!(live
            .load()
            .service
            .directory
            .room_id("standup@vc.example.com")
            .is_some());
        drop(reloader);
        let seen = applied.await.unwrap();
        assert_eq!(seen.len(), 1, "one Reconfigure, for the one valid change");
        assert!(seen[0].is_some());
    }

    const SYNC: &str = "[sync]\nglobal = { Rcc = \"p\" }\n[[sync.profiles]]\nname = \"p\"\n[[sync.profiles.augmentations]]\nname = \"a\"\norder = 1\nmappings = [{ cc_status = \"Available\", availability = 3500, accept = \"3000-4499\", direction = \"TwoWay\" }]\n";

    #[tokio::test]
    async fn a_sync_edit_reaches_the_core_and_a_bad_one_keeps_the_old_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("presenced.toml");
        std::fs::write(&path, SYNC).unwrap();
        let live: LiveConfig = Arc::new(ArcSwap::from_pointee(Config::load(&path).unwrap()));
        let (control, mut core) = mpsc::channel(4);
        let reloader = Reloader::new(path.clone(), live.clone(), control, None);
        let applied = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(Control::SyncRules { rules, done }) = core.recv().await {
                seen.push(rules);
                let _ = done.send(());
            }
            seen
        });
        let edited = SYNC.replace("availability = 3500", "availability = 3600");
        std::fs::write(&path, &edited).unwrap();
        let changes = reloader.reload().await.unwrap();
        assert!(
            changes[0].starts_with("[sync]: 1 profile(s)"),
            "{changes:?}"
        );
        let mapping = |rules: &rules::sync::SyncRules| {
            rules.profiles[0].augmentations[0].mappings[0]
                .availability
                .map(|a| a.value())
        };
        assert_eq!(mapping(&live.load().sync.rules), Some(3600));

        // Push and pull in one profile: refused, the running rules stay.
        std::fs::write(
            &path,
            edited.replace(
                "name = \"p\"\n",
                "name = \"p\"\ndnd_off_ranges = \"3000-5999\"\naggregated_states = \"1=A\"\n",
            ),
        )
        .unwrap();
        let error = reloader.reload().await.unwrap_err().to_string();
        assert!(error.contains("are exclusive per profile"), "{error}");
        assert_eq!(mapping(&live.load().sync.rules), Some(3600));
        drop(reloader);
        let seen = applied.await.unwrap();
        assert_eq!(seen.len(), 1, "one SyncRules, for the one valid change");
        assert_eq!(mapping(&seen[0]), Some(3600));
    }
}
