//! `iot-canary calibrate` against the lab started with the `aws` realism profile (seeded): it
//! must report the lab's own profile back — the same refusals, takeover and quota answers, and
//! a measured `[realism]` table whose delays agree with the profile within the stated
//! tolerance.

use std::time::Duration;

use iot_canary_lab::realism::{Realism, RealismSpec, Spread};
use iot_canary_testkit::config::{lab_target, static_identity};
use iot_canary_testkit::lab;
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::{fixture_with, write_file};

use crate::support::run_bin;

const SECRETS: [(&str, &str); 4] = [
    ("OPS_KEY", "AKIALABOPS0000000001"),
    ("OPS_SECRET", "lab-secret-ops"),
    ("DEV_KEY", "AKIALABDEV0000000001"),
    ("DEV_SECRET", "lab-secret-dev"),
];

/// The tolerance the command is run with (and the test checks against).
const TOLERANCE: Duration = Duration::from_millis(200);

fn near(seen: Duration, want: Duration) -> bool {
    seen.abs_diff(want) <= TOLERANCE
}

fn assert_spread_near(key: &str, seen: &Spread, want: &Spread) {
    assert!(
        near(seen.min, want.min)
            && (near(seen.max, want.max) || seen.max <= want.tail_max + TOLERANCE),
        "{key}: measured {seen:?}, profile {want:?} (±{TOLERANCE:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrate_reports_the_labs_aws_profile_back() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::fixture("dev-lamp").realism("profile = \"aws\"");
    let lab = lab::start_tls(&scenario, dir.path()).await;
    let mut config = lab_target(&lab, "dev-${identity}-${shard}-${canary}");
    for (name, key) in [("ops", "OPS"), ("dev", "DEV")] {
        config.push_str(&static_identity(name, key));
    }
    // dev's deny canaries: another lamp's filter and topic (witness `ops`) ...
    config.push_str(&fixture_with(
        "configs/cli-canaries.toml",
        &[("who", "dev")],
    ));
    // ... and connecting as a client id only ops may use.
    config.push_str(
        "\n[[canary]]\nname = \"dev-connect-as-ops\"\nidentity = \"dev\"\naction = \"connect\"\nclient_id = \"ops-lamp\"\n",
    );
    let config = write_file(dir.path(), "canaries.toml", &config);
    let out = dir.path().join("measured.toml");
    let run = run_bin(
        &[
            "calibrate",
            "-c",
            config.to_str().unwrap(),
            "--thing",
            "other-lamp",
            "--tolerance",
            "200ms",
            "--realism-out",
            out.to_str().unwrap(),
        ],
        dir.path(),
        &SECRETS,
    )
    .await;
    let all = format!("{}\n{}", run.stdout, run.stderr);
    // Shown with --nocapture (the figures docs/realism.md quotes).
    println!("{}", run.stdout);
    assert_eq!(run.code, 0, "{all}");
    // Every comparison the lab can make agrees with its own profile.
    assert!(!run.stdout.contains("DIFFERENT"), "{all}");
    for row in [
        ("denied connect", "3.1.1", "connection closed"),
        ("denied connect", "5", "CONNACK 0x87"),
        ("denied subscribe", "3.1.1", "connection closed"),
        ("denied subscribe", "5", "SUBACK 0x87"),
        ("denied publish (QoS 1)", "3.1.1", "connection closed"),
        ("denied publish (QoS 1)", "5", "PUBACK 0x87"),
        ("client-id takeover", "3.1.1", "connection closed"),
        ("client-id takeover", "5", "DISCONNECT 0x8E"),
        (
            "subscriptions per connection",
            "3.1.1",
            "50 granted, then SUBACK 0x80",
        ),
        (
            "subscriptions per connection",
            "5",
            "50 granted, then SUBACK 0x97",
        ),
        ("250 publishes at once", "3.1.1", "then connection closed"),
        ("250 publishes at once", "5", "then PUBACK 0x97"),
        ("shadow get, no such shadow", "both", "rejected 404"),
        ("DISCONNECT codes seen", "5", "0x8E"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(row.0) && l[row.0.len()..].trim_start().starts_with(row.1))
            .unwrap_or_else(|| panic!("no row {row:?}:\n{all}"));
        assert!(line.contains(row.2), "{row:?}: {line}");
    }
    // The measured table is a `[realism]` table the lab takes, and it is the profile.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(run.stdout.contains(&text), "the table is printed too");
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let spec: RealismSpec = table["realism"].clone().try_into().unwrap();
    let measured = spec.resolve(&Realism::off()).unwrap();
    let aws = Realism::aws();
    assert_eq!(measured.profile, aws.profile);
    assert_spread_near(
        "activation_delay",
        &measured.activation_delay,
        &aws.activation_delay,
    );
    assert_spread_near(
        "delivery_latency",
        &measured.delivery_latency,
        &aws.delivery_latency,
    );
    assert!(
        measured.delivery_jitter <= aws.delivery_jitter + TOLERANCE,
        "{text}"
    );
    assert_eq!(measured.subscriptions_per_connection, 50, "{text}");
    for key in ["activation_delay", "delivery_latency", "delivery_jitter"] {
        assert!(
            table["realism"].get(key).is_some(),
            "{key} measured:\n{text}"
        );
    }
    // A witness the config does not have is a usage error, before any connection.
    let run = run_bin(
        &[
            "calibrate",
            "-c",
            config.to_str().unwrap(),
            "--witness",
            "nobody",
        ],
        dir.path(),
        &SECRETS,
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("no identity named `nobody`"),
        "{}",
        run.stderr
    );
    // So is a --realism-out that cannot be written.
    let bad = dir.path().join("no-such-dir").join("measured.toml");
    let run = run_bin(
        &[
            "calibrate",
            "-c",
            config.to_str().unwrap(),
            "--realism-out",
            bad.to_str().unwrap(),
        ],
        dir.path(),
        &SECRETS,
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
    lab.shutdown().await;
}
