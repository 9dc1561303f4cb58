//! The way to the upstream presence server (`[provider] upstream`): for
//! `udp:`, its resolved address and our UDP socket of that family (the
//! name resolved again when the core reports that the upstream stopped
//! answering); for `tcp:` and `tls:`, the one connection presenced opens
//! itself.
//!
//! The task resolves the upstream's name, connects, (for TLS) verifies
//! the upstream's certificate against `provider.tls_ca_file` for the
//! configured host name, and then serves the connection with the same
//! loop as accepted ones ([`super::tcp`]): it is registered in the
//! [`super::Connections`] table, so the core sends the upstream
//! SUBSCRIBEs, and the answers to the upstream's NOTIFYs, over it, and
//! what arrives on it goes through the [`super::Intake`] like anything
//! else. The upstream sends its NOTIFYs back over this connection: our
//! Contact names the connection's own local address, which Kamailio (and
//! any server that indexes connections by their peer's address, RFC 5923
//! style) finds as the open connection.
//!
//! The core learns of the connection through [`UplinkEvent`]s: `Up` with
//! its flow, and `Down` with the reason every time an attempt fails or
//! the connection ends. When and where to try again is [`super::redial`]'s
//! decision.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::redial::{Redial, Resolution, Step};
use super::tcp::{run, Close, Ends, StreamContext};
use super::{ConnId, Flow, TransportKind};
use crate::config::UpstreamSpec;

/// Longest a TCP connect plus TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a keep-alive ping waits: quiet connections are pinged this
/// often (or at a third of the idle timeout, if that is sooner), so that
/// neither end's idle timeout (Kamailio's `tcp_connection_lifetime`, 120 s
/// by default) closes a connection that carries long-lived dialogs.
const PING_EVERY: Duration = Duration::from_secs(30);

/// What the core hears of the upstream's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkEvent {
    /// Connected: the upstream is reached over this flow.
    Up(Flow),
    /// Not connected: an attempt failed, or the connection ended.
    Down {
        /// Why, for the logs and the API.
        reason: String,
    },
}

/// The connecting task's parts.
pub struct Uplink {
    /// Where the upstream is.
    pub spec: UpstreamSpec,
    /// For a `tls:` upstream: the connector verifying its certificate.
    pub tls: Option<TlsConnector>,
    /// The connection loop's context (intake, table, limits).
    pub ctx: StreamContext,
    /// Where the core hears of it.
    pub events: mpsc::UnboundedSender<UplinkEvent>,
    /// Our UDP sockets and their addresses: a udp: upstream is reached
    /// from the one of its address family.
    pub udp: Vec<(ConnId, SocketAddr)>,
    /// The core's word that a udp: upstream stopped answering.
    pub suspect: mpsc::UnboundedReceiver<String>,
}

