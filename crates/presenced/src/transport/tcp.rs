//! SIP over byte streams: TCP, and TLS on top of it (RFC 3261 §18.3).
//!
//! One task per connection reads, frames (`sip::framing::StreamFramer`)
//! and writes. The code is generic over `AsyncRead + AsyncWrite`, so TLS
//! connections run exactly the same loop once the handshake is done. A
//! connection is registered in the [`Connections`] table while it lives, so
//! responses and later requests to that peer go back over it, and it is
//! closed when nothing crosses it for the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip::framing::{Frame, FramingError, StreamFramer};
use sip::Limits;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{sleep, timeout, Instant};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{log_drop, Admission, ConnId, Connections, Intake, TransportKind};

/// Messages waiting to be written on one connection; beyond this the peer
/// is not reading and further sends fail (and are logged) at once. Large,
/// because one connection may carry many dialogs (a gateway, a proxy, a
/// client with a big buddy list) and a fan-out queues one NOTIFY per dialog
/// at once; the entries are shared `Bytes`, so the cost is the messages.
const WRITE_QUEUE: usize = 8192;

/// Longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many bytes a read asks for at least.
const READ_CHUNK: usize = 8192;

/// The answer to a CRLFCRLF keep-alive ping (RFC 5626 §3.5.1).
const PONG: &[u8] = b"\r\n";

/// A CRLFCRLF keep-alive ping (RFC 5626 §3.5.1), sent on a connection we
/// opened so that neither end's idle timeout closes it while quiet.
const PING: &[u8] = b"\r\n\r\n";

/// What every connection task of a listener shares.
#[derive(Debug, Clone)]
pub struct StreamContext {
    /// Where parsed messages go.
    pub intake: Intake,
    /// The table connections register in.
    pub connections: Connections,
    /// Parser and framer bounds.
    pub limits: Limits,
    /// Connections silent this long are closed.
    pub idle_timeout: Duration,
    /// Permits for open connections, shared by every stream listener.
    pub slots: Arc<Semaphore>,
    /// The trusted peers' certificate names: a TLS connection whose
    /// client certificate is valid for some of them is recorded with them.
    pub peer_names: Arc<[String]>,
    /// Send a keep-alive ping after this long without traffic: set for
    /// the connection we open to the upstream (`super::uplink`), not for
    /// accepted ones, whose clients keep them alive.
    pub ping: Option<Duration>,
}

/// Binds a listening TCP socket; IPv6 sockets are IPv6-only so that
/// `tcp:0.0.0.0:5060` and `tcp:[::]:5060` can both be configured.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Lets a restarted server bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until cancelled; `tls` makes this a TLS listener.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: StreamContext,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let kind = if tls.is_some() {
        TransportKind::Tls
    } else {
        TransportKind::Tcp
    };
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, typically: wait instead of spinning.
                tracing::warn!(transport = %kind, error = %e, "accept failed");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = ctx.slots.clone().try_acquire_owned() else {
            tracing::warn!(transport = %kind, %peer, "refused connection: too many open connections");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(transport = %kind, %peer, error = %e, "accepted connection already gone");
                continue;
            }
        };
        let ends = Ends { peer, local };
        let (ctx, cancel, tls) = (ctx.clone(), cancel.clone(), tls.clone());
        tracker.spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    run(
                        stream,
                        ends,
                        TransportKind::Tcp,
                        Vec::new(),
                        &ctx,
                        &cancel,
                        |_| {},
                    )
                    .await;
                }
                Some(acceptor) => handshake(acceptor, stream, ends, ctx, cancel).await,
            }
        });
    }
}

/// The two addresses of a connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ends {
    /// The other end.
    pub peer: SocketAddr,
    /// Ours.
    pub local: SocketAddr,
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    ends: Ends,
    ctx: StreamContext,
    cancel: CancellationToken,
) {
    let peer = ends.peer;
    let limit = HANDSHAKE_TIMEOUT.min(ctx.idle_timeout);
    let result = tokio::select! {
        _ = cancel.cancelled() => return,
        r = timeout(limit, acceptor.accept(stream)) => r,
    };
    match result {
        Ok(Ok(tls)) => {
            // The handshake verified any client certificate (tls.rs);
            // which trusted peers' names it carries is what auth reads.
            let names = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| super::tls::names_valid_for(leaf, &ctx.peer_names))
                .unwrap_or_default();
            run(tls, ends, TransportKind::Tls, names, &ctx, &cancel, |_| {}).await;
        }
        Ok(Err(e)) => tracing::warn!(transport = "tls", %peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::warn!(transport = "tls", %peer, "TLS handshake timed out"),
    }
}

/// Why a connection loop ended, for the closing log line.
#[derive(Debug)]
pub(super) enum Close {
    Shutdown,
    Idle,
    PeerClosed,
    Io(std::io::Error),
    Framing,
    WriteStalled,
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Shutdown => f.write_str("shutting down"),
            Close::Idle => f.write_str("idle timeout"),
            Close::PeerClosed => f.write_str("closed by the peer"),
            Close::Io(e) => write!(f, "{e}"),
            Close::Framing => f.write_str("unframeable bytes"),
            Close::WriteStalled => f.write_str("the peer stopped reading"),
        }
    }
}

