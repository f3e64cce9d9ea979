//! Table (for people) and JSON (for machines) renderings of the findings. The JSON envelope
//! (`schema_version`, `tool`, `command`) is the caller's: this module renders the findings.

use crate::checks::Finding;

/// The findings as a JSON array (the `findings` member of a report).
pub fn json_findings(findings: &[Finding]) -> serde_json::Value {
    serde_json::to_value(findings).unwrap_or_else(|e| serde_json::Value::String(e.to_string()))
}

/// A plain-text table: one block per finding, suppressed ones marked, and a summary line.
pub fn table(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let at = match &f.statement {
            Some(s) if !s.is_empty() => format!("{}/{s}", f.policy),
            _ => f.policy.clone(),
        };
        out.push_str(&format!(
            "{:<8}  {}  {}\n  {}:{}  {}\n  {}\n",
            f.severity.as_str().to_ascii_uppercase(),
            f.check,
            f.reason,
            f.location.file,
            f.location.line,
            at,
            // The witness follows on its own lines.
            f.message.split(" Witness: ").next().unwrap_or(&f.message)
        ));
        for w in &f.witness {
            out.push_str(&format!("  witness [{}]: {}\n", w.principal, w.summary()));
        }
        if let Some(s) = &f.size {
            out.push_str(&format!(
                "  witness: {} devices -> {} characters (limit {}); at most {} devices fit\n",
                s.devices, s.minified_chars, s.limit, s.max_devices
            ));
        }
        if let Some(r) = &f.suppressed {
            out.push_str(&format!("  suppressed: {r}\n"));
        }
        out.push('\n');
    }
    let suppressed = findings.iter().filter(|f| f.suppressed.is_some()).count();
    out.push_str(&format!(
        "{} finding(s), {} suppressed\n",
        findings.len(),
        suppressed
    ));
    out
}
