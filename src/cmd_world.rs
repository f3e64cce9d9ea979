//! The world `generate`, `check --coverage`, `simulate --policies` and the daemon's coverage
//! metric reason about: a lab scenario, or an ownership file with its policy sources. IO (files)
//! here; the world itself is built by `iot_canary_audit::world` and `lab_world`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use iot_canary_audit::AuditOptions;
use iot_canary_audit::sources::LoadOptions;
use iot_canary_audit::world::{Resources, World, ownership};
use iot_canary_core::config::{Config, CoverageSource};

use crate::cmd_audit::{label, load_sources, parameters, read, scenario_sources};
use crate::lab_world::{self, LabEndpoints};

/// Where the world comes from (flattened into the commands that take one).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WorldArgs {
    /// Lab scenario (TOML): its identities, things, sharing and policies.
    #[arg(long, value_name = "FILE", conflicts_with = "ownership")]
    pub lab_scenario: Option<PathBuf>,
    /// Ownership file (docs/generate.md): identities, things, sharing, resource templates;
    /// with --policies.
    #[arg(long, value_name = "FILE", requires = "policies")]
    pub ownership: Option<PathBuf>,
    /// Policy sources as `audit` reads them: policy documents, CloudFormation templates,
    /// Terraform plans (`terraform show -json`).
    #[arg(long, value_name = "SOURCE", num_args = 1..)]
    pub policies: Vec<PathBuf>,
    /// CloudFormation parameter value for the policy sources; repeatable.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// Resource templates for a lab scenario: a TOML file with a `[resources]` table
    /// (default: `devices/${thing}/telemetry`, `devices/${thing}/cmd`, `devices/${thing}/#`).
    #[arg(long, value_name = "FILE", conflicts_with = "ownership")]
    pub resources: Option<PathBuf>,
}

impl WorldArgs {
    pub fn is_given(&self) -> bool {
        self.lab_scenario.is_some() || self.ownership.is_some()
    }

    /// The world of a config's `[coverage]` table.
    pub fn from_coverage(c: &CoverageSource) -> WorldArgs {
        match c {
            CoverageSource::LabScenario {
                scenario,
                resources,
            } => WorldArgs {
                lab_scenario: Some(scenario.clone()),
                resources: resources.clone(),
                ..Default::default()
            },
            CoverageSource::Ownership {
                ownership,
                policies,
            } => WorldArgs {
                ownership: Some(ownership.clone()),
                policies: policies.clone(),
                ..Default::default()
            },
        }
    }

    /// Same world, other policy sources (`simulate --baseline`).
    pub fn with_policies(&self, policies: &[PathBuf]) -> WorldArgs {
        WorldArgs {
            policies: policies.to_vec(),
            ..self.clone()
        }
    }
}

/// A `[resources]` table from its own file.
fn resources_file(path: &Path) -> Result<Resources, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        resources: Resources,
    }
    let text = read(path)?;
    let f: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", label(path)))?;
    if let Some((key, message)) = f.resources.problems().into_iter().next() {
        return Err(format!("{}: `resources.{key}`: {message}", label(path)));
    }
    Ok(f.resources)
}

/// Region and account an ownership file names (the policy sources' pseudo parameters).
fn ownership_options(text: &str) -> AuditOptions {
    let t: toml::Table = toml::from_str(text).unwrap_or_default();
    let get = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let d = AuditOptions::default();
    AuditOptions {
        region: get("region").unwrap_or(d.region),
        account_id: get("account_id").unwrap_or(d.account_id),
        ..AuditOptions::default()
    }
}

/// Loads the world; errors name the file (and line and key where known).
pub fn load(
    a: &WorldArgs,
    env_prefix: &str,
    endpoints: &LabEndpoints,
    now: SystemTime,
) -> Result<World, String> {
    let read_file = |p: &Path| read(p);
    if let Some(path) = &a.lab_scenario {
        let loaded = iot_canary_lab::scenario::load(path).map_err(|e| e.to_string())?;
        let options = LoadOptions {
            audit: AuditOptions {
                region: loaded.scenario.region.clone(),
                account_id: loaded.scenario.account_id.clone(),
                ..AuditOptions::default()
            },
            ..LoadOptions::default()
        };
        let sources = scenario_sources(
            path,
            &options,
            1,
            iot_canary_audit::sources::session_template::DEFAULT_DEVICE_NAME_LEN,
        )?;
        let resources = match &a.resources {
            Some(r) => resources_file(r)?,
            None => Resources::default(),
        };
        let origin = match &a.resources {
            Some(r) => format!(
                "lab scenario `{}` with resources `{}`",
                label(path),
                label(r)
            ),
            None => format!("lab scenario `{}`", label(path)),
        };
        return lab_world::world(
            &loaded, sources, resources, env_prefix, endpoints, origin, now, &read_file,
        );
    }
    let Some(path) = &a.ownership else {
        return Err(
            "name the world: --lab-scenario FILE, or --ownership FILE --policies SOURCES...".into(),
        );
    };
    let text = read(path)?;
    let options = LoadOptions {
        audit: ownership_options(&text),
        parameters: parameters(&a.parameters)?,
        document_kind: None,
    };
    let sources = load_sources(&a.policies, None, &options)?;
    let origin = format!(
        "ownership `{}` and policies {}",
        label(path),
        a.policies
            .iter()
            .map(|p| format!("`{}`", label(p)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    ownership::load(&label(path), &text, sources, &base, &read_file, origin)
        .map_err(|e| e.to_string())
}

/// The coverage ratio of a config over its `[coverage]` world (`None` without one).
pub fn coverage_ratio(cfg: &Config) -> Result<Option<f64>, String> {
    let Some(c) = &cfg.coverage else {
        return Ok(None);
    };
    let now = SystemTime::now();
    let world = load(
        &WorldArgs::from_coverage(c),
        "IOT_CANARY_DEMO",
        &LabEndpoints::default(),
        now,
    )
    .map_err(|e| format!("[coverage]: {e}"))?;
    Ok(Some(
        iot_canary_audit::coverage::coverage(&world, cfg, now).ratio(),
    ))
}
