//! `[[notifier]]` and `[alerting]` tables of canaries.toml (serde types + validation).
//!
//! The daemon's config loader embeds these; serde reports unknown keys and type errors with
//! the TOML span, and [`NotifierConfig::resolve`] reports semantic errors naming the notifier
//! and the key. Secrets (Slack webhook URLs, bearer tokens) are accepted only by reference
//! (`*_env`, `*_file`) and are never echoed back in an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;
use crate::units::de_duration;

/// Which wire format a notifier speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifierKind {
    Alertmanager,
    Slack,
    Webhook,
}

impl NotifierKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Alertmanager => "alertmanager",
            NotifierKind::Slack => "slack",
            NotifierKind::Webhook => "webhook",
        }
    }
}

/// One `[[notifier]]` table as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// Bounded label value of `iot_canary_alerts_sent_total{notifier}`.
    pub name: String,
    pub kind: NotifierKind,
    /// Plain URL; refused for Slack, whose webhook URL is itself the credential.
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Bearer token for Alertmanager behind a proxy or a webhook receiver.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Extra PEM trust root added to the system roots (private Alertmanager CA).
    pub ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    pub queue_size: Option<usize>,
    pub max_retries: Option<u32>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub retry_initial: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub retry_max: Option<Duration>,
    pub send_resolved: Option<bool>,
    /// Alertmanager only: how often firing alerts are re-posted so Alertmanager's
    /// `resolve_timeout` never expires them while the breach stands.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub resend_interval: Option<Duration>,
}

/// The `[alerting]` table: when to fire and how often to repeat.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Consecutive blind / control-failed rounds before a warning fires (one flaky round is
    /// not worth a page). Breaches fire at once.
    pub blind_after_rounds: u32,
    /// A still-firing alert is re-sent this often (chat channels scroll away).
    #[serde(deserialize_with = "de_duration")]
    pub repeat_interval: Duration,
    /// Grafana dashboard URL put in every alert; `?var-canary=` is not appended because the
    /// shipped dashboard has no such variable.
    pub dashboard_url: Option<String>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            blind_after_rounds: 2,
            repeat_interval: Duration::from_secs(4 * 3600),
            dashboard_url: None,
        }
    }
}

/// A validated notifier with its secrets loaded.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub name: String,
    pub kind: NotifierKind,
    pub url: Secret,
    pub token: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub queue_size: usize,
    pub max_retries: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub send_resolved: bool,
    pub resend_interval: Option<Duration>,
}

/// A semantic config error. Never carries a secret value: only names of keys, variables, files.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[[notifier]] `{notifier}`: key `{key}`: {message}")]
pub struct NotifierConfigError {
    pub notifier: String,
    pub key: &'static str,
    pub message: String,
}

pub const MAX_QUEUE_SIZE: usize = 100_000;

