//! Putting the server together: bind every listener, then start the core
//! and the transport tasks under one cancellation token and task tracker.
//!
//! Binding is separate from running so that every address error surfaces
//! before any task starts, and so that the caller can log the addresses the
//! system actually gave (port 0 picks a free port).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthSettings, Authenticator, Network};
use crate::config::{
    AuthorizationPolicy, PresenceSettings, UnknownPresentityPolicy, UnlistedWatchers,
};
use crate::config::{Config, ListenSpec, RegistrarSettings, TransportKind};
use crate::config::{HttpSettings, StoreMode, StoreSettings};
use crate::control::Control;
use crate::directory::{AgentRoster, DirectoryHub};
use crate::endpoint::{Endpoint, ToTags};
use crate::flood::{Limiter, SourceLimit};
use crate::history::Recent;
use crate::http::{HttpError, HttpServer};
use crate::refusal_log::Refusals;
use crate::sip_core::{CoreParts, Flood, SipCore};
use crate::store::{Store, StoreError};
use crate::sync::{EventLog, SyncHub};
use crate::transport::datagram::DatagramLink;
use crate::transport::source_limit::SourceGate;
use crate::transport::tcp::StreamContext;
use crate::transport::tls::{CertStore, TlsError};
use crate::transport::{self, Connections, Intake};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {spec}: {source}")]
    Bind {
        /// The address.
        spec: ListenSpec,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The system gave no randomness for the nonce secret.
    #[error("no randomness for the authentication secret: {0}")]
    Entropy(String),
}

/// The authenticator of `[auth]`, with a nonce secret random per
/// process: a restart makes outstanding nonces stale, which clients
/// answer without asking their users.
fn authenticator(settings: &AuthSettings) -> Result<Authenticator, ServerError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ServerError::Entropy(e.to_string()))?;
    tracing::info!(
        realm = %settings.realm,
        users = settings.users.len(),
        trusted_peers = settings.trusted_peers.len(),
        "authentication on"
    );
    Ok(Authenticator::new(settings, secret))
}

/// One bound listener, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The transport.
    pub transport: TransportKind,
    /// The address the system gave, with the real port.
    pub addr: SocketAddr,
}

enum Listener {
    /// The socket, ready for batched sends.
    Udp(DatagramLink),
    Stream(TcpListener, Option<TlsAcceptor>),
}

/// A server with its sockets bound, ready to run.
pub struct Server {
    config: Config,
    listeners: Vec<(Bound, Listener)>,
    /// The sync engine's event log: the core appends, the HTTP event
    /// stream reads ([`Server::events`]).
    events: EventLog,
    auth: Option<Authenticator>,
    /// The TLS listeners' certificate, reloaded when its files change.
    cert_store: Option<Arc<CertStore>>,
    /// The trusted peers' certificate names (mutual TLS).
    peer_names: Arc<[String]>,
    /// Who answers dialect clients' directory searches.
    address_book: Arc<dyn presence::AddressBook>,
    /// Where the core writes the agents' statuses for the directory.
    agents: Arc<AgentRoster>,
    /// Where the core keeps presentities' changes and NOTIFY latencies
    /// ([`Server::recent`]).
    recent: Arc<Recent>,
}

