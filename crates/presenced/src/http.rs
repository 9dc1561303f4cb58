//! The HTTP side: `GET /metrics` (Prometheus text format) and
//! `GET /health`, for monitoring and for load balancers, and the operator
//! API: `POST /api/v1/authorizations` approves or refuses a pending watcher,
//! `GET`/`PUT /api/v1/users/{uri}/contacts` read and provision a user's
//! contact list ([`contacts`]), and `PUT /api/v1/rooms/{alias}/occupancy`
//! feeds a room's participant count; `GET /service/themes/...` serves the
//! avatars of service contacts ([`service`]); `/api/v1/sync/...` is the
//! contact centers' API of the sync engine (`sync`: agents, states, login
//! sessions, explain, the event stream; docs/api.md);
//! `/api/v1/provider/...` is the presence provider's ([`provider`]: which
//! source serves a presentity and where its upstream subscription
//! stands); `GET /api/v1/directory` searches the company directory, with
//! presence ([`directory`]); `/console/` is the web console ([`console`]).
//! The API refuses bad input with one JSON shape naming the field
//! ([`error`]).
//!
//! It is a separate listener from SIP (default 127.0.0.1:8088, loopback so
//! metrics are not published to the world by accident) and a separate
//! shutdown: the server stops it last, so the final state stays scrapable
//! while SIP drains and the store flushes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;
use crate::control::{Control, ControlSender};
use crate::directory::DirectoryHub;
use crate::history::Recent;
use crate::reload::LiveConfig;
use crate::store::Store;
use crate::sync::EventLog;
use crate::transport::tls::CertStore;

pub mod auth;
pub mod console;
mod contacts;
mod directory;
pub mod error;
mod history;
pub mod provider;
mod service;
mod sync;
pub mod tls;

use error::{parse_json, ApiError};

/// How often histograms are folded even when nobody scrapes, so their
/// raw samples do not pile up.
const UPKEEP: Duration = Duration::from_secs(5);

/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listen address could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// The HTTPS certificate or key could not be loaded.
    #[error("http TLS: {0}")]
    Tls(#[from] crate::transport::tls::TlsError),
}

/// An HTTP listener, bound and ready to serve.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    metrics: PrometheusHandle,
    /// HTTPS: the acceptor and its certificate store (reloaded).
    tls: Option<(TlsAcceptor, Arc<CertStore>)>,
}

impl HttpServer {
    /// Binds `addr` and installs the metrics recorder; with `tls`, loads
    /// the certificate and key to serve HTTPS. Must be called inside a
    /// tokio runtime; binding and loading here, not in the task, makes an
    /// address in use or a bad certificate a start-up error.
    pub fn bind(addr: SocketAddr, tls: Option<&TlsFiles>) -> Result<HttpServer, HttpError> {
        let tls = tls
            .map(|files| crate::transport::tls::acceptor(files, &[]))
            .transpose()?;
        let err = |source| HttpError::Bind { addr, source };
        let std_listener = std::net::TcpListener::bind(addr).map_err(err)?;
        std_listener.set_nonblocking(true).map_err(err)?;
        let listener = TcpListener::from_std(std_listener).map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        let metrics = crate::metrics::install()?;
        Ok(HttpServer {
            listener,
            addr,
            metrics,
            tls,
        })
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.is_tls() {
            "https"
        } else {
            "http"
        }
    }

    /// The bound address, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `cancel` fires, then finishes the requests in flight.
    /// Logs `http listening addr=...` first, which tests and operators
    /// look for.
    /// `shared` carries operator requests (`POST /api/v1/authorizations`)
    /// to the SIP core, and what the handlers read.
    pub fn spawn(self, shared: Shared, cancel: CancellationToken, tracker: &TaskTracker) {
        let scheme = self.scheme();
        let HttpServer {
            listener,
            addr,
            metrics,
            tls,
        } = self;
        tracing::info!(%addr, tls = tls.is_some(), "http listening");
        if shared.console.is_some() {
            tracing::info!(url = %format!("{scheme}://{addr}/console/"), "console on");
        }
        let upkeep = metrics.clone();
        let stop = cancel.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => upkeep.run_upkeep(),
                }
            }
        });
        let app = router(AppState {
            metrics,
            control: shared.control,
            store: shared.store,
            live: shared.live,
            events: shared.events,
            shutdown: cancel.clone(),
            directory: shared.directory,
            recent: shared.recent,
            console: shared.console,
        });
        let stopped = cancel.clone().cancelled_owned();
        match tls {
            None => tracker.spawn(serve(listener, app, stopped, addr)),
            Some((acceptor, store)) => {
                tracker.spawn(crate::transport::tls::watch(store, cancel.clone()));
                let listener = tls::TlsListener::new(listener, acceptor, cancel);
                tracker.spawn(serve(listener, app, stopped, addr))
            }
        };
    }
}

