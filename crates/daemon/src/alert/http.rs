//! Thin HTTPS client for notifiers: hyper 1 + hyper-rustls (already in the graph via the AWS
//! SDK), trusting the system roots plus an optional extra CA. Errors are classified into a
//! fixed set whose text never contains the URL (a Slack webhook URL is a credential).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use iot_canary_core::secret::Secret;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("no usable trust roots (system store empty and no ca_file)")]
    NoRoots,
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Why a POST failed. Display strings are fixed so they are safe to log and to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("invalid URL")]
    InvalidUrl,
    #[error("connection failed")]
    Connect,
    #[error("timed out")]
    Timeout,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("request failed")]
    Other,
}

impl SendError {
    /// 4xx other than 408/429 means the receiver rejects this request as such: retrying the
    /// same bytes cannot help.
    pub fn is_retryable(self) -> bool {
        match self {
            SendError::Status(s) => !(400..500).contains(&s) || s == 408 || s == 429,
            SendError::InvalidUrl => false,
            _ => true,
        }
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// `needs_tls`: the endpoint is https, so an empty trust store is a config error (for a
    /// plain-http Alertmanager in a minimal image without CA certificates it is not).
    pub fn new(
        ca_file: Option<&Path>,
        timeout: Duration,
        needs_tls: bool,
    ) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        // A broken system cert among many must not take the notifier down: add what parses.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let ca_err = |message: String| ClientError::CaFile {
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| ca_err(e.to_string()))?;
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(ca_err("no PEM certificate found".into()));
            }
        }
        if roots.is_empty() && needs_tls {
            return Err(ClientError::NoRoots);
        }
        let tls = crate::tls::client_config(roots).map_err(|e| ClientError::Tls(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(HttpClient { client, timeout })
    }

    /// POSTs a JSON body; Ok only for a 2xx answer. The whole exchange (connect, send, read
    /// the answer) is bounded by the configured timeout.
    pub async fn post_json(
        &self,
        url: &Secret,
        token: Option<&Secret>,
        body: Vec<u8>,
    ) -> Result<u16, SendError> {
        let uri: http::Uri = url.expose().parse().map_err(|_| SendError::InvalidUrl)?;
        let mut req = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("iot-canary/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = token {
            let mut v = http::HeaderValue::from_str(&format!("Bearer {}", t.expose()))
                .map_err(|_| SendError::Other)?;
            v.set_sensitive(true);
            req = req.header(http::header::AUTHORIZATION, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::InvalidUrl)?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    SendError::Connect
                } else {
                    SendError::Other
                }
            })?;
            let status = resp.status().as_u16();
            // Drain the answer so the connection can be reused; its content is not needed.
            let _ = resp.into_body().collect().await;
            Ok(status)
        };
        let status = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SendError::Timeout)??;
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(SendError::Status(status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let t = Duration::from_secs(1);
        let e = HttpClient::new(Some(&bad), t, true).err().unwrap();
        assert!(
            e.to_string().contains("bad.pem") && e.to_string().contains("no PEM"),
            "{e}"
        );
        let missing = dir.path().join("missing.pem");
        let e = HttpClient::new(Some(&missing), t, true).err().unwrap();
        assert!(matches!(e, ClientError::CaFile { .. }), "{e}");
        assert!(HttpClient::new(None, t, false).is_ok());
    }

    #[test]
    fn retryable_table() {
        let rows = [
            (SendError::Status(500), true),
            (SendError::Status(503), true),
            (SendError::Status(429), true),
            (SendError::Status(408), true),
            (SendError::Status(400), false),
            (SendError::Status(404), false),
            (SendError::InvalidUrl, false),
            (SendError::Connect, true),
            (SendError::Timeout, true),
        ];
        for (e, want) in rows {
            assert_eq!(e.is_retryable(), want, "{e}");
        }
    }
}
