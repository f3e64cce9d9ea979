//! The offline policy tools: `policy test` and `policy size`. IO and exit codes here; the
//! evaluation is the policy crate's. (`simulate` is `cmd_simulate`.)

use std::path::PathBuf;
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
pub(crate) fn print_results<T: serde::Serialize, S: serde::Serialize>(
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
