//! `demo`: the embedded lab with the demo scenario, and the repo's canaries.toml pointed at it.
//! The lab's CA lives in a private temporary directory removed when the demo ends (normally,
//! on SIGINT/SIGTERM, or when its reader goes away: `demo | head`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use anyhow::Context;
use clap::Args;
use iot_canary_core::config::{self, Config};
use iot_canary_core::exit::Exit;
use iot_canary_core::report::{self, Columns, Format};
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Rounds, Service};
use iot_canary_daemon::daemon::{self, Daemon, Shard, identities};
use iot_canary_daemon::identity::{Env, IdentityKind};
use tokio::sync::mpsc::Sender;

use crate::cmd_daemon::{
    fail, format_parser, forward_signals, live_run, load, nothing_selected, progress_for, runtime,
};
use crate::out;

/// The repo's canaries.toml, built in so `demo` also works outside a checkout.
const BUILT_IN_CONFIG: &str = include_str!("../canaries.toml");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// One round, then exit with the gate's exit code (0 tight, 1 breach, 2 blind).
    #[arg(long)]
    once: bool,
    /// Canary config (default: ./canaries.toml, else the copy built into the binary).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Report format of `--once` (`table` prints each verdict as it lands).
    #[arg(long, default_value = "table", value_parser = format_parser())]
    format: Format,
    /// Metrics address (default: `[server] listen`, or any free port if that is busy).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn demo_config(path: Option<&Path>) -> Result<Config, Exit> {
    match path {
        Some(p) => load(p),
        None if Path::new("canaries.toml").exists() => load(Path::new("canaries.toml")),
        None => {
            config::parse(Path::new("canaries.toml (built in)"), BUILT_IN_CONFIG).map_err(|e| {
                out::error(e);
                Exit::Usage
            })
        }
    }
}

/// Secrets of the demo world for the config's `*_env` references: handed to this process's
/// identity providers only (never inline in canaries.toml, never exported to the environment).
fn demo_secrets(loaded: &iot_canary_lab::scenario::LoadedScenario) -> Vec<(String, String)> {
    let var = |name: &str| name.to_uppercase().replace('-', "_");
    let mut vars = Vec::new();
    for u in &loaded.scenario.iam_user {
        let up = var(&u.name);
        vars.push((
            format!("IOT_CANARY_DEMO_{up}_ACCESS_KEY_ID"),
            u.access_key_id.clone(),
        ));
        vars.push((
            format!("IOT_CANARY_DEMO_{up}_SECRET_ACCESS_KEY"),
            u.secret_access_key.clone(),
        ));
    }
    if let Some(c) = &loaded.scenario.cognito {
        for u in &c.user {
            vars.push((
                format!("IOT_CANARY_DEMO_{}_PASSWORD", var(&u.username)),
                u.password.clone(),
            ));
        }
    }
    vars
}

/// Points the config at the in-process lab: the broker, its CA, the AWS API endpoints and the
/// vending API.
fn point_at_lab(cfg: &mut Config, lab: &iot_canary_lab::RunningLab) {
    cfg.target.endpoint = lab.endpoints.mqtt.clone();
    cfg.target.ca_file = Some(PathBuf::from(&lab.endpoints.ca_file));
    cfg.endpoints = config::Endpoints {
        sts: Some(lab.endpoints.sts.clone()),
        cognito_identity: Some(lab.endpoints.cognito_identity.clone()),
        cognito_idp: Some(lab.endpoints.cognito_idp.clone()),
        iot_data: Some(lab.endpoints.iot_data.clone()),
        iot: Some(lab.endpoints.iot.clone()),
    };
    for id in &mut cfg.identities {
        if let IdentityKind::CredentialEndpoint(c) = &mut id.config.kind {
            c.url = lab.endpoints.vending.clone();
        }
    }
}

pub fn demo(a: DemoArgs) -> Exit {
    let started = SystemTime::now();
    let mut cfg = match demo_config(a.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if let Some(why) = nothing_selected(&cfg, Shard::ALL, None) {
        out::error(why);
        return Exit::Usage;
    }
    let inner = || -> anyhow::Result<Exit> {
        let rt = runtime()?;
        rt.block_on(async move {
            let loaded =
                iot_canary_lab::demo::load().map_err(|e| anyhow::anyhow!("demo scenario: {e}"))?;
            let vars = demo_secrets(&loaded);
            // No `ca_file`: the lab writes its CA to a private directory (0700, random name)
            // that it removes when it shuts down or is dropped.
            let lc = iot_canary_lab::LabConfig::new(loaded);
            let lab = iot_canary_lab::start(lc)
                .await
                .context("starting the embedded lab")?;
            out::info(format_args!("demo: lab ready: {}", lab.ready_line()));
            point_at_lab(&mut cfg, &lab);
            let endpoint = daemon::endpoint(&cfg).context("reading the lab CA")?;
            let env = Env::with_overrides(vars);
            let ids = identities::build(&cfg, env.clone()).context("building identities")?;
            let listen = a.listen.unwrap_or(cfg.server.listen);
            // The role-path probes sign in to the user pool themselves: same secrets.
            let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL).with_env(env));
            let result = if a.once {
                once(d, a.format, started).await
            } else {
                live(d, listen).await
            };
            lab.shutdown().await;
            result
        })
    };
    inner().unwrap_or_else(fail)
}

