//! `demo`: the embedded lab with the demo scenario, and the repo's canaries.toml pointed at it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use iot_canary_core::config::{self, Config};
use iot_canary_core::exit::Exit;
use iot_canary_core::report::{self, Format};
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Rounds, Service};
use iot_canary_daemon::daemon::{self, Daemon, Shard, identities};
use iot_canary_daemon::identity::{Env, IdentityKind};

use crate::cmd_daemon::{fail, format_parser, forward_signals, load, runtime};

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
                eprintln!("iot-canary: {e}");
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
    };
    for id in &mut cfg.identities {
        if let IdentityKind::CredentialEndpoint(c) = &mut id.config.kind {
            c.url = lab.endpoints.vending.clone();
        }
    }
}

pub fn demo(a: DemoArgs) -> Exit {
    let mut cfg = match demo_config(a.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let inner = || -> anyhow::Result<Exit> {
        let rt = runtime()?;
        rt.block_on(async move {
            let loaded =
                iot_canary_lab::demo::load().map_err(|e| anyhow::anyhow!("demo scenario: {e}"))?;
            let vars = demo_secrets(&loaded);
            let dir = std::env::temp_dir().join(format!("iot-canary-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut lc = iot_canary_lab::LabConfig::new(loaded);
            lc.ca_file = Some(dir.join("lab-ca.pem"));
            let lab = iot_canary_lab::start(lc)
                .await
                .context("starting the embedded lab")?;
            eprintln!("iot-canary demo: lab ready: {}", lab.ready_line());
            point_at_lab(&mut cfg, &lab);
            let endpoint = daemon::endpoint(&cfg).context("reading the lab CA")?;
            let ids = identities::build(&cfg, Env::with_overrides(vars))
                .context("building identities")?;
            let listen = a.listen.unwrap_or(cfg.server.listen);
            let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL));
            let result = if a.once {
                once(d, a.format).await
            } else {
                live(d, listen).await
            };
            lab.shutdown().await;
            let _ = std::fs::remove_dir_all(&dir);
            result
        })
    };
    inner().unwrap_or_else(fail)
}

/// One round. As a table, each verdict is printed as it lands; as JSON or JUnit, stdout holds
/// only the report and progress goes to stderr.
async fn once(d: Arc<Daemon>, format: Format) -> anyhow::Result<Exit> {
    let live_table = format == Format::Table;
    if live_table {
        println!("{}", report::header());
    }
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
    svc.on_verdict = Arc::new(move |r: &daemon::CanaryReport| {
        if live_table {
            println!("{}", report::line(r));
        } else {
            eprintln!("{}", report::line(r));
        }
    });
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    forward_signals(tx)?;
    let reports = svc.run(d, rx).await.reports;
    if live_table {
        println!("\n{}", report::summary_line(&reports));
    } else {
        print!("{}", report::render(format, &reports));
    }
    Ok(report::exit_of(&reports))
}

/// Probes forever, printing each verdict as it lands, with metrics served; stops on SIGINT or
/// SIGTERM (in-flight probes get the drain deadline, then end as `inconclusive(aborted)`).
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
    println!("metrics: http://{addr}/metrics  (also /healthz, /readyz; Ctrl-C to stop)");
    println!("{}", report::header());
    let mut svc = Service::new(live, &d, Rounds::Forever);
    svc.on_verdict = Arc::new(|r| println!("{}", report::line(r)));
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    forward_signals(tx)?;
    svc.run(d, rx).await;
    Ok(Exit::Ok)
}