/// What the HTTP side is given by the rest of the server.
pub struct Shared {
    /// Carries operator requests to the SIP core.
    pub control: ControlSender,
    /// For `/health`: a failed store is a reason to restart.
    pub store: Store,
    /// The running configuration.
    pub live: LiveConfig,
    /// The sync engine's event log, which the event stream reads.
    pub events: EventLog,
    /// The company directory, searched and reported on in `/health`.
    pub directory: Arc<DirectoryHub>,
    /// Presentities' recent changes and NOTIFY latencies.
    pub recent: Arc<Recent>,
    /// The web console, when `[console]` names a user.
    pub console: Option<Arc<console::Console>>,
}

/// What every handler may use.
#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    control: ControlSender,
    /// For `/health`: a failed store is a reason to restart.
    store: Store,
    /// The running configuration (theme images, the occupancy token, the
    /// sync engine's tokens).
    live: LiveConfig,
    /// The sync engine's event log, which the event stream reads.
    events: EventLog,
    /// Fires at shutdown: event streams end, so the listener can stop.
    shutdown: CancellationToken,
    /// The company directory.
    directory: Arc<DirectoryHub>,
    /// Presentities' recent changes and NOTIFY latencies.
    recent: Arc<Recent>,
    /// The web console, if on.
    console: Option<Arc<console::Console>>,
}

/// Serves `app` on `listener` (plain or TLS) until `stopped`, then
/// finishes the requests in flight.
async fn serve<L>(
    listener: L,
    app: Router,
    stopped: tokio_util::sync::WaitForCancellationFutureOwned,
    addr: SocketAddr,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await;
    if let Err(e) = served {
        tracing::error!(%addr, error = %e, "http server failed");
    }
    tracing::debug!(%addr, "http stopped");
}

/// The routes; anything else is 404.
fn router(state: AppState) -> Router {
    let console = match state.console {
        Some(_) => console::routes(state.clone()),
        None => Router::new(),
    };
    Router::new()
        .merge(console)
        .route("/metrics", get(render_metrics))
        .route("/health", get(health))
        .route("/api/v1/authorizations", post(authorize))
        .route(
            "/api/v1/users/{uri}/contacts",
            get(contacts::get).put(contacts::put),
        )
        .route("/service/themes/{theme}/{file}", get(service::photo))
        .route("/api/v1/rooms/{alias}/occupancy", put(service::occupancy))
        .route("/api/v1/directory", get(directory::search))
        .nest("/api/v1/presentities", history_routes())
        .nest("/api/v1/provider", provider_routes())
        .nest("/api/v1/sync", sync_routes())
        .with_state(state)
}

/// The presence provider's routes, in the order of [`provider::ROUTES`].
fn provider_routes() -> Router<AppState> {
    let [presentity, events, attendant, line, openapi] = provider::ROUTES;
    Router::new()
        .route(presentity, get(provider::presentity))
        .route(events, get(provider::events))
        .route(
            attendant,
            put(provider::put_attendant).delete(provider::delete_attendant),
        )
        .route(line, put(provider::put_line).delete(provider::delete_line))
        .route(openapi, get(sync::openapi))
}

/// A presentity's routes, in the order of [`history::ROUTES`].
fn history_routes() -> Router<AppState> {
    let [changes] = history::ROUTES;
    Router::new().route(changes, get(history::history))
}

/// The sync engine's routes, in the order of [`sync::ROUTES`].
fn sync_routes() -> Router<AppState> {
    let [agent, state, session, explain, events, openapi] = sync::ROUTES;
    Router::new()
        .route(agent, get(sync::get).put(sync::bind).delete(sync::unbind))
        .route(state, post(sync::post_state))
        .route(session, post(sync::session))
        .route(explain, get(sync::explain))
        .route(events, get(sync::events))
        .route(openapi, get(sync::openapi))
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    ([(CONTENT_TYPE, PROMETHEUS_TEXT)], state.metrics.render())
}

/// The body of `POST /api/v1/authorizations`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Authorization {
    /// The watched presentity, a SIP or tel URI.
    presentity: String,
    /// The watcher, a SIP URI.
    watcher: String,
    /// Approve (true) or refuse (false).
    allow: bool,
}

