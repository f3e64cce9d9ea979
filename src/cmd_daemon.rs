//! The `run`, `once`, `check` and `demo` commands: argument shapes and wiring only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use iot_canary::config::{self, Config};
use iot_canary::daemon::{self, Daemon, Shard, identities, modes};
use iot_canary::exit::Exit;
use iot_canary::identity::Env;
use iot_canary::report::{self, Format};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Run only this replica's share: I/N (0-based), by a stable hash of canary names.
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
}

#[derive(Args, Debug)]
pub struct OnceArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
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
pub struct CheckArgs {
    #[arg(short, long, default_value = "canaries.toml")]
    config: PathBuf,
    /// Also fetch every identity's credentials once and report each result.
    #[arg(long)]
    credentials: bool,
}

pub(crate) fn load(path: &Path) -> Result<Config, Exit> {
    config::load(path).map_err(|e| {
        eprintln!("iot-canary: {e}");
        Exit::Usage
    })
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn build(cfg: Config, shard: Option<Shard>) -> anyhow::Result<Daemon> {
    let endpoint = daemon::endpoint(&cfg).context("reading [target] ca_file")?;
    let ids = identities::build(&cfg, Env::process()).context("building identities")?;
    Ok(Daemon::new(
        Arc::new(cfg),
        endpoint,
        ids,
        shard.unwrap_or(Shard::ALL),
    ))
}

pub(crate) fn fail(e: anyhow::Error) -> Exit {
    eprintln!("iot-canary: {e:#}");
    Exit::Usage
}

pub fn check(a: CheckArgs) -> Exit {
    let cfg = match load(&a.config) {
        Ok(c) => c,
        Err(e) => return e,
    };
    println!(
        "{}: ok ({} identities, {} canaries)",
        a.config.display(),
        cfg.identities.len(),
        cfg.canaries.len()
    );
    for id in &cfg.identities {
        for w in iot_canary::identity::secret_file_warnings(&id.config) {
            println!("warning: {w}");
        }
    }
    if !a.credentials {
        return Exit::Ok;
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let set = match identities::identity_set(&cfg, Env::process()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("iot-canary: {e}");
            return Exit::Usage;
        }
    };
    rt.block_on(async {
        let mut exit = Exit::Ok;
        // In config order, one fetch each (an assume-role identity signed by another reuses
        // that identity's cached credentials).
        for spec in &cfg.identities {
            let Some(cache) = set.get(&spec.name) else {
                continue;
            };
            match cache.current().await {
                Ok(c) => println!(
                    "identity {} ({}): ok, {}",
                    spec.name,
                    spec.kind,
                    credential_summary(&c, std::time::SystemTime::now())
                ),
                Err(e) => {
                    println!(
                        "identity {} ({}): FAILED ({}): {}",
                        spec.name, spec.kind, e.reason, e.message
                    );
                    exit = Exit::Blind;
                }
            }
        }
        exit
    })
}

/// What `check --credentials` shows about fetched credentials: never the secret key or the
/// session token; the access key id only abbreviated.
pub(crate) fn credential_summary(
    c: &iot_canary::identity::SessionCredentials,
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

pub fn once(a: OnceArgs) -> Exit {
    let cfg = match load(&a.config) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let inner = || -> anyhow::Result<Exit> {
        let d = build(cfg, a.shard)?;
        let rt = runtime()?;
        let reports = rt.block_on(async {
            let r = modes::once(&d, a.only.as_deref(), a.settle, &|_| {}).await;
            d.pool.close_all().await;
            r
        });
        let text = report::render(a.format, &reports);
        match &a.output {
            Some(p) => {
                std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?
            }
            None => print!("{text}"),
        }
        Ok(report::exit_of(&reports))
    };
    inner().unwrap_or_else(fail)
}

pub fn run(a: RunArgs) -> Exit {
    let cfg = match load(&a.config) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let inner = || -> anyhow::Result<Exit> {
        let listen = cfg.server.listen;
        let grace = cfg.schedule.timeout + Duration::from_secs(5);
        let d = Arc::new(build(cfg, a.shard)?);
        let rt = runtime()?;
        rt.block_on(async {
            let addr = iot_canary::observe::http::serve(listen, d.config.clone(), d.store.clone())
                .await
                .with_context(|| format!("binding the metrics server on {listen}"))?;
            eprintln!("iot-canary: metrics on http://{addr}/metrics");
            // The daemon itself logs one structured event per verdict.
            modes::run(d, shutdown_signal(), grace, Arc::new(|_| {})).await;
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(Exit::Ok)
    };
    inner().unwrap_or_else(fail)
}

pub(crate) async fn shutdown_signal() {
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
