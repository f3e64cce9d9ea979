//! `iot-canary audit`: IO and exit codes around the `iot-canary-audit` crate.
//!
//! Exit codes: 0 no unsuppressed finding at or above `--fail-on`; 1 at least one; 2 the inputs
//! held nothing to audit; 3 bad input (the message names file, line and key).

use std::path::{Path, PathBuf};

use iot_canary_audit::sources::{self, FileKind, LoadOptions, PolicyKind, SourceSet};
use iot_canary_audit::{AuditOptions, Severity};
use iot_canary_core::exit::Exit;
use iot_canary_core::report::envelope::{self, RunInfo};

use crate::out::{self, Sink};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum AuditFormat {
    Table,
    Json,
    Sarif,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SourceKindArg {
    /// A policy document (JSON or YAML).
    Policy,
    Cloudformation,
    /// `terraform show -json PLAN`.
    Terraform,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DocumentKindArg {
    IotPolicy,
    CognitoAuthRole,
    CognitoUnauthRole,
    RoleAlias,
    IamRole,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Policy documents, CloudFormation templates (YAML or JSON) and Terraform plans
    /// (`terraform show -json PLAN`); the kind is detected from the content.
    pub sources: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: AuditFormat,
    /// Write the report here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// TOML file of `[[suppress]]` entries (check, policy, optional statement, reason).
    #[arg(long)]
    pub suppressions: Option<PathBuf>,
    /// CloudFormation parameter value (overrides its Default); repeatable.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// Account id for AWS::AccountId and the probes' ARNs.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// Region for AWS::Region and the probes' ARNs.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "aws")]
    pub partition: String,
    /// Read every source as this kind instead of detecting it.
    #[arg(long, value_enum)]
    pub source_kind: Option<SourceKindArg>,
    /// What plain policy documents are (default: IoT policies).
    #[arg(long, value_enum)]
    pub kind: Option<DocumentKindArg>,
    /// Lab scenario (TOML): its IoT policies, identity-pool roles and other principals'
    /// policies; repeatable.
    #[arg(long = "lab-scenario", value_name = "FILE")]
    pub lab_scenarios: Vec<PathBuf>,
    /// Session-policy template, expanded for N devices (`FILE:N`, or `--devices`); repeatable.
    #[arg(long = "session-template", value_name = "FILE[:N]")]
    pub session_templates: Vec<String>,
    /// Devices per user for session templates given without `:N`.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Length of a device name in the session-template expansion.
    #[arg(long, default_value_t = iot_canary_audit::sources::session_template::DEFAULT_DEVICE_NAME_LEN)]
    pub device_name_length: usize,
    /// Services the role-alias roles use (comma-separated, e.g. `iot,s3`): enables
    /// IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK for the others.
    #[arg(long, value_delimiter = ',')]
    pub role_alias_used_services: Option<Vec<String>>,
    /// Lowest severity that fails the run (exit 1).
    #[arg(long, value_enum, default_value = "low")]
    pub fail_on: FailOn,
}

pub(crate) fn label(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

pub(crate) fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", label(p)))
}

/// `--parameter K=V` pairs.
pub(crate) fn parameters(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("--parameter {p}: expected KEY=VALUE")),
        })
        .collect()
}

/// Policy documents, CloudFormation templates and Terraform plans, kinds detected (or `kind`).
pub(crate) fn load_sources(
    paths: &[PathBuf],
    kind: Option<FileKind>,
    options: &LoadOptions,
) -> Result<SourceSet, String> {
    let mut all = SourceSet::default();
    for path in paths {
        let text = read(path)?;
        all.extend(sources::load(&label(path), &text, kind, options).map_err(|e| e.to_string())?);
    }
    Ok(all)
}

