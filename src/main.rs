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
        other => {
            eprintln!("iot-canary: {other:?} is not built yet");
            Exit::Usage
        }
    };
    ExitCode::from(exit.code())
}
