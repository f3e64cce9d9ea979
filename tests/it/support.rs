//! What the root package's tests share beyond iot-canary-testkit: the built binary (only this
//! package's tests know its path), `iot-canary run` as a child with the dev world's keys, and
//! the dev world's lab and config shorthands.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use iot_canary_lab::RunningLab;
use iot_canary_testkit::config::{dev, dev_subscribe_canary};
use iot_canary_testkit::lab::{self, Admin};
use iot_canary_testkit::process::{self, Proc};
use iot_canary_testkit::scenario::{DEV, Scenario};
use iot_canary_testkit::{HOLE, net, policy};

pub use iot_canary_testkit::exposition::value;
pub use iot_canary_testkit::process::Run;

/// The built `iot-canary` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_iot-canary");
pub const DEV_KEY: &str = DEV.0;
pub const DEV_SECRET: &str = DEV.1;

/// `demo --once` with a JSON report and any free metrics port.
pub const DEMO_ONCE_JSON: [&str; 6] = [
    "demo",
    "--once",
    "--format",
    "json",
    "--listen",
    "127.0.0.1:0",
];

/// A path in the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Runs the binary to completion in `cwd` with extra env vars (RUST_LOG=info).
pub async fn run_bin(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).current_dir(cwd).env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    process::run(cmd).await
}

/// The keys of [`leaky_world`]'s IAM users, as the configs' `*_env` variables name them.
pub const SECRETS: [(&str, &str); 6] = [
    ("OPS_KEY", "AKIALABOPS0000000001"),
    ("OPS_SECRET", "lab-secret-ops"),
    ("DEV_KEY", "AKIALABDEV0000000001"),
    ("DEV_SECRET", "lab-secret-dev"),
    ("LEAKY_KEY", "AKIALABLEAKY00000001"),
    ("LEAKY_SECRET", "lab-secret-leaky"),
];

/// The dev-lamp world with dev on its own lamp's topics, plus `leaky` (every IoT action).
pub fn leaky_world() -> Scenario {
    Scenario::fixture("dev-lamp")
        .policy("Dev", &policy("dev-pubsub"))
        .policy("Leaky", HOLE)
        .iam_user(
            "leaky",
            "AKIALABLEAKY00000001",
            "lab-secret-leaky",
            &["Leaky"],
        )
}

/// dev may connect as `dev-*` and subscribe to its own lamp only.
pub fn tight_dev_policy() -> String {
    policy("dev-subscribe-only")
}

pub fn hole_policy() -> String {
    HOLE.to_string()
}

/// The dev-lamp world with `dev_policy` as dev's policy, over TLS (CA in `dir`).
pub async fn start_lab(dir: &Path, dev_policy: &str) -> RunningLab {
    lab::start_tls(&dev_world(dev_policy), dir).await
}

pub fn dev_world(dev_policy: &str) -> Scenario {
    Scenario::fixture("dev-lamp").policy("Dev", dev_policy)
}

/// A subscribe canary of identity `dev` (`allow` makes it the control).
pub fn canary(name: &str, filter: &str, allow: bool) -> String {
    dev_subscribe_canary(name, filter, allow)
}

/// A full config for the lab (interval = timeout); `extra` is appended (canaries, ...).
pub fn config(lab: &RunningLab, timeout: &str, extra: &str) -> String {
    dev(
        &lab.endpoints.mqtt,
        &lab.endpoints.ca_file,
        timeout,
        timeout,
    ) + extra
}

/// `iot-canary run` as a child, with the address its /metrics listens on.
pub struct RunProc {
    pub proc: Proc,
    pub metrics: SocketAddr,
}

impl Deref for RunProc {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl DerefMut for RunProc {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl RunProc {
    /// Spawns `iot-canary --log-format json run -c CONFIG` with dev's keys in its environment
    /// (and `env`), and waits (bounded) for the metrics address line.
    pub async fn spawn(config: &Path, env: &[(&str, &str)]) -> RunProc {
        Self::spawn_with(config, &[], env).await
    }

    /// [`RunProc::spawn`] with more `run` arguments (`--web.config.file FILE`, ...).
    pub async fn spawn_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> RunProc {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["--log-format", "json", "run", "-c"])
            .arg(config)
            .args(args)
            .env("TEST_DEV_KEY", DEV_KEY)
            .env("TEST_DEV_SECRET", DEV_SECRET)
            .env(
                "RUST_LOG",
                "info,iot_canary_daemon::daemon::service=debug,iot_canary_lab=warn",
            )
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn(cmd);
        let metrics = proc.wait_addr("metrics").await;
        RunProc { proc, metrics }
    }

