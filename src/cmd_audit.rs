//! `iot-canary audit`: IO and exit codes around the `iot-canary-audit` crate.
//!
//! Exit codes: 0 no unsuppressed finding at or above `--fail-on`; 1 at least one; 2 the inputs
//! held nothing to audit; 3 bad input (the message names file, line and key).

use std::path::{Path, PathBuf};

use iot_canary::exit::Exit;
use iot_canary_audit::sources::{self, FileKind, LoadOptions, PolicyKind, SourceSet};
use iot_canary_audit::{AuditOptions, Finding, Severity};

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
    /// Session-policy template, expanded for N devices (`FILE:N`, or `--devices`); repeatable.
    #[arg(long = "session-template", value_name = "FILE[:N]")]
    pub session_templates: Vec<String>,
    /// Devices per user for session templates given without `:N`.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Length of a device name in the session-template expansion.
    #[arg(long, default_value_t = iot_canary_audit::sources::session_template::DEFAULT_DEVICE_NAME_LEN)]
    pub device_name_length: usize,
    /// Lowest severity that fails the run (exit 1).
    #[arg(long, value_enum, default_value = "low")]
    pub fail_on: FailOn,
}

/// The report envelope. Kept small and local: a project-wide envelope will replace it.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    findings: &'a [Finding],
}

fn label(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", label(p)))
}

fn load_all(a: &AuditArgs, audit: &AuditOptions) -> Result<SourceSet, String> {
    let mut parameters = Vec::new();
    for p in &a.parameters {
        match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => parameters.push((k.to_owned(), v.to_owned())),
            _ => return Err(format!("--parameter {p}: expected KEY=VALUE")),
        }
    }
    let options = LoadOptions {
        audit: audit.clone(),
        parameters,
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
    let mut all = SourceSet::default();
    for path in &a.sources {
        let text = read(path)?;
        all.extend(sources::load(&label(path), &text, kind, &options).map_err(|e| e.to_string())?);
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

pub fn audit(a: AuditArgs) -> Exit {
    if a.sources.is_empty() && a.session_templates.is_empty() {
        eprintln!("iot-canary audit: name at least one source file or --session-template");
        return Exit::Usage;
    }
    let options = AuditOptions {
        account_id: a.account_id.clone(),
        region: a.region.clone(),
        partition: a.partition.clone(),
    };
    let loaded = match load_all(&a, &options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("iot-canary audit: {e}");
            return Exit::Usage;
        }
    };
    let suppressions = match &a.suppressions {
        Some(p) => match read(p).and_then(|t| {
            iot_canary_audit::suppress::parse(&label(p), &t).map_err(|e| e.to_string())
        }) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("iot-canary audit: suppressions: {e}");
                return Exit::Usage;
            }
        },
        None => Vec::new(),
    };
    let nothing = loaded.policies.is_empty() && loaded.findings.is_empty();
    let mut findings = iot_canary_audit::audit(&loaded, &options);
    iot_canary_audit::suppress::apply(&mut findings, &suppressions);
    let version = env!("CARGO_PKG_VERSION");
    let rendered = match a.format {
        AuditFormat::Table => Ok(iot_canary_audit::render::table(&findings)),
        AuditFormat::Json => serde_json::to_string_pretty(&Envelope {
            schema_version: 1,
            tool: "iot-canary",
            version,
            command: "audit",
            findings: &findings,
        })
        .map(|s| s + "\n"),
        AuditFormat::Sarif => {
            serde_json::to_string_pretty(&iot_canary_audit::sarif::log(&findings, version))
                .map(|s| s + "\n")
        }
    };
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iot-canary audit: cannot render the report: {e}");
            return Exit::Usage;
        }
    };
    match &a.output {
        Some(p) => {
            if let Err(e) = std::fs::write(p, rendered) {
                eprintln!("iot-canary audit: {}: cannot write: {e}", label(p));
                return Exit::Usage;
            }
        }
        None => print!("{rendered}"),
    }
    let threshold = match a.fail_on {
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    };
    if findings
        .iter()
        .any(|f| f.suppressed.is_none() && f.severity >= threshold)
    {
        Exit::Breach
    } else if nothing {
        eprintln!("iot-canary audit: the sources hold no policy to audit");
        Exit::Blind
    } else {
        Exit::Ok
    }
}
