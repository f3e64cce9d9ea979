//! `iot-canary generate`: a canaries.toml derived from a world (docs/generate.md). IO and exit
//! codes here; the plan and its text come from `iot_canary_audit::generate`.
//!
//! Exit codes: 0 written; 3 bad input (the message names file, line and key).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use iot_canary_audit::generate;
use iot_canary_audit::world::World;
use iot_canary_core::exit::Exit;

use crate::cmd_audit::{label, read};
use crate::cmd_world::{self, WorldArgs};
use crate::lab_world::LabEndpoints;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub world: WorldArgs,
    /// Budget: at most N canaries, controls included (priority order in docs/generate.md).
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    /// Write the config here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Prefix of the environment variables a lab scenario's secrets are referenced by
    /// (`<PREFIX>_<NAME>_ACCESS_KEY_ID`, `<PREFIX>_<USER>_PASSWORD`, ...); the default is what
    /// `demo` hands its identities.
    #[arg(long, default_value = "IOT_CANARY_DEMO")]
    pub env_prefix: String,
    /// The lab's ready line (the JSON `iot-canary lab` prints): a lab scenario's config points
    /// at those endpoints (default: the addresses `demo` replaces).
    #[arg(long, value_name = "FILE")]
    pub lab_endpoints: Option<PathBuf>,
    /// The witness identity (default: the engine's choice, docs/generate.md).
    #[arg(long, value_name = "NAME")]
    pub witness: Option<String>,
    /// The audit's suppressions file: suppressed findings get no probe.
    #[arg(long, value_name = "FILE")]
    pub suppressions: Option<PathBuf>,
}

/// An audit suppressions file (`audit --suppressions`), or none.
pub fn suppressions(
    path: Option<&Path>,
) -> Result<Vec<iot_canary_audit::suppress::Suppression>, String> {
    match path {
        None => Ok(Vec::new()),
        Some(p) => {
            iot_canary_audit::suppress::parse(&label(p), &read(p)?).map_err(|e| e.to_string())
        }
    }
}

fn endpoints(path: Option<&Path>) -> Result<LabEndpoints, String> {
    match path {
        None => Ok(LabEndpoints::default()),
        Some(p) => {
            let text = read(p)?;
            serde_json::from_str(text.trim()).map_err(|e| format!("{}: {e}", label(p)))
        }
    }
}

/// Plans and renders a world's canaries, and proves the text is a valid config.
pub fn render(
    world: &World,
    options: generate::Options,
    name: &Path,
) -> Result<(String, iot_canary_core::config::Config), String> {
    let max = options.max;
    if let Some(w) = &options.witness
        && world.identity(w).is_none()
    {
        return Err(format!("--witness {w}: no such identity in the world"));
    }
    let plan = generate::plan(world, &options);
    let text = generate::render(world, &plan, max);
    // What generate writes must pass `check`: a failure here is a bug, never a silent output.
    let cfg = iot_canary_core::config::parse(name, &text)
        .map_err(|e| format!("the generated config does not validate (please report): {e}"))?;
    Ok((text, cfg))
}

pub fn generate(a: GenerateArgs) -> Exit {
    let now = SystemTime::now();
    let run = || -> Result<(), String> {
        let ep = endpoints(a.lab_endpoints.as_deref())?;
        let world = cmd_world::load(&a.world, &a.env_prefix, &ep, now)?;
        let name = a
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from("canaries.toml (generated)"));
        let options = generate::Options {
            max: a.max,
            witness: a.witness.clone(),
            suppressions: suppressions(a.suppressions.as_deref())?,
            now,
        };
        let (text, cfg) = render(&world, options, &name)?;
        match &a.output {
            Some(p) => {
                std::fs::write(p, &text).map_err(|e| format!("{}: cannot write: {e}", label(p)))?
            }
            None => print!("{text}"),
        }
        eprintln!(
            "iot-canary generate: {} canaries for {} identities",
            cfg.canaries.len(),
            cfg.identities.len()
        );
        Ok(())
    };
    match run() {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("iot-canary generate: {e}");
            Exit::Usage
        }
    }
}
