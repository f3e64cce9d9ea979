//! The `run`, `once` and `healthcheck` commands, and what `check` and `demo` share with them:
//! argument shapes and wiring only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use iot_canary_core::config::{self, Config};
use iot_canary_core::exit::Exit;
use iot_canary_core::report::{self, Format, RunInfo};
use iot_canary_daemon::daemon::alerting::Alerting;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Loaded, Reload, Rounds, Service};
use iot_canary_daemon::daemon::{self, Daemon, Shard, identities, sd_notify};
use iot_canary_daemon::identity::Env;

use crate::out::{self, Sink};
use crate::progress::Progress;

/// `--format table|json|junit`, listed in `--help`.
pub(crate) fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Format::NAMES).try_map(|s| s.parse::<Format>())
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Read the config TOML from this environment variable instead of a file (ECS task
    /// definitions); errors name the variable, line and key.
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    config_env: Option<String>,
    /// Run only this replica's share: I/N (0-based), by a stable hash of canary names.
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
}

#[derive(Args, Debug)]
pub struct OnceArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Read the config TOML from this environment variable instead of a file.
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    config_env: Option<String>,
    #[arg(long, default_value = "table", value_parser = format_parser())]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Repeat rounds until verdicts are stable or this much time has passed (e.g. 5m).
    #[arg(long, value_parser = config::units::parse_duration)]
    settle: Option<Duration>,
    /// Only canaries whose name matches this glob (their identities' controls run too).
    #[arg(long)]
    only: Option<String>,
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The endpoint to GET; healthy means HTTP 200.
    #[arg(long, default_value = "http://127.0.0.1:9464/healthz")]
    url: String,
    /// Connect/read timeout, e.g. 5s.
    #[arg(long, value_parser = config::units::parse_duration, default_value = "5s")]
    timeout: Duration,
}

pub(crate) fn load(path: &Path) -> Result<Config, Exit> {
    config::load(path).map_err(|e| {
        out::error(e);
        Exit::Usage
    })
}

/// Where the config comes from: a file, or (ECS) an environment variable.
#[derive(Clone)]
pub(crate) enum Source {
    File(PathBuf),
    Env(String),
}

impl Source {
    pub(crate) fn new(path: &Path, var: Option<&str>) -> Self {
        match var {
            Some(v) => Source::Env(v.to_string()),
            None => Source::File(path.to_path_buf()),
        }
    }

    pub(crate) fn read(&self) -> Result<Config, config::ConfigError> {
        match self {
            Source::File(p) => config::load(p),
            Source::Env(v) => config::load_env(v),
        }
    }

    /// Config plus its notifiers' secrets (and, for `run`, its coverage over the `[coverage]`
    /// world); the error text is located and secret-free.
    fn read_all(&self, coverage: bool) -> Result<Loaded, String> {
        let cfg = self.read().map_err(|e| e.to_string())?;
        let notifiers = config::resolve_notifiers(&cfg, &|v| std::env::var(v).ok())
            .map_err(|e| e.to_string())?;
        let coverage = if coverage {
            crate::cmd_world::coverage_ratio(&cfg)
                .map_err(|e| format!("{}: {e}", cfg.path.display()))?
        } else {
            None
        };
        Ok(Loaded {
            config: cfg,
            notifiers,
            coverage,
        })
    }
}

