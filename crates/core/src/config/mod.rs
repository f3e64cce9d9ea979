//! canaries.toml: schema, defaults and validation. Loading is pure over the file text
//! (`parse`); only `load` touches the filesystem. Every error names file, line, column and key.

pub mod alerting;
mod client_id_clashes;
pub mod client_ids;
mod error;
pub mod identity;
pub mod markers;
pub mod names;
pub mod probe_names;
pub mod role_paths;
mod validate;
pub mod web;

pub use crate::units;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, Issue, Locator};
pub use markers::Marker;
use units::{Dur, Percent};

pub use crate::config::alerting::{AlertingConfig, NotifierConfig, NotifierSettings};
use crate::verdict::{Expect, MqttVersion, ProbeAction, ProbeFamily};

/// Placeholders a client id template may use; expanded per identity and canary at probe time.
pub const PLACEHOLDERS: [&str; 7] = [
    "identity_id",
    "username",
    "principal",
    "identity",
    "canary",
    "shard",
    "run",
];

/// The default client id template: `${principal}` is the Cognito identity id when the identity
/// has one, else the username, else the identity's name — what the usual policies allow
/// (`<principal>-*`); `${run}` keeps two processes on one config (a CI gate beside the daemon)
/// from taking over each other's connections.
pub const DEFAULT_CLIENT_ID: &str = "${principal}-iot-canary-${run}";

/// Identity kinds (interface: `kind` of `[[identity]]`).
pub const IDENTITY_KINDS: [&str; 6] = [
    "static",
    "profile",
    "assume-role",
    "cognito",
    "cognito-guest",
    "credential-endpoint",
];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub target: Target,
    pub endpoints: Endpoints,
    pub schedule: Schedule,
    pub server: Server,
    pub identities: Vec<IdentitySpec>,
    pub canaries: Vec<Canary>,
    /// `[alerting]`: when the daemon's own notifiers fire and repeat.
    pub alerting: AlertingConfig,
    /// `[[notifier]]` tables as written; secrets are loaded by [`resolve_notifiers`].
    pub notifiers: Vec<NotifierEntry>,
    /// `[state]`: where `run` keeps what must survive a restart; `None`: nothing is kept.
    pub state: Option<State>,
    /// `[trigger]`: the watch a trigger (`POST /-/probe`, SIGUSR1) starts.
    pub trigger: TriggerSettings,
    /// `[coverage]`: what `check --coverage` and the daemon's `iot_canary_coverage_ratio`
    /// measure the canaries against.
    pub coverage: Option<CoverageSource>,
}

/// `[coverage]` (docs/generate.md): the world the canaries are measured against, either a lab
/// scenario or an ownership file with its policy sources. Paths are relative to the config
/// file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoverageSource {
    LabScenario {
        scenario: PathBuf,
        /// `[resources]` templates (default: `devices/${thing}/...`).
        resources: Option<PathBuf>,
    },
    Ownership {
        ownership: PathBuf,
        policies: Vec<PathBuf>,
    },
}

/// The `[trigger]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSettings {
    /// The pause between rounds during a watch.
    pub every: Duration,
    /// How long a watch lasts after the latest trigger: AWS takes 6–8 minutes to apply a
    /// policy change.
    pub watch: Duration,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        TriggerSettings {
            every: Duration::from_secs(30),
            watch: Duration::from_secs(600),
        }
    }
}

/// The `[state]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Directory of the state file (relative paths resolve from the config file's directory).
    pub dir: PathBuf,
}

/// One `[[notifier]]` table and where it is, so errors found while loading its secrets can
/// still name file, line and key.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierEntry {
    pub config: NotifierConfig,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    /// `host[:port]` of the AWS IoT data endpoint (or a full `wss://...` URL).
    pub endpoint: String,
    pub ca_file: Option<PathBuf>,
    pub mqtt_version: MqttVersion,
    /// Client id template for canaries that do not set their own.
    pub client_id: String,
}

impl Target {
    /// The websocket URL probes connect to (before presigning).
    pub fn url(&self) -> String {
        if self.endpoint.starts_with("wss://") || self.endpoint.starts_with("ws://") {
            self.endpoint.clone()
        } else {
            format!("wss://{}/mqtt", self.endpoint)
        }
    }
}

