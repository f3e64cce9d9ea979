//! CLI only: parse arguments, dispatch to the library, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_daemon;
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
    Run(cmd_daemon::RunArgs),
    /// One round (after a policy deploy), then exit with the gate's exit code.
    Once(cmd_daemon::OnceArgs),
    /// Validate the config.
    Check(cmd_daemon::CheckArgs),
    /// Policy tools (offline).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Start the AWS IoT Core emulator.
    Lab {
        #[arg(long)]
        scenario: PathBuf,
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
        Command::Run(a) => cmd_daemon::run(a),
        Command::Once(a) => cmd_daemon::once(a),
        Command::Check(a) => cmd_daemon::check(a),
        Command::Demo { once } => cmd_daemon::demo(once),
        other => {
            eprintln!("iot-canary: {other:?} is not built yet");
            Exit::Usage
        }
    };
    ExitCode::from(exit.code())
}
