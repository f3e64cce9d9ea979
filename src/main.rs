//! CLI only: parse arguments, dispatch to the library, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iot_canary::exit::Exit;
use iot_canary::logging::{self, LogFormat};

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
    Run {
        #[arg(short, long, default_value = "canaries.toml")]
        config: PathBuf,
    },
    /// One round (after a policy deploy), then exit with the gate's exit code.
    Once {
        #[arg(short, long, default_value = "canaries.toml")]
        config: PathBuf,
    },
    /// Validate the config.
    Check {
        #[arg(short, long, default_value = "canaries.toml")]
        config: PathBuf,
    },
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
    /// Embedded lab + embedded scenario + canaries.toml.
    Demo {
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Run policy unit-test files.
    Test { files: Vec<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let exit = match cli.command {
        Command::Lab {
            scenario,
            listen,
            plain,
        } => run_lab(&scenario, listen, plain),
        other => {
            eprintln!("iot-canary: {other:?} is not built yet");
            Exit::Usage
        }
    };
    ExitCode::from(exit.code())
}

fn run_lab(scenario: &std::path::Path, listen: std::net::SocketAddr, plain: bool) -> Exit {
    let loaded = match iot_canary::lab::scenario::load(scenario) {
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
        let mut config = iot_canary::lab::LabConfig::new(loaded);
        config.listen = listen;
        config.plain = plain;
        let lab = match iot_canary::lab::start(config).await {
            Ok(lab) => lab,
            Err(e) => {
                eprintln!("iot-canary lab: {e}");
                return Exit::Usage;
            }
        };
        println!("{}", lab.ready_line());
        wait_for_signal().await;
        tracing::info!("shutting down");
        lab.shutdown().await;
        Exit::Ok
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