/// Optional AWS API endpoint overrides (`[endpoints]`; the lab prints them). One type shared
/// with the identity providers, so what `check` validates is what they use.
pub use crate::config::identity::Endpoints;

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    /// Fraction of `interval` by which each round start may move (0.1 = ±10%).
    pub jitter: f64,
    /// Per-probe deadline.
    pub timeout: Duration,
    /// Maximum probes in flight.
    pub concurrency: usize,
    /// Minimum gap between CONNECTs with the same client id (AWS allows 1/s).
    pub connect_interval: Duration,
    /// Account-wide CONNECTs per second across every client id (AWS default quota: 500/s).
    pub connect_rate: u32,
    /// How long a canary keeps waiting for a message after proof that its subscription had
    /// caught up (a liveness marker published after the bait arrived), and how long a witness
    /// waits to see a canary's publish.
    pub delivery_grace: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(60),
            jitter: 0.1,
            timeout: Duration::from_secs(10),
            concurrency: 16,
            connect_interval: Duration::from_secs(1),
            connect_rate: 500,
            delivery_grace: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub listen: SocketAddr,
    /// `POST /-/probe` starts a watch; off unless set (it lets any client that passes the
    /// web config's authentication make the daemon probe more often).
    pub trigger: bool,
}

impl Default for Server {
    fn default() -> Self {
        // A literal, so the parse cannot fail.
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            trigger: false,
        }
    }
}

/// One `[[identity]]` table: its name and kind, and the kind-specific keys the identity module
/// interprets (secrets only by reference: `*_env` / `*_file`).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySpec {
    pub name: String,
    pub kind: String,
    pub params: toml::Table,
    /// The identity module's typed view of the table.
    pub config: crate::config::identity::IdentityConfig,
    /// 1-based line of the table, for errors raised later (credential fetches).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Canary {
    pub name: String,
    pub identity: String,
    pub action: ProbeAction,
    pub expect: Expect,
    pub topic: Option<String>,
    pub topic_filter: Option<String>,
    pub thing: Option<String>,
    /// Named shadow (shadow-* actions); `shadow-delete` defaults to `iot-canary` so a hole
    /// never deletes a device's classic shadow.
    pub shadow: Option<String>,
    /// Client id template this probe connects as (for `connect`: the id under test).
    pub client_id: String,
    pub witness: Option<String>,
    pub qos: u8,
    pub mqtt_version: MqttVersion,
    pub timeout: Duration,
    /// The liveness marker (receive canaries; subscribe canaries' 3.1.1 SUBACK 0x80
    /// disambiguation): `marker_topic`, or derived from the identity's controls.
    pub marker: Option<Marker>,
    /// The IoT policy of `attach-policy` (default: probe-named, nonexistent) and `get-policy`;
    /// may hold `${nonce}` (see `probe_names`).
    pub policy_name: Option<String>,
    /// The role of the role-path actions (`assume-role`, `web-identity`, `custom-role`).
    pub role_arn: Option<String>,
}

impl Canary {
    pub fn is_control(&self) -> bool {
        self.expect == Expect::Allow
    }

    /// The door this canary probes (see [`ProbeAction::family`]).
    pub fn family(&self) -> ProbeFamily {
        self.action.family()
    }

    /// What the probe is about, for reports: `client ID`, `filter F`, `topic T`, `thing N`,
    /// `policy P`, `role ARN`, or the listing's scope.
    pub fn subject(&self) -> String {
        use ProbeAction::*;
        let thing = || format!("thing {}", self.thing.as_deref().unwrap_or(""));
        match self.action {
            Connect | DeleteConnection => format!("client {}", self.client_id),
            Subscribe => format!("filter {}", self.topic_filter.as_deref().unwrap_or("")),
            Publish | Retain | Receive | HttpsPublish | HttpsRetainedGet => {
                format!("topic {}", self.topic.as_deref().unwrap_or(""))
            }
            ShadowGet | ShadowUpdate | ShadowDelete | HttpsShadowGet | HttpsShadowUpdate
            | HttpsShadowDelete | HttpsShadowList | AttachThingPrincipal | DescribeThing => {
                match (&self.shadow, self.action) {
                    (
                        Some(s),
                        ShadowGet | ShadowUpdate | ShadowDelete | HttpsShadowGet
                        | HttpsShadowUpdate | HttpsShadowDelete,
                    ) => format!("{} shadow {s}", thing()),
                    _ => thing(),
                }
            }
            HttpsRetainedList => "retained messages".into(),
            ListThings => "things".into(),
            AttachPolicy | GetPolicy => {
                format!("policy {}", self.policy_name.as_deref().unwrap_or(""))
            }
            ListAttachedPolicies => "own principal".into(),
            AssumeRole | WebIdentity | CustomRole => {
                format!("role {}", self.role_arn.as_deref().unwrap_or(""))
            }
        }
    }
}

