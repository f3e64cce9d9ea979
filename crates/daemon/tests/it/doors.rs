//! End-to-end: the HTTPS data-plane and control-plane probes against the in-process lab's
//! iot-data and iot services, through the daemon's real identity wiring, for every identity
//! kind the doors matter for — an IAM user on static keys, an assume-role session, an
//! authenticated Cognito identity (role ∩ IoT policy on the data plane, the role alone on the
//! control plane), a guest and a credential-vending API's session — in a tight world (every
//! deny canary denied, every control allowed) and a holey one (every deny canary a breach with
//! the ARN it reached in its evidence). Both worlds run side by side, each in its own lab.
//! Then the honesty case: when an identity's HTTPS control fails, a 403 `ForbiddenException`
//! is never read as a denial (W3/W7, X10).

use std::path::Path;

use aws_smithy_types::Blob;
use iot_canary_core::exit::Exit;
use iot_canary_core::report;
use iot_canary_core::verdict::{
    Expect, Observation, ProbeAction, ProbeFamily, Reason, Standing, Verdict,
};
use iot_canary_daemon::daemon::{CanaryReport, Daemon, identities};
use iot_canary_daemon::identity::Env;
use iot_canary_lab::RunningLab;
use iot_canary_testkit::WAIT;
use iot_canary_testkit::config::{identities, lab_target, static_identity};
use iot_canary_testkit::lab;
use iot_canary_testkit::scenario::{DEMO_POOL as POOL, Scenario};

use crate::support::{daemon_with, parse};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

/// Every principal's policy in the tight world: its own `dev-lamp` over HTTPS and one
/// control-plane read (DescribeThing of its own thing) — nothing of `other-lamp`.
fn tight_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
 {{"Effect":"Allow","Action":["iot:GetThingShadow","iot:UpdateThingShadow","iot:DeleteThingShadow","iot:ListNamedShadowsForThing"],"Resource":["{ARN}:thing/dev-lamp","{ARN}:thing/dev-lamp/*"]}},
 {{"Effect":"Allow","Action":["iot:Publish","iot:GetRetainedMessage"],"Resource":"{ARN}:topic/devices/dev-lamp/*"}},
 {{"Effect":"Allow","Action":"iot:DeleteConnection","Resource":"{ARN}:client/dev-lamp-*"}},
 {{"Effect":"Allow","Action":"iot:DescribeThing","Resource":"{ARN}:thing/dev-lamp"}}]}}"#
    )
}

const HOLE_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// One principal of each kind, all carrying `policy`; `ops` is the witness
/// (fixtures/scenarios/doors.toml).
fn world(policy: &str) -> Scenario {
    Scenario::fixture("doors").policy("Doors", policy)
}

/// The identities probed: one per kind.
const KINDS: [&str; 5] = ["static", "role", "cog", "guest", "vend"];

fn identities_toml() -> String {
    let mut out = identities(&["ops"]);
    out.push_str(&static_identity("static", "DEV"));
    out.push_str(&static_identity("mqtt-only", "MQTT"));
    out.push_str(&format!(
        r#"
[[identity]]
name = "role"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/DevRole"
session_name = "canary-doors"
source = "ops"

[[identity]]
name = "cog"
kind = "cognito"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "{POOL}"
username = "cog"
password_env = "COG_PASSWORD"
"#
    ));
    out.push_str(&identities(&["guest", "vend"]));
    out
}

fn env() -> Env {
    Env::isolated([
        ("OPS_KEY", "AKIALABOPS0000000001"),
        ("OPS_SECRET", "lab-secret-ops"),
        ("DEV_KEY", "AKIALABDEV0000000001"),
        ("DEV_SECRET", "lab-secret-dev"),
        ("MQTT_KEY", "AKIALABMQTT000000001"),
        ("MQTT_SECRET", "lab-secret-mqtt"),
        ("COG_PASSWORD", "pw-cog"),
        ("VEN_PASSWORD", "pw-ven"),
    ])
}

