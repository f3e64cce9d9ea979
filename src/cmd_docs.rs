//! `iot-canary completions <shell>` and `iot-canary man`: generated from the same clap
//! definitions as `--help` (clap_complete, clap_mangen), so they never drift from the CLI.
//! The container image ships both (deploy/docker/Dockerfile).

use std::path::PathBuf;

use clap::CommandFactory;
use iot_canary_core::exit::Exit;

use crate::out;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write one page per command (iot-canary.1, iot-canary-once.1, ...) into this directory
    /// instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn completions(a: CompletionsArgs) -> Exit {
    let mut cmd = crate::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "iot-canary", &mut buf);
    let _ = out::print(&String::from_utf8_lossy(&buf));
    Exit::Ok
}

pub fn man(a: ManArgs) -> Exit {
    let cmd = crate::Cli::command();
    match a.out_dir {
        Some(dir) => match clap_mangen::generate_to(cmd, &dir) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                out::error(format_args!("man: writing into {}: {e}", dir.display()));
                Exit::Usage
            }
        },
        None => {
            let mut buf = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut buf) {
                out::error(format_args!("man: {e}"));
                return Exit::Usage;
            }
            let _ = out::print(&String::from_utf8_lossy(&buf));
            Exit::Ok
        }
    }
}
