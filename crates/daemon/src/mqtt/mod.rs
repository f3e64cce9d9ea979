//! MQTT over SigV4-signed websockets (rumqttc, MQTT 5 and 3.1.1), reduced to what a probe
//! needs: connect, subscribe, publish, and a stream of timestamped events whose acks name the
//! request they answer (matched by packet id). Every connect presigns a fresh URL (rumqttc's
//! request modifier runs on each (re)connect); a session never reconnects by itself, so every
//! event belongs to the connection it was opened on.

mod codes;
pub mod pool;
mod session;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use session::{
    CloseCause, ConnectFailure, Event, Incoming, RequestId, Session, SessionOptions, Wait,
    incoming_v4, incoming_v5,
};

/// A credential source as the MQTT layer needs it; the daemon adapts identities to it.
pub trait CredentialProvider: Send + Sync + 'static {
    fn credentials(&self) -> CredentialFuture;
}

pub type CredentialFuture = Pin<
    Box<dyn Future<Output = Result<aws_credential_types::Credentials, CredentialError>> + Send>,
>;

/// Why credentials are unavailable; the message must never contain secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Fixed credentials (tests, and the witness's static keys).
pub struct FixedCredentials(pub aws_credential_types::Credentials);

impl CredentialProvider for FixedCredentials {
    fn credentials(&self) -> CredentialFuture {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

/// Where and how to reach the broker.
#[derive(Clone)]
pub struct Endpoint {
    /// `wss://host:port/mqtt` (or `ws://` for a plain lab).
    pub url: String,
    pub region: String,
    /// PEM trust roots replacing the system roots (the lab's CA).
    pub ca_pem: Option<Arc<Vec<u8>>>,
}

#[cfg(test)]
mod tests;