/// Prints verdict lines as they land; once stdout is closed (`| head`) it stops printing and,
/// if `stop` is given, stops the service (nobody is watching a live demo any more).
fn live_lines(
    cols: Columns,
    color: bool,
    to_stdout: bool,
    closed: Arc<AtomicBool>,
    stop: Option<Sender<Control>>,
) -> Arc<dyn Fn(&daemon::CanaryReport) + Send + Sync> {
    Arc::new(move |r: &daemon::CanaryReport| {
        let line = cols.line(r, color);
        if !to_stdout {
            out::info(line);
            return;
        }
        if closed.load(Ordering::Relaxed) {
            return;
        }
        if out::println(&line).is_err() {
            closed.store(true, Ordering::Relaxed);
            if let Some(tx) = &stop {
                let _ = tx.try_send(Control::Stop);
            }
        }
    })
}

/// One round. As a table, each verdict is printed as it lands; as JSON or JUnit, stdout holds
/// only the report and the verdicts go to stderr. A closed stdout silences the rest; the exit
/// code is still the round's.
async fn once(d: Arc<Daemon>, format: Format, started: SystemTime) -> anyhow::Result<Exit> {
    let live_table = format == Format::Table;
    let cols = Columns::for_canaries(&d.config.canaries);
    let color = live_table && out::stdout_color();
    let mut printing = !live_table || out::println(&cols.header()).is_ok();
    let live = Live::without_alerts(d.config.clone(), d.store.clone());
    let mut svc = Service::new(
        live,
        &d,
        Rounds::Once {
            only: None,
            settle: None,
            settle_min: std::time::Duration::ZERO,
        },
    );
    svc.grace = std::time::Duration::ZERO;
    svc.on_verdict = live_lines(
        cols,
        color,
        live_table,
        Arc::new(AtomicBool::new(!printing)),
        None,
    );
    let progress = progress_for(&mut svc, &d, None);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    forward_signals(tx)?;
    let outcome = svc.run(d.clone(), rx).await;
    if let Some(p) = progress {
        p.abort();
    }
    let run = live_run("demo", &d.config, d.shard, started, outcome.interrupted);
    let reports = outcome.reports;
    let exit = report::exit_of_run(&run, &reports);
    if live_table {
        printing = printing && out::println("").is_ok();
        if printing {
            let _ = out::println(&report::summary_line(&reports, exit));
        }
    } else {
        let _ = out::print(&report::render(format, &run, &reports, false));
    }
    Ok(exit)
}

/// Probes forever, printing each verdict as it lands, with metrics served; stops on SIGINT or
/// SIGTERM (in-flight probes get the drain deadline, then end as `inconclusive(aborted)`) with
/// exit 0, as `run` does; or when stdout's reader goes away (`demo | head`), then quietly with
/// the last round's code.
async fn live(d: Arc<Daemon>, listen: SocketAddr) -> anyhow::Result<Exit> {
    let live = Live::without_alerts(d.config.clone(), d.store.clone());
    // A busy default port should not stop the demo: fall back to any free port.
    let addr = match iot_canary_daemon::observe::http::serve_live(listen, live.clone()).await {
        Ok(a) => a,
        Err(_) => iot_canary_daemon::observe::http::serve_live(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            live.clone(),
        )
        .await
        .context("binding the metrics server")?,
    };
    let cols = Columns::for_canaries(&d.config.canaries);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let open = out::println(&format!(
        "metrics: http://{addr}/metrics  (also /healthz, /readyz; Ctrl-C to stop)"
    ))
    .and_then(|()| out::println(&cols.header()))
    .is_ok();
    if !open {
        let _ = tx.try_send(Control::Stop);
    }
    let closed = Arc::new(AtomicBool::new(!open));
    let mut svc = Service::new(live, &d, Rounds::Forever);
    svc.on_verdict = live_lines(
        cols,
        out::stdout_color(),
        true,
        closed.clone(),
        Some(tx.clone()),
    );
    forward_signals(tx)?;
    let outcome = svc.run(d, rx).await;
    if closed.load(Ordering::Relaxed) {
        Ok(report::exit_of(&outcome.reports))
    } else {
        Ok(Exit::Ok)
    }
}
