//! Suppressions, a TOML file kept in the repository beside the policies:
//!
//! ```toml
//! [[suppress]]
//! check = "IOT_POLICY_OVERLY_PERMISSIVE_CHECK"
//! policy = "FleetAdmin"          # the finding's policy or principal
//! statement = "AdminTools"       # optional: only this statement
//! reason = "admin tool, not a device; reviewed 2026-11"
//! ```
//!
//! A reason is required. Suppressed findings stay in the JSON and SARIF output (SARIF
//! `suppressions` with the reason as justification) but do not count for the exit code.
//! Unknown keys and unknown check names are errors naming the file, line and key.

use serde::Deserialize;

use crate::InputError;
use crate::checks::{CHECKS, Finding, canonical_check};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    pub check: String,
    pub policy: String,
    #[serde(default)]
    pub statement: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    suppress: Vec<toml::Spanned<Suppression>>,
}

/// Parses a suppressions file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Suppression>, InputError> {
    let line_of = |offset: usize| crate::sources::node::line_of_offset(text, offset);
    let parsed: File = toml::from_str(text).map_err(|e| InputError::At {
        file: file.into(),
        line: e.span().map_or(1, |s| line_of(s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let mut out = Vec::new();
    for s in parsed.suppress {
        let line = line_of(s.span().start);
        let s = s.into_inner();
        if s.reason.trim().is_empty() {
            return Err(InputError::At {
                file: file.into(),
                line,
                message: "reason: must say why the finding is accepted".into(),
            });
        }
        if !CHECKS.contains(&canonical_check(&s.check)) {
            return Err(InputError::At {
                file: file.into(),
                line,
                message: format!("check: unknown check `{}`", s.check),
            });
        }
        out.push(s);
    }
    Ok(out)
}

/// Marks the findings a suppression matches.
pub fn apply(findings: &mut [Finding], suppressions: &[Suppression]) {
    for f in findings.iter_mut() {
        let hit = suppressions.iter().find(|s| {
            canonical_check(&s.check) == f.check
                && (s.policy == f.policy || s.policy == f.principal)
                && s.statement
                    .as_ref()
                    .is_none_or(|st| f.statement.as_ref() == Some(st))
        });
        if let Some(s) = hit {
            f.suppressed = Some(s.reason.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_line_and_key() {
        let e = parse("s.toml", "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"p\"\nreason = \"r\"\npolcy = \"x\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("s.toml:"), "{msg}");
        assert!(msg.contains("polcy"), "{msg}");
    }

    #[test]
    fn reason_is_required_and_checks_are_known() {
        let e = parse(
            "s.toml",
            "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"p\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("reason"), "{e}");
        let e = parse(
            "s.toml",
            "\n[[suppress]]\ncheck = \"NOPE\"\npolicy = \"p\"\nreason = \"r\"\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "s.toml:2: check: unknown check `NOPE`");
        let ok = parse("s.toml", "[[suppress]]\ncheck = \"IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK\"\npolicy = \"p\"\nreason = \"r\"\n").unwrap();
        assert_eq!(ok.len(), 1);
    }
}
