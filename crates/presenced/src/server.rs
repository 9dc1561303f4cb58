//! Putting the server together: bind every listener, then start the core
//! and the transport tasks under one cancellation token and task tracker.
//!
//! Binding is separate from running so that every address error surfaces
//! before any task starts, and so that the caller can log the addresses the
//! system actually gave (port 0 picks a free port).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::application::Application;
use crate::config::{Config, ListenSpec, TransportKind};
use crate::endpoint::{Endpoint, ToTags};
use crate::sip_core::SipCore;
use crate::transport::tcp::StreamContext;
use crate::transport::tls::TlsError;
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
    Udp(UdpSocket),
    Stream(TcpListener, Option<TlsAcceptor>),
}

/// A server with its sockets bound, ready to run.
pub struct Server {
    config: Config,
    listeners: Vec<(Bound, Listener)>,
}

impl Server {
    /// Binds every listen address of `config` and loads the TLS files.
    /// Must be called inside a tokio runtime.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        let acceptor = config
            .tls
            .as_ref()
            .map(transport::tls::acceptor)
            .transpose()?;
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
                    (Listener::Udp(socket), addr)
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
        Ok(Server { config, listeners })
    }

    /// The bound addresses, in configuration order.
    pub fn bound(&self) -> Vec<Bound> {
        self.listeners.iter().map(|(b, _)| *b).collect()
    }

    /// Starts the core and every transport task; they stop when `cancel`
    /// fires, and `tracker` waits for them.
    pub fn spawn<App: Application + 'static>(
        self,
        app: App,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        let Server { config, listeners } = self;
        let tags = ToTags::new();
        let connections = Connections::default();
        let (queue, inbound) = mpsc::channel(config.queue_depth);
        let intake = Intake::new(queue, config.retry_after_secs, tags.clone());
        let streams = StreamContext {
            intake: intake.clone(),
            connections: connections.clone(),
            limits: config.limits,
            idle_timeout: config.idle_timeout,
            slots: Arc::new(Semaphore::new(config.max_connections)),
        };
        for (_, listener) in listeners {
            match listener {
                Listener::Udp(socket) => {
                    let socket = Arc::new(socket);
                    let conn = connections.add_socket(socket.clone());
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
        let core = SipCore::new(config.timers, Endpoint::new(tags), app, connections);
        tracker.spawn(core.run(inbound, cancel.clone()));
    }
}