// ---- raw (as written) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    target: Spanned<RawTarget>,
    #[serde(default)]
    endpoints: Option<RawEndpoints>,
    #[serde(default)]
    schedule: Option<Spanned<RawSchedule>>,
    #[serde(default)]
    server: Option<RawServer>,
    #[serde(default)]
    identity: Vec<Spanned<RawIdentity>>,
    #[serde(default)]
    canary: Vec<Spanned<RawCanary>>,
    #[serde(default)]
    alerting: Option<Spanned<AlertingConfig>>,
    #[serde(default)]
    notifier: Vec<Spanned<NotifierConfig>>,
    #[serde(default)]
    state: Option<RawState>,
    #[serde(default)]
    trigger: Option<RawTrigger>,
    #[serde(default)]
    coverage: Option<Spanned<RawCoverage>>,
}

/// `[endpoints]` as written (each URL with its place, for errors).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    sts: Option<Spanned<String>>,
    cognito_identity: Option<Spanned<String>>,
    cognito_idp: Option<Spanned<String>>,
    iot_data: Option<Spanned<String>>,
    iot: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    every: Option<Spanned<Dur>>,
    watch: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoverage {
    lab_scenario: Option<String>,
    resources: Option<String>,
    ownership: Option<String>,
    policies: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    region: Spanned<String>,
    endpoint: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    mqtt_version: Option<MqttVersion>,
    client_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    interval: Option<Spanned<Dur>>,
    jitter: Option<Percent>,
    timeout: Option<Spanned<Dur>>,
    concurrency: Option<Spanned<i64>>,
    connect_interval: Option<Dur>,
    connect_rate: Option<Spanned<i64>>,
    delivery_grace: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    trigger: Option<bool>,
}

#[derive(Deserialize)]
struct RawIdentity {
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(flatten)]
    params: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    name: Spanned<String>,
    identity: Spanned<String>,
    action: Spanned<ProbeAction>,
    expect: Option<Expect>,
    topic: Option<Spanned<String>>,
    topic_filter: Option<Spanned<String>>,
    thing: Option<Spanned<String>>,
    shadow: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    witness: Option<Spanned<String>>,
    marker_topic: Option<Spanned<String>>,
    qos: Option<Spanned<i64>>,
    mqtt_version: Option<MqttVersion>,
    timeout: Option<Dur>,
    policy_name: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &src)
}

/// Reads config text from an environment variable (`run --config-env VAR`, ECS): errors name
/// the variable as `$VAR` where a file name would go; relative paths resolve from the working
/// directory.
pub fn load_env(var: &str) -> Result<Config, ConfigError> {
    let path = PathBuf::from(format!("${var}"));
    match std::env::var(var) {
        Ok(text) => parse(&path, &text),
        Err(e) => Err(ConfigError::Read {
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()),
        }),
    }
}

/// Validates every `[[notifier]]` and loads its secrets (`*_env` through `env`, `*_file`
/// relative to the config file). Errors carry the notifier table's line and the offending key,
/// never a secret value.
pub fn resolve_notifiers(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<NotifierSettings>, ConfigError> {
    let base_dir = cfg.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    let mut issues = Vec::new();
    for (i, n) in cfg.notifiers.iter().enumerate() {
        match n.config.resolve(env, &base_dir) {
            Ok(s) => out.push(s),
            Err(e) => issues.push(Issue {
                line: n.line,
                col: n.col,
                key: format!("notifier[{i}].{}", e.key),
                message: e.message,
            }),
        }
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Invalid {
            path: cfg.path.clone(),
            issues,
        })
    }
}

/// Validates config text; `path` names the file in errors and anchors relative `ca_file`s.
pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
    let loc = Locator::new(src);
    let invalid = |issues| ConfigError::Invalid {
        path: path.to_path_buf(),
        issues,
    };
    let raw: RawConfig = toml::from_str(src).map_err(|e| invalid(vec![toml_issue(&loc, &e)]))?;
    validate::build(path, &loc, raw).map_err(invalid)
}

fn toml_issue(loc: &Locator<'_>, e: &toml::de::Error) -> Issue {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim().to_string();
    // Prefer the key the message names (unknown/missing field), else the key on that line.
    let named = message
        .split('`')
        .nth(1)
        .filter(|k| !k.contains(' '))
        .map(str::to_string);
    let key = if message.starts_with("unknown field") || message.starts_with("missing field") {
        named
    } else {
        loc.key_on_line(span.start)
    }
    .unwrap_or_default();
    loc.issue(span, &key, message)
}

#[cfg(test)]
mod tests;
