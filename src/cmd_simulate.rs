//! `iot-canary simulate`: every canary judged offline against a lab scenario's policies, or
//! against policy sources (`--policies`, as `audit` reads them) bound to identities by an
//! ownership file. `--baseline` names the currently deployed policies (a scenario, or old
//! sources): access the new ones grant that the old did not is reported with its witness
//! request and fails the gate. IO here; the evaluation is `iot_canary_audit::simulate`.
//!
//! Exit codes as `once`: 0 ok, 1 breach (or new access), 2 blind, 3 usage.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use iot_canary::simulate as sim;
use iot_canary_audit::world::World;
use iot_canary_audit::world::matrix::{ClassKey, Universe, canary_class, evaluate_cell};
use iot_canary_core::config::Config;
use iot_canary_core::exit::Exit;
use iot_canary_core::report::envelope::RunInfo;

use crate::cmd_policy::{PolicyTestFormat, print_results};
use crate::cmd_world::{self, WorldArgs};
use crate::lab_world::LabEndpoints;
use crate::out;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The canaries (default with --lab-scenario: canaries.toml; with --policies: the canaries
    /// `generate` would write for the ownership file).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub world: WorldArgs,
    /// The deployed policies: a lab scenario (with --lab-scenario) or the old policy sources
    /// (with --policies). New access is reported with its witness request and fails the gate.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub baseline: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PolicyTestFormat,
    /// With --policies and no --config: the audit's suppressions file (suppressed findings get
    /// no generated canary).
    #[arg(long, value_name = "FILE")]
    pub suppressions: Option<PathBuf>,
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The config's region (for the report) and every result.
type Gated = (String, Vec<sim::SimResult>);

/// A config with canaries: a gate over none would pass on nothing.
fn load_config(path: &Path) -> Result<Config, String> {
    let cfg = iot_canary_core::config::load(path).map_err(|e| e.to_string())?;
    if cfg.canaries.is_empty() {
        return Err(crate::cmd_check::no_canaries(&cfg));
    }
    Ok(cfg)
}

/// The lab-scenario gate (each canary against the scenario's principals).
fn lab(a: &SimulateArgs, scenario: &Path, now: SystemTime) -> Result<Gated, String> {
    let config = a
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("canaries.toml"));
    let cfg = load_config(&config)?;
    let run = |path: &Path| -> Result<Vec<sim::SimResult>, String> {
        let loaded = iot_canary_lab::scenario::load(path).map_err(|e| e.to_string())?;
        let ids = sim::identities_from_scenario(&cfg.identities, &loaded, now, &read);
        Ok(sim::simulate(&cfg.canaries, &ids, now))
    };
    let mut results = run(scenario)?;
    match a.baseline.as_slice() {
        [] => {}
        [b] => {
            let base = run(b).map_err(|e| format!("baseline: {e}"))?;
            sim::compare_with_baseline(&mut results, &base);
        }
        _ => return Err("with --lab-scenario, --baseline is one scenario file".into()),
    }
    Ok((cfg.target.region, results))
}

/// Each config identity as its world identity evaluates it.
fn identities(cfg: &Config, world: &World) -> sim::SimIdentities {
    cfg.identities
        .iter()
        .map(|spec| {
            let sim = match world.identity_for(spec) {
                Some(w) => w.sim.clone(),
                None => Err(format!(
                    "identity `{}` is not in the ownership file",
                    spec.name
                )),
            };
            (spec.name.clone(), sim)
        })
        .collect()
}

