//! CLI only: parse arguments, dispatch to the library, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_audit;
mod cmd_calibrate;
mod cmd_daemon;
mod cmd_demo;
use iot_canary_core::exit::Exit;
use iot_canary_daemon::logging::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "iot-canary",
    version,
    about = "Proves AWS IoT Core authorization stays tight"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Daemon: probe forever, serve metrics, alert.
    Run(cmd_daemon::RunArgs),
    /// One round (after a policy deploy), then exit with the gate's exit code.
    Once(cmd_daemon::OnceArgs),
    /// Validate the config.
    Check(cmd_daemon::CheckArgs),
    /// GET a health URL (container HEALTHCHECK): exit 0 on HTTP 200, 1 otherwise.
    Healthcheck(cmd_daemon::HealthcheckArgs),
    /// Policy tools (offline).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Start the AWS IoT Core emulator.
    Lab {
        #[arg(long)]
        scenario: PathBuf,
        /// Gateway address (the identity and admin listeners take free ports on the same IP).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Serve ws:// instead of wss:// (no TLS, no CA file).
        #[arg(long)]
        plain: bool,
    },
    /// Offline pre-deploy gate: every canary against a lab scenario's policies (exit codes as
    /// `once`: 0 ok, 1 breach, 2 blind, 3 usage).
    Simulate {
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
    },
    /// Embedded lab + embedded scenario + canaries.toml.
    Demo(cmd_demo::DemoArgs),
    /// Offline policy audit with Device Defender's check names (docs/audit.md; exit 0 clean,
    /// 1 findings, 2 nothing to audit, 3 bad input).
    Audit(cmd_audit::AuditArgs),
    /// Harmless experiments against the endpoint (denied requests, takeover, quotas, shadow
    /// codes, SUBACK → delivery delay) beside the lab's `aws` realism profile, plus the
    /// measured `[realism]` table (exit 0 done, 2 an experiment could not run, 3 usage).
    Calibrate(cmd_calibrate::CalibrateArgs),
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Run policy unit-test files (exit 0 all agree, 1 any disagree, 3 bad file).
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: PolicyTestFormat,
    },
    /// Session policy plaintext size against the 2,048-character STS limit (exit 1 if over).
    Size {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum PolicyTestFormat {
    Table,
    Json,
}

/// `policy test`: every file is loaded first, so one bad file fails the run before any case.
fn policy_test(files: &[PathBuf], format: PolicyTestFormat) -> Exit {
    use iot_canary_policy::testfile;
    let mut loaded = Vec::new();
    let mut bad = false;
    for path in files {
        let label = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => match testfile::load(&label, &text) {
                Ok(f) => loaded.push(f),
                Err(e) => {
                    eprintln!("iot-canary: bad policy test file: {e}");
                    bad = true;
                }
            },
            Err(e) => {
                eprintln!("iot-canary: cannot read {label}: {e}");
                bad = true;
            }
        }
    }
    if bad {
        return Exit::Usage;
    }
    let outcomes: Vec<_> = loaded.iter().flat_map(testfile::run).collect();
    if let Err(exit) = print_results(format, "iot-canary", &outcomes, testfile::render_table) {
        return exit;
    }
    if outcomes.iter().all(|o| o.agree) {
        Exit::Ok
    } else {
        Exit::Breach
    }
}

/// Prints results as `table` renders them or as pretty JSON; `prog` prefixes the error.
fn print_results<T: serde::Serialize>(
    format: PolicyTestFormat,
    prog: &str,
    results: &[T],
    table: fn(&[T]) -> String,
) -> Result<(), Exit> {
    match format {
        PolicyTestFormat::Table => print!("{}", table(results)),
        PolicyTestFormat::Json => match serde_json::to_string_pretty(results) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("{prog}: cannot render JSON: {e}");
                return Err(Exit::Usage);
            }
        },
    }
    Ok(())
}