impl NotifierConfig {
    /// Validates and loads secrets. `env` is injected so tests need not touch the process
    /// environment; `base_dir` resolves relative `*_file` paths against the config file.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        base_dir: &Path,
    ) -> Result<NotifierSettings, NotifierConfigError> {
        let err = |key: &'static str, message: String| NotifierConfigError {
            notifier: self.name.clone(),
            key,
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                "name",
                "must be non-empty and use only letters, digits, `-`, `_` (it is a metric label)"
                    .into(),
            ));
        }
        let url = match (&self.url, &self.url_env, &self.url_file) {
            (Some(_), None, None) if self.kind == NotifierKind::Slack => {
                return Err(err(
                    "url",
                    "a Slack webhook URL is a secret: use `url_env` or `url_file`".into(),
                ));
            }
            (Some(u), None, None) => Secret::new(u.trim()),
            (None, Some(var), None) => load_env(env, var).map_err(|m| err("url_env", m))?,
            (None, None, Some(p)) => load_file(base_dir, p).map_err(|m| err("url_file", m))?,
            (None, None, None) => {
                return Err(err(
                    "url",
                    "one of `url`, `url_env`, `url_file` is required".into(),
                ));
            }
            _ => {
                return Err(err(
                    "url",
                    "give only one of `url`, `url_env`, `url_file`".into(),
                ));
            }
        };
        // The URL may be the credential itself: say what is wrong, never what it is.
        let key = if self.url.is_some() {
            "url"
        } else if self.url_env.is_some() {
            "url_env"
        } else {
            "url_file"
        };
        crate::units::http_url(url.expose()).map_err(|m| err(key, m))?;
        let token = match (&self.token_env, &self.token_file) {
            (None, None) => None,
            _ if self.kind == NotifierKind::Slack => {
                return Err(err(
                    "token_env",
                    "Slack incoming webhooks take no bearer token".into(),
                ));
            }
            (Some(var), None) => Some(load_env(env, var).map_err(|m| err("token_env", m))?),
            (None, Some(p)) => Some(load_file(base_dir, p).map_err(|m| err("token_file", m))?),
            (Some(_), Some(_)) => {
                return Err(err(
                    "token_env",
                    "give only one of `token_env`, `token_file`".into(),
                ));
            }
        };
        let queue_size = self.queue_size.unwrap_or(256);
        if queue_size == 0 || queue_size > MAX_QUEUE_SIZE {
            return Err(err(
                "queue_size",
                format!("must be between 1 and {MAX_QUEUE_SIZE}"),
            ));
        }
        let timeout = self.timeout.unwrap_or(Duration::from_secs(10));
        if timeout.is_zero() {
            return Err(err("timeout", "must be greater than 0".into()));
        }
        let retry_initial = self.retry_initial.unwrap_or(Duration::from_secs(1));
        let retry_max = self.retry_max.unwrap_or(Duration::from_secs(60));
        if retry_initial.is_zero() || retry_max < retry_initial {
            return Err(err(
                "retry_max",
                "need 0 < retry_initial <= retry_max".into(),
            ));
        }
        let resend_interval = match (self.kind, self.resend_interval) {
            (NotifierKind::Alertmanager, r) => {
                let r = r.unwrap_or(Duration::from_secs(60));
                if r.is_zero() {
                    return Err(err("resend_interval", "must be greater than 0".into()));
                }
                Some(r)
            }
            (_, Some(_)) => {
                return Err(err(
                    "resend_interval",
                    "only applies to kind = \"alertmanager\"".into(),
                ));
            }
            (_, None) => None,
        };
        if let Some(ca) = &self.ca_file
            && !base_dir.join(ca).is_file()
        {
            return Err(err(
                "ca_file",
                format!("{} is not a readable file", base_dir.join(ca).display()),
            ));
        }
        Ok(NotifierSettings {
            name: self.name.clone(),
            kind: self.kind,
            url,
            token,
            ca_file: self.ca_file.as_ref().map(|p| base_dir.join(p)),
            timeout,
            queue_size,
            max_retries: self.max_retries.unwrap_or(5),
            retry_initial,
            retry_max,
            send_resolved: self.send_resolved.unwrap_or(true),
            resend_interval,
        })
    }
}

/// Resolves every notifier and rejects duplicate names (they would merge metric series).
pub fn resolve_all(
    configs: &[NotifierConfig],
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
) -> Result<Vec<NotifierSettings>, NotifierConfigError> {
    let mut out: Vec<NotifierSettings> = Vec::with_capacity(configs.len());
    for c in configs {
        if out.iter().any(|s| s.name == c.name) {
            return Err(NotifierConfigError {
                notifier: c.name.clone(),
                key: "name",
                message: "duplicate notifier name".into(),
            });
        }
        out.push(c.resolve(env, base_dir)?);
    }
    Ok(out)
}

fn load_env(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<Secret, String> {
    if !crate::secret::is_env_var_name(var) {
        return Err(
            "must name an environment variable (letters, digits and `_`, not starting with a digit); the value is not shown in case it is the secret itself".into(),
        );
    }
    match env(var) {
        Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        Some(_) => Err(format!("environment variable {var} is empty")),
        None => Err(format!("environment variable {var} is not set")),
    }
}

fn load_file(base_dir: &Path, p: &Path) -> Result<Secret, String> {
    let path = base_dir.join(p);
    match std::fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
        Ok(_) => Err(format!("{} is empty", path.display())),
        // io::Error text names only the OS condition, never the content.
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[cfg(test)]
mod tests;
