//! CLI only: parse arguments, dispatch to the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_audit;
mod cmd_calibrate;
mod cmd_check;
mod cmd_daemon;
mod cmd_demo;
mod cmd_docs;
mod cmd_generate;
mod cmd_init;
mod cmd_lab;
mod cmd_policy;
mod cmd_simulate;
mod cmd_world;
mod lab_world;
mod out;
mod progress;
use iot_canary_core::exit::Exit;
use iot_canary_daemon::logging::{self, LogFormat, LogLevel};

#[derive(Parser, Debug)]
#[command(
    name = "iot-canary",
    version,
    about = "Proves AWS IoT Core authorization stays tight",
    after_help = "Exit codes: 0 ok, 1 breach (or findings), 2 blind/inconclusive, 3 config or usage error.\nLogging: --log-level, else RUST_LOG (e.g. RUST_LOG=info,iot_canary_daemon::mqtt=debug), else info. Colour only on a terminal and never with NO_COLOR set."
)]
pub(crate) struct Cli {
    /// Log format on stderr (auto: pretty on a terminal, JSON lines otherwise).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    /// Least severe log events shown; overrides RUST_LOG (default: RUST_LOG, else info).
    #[arg(long, global = true, value_enum)]
    log_level: Option<LogLevel>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Daemon: probe forever, serve metrics, alert.
    Run(cmd_daemon::RunArgs),
    /// One round (after a policy deploy), then exit with the gate's exit code.
    Once(cmd_daemon::OnceArgs),
    /// Validate the config offline (every check that needs no AWS call); `--credentials`
    /// also signs in as every identity.
    Check(cmd_check::CheckArgs),
    /// GET a health URL (container HEALTHCHECK): exit 0 on HTTP 200, 1 otherwise.
    Healthcheck(cmd_daemon::HealthcheckArgs),
    /// Policy tools (offline).
    Policy {
        #[command(subcommand)]
        command: cmd_policy::PolicyCommand,
    },
    /// Start the AWS IoT Core emulator.
    Lab(cmd_lab::LabArgs),
    /// Offline pre-deploy gate: every canary against a lab scenario's policies, or policy
    /// sources bound by an ownership file (exit codes as `once`: 0 ok, 1 breach or new access
    /// vs --baseline, 2 blind, 3 usage).
    Simulate(cmd_simulate::SimulateArgs),
    /// A canaries.toml derived from a lab scenario or an ownership file and policy sources
    /// (docs/generate.md; exit 0 written, 3 bad input).
    Generate(cmd_generate::GenerateArgs),
    /// Embedded lab + embedded scenario + canaries.toml.
    Demo(cmd_demo::DemoArgs),
    /// Offline policy audit with Device Defender's check names (docs/audit.md; exit 0 clean,
    /// 1 findings, 2 nothing to audit, 3 bad input).
    Audit(cmd_audit::AuditArgs),
    /// Harmless experiments against the endpoint (denied requests, takeover, quotas, shadow
    /// codes, SUBACK-to-delivery delay) beside the lab's `aws` realism profile, plus the
    /// measured `[realism]` table (exit 0 done, 2 an experiment could not run, 3 usage).
    Calibrate(cmd_calibrate::CalibrateArgs),
    /// Write a commented canaries.toml to start from (one per identity kind).
    Init(cmd_init::InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd_docs::CompletionsArgs),
    /// Print the man page (roff) generated from the same definitions as `--help`.
    Man(cmd_docs::ManArgs),
}

/// The log format asked for on the command line, found without a full parse (for reporting a
/// parse error in the format the caller asked for).
fn requested_format(args: &[String]) -> LogFormat {
    let mut format = LogFormat::Auto;
    for (i, a) in args.iter().enumerate() {
        let value = match a.strip_prefix("--log-format=") {
            Some(v) => Some(v),
            None if a == "--log-format" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        match value {
            Some("json") => format = LogFormat::Json,
            Some("pretty") => format = LogFormat::Pretty,
            _ => {}
        }
    }
    format
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Usage errors exit 3 (the documented code), not clap's default 2, which means "blind".
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                let _ = out::print(&e.to_string());
                return ExitCode::from(Exit::Ok.code());
            }
            if logging::is_json(requested_format(&args)) {
                logging::init(LogFormat::Json, None);
                out::error(e.to_string().trim_end());
            } else {
                let _ = e.print();
            }
            return ExitCode::from(Exit::Usage.code());
        }
    };
    logging::init(cli.log_format, cli.log_level);
    let exit = match cli.command {
        Command::Run(a) => cmd_daemon::run(a),
        Command::Once(a) => cmd_daemon::once(a),
        Command::Check(a) => cmd_check::check(a),
        Command::Healthcheck(a) => cmd_daemon::healthcheck(a),
        Command::Demo(a) => cmd_demo::demo(a),
        Command::Audit(a) => cmd_audit::audit(a),
        Command::Calibrate(a) => cmd_calibrate::calibrate(a),
        Command::Policy { command } => cmd_policy::policy(command),
        Command::Lab(a) => cmd_lab::lab(a),
        Command::Simulate(a) => cmd_simulate::simulate(a),
        Command::Generate(a) => cmd_generate::generate(a),
        Command::Init(a) => cmd_init::init(a),
        Command::Completions(a) => cmd_docs::completions(a),
        Command::Man(a) => cmd_docs::man(a),
    };
    ExitCode::from(exit.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn the_log_format_is_found_before_parsing() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            requested_format(&a(&["x", "--log-format", "json", "bogus"])),
            LogFormat::Json
        );
        assert_eq!(
            requested_format(&a(&["x", "--log-format=pretty"])),
            LogFormat::Pretty
        );
        assert_eq!(requested_format(&a(&["x", "once"])), LogFormat::Auto);
    }
}
