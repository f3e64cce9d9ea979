//! The large ground-truth honesty run: many seeded worlds through the real daemon round
//! against the lab under a realism profile, every verdict compared with the policy engine
//! (crates/daemon/tests/it/honesty). Writes `bench/results/honesty-<profile>.json` (every
//! figure, and each false verdict with its seed and evidence) and `.md` (the table
//! docs/performance.md quotes).
//!
//! ```sh
//! cargo bench -p iot-canary-daemon --bench honesty -- --profile chaos
//! cargo bench -p iot-canary-daemon --bench honesty -- --profile aws --seeds 5000..5040
//! cargo bench -p iot-canary-daemon --bench honesty -- --profile off   # the aws worlds, no realism
//! ```
//!
//! The committed seeds are the defaults below; a seed reproduces its world, its canaries and
//! the lab's random choices.

#[path = "../tests/it/honesty/run.rs"]
mod run;

use std::path::PathBuf;
use std::time::Instant;

use iot_canary_testkit::honesty::{Summary, Tally, WorldSize};
use run::{Settings, run_worlds};

/// The committed seeds: `chaos` worlds 1000.., `aws` worlds 5000..
fn default_seeds(profile: &str) -> std::ops::Range<u64> {
    match profile {
        "aws" | "off" => 5000..5060,
        _ => 1000..1060,
    }
}

/// Worlds run side by side (each has its own lab and daemon).
const PARALLEL_WORLDS: usize = 4;

struct Args {
    profile: &'static str,
    seeds: std::ops::Range<u64>,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut profile = "chaos";
    let mut seeds = None;
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results"));
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--profile" => {
                profile = match it.next().as_deref() {
                    Some("chaos") => "chaos",
                    Some("aws") => "aws",
                    // The same worlds without AWS's behaviours: what the worlds alone leave
                    // undecided, the baseline the profiles' shares are read against.
                    Some("off") => "off",
                    other => return Err(format!("--profile: chaos, aws or off, not {other:?}")),
                }
            }
            "--seeds" => {
                let v = it.next().ok_or("--seeds needs A..B")?;
                let (a, b) = v.split_once("..").ok_or("--seeds needs A..B")?;
                let a: u64 = a.parse().map_err(|e| format!("--seeds: {e}"))?;
                let b: u64 = b.parse().map_err(|e| format!("--seeds: {e}"))?;
                seeds = Some(a..b);
            }
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            // cargo bench passes `--bench`; nothing else is expected.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        profile,
        seeds: seeds.unwrap_or_else(|| default_seeds(profile)),
        out,
    })
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("honesty: {e}");
            std::process::exit(3);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let settings = Settings {
        profile: args.profile,
        size: WorldSize {
            per_identity_version: 40,
        },
        concurrency: 100,
    };
    let seeds: Vec<u64> = args.seeds.clone().collect();
    let t0 = Instant::now();
    let progress = |t: &Tally| {
        eprintln!(
            "{} worlds, {} verdicts, {} false denied, {} false allowed, {:.1} % inconclusive, {:.0} s",
            t.worlds,
            t.verdicts,
            t.false_denied,
            t.false_allowed,
            t.inconclusive_percent(),
            t0.elapsed().as_secs_f64()
        )
    };
    let tally = rt.block_on(run_worlds(&seeds, &settings, PARALLEL_WORLDS, &progress));
    let summary = Summary {
        profile: args.profile.to_string(),
        seeds,
        wall_seconds: t0.elapsed().as_secs_f64(),
        tally,
    };
    std::fs::create_dir_all(&args.out).expect("output directory");
    let base = args.out.join(format!("honesty-{}", args.profile));
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    std::fs::write(base.with_extension("json"), json).expect("write summary json");
    std::fs::write(base.with_extension("md"), summary.markdown()).expect("write summary md");
    print!("{}", summary.markdown());
    if summary.tally.false_denied + summary.tally.false_allowed > 0 {
        eprintln!("{}", summary.tally.failure_lines());
        std::process::exit(1);
    }
}
