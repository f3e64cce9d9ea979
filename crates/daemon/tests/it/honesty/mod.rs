//! The ground-truth honesty harness, CI-sized: random worlds (policies with the documented
//! traps) × random canaries of every kind × MQTT 5 and 3.1.1 × the lab's `chaos` profile,
//! through the real daemon round; every `allowed`/`denied` verdict must agree with the policy
//! engine for that principal, action and resource. The large run is `benches/honesty.rs`
//! (figures in docs/performance.md).

pub mod run;

use iot_canary_testkit::honesty::WorldSize;

use run::{Settings, run_worlds};

/// Fixed seeds: the same worlds, canaries and chaos on every run.
const SEEDS: [u64; 3] = [1, 2, 3];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "main's evidence rules give false denials under chaos (3.1.1 SUBACK 0x80, QoS 0 NotDelivered; /work/notes/harness-findings.md); un-ignored when branch `evidence` lands"]
async fn verdicts_agree_with_the_engine_under_chaos() {
    let settings = Settings {
        profile: "chaos",
        size: WorldSize {
            per_identity_version: 12,
        },
        concurrency: 64,
    };
    let tally = run_worlds(&SEEDS, &settings, SEEDS.len(), &|_| {}).await;
    eprintln!(
        "{} verdicts: {} allowed, {} denied, inconclusive {:?}",
        tally.verdicts, tally.allowed, tally.denied, tally.reasons
    );
    assert!(tally.verdicts >= 300, "{}", tally.verdicts);
    // The harness sees both answers, mostly decided: not a pass by everything inconclusive.
    assert!(tally.allowed > 0 && tally.denied > 0, "{tally:?}");
    assert!(
        tally.decided() * 100 >= tally.verdicts * 60,
        "decided {} of {}: {:?}",
        tally.decided(),
        tally.verdicts,
        tally.reasons
    );
    assert_eq!(
        (tally.false_denied, tally.false_allowed),
        (0, 0),
        "verdicts contradicting the engine:\n{}",
        tally.failure_lines()
    );
}
