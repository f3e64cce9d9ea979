//! `iot-canary lab`: the emulator as a process. Its CA goes to a private directory (0700,
//! random name) removed when the lab stops on SIGTERM, SIGINT or SIGHUP, or to `--ca-out`.

use std::net::SocketAddr;
use std::path::PathBuf;

use iot_canary_core::exit::Exit;

use crate::out;

#[derive(clap::Args, Debug)]
pub struct LabArgs {
    #[arg(long)]
    scenario: PathBuf,
    /// Gateway address (the identity and admin listeners take free ports on the same IP).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Serve ws:// instead of wss:// (no TLS, no CA file).
    #[arg(long)]
    plain: bool,
    /// Write the lab's CA (PEM) here and keep it (replaced atomically; a symlink at PATH is
    /// replaced, not followed). Default: a private temporary directory removed on exit.
    #[arg(long, value_name = "PATH", conflicts_with = "plain")]
    ca_out: Option<PathBuf>,
}

pub fn lab(a: LabArgs) -> Exit {
    let loaded = match iot_canary_lab::scenario::load(&a.scenario) {
        Ok(l) => l,
        Err(e) => {
            out::error(format_args!("lab: {e}"));
            return Exit::Usage;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            out::error(format_args!("lab: cannot start the async runtime: {e}"));
            return Exit::Blind;
        }
    };
    runtime.block_on(async move {
        let mut config = iot_canary_lab::LabConfig::new(loaded);
        config.listen = a.listen;
        config.plain = a.plain;
        config.ca_file = a.ca_out;
        // Handlers before the lab starts: a signal at any point after the CA exists removes it.
        let stop = stop_signal();
        let lab = match iot_canary_lab::start(config).await {
            Ok(lab) => lab,
            Err(e) => {
                out::error(format_args!("lab: {e}"));
                return Exit::Usage;
            }
        };
        // A closed stdout only means nobody reads the ready line; the lab still serves.
        let _ = out::println(&lab.ready_line());
        stop.await;
        tracing::info!("shutting down");
        lab.shutdown().await;
        Exit::Ok
    })
}

/// Installs the SIGTERM/SIGINT/SIGHUP handlers now; the returned future ends at the first
/// signal (SIGHUP too: its default action would end the process without removing the CA).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        let hup = signal(SignalKind::hangup());
        async move {
            match (term, int, hup) {
                (Ok(mut term), Ok(mut int), Ok(mut hup)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                        _ = hup.recv() => {}
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