fn load_all(a: &AuditArgs, audit: &AuditOptions) -> Result<SourceSet, String> {
    let options = LoadOptions {
        audit: audit.clone(),
        parameters: parameters(&a.parameters)?,
        document_kind: a.kind.map(|k| match k {
            DocumentKindArg::IotPolicy => PolicyKind::IotPolicy,
            DocumentKindArg::CognitoAuthRole => PolicyKind::CognitoAuthRole,
            DocumentKindArg::CognitoUnauthRole => PolicyKind::CognitoUnauthRole,
            DocumentKindArg::RoleAlias => PolicyKind::RoleAlias,
            DocumentKindArg::IamRole => PolicyKind::IamRole,
        }),
    };
    let kind = a.source_kind.map(|k| match k {
        SourceKindArg::Policy => FileKind::PolicyDocument,
        SourceKindArg::Cloudformation => FileKind::CloudFormation,
        SourceKindArg::Terraform => FileKind::TerraformPlan,
    });
    let mut all = load_sources(&a.sources, kind, &options)?;
    for path in &a.lab_scenarios {
        all.extend(scenario_sources(
            path,
            &options,
            a.devices,
            a.device_name_length,
        )?);
    }
    for t in &a.session_templates {
        let (file, devices) = match t.rsplit_once(':') {
            Some((f, n))
                if !f.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() =>
            {
                (
                    f,
                    n.parse()
                        .map_err(|_| format!("--session-template {t}: N is too large"))?,
                )
            }
            _ => (t.as_str(), a.devices),
        };
        let path = Path::new(file);
        let text = read(path)?;
        all.extend(
            sources::session_template::load(
                &label(path),
                &text,
                devices,
                a.device_name_length,
                &options,
            )
            .map_err(|e| e.to_string())?,
        );
    }
    Ok(all)
}

/// A lab scenario as audit sources: policies attached to Cognito users' identities are IoT
/// policies; the identity pool's roles are Cognito roles; IAM users' and other roles' policies
/// are linted as role policies; a policy nothing references is audited as an IoT policy.
/// The vending session-policy template is checked for the user with the most things (or
/// `--devices`, if more). Findings point at the policy's `{ file = ... }` JSON file (with
/// statement lines) or at the lines of its inline value in the scenario.
pub(crate) fn scenario_sources(
    path: &Path,
    options: &LoadOptions,
    devices: usize,
    device_name_len: usize,
) -> Result<SourceSet, String> {
    use iot_canary_lab::scenario::{self, PolicySource as ScenarioPolicy};
    let loaded = scenario::load(path).map_err(|e| e.to_string())?;
    let s = &loaded.scenario;
    let text = read(path)?;
    // Value spans of `[policies]` entries, for the lines of inline documents.
    #[derive(serde::Deserialize)]
    struct Spans {
        #[serde(default)]
        policies: std::collections::BTreeMap<String, toml::Spanned<toml::Value>>,
        #[serde(default)]
        vending: Option<VendingSpans>,
    }
    #[derive(serde::Deserialize)]
    struct VendingSpans {
        session_policy_template: toml::Spanned<String>,
    }
    let spans: Spans = toml::from_str(&text).map_err(|e| format!("{}: {e}", label(path)))?;
    let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut uses: Vec<(String, PolicyKind, String)> = Vec::new();
    if let Some(c) = &s.cognito {
        for u in &c.user {
            for p in &u.iot_policies {
                uses.push((p.clone(), PolicyKind::IotPolicy, p.clone()));
            }
        }
    }
    for r in &s.role {
        let kind = match &s.cognito {
            Some(c) if c.authenticated_role == r.name => PolicyKind::CognitoAuthRole,
            Some(c) if c.unauthenticated_role.as_deref() == Some(&r.name) => {
                PolicyKind::CognitoUnauthRole
            }
            _ => PolicyKind::IamRole,
        };
        for p in &r.policies {
            uses.push((p.clone(), kind, r.name.clone()));
        }
    }
    for u in &s.iam_user {
        for p in &u.policies {
            uses.push((p.clone(), PolicyKind::IamRole, u.name.clone()));
        }
    }
    for name in s.policies.keys() {
        if !uses.iter().any(|(p, ..)| p == name) {
            uses.push((name.clone(), PolicyKind::IotPolicy, name.clone()));
        }
    }
    let mut out = SourceSet::default();
    for (name, kind, principal) in uses {
        let Some(src) = s.policies.get(&name) else {
            continue;
        };
        let mut doc = match src {
            ScenarioPolicy::File { file } => {
                let p = base.join(file);
                let t = read(&p)?;
                sources::load(&label(&p), &t, Some(FileKind::PolicyDocument), options)
                    .map_err(|e| e.to_string())?
            }
            ScenarioPolicy::Inline(json) => {
                let line = spans
                    .policies
                    .get(&name)
                    .map_or(1, |v| line_at(v.span().start));
                let mut set =
                    sources::load(&label(path), json, Some(FileKind::PolicyDocument), options)
                        .map_err(|e| format!("{}: policies.{name}: {e}", label(path)))?;
                for p in &mut set.policies {
                    // Lines inside the inline string count from the value's first line.
                    p.location.line = line;
                    for l in &mut p.statement_lines {
                        *l += line - 1;
                    }
                }
                set
            }
        };
        for p in &mut doc.policies {
            p.kind = kind;
            p.name = name.clone();
            p.principal = principal.clone();
        }
        out.extend(doc);
    }
    // The vending API's session-policy template, for the user with the most things.
    if let Some(v) = &s.vending {
        let most = s
            .thing
            .iter()
            .flat_map(|t| t.owner.iter().chain(&t.shared_with))
            .fold(
                std::collections::BTreeMap::<&str, usize>::new(),
                |mut m, u| {
                    *m.entry(u.as_str()).or_default() += 1;
                    m
                },
            )
            .into_values()
            .max()
            .unwrap_or(1);
        let mut set = sources::session_template::load(
            &label(path),
            &v.session_policy_template,
            most.max(devices),
            device_name_len,
            options,
        )
        .map_err(|e| format!("{}: vending.session_policy_template: {e}", label(path)))?;
        let line = spans
            .vending
            .as_ref()
            .map_or(1, |v| line_at(v.session_policy_template.span().start));
        for p in &mut set.policies {
            p.name = "vending.session_policy_template".into();
            p.principal = v.role.clone();
            p.location.line = line;
        }
        out.extend(set);
    }
    Ok(out)
}