/// Serves one connection until it closes, idles out or the server stops;
/// `opened` is told the connection's id once it is registered (the
/// upstream's connection hands it to the core), and the reason it ended
/// is returned.
pub(super) async fn run<S>(
    stream: S,
    ends: Ends,
    kind: TransportKind,
    certificate_names: Vec<String>,
    ctx: &StreamContext,
    cancel: &CancellationToken,
    opened: impl FnOnce(ConnId),
) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ends { peer, local } = ends;
    let (tx, mut outgoing) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let registration = ctx.connections.add_stream(tx);
    let conn = registration.id();
    opened(conn);
    tracing::debug!(transport = %kind, %peer, %conn, ?certificate_names, "connection open");
    if !certificate_names.is_empty() {
        ctx.connections
            .set_certificate_names(conn, certificate_names);
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut framer = StreamFramer::new(ctx.limits);
    let idle = sleep(ctx.idle_timeout);
    tokio::pin!(idle);
    let ping_every = ctx.ping.unwrap_or(ctx.idle_timeout);
    let ping = sleep(ping_every);
    tokio::pin!(ping);

    let close = loop {
        framer.buffer_mut().reserve(READ_CHUNK);
        tokio::select! {
            _ = cancel.cancelled() => break Close::Shutdown,
            _ = &mut idle => break Close::Idle,
            // The ping does not count as traffic for the idle timeout:
            // a peer that stops answering it is closed at the timeout.
            _ = &mut ping, if ctx.ping.is_some() => {
                ping.as_mut().reset(Instant::now() + ping_every);
                if let Err(close) = write(&mut writer, PING, ctx.idle_timeout).await {
                    break close;
                }
            }
            out = outgoing.recv() => {
                // The table holds a sender while this task lives, so `None`
                // cannot happen; treat it as shutdown all the same.
                let Some(bytes) = out else { break Close::Shutdown };
                idle.as_mut().reset(Instant::now() + ctx.idle_timeout);
                ping.as_mut().reset(Instant::now() + ping_every);
                if let Err(close) = write(&mut writer, &bytes, ctx.idle_timeout).await {
                    break close;
                }
            }
            read = reader.read_buf(framer.buffer_mut()) => {
                match read {
                    Ok(0) => break Close::PeerClosed,
                    Ok(_) => {}
                    Err(e) => break Close::Io(e),
                }
                idle.as_mut().reset(Instant::now() + ctx.idle_timeout);
                if let Err(close) = drain(&mut framer, &mut writer, ctx, kind, conn, ends).await {
                    break close;
                }
            }
        }
    };
    drop(registration);
    if !matches!(close, Close::Shutdown) {
        ctx.intake.flow_closed(super::Flow {
            transport: kind,
            remote: peer,
            local,
            conn,
        });
    }
    match &close {
        Close::Idle => {
            tracing::info!(transport = %kind, %peer, %conn, idle_secs = ctx.idle_timeout.as_secs(), "closing idle connection")
        }
        Close::Io(e) => {
            tracing::debug!(transport = %kind, %peer, %conn, error = %e, "connection failed")
        }
        other => {
            tracing::debug!(transport = %kind, %peer, %conn, reason = ?other, "connection closed")
        }
    }
    let _ = timeout(Duration::from_secs(1), writer.shutdown()).await;
    close
}

/// Handles every complete frame in the framer.
async fn drain<W: AsyncWrite + Unpin>(
    framer: &mut StreamFramer,
    writer: &mut W,
    ctx: &StreamContext,
    kind: TransportKind,
    conn: ConnId,
    ends: Ends,
) -> Result<(), Close> {
    let Ends { peer, local } = ends;
    loop {
        match framer.next_frame() {
            Ok(None) => return Ok(()),
            Ok(Some(Frame::Ping)) => write(writer, PONG, ctx.idle_timeout).await?,
            Ok(Some(Frame::Pong)) => {}
            Ok(Some(Frame::Message(parsed, raw))) => {
                let screened = ctx.intake.screen(&raw, kind, peer);
                match ctx
                    .intake
                    .admit(screened, parsed, &raw, kind, conn, local, peer)
                {
                    Admission::Answer { bytes, .. } => {
                        write(writer, &bytes, ctx.idle_timeout).await?
                    }
                    Admission::Wait(inbound) => ctx.intake.wait_and_queue(*inbound).await,
                    Admission::Queued | Admission::Dropped => {}
                }
            }
            Err(FramingError(e)) => {
                crate::metrics::message_dropped(crate::metrics::DropReason::Unparsable);
                // The next message boundary is lost: answer if the head is
                // readable (413/513 name the limit), then close.
                let answer = sip::rejection::answer_unparsable(framer.buffer_mut(), &e);
                log_drop(
                    kind,
                    peer,
                    format_args!("{e}; closing connection"),
                    answer.as_ref().map(|_| e.status()),
                );
                if let Some(answer) = answer {
                    write(writer, &answer, ctx.idle_timeout).await?;
                }
                return Err(Close::Framing);
            }
        }
    }
}

/// Writes all of `bytes`, giving up on a peer that stops reading.
async fn write<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    limit: Duration,
) -> Result<(), Close> {
    match timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Close::Io(e)),
        Err(_) => Err(Close::WriteStalled),
    }
}
