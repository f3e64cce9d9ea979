//! `lab`: a local AWS IoT Core emulator. Data plane: SigV4 websocket gateway, MQTT 3.1.1/5
//! broker with AWS IoT authorization, device shadow service, admin API; the HTTPS doors
//! (`doors`): the iot-data API and an IoT control-plane subset. Identity plane: STS,
//! Cognito user pool + identity pool, credential-vending API. Enforces with `iot_canary_policy`.
//! Realism knobs (`realism`) reproduce AWS's timing and failure semantics on demand.

pub mod admin;
pub mod authz;
pub mod broker;
pub mod demo;
pub mod doors;
#[cfg(feature = "fuzzing")]
pub mod fuzz_entry;
pub mod gateway;
pub mod identity;
pub mod realism;
pub mod scenario;
pub mod shadow;
pub mod sigv4;
pub mod state;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use broker::Broker;
pub use broker::Limits;
use scenario::LoadedScenario;
use state::LabState;

/// How to run a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub scenario: LoadedScenario,
    /// Gateway (MQTT over websocket) address; port 0 picks a free port. The identity and admin
    /// listeners use the same IP with free ports.
    pub listen: SocketAddr,
    /// `ws://` instead of `wss://`.
    pub plain: bool,
    /// Where to write the generated CA (PEM; replaced atomically, a symlink there is replaced,
    /// not followed). `None`: `ca.pem` in a private directory (0700, random name) that is
    /// removed with the lab.
    pub ca_file: Option<PathBuf>,
    pub limits: Limits,
}

impl LabConfig {
    pub fn new(scenario: LoadedScenario) -> LabConfig {
        LabConfig {
            scenario,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plain: false,
            ca_file: None,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The ready line (interface: keys in ARCHITECTURE.md).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceUrls {
    pub mqtt: String,
    /// Empty with `--plain` (no TLS, no CA).
    pub ca_file: String,
    pub sts: String,
    pub cognito_identity: String,
    pub cognito_idp: String,
    pub vending: String,
    pub admin: String,
    /// The AWS IoT data plane over HTTPS (restJson1, SigV4 service `iotdata`).
    pub iot_data: String,
    /// The IoT control-plane subset (restJson1, SigV4 service `iot`).
    pub iot: String,
}

/// A started lab. Dropping it without `shutdown()` leaves the tasks running until the runtime
/// ends.
pub struct RunningLab {
    pub endpoints: ServiceUrls,
    /// The gateway's socket address.
    pub mqtt_addr: SocketAddr,
    /// The CA PEM (None with `--plain`).
    pub ca_pem: Option<String>,
    state: Arc<LabState>,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The CA's private directory (default `ca_file` only): removed when the lab is shut down
    /// or dropped.
    _ca_dir: Option<tempfile::TempDir>,
}

impl RunningLab {
    pub fn state(&self) -> Arc<LabState> {
        self.state.clone()
    }

    pub fn broker(&self) -> Arc<Broker> {
        self.broker.clone()
    }

    /// The ready line's JSON.
    pub fn ready_line(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(&self.endpoints).unwrap_or_default()
    }

    /// Stops every listener and closes every session.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The identity plane's HTTP services (STS, Cognito, vending).
fn identity_router(state: Arc<LabState>) -> axum::Router {
    identity::router(state)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, LabError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| LabError::Bind { addr, source })
}

/// Serves `router` until shutdown, with the peer address available to handlers
/// (`aws:SourceIp`; the handlers that do not need it ignore it).
fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let graceful = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful)
        .await
        {
            tracing::warn!(error = %e, "lab HTTP listener failed");
        }
    })
}

/// Starts the lab: binds every listener, generates the CA (unless plain), and returns once
/// everything accepts connections.
pub async fn start(config: LabConfig) -> Result<RunningLab, LabError> {
    let state = Arc::new(LabState::new(config.scenario));
    let broker = Arc::new(Broker::new(config.limits));
    let (shutdown, shutdown_rx) = watch::channel(false);

    let mqtt_listener = bind(config.listen).await?;
    let mqtt_addr = mqtt_listener.local_addr()?;
    let ip = config.listen.ip();
    let identity_listener = bind(SocketAddr::new(ip, 0)).await?;
    let identity_addr = identity_listener.local_addr()?;
    let admin_listener = bind(SocketAddr::new(ip, 0)).await?;
    let admin_addr = admin_listener.local_addr()?;
    // The HTTPS doors: plain HTTP like the other identity-plane services (the SDKs take an
    // endpoint URL either way).
    let iot_data_listener = bind(SocketAddr::new(ip, 0)).await?;
    let iot_data_addr = iot_data_listener.local_addr()?;
    let iot_listener = bind(SocketAddr::new(ip, 0)).await?;
    let iot_addr = iot_listener.local_addr()?;

    let (tls_acceptor, ca_pem, ca_file, ca_dir) = if config.plain {
        (None, None, String::new(), None)
    } else {
        let lab_tls = tls::generate(&[ip.to_string()])?;
        let (path, dir) = match config.ca_file {
            Some(p) => (p, None),
            None => {
                let dir = tls::private_ca_dir()?;
                (dir.path().join("ca.pem"), Some(dir))
            }
        };
        tls::write_ca(&path, &lab_tls.ca_pem)?;
        (
            Some(tokio_rustls::TlsAcceptor::from(lab_tls.server_config)),
            Some(lab_tls.ca_pem),
            path.display().to_string(),
            dir,
        )
    };

    let host = match mqtt_addr {
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
        SocketAddr::V4(a) => a.ip().to_string(),
    };
    let scheme = if config.plain { "ws" } else { "wss" };
    let http_base = |a: SocketAddr| format!("http://{a}");
    let endpoints = ServiceUrls {
        mqtt: format!("{scheme}://{host}:{}/mqtt", mqtt_addr.port()),
        ca_file,
        sts: http_base(identity_addr),
        cognito_identity: http_base(identity_addr),
        cognito_idp: http_base(identity_addr),
        vending: format!("{}/vend", http_base(identity_addr)),
        admin: http_base(admin_addr),
        iot_data: http_base(iot_data_addr),
        iot: http_base(iot_addr),
    };

    let gateway = gateway::Gateway {
        state: state.clone(),
        broker: broker.clone(),
        tls: tls_acceptor,
        shutdown: shutdown_rx.clone(),
    };
    let tasks = vec![
        tokio::spawn(gateway.serve(mqtt_listener)),
        serve_http(
            identity_listener,
            identity_router(state.clone()),
            shutdown_rx.clone(),
        ),
        serve_http(
            admin_listener,
            admin::router(state.clone(), broker.clone()),
            shutdown_rx.clone(),
        ),
        serve_http(
            iot_data_listener,
            doors::iot_data_http::router(state.clone(), broker.clone()),
            shutdown_rx.clone(),
        ),
        serve_http(
            iot_listener,
            doors::iot_http::router(state.clone()),
            shutdown_rx,
        ),
    ];
    tracing::info!(mqtt = %endpoints.mqtt, admin = %endpoints.admin, "lab listening");
    Ok(RunningLab {
        endpoints,
        mqtt_addr,
        ca_pem,
        state,
        broker,
        shutdown,
        tasks,
        _ca_dir: ca_dir,
    })
}