    /// Polls /metrics until `pred` holds (bounded); returns the matching exposition.
    pub async fn wait_metrics(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> String {
        let addr = self.metrics;
        self.proc
            .wait_http(addr, "/metrics", what, pred, limit)
            .await
    }
}

/// The whole answer (head and body) to `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> String {
    net::get(addr, path).await.raw()
}

/// Replaces the lab's `Dev` policy through the admin API.
pub async fn set_dev_policy(lab: &RunningLab, doc: &str) {
    Admin::of(lab).put_policy("Dev", doc).await;
}

/// The reliability tests' world: the dev-lamp scenario with recognisable secrets (the secret
/// scan looks for them), the lab as a subprocess, and daemons over ops and dev.
pub mod reliability {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use aws_credential_types::Credentials;
    use iot_canary_core::config::{self, Config};
    use iot_canary_daemon::daemon::{
        self, CanaryReport, Daemon, FixedIdentity, IdentityCreds, IdentitySource, Shard, identities,
    };
    use iot_canary_daemon::identity::Env;
    use iot_canary_testkit::config::{Pace, dev_lamp_canaries, ops_dev};
    use iot_canary_testkit::scenario::Scenario;

    pub use iot_canary_testkit::net::free_port;
    pub use iot_canary_testkit::process::LabProcess as Lab;
    pub use iot_canary_testkit::verdicts::false_denied;

    pub use super::BIN;

    pub const OPS_KEY: &str = "AKIALABOPS0000000001";
    pub const OPS_SECRET: &str = "lab-secret-ops-Zq8v";
    pub const DEV_KEY: &str = "AKIALABDEV0000000001";
    pub const DEV_SECRET: &str = "lab-secret-dev-Wm3k";

    pub fn scenario() -> Scenario {
        Scenario::fixture("dev-lamp")
            .iam_secret("ops", OPS_SECRET)
            .iam_secret("dev", DEV_SECRET)
    }

    /// `iot-canary lab` on `listen` (port 0: any), ready.
    pub fn start_lab(dir: &Path, listen: &str, plain: bool) -> Lab {
        Lab::start(BIN, &scenario(), dir, listen, plain)
    }

    /// Deny canaries of every probe kind plus the subscribe control, in one MQTT version.
    pub fn canaries(version: &str) -> String {
        dev_lamp_canaries(
            version,
            &[
                "connect-other",
                "sub-own",
                "sub-other",
                "pub-other",
                "recv-other",
                "shget-other",
                "retain-other",
            ],
        )
    }

    /// A config for the lab at `endpoint` (`ca_file` empty: plain websockets).
    pub fn config_text(endpoint: &str, ca_file: &str, timeout: &str, canaries: &str) -> String {
        let pace = Pace {
            timeout,
            // AWS (and the lab) refuse a second CONNECT of one client id within a second; the
            // 3.1.1 probes confirm closes on fresh connections of the same id.
            connect_interval: "1s",
            delivery_grace: "500ms",
        };
        ops_dev(endpoint, ca_file, pace) + canaries
    }

    pub fn parse(text: &str) -> Config {
        config::parse(Path::new("reliability.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The lab users' secrets, handed over through an env overlay (never the process env).
    pub fn lab_env(ops_secret: &str) -> Env {
        Env::isolated([
            ("OPS_KEY", OPS_KEY),
            ("OPS_SECRET", ops_secret),
            ("DEV_KEY", DEV_KEY),
            ("DEV_SECRET", DEV_SECRET),
        ])
    }

    /// A daemon over `cfg` with identities built from `env`.
    pub fn daemon(cfg: Config, env: Env) -> Daemon {
        let ids = identities::build(&cfg, env).expect("identities build");
        daemon_with(cfg, ids)
    }

    pub fn daemon_with(cfg: Config, ids: BTreeMap<String, Arc<dyn IdentitySource>>) -> Daemon {
        let endpoint = daemon::endpoint(&cfg).expect("CA readable");
        Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL)
    }

    pub async fn round(d: &Daemon) -> Vec<CanaryReport> {
        tokio::time::timeout(Duration::from_secs(180), d.round(None, &|_| {}))
            .await
            .expect("round finishes within 180 s")
    }

    /// A config for the lab with [`canaries`] of one MQTT version.
    pub fn lab_config(lab: &Lab, timeout: &str, version: &str) -> Config {
        parse(&config_text(
            &lab.mqtt(),
            &lab.ca_file(),
            timeout,
            &canaries(version),
        ))
    }

    /// Static keys (expiring at `expiry`, if given).
    pub fn fixed(akid: &str, secret: &str, expiry: Option<SystemTime>) -> Arc<dyn IdentitySource> {
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(akid, secret, None, expiry, "test"),
            identity_id: None,
            username: None,
        }))
    }

    /// The witness `ops` on its static keys, and `dev` from `dev`.
    pub fn ops_and_dev(dev: Arc<dyn IdentitySource>) -> BTreeMap<String, Arc<dyn IdentitySource>> {
        BTreeMap::from([
            ("ops".to_string(), fixed(OPS_KEY, OPS_SECRET, None)),
            ("dev".to_string(), dev),
        ])
    }

    pub fn table(reports: &[CanaryReport]) -> String {
        iot_canary_core::report::table(reports)
    }
}
