//! A TCP relay in front of a lab service that can be switched off, to take an identity plane
//! (STS, Cognito, the vending API) down and back up under a running daemon.

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