/// Approves or refuses a watcher's pending subscriptions: the operator's
/// side of the `pending` state (RFC 3857's watcher approval, without
/// XCAP). URIs are reduced to their address of record, as the engine keys
/// presentities and watchers.
async fn authorize(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, String), ApiError> {
    let request: Authorization = parse_json(&body)?;
    let aor = |field: &str, uri: &str| {
        sip::Uri::parse_str(uri)
            .map(|u| u.aor())
            .map_err(|e| ApiError::bad_request(field, format!("not a URI ({e}): {uri}")))
    };
    let presentity = aor("presentity", &request.presentity)?;
    let watcher = aor("watcher", &request.watcher)?;
    let (done, applied) = tokio::sync::oneshot::channel();
    let control = Control::Authorize {
        presentity: presentity.clone(),
        watcher: watcher.clone(),
        allow: request.allow,
        done,
    };
    if state.control.try_send(control).is_err() {
        return Err(ApiError::core_busy());
    }
    match applied.await {
        Ok(()) => Ok((
            StatusCode::OK,
            format!(
                "{} {watcher} for {presentity}\n",
                if request.allow { "allowed" } else { "refused" }
            ),
        )),
        Err(_) => Err(ApiError::core_stopped()),
    }
}

/// Liveness: the process runs, its runtime answers, and its store still
/// takes writes. After a failed commit redb refuses every later write
/// until the database is reopened, so every PUBLISH and SUBSCRIBE would
/// get 500; 503 here tells a supervisor (systemd, Kubernetes) to restart
/// the process, which reopens the store and recovers it.
///
/// With `[directory]` on, a second line says how the LDAP source is
/// doing (`directory: ok, ...` or `directory: ldap failing for N s
/// (...); serving M entries from ...`). A failing LDAP server leaves
/// the status 200: a restart would not heal it and would drop the last
/// good directory the server keeps serving; alert on
/// `presenced_directory_up` instead.
async fn health(State(state): State<AppState>) -> (StatusCode, String) {
    let directory = state
        .directory
        .health(std::time::SystemTime::now())
        .map(|line| format!("\n{line}\n"))
        .unwrap_or_default();
    if state.store.has_failed() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store failed: writes are refused until a restart\n{directory}"),
        )
    } else {
        (StatusCode::OK, format!("ok{directory}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A plain HTTP/1.1 GET; returns status line and body.
    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
            .await
            .expect("answer in time")
            .expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a full response");
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, body.to_owned())
    }

    #[tokio::test]
    async fn serves_metrics_and_health_then_stops() {
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None).expect("bind");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (control, _core) = tokio::sync::mpsc::channel(1);
        let live = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(
            crate::config::Config::default(),
        ));
        let directory = DirectoryHub::new(live.clone(), false);
        let shared = Shared {
            control,
            store: Store::memory(),
            live,
            events: EventLog::default(),
            directory,
            recent: Default::default(),
            console: None,
        };
        server.spawn(shared, cancel.clone(), &tracker);
        tracker.close();

        crate::metrics::notify_sent();
        crate::metrics::message_received(crate::config::TransportKind::Udp);
        crate::metrics::store_committed(Duration::from_micros(300));

        let (status, body) = get(addr, "/health").await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert_eq!(body, "ok");

        let (status, body) = get(addr, "/metrics").await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        for name in [
            "presenced_subscriptions{state=\"active\"}",
            "presenced_subscriptions{state=\"pending\"}",
            "presenced_publications",
            "presenced_presentities",
            "presenced_registrar_bindings",
            "presenced_notify_sent_total",
            "presenced_notify_failed_total",
            "presenced_messages_received_total{transport=\"udp\"}",
            "presenced_messages_dropped_total{reason=\"overload\"}",
            "presenced_store_commits_total",
            "presenced_store_commit_failures_total",
            "presenced_store_commit_seconds_bucket",
            "presenced_config_reloads_total{result=\"refused\"}",
            "presenced_sync_agents",
            "presenced_sync_events_total{event=\"dnd\"}",
            "# HELP presenced_notify_sent_total NOTIFY requests sent.",
        ] {
            assert!(body.contains(name), "{name} missing from:\n{body}");
        }

        let (status, _) = get(addr, "/nothing").await;
        assert!(status.starts_with("HTTP/1.1 404"), "{status}");

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("http stops on cancel");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
