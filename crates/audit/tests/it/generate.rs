//! The ownership file, `generate` and coverage over the fleet world
//! (`tests/fixtures/world/`: an ownership file, CloudFormation before and after a pull
//! request, a witness policy). End-to-end runs against the lab are the root package's.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use iot_canary_audit::coverage::coverage;
use iot_canary_audit::generate::{self, Options, Plan, Proves, Source};
use iot_canary_audit::sources::{self, LoadOptions, SourceSet};
use iot_canary_audit::world::matrix::canary_class;
use iot_canary_audit::world::{World, ownership};
use iot_canary_core::config::{self, Config};
use iot_canary_core::verdict::ProbeAction;

use crate::fixture;

const NOW: SystemTime = SystemTime::UNIX_EPOCH;

fn sources(files: &[&str]) -> SourceSet {
    let mut all = SourceSet::default();
    for f in files {
        let text = fixture(&format!("world/{f}"));
        all.extend(sources::load(f, &text, None, &LoadOptions::default()).unwrap());
    }
    all
}

fn world_with(ownership_text: &str, policies: &[&str]) -> Result<World, String> {
    ownership::load(
        "ownership.toml",
        ownership_text,
        sources(policies),
        Path::new("."),
        &|p| Err(format!("{}: not readable in this test", p.display())),
        "the fleet world".into(),
    )
    .map_err(|e| e.to_string())
}