impl Server {
    /// Binds every listen address of `config` and loads the TLS files.
    /// Must be called inside a tokio runtime.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        let peer_names = peer_names(&config);
        let (acceptor, cert_store) = match &config.tls {
            Some(files) => {
                let (acceptor, store) = transport::tls::acceptor(files, &peer_names)?;
                (Some(acceptor), Some(store))
            }
            None => (None, None),
        };
        let mut listeners = Vec::with_capacity(config.listen.len());
        for spec in &config.listen {
            let err = |source| ServerError::Bind {
                spec: *spec,
                source,
            };
            let (listener, addr) = match spec.transport {
                TransportKind::Udp => {
                    let socket = transport::udp::bind(spec.addr).map_err(err)?;
                    let addr = socket.local_addr().map_err(err)?;
                    let link = DatagramLink::new(Arc::new(socket));
                    (Listener::Udp(link), addr)
                }
                kind => {
                    let listener = transport::tcp::bind(spec.addr).map_err(err)?;
                    let addr = listener.local_addr().map_err(err)?;
                    let tls = if kind == TransportKind::Tls {
                        acceptor.clone()
                    } else {
                        None
                    };
                    (Listener::Stream(listener, tls), addr)
                }
            };
            listeners.push((
                Bound {
                    transport: spec.transport,
                    addr,
                },
                listener,
            ));
        }
        let auth = config.auth.as_ref().map(authenticator).transpose()?;
        Ok(Server {
            config,
            listeners,
            events: EventLog::default(),
            auth,
            cert_store,
            peer_names,
            address_book: Arc::new(presence::NoAddressBook),
            agents: Arc::default(),
            recent: Arc::default(),
        })
    }

    /// Answers dialect clients' directory searches from the company
    /// directory (`crate::directory`) and keeps its agents' statuses up
    /// to date; without it searches find nothing.
    pub fn with_directory(mut self, directory: Arc<DirectoryHub>) -> Server {
        self.agents = directory.agents();
        self.address_book = directory;
        self
    }

    /// Users from the directory sign in too (after `[[auth.users]]`);
    /// without `[auth]` nobody signs in, which the log says.
    pub fn with_directory_users(mut self, users: Arc<dyn crate::auth::UserDirectory>) -> Server {
        match self.auth.take() {
            Some(auth) => {
                tracing::info!("directory users sign in (after [[auth.users]])");
                self.auth = Some(auth.with_directory(users));
            }
            None => tracing::warn!(
                "directory.ha1_*_attribute set without [auth]: nobody is authenticated, \
                 the directory's credentials are not used"
            ),
        }
        self
    }

    /// The bound addresses, in configuration order.
    pub fn bound(&self) -> Vec<Bound> {
        self.listeners.iter().map(|(b, _)| *b).collect()
    }

    /// Presentities' recent changes and NOTIFY latencies, for the console
    /// and the history API.
    pub fn recent(&self) -> Arc<Recent> {
        self.recent.clone()
    }

    /// The sync engine's event log, for the HTTP event stream.
    pub fn events(&self) -> EventLog {
        self.events.clone()
    }

    /// Starts the core and every transport task; they stop when `cancel`
    /// fires, and `tracker` waits for them.
    pub fn spawn(
        self,
        store: Store,
        control: mpsc::Receiver<Control>,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<(), StoreError> {
        let Server {
            config,
            listeners,
            events,
            auth,
            cert_store,
            peer_names,
            address_book,
            agents,
            recent,
        } = self;
        if let Some(store) = cert_store {
            tracker.spawn(transport::tls::watch(store, cancel.clone()));
        }
        let tags = ToTags::new();
        let connections = Connections::default();
        let (queue, inbound) = mpsc::channel(config.queue_depth);
        let (close_notices, closed) = mpsc::unbounded_channel();
        let mut intake = Intake::new(queue, config.retry_after_secs, tags.clone())
            .with_close_notices(close_notices);
        let exempt = exempt(&config);
        let refusals = Arc::new(Refusals::new(config.flood.log_interval));
        let source_gate = SourceLimit::from_settings(&config.flood, exempt.clone())
            .map(|limit| Arc::new(SourceGate::new(limit, refusals.clone())));
        if let Some(gate) = &source_gate {
            intake = intake.with_source_limit(gate.clone());
        }
        let streams = StreamContext {
            intake: intake.clone(),
            connections: connections.clone(),
            limits: config.limits,
            idle_timeout: config.idle_timeout,
            slots: Arc::new(Semaphore::new(config.max_connections)),
            peer_names,
            ping: None,
        };
        let mut udp_sockets = Vec::new();
        for (bound, listener) in listeners {
            match listener {
                Listener::Udp(link) => {
                    let socket = link.socket().clone();
                    let conn = connections.add_socket(link);
                    udp_sockets.push((conn, bound.addr));
                    let task = transport::udp::serve(
                        socket,
                        conn,
                        intake.clone(),
                        config.limits,
                        cancel.clone(),
                    );
                    tracker.spawn(task);
                }
                Listener::Stream(listener, tls) => {
                    let task = transport::tcp::serve(
                        listener,
                        tls,
                        streams.clone(),
                        cancel.clone(),
                        tracker.clone(),
                    );
                    tracker.spawn(task);
                }
            }
        }
        let mut engine_config = engine_config(&config.presence);
        // Our NOTIFYs' 200s may take the quarter of the queue kept for
        // responses, never more (see `EngineConfig::max_notifies_in_flight`
        // and `transport::Intake`).
        engine_config.max_notifies_in_flight = (config.queue_depth / 4).max(1);
        // The sync engine's texts are shown in `[sync] default_lcid` to a
        // watcher whose language is unknown; a reload of `[sync]` changes
        // it (`SipCore::sync_rules`).
        engine_config.publication.language = config.sync.rules.default_lcid;
        let mut engine = presence::Engine::new(engine_config, seed());
        engine.set_address_book(address_book);
        // Service contacts answer from the start; nothing is watched yet,
        // so this notifies nobody.
        let services = config.service.directory.clone();
        engine.handle(
            presence::Input::Reconfigure { services },
            std::time::SystemTime::now(),
        );
        // Contact lists are loaded here rather than in `SipCore::restore`:
        // they need no NOTIFY at start (clients fetch them as they sign in).
        for (user, error) in engine.restore_contacts(store.load_contact_lists()?) {
            tracing::warn!(%user, %error, "stored contact list skipped: it breaks a rule");
        }
        let mut core = SipCore::new(CoreParts {
            timers: config.timers,
            endpoint: Endpoint::new(tags, crate::router::Router::presence()),
            engine,
            store,
            connections,
            registrar: presence::Registrar::new(registrar_config(
                &config.registrar,
                config.idle_timeout,
            )),
            auth,
            upstream: upstream_parts(&config, &udp_sockets, &streams, cancel, tracker),
            sync: SyncHub::new(config.sync.rules.clone()),
            events,
            agents,
            recent,
            flood: Flood {
                source: source_gate,
                user: config.flood.per_user.map(Limiter::new),
                exempt,
                refusals,
            },
        });
        core.restore()?;
        tracker.spawn(core.run(inbound, closed, control, cancel.clone()));
        Ok(())
    }
}

