//! TCP: accepted and outbound connections, Content-Length framing, CRLF keepalive, idle close.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::{CloseReason, Inbound};
use crate::metrics::metrics;
use crate::sip::message::{Framed, Message, StreamFramer};
use crate::sip::peer::{ConnId, Peer, Transport};

/// Queue depth of one connection's writer; a peer that does not read is cut off when it fills.
const WRITE_QUEUE: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the core keeps per connection.
#[derive(Debug)]
pub struct ConnEntry {
    pub remote: SocketAddr,
    pub writer: mpsc::Sender<Bytes>,
}

pub(super) fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// Accepts connections and runs each in its own task.
pub struct TcpListenerTask {
    pub listener: TcpListener,
    pub ids: Arc<AtomicU64>,
    pub idle: Duration,
    pub max_connections: usize,
}

impl TcpListenerTask {
    pub async fn run(self, tx: mpsc::Sender<Inbound>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let (stream, remote) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "tcp accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            let open = metrics().transport_connections.with_label_values(&["tcp"]).get();
            if open >= self.max_connections as i64 {
                metrics().sip_dropped.with_label_values(&["too_many_connections"]).inc();
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let id = ConnId(self.ids.fetch_add(1, Ordering::Relaxed));
            let (writer, queue) = mpsc::channel(WRITE_QUEUE);
            let opened = Inbound::ConnOpened { id, remote, writer: writer.clone(), outbound: false };
            if tx.send(opened).await.is_err() {
                return;
            }
            metrics().transport_connections_opened.with_label_values(&["tcp", "in"]).inc();
            tokio::spawn(run_connection(stream, id, remote, writer, queue, tx.clone(), self.idle, shutdown.clone()));
        }
    }
}

/// Connects to `remote` and runs the connection; what the core queued on `queue` is sent once up.
pub fn spawn_outbound(
    remote: SocketAddr,
    id: ConnId,
    writer: mpsc::Sender<Bytes>,
    queue: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Inbound>,
    idle: Duration,
    shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                metrics().transport_connections_opened.with_label_values(&["tcp", "out"]).inc();
                run_connection(stream, id, remote, writer, queue, tx, idle, shutdown).await;
            }
            _ => {
                let _ = tx.send(Inbound::ConnClosed { id, reason: CloseReason::ConnectFailed }).await;
            }
        }
    });
}

#[allow(clippy::too_many_arguments)]
async fn run_connection(
    stream: TcpStream,
    id: ConnId,
    remote: SocketAddr,
    writer: mpsc::Sender<Bytes>,
    mut queue: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Inbound>,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let gauge = metrics().transport_connections.with_label_values(&["tcp"]);
    gauge.inc();
    let (mut rd, mut wr) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(chunk) = queue.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let peer = Peer { transport: Transport::Tcp, addr: remote, conn: Some(id) };
    let mut buf = BytesMut::with_capacity(8192);
    // Resumes where it stopped, so a peer trickling one byte at a time costs linear time.
    let mut framer = StreamFramer::new();
    let reason = 'conn: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(idle, rd.read_buf(&mut buf)) => r,
            _ = shutdown.changed() => break CloseReason::Shutdown,
        };
        match read {
            Err(_) => break CloseReason::Idle,
            Ok(Err(_)) => break CloseReason::IoError,
            Ok(Ok(0)) => break CloseReason::PeerClosed,
            Ok(Ok(_)) => {}
        }
        loop {
            match framer.frame(&buf) {
                Ok(Framed::Incomplete) => break,
                Ok(Framed::KeepAlive(n)) => {
                    // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = writer.try_send(Bytes::from_static(b"\r\n"));
                    }
                    buf.advance(n);
                }
                Ok(Framed::Message(n)) => {
                    let event = match Message::parse(&buf[..n]) {
                        Ok(message) => Inbound::Message { message, peer, received: tokio::time::Instant::now().into_std() },
                        Err(error) => Inbound::Garbage { error, peer },
                    };
                    buf.advance(n);
                    if tx.send(event).await.is_err() {
                        break 'conn CloseReason::Shutdown;
                    }
                }
                Err(error) => {
                    // The stream cannot be re-synchronised after a framing error: answer if we can, close.
                    let _ = tx.send(Inbound::Garbage { error, peer }).await;
                    break 'conn CloseReason::FramingError;
                }
            }
        }
    };
    drop(writer);
    // The core drops its writer on ConnClosed; the write task then flushes what is queued (e.g. the
    // 400 for a framing error) and closes the socket.
    let _ = tx.send(Inbound::ConnClosed { id, reason }).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), write_task).await;
    gauge.dec();
}