/// One canary table.
fn canary(name: &str, identity: &str, action: &str, keys: &[(&str, &str)], allow: bool) -> String {
    let mut t = format!(
        "\n[[canary]]\nname = \"{name}\"\nidentity = \"{identity}\"\naction = \"{action}\"\n"
    );
    for (k, v) in keys {
        t.push_str(&format!("{k} = \"{v}\"\n"));
    }
    if allow {
        t.push_str("expect = \"allow\"\n");
    }
    t
}

/// One canary row: name suffix, action, keys, whether it is a control.
type Row = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    bool,
);

/// Every HTTPS and control-plane action for `id`: two HTTPS controls and one control-plane
/// control on its own `dev-lamp`, and a deny canary per action on `other-lamp` (or the
/// account-wide listing, or a probe-named resource).
fn door_canaries(id: &str) -> String {
    let w = ("witness", "ops");
    let rows: Vec<Row> = vec![
        (
            "https-ctl",
            "https-shadow-get",
            vec![("thing", "dev-lamp")],
            true,
        ),
        (
            "https-pub-ctl",
            "https-publish",
            vec![("topic", "devices/dev-lamp/cmd"), w],
            true,
        ),
        (
            "cp-ctl",
            "describe-thing",
            vec![("thing", "dev-lamp")],
            true,
        ),
        (
            "https-publish",
            "https-publish",
            vec![("topic", "devices/other-lamp/cmd"), w],
            false,
        ),
        (
            "shadow-get",
            "https-shadow-get",
            vec![("thing", "other-lamp")],
            false,
        ),
        (
            "shadow-update",
            "https-shadow-update",
            vec![("thing", "other-lamp"), w],
            false,
        ),
        (
            "shadow-delete",
            "https-shadow-delete",
            vec![("thing", "other-lamp")],
            false,
        ),
        (
            "shadow-list",
            "https-shadow-list",
            vec![("thing", "other-lamp")],
            false,
        ),
        (
            "retained-get",
            "https-retained-get",
            vec![("topic", "devices/other-lamp/state")],
            false,
        ),
        ("retained-list", "https-retained-list", vec![], false),
        (
            "kick",
            "delete-connection",
            vec![("client_id", "other-lamp-${nonce}")],
            false,
        ),
        ("attach-policy", "attach-policy", vec![], false),
        ("attach-thing", "attach-thing-principal", vec![], false),
        ("list-things", "list-things", vec![], false),
        (
            "describe-thing",
            "describe-thing",
            vec![("thing", "other-lamp")],
            false,
        ),
        (
            "get-policy",
            "get-policy",
            vec![("policy_name", "Witness")],
            false,
        ),
        ("list-policies", "list-attached-policies", vec![], false),
    ];
    rows.into_iter()
        .map(|(n, a, keys, allow)| canary(&format!("{id}-{n}"), id, a, &keys, allow))
        .collect()
}

/// The config for `lab`: its MQTT gateway (the witness), identity plane and both API doors.
fn config_text(lab: &RunningLab, canaries: &str) -> String {
    let mut text = lab_target(lab, "dev-${identity}-${canary}");
    // `lab_target` ends inside `[endpoints]`.
    text.push_str(&format!(
        "iot_data = \"{}\"\niot = \"{}\"\n",
        lab.endpoints.iot_data, lab.endpoints.iot
    ));
    text.push_str(
        r#"
[schedule]
interval = "60s"
timeout = "10s"
concurrency = 24
connect_interval = "1s"
delivery_grace = "700ms"
"#,
    );
    text.push_str(&identities_toml().replace("VEND_URL", &lab.endpoints.vending));
    text.push_str(canaries);
    text
}

fn daemon(lab: &RunningLab, canaries: &str) -> Daemon {
    let cfg = parse("doors.toml", &config_text(lab, canaries));
    let ids = identities::build(&cfg, env()).expect("identities build");
    daemon_with(cfg, ids)
}

