//! Where policies come from: one module per source kind, each turning a file's text into
//! [`PolicySource`]s (a document, what it is attached to, where it is written) and
//! source-level findings (an intrinsic that cannot be resolved, a document AWS would reject).

pub mod cloudformation;
pub mod json;
pub mod node;
pub mod session_template;
pub mod terraform;

use std::collections::HashMap;

use serde::Serialize;

use crate::{AuditOptions, InputError};

/// What a policy document is, which decides how its statements combine and which checks
/// apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// An AWS IoT policy (attached to certificates, thing groups or Cognito identities).
    IotPolicy,
    /// An identity policy of an IAM role that is neither an identity-pool role nor behind a
    /// role alias (linted, not held to Device Defender's role criteria).
    IamRole,
    /// A policy of the role an identity pool gives authenticated identities.
    CognitoAuthRole,
    /// A policy of the role an identity pool gives unauthenticated (guest) identities.
    CognitoUnauthRole,
    /// A policy of the role behind an AWS IoT role alias (credentials provider).
    RoleAlias,
    /// An STS session-policy template, expanded for N devices.
    SessionTemplate,
}

impl PolicyKind {
    pub const fn label(self) -> &'static str {
        match self {
            PolicyKind::IotPolicy => "IoT policy",
            PolicyKind::IamRole => "IAM role policy",
            PolicyKind::CognitoAuthRole => "Cognito authenticated role",
            PolicyKind::CognitoUnauthRole => "Cognito unauthenticated role",
            PolicyKind::RoleAlias => "role alias role",
            PolicyKind::SessionTemplate => "session-policy template",
        }
    }

    /// Parses the `--kind` names.
    pub fn from_name(name: &str) -> Option<PolicyKind> {
        Some(match name {
            "iot-policy" | "iot" => PolicyKind::IotPolicy,
            "iam-role" | "role" => PolicyKind::IamRole,
            "cognito-auth-role" | "cognito-auth" => PolicyKind::CognitoAuthRole,
            "cognito-unauth-role" | "cognito-unauth" => PolicyKind::CognitoUnauthRole,
            "role-alias" => PolicyKind::RoleAlias,
            _ => return None,
        })
    }
}

/// A file and 1-based line. `file` is the path as given (relative to the repository root when
/// the CLI runs there, which is what SARIF viewers need).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// One policy document, resolved to plain JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySource {
    pub kind: PolicyKind,
    /// What the policy is attached to: the IoT policy itself, the role (logical id or name),
    /// the role alias. Policies with the same kind and principal are evaluated together.
    pub principal: String,
    /// The policy's name (unique within the principal).
    pub name: String,
    pub document: serde_json::Value,
    /// Where the document starts.
    pub location: Location,
    /// The line of each statement, by index; shorter than the statement list when unknown.
    pub statement_lines: Vec<usize>,
    /// For session-policy templates: the template text and the expansion asked for.
    pub session: Option<session_template::Expansion>,
}

impl PolicySource {
    /// A file that is one document: named by the file stem, attached to nothing but itself.
    pub(crate) fn whole_file(
        file: &str,
        root: &node::Node,
        kind: PolicyKind,
        document: serde_json::Value,
        session: Option<session_template::Expansion>,
    ) -> PolicySource {
        let name = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(file)
            .to_owned();
        PolicySource {
            kind,
            principal: name.clone(),
            name,
            document,
            location: Location {
                file: file.into(),
                line: root.line,
            },
            statement_lines: statement_lines(root),
            session,
        }
    }

    /// The line of a statement by label (`Sid` or `#index`), falling back to the document.
    pub fn line_of(&self, labels: &[String], label: &str) -> usize {
        labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| self.statement_lines.get(i).copied())
            .unwrap_or(self.location.line)
    }
}

/// A finding about the source itself: something the audit could not read, so it is reported
/// instead of being skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFinding {
    /// `UNRESOLVED_INTRINSIC`, `UNRESOLVED_REFERENCE`, `POLICY_DOCUMENT_REJECTED`.
    pub reason: &'static str,
    /// The resource or policy the problem is in.
    pub subject: String,
    pub location: Location,
    pub message: String,
}

impl SourceFinding {
    /// `UNRESOLVED_REFERENCE`: something `subject` points at is not in the input.
    pub(crate) fn unresolved_reference(
        subject: &str,
        file: &str,
        line: usize,
        message: String,
    ) -> SourceFinding {
        SourceFinding {
            reason: "UNRESOLVED_REFERENCE",
            subject: subject.to_owned(),
            location: Location {
                file: file.into(),
                line,
            },
            message,
        }
    }
}

/// Everything read from the inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceSet {
    pub policies: Vec<PolicySource>,
    pub findings: Vec<SourceFinding>,
}

