//! Coverage: the share of the cross-tenant universe some canary exercises (docs/generate.md
//! has the formula).
//!
//! coverage = |{ x ∈ U : ∃ canary c, class(c) = class(x) }| / |U|
//!
//! U is the universe of `world::matrix` (M: identity × foreign thing's resources by each
//! action's template; D: each Deny statement's ancestor filters). A canary's class is its
//! (world identity, action, statements applying at each step); a canary whose own connect the
//! engine denies exercises nothing. The engine cannot tell two requests of one class apart,
//! so a canary exercises every cell of its class.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::Serialize;

use iot_canary_core::config::Config;

use crate::world::World;
use crate::world::matrix::{ClassKey, Origin, Universe, canary_class};

/// Uncovered cells of one identity and action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub identity: String,
    pub action: &'static str,
    pub uncovered: usize,
    pub of: usize,
    /// One uncovered resource, as a canary would name it.
    pub example: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub covered: usize,
    pub total: usize,
    /// The matrix (M) and Deny-ancestor (D) parts: (covered, total).
    pub matrix: (usize, usize),
    pub deny_ancestors: (usize, usize),
    /// Largest first.
    pub uncovered: Vec<Group>,
    /// Identities left out of the universe, and why.
    pub excluded: Vec<(String, String)>,
    /// Config identities that stand for no world identity.
    pub unmapped: Vec<String>,
}

impl Coverage {
    /// covered / total; 1 for an empty universe (nothing to watch is fully watched).
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.covered as f64 / self.total as f64
        }
    }

    /// `check --coverage`'s text: the ratio, its parts, the formula, the largest gaps.
    pub fn render(&self, top: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let pct = |c: usize, t: usize| {
            if t == 0 {
                100.0
            } else {
                100.0 * c as f64 / t as f64
            }
        };
        let _ = writeln!(
            out,
            "coverage: {}/{} cells ({:.1}%): cross-tenant matrix {}/{} ({:.1}%), Deny ancestor filters {}/{} ({:.1}%)",
            self.covered,
            self.total,
            100.0 * self.ratio(),
            self.matrix.0,
            self.matrix.1,
            pct(self.matrix.0, self.matrix.1),
            self.deny_ancestors.0,
            self.deny_ancestors.1,
            pct(self.deny_ancestors.0, self.deny_ancestors.1),
        );
        let _ = writeln!(
            out,
            "  = |cells exercised by some canary of the same class| / |identity x foreign thing's resources by action template + Deny statements' ancestor filters| (docs/generate.md)"
        );
        for (name, why) in &self.excluded {
            let _ = writeln!(out, "  not in the universe: identity `{name}`: {why}");
        }
        for name in &self.unmapped {
            let _ = writeln!(
                out,
                "  config identity `{name}` stands for no identity of the world: its canaries cover nothing"
            );
        }
        if !self.uncovered.is_empty() {
            let _ = writeln!(out, "largest uncovered groups:");
            for g in self.uncovered.iter().take(top) {
                let _ = writeln!(
                    out,
                    "  {:>5} of {:<5} {} {}  (e.g. {})",
                    g.uncovered, g.of, g.identity, g.action, g.example
                );
            }
            if self.uncovered.len() > top {
                let _ = writeln!(out, "  ... and {} more groups", self.uncovered.len() - top);
            }
        }
        out
    }
}

/// Coverage of `config`'s canaries over `world` (its identities mapped by `World::identity_for`).
pub fn coverage(world: &World, config: &Config, now: SystemTime) -> Coverage {
    let universe = Universe::build(world, None, now);
    let mut unmapped = Vec::new();
    let mut exercised: BTreeSet<ClassKey> = BTreeSet::new();
    for spec in &config.identities {
        let Some(wid) = world.identity_for(spec) else {
            unmapped.push(spec.name.clone());
            continue;
        };
        for c in config.canaries.iter().filter(|c| c.identity == spec.name) {
            if let Some(key) = canary_class(wid, c, now) {
                exercised.insert(key);
            }
        }
    }
    let mut groups: BTreeMap<(String, &'static str), (usize, usize, String)> = BTreeMap::new();
    let (mut matrix, mut deny) = ((0, 0), (0, 0));
    for (cell, key, _) in &universe.cells {
        let hit = exercised.contains(key);
        let part = match cell.origin {
            Origin::Foreign { .. } => &mut matrix,
            Origin::DenyAncestor { .. } => &mut deny,
        };
        part.1 += 1;
        let g = groups
            .entry((cell.identity.clone(), cell.action.as_str()))
            .or_insert((0, 0, String::new()));
        g.1 += 1;
        if hit {
            part.0 += 1;
        } else {
            if g.0 == 0 {
                g.2 = cell.resource();
            }
            g.0 += 1;
        }
    }
    let mut uncovered: Vec<Group> = groups
        .into_iter()
        .filter(|(_, (u, ..))| *u > 0)
        .map(|((identity, action), (uncovered, of, example))| Group {
            identity,
            action,
            uncovered,
            of,
            example,
        })
        .collect();
    uncovered.sort_by(|a, b| {
        b.uncovered
            .cmp(&a.uncovered)
            .then_with(|| (&a.identity, a.action).cmp(&(&b.identity, b.action)))
    });
    Coverage {
        covered: matrix.0 + deny.0,
        total: matrix.1 + deny.1,
        matrix,
        deny_ancestors: deny,
        uncovered,
        excluded: universe.excluded,
        unmapped,
    }
}
