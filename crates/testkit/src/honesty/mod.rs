//! The ground-truth honesty harness's pure half: random lab worlds whose policies carry the
//! documented traps, random canaries of every kind over both MQTT versions, each canary's
//! ground truth from the lab's own authorization (`LabState::principal_authz` through
//! `broker::session::authorize`, the function the broker decides with), and the comparison
//! of the daemon's verdicts with it.
//!
//! The daemon's half (starting the lab, running the real round) lives with the daemon's tests
//! (`crates/daemon/tests/it/honesty/`), which the benchmark binary shares.
//!
//! Everything random is drawn from one ChaCha8 stream seeded by the world's seed: its output is
//! fixed by its specification (rand's `StdRng` may change between releases), so a seed names
//! the same world, the same canaries and — the lab's realism being seeded from it too — the
//! same chaos on every machine.

mod tally;
mod world;

pub use tally::{Case, Summary, Tally};
pub use world::{Identity, Planned, Truth, World, WorldSize};