/// Every trusted peer's certificate names: the client certificates the
/// TLS listeners accept.
pub fn peer_names(config: &Config) -> Arc<[String]> {
    config
        .auth
        .iter()
        .flat_map(|a| &a.trusted_peers)
        .flat_map(|p| p.certificate_names.iter().cloned())
        .collect()
}

/// Sources no flood limit applies to: `limits.exempt` and the trusted
/// peers' addresses (a peer acts for many users at once).
fn exempt(config: &Config) -> Vec<Network> {
    let mut exempt = config.flood.exempt.clone();
    for peer in config.auth.iter().flat_map(|a| &a.trusted_peers) {
        exempt.extend(peer.addresses.iter().copied());
    }
    exempt
}

/// The engine's configuration from the validated `[presence]` section.
pub fn engine_config(settings: &PresenceSettings) -> presence::EngineConfig {
    presence::EngineConfig {
        subscription: presence::SubscriptionConfig {
            min_expires: settings.subscribe_min_expires,
            max_expires: settings.subscribe_max_expires,
            default_expires: settings.subscribe_default_expires,
            max_per_watcher: settings.max_subscriptions_per_watcher,
        },
        publication: presence::PublicationConfig {
            min_expires: settings.publish_min_expires,
            max_expires: settings.publish_max_expires,
            default_expires: settings.publish_default_expires,
            flow_grace: settings.flow_grace,
            max_per_presentity: settings.max_publications_per_presentity,
            // `[sync] default_lcid`, set by the caller.
            ..presence::PublicationConfig::default()
        },
        unknown_presentity: match settings.unknown_presentity {
            UnknownPresentityPolicy::Closed => presence::UnknownPresentity::Closed,
            UnknownPresentityPolicy::Reject => presence::UnknownPresentity::Reject,
        },
        provisioned: settings.provisioned.clone(),
        contact_list_suffix: settings.contact_list_suffix.clone(),
        authorization: match &settings.authorization {
            AuthorizationPolicy::AllowAll => presence::Authorization::AllowAll,
            AuthorizationPolicy::SameDomain => presence::Authorization::SameDomain,
            AuthorizationPolicy::AllowList { allow, unlisted } => {
                presence::Authorization::AllowList {
                    allow: allow.clone(),
                    unlisted: match unlisted {
                        UnlistedWatchers::Reject => presence::Unlisted::Reject,
                        UnlistedWatchers::Pending => presence::Unlisted::Pending,
                    },
                }
            }
        },
        // Set from `[sip] queue_depth` by the caller.
        max_notifies_in_flight: 0,
    }
}

