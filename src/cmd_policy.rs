//! The offline policy tools: `policy test`, `policy size` and `simulate`. IO and exit codes
//! here; the evaluation is the policy crate's and `iot_canary::simulate`'s.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Subcommand;
use iot_canary_core::exit::Exit;
use iot_canary_core::report::envelope::{self, RunInfo};

use crate::out;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Run policy unit-test files (exit 0 all agree, 1 any disagree, 3 bad file).
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: PolicyTestFormat,
    },
    /// Session policy plaintext size against the 2,048-character STS limit (exit 1 if over,
    /// 3 if a file is not a valid policy).
    Size {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PolicyTestFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// The lab scenario holding the identities' policies.
    #[arg(long)]
    lab_scenario: PathBuf,
    /// A scenario with the currently deployed policies: report access the new ones add.
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: PolicyTestFormat,
}

pub fn policy(c: PolicyCommand) -> Exit {
    match c {
        PolicyCommand::Test { files, format } => policy_test(&files, format),
        PolicyCommand::Size { files } => policy_size(&files),
    }
}

/// Warnings for action names no AWS service has (`iot:Publsh`): such an Allow grants nothing.
fn warn_unknown_actions(label: &str, policy: &iot_canary_policy::Policy) {
    for (statement, action, hint) in iot_canary_policy::actions::unknown_actions(policy) {
        let hint = hint
            .map(|h| format!(" (did you mean {h}?)"))
            .unwrap_or_default();
        out::warn(format_args!(
            "{label}: statement {statement}: `{action}` is not an AWS action, so the statement grants or denies nothing through it{hint}"
        ));
    }
}

/// `policy test`: every file is loaded first, so one bad file fails the run before any case.
fn policy_test(files: &[PathBuf], format: PolicyTestFormat) -> Exit {
    use iot_canary_policy::testfile;
    let started = SystemTime::now();
    let mut loaded = Vec::new();
    let mut bad = false;
    for path in files {
        let label = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => match testfile::load(&label, &text) {
                Ok(f) => {
                    for (name, p) in &f.policies {
                        warn_unknown_actions(&format!("{label}: policy {name}"), p);
                    }
                    loaded.push(f)
                }
                Err(e) => {
                    out::error(format_args!("bad policy test file: {e}"));
                    bad = true;
                }
            },
            Err(e) => {
                out::error(format_args!("cannot read {label}: {e}"));
                bad = true;
            }
        }
    }
    if bad {
        return Exit::Usage;
    }
    let outcomes: Vec<_> = loaded.iter().flat_map(testfile::run).collect();
    let exit = if outcomes.iter().all(|o| o.agree) {
        Exit::Ok
    } else {
        Exit::Breach
    };
    let agree = outcomes.iter().filter(|o| o.agree).count();
    let summary = serde_json::json!({
        "cases": outcomes.len(),
        "agree": agree,
        "disagree": outcomes.len() - agree,
    });
    let run = RunInfo::offline("policy test", started);
    print_results(
        format,
        &run,
        exit,
        &summary,
        &outcomes,
        testfile::render_table,
    )
    .unwrap_or(exit)
}

/// Prints results as `table` renders them or as the JSON envelope; a closed stdout ends
/// quietly with the run's exit code.
fn print_results<T: serde::Serialize, S: serde::Serialize>(
    format: PolicyTestFormat,
    run: &RunInfo,
    exit: Exit,
    summary: &S,
    results: &[T],
    table: fn(&[T]) -> String,
) -> Result<Exit, Exit> {
    let text = match format {
        PolicyTestFormat::Table => table(results),
        PolicyTestFormat::Json => match envelope::to_json(run, exit, summary, results) {
            Ok(json) => json,
            Err(e) => {
                out::error(format_args!("cannot render JSON: {e}"));
                return Err(Exit::Usage);
            }
        },
    };
    // A reader that went away (`| head`) leaves nothing to report to: the exit code stands.
    let _ = out::print(&text);
    Ok(exit)
}

/// `policy size`: plaintext characters per file against the session-policy limit. A file that
/// is not a valid policy is a usage error (exit 3), never "ok".
fn policy_size(files: &[PathBuf]) -> Exit {
    use iot_canary_policy::size::session_policy_size;
    let mut exit = Exit::Ok;
    for path in files {
        let label = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                out::error(format_args!("cannot read {label}: {e}"));
                return Exit::Usage;
            }
        };
        let policy = match iot_canary_policy::Policy::parse(&label, &text) {
            Ok(p) => p,
            Err(e) => {
                out::error(format_args!("{label}: not a valid policy document: {e}"));
                exit = exit.worst(Exit::Usage);
                continue;
            }
        };
        warn_unknown_actions(&label, &policy);
        let r = session_policy_size(&text);
        let minified = r
            .minified_chars
            .map_or_else(String::new, |n| format!(" ({n} minified)"));
        let line = format!(
            "{label}: {} plaintext characters{minified}, limit {}: {}",
            r.plaintext_chars,
            r.limit,
            if r.within_limit { "ok" } else { "OVER LIMIT" }
        );
        if out::println(&line).is_err() {
            return exit;
        }
        if !r.within_limit {
            exit = exit.worst(Exit::Breach);
        }
    }
    exit
}

/// `simulate`: IO here (files, clock); the evaluation is `iot_canary::simulate`.
pub fn simulate(a: SimulateArgs) -> Exit {
    use iot_canary::simulate as sim;
    let started = SystemTime::now();
    let cfg = match crate::cmd_daemon::load(&a.config) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if cfg.canaries.is_empty() {
        out::error(crate::cmd_check::no_canaries(&cfg));
        return Exit::Usage;
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let run = |path: &Path| -> Result<Vec<sim::SimResult>, String> {
        let loaded = iot_canary_lab::scenario::load(path).map_err(|e| e.to_string())?;
        let ids = sim::identities_from_scenario(&cfg, &loaded, started, &read);
        Ok(sim::simulate(&cfg.canaries, &ids, started))
    };
    let mut results = match run(&a.lab_scenario) {
        Ok(r) => r,
        Err(e) => {
            out::error(format_args!("simulate: {e}"));
            return Exit::Usage;
        }
    };
    if let Some(b) = &a.baseline {
        match run(b) {
            Ok(base) => sim::compare_with_baseline(&mut results, &base),
            Err(e) => {
                out::error(format_args!("simulate: baseline: {e}"));
                return Exit::Usage;
            }
        }
    }
    let exit = sim::gate_exit(&results);
    let count = |s: sim::SimStanding| results.iter().filter(|r| r.standing == s).count();
    let summary = serde_json::json!({
        "ok": count(sim::SimStanding::Ok),
        "breach": count(sim::SimStanding::Breach),
        "blind": count(sim::SimStanding::Blind),
        "new_access": results.iter().filter(|r| r.new_access == Some(true)).count(),
    });
    let mut info = RunInfo::offline("simulate", started);
    info.region = Some(cfg.target.region.clone());
    print_results(a.format, &info, exit, &summary, &results, sim::render_table).unwrap_or(exit)
}
