//! Plain-text table (terminal, CI logs).

use crate::evidence::describe;
use crate::store::CanaryReport;
use crate::verdict::{Standing, Verdict};

fn verdict_text(v: Verdict) -> String {
    match v {
        Verdict::Inconclusive(r) => format!("inconclusive({r})"),
        v => v.label().to_string(),
    }
}

fn standing_text(s: Standing) -> &'static str {
    match s {
        Standing::Ok => "ok",
        Standing::Breach => "BREACH",
        Standing::ControlFailed => "CONTROL FAILED",
        Standing::Blind => "blind",
    }
}

/// One verdict as a line (`demo` prints these as they land).
pub fn line(r: &CanaryReport) -> String {
    format!(
        "{:<14} {:<26} {:<47} {:<8} {:<13} {}",
        standing_text(r.standing),
        verdict_text(r.verdict),
        r.canary,
        r.identity,
        r.action.as_str(),
        describe(&r.evidence.observation)
    )
}

/// The column titles of [`line`].
pub fn header() -> String {
    format!(
        "{:<14} {:<26} {:<47} {:<8} {:<13} {}",
        "STANDING", "VERDICT", "CANARY", "IDENTITY", "ACTION", "EVIDENCE"
    )
}

/// `N ok, N breach, N control failed, N blind -> exit N`.
pub fn summary_line(reports: &[CanaryReport]) -> String {
    let s = super::summary(reports);
    format!(
        "{} ok, {} breach, {} control failed, {} blind -> exit {}",
        s.ok,
        s.breach,
        s.control_failed,
        s.blind,
        super::exit_of(reports).code()
    )
}

pub fn table(reports: &[CanaryReport]) -> String {
    let mut out = header();
    out.push('\n');
    for r in reports {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary_line(reports));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_canary_and_the_exit() {
        let t = table(&crate::report::tests::rows());
        assert!(t.contains("BREACH"), "{t}");
        assert!(t.contains("inconclusive(timeout)"), "{t}");
        assert!(t.contains("SUBACK 0x87"), "{t}");
        assert!(
            t.contains("2 ok, 1 breach, 0 control failed, 1 blind -> exit 1"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 1 + 4 + 2);
    }
}
