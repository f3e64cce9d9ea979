//! TCP relays in front of a lab service: one that can be switched off, to take an identity
//! plane (STS, Cognito, the vending API) down and back up under a running daemon; one that
//! delays each connection by its own latency ([`latency`]), as AWS's per-connection timing
//! does to one client's two connections.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `Down` closes every connection (pooled keep-alive ones too), `Unavailable` answers HTTP 503,
/// `Stall` accepts and never answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    Up,
    Down,
    Unavailable,
    Stall,
}

/// Starts a relay to `upstream`; returns its base URL (`http://IP:PORT`) and the switch.
pub async fn start(upstream: SocketAddr) -> (String, watch::Sender<Relay>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let url = format!("http://{}", listener.local_addr().expect("relay address"));
    let (tx, rx) = watch::channel(Relay::Up);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mode = *rx.borrow_and_update();
                match mode {
                    Relay::Down => {}
                    Relay::Stall => {
                        let _ = rx.wait_for(|m| *m != Relay::Stall).await;
                    }
                    Relay::Unavailable => {
                        let mut buf = [0u8; 8192];
                        let _ = inbound.read(&mut buf).await;
                        let _ = inbound
                            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                    Relay::Up => {
                        let Ok(mut out) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                            _ = rx.wait_for(|m| *m != Relay::Up) => {}
                        }
                    }
                }
            });
        }
    });
    (url, tx)
}

/// Per-connection one-way delays of a [`latency`] relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delay {
    /// Client → server.
    pub up: std::time::Duration,
    /// Server → client (deliveries, acks).
    pub down: std::time::Duration,
}

/// Starts a relay to `upstream` that delays each connection's bytes by the [`Delay`] `pick`
/// chooses from the connection's first line (the HTTP upgrade request line: over plain
/// websockets it names the presigned URL, and so the signing identity's access key). Order
/// within a connection is kept: a constant latency, as one client's two connections see when
/// they take different network paths. Returns the relay's `ws://IP:PORT/mqtt` URL.
pub async fn latency(
    upstream: SocketAddr,
    pick: impl Fn(&str) -> Delay + Send + Sync + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let url = format!(
        "ws://{}/mqtt",
        listener.local_addr().expect("relay address")
    );
    let pick = std::sync::Arc::new(pick);
    tokio::spawn(async move {
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                return;
            };
            let pick = pick.clone();
            tokio::spawn(async move {
                let Ok(out) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, cw) = inbound.into_split();
                let (sr, sw) = out.into_split();
                // The request line decides the delay; it goes upstream like everything else.
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(2).any(|w| w == b"\r\n") {
                    match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let delay = pick(&line);
                tokio::join!(
                    delayed_copy(Some(head), cr, sw, delay.up),
                    delayed_copy(None, sr, cw, delay.down),
                );
            });
        }
    });
    url
}

/// Copies `from` to `to`, each chunk `delay` after it was read (`first`: bytes already read).
async fn delayed_copy(
    first: Option<Vec<u8>>,
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: std::time::Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let now = tokio::time::Instant::now();
        if let Some(f) = first
            && tx.send((now + delay, f)).is_err()
        {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx
                        .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The source closed: pass the close on, after the data before it.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