/// `policy size`: plaintext characters per file against the session-policy limit.
fn policy_size(files: &[PathBuf]) -> Exit {
    use iot_canary_policy::size::session_policy_size;
    let mut exit = Exit::Ok;
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("iot-canary: cannot read {}: {e}", path.display());
                return Exit::Usage;
            }
        };
        let r = session_policy_size(&text);
        let minified = r
            .minified_chars
            .map_or_else(|| "not valid JSON".to_owned(), |n| format!("{n} minified"));
        println!(
            "{}: {} plaintext characters ({minified}), limit {}: {}",
            path.display(),
            r.plaintext_chars,
            r.limit,
            if r.within_limit { "ok" } else { "OVER LIMIT" }
        );
        if !r.within_limit {
            exit = exit.worst(Exit::Breach);
        }
    }
    exit
}

fn main() -> ExitCode {
    // Usage errors exit 3 (the documented code), not clap's default 2, which means "blind".
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Ok.code()
            });
        }
    };
    logging::init(cli.log_format);
    let exit = match cli.command {
        Command::Run(a) => cmd_daemon::run(a),
        Command::Once(a) => cmd_daemon::once(a),
        Command::Check(a) => cmd_daemon::check(a),
        Command::Healthcheck(a) => cmd_daemon::healthcheck(a),
        Command::Demo(a) => cmd_demo::demo(a),
        Command::Audit(a) => cmd_audit::audit(a),
        Command::Calibrate(a) => cmd_calibrate::calibrate(a),
        Command::Policy {
            command: PolicyCommand::Test { files, format },
        } => policy_test(&files, format),
        Command::Policy {
            command: PolicyCommand::Size { files },
        } => policy_size(&files),
        Command::Lab {
            scenario,
            listen,
            plain,
        } => run_lab(&scenario, listen, plain),
        Command::Simulate {
            config,
            lab_scenario,
            baseline,
            format,
        } => simulate(&config, &lab_scenario, baseline.as_deref(), format),
    };
    ExitCode::from(exit.code())
}

/// `simulate`: IO here (files, clock); the evaluation is `simulate`.
fn simulate(
    config: &std::path::Path,
    scenario: &std::path::Path,
    baseline: Option<&std::path::Path>,
    format: PolicyTestFormat,
) -> Exit {
    use iot_canary::simulate as sim;
    let cfg = match iot_canary_core::config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iot-canary simulate: {e}");
            return Exit::Usage;
        }
    };
    let now = std::time::SystemTime::now();
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let run = |path: &std::path::Path| -> Result<Vec<sim::SimResult>, String> {
        let loaded = iot_canary_lab::scenario::load(path).map_err(|e| e.to_string())?;
        let ids = sim::identities_from_scenario(&cfg, &loaded, now, &read);
        Ok(sim::simulate(&cfg.canaries, &ids, now))
    };
    let mut results = match run(scenario) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iot-canary simulate: {e}");
            return Exit::Usage;
        }
    };
    if let Some(b) = baseline {
        match run(b) {
            Ok(base) => sim::compare_with_baseline(&mut results, &base),
            Err(e) => {
                eprintln!("iot-canary simulate: baseline: {e}");
                return Exit::Usage;
            }
        }
    }
    if let Err(exit) = print_results(format, "iot-canary simulate", &results, sim::render_table) {
        return exit;
    }
    sim::gate_exit(&results)
}

fn run_lab(scenario: &std::path::Path, listen: std::net::SocketAddr, plain: bool) -> Exit {
    let loaded = match iot_canary_lab::scenario::load(scenario) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("iot-canary lab: {e}");
            return Exit::Usage;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("iot-canary lab: cannot start the async runtime: {e}");
            return Exit::Blind;
        }
    };
    runtime.block_on(async move {
        let mut config = iot_canary_lab::LabConfig::new(loaded);
        config.listen = listen;
        config.plain = plain;
        let lab = match iot_canary_lab::start(config).await {
            Ok(lab) => lab,
            Err(e) => {
                eprintln!("iot-canary lab: {e}");
                return Exit::Usage;
            }
        };
        // Handlers first, then the ready line: whoever reads the line may send SIGTERM at once.
        let stop = stop_signal();
        println!("{}", lab.ready_line());
        stop.await;
        tracing::info!("shutting down");
        lab.shutdown().await;
        Exit::Ok
    })
}

/// Installs the SIGTERM/SIGINT handlers now; the returned future ends at the first signal.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