/// The registrar's configuration from the validated `[registrar]`
/// section. Supported and Allow-Events keep the registrar's defaults (the
/// Lync dialect's tags and packages) until the method/event router
/// supplies the packages actually served. Clients that negotiate
/// `ms-keep-alive` are asked to send keep-alives at half the idle timeout
/// of `[sip] idle_timeout_secs`, so the server never cuts off a quiet but
/// signed-in client.
pub fn registrar_config(
    settings: &RegistrarSettings,
    idle_timeout: std::time::Duration,
) -> presence::RegistrarConfig {
    let keep_alive = u32::try_from(idle_timeout.as_secs() / 2).unwrap_or(u32::MAX);
    presence::RegistrarConfig {
        keep_alive_secs: Some(keep_alive.max(1)),
        min_expires: settings.min_expires,
        max_expires: settings.max_expires,
        default_expires: settings.default_expires,
        flow_grace: settings.flow_grace,
        max_bindings: settings.max_bindings_per_aor,
        ..presence::RegistrarConfig::default()
    }
}

/// A per-process seed for the engine's tags and entity-tags: the engine
/// draws no random numbers itself (it is deterministic under test).
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// Opens the store `[store]` asks for: the redb file, or nothing at all in
/// memory mode (said loudly, since state will not survive a restart).
pub fn open_store(settings: &StoreSettings) -> Result<Store, StoreError> {
    match settings.mode {
        StoreMode::Durable => Store::open(&settings.data_dir, settings.commit_window),
        StoreMode::Memory => {
            tracing::warn!("store in memory mode: state will not survive a restart");
            Ok(Store::memory())
        }
    }
}

/// Binds the `/metrics` and `/health` listener unless `[http] listen` is
/// "off"; binding before anything runs makes an address in use a start-up
/// error.
pub fn bind_http(settings: &HttpSettings) -> Result<Option<HttpServer>, HttpError> {
    if settings.listen.is_none() {
        crate::metrics::unread();
    }
    settings
        .listen
        .map(|addr| HttpServer::bind(addr, settings.tls.as_ref()))
        .transpose()
}

/// The presence provider's way to the upstream: the `transport::uplink`
/// task, started here, resolves the upstream's name (and resolves it
/// again after a failure: a refused or lost connection, a udp: upstream
/// that stops answering) and tells the core where the upstream is. For
/// `udp:` it picks our UDP listener of the address's family; for `tcp:`
/// and `tls:` it opens (and reopens) the connection. `None` when the
/// provider is off, or (logged) when a tls: upstream's CA file is
/// unusable.
fn upstream_parts(
    config: &Config,
    udp: &[(crate::transport::ConnId, std::net::SocketAddr)],
    streams: &StreamContext,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Option<crate::sip_core::UpstreamParts> {
    let settings = &config.provider;
    let spec = settings.upstream.as_ref()?;
    let tls = match &settings.tls {
        Some(tls) => {
            let identity = config.tls.as_ref().filter(|_| tls.client_certificate);
            match transport::uplink::connector(&tls.ca_file, identity) {
                Ok(connector) => Some(connector),
                Err(error) => {
                    tracing::error!(upstream = %spec, %error, "presence provider off: no TLS toward the upstream");
                    return None;
                }
            }
        }
        None => None,
    };
    let (events, received) = mpsc::unbounded_channel();
    let (suspect, suspected) = mpsc::unbounded_channel();
    let uplink = transport::uplink::Uplink {
        spec: spec.clone(),
        tls,
        ctx: streams.clone(),
        events,
        udp: udp.to_vec(),
        suspect: suspected,
    };
    tracing::info!(upstream = %spec, "presence provider on: looking for the upstream");
    tracker.spawn(uplink.run(cancel.clone()));
    Some(crate::sip_core::UpstreamParts {
        settings: settings.clone(),
        events: received,
        suspect,
    })
}