fn fleet(template: &str) -> World {
    world_with(
        &fixture("world/ownership.toml"),
        &[template, "witness.json"],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn options(max: Option<usize>) -> Options {
    Options {
        max,
        witness: None,
        suppressions: Vec::new(),
        now: NOW,
    }
}

fn generated(world: &World, max: Option<usize>) -> (Plan, String, Config) {
    let plan = generate::plan(world, &options(max));
    let text = generate::render(world, &plan, max);
    let cfg = config::parse(Path::new("generated.toml"), &text)
        .unwrap_or_else(|e| panic!("the generated config must validate: {e}\n{text}"));
    (plan, text, cfg)
}

#[test]
fn ownership_errors_name_file_line_and_key() {
    let good = fixture("world/ownership.toml");
    let cases: [(&str, &str, &str); 6] = [
        (
            "iot_policies = [\"AliceDevices\"]",
            "iot_policies = [\"AliceDevicez\"]",
            "ownership.toml:25: `identity[1].iot_policies`: no IoT policy named `AliceDevicez`",
        ),
        (
            "policies = [\"witness\"]",
            "policies = \"witness\"",
            "ownership.toml:14: `identity[0].policies`: must be an array of policy names",
        ),
        (
            "password_env = \"BOB_PASSWORD\"",
            "password = \"hunter2\"",
            "ownership.toml:28: `identity[2]`:",
        ),
        (
            "topics = [\"devices/${thing}/telemetry\", \"devices/${thing}/cmd\"]",
            "topics = [\"devices/all/telemetry\"]",
            "ownership.toml:53: `resources.topics`: `devices/all/telemetry` names no `${thing}` or `${owner}`",
        ),
        (
            "[[thing]]\nname = \"bob-plug\"",
            "[[thing]]\nname = \"alice-lamp\"",
            "ownership.toml:48: `thing[1].name`: `alice-lamp` is empty or names a thing twice",
        ),
        (
            "region = \"us-east-1\"",
            "region = \"us-east-1\"\nowners = []",
            "ownership.toml:4:",
        ),
    ];
    for (from, to, want) in cases {
        assert!(good.contains(from), "fixture lacks {from}");
        let err = world_with(
            &good.replace(from, to),
            &["fleet-before.yaml", "witness.json"],
        )
        .expect_err(want);
        assert!(err.starts_with(want), "want {want}\n got {err}");
        assert!(!err.contains("hunter2"), "a secret echoed: {err}");
    }
    // A kind whose role the sources do not hold says which roles they do.
    let no_iot = good.replace("iot_policies = [\"AliceDevices\"]\n", "");
    let err = world_with(&no_iot, &["witness.json"]).unwrap_err();
    assert!(
        err.contains("`identity[1].role`: the policy sources have no Cognito authenticated role"),
        "{err}"
    );
}

#[test]
fn generated_config_is_deterministic_minimal_valid_and_fully_covering() {
    let world = fleet("fleet-before.yaml");
    let (plan, text, cfg) = generated(&world, None);
    assert_eq!(
        text,
        generated(&fleet("fleet-before.yaml"), None).1,
        "byte-identical"
    );

    // Every identity but the witness has deny probes and a connect control.
    for id in ["alice", "bob", "guest"] {
        let mine: Vec<_> = cfg.canaries.iter().filter(|c| c.identity == id).collect();
        assert!(
            mine.iter()
                .any(|c| c.is_control() && c.action == ProbeAction::Connect),
            "{id}"
        );
        assert!(mine.iter().any(|c| !c.is_control()), "{id}");
    }
    assert!(
        !cfg.canaries.iter().any(|c| c.identity == "ops"),
        "the witness is not probed"
    );
    assert_eq!(plan.witness.as_deref(), Some("ops"));
    assert!(
        cfg.canaries
            .iter()
            .filter(|c| matches!(c.action, ProbeAction::Receive))
            .all(|c| c.witness.as_deref() == Some("ops"))
    );

    // What the evidence rules need: retain canaries a witness and a topic each; receive
    // canaries a `marker_topic` the identity may receive, through the filter under test where
    // the engine allows one (and then said so), else a stand-in the comment owns up to.
    let mut retain_topics = BTreeSet::new();
    for c in cfg
        .canaries
        .iter()
        .filter(|c| c.action == ProbeAction::Retain)
    {
        assert_eq!(c.witness.as_deref(), Some("ops"), "{}", c.name);
        assert!(
            retain_topics.insert(c.topic.clone()),
            "{} shares a topic",
            c.name
        );
    }
    assert!(retain_topics.len() >= 2, "{retain_topics:?}");
    let mut through = 0;
    for p in plan
        .canaries
        .iter()
        .filter(|p| p.action == ProbeAction::Receive)
    {
        let m = p
            .marker
            .as_ref()
            .expect("every receive canary has a marker");
        let filter = p.target.topic_filter.as_ref().or(p.target.topic.as_ref());
        let matches = iot_canary_policy::actions::topic_matches(&m.topic, filter.unwrap());
        assert_eq!(matches, m.proves == Proves::FilterUnderTest, "{p:?}");
        assert_ne!(Some(&m.topic), p.target.topic.as_ref());
        through += usize::from(matches);
    }
    assert!(through > 0, "some marker arrives through its filter");
    let c = cfg
        .canaries
        .iter()
        .find(|c| c.name == "alice-cannot-receive-devices-alice-lamp-firmware-via-all")
        .expect("the `#` bypass probe");
    let m = c.marker.as_ref().expect("marker");
    assert_eq!(
        (m.topic.as_str(), m.from.as_str()),
        ("devices/alice-lamp/cmd", "marker_topic")
    );
    assert!(
        text.contains("# Marker: none. The engine lets guest receive no topic"),
        "{text}"
    );
    assert!(text.contains("matches no other topic"));
    // Only markers through the filter under test are written (check refuses the others).
    for c in cfg
        .canaries
        .iter()
        .filter(|c| c.action == ProbeAction::Receive)
    {
        if let Some(m) = c.marker.as_ref().filter(|m| m.from == "marker_topic") {
            let f = c.topic_filter.as_ref().or(c.topic.as_ref()).unwrap();
            assert!(
                iot_canary_policy::actions::topic_matches(&m.topic, f),
                "{c:?}"
            );
        }
    }

    // Minimal: no two deny canaries are decided by the same statements.
    let mut classes = BTreeSet::new();
    for c in cfg.canaries.iter().filter(|c| !c.is_control()) {
        let id = world.identity(&c.identity).unwrap();
        let key = canary_class(id, c, NOW).expect("evaluated, own connect allowed");
        assert!(classes.insert(key), "{} repeats a class", c.name);
    }
    assert_eq!(classes.len(), plan.classes);

    // The whole universe is covered, the Deny's ancestor filters included.
    let cov = coverage(&world, &cfg, NOW);
    assert_eq!(cov.covered, cov.total, "{}", cov.render(10));
    assert!(cov.deny_ancestors.1 > 0, "{cov:?}");
    assert!(cov.ratio() == 1.0);

    // Every canary says why it exists.
    let whys = text.matches("\n# Why: ").count();
    assert_eq!(whys, cfg.canaries.len(), "one Why per canary");
}

#[test]
fn deny_statements_give_bypass_probes_and_spoofs_cover_wildcard_ids() {
    let (plan, _, cfg) = generated(&fleet("fleet-before.yaml"), None);
    // AliceDevices/NoFirmwareFeed denies `devices/alice-lamp/firmware`: receives through its
    // ancestor filters are probed (all denied: the statement denies Receive too).
    let bypass: Vec<_> = plan
        .canaries
        .iter()
        .filter(|p| p.source == Source::Bypass)
        .collect();
    assert!(!bypass.is_empty());
    for p in &bypass {
        assert_eq!(p.identity, "alice");
        assert_eq!(
            p.target.topic.as_deref(),
            Some("devices/alice-lamp/firmware")
        );
        let f = p.target.topic_filter.as_deref().unwrap();
        assert!(f.contains('#') || f.contains('+'), "{f}");
        assert!(!p.allowed, "{f}: {:?}", p.checks);
    }
    // `+` and `#` as client ids, for every probed identity (unless another probe of the
    // same class stands for them).
    let spoof_ids: BTreeSet<&str> = cfg
        .canaries
        .iter()
        .filter(|c| c.action == ProbeAction::Connect && !c.is_control())
        .map(|c| c.client_id.as_str())
        .collect();
    assert!(spoof_ids.contains("+"), "{spoof_ids:?}");
    assert!(
        plan.canaries
            .iter()
            .filter(|p| p.action == ProbeAction::Connect && !p.expect_allow)
            .flat_map(|p| p.why.iter())
            .any(|w| w.contains("`#`") || w.contains("MQTT wildcard")),
    );
    // Another identity's client id is spoofed (alice's own canaries connect as her id).
    assert!(
        plan.canaries
            .iter()
            .flat_map(|p| p.why.iter())
            .any(|w| w.contains("is how alice's own canaries connect")),
    );
}

#[test]
fn the_pull_request_hole_is_a_predicted_breach_with_an_audit_finding_probe() {
    let (plan, text, _) = generated(&fleet("fleet-after.yaml"), None);
    let holes: Vec<_> = plan
        .canaries
        .iter()
        .filter(|p| p.allowed && !p.expect_allow)
        .collect();
    assert!(!holes.is_empty());
    assert!(holes.iter().all(|p| p.identity == "guest"), "{holes:#?}");
    // The audit's guest-wildcard-subscription witness became the receive through `devices/#`.
    let finding = holes
        .iter()
        .find(|p| p.source == Source::Finding)
        .expect("the finding's probe");
    assert_eq!(finding.action, ProbeAction::Receive);
    assert_eq!(finding.target.topic_filter.as_deref(), Some("devices/#"));
    assert!(
        finding.why[0].contains("guest-wildcard-subscription"),
        "{:?}",
        finding.why
    );
    assert!(
        text.contains("# Engine: HOLE: the engine allows it"),
        "{text}"
    );
}

#[test]
fn budget_keeps_holes_first_and_brings_controls_along() {
    let world = fleet("fleet-after.yaml");
    let (full, ..) = generated(&world, None);
    let (plan, text, cfg) = generated(&world, Some(4));
    assert!(cfg.canaries.len() <= 4, "{}", cfg.canaries.len());
    // Every predicted hole fits first, with the guest's connect control; what is left of the
    // budget goes to the next probes that fit (no new identity's controls).
    let deny: Vec<_> = plan.canaries.iter().filter(|p| !p.expect_allow).collect();
    let holes = |p: &Plan| -> Vec<String> {
        p.canaries
            .iter()
            .filter(|p| p.allowed && !p.expect_allow)
            .map(|p| p.resource())
            .collect()
    };
    assert!(!holes(&full).is_empty());
    assert_eq!(holes(&plan), holes(&full));
    assert!(deny.iter().all(|p| p.identity == "guest"), "{deny:#?}");
    assert!(
        plan.canaries
            .iter()
            .any(|p| p.expect_allow && p.identity == "guest" && p.action == ProbeAction::Connect)
    );
    let left: usize = plan.over_budget.values().sum();
    assert_eq!(
        left + deny.len(),
        full.canaries.iter().filter(|p| !p.expect_allow).count()
    );
    assert!(text.contains("Left out by the budget:"), "{text}");
    // A budget too small for any probe and its control writes no canary, and says so.
    let (none, _, cfg) = generated(&world, Some(1));
    assert!(cfg.canaries.is_empty() && none.over_budget.values().sum::<usize>() > 0);
}

#[test]
fn coverage_names_the_largest_uncovered_groups() {
    let world = fleet("fleet-before.yaml");
    let (_, text, _) = generated(&world, None);
    // Keep alice's canaries only: bob's and the guest's cells are uncovered.
    let kept: String = text
        .split("\n# ---- ")
        .enumerate()
        .filter(|(i, part)| *i == 0 || part.starts_with("alice ----"))
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("\n# ---- {part}")
            }
        })
        .collect();
    let cfg = config::parse(Path::new("partial.toml"), &kept).unwrap();
    let cov = coverage(&world, &cfg, NOW);
    assert!(cov.covered < cov.total && cov.covered > 0, "{cov:?}");
    let ids: BTreeSet<&str> = cov.uncovered.iter().map(|g| g.identity.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["bob", "guest"]));
    assert!(
        cov.uncovered
            .windows(2)
            .all(|w| w[0].uncovered >= w[1].uncovered),
        "largest first"
    );
    let shown = cov.render(3);
    assert!(shown.starts_with(&format!("coverage: {}/{} cells", cov.covered, cov.total)));
    assert!(
        shown.contains("largest uncovered groups:") && shown.contains("more groups"),
        "{shown}"
    );
}
