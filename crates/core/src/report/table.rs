//! Plain-text table (terminal, CI logs): the worst rows first (breach, control failed, blind,
//! ok), columns as wide as their longest cell, colour only when the caller says the output is
//! a terminal that wants it ([`use_color`]).

use std::collections::BTreeMap;

use crate::config::Canary;
use crate::evidence::describe;
use crate::store::CanaryReport;
use crate::verdict::{Reason, Standing, Verdict};

const HEADERS: [&str; 6] = [
    "STANDING", "VERDICT", "CANARY", "IDENTITY", "ACTION", "SUBJECT",
];

/// Whether to colour output on a stream: only a terminal, and never with `NO_COLOR` set to a
/// non-empty value (https://no-color.org).
pub fn use_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

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

/// Worst first: what needs a person now leads the table.
fn rank(s: Standing) -> u8 {
    match s {
        Standing::Breach => 0,
        Standing::ControlFailed => 1,
        Standing::Blind => 2,
        Standing::Ok => 3,
    }
}

/// ANSI SGR colour of a standing.
fn colour(s: Standing) -> &'static str {
    match s {
        Standing::Breach => "1;31",
        Standing::ControlFailed => "31",
        Standing::Blind => "33",
        Standing::Ok => "32",
    }
}

/// The widths of the padded columns (the evidence, last, is not padded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns([usize; 6]);

fn cells(r: &CanaryReport) -> [String; 6] {
    [
        standing_text(r.standing).to_string(),
        verdict_text(r.verdict),
        r.canary.clone(),
        r.identity.clone(),
        r.action.as_str().to_string(),
        r.subject.clone(),
    ]
}

impl Columns {
    fn headers() -> Self {
        Columns(HEADERS.map(|h| h.chars().count()))
    }

    fn widen(&mut self, row: &[String; 6]) {
        for (w, c) in self.0.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }

    /// Wide enough for every row of `reports`.
    pub fn fit(reports: &[CanaryReport]) -> Self {
        let mut c = Self::headers();
        for r in reports {
            c.widen(&cells(r));
        }
        c
    }

    /// Wide enough for any verdict of these canaries, before any has landed (`demo` prints
    /// rows as they come).
    pub fn for_canaries(canaries: &[Canary]) -> Self {
        let mut c = Self::headers();
        let standings = [
            Standing::Ok,
            Standing::Breach,
            Standing::ControlFailed,
            Standing::Blind,
        ];
        for s in standings {
            c.0[0] = c.0[0].max(standing_text(s).len());
        }
        for r in Reason::ALL {
            c.0[1] = c.0[1].max(verdict_text(Verdict::Inconclusive(r)).len());
        }
        for k in canaries {
            for (i, cell) in [&k.name, &k.identity, k.action.as_str(), &k.subject()]
                .into_iter()
                .enumerate()
            {
                c.0[i + 2] = c.0[i + 2].max(cell.chars().count());
            }
        }
        c
    }

    fn join(&self, row: &[String; 6], last: &str, standing: Option<Standing>) -> String {
        let mut out = String::new();
        for (i, (cell, w)) in row.iter().zip(self.0).enumerate() {
            let padded = format!("{cell:<w$}");
            match (i, standing) {
                (0, Some(s)) => out.push_str(&format!("\x1b[{}m{padded}\x1b[0m", colour(s))),
                _ => out.push_str(&padded),
            }
            out.push_str("  ");
        }
        out.push_str(last);
        out.trim_end().to_string()
    }

    /// The column titles.
    pub fn header(&self) -> String {
        self.join(&HEADERS.map(str::to_string), "EVIDENCE", None)
    }

    /// One verdict as a line; `color` paints the standing.
    pub fn line(&self, r: &CanaryReport, color: bool) -> String {
        let last = describe(&r.evidence.observation);
        self.join(&cells(r), &last, color.then_some(r.standing))
    }
}

