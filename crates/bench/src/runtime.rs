//! Sockets and the clock: the thin layer that drives an [`Engine`].
//!
//! Each link (a connected UDP socket, or a TCP connection) has a reader
//! task that parses what arrives, answers every NOTIFY with 200 on the spot
//! (a watcher must, and the server holds the next NOTIFY of a dialog until
//! then), and forwards the message with its arrival time to the driver.
//! The driver owns the engine alone, so the protocol state needs no locks:
//! it feeds messages and timeouts in, lets the scenario start work, and
//! sends what the engine queued. TCP links have a writer task each, which
//! coalesces queued messages into one write.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::framing::Frame;
use sip::Message;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use udp_batch::RecvBatch;

use crate::notify_scan::{self, Notify};
use crate::scenario::{Engine, Poll};
use crate::stream::Stream;
use crate::template::{self, Local, Transport};

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The server.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// Sockets (UDP) or connections (TCP) to spread the dialogs over.
    pub links: usize,
    /// Requested socket buffer size (the kernel may grant less).
    pub socket_buffer: usize,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// Every reader task has ended.
    #[error("all links to the server are closed")]
    AllClosed,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
    let what = what.into();
    move |source| RuntimeError::Io { what, source }
}

/// What a reader task hands the driver. Not boxed: a message moves once,
/// through the channel, and a box would cost an allocation per message.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Inbound {
    Message(Message, Instant),
    /// A NOTIFY read by `notify_scan`, its 200 already sent.
    Notify(Notify, Instant),
    Unparsable,
    Closed(usize, String),
}

enum Sender {
    Udp(Arc<UdpSocket>),
    Tcp(mpsc::UnboundedSender<Bytes>),
}

/// The open links to the server.
pub struct Links {
    locals: Vec<Local>,
    senders: Vec<Sender>,
    rx: mpsc::Receiver<Inbound>,
    tasks: Vec<JoinHandle<()>>,
    open: usize,
}

impl Drop for Links {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Queue depth between the readers and the driver.
const INBOUND_QUEUE: usize = 16_384;

impl Links {
    /// Opens `cfg.links` sockets or connections to the server.
    pub async fn open(cfg: &NetConfig) -> Result<Links, RuntimeError> {
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
        let mut links = Links {
            locals: Vec::new(),
            senders: Vec::new(),
            rx,
            tasks: Vec::new(),
            open: 0,
        };
        for i in 0..cfg.links.max(1) {
            match cfg.transport {
                Transport::Udp => links.open_udp(cfg, i, tx.clone())?,
                Transport::Tcp => links.open_tcp(cfg, i, tx.clone()).await?,
            }
            links.open += 1;
        }
        Ok(links)
    }

    /// What requests on each link must say about it.
    pub fn locals(&self) -> Vec<Local> {
        self.locals.clone()
    }

    fn open_udp(
        &mut self,
        cfg: &NetConfig,
        link: usize,
        tx: mpsc::Sender<Inbound>,
    ) -> Result<(), RuntimeError> {
        let server = cfg.server;
        let s = Socket::new(
            Domain::for_address(server),
            Type::DGRAM,
            Some(Protocol::UDP),
        )
        .map_err(io_err("create UDP socket"))?;
        // Best effort: a fan-out burst overflows a small receive buffer.
        let _ = s.set_recv_buffer_size(cfg.socket_buffer);
        let _ = s.set_send_buffer_size(cfg.socket_buffer);
        let any: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        s.bind(&any.into()).map_err(io_err("bind UDP socket"))?;
        s.connect(&server.into())
            .map_err(io_err(format!("connect UDP socket to {server}")))?;
        s.set_nonblocking(true).map_err(io_err("set nonblocking"))?;
        let sock = Arc::new(UdpSocket::from_std(s.into()).map_err(io_err("register UDP socket"))?);
        let local = sock.local_addr().map_err(io_err("local address"))?;
        self.locals.push(Local {
            transport: Transport::Udp,
            host_port: local.to_string(),
        });
        self.senders.push(Sender::Udp(sock.clone()));
        self.tasks.push(tokio::spawn(udp_reader(sock, link, tx)));
        Ok(())
    }