pub fn audit(a: AuditArgs) -> Exit {
    let started = std::time::SystemTime::now();
    if a.sources.is_empty() && a.session_templates.is_empty() && a.lab_scenarios.is_empty() {
        out::error("audit: name at least one source file, --lab-scenario or --session-template");
        return Exit::Usage;
    }
    let sink = match Sink::open(a.output.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            out::error(format_args!("audit: {e}"));
            return Exit::Usage;
        }
    };
    let options = AuditOptions {
        account_id: a.account_id.clone(),
        region: a.region.clone(),
        partition: a.partition.clone(),
        role_alias_used_services: a.role_alias_used_services.clone(),
    };
    let loaded = match load_all(&a, &options) {
        Ok(s) => s,
        Err(e) => {
            out::error(format_args!("audit: {e}"));
            return Exit::Usage;
        }
    };
    let suppressions = match &a.suppressions {
        Some(p) => match read(p).and_then(|t| {
            iot_canary_audit::suppress::parse(&label(p), &t).map_err(|e| e.to_string())
        }) {
            Ok(s) => s,
            Err(e) => {
                out::error(format_args!("audit: suppressions: {e}"));
                return Exit::Usage;
            }
        },
        None => Vec::new(),
    };
    let nothing = loaded.policies.is_empty() && loaded.findings.is_empty();
    let mut findings = iot_canary_audit::audit(&loaded, &options);
    iot_canary_audit::suppress::apply(&mut findings, &suppressions);
    let threshold = match a.fail_on {
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    };
    let failing = findings
        .iter()
        .filter(|f| f.suppressed.is_none() && f.severity >= threshold)
        .count();
    let exit = if failing > 0 {
        Exit::Breach
    } else if nothing {
        Exit::Blind
    } else {
        Exit::Ok
    };
    let version = env!("CARGO_PKG_VERSION");
    let rendered = match a.format {
        AuditFormat::Table => Ok(iot_canary_audit::render::table(&findings)),
        AuditFormat::Json => {
            let summary = serde_json::json!({
                "findings": findings.len(),
                "suppressed": findings.iter().filter(|f| f.suppressed.is_some()).count(),
                "failing": failing,
                "policies": loaded.policies.len(),
            });
            let mut run = RunInfo::offline("audit", started);
            run.region = Some(a.region.clone());
            envelope::to_json(&run, exit, &summary, &findings)
        }
        AuditFormat::Sarif => {
            serde_json::to_string_pretty(&iot_canary_audit::sarif::log(&findings, version))
                .map(|s| s + "\n")
        }
    };
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            out::error(format_args!("audit: cannot render the report: {e}"));
            return Exit::Usage;
        }
    };
    if let Err(Some(e)) = sink.write(&rendered) {
        out::error(format_args!("audit: {e}"));
        return Exit::Usage;
    }
    if exit == Exit::Blind {
        out::warn("audit: the sources hold no policy to audit");
    }
    exit
}