/// `N ok, N breach, N control failed, N blind (N reason, ...) -> exit N`: the blind count
/// broken down by the reasons the rows show, so the summary and the rows say the same thing.
pub fn summary_line(reports: &[CanaryReport], exit: crate::exit::Exit) -> String {
    let s = super::summary(reports);
    let mut line = format!(
        "{} ok, {} breach, {} control failed, {} blind",
        s.ok, s.breach, s.control_failed, s.blind
    );
    if !s.blind_reasons.is_empty() {
        let parts: Vec<String> = s
            .blind_reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    line.push_str(&format!(" -> exit {}", exit.code()));
    line
}

/// Rows worst first; within a standing, in the order given (config order).
pub fn sorted(reports: &[CanaryReport]) -> Vec<&CanaryReport> {
    let mut rows: Vec<&CanaryReport> = reports.iter().collect();
    rows.sort_by_key(|r| rank(r.standing));
    rows
}

/// Counts of blind rows per reason, as the rows print it.
pub(super) fn blind_reasons(reports: &[CanaryReport]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        if let Verdict::Inconclusive(reason) = r.verdict {
            *out.entry(reason.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// The table of a complete round, uncoloured (logs, test failure messages).
pub fn table(reports: &[CanaryReport]) -> String {
    table_for(
        &super::RunInfo::offline("round", std::time::SystemTime::UNIX_EPOCH),
        reports,
        false,
    )
}

/// The whole table: header, rows worst first, then (when the run was cut short) a line saying
/// so, then the summary.
pub fn table_for(run: &super::RunInfo, reports: &[CanaryReport], color: bool) -> String {
    let cols = Columns::fit(reports);
    let mut out = cols.header();
    out.push('\n');
    for r in sorted(reports) {
        out.push_str(&cols.line(r, color));
        out.push('\n');
    }
    out.push('\n');
    if run.incomplete {
        out.push_str(
            "INCOMPLETE: interrupted before every probe finished; unfinished probes are inconclusive(aborted)\n",
        );
    }
    out.push_str(&summary_line(reports, super::exit_of_run(run, reports)));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{rows, run, sample};
    use crate::verdict::{Expect, Observation, Waiting};

    #[test]
    fn table_lists_every_canary_worst_first_and_the_exit() {
        let t = table_for(&run(), &rows(), false);
        assert!(t.contains("inconclusive(timeout)"), "{t}");
        assert!(t.contains("SUBACK 0x87"), "{t}");
        assert!(
            t.contains("topic devices/bob-plug/telemetry"),
            "subject: {t}"
        );
        assert!(
            t.contains("2 ok, 1 breach, 0 control failed, 1 blind (1 timeout) -> exit 1"),
            "{t}"
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 1 + 4 + 2);
        assert!(lines[0].starts_with("STANDING"), "{t}");
        assert!(lines[1].starts_with("BREACH"), "{t}");
        assert!(lines[2].starts_with("blind"), "{t}");
        assert!(
            lines[3].starts_with("ok") && lines[3].contains("denied-one"),
            "{t}"
        );
        assert!(!t.contains('\x1b'), "no colour unless asked: {t}");
    }

    #[test]
    fn long_cells_widen_their_column_and_keep_the_rest_aligned() {
        let long = "a-canary-name-much-longer-than-the-forty-seven-characters-of-old";
        let mut rs = vec![
            sample(
                long,
                Expect::Deny,
                Verdict::Inconclusive(Reason::WitnessFailed),
                Observation::WitnessFailed,
            ),
            sample(
                "short",
                Expect::Deny,
                Verdict::Inconclusive(Reason::ControlFailed),
                Observation::TimedOut {
                    waiting_for: Waiting::Suback,
                },
            ),
        ];
        rs[1].identity = "an-identity-with-a-long-name".into();
        let t = table_for(&run(), &rs, false);
        let lines: Vec<&str> = t.lines().take(3).collect();
        // Every column starts at the same offset on every line: the identity column is where
        // the header says.
        let at = lines[0].find("IDENTITY").unwrap();
        assert_eq!(&lines[1][at..at + 5], "alice", "{t}");
        assert_eq!(&lines[2][at..at + 8], "an-ident", "{t}");
        let v = lines[0].find("VERDICT").unwrap();
        let c = lines[0].find("CANARY").unwrap();
        assert!(
            c - v > "inconclusive(witness_failed)".len(),
            "the verdict column holds the longest verdict: {t}"
        );
        assert!(lines[1].contains("inconclusive(witness_failed)  "), "{t}");
        assert!(
            t.contains("2 blind (1 control_failed, 1 witness_failed)"),
            "the summary names the reasons the rows show: {t}"
        );
    }

    #[test]
    fn live_columns_fit_any_verdict_and_colour_only_when_asked() {
        let r = sample(
            "x",
            Expect::Deny,
            Verdict::Inconclusive(Reason::WitnessFailed),
            Observation::WitnessFailed,
        );
        let cols = Columns::for_canaries(&[]);
        let plain = cols.line(&r, false);
        let at = cols.header().find("CANARY").unwrap();
        assert_eq!(&plain[at..at + 1], "x", "{plain}");
        let painted = cols.line(&r, true);
        assert!(painted.starts_with("\x1b[33mblind"), "{painted:?}");
        assert!(use_color(true, None));
        assert!(use_color(true, Some(std::ffi::OsStr::new(""))));
        assert!(!use_color(true, Some(std::ffi::OsStr::new("1"))));
        assert!(!use_color(false, None));
    }

    #[test]
    fn an_interrupted_run_says_so_and_never_exits_0() {
        let ok = vec![sample(
            "control",
            Expect::Allow,
            Verdict::Allowed,
            Observation::Suback { code: 1 },
        )];
        let mut r = run();
        r.incomplete = true;
        let t = table_for(&r, &ok, false);
        assert!(t.contains("INCOMPLETE"), "{t}");
        assert!(t.contains("-> exit 2"), "{t}");
    }
}