pub fn healthcheck(a: HealthcheckArgs) -> Exit {
    match iot_canary_daemon::observe::healthcheck::check(&a.url, a.timeout) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            out::error(format_args!("healthcheck: {e}"));
            if e.is_usage() {
                Exit::Usage
            } else {
                Exit::Breach
            }
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn build(cfg: Config, shard: Option<Shard>) -> anyhow::Result<Daemon> {
    let shard = shard.unwrap_or(Shard::ALL);
    let clashing =
        iot_canary_core::plan::unsharded_client_ids(&cfg.canaries, &cfg.target.client_id, shard);
    if !clashing.is_empty() {
        anyhow::bail!(
            "--shard {}/{}: client id templates of {} (first: `{}`) lack `${{shard}}`; every \
             replica runs the controls, so replicas would take over each other's connections \
             (add `${{shard}}` to [target] client_id and to the controls' client_id)",
            shard.index,
            shard.count,
            clashing.len(),
            clashing[0]
        );
    }
    let endpoint = daemon::endpoint(&cfg).context("reading [target] ca_file")?;
    let ids = identities::build(&cfg, Env::process()).context("building identities")?;
    Ok(Daemon::new(Arc::new(cfg), endpoint, ids, shard))
}

pub(crate) fn fail(e: anyhow::Error) -> Exit {
    out::error(format_args!("{e:#}"));
    Exit::Usage
}

/// What `check --credentials` shows about fetched credentials: never the secret key or the
/// session token; the access key id only abbreviated.
pub(crate) fn credential_summary(
    c: &iot_canary_daemon::identity::SessionCredentials,
    now: std::time::SystemTime,
) -> String {
    let akid = &c.access_key_id;
    let short = if akid.len() > 8 {
        format!("{}…{}", &akid[..4], &akid[akid.len() - 4..])
    } else {
        "…".to_string()
    };
    let mut out = format!("access key {short}");
    match c.expiration {
        None => out.push_str(", never expires"),
        Some(exp) => {
            let at = aws_smithy_types::DateTime::from(exp)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_else(|_| "?".into());
            let left = exp.duration_since(now).map(|d| d.as_secs()).unwrap_or(0);
            out.push_str(&format!(", expires {at} (in {left}s)"));
        }
    }
    if c.session_token.is_some() {
        out.push_str(", session token present");
    }
    if let Some(id) = &c.identity_id {
        out.push_str(&format!(", identity id {id}"));
    }
    if let Some(u) = &c.username {
        out.push_str(&format!(", user {u}"));
    }
    out
}

/// Why a gate would run nothing: no canary in the config, or none matching `--only` /
/// owned by `--shard` (the message names the filter). `None`: there is something to probe.
pub(crate) fn nothing_selected(cfg: &Config, shard: Shard, only: Option<&str>) -> Option<String> {
    if cfg.canaries.is_empty() {
        return Some(crate::cmd_check::no_canaries(cfg));
    }
    if !iot_canary_core::plan::select(&cfg.canaries, shard, only).is_empty() {
        return None;
    }
    let mut filters = Vec::new();
    if let Some(g) = only {
        filters.push(format!("--only '{g}'"));
    }
    if shard.count > 1 {
        filters.push(format!("--shard {}/{}", shard.index, shard.count));
    }
    Some(format!(
        "no canary selected by {} (of {} in {}): a gate that probes nothing proves nothing",
        filters.join(" and "),
        cfg.canaries.len(),
        cfg.path.display()
    ))
}

/// The report's metadata for a live run against `cfg`.
pub(crate) fn live_run(
    command: &'static str,
    cfg: &Config,
    shard: Shard,
    started: SystemTime,
    incomplete: bool,
) -> RunInfo {
    RunInfo {
        command,
        endpoint: Some(cfg.target.endpoint.clone()),
        region: Some(cfg.target.region.clone()),
        shard: (shard.count > 1).then(|| format!("{}/{}", shard.index, shard.count)),
        started,
        finished: SystemTime::now(),
        incomplete,
    }
}

/// Prints progress while a round runs, for people at a terminal (stderr).
pub(crate) fn progress_for(
    svc: &mut Service,
    d: &Daemon,
    only: Option<&str>,
) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::IsTerminal;
    let progress = Progress::default();
    let total = iot_canary_core::plan::select(&d.config.canaries, d.shard, only).len();
    let tick = progress.clone();
    let user = svc.on_verdict.clone();
    svc.on_verdict = Arc::new(move |r| {
        tick.tick();
        user(r);
    });
    progress.start(
        std::io::stderr().is_terminal(),
        total,
        d.config.schedule.timeout,
    )
}