impl Uplink {
    /// Connects, serves, and connects again (for udp: resolves, and
    /// resolves again when the core suspects the address), until `cancel`.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut ctx = self.ctx.clone();
        ctx.ping = Some(PING_EVERY.min(ctx.idle_timeout / 3));
        // The jitter's seed: any randomness will do, it only needs to
        // differ between instances; the clock stands in if the OS has none.
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            seed = u64::from(nanos).to_le_bytes();
        }
        let mut redial = Redial::with_jitter(u64::from_le_bytes(seed));
        let mut last_udp = None;
        loop {
            match redial.poll(Instant::now()) {
                Step::Wait(at) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                Step::Resolve => {
                    let name = (self.spec.host.as_str(), self.spec.port);
                    let found = tokio::select! {
                        _ = cancel.cancelled() => return,
                        found = tokio::net::lookup_host(name) => found,
                    };
                    let error = found.as_ref().err().map(ToString::to_string);
                    let found = found.map(Iterator::collect::<Vec<SocketAddr>>);
                    match redial.resolved(found, Instant::now()) {
                        Resolution::Fresh => {}
                        Resolution::KeptLastGood => tracing::warn!(
                            upstream = %self.spec,
                            error = error.as_deref().unwrap_or("no address"),
                            "the upstream's name does not resolve; its last good address is kept"
                        ),
                        Resolution::Nothing => self.down(format!(
                            "the name does not resolve: {}",
                            error.as_deref().unwrap_or("no address")
                        )),
                    }
                }
                Step::Connect(addr) if self.spec.transport == TransportKind::Udp => {
                    if !self
                        .datagram(addr, &mut redial, &mut last_udp, &cancel)
                        .await
                    {
                        return;
                    }
                }
                Step::Connect(addr) => self.stream(addr, &ctx, &mut redial, &cancel).await,
            }
            if cancel.is_cancelled() {
                return;
            }
        }
    }

    /// A udp: upstream at `addr`: our UDP socket of its address family
    /// sends to it until the core suspects the address (a SUBSCRIBE got
    /// no answer), and then the name is resolved again. `false` once the
    /// task is to end.
    async fn datagram(
        &mut self,
        addr: SocketAddr,
        redial: &mut Redial,
        last: &mut Option<Flow>,
        cancel: &CancellationToken,
    ) -> bool {
        let Some(&(conn, local)) = self
            .udp
            .iter()
            .find(|(_, local)| local.is_ipv4() == addr.is_ipv4())
        else {
            redial.failed(Instant::now());
            *last = None;
            self.down(format!("no udp listener of the address family of {addr}"));
            return true;
        };
        redial.connected(Instant::now());
        let flow = Flow {
            transport: TransportKind::Udp,
            remote: addr,
            local,
            conn,
        };
        if *last != Some(flow) {
            tracing::info!(upstream = %self.spec, address = %addr, %local, "presence provider on: the upstream's address");
            *last = Some(flow);
            crate::metrics::set_upstream_connected(true);
            let _ = self.events.send(UplinkEvent::Up(flow));
        }
        let reason = tokio::select! {
            _ = cancel.cancelled() => return false,
            reason = self.suspect.recv() => match reason {
                Some(reason) => reason,
                None => return false,
            },
        };
        // One look-up for a burst of timeouts.
        while self.suspect.try_recv().is_ok() {}
        tracing::warn!(upstream = %self.spec, %reason, "the upstream does not answer; resolving its name again");
        redial.closed(Instant::now());
        true
    }

    /// A tcp: or tls: upstream at `addr`: connects and serves the
    /// connection until it ends.
    async fn stream(
        &self,
        addr: SocketAddr,
        ctx: &StreamContext,
        redial: &mut Redial,
        cancel: &CancellationToken,
    ) {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return,
            a = timeout(CONNECT_TIMEOUT, self.open(addr)) => a,
        };
        let (stream, ends) = match attempt {
            Ok(Ok(open)) => open,
            Ok(Err(reason)) => {
                redial.failed(Instant::now());
                self.down(format!("cannot connect to {addr}: {reason}"));
                return;
            }
            Err(_) => {
                redial.failed(Instant::now());
                self.down(format!(
                    "cannot connect to {addr}: no answer within {CONNECT_TIMEOUT:?}"
                ));
                return;
            }
        };
        redial.connected(Instant::now());
        let close = match stream {
            Opened::Tcp(tcp) => self.serve(tcp, ends, TransportKind::Tcp, ctx, cancel).await,
            Opened::Tls(tls) => self.serve(tls, ends, TransportKind::Tls, ctx, cancel).await,
        };
        redial.closed(Instant::now());
        if !cancel.is_cancelled() {
            self.down(format!("connection to {addr} ended: {close}"));
        }
    }

    /// Connects to `addr` and, for TLS, completes the handshake (which
    /// verifies the upstream's certificate).
    async fn open(&self, addr: SocketAddr) -> Result<(Opened, Ends), String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let ends = Ends { peer: addr, local };
        let Some(connector) = &self.tls else {
            return Ok((Opened::Tcp(stream), ends));
        };
        let name = ServerName::try_from(self.spec.host.clone())
            .map_err(|e| format!("{:?} is no TLS server name: {e}", self.spec.host))?;
        let tls = connector
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        Ok((Opened::Tls(Box::new(tls)), ends))
    }

    /// Serves the open connection until it ends, telling the core it is up.
    async fn serve<S>(
        &self,
        stream: S,
        ends: Ends,
        kind: TransportKind,
        ctx: &StreamContext,
        cancel: &CancellationToken,
    ) -> Close
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let events = self.events.clone();
        let spec = &self.spec;
        let opened = move |conn| {
            let flow = Flow {
                transport: kind,
                remote: ends.peer,
                local: ends.local,
                conn,
            };
            tracing::info!(upstream = %spec, %flow, local = %ends.local, "connected to the upstream");
            crate::metrics::set_upstream_connected(true);
            let _ = events.send(UplinkEvent::Up(flow));
        };
        run(stream, ends, kind, Vec::new(), ctx, cancel, opened).await
    }

    /// Says the upstream is not reached: one error line, the metrics, and
    /// the core (which holds the upstream subscriptions until `Up`).
    fn down(&self, reason: String) {
        tracing::error!(upstream = %self.spec, %reason, "upstream not connected; trying again");
        crate::metrics::set_upstream_connected(false);
        crate::metrics::upstream_connect_failed();
        let _ = self.events.send(UplinkEvent::Down { reason });
    }
}

/// An open connection, before it is served.
enum Opened {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The TLS connector for a `tls:` upstream: its certificate must chain to
/// `ca_file`; with `identity`, ours is presented to an upstream that asks.
pub fn connector(
    ca_file: &std::path::Path,
    identity: Option<&crate::config::TlsFiles>,
) -> Result<TlsConnector, super::tls::TlsError> {
    let config: Arc<_> = super::tls::client_config_with(ca_file, identity)?;
    Ok(TlsConnector::from(config))
}