/// The witness's iot-data client (the test's own view of the lab's shadows).
fn ops_data(lab: &RunningLab) -> aws_sdk_iotdataplane::Client {
    let creds = aws_credential_types::Credentials::new(
        "AKIALABOPS0000000001",
        "lab-secret-ops",
        None,
        None,
        "test",
    );
    let conf = aws_sdk_iotdataplane::Config::builder()
        .behavior_version(aws_sdk_iotdataplane::config::BehaviorVersion::latest())
        .region(aws_sdk_iotdataplane::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(&lab.endpoints.iot_data)
        .build();
    aws_sdk_iotdataplane::Client::from_conf(conf)
}

/// A thing's classic shadow document as the witness reads it (`None`: there is none).
async fn shadow_doc(lab: &RunningLab, thing: &str) -> Option<String> {
    let out = ops_data(lab)
        .get_thing_shadow()
        .thing_name(thing)
        .send()
        .await
        .ok()?;
    out.payload
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
}

/// `other-lamp` gets a classic shadow (by the witness, over HTTPS): the update probe only
/// ever touches an existing shadow.
async fn seed_shadow(lab: &RunningLab) {
    ops_data(lab)
        .update_thing_shadow()
        .thing_name("other-lamp")
        .payload(Blob::new(r#"{"state":{"reported":{"on":true}}}"#))
        .send()
        .await
        .expect("seed other-lamp's shadow");
}

async fn round(d: &Daemon) -> Vec<CanaryReport> {
    tokio::time::timeout(WAIT, d.round(None, &|_| {}))
        .await
        .expect("round finishes")
}

async fn start(policy: &str, dir: &Path) -> RunningLab {
    let lab = lab::start_tls(&world(policy), dir).await;
    seed_shadow(&lab).await;
    lab
}

fn all_canaries() -> String {
    KINDS.iter().map(|k| door_canaries(k)).collect()
}

/// The evidence of an API answer: its status and type, and the resource it names.
fn api_answer(r: &CanaryReport) -> Option<(u16, Option<String>, String)> {
    match &r.evidence.observation {
        Observation::ApiAnswer(a) => Some((a.status, a.error_type.clone(), a.resource.clone())),
        _ => None,
    }
}

fn assert_tight(rs: &[CanaryReport]) {
    let table = report::table(rs);
    assert_eq!(rs.len(), 17 * KINDS.len(), "{table}");
    for r in rs {
        assert_eq!(
            r.standing,
            Standing::Ok,
            "{}: {:?}\n{table}",
            r.canary,
            r.evidence
        );
        if r.expect == Expect::Allow {
            continue;
        }
        assert_eq!(r.verdict, Verdict::Denied, "{}\n{table}", r.canary);
        // Denied always rests on the service's refusal of the canary's own call.
        let (status, kind, resource) =
            api_answer(r).unwrap_or_else(|| panic!("{}: {:?}", r.canary, r.evidence));
        match r.action.family() {
            // iot-data refuses with 403 ForbiddenException, a denial only beside the
            // identity's HTTPS control (W3, X10).
            ProbeFamily::Https => {
                assert_eq!(
                    (status, kind.as_deref()),
                    (403, Some("ForbiddenException")),
                    "{}",
                    r.canary
                )
            }
            ProbeFamily::ControlPlane => assert_eq!(
                (status, kind.as_deref()),
                (403, Some("AccessDeniedException")),
                "{}",
                r.canary
            ),
            other => panic!("{}: family {other}", r.canary),
        }
        assert!(!resource.is_empty(), "{}", r.canary);
    }
    assert_eq!(report::exit_of(rs), Exit::Ok);
}

fn assert_holey(rs: &[CanaryReport]) {
    let table = report::table(rs);
    assert_eq!(rs.len(), 17 * KINDS.len(), "{table}");
    for r in rs {
        let want = if r.expect == Expect::Deny {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}: {:?}\n{table}", r.canary, r.evidence);
        assert_eq!(r.verdict, Verdict::Allowed, "{}", r.canary);
        if r.action == ProbeAction::HttpsPublish {
            // Witness-confirmed: only the witness's receipt proves it.
            assert_eq!(
                r.evidence.observation,
                Observation::Delivered,
                "{}",
                r.canary
            );
            continue;
        }
        let (status, kind, resource) =
            api_answer(r).unwrap_or_else(|| panic!("{}: {:?}", r.canary, r.evidence));
        // 2xx, or a probe-named resource that does not exist: authorization passed (W1, W4).
        assert!(
            (200..=299).contains(&status)
                || (status == 404 && kind.as_deref() == Some("ResourceNotFoundException")),
            "{}: {status} {kind:?}",
            r.canary
        );
        // The evidence names the exact resource tested.
        let named = match r.action {
            ProbeAction::HttpsShadowGet
            | ProbeAction::HttpsShadowList
            | ProbeAction::DescribeThing
                if r.expect == Expect::Deny =>
            {
                Some(format!("{ARN}:thing/other-lamp"))
            }
            ProbeAction::HttpsShadowDelete => Some(format!("{ARN}:thing/other-lamp/iot-canary-")),
            ProbeAction::HttpsRetainedGet => Some(format!("{ARN}:topic/devices/other-lamp/state")),
            ProbeAction::DeleteConnection => Some(format!("{ARN}:client/other-lamp-")),
            ProbeAction::GetPolicy => Some(format!("{ARN}:policy/Witness")),
            ProbeAction::AttachPolicy => Some(format!("{ARN}:policy/iot-canary-probe-")),
            ProbeAction::AttachThingPrincipal => Some(format!("{ARN}:thing/iot-canary-probe-")),
            _ => None,
        };
        if let Some(n) = named {
            assert!(resource.contains(&n), "{}: {resource} lacks {n}", r.canary);
        }
    }
    assert_eq!(report::exit_of(rs), Exit::Breach);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_by_identity_kind_tight_and_holey() {
    let started = std::time::Instant::now();
    let (tight_dir, holey_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tight_doc = tight_policy();
    let (tight_lab, holey_lab) = tokio::join!(
        start(&tight_doc, tight_dir.path()),
        start(HOLE_POLICY, holey_dir.path())
    );
    let canaries = all_canaries();
    let (tight, holey) = (daemon(&tight_lab, &canaries), daemon(&holey_lab, &canaries));
    let (t, h) = tokio::join!(round(&tight), round(&holey));
    assert_tight(&t);
    assert_holey(&h);

    // Harmless by construction: the update only removed a key nobody had (the holey world's
    // update went through, and the document still holds only what the device reported), the
    // attach probes named things and policies that do not exist, so nothing is attached.
    for lab in [&tight_lab, &holey_lab] {
        let doc = shadow_doc(lab, "other-lamp")
            .await
            .expect("other-lamp's shadow");
        assert!(!doc.contains("iot_canary"), "{doc}");
        assert!(doc.contains("\"on\":true"), "{doc}");
        // No probe ever created a shadow: dev-lamp had none, and has none.
        assert_eq!(shadow_doc(lab, "dev-lamp").await, None);
        let state = lab::Admin::of(lab).state().await;
        let text = state.to_string();
        assert!(!text.contains("iot-canary-probe-"), "{text}");
    }
    eprintln!(
        "doors: {} verdicts in {:.1}s",
        t.len() + h.len(),
        started.elapsed().as_secs_f64()
    );
    for d in [&tight, &holey] {
        d.pool.close_all().await;
    }
    tight_lab.shutdown().await;
    holey_lab.shutdown().await;
}

/// A ForbiddenException is a denial only beside a same-family control that succeeded with the
/// same credentials. Here the identity's own HTTPS control is refused (keys the lab refuses,
/// and keys with no HTTPS grant): every HTTPS deny canary is inconclusive, never denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_answer_without_a_working_https_control_is_never_a_denial() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start(&tight_policy(), dir.path()).await;
    let mut canaries = String::new();
    for id in ["mqtt-only", "static"] {
        canaries.push_str(&canary(
            &format!("{id}-ctl"),
            id,
            "https-shadow-get",
            &[("thing", "dev-lamp")],
            true,
        ));
        canaries.push_str(&canary(
            &format!("{id}-get"),
            id,
            "https-shadow-get",
            &[("thing", "other-lamp")],
            false,
        ));
        canaries.push_str(&canary(
            &format!("{id}-kick"),
            id,
            "delete-connection",
            &[("client_id", "other-lamp-${nonce}")],
            false,
        ));
    }
    // `static` signs with a secret the lab does not know: every call is refused at
    // authentication with the same 403 type a policy refusal has.
    let text = config_text(&lab, &canaries);
    let cfg = parse("forbidden.toml", &text);
    let env = Env::isolated([
        ("OPS_KEY", "AKIALABOPS0000000001"),
        ("OPS_SECRET", "lab-secret-ops"),
        ("DEV_KEY", "AKIALABDEV0000000001"),
        ("DEV_SECRET", "not-the-secret"),
        ("MQTT_KEY", "AKIALABMQTT000000001"),
        ("MQTT_SECRET", "lab-secret-mqtt"),
        ("COG_PASSWORD", "pw-cog"),
        ("VEN_PASSWORD", "pw-ven"),
    ]);
    let ids = identities::build(&cfg, env).expect("identities build");
    let d = daemon_with(cfg, ids);
    let rs = round(&d).await;
    let table = report::table(&rs);
    assert_eq!(rs.len(), 6, "{table}");
    for r in &rs {
        assert_ne!(r.verdict, Verdict::Denied, "{}\n{table}", r.canary);
        assert_eq!(r.standing, Standing::Blind, "{}\n{table}", r.canary);
        let (status, kind, _) =
            api_answer(r).unwrap_or_else(|| panic!("{}: {:?}", r.canary, r.evidence));
        assert_eq!(
            (status, kind.as_deref()),
            (403, Some("ForbiddenException")),
            "{}",
            r.canary
        );
    }
    let by = |n: &str| rs.iter().find(|r| r.canary == n).unwrap().verdict;
    // The policy refused the control too: its ForbiddenException is not trusted (X10), and
    // the deny canaries' identical answers prove nothing without it.
    assert_eq!(
        by("mqtt-only-ctl"),
        Verdict::Inconclusive(Reason::Credentials)
    );
    assert_eq!(
        by("mqtt-only-get"),
        Verdict::Inconclusive(Reason::ControlFailed)
    );
    assert_eq!(
        by("mqtt-only-kick"),
        Verdict::Inconclusive(Reason::ControlFailed)
    );
    // A bad signature says so in its message: credentials, whatever the controls (W7).
    for n in ["static-ctl", "static-get", "static-kick"] {
        assert_eq!(
            by(n),
            Verdict::Inconclusive(Reason::Credentials),
            "{n}\n{table}"
        );
    }
    lab.shutdown().await;
}

/// The update probe never creates a shadow: on a thing without one it does not send the
/// update (`no_shadow`), whoever may write there; the thing still has no shadow afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_update_never_creates_a_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start(HOLE_POLICY, dir.path()).await;
    let canaries = canary(
        "static-ctl",
        "static",
        "https-shadow-get",
        &[("thing", "dev-lamp")],
        true,
    ) + &canary(
        "static-update-none",
        "static",
        "https-shadow-update",
        &[("thing", "dev-lamp")],
        false,
    ) + &canary(
        "static-update-named-none",
        "static",
        "https-shadow-update",
        &[
            ("thing", "other-lamp"),
            ("shadow", "config"),
            ("witness", "ops"),
        ],
        false,
    );
    let d = daemon(&lab, &canaries);
    let rs = round(&d).await;
    let table = report::table(&rs);
    for n in ["static-update-none", "static-update-named-none"] {
        let r = rs.iter().find(|r| r.canary == n).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Inconclusive(Reason::NoShadow),
            "{n}\n{table}"
        );
        assert_eq!(r.evidence.observation, Observation::ShadowAbsent, "{n}");
    }
    assert_eq!(shadow_doc(&lab, "dev-lamp").await, None);
    let named = ops_data(&lab)
        .get_thing_shadow()
        .thing_name("other-lamp")
        .shadow_name("config")
        .send()
        .await;
    assert!(named.is_err(), "a named shadow was created: {named:?}");
    lab.shutdown().await;
}

/// `attach-policy` with a real policy in the demo world's attach-at-sign-in hole: AWS attaches
/// it (the breach), the canary's role may attach but not detach, so its witness takes the
/// policy off again at once; afterwards nothing is attached to the identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_policy_attached_through_a_hole_is_detached_by_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::start_tls(&Scenario::demo(), dir.path()).await;
    let mut text = lab_target(&lab, "${principal}-iot-canary-${canary}");
    text.push_str(&format!(
        "iot_data = \"{}\"\niot = \"{}\"\n",
        lab.endpoints.iot_data, lab.endpoints.iot
    ));
    text.push_str(&identities(&["ops", "alice"]));
    text.push_str(&canary(
        "alice-cp-ctl",
        "alice",
        "list-attached-policies",
        &[],
        true,
    ));
    text.push_str(&canary(
        "alice-attaches-fleet-operator",
        "alice",
        "attach-policy",
        &[("policy_name", "FleetOperator"), ("witness", "ops")],
        false,
    ));
    let cfg = parse("attach.toml", &text);
    let env = Env::isolated([
        ("OPS_KEY", "AKIALABOPS0000000001"),
        ("OPS_SECRET", "lab-secret-ops"),
        ("ALICE_PASSWORD", "alice-lab-password-1"),
    ]);
    let ids = identities::build(&cfg, env).expect("identities build");
    let d = daemon_with(cfg, ids);
    let rs = round(&d).await;
    let table = report::table(&rs);
    let r = rs
        .iter()
        .find(|r| r.canary == "alice-attaches-fleet-operator")
        .unwrap();
    assert_eq!(r.standing, Standing::Breach, "{table}\n{:?}", r.evidence);
    assert_eq!(api_answer(r).map(|a| a.0), Some(200), "{:?}", r.evidence);
    let steps: Vec<&str> = r.evidence.steps.iter().map(|s| s.what.as_str()).collect();
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("the witness: iot DetachPolicy (undo)")),
        "{steps:#?}"
    );
    assert!(steps.contains(&"HTTP 200"), "{steps:#?}");
    // Nothing stays attached: the demo identity carries only its own policy.
    let state = lab::Admin::of(&lab).state().await.to_string();
    assert!(!state.is_empty());
    let creds = aws_credential_types::Credentials::new(
        "AKIALABOPS0000000001",
        "lab-secret-ops",
        None,
        None,
        "test",
    );
    let iot = aws_sdk_iot::Client::from_conf(
        aws_sdk_iot::Config::builder()
            .behavior_version(aws_sdk_iot::config::BehaviorVersion::latest())
            .region(aws_sdk_iot::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(&lab.endpoints.iot)
            .build(),
    );
    let target = r.evidence.steps[0]
        .what
        .split("(resource ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let attached = iot
        .list_attached_policies()
        .target(&target)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{target}: {e:?}\n{state}"));
    let names: Vec<&str> = attached
        .policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    assert!(!names.contains(&"FleetOperator"), "{target}: {names:?}");
    assert!(names.contains(&"AliceDevices"), "{target}: {names:?}");
    d.pool.close_all().await;
    lab.shutdown().await;
}