pub fn once(a: OnceArgs) -> Exit {
    let started = SystemTime::now();
    let loaded = match Source::new(&a.config, a.config_env.as_deref()).read_all(false) {
        Ok(l) => l,
        Err(e) => {
            out::error(e);
            return Exit::Usage;
        }
    };
    let shard = a.shard.unwrap_or(Shard::ALL);
    if let Some(why) = nothing_selected(&loaded.config, shard, a.only.as_deref()) {
        out::error(why);
        return Exit::Usage;
    }
    // Before any probe runs: a report that cannot be written must not cost a round.
    let sink = match Sink::open(a.output.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            out::error(e);
            return Exit::Usage;
        }
    };
    let inner = || -> anyhow::Result<Exit> {
        let Loaded {
            config: cfg,
            notifiers,
            ..
        } = loaded;
        let d = Arc::new(build(cfg, a.shard)?);
        let rt = runtime()?;
        let outcome = rt.block_on(async {
            let alerting = Arc::new(Alerting::start(&d.config, &notifiers)?);
            let live = Arc::new(Live::new(d.config.clone(), d.store.clone(), alerting));
            let rounds = Rounds::Once {
                only: a.only.clone(),
                settle: a.settle,
            };
            // The daemon itself logs one structured event per verdict.
            let mut svc = Service::new(live, &d, rounds);
            // Ctrl-C on a gate means "stop now": what is in flight ends as
            // inconclusive(aborted) and the report says it is incomplete.
            svc.grace = Duration::ZERO;
            let progress = progress_for(&mut svc, &d, a.only.as_deref());
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            forward_signals(tx)?;
            let outcome = svc.run(d.clone(), rx).await;
            if let Some(p) = progress {
                p.abort();
            }
            Ok::<_, anyhow::Error>(outcome)
        })?;
        let run = live_run("once", &d.config, d.shard, started, outcome.interrupted);
        let reports = outcome.reports;
        let exit = report::exit_of_run(&run, &reports);
        let color = sink.is_stdout() && out::stdout_color();
        match sink.write(&report::render(a.format, &run, &reports, color)) {
            Ok(()) | Err(None) => {}
            Err(Some(e)) => anyhow::bail!(e),
        }
        if run.incomplete {
            out::warn(
                "interrupted: the report is incomplete (unfinished probes are inconclusive(aborted))",
            );
        }
        Ok(exit)
    };
    inner().unwrap_or_else(fail)
}

pub fn run(a: RunArgs) -> Exit {
    let source = Source::new(&a.config, a.config_env.as_deref());
    let Loaded {
        config: cfg,
        notifiers,
        coverage,
    } = match source.read_all(true) {
        Ok(l) => l,
        Err(e) => {
            out::error(e);
            return Exit::Usage;
        }
    };
    if cfg.canaries.is_empty() {
        out::error(crate::cmd_check::no_canaries(&cfg));
        return Exit::Usage;
    }
    let shard = a.shard;
    let inner = || -> anyhow::Result<Exit> {
        let listen = cfg.server.listen;
        let d = Arc::new(build(cfg, shard)?);
        let rt = runtime()?;
        rt.block_on(async {
            let alerting = Arc::new(Alerting::start(&d.config, &notifiers)?);
            let view = Arc::new(iot_canary_core::plan::reported_view(&d.config, d.shard));
            let live = Arc::new(Live::new(view, d.store.clone(), alerting));
            live.set_coverage(coverage);
            let addr = iot_canary_daemon::observe::http::serve_live(listen, live.clone())
                .await
                .with_context(|| format!("binding the metrics server on {listen}"))?;
            tracing::info!(%addr, "serving /metrics, /healthz, /readyz and the status page");
            out::info(format_args!("metrics on http://{addr}/metrics"));
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            forward_signals(tx)?;
            let mut svc = Service::new(live, &d, Rounds::Forever);
            svc.notify = sd_notify::SdNotify::from_env();
            svc.watchdog = sd_notify::watchdog_period_from_env();
            svc.reload = Some(Reload {
                loader: Box::new(move || source.read_all(true)),
                builder: Box::new(move |c| build(c, shard).map_err(|e| format!("{e:#}"))),
            });
            svc.run(d, rx).await;
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(Exit::Ok)
    };
    inner().unwrap_or_else(fail)
}

/// SIGHUP -> reload, SIGTERM/SIGINT -> stop. Registered before READY=1, so a reload sent right
/// after startup never hits the default SIGHUP action (terminate).
#[cfg(unix)]
pub(crate) fn forward_signals(tx: tokio::sync::mpsc::Sender<Control>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = hup.recv() => Control::Reload,
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
            };
            tracing::info!(event = ?ev, "signal received");
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn forward_signals(tx: tokio::sync::mpsc::Sender<Control>) -> anyhow::Result<()> {
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(Control::Stop).await;
    });
    Ok(())
}
