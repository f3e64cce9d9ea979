//! The comparison: each verdict against the engine's answer. `denied` where the engine allows
//! is a false denial (a hidden breach or a blind control), `allowed` where it denies a false
//! alarm; `inconclusive` is honest and counted per reason.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use iot_canary_core::store::CanaryReport;
use iot_canary_core::verdict::{Expect, ProbeAction, Verdict};
use serde::Serialize;

use super::{Planned, World};

/// One verdict with what is needed to reproduce it: a verdict that contradicts the engine,
/// or an example of an `inconclusive` reason.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub seed: u64,
    pub canary: String,
    pub identity: String,
    pub action: String,
    pub mqtt_version: String,
    pub client_id: String,
    pub subject: String,
    pub engine_allows: bool,
    pub verdict: String,
    pub observation: String,
    pub steps: Vec<String>,
}

impl Case {
    fn of(world: &World, planned: &Planned, r: &CanaryReport, engine_allows: bool) -> Case {
        Case {
            seed: world.seed,
            canary: r.canary.clone(),
            identity: r.identity.clone(),
            action: r.action.as_str().to_string(),
            mqtt_version: planned.version.to_string(),
            client_id: planned.client_id.clone(),
            subject: r.subject.clone(),
            engine_allows,
            verdict: r.verdict.label().to_string(),
            observation: format!("{:?}", r.evidence.observation),
            steps: r
                .evidence
                .steps
                .iter()
                .map(|s| format!("{} ms: {}", s.at_ms, s.what))
                .collect(),
        }
    }
}

/// Counts over any number of worlds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub verdicts: u64,
    pub allowed: u64,
    pub denied: u64,
    pub inconclusive: u64,
    pub false_denied: u64,
    pub false_allowed: u64,
    /// `inconclusive` by reason.
    pub reasons: BTreeMap<String, u64>,
    /// Verdicts by (action, MQTT version): `[allowed, denied, inconclusive]`.
    pub by_kind: BTreeMap<String, [u64; 3]>,
    pub engine_allowed: u64,
    /// Inconclusive verdicts of identities the world locks out: the engine refuses every one
    /// of their controls (a blanket Deny, a role that grants nothing), so no denial of theirs
    /// could ever count. A misconfiguration the daemon reports as `control_failed`, not
    /// something AWS's behaviour leaves undecided; kept apart so the profile's own share shows.
    pub inconclusive_locked_out: u64,
    /// Every verdict of such identities (decided ones are their controls' refusals and any
    /// breach, which stands whatever the controls say).
    pub locked_out_verdicts: u64,
    /// Inconclusive verdicts, outside locked-out identities, of canaries whose own CONNECT
    /// (their client id) the engine refuses: nothing the probe does after CONNECT can happen,
    /// so no observer could decide them; the daemon says `connect_refused` (MQTT 5) or sees
    /// the close (3.1.1).
    pub inconclusive_own_connect_refused: u64,
    /// Every verdict of such canaries.
    pub own_connect_refused_verdicts: u64,
    pub failures: Vec<Case>,
    /// The first few `inconclusive` verdicts of each reason, so a share can be read back to
    /// what the probe saw.
    pub inconclusive_examples: BTreeMap<String, Vec<Case>>,
    /// Controls the engine allows whose verdict is not `allowed` (each one downgrades its
    /// identity's denials to `control_failed`), by verdict label or reason: the first few.
    pub failed_control_examples: BTreeMap<String, Vec<Case>>,
    pub worlds: u64,
}

/// Examples kept per `inconclusive` reason.
const EXAMPLES_PER_REASON: usize = 4;

impl Tally {
    /// Compares one world's reports with its truth. Panics on a report for an unplanned
    /// canary or a canary without a report (the round lost or invented one).
    pub fn record(&mut self, world: &World, reports: &[CanaryReport]) {
        self.worlds += 1;
        assert_eq!(
            reports.len(),
            world.canaries.len(),
            "seed {}: one report per canary",
            world.seed
        );
        // Identities with no control the engine allows.
        let mut can_act: BTreeMap<&str, bool> = BTreeMap::new();
        for c in &world.canaries {
            let allowed_control = c.expect == Expect::Allow && c.truth.is_some_and(|t| t.allowed);
            *can_act.entry(c.identity.as_str()).or_default() |= allowed_control;
        }
        for r in reports {
            let planned = world
                .canary(&r.canary)
                .unwrap_or_else(|| panic!("seed {}: unplanned report {}", world.seed, r.canary));
            // Invariant: decide_truth ran before the round (the runner's order).
            let truth = planned.truth.expect("truth decided before the round");
            self.verdicts += 1;
            let locked_out = !can_act.get(r.identity.as_str()).copied().unwrap_or(false);
            // Not a connect canary: its CONNECT is what it tests, and a refusal decides it.
            let own_connect_refused =
                !locked_out && !truth.connect && r.action != ProbeAction::Connect;
            if locked_out {
                self.locked_out_verdicts += 1;
            }
            if own_connect_refused {
                self.own_connect_refused_verdicts += 1;
            }
            if truth.allowed {
                self.engine_allowed += 1;
            }
            let kind = format!("{}/v{}", r.action.as_str(), planned.version);
            let slot = self.by_kind.entry(kind).or_default();
            let wrong = match r.verdict {
                Verdict::Allowed => {
                    self.allowed += 1;
                    slot[0] += 1;
                    !truth.allowed
                }
                Verdict::Denied => {
                    self.denied += 1;
                    slot[1] += 1;
                    truth.allowed
                }
                Verdict::Inconclusive(reason) => {
                    self.inconclusive += 1;
                    slot[2] += 1;
                    if locked_out {
                        self.inconclusive_locked_out += 1;
                    }
                    if own_connect_refused {
                        self.inconclusive_own_connect_refused += 1;
                    }
                    *self.reasons.entry(reason.as_str().to_string()).or_default() += 1;
                    let examples = self
                        .inconclusive_examples
                        .entry(reason.as_str().to_string())
                        .or_default();
                    if examples.len() < EXAMPLES_PER_REASON {
                        examples.push(Case::of(world, planned, r, truth.allowed));
                    }
                    false
                }
            };
            if r.expect == Expect::Allow && truth.allowed && r.verdict != Verdict::Allowed {
                let key = match r.verdict {
                    Verdict::Inconclusive(reason) => reason.as_str(),
                    v => v.label(),
                };
                let examples = self
                    .failed_control_examples
                    .entry(key.to_string())
                    .or_default();
                if examples.len() < EXAMPLES_PER_REASON {
                    examples.push(Case::of(world, planned, r, truth.allowed));
                }
            }
            if !wrong {
                continue;
            }
            if r.verdict == Verdict::Denied {
                self.false_denied += 1;
            } else {
                self.false_allowed += 1;
            }
            self.failures
                .push(Case::of(world, planned, r, truth.allowed));
        }
    }

