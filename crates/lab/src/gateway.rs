//! The websocket gateway: TCP (+ TLS unless `--plain`), the HTTP upgrade on `/mqtt` with SigV4
//! presigned-URL verification, then an MQTT session. The upgrade decision is a function of the
//! request and the lab state ([`check_upgrade`]); the accept loop is thin.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::broker::Broker;
use crate::broker::session::{self, SessionCtx};
use crate::sigv4::verify::{self, EMPTY_PAYLOAD_SHA256, IOT_SERVICE, RequestParts, TokenMode};
use crate::state::{LabState, Principal};

/// An upgrade refusal as AWS IoT answers it: status + `x-amzn-ErrorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `ForbiddenException` / `InvalidRequestException` / `NotFoundException`
    pub error_type: &'static str,
    /// Safe for clients and logs: never contains secrets or the signature.
    pub message: String,
}

impl Refusal {
    fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 403,
            error_type: "ForbiddenException",
            message: message.into(),
        }
    }
}

/// Decides an upgrade request: `Ok(principal)` to upgrade (authorization happens later at the
/// MQTT level, so a principal without iot:Connect still gets 101), or the refusal.
pub fn check_upgrade(
    state: &LabState,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    now: SystemTime,
) -> Result<Principal, Refusal> {
    if state.faults().refuse_upgrades {
        return Err(Refusal::forbidden("upgrade refused (lab fault injection)"));
    }
    if path != "/mqtt" {
        return Err(Refusal {
            status: 404,
            error_type: "NotFoundException",
            message: "only /mqtt is served".into(),
        });
    }
    let q = verify::parse_presigned_query(query).map_err(|e| {
        if e.is_malformed() {
            Refusal {
                status: 400,
                error_type: "InvalidRequestException",
                message: e.to_string(),
            }
        } else {
            Refusal::forbidden(e.to_string())
        }
    })?;
    let creds = state.lookup_access_key(&q.access_key_id).ok_or_else(|| {
        Refusal::forbidden("the security token included in the request is invalid")
    })?;
    let parts = RequestParts {
        method: "GET",
        path,
        query,
        headers,
        payload_sha256: EMPTY_PAYLOAD_SHA256,
        normalize_path: true,
    };
    verify::verify_presigned(
        &parts,
        &q,
        &creds.secret_access_key,
        IOT_SERVICE,
        Some(state.region()),
        TokenMode::Unsigned,
        now,
    )
    .map_err(|e| Refusal::forbidden(e.to_string()))?;
    match (&creds.session_token, &q.session_token) {
        (Some(issued), Some(sent)) if verify::constant_time_eq(issued, sent) => {}
        (None, None) => {}
        (Some(_), None) => return Err(Refusal::forbidden("missing X-Amz-Security-Token")),
        _ => {
            return Err(Refusal::forbidden(
                "the security token included in the request is invalid",
            ));
        }
    }
    if let Some(exp) = creds.expiration
        && now >= exp
    {
        return Err(Refusal::forbidden(
            "the security token included in the request is expired",
        ));
    }
    Ok(creds.principal)
}

/// The subprotocol to echo: `mqtt` preferred, `mqttv3.1` accepted (older AWS SDKs).
pub fn choose_subprotocol(offered: &[(String, String)]) -> Option<&'static str> {
    let protocols: Vec<String> = offered
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    if protocols.iter().any(|p| p == "mqtt") {
        Some("mqtt")
    } else if protocols.iter().any(|p| p == "mqttv3.1") {
        Some("mqttv3.1")
    } else {
        None
    }
}

fn error_response(r: &Refusal) -> ErrorResponse {
    let body = serde_json::json!({ "message": r.message }).to_string();
    let mut resp = ErrorResponse::new(Some(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(r.status).unwrap_or(http::StatusCode::FORBIDDEN);
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("content-type", "application/json".into());
    // AWS appends a colon to the error type (aws-iot-authz.md §1.3).
    set("x-amzn-ErrorType", format!("{}:", r.error_type));
    set("x-amzn-RequestId", hex::encode(rand::random::<[u8; 16]>()));
    set("access-control-allow-origin", "*".into());
    resp
}

/// Shared pieces every connection needs.
#[derive(Clone)]
pub struct Gateway {
    pub state: Arc<LabState>,
    pub broker: Arc<Broker>,
    pub tls: Option<TlsAcceptor>,
    pub shutdown: watch::Receiver<bool>,
}

impl Gateway {
    pub async fn serve(self, listener: TcpListener) {
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let gw = self.clone();
                        tokio::spawn(async move { gw.connection(tcp, peer).await });
                    }
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                },
                _ = shutdown.changed() => break,
            }
        }
    }

    async fn connection(self, tcp: TcpStream, peer: SocketAddr) {
        let _open = self.broker.socket_guard();
        let _ = tcp.set_nodelay(true);
        match self.tls.clone() {
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(std::time::Duration::from_secs(30), acceptor.accept(tcp))
                        .await;
                match handshake {
                    Ok(Ok(stream)) => self.upgrade(stream, peer.ip()).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }
            None => self.upgrade(tcp, peer.ip()).await,
        }
    }

    async fn upgrade<S>(self, stream: S, ip: IpAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut shutdown = self.shutdown.clone();
        if self.state.faults().stall {
            // Fault: accept the connection and never answer; hold it until shutdown.
            let _held = stream;
            let _ = shutdown.changed().await;
            return;
        }
        let state = self.state.clone();
        let mut outcome: Option<Principal> = None;
        // The handshake callback's signature is fixed by tungstenite.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let path = req.uri().path();
            let query = req.uri().query().unwrap_or("");
            match check_upgrade(&state, path, query, &headers, state.now()) {
                Ok(principal) => {
                    outcome = Some(principal);
                    if let Some(p) = choose_subprotocol(&headers) {
                        resp.headers_mut()
                            .insert("sec-websocket-protocol", http::HeaderValue::from_static(p));
                    }
                    Ok(resp)
                }
                Err(r) => {
                    tracing::info!(status = r.status, reason = %r.message, "websocket upgrade refused");
                    Err(error_response(&r))
                }
            }
        };
        let mut config = WebSocketConfig::default();
        // Leave room for websocket framing around a maximum-size MQTT packet.
        config.max_message_size = Some(self.broker.limits.max_packet + 1024);
        config.max_frame_size = Some(self.broker.limits.max_packet + 1024);
        let ws =
            match tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
                .await
            {
                Ok(ws) => ws,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket handshake ended");
                    return;
                }
            };
        let Some(principal) = outcome else {
            return;
        };
        session::run(
            ws,
            SessionCtx {
                state: self.state,
                broker: self.broker,
                principal,
                source_ip: ip,
                shutdown: self.shutdown,
            },
        )
        .await;
    }
}