    async fn open_tcp(
        &mut self,
        cfg: &NetConfig,
        link: usize,
        tx: mpsc::Sender<Inbound>,
    ) -> Result<(), RuntimeError> {
        let stream = TcpStream::connect(cfg.server)
            .await
            .map_err(io_err(format!("connect TCP to {}", cfg.server)))?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().map_err(io_err("local address"))?;
        let (reader, writer) = stream.into_split();
        let (wtx, wrx) = mpsc::unbounded_channel();
        self.locals.push(Local {
            transport: Transport::Tcp,
            host_port: local.to_string(),
        });
        self.senders.push(Sender::Tcp(wtx.clone()));
        self.tasks.push(tokio::spawn(tcp_writer(writer, wrx)));
        self.tasks
            .push(tokio::spawn(tcp_reader(reader, link, wtx, tx)));
        Ok(())
    }

    /// Runs `engine` until its scenario is done.
    pub async fn drive(&mut self, engine: &mut Engine) -> Result<(), RuntimeError> {
        loop {
            let now = Instant::now();
            engine.handle_timeout(now);
            let status = engine.poll(now);
            self.flush(engine).await;
            let wake = match status {
                Poll::Done => return Ok(()),
                Poll::Wake(w) => w,
            };
            let idle = now + Duration::from_millis(50);
            let wake = [wake, engine.next_timer()]
                .into_iter()
                .flatten()
                .fold(idle, Instant::min);
            tokio::select! {
                biased;
                inbound = self.rx.recv() => {
                    let Some(first) = inbound else {
                        return Err(RuntimeError::AllClosed);
                    };
                    self.apply(engine, first)?;
                    // Take what else is queued before polling again.
                    for _ in 0..1024 {
                        match self.rx.try_recv() {
                            Ok(more) => self.apply(engine, more)?,
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
        }
    }

    fn apply(&mut self, engine: &mut Engine, inbound: Inbound) -> Result<(), RuntimeError> {
        match inbound {
            Inbound::Message(msg, at) => engine.handle_message(msg, at),
            Inbound::Notify(notify, at) => engine.handle_notify(&notify, at),
            Inbound::Unparsable => engine.handle_unparsable(),
            Inbound::Closed(link, why) => {
                eprintln!("presenced-bench: link {link} closed: {why}");
                self.open = self.open.saturating_sub(1);
                if self.open == 0 {
                    return Err(RuntimeError::AllClosed);
                }
            }
        }
        Ok(())
    }

    async fn flush(&self, engine: &mut Engine) {
        while let Some(t) = engine.poll_transmit() {
            let sent = match self.senders.get(t.link) {
                Some(Sender::Udp(sock)) => match sock.try_send(&t.bytes) {
                    Ok(_) => true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        sock.send(&t.bytes).await.is_ok()
                    }
                    Err(_) => false,
                },
                Some(Sender::Tcp(tx)) => tx.send(t.bytes).is_ok(),
                None => false,
            };
            if !sent {
                engine.count_send_error();
            }
        }
    }
}

/// Answers a request the server sent; sends to the driver. False when the
/// driver has gone.
async fn deliver(
    msg: Result<Message, sip::ParseError>,
    at: Instant,
    answer: impl FnOnce(Vec<u8>),
    tx: &mpsc::Sender<Inbound>,
) -> bool {
    let inbound = match msg {
        Ok(Message::Request(req)) => {
            if let Some(bytes) = template::answer(&req) {
                answer(bytes);
            }
            Inbound::Message(Message::Request(req), at)
        }
        Ok(resp) => Inbound::Message(resp, at),
        Err(_) => Inbound::Unparsable,
    };
    tx.send(inbound).await.is_ok()
}

/// Datagrams taken per `recvmmsg(2)`: a fan-out's NOTIFYs arrive in
/// bursts, and a system call each (and a `sendto` for each 200) was as
/// much of the generator's time as its work on them.
const RECEIVE_BATCH: usize = 16;

async fn udp_reader(sock: Arc<UdpSocket>, link: usize, tx: mpsc::Sender<Inbound>) {
    // The socket is connected to the server: the answers go there without
    // an address, by the route cached at `connect`.
    if let Err(e) = sock.peer_addr() {
        let _ = tx.send(Inbound::Closed(link, e.to_string())).await;
        return;
    }
    let mut batch = RecvBatch::new(RECEIVE_BATCH);
    let mut answers: Vec<Bytes> = Vec::with_capacity(RECEIVE_BATCH);
    loop {
        if let Err(e) = sock.readable().await {
            let _ = tx.send(Inbound::Closed(link, e.to_string())).await;
            return;
        }
        // Drain what is queued, a batch per call, until the socket would
        // block (which clears tokio's readiness for the next wait).
        loop {
            let n = match sock.try_io(Interest::READABLE, || batch.receive(sock.as_fd())) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable from an earlier send; keep listening.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    let _ = tx.send(Inbound::Closed(link, e.to_string())).await;
                    return;
                }
            };
            let at = Instant::now();
            for i in 0..n {
                let Some((datagram, _)) = batch.get(i) else {
                    continue;
                };
                // The stream limits: a batched first NOTIFY fills most of
                // a datagram, past the parser's default 60 000 bytes of
                // body. Framed, not validated: the generator reads a few
                // headers of what the server sends (each checked as it is
                // read), and validating every NOTIFY was over half of its
                // work — work that competed with the server under test
                // for the same cores.
                let bytes = Bytes::copy_from_slice(datagram);
                let mut answer = |bytes: Vec<u8>| answers.push(Bytes::from(bytes));
                // A plain NOTIFY is scanned and answered here; anything
                // the scan is unsure of takes the parser.
                if let Some(scanned) = notify_scan::scan(&bytes) {
                    answer(scanned.answer);
                    if tx.send(Inbound::Notify(scanned.notify, at)).await.is_err() {
                        return;
                    }
                    continue;
                }
                let msg = sip::parse::parse_unvalidated(
                    bytes,
                    sip::parse::Framing::Datagram,
                    &crate::stream::LIMITS,
                );
                if !deliver(msg, at, answer, &tx).await {
                    return;
                }
            }
            // A full socket buffer drops a 200; the server retransmits
            // the NOTIFY and we answer again.
            udp_batch::send_all_connected(sock.as_fd(), &answers, |_, _| {});
            answers.clear();
        }
    }
}

async fn tcp_reader(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    link: usize,
    wtx: mpsc::UnboundedSender<Bytes>,
    tx: mpsc::Sender<Inbound>,
) {
    let mut framer = Stream::default();
    loop {
        framer.buffer_mut().reserve(65_536);
        match reader.read_buf(framer.buffer_mut()).await {
            Ok(0) => {
                let _ = tx
                    .send(Inbound::Closed(link, "closed by the server".into()))
                    .await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Inbound::Closed(link, e.to_string())).await;
                return;
            }
        }
        loop {
            let frame = match framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Inbound::Closed(link, e.to_string())).await;
                    return;
                }
            };
            let at = Instant::now();
            let delivered = match frame {
                Frame::Message(msg, _) => {
                    let answer = |bytes: Vec<u8>| {
                        let _ = wtx.send(Bytes::from(bytes));
                    };
                    deliver(msg, at, answer, &tx).await
                }
                // RFC 5626 §3.5.1: a double-CRLF ping gets a CRLF pong.
                Frame::Ping => wtx.send(Bytes::from_static(b"\r\n")).is_ok(),
                Frame::Pong => true,
            };
            if !delivered {
                return;
            }
        }
    }
}

async fn tcp_writer(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut buf = Vec::with_capacity(65_536);
    while let Some(first) = rx.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if writer.write_all(&buf).await.is_err() {
            return;
        }
    }
}