    pub fn decided(&self) -> u64 {
        self.allowed + self.denied
    }

    /// Share of verdicts that are `inconclusive`, in percent.
    pub fn inconclusive_percent(&self) -> f64 {
        percent(self.inconclusive, self.verdicts)
    }

    /// The failures, one line each (for assertion messages).
    pub fn failure_lines(&self) -> String {
        let mut out = String::new();
        for f in &self.failures {
            let _ = writeln!(
                out,
                "seed {} {} ({} {} v{} as `{}`, {}): engine {}, verdict {} — {}\n    {}",
                f.seed,
                f.canary,
                f.identity,
                f.action,
                f.mqtt_version,
                f.client_id,
                f.subject,
                if f.engine_allows { "allows" } else { "denies" },
                f.verdict,
                f.observation,
                f.steps.join("\n    ")
            );
        }
        out
    }
}

fn percent(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// A finished run, as the benchmark writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub profile: String,
    pub seeds: Vec<u64>,
    pub wall_seconds: f64,
    pub tally: Tally,
}

impl Summary {
    /// The figures as Markdown (docs/performance.md quotes them).
    pub fn markdown(&self) -> String {
        let t = &self.tally;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "profile `{}`, {} worlds (seeds {}), {:.0} s wall\n",
            self.profile,
            t.worlds,
            seed_range(&self.seeds),
            self.wall_seconds
        );
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let _ = writeln!(s, "| verdicts | {} |", t.verdicts);
        let _ = writeln!(
            s,
            "| engine allows | {} ({:.1} %) |",
            t.engine_allowed,
            percent(t.engine_allowed, t.verdicts)
        );
        let _ = writeln!(s, "| false `denied` | {} |", t.false_denied);
        let _ = writeln!(s, "| false `allowed` | {} |", t.false_allowed);
        let _ = writeln!(
            s,
            "| decided | {} ({:.1} %) |",
            t.decided(),
            percent(t.decided(), t.verdicts)
        );
        let _ = writeln!(
            s,
            "| inconclusive | {} ({:.2} %) |",
            t.inconclusive,
            t.inconclusive_percent()
        );
        let _ = writeln!(
            s,
            "| inconclusive of identities locked out by the world (every control refused by the engine) | {} ({:.2} %) |",
            t.inconclusive_locked_out,
            percent(t.inconclusive_locked_out, t.verdicts)
        );
        let _ = writeln!(
            s,
            "| inconclusive of other canaries whose own CONNECT the engine refuses | {} ({:.2} %) |",
            t.inconclusive_own_connect_refused,
            percent(t.inconclusive_own_connect_refused, t.verdicts)
        );
        let able = t.verdicts - t.locked_out_verdicts - t.own_connect_refused_verdicts;
        let able_inconclusive =
            t.inconclusive - t.inconclusive_locked_out - t.inconclusive_own_connect_refused;
        let _ = writeln!(
            s,
            "| inconclusive of the {able} canaries that can act (a control of the identity and their own CONNECT allowed) | {able_inconclusive} ({:.2} % of them) |",
            percent(able_inconclusive, able)
        );
        for (reason, n) in &t.reasons {
            let _ = writeln!(
                s,
                "| inconclusive: {reason} | {n} ({:.2} %) |",
                percent(*n, t.verdicts)
            );
        }
        let _ = writeln!(
            s,
            "\n| reason | an example: seed, canary (engine), what the probe saw |\n|---|---|"
        );
        for (reason, cases) in &t.inconclusive_examples {
            if let Some(c) = cases.first() {
                let _ = writeln!(
                    s,
                    "| {reason} | {} `{}` ({} v{} as `{}`, engine {}): `{}` |",
                    c.seed,
                    c.canary,
                    c.action,
                    c.mqtt_version,
                    c.client_id,
                    if c.engine_allows { "allows" } else { "denies" },
                    c.observation.replace('|', "\\|")
                );
            }
        }
        let _ = writeln!(
            s,
            "\n| kind | allowed | denied | inconclusive |\n|---|---|---|---|"
        );
        for (kind, [a, d, i]) in &t.by_kind {
            let _ = writeln!(s, "| {kind} | {a} | {d} | {i} |");
        }
        s
    }
}

fn seed_range(seeds: &[u64]) -> String {
    match (seeds.first(), seeds.last()) {
        (Some(a), Some(b)) if seeds.len() > 2 && b - a + 1 == seeds.len() as u64 => {
            format!("{a}..={b}")
        }
        _ => format!("{seeds:?}"),
    }
}