/// Universe cells the new policies allow and the baseline did not, one per class no flagged
/// canary already stands for, as breaches with their witness.
fn new_cells(
    cfg: &Config,
    new: &World,
    old: &World,
    results: &[sim::SimResult],
    now: SystemTime,
) -> Vec<sim::SimResult> {
    let universe = Universe::build(new, None, now);
    // The classes flagged canaries already report.
    let mut seen: BTreeSet<ClassKey> = BTreeSet::new();
    for r in results.iter().filter(|r| r.new_access == Some(true)) {
        let Some(c) = cfg.canaries.iter().find(|c| c.name == r.canary) else {
            continue;
        };
        let Some(spec) = cfg.identities.iter().find(|i| i.name == c.identity) else {
            continue;
        };
        let Some(w) = new.identity_for(spec) else {
            continue;
        };
        if let Some(k) = canary_class(w, c, now) {
            seen.insert(k);
        }
    }
    let mut out = Vec::new();
    for (cell, key, allowed) in &universe.cells {
        if !allowed || seen.contains(key) {
            continue;
        }
        let (Some(before), Some(after)) =
            (evaluate_cell(old, cell, now), evaluate_cell(new, cell, now))
        else {
            continue;
        };
        if before.allowed() {
            continue;
        }
        seen.insert(key.clone());
        let mut r = sim::SimResult {
            canary: format!(
                "new-access {} {} {}",
                cell.identity,
                cell.action,
                cell.resource()
            ),
            identity: cell.identity.clone(),
            action: cell.action.as_str(),
            expect: "deny",
            outcome: sim::SimOutcome::Allowed,
            standing: sim::SimStanding::Breach,
            checks: after.checks,
            reason: None,
            new_access: None,
            witness: None,
        };
        let b = sim::SimResult {
            outcome: sim::SimOutcome::Denied,
            checks: before.checks,
            ..r.clone()
        };
        sim::compare_with_baseline(std::slice::from_mut(&mut r), std::slice::from_ref(&b));
        out.push(r);
    }
    out
}

/// The `--policies` gate: the config's canaries (or the generated ones) against the sources.
fn policies(a: &SimulateArgs, now: SystemTime) -> Result<Gated, String> {
    let ep = LabEndpoints::default();
    let world = cmd_world::load(&a.world, "IOT_CANARY", &ep, now)?;
    let cfg = match &a.config {
        Some(p) => load_config(p)?,
        None => {
            let options = iot_canary_audit::generate::Options {
                max: None,
                witness: None,
                suppressions: crate::cmd_generate::suppressions(a.suppressions.as_deref())?,
                now,
            };
            crate::cmd_generate::render(&world, options, Path::new("<generated>"))?.1
        }
    };
    let mut results = sim::simulate(&cfg.canaries, &identities(&cfg, &world), now);
    if !a.baseline.is_empty() {
        let old = cmd_world::load(&a.world.with_policies(&a.baseline), "IOT_CANARY", &ep, now)
            .map_err(|e| format!("baseline: {e}"))?;
        let base = sim::simulate(&cfg.canaries, &identities(&cfg, &old), now);
        sim::compare_with_baseline(&mut results, &base);
        let extra = new_cells(&cfg, &world, &old, &results, now);
        results.extend(extra);
    }
    Ok((cfg.target.region, results))
}

pub fn simulate(a: SimulateArgs) -> Exit {
    let started = SystemTime::now();
    let results = match (&a.world.lab_scenario, a.world.ownership.is_some()) {
        (Some(s), _) => lab(&a, s, started),
        (None, true) => policies(&a, started),
        (None, false) => Err(
            "name the policies: --lab-scenario FILE, or --ownership FILE --policies SOURCES..."
                .into(),
        ),
    };
    let (region, results) = match results {
        Ok(r) => r,
        Err(e) => {
            out::error(format_args!("simulate: {e}"));
            return Exit::Usage;
        }
    };
    let exit = sim::gate_exit(&results);
    let count = |s: sim::SimStanding| results.iter().filter(|r| r.standing == s).count();
    let summary = serde_json::json!({
        "ok": count(sim::SimStanding::Ok),
        "breach": count(sim::SimStanding::Breach),
        "blind": count(sim::SimStanding::Blind),
        "new_access": results.iter().filter(|r| r.new_access == Some(true)).count(),
    });
    let mut info = RunInfo::offline("simulate", started);
    info.region = Some(region);
    let exit =
        print_results(a.format, &info, exit, &summary, &results, sim::render_table).unwrap_or(exit);
    // The witness of every new path on stderr too, where a CI log shows it whatever the format.
    for r in results.iter().filter(|r| r.new_access == Some(true)) {
        if let Some(w) = &r.witness {
            out::error(format_args!("NEW ACCESS vs baseline: {}: {w}", r.canary));
        }
    }
    exit
}
