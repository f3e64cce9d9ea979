//! `iot-canary audit`: an offline audit of AWS IoT policies, Cognito identity-pool roles, role
//! aliases and session-policy templates, with AWS IoT Device Defender's check names and reason
//! codes plus checks Device Defender does not make. Every policy finding carries a witness: a
//! concrete request that the policy engine (`iot-canary-policy`) decides, with the statement
//! that decided it.
//!
//! Pure: sources are parsed from text the caller read; nothing here does IO beyond what the
//! caller passes in, so the root package's CLI and the tests share one code path.
//!
//! Flow: `sources::*` turn files into [`PolicySource`]s (plus source-level findings such as an
//! unresolved CloudFormation intrinsic), [`audit`] runs the checks in `checks/` over them,
//! `suppress` marks suppressed findings, `render` / `sarif` print the report.
//!
//! The same sources drive the rest of the offline analysis (docs/generate.md): `world` (an
//! ownership file bound to the sources: identities, things, sharing, resource templates, and
//! the cross-tenant matrix over them), `recipes` (the one table of probe actions), `simulate`
//! (every canary of a config judged offline), `generate` (canaries from a world) and
//! `coverage` (the share of the matrix a config's canaries exercise).

pub mod checks;
pub mod coverage;
pub mod generate;
pub mod recipes;
pub mod render;
pub mod sarif;
pub mod simulate;
pub mod sources;
pub mod suppress;
pub mod witness;
pub mod world;

pub use checks::{Finding, Severity, audit};
pub use sources::{Location, PolicyKind, PolicySource, SourceSet};

/// Account, region and partition the probes and CloudFormation pseudo parameters use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOptions {
    pub account_id: String,
    pub region: String,
    pub partition: String,
    /// Services the role-alias roles are known to use (IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK
    /// runs only when given: usage history is not in any source file).
    pub role_alias_used_services: Option<Vec<String>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            role_alias_used_services: None,
        }
    }
}

/// Bad input: the message names the file, the line (when known) and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}