#[cfg(test)]
impl SourceSet {
    /// The set's one finding; fails the test when there is not exactly one.
    pub(crate) fn only_finding(&self) -> &SourceFinding {
        assert_eq!(self.findings.len(), 1, "{:?}", self.findings);
        &self.findings[0]
    }
}

impl SourceSet {
    pub fn extend(&mut self, other: SourceSet) {
        self.policies.extend(other.policies);
        self.findings.extend(other.findings);
    }
}

/// The kinds of input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    PolicyDocument,
    CloudFormation,
    TerraformPlan,
}

impl FileKind {
    pub fn from_name(name: &str) -> Option<FileKind> {
        Some(match name {
            "policy" | "json" => FileKind::PolicyDocument,
            "cloudformation" | "cfn" => FileKind::CloudFormation,
            "terraform" | "terraform-plan" => FileKind::TerraformPlan,
            _ => return None,
        })
    }
}

/// Options for reading sources.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub audit: AuditOptions,
    /// CloudFormation parameter overrides (`--parameter K=V`).
    pub parameters: Vec<(String, String)>,
    /// What a plain policy document is (default: an IoT policy).
    pub document_kind: Option<PolicyKind>,
}

/// Tells a policy document, a CloudFormation template and a Terraform plan apart by their
/// top-level keys.
pub fn detect(root: &node::Node) -> Option<FileKind> {
    if root.get("Statement").is_some() {
        Some(FileKind::PolicyDocument)
    } else if root.get("AWSTemplateFormatVersion").is_some() || root.get("Resources").is_some() {
        Some(FileKind::CloudFormation)
    } else if root.get("planned_values").is_some()
        || (root.get("format_version").is_some() && root.get("terraform_version").is_some())
    {
        Some(FileKind::TerraformPlan)
    } else {
        None
    }
}

/// Reads one file's text; `file` is how findings will name it.
pub fn load(
    file: &str,
    text: &str,
    kind: Option<FileKind>,
    options: &LoadOptions,
) -> Result<SourceSet, InputError> {
    // JSON files are held to JSON: the YAML reader would accept a trailing comma that AWS
    // rejects.
    if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| InputError::At {
            file: file.into(),
            line: e.line(),
            message: format!("not valid JSON: {e}"),
        })?;
    }
    let root = node::parse(text).map_err(|e| InputError::At {
        file: file.into(),
        line: e.line,
        message: format!("not valid JSON or YAML: {}", e.message),
    })?;
    let kind = match kind.or_else(|| detect(&root)) {
        Some(k) => k,
        None => {
            return Err(InputError::File {
                file: file.into(),
                message: "neither a policy document (`Statement`), a CloudFormation template (`Resources`) nor a Terraform plan (`planned_values`); name the kind with --source-kind".into(),
            });
        }
    };
    match kind {
        FileKind::PolicyDocument => json::load(file, &root, options),
        FileKind::CloudFormation => cloudformation::load(file, &root, options),
        FileKind::TerraformPlan => terraform::load(file, &root, options),
    }
}

/// Statement lines of a document node (`Statement` as a list or a single object).
pub(crate) fn statement_lines(doc: &node::Node) -> Vec<usize> {
    match doc.get("Statement") {
        Some(s) => match &s.kind {
            node::Kind::Seq(items) => items.iter().map(|i| i.line).collect(),
            _ => vec![s.line],
        },
        None => Vec::new(),
    }
}

/// A role policy read before the role's kind is known: templates and plans may name the
/// identity-pool attachment or the role alias after the policy.
pub(crate) struct Pending {
    pub role: Option<String>,
    pub source: PolicySource,
}

/// What each role is used as (kind and, for a role alias, the alias's name), gathered from
/// identity-pool attachments and role aliases.
pub(crate) type RoleKinds = HashMap<String, Vec<(PolicyKind, String)>>;

/// Settles each pending policy: one copy per use of its role, or a plain IAM role policy when
/// the role has no use the audit knows of.
pub(crate) fn settle(out: &mut SourceSet, pending: Vec<Pending>, kinds: &RoleKinds) {
    for p in pending {
        let Some(role) = p.role else {
            out.policies.push(p.source);
            continue;
        };
        match kinds.get(&role) {
            None => {
                let mut s = p.source;
                s.kind = PolicyKind::IamRole;
                s.principal = role;
                out.policies.push(s);
            }
            Some(list) => {
                for (kind, alias) in list {
                    let mut s = p.source.clone();
                    s.kind = *kind;
                    s.principal = if alias.is_empty() {
                        role.clone()
                    } else {
                        alias.clone()
                    };
                    out.policies.push(s);
                }
            }
        }
    }
}
