//! The role paths end to end (`assume-role`, `web-identity`, `custom-role`): each probe × the
//! identity kinds that can try it (static IAM user, Cognito user, Cognito guest, credential
//! endpoint signing in to the user pool), through the daemon's real identity wiring and the
//! real AWS SDK clients, against the lab's STS and Cognito — in a tight world, a holey one
//! and one with the identity pool's defaults.
//!
//! The worlds are the demo world plus:
//! - tight: the basic flow on, roles chosen from tokens (alice and bob in group `members` →
//!   CognitoAuthRole), `DevTools` trusted by `dev`, `Admin` trusted by nobody; every trust
//!   policy pins `aud` and `amr`. Every role-path canary `ok`.
//! - holey: the same, but CognitoAuthRole's trust policy pins only `aud` (a guest's token
//!   reaches it), alice is also in group `admins` (her token carries Admin, which she can pick
//!   with CustomRoleArn), and `Admin` trusts `dev`. Every deny canary a breach with the exact
//!   role ARN as evidence; every control `ok`.
//! - defaults: basic flow off, no role selection from tokens (what a new pool has). The pool's
//!   refusal of the basic flow reads as a refusal, but no role-path control can succeed for a
//!   guest, so the guest's denial stays `control_failed`; CustomRoleArn is a validation error
//!   (`invalid_request`): honest, never a false `denied`.
//!
//! One lab and one concurrent round per world.

use iot_canary_core::report;
use iot_canary_core::verdict::{Expect, Reason, Standing, Verdict};
use iot_canary_daemon::daemon::{CanaryReport, Daemon, identities};
use iot_canary_daemon::identity::Env;
use iot_canary_testkit::WAIT;
use iot_canary_testkit::config::{identities as fixture_identities, lab_target, static_identity};
use iot_canary_testkit::lab;
use iot_canary_testkit::scenario::{DEMO_POOL as POOL, Scenario};

use crate::support::{daemon_with, parse};

const ACCOUNT: &str = "123456789012";

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum World {
    Tight,
    Holey,
    Defaults,
}

/// A trust policy admitting the pool's tokens: `aud` pinned, and `amr` too unless `None`.
fn cognito_trust(amr: Option<&str>) -> String {
    let amr = amr
        .map(|a| {
            format!(r#","ForAnyValue:StringLike":{{"cognito-identity.amazonaws.com:amr":"{a}"}}"#)
        })
        .unwrap_or_default();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"cognito-identity.amazonaws.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"cognito-identity.amazonaws.com:aud":"{POOL}"}}{amr}}}}}]}}"#
    )
}

fn scenario(world: World) -> Scenario {
    let mut s = Scenario::demo()
        .policy(
            "AssumeAnything",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:*","sts:AssumeRole"],"Resource":"*"}]}"#,
        )
        .iam_user("dev", "AKIALABDEVROLES00001", "lab-secret-dev-roles", &["AssumeAnything"])
        .role("DevTools", &["CognitoAuthIot"], &["dev"])
        .role(
            "Admin",
            &["Witness"],
            if world == World::Holey { &["dev"] } else { &[] },
        );
    if world == World::Defaults {
        s = s
            .set("cognito", "allow_classic_flow", false)
            .set("cognito", "role_from_token", false)
            .set("cognito", "group", toml::Value::Array(Vec::new()));
    } else {
        s = s
            .set("cognito", "allow_classic_flow", true)
            .set("cognito", "role_from_token", true);
        let mut groups = vec![format!(
            "[[group]]\nname = \"members\"\nrole = \"CognitoAuthRole\"\nprecedence = 1\nusers = [\"alice\", \"bob\"]\n"
        )];
        if world == World::Holey {
            groups.push(
                "[[group]]\nname = \"admins\"\nrole = \"Admin\"\nprecedence = 5\nusers = [\"alice\"]\n"
                    .into(),
            );
        }
        let groups: toml::Table = groups.concat().parse().expect("groups are TOML");
        s = s.set("cognito", "group", groups["group"].clone());
    }
    if world == World::Holey {
        // The classic identity-pool mistake: the authenticated role trusts the pool's tokens
        // without pinning amr = authenticated, so a guest's token reaches it.
        s = s.role_set("CognitoAuthRole", "trust_policy", cognito_trust(None));
    }
    s
}

fn env() -> Env {
    Env::isolated([
        ("OPS_KEY", "AKIALABOPS0000000001"),
        ("OPS_SECRET", "lab-secret-ops"),
        ("DEV_KEY", "AKIALABDEVROLES00001"),
        ("DEV_SECRET", "lab-secret-dev-roles"),
        ("ALICE_PASSWORD", "alice-lab-password-1"),
        ("BOB_PASSWORD", "bob-lab-password-1"),
    ])
}

/// `(name, identity, action, role, expect)`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Expect,
);

/// The canaries: per identity kind, every role path it can try, each with a control.
const CANARIES: [Row; 16] = [
    // static IAM user: assume-role
    (
        "dev-assume-devtools",
        "dev",
        "assume-role",
        "DevTools",
        Expect::Allow,
    ),
    (
        "dev-assume-admin",
        "dev",
        "assume-role",
        "Admin",
        Expect::Deny,
    ),
    // Cognito user (enhanced-flow credentials; the basic flow and role selection signed in)
    (
        "alice-web-auth",
        "alice",
        "web-identity",
        "CognitoAuthRole",
        Expect::Allow,
    ),
    (
        "alice-custom-auth",
        "alice",
        "custom-role",
        "CognitoAuthRole",
        Expect::Allow,
    ),
    (
        "alice-web-admin",
        "alice",
        "web-identity",
        "Admin",
        Expect::Deny,
    ),
    (
        "alice-custom-admin",
        "alice",
        "custom-role",
        "Admin",
        Expect::Deny,
    ),
    (
        "alice-assume-admin",
        "alice",
        "assume-role",
        "Admin",
        Expect::Deny,
    ),
    // Cognito guest: the basic flow
    (
        "guest-web-guest",
        "guest",
        "web-identity",
        "CognitoGuestRole",
        Expect::Allow,
    ),
    (
        "guest-web-auth",
        "guest",
        "web-identity",
        "CognitoAuthRole",
        Expect::Deny,
    ),
    (
        "guest-assume-admin",
        "guest",
        "assume-role",
        "Admin",
        Expect::Deny,
    ),
    // credential endpoint (bob through the vending API, signing in to the user pool)
    (
        "bobapp-web-auth",
        "bob-app",
        "web-identity",
        "CognitoAuthRole",
        Expect::Allow,
    ),
    (
        "bobapp-custom-auth",
        "bob-app",
        "custom-role",
        "CognitoAuthRole",
        Expect::Allow,
    ),
    (
        "bobapp-web-admin",
        "bob-app",
        "web-identity",
        "Admin",
        Expect::Deny,
    ),
    (
        "bobapp-custom-admin",
        "bob-app",
        "custom-role",
        "Admin",
        Expect::Deny,
    ),
    (
        "bobapp-assume-admin",
        "bob-app",
        "assume-role",
        "Admin",
        Expect::Deny,
    ),
    (
        "dev-assume-cogauth",
        "dev",
        "assume-role",
        "CognitoAuthRole",
        Expect::Deny,
    ),
];

fn config_text(lab: &iot_canary_lab::RunningLab) -> String {
    // No MQTT here: a plain lab, no CA file.
    let mut text = lab_target(lab, "${identity}-${canary}").replace("ca_file = \"\"\n", "")
        + "\n[schedule]\ninterval = \"60s\"\ntimeout = \"15s\"\nconcurrency = 16\n";
    text.push_str(&fixture_identities(&["ops", "alice", "guest"]));
    text.push_str(&static_identity("dev", "DEV"));
    text.push_str(&format!(
        r#"
[[identity]]
name = "bob-app"
kind = "credential-endpoint"
url = "{vend}"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
username = "bob"
password_env = "BOB_PASSWORD"
identity_pool_id = "{POOL}"
"#,
        vend = lab.endpoints.vending
    ));
    for (name, identity, action, role_name, expect) in CANARIES {
        text.push_str(&format!(
            "\n[[canary]]\nname = \"{name}\"\nidentity = \"{identity}\"\naction = \"{action}\"\nrole_arn = \"{}\"\nexpect = \"{}\"\n",
            role(role_name),
            expect.as_str()
        ));
    }
    text
}

async fn world_round(world: World) -> Vec<CanaryReport> {
    let lab = lab::start_plain(&scenario(world)).await;
    let cfg = parse("role-paths.toml", &config_text(&lab));
    let ids = identities::build(&cfg, env()).expect("identities build");
    let d: Daemon = daemon_with(cfg, ids).with_env(env());
    let rs = tokio::time::timeout(WAIT, d.round(None, &|_| {}))
        .await
        .expect("round finishes");
    assert_eq!(rs.len(), CANARIES.len(), "{}", report::table(&rs));
    rs
}

fn find<'a>(rs: &'a [CanaryReport], name: &str) -> &'a CanaryReport {
    rs.iter()
        .find(|r| r.canary == name)
        .unwrap_or_else(|| panic!("no report for {name}"))
}

fn evidence_text(r: &CanaryReport) -> String {
    serde_json::to_string(&r.evidence).expect("evidence serializes")
}

/// The answer's error type, from the evidence.
fn answer_type(r: &CanaryReport) -> Option<String> {
    let v = serde_json::to_value(&r.evidence.observation).expect("serializes");
    let t = v
        .pointer("/error_type")
        .or_else(|| v.pointer("/ApiAnswer/error_type"));
    t.and_then(|t| t.as_str()).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_world_every_role_path_refused_and_every_control_reaches_its_own_role() {
    let rs = world_round(World::Tight).await;
    let table = report::table(&rs);
    for r in &rs {
        assert_eq!(r.standing, Standing::Ok, "{}\n{table}", r.canary);
        let text = evidence_text(r);
        // The exact role ARN tested is in the evidence; no credentials are.
        let (_, _, _, role_name, _) = CANARIES
            .iter()
            .find(|c| c.0 == r.canary)
            .expect("known canary");
        assert!(text.contains(&role(role_name)), "{}: {text}", r.canary);
        for secret in [
            "lab-secret",
            "alice-lab-password",
            "bob-lab-password",
            "eyJ",
        ] {
            assert!(!text.contains(secret), "{}: {secret} in {text}", r.canary);
        }
    }
    // Which refusal decided each denial: STS's AccessDenied (trust policies), Cognito's
    // NotAuthorizedException (a CustomRoleArn the token does not carry).
    for name in [
        "dev-assume-admin",
        "dev-assume-cogauth",
        "alice-web-admin",
        "alice-assume-admin",
        "guest-web-auth",
        "guest-assume-admin",
        "bobapp-web-admin",
        "bobapp-assume-admin",
    ] {
        assert_eq!(
            answer_type(find(&rs, name)).as_deref(),
            Some("AccessDenied"),
            "{name}\n{table}"
        );
    }
    for name in ["alice-custom-admin", "bobapp-custom-admin"] {
        assert_eq!(
            answer_type(find(&rs, name)).as_deref(),
            Some("NotAuthorizedException"),
            "{name}\n{table}"
        );
    }
    // The sessions the controls obtained are for the role asked for (checked, then dropped).
    let ctl = evidence_text(find(&rs, "alice-custom-auth"));
    assert!(ctl.contains("sts:GetCallerIdentity"), "{ctl}");
    assert!(ctl.contains("assumed-role/CognitoAuthRole/"), "{ctl}");
    let ctl = evidence_text(find(&rs, "dev-assume-devtools"));
    assert!(ctl.contains("iot-canary-iotc-"), "session name: {ctl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holey_world_guest_reaches_the_auth_role_alice_picks_admin_dev_assumes_admin() {
    let rs = world_round(World::Holey).await;
    let table = report::table(&rs);
    let breaches = [
        "dev-assume-admin",
        "guest-web-auth",
        "alice-custom-admin",
        // Admin is in alice's token, so its derived trust policy admits the pool's
        // authenticated tokens: the basic flow reaches it too.
        "alice-web-admin",
        "bobapp-web-admin",
    ];
    for r in &rs {
        let want = if breaches.contains(&r.canary.as_str()) {
            Standing::Breach
        } else {
            Standing::Ok
        };
        assert_eq!(r.standing, want, "{}\n{table}", r.canary);
    }
    for name in breaches {
        let r = find(&rs, name);
        assert_eq!(r.verdict, Verdict::Allowed, "{name}\n{table}");
        assert!(evidence_text(r).contains(&role("")), "{name}");
    }
    // bob is not in `admins`: his token cannot pick Admin even here.
    assert_eq!(
        find(&rs, "bobapp-custom-admin").verdict,
        Verdict::Denied,
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_defaults_basic_flow_refusal_needs_a_control_and_custom_role_is_a_validation_error() {
    let rs = world_round(World::Defaults).await;
    let table = report::table(&rs);
    // The basic flow is refused outright (W5) …
    let g = find(&rs, "guest-web-auth");
    let text = evidence_text(g);
    assert!(
        text.contains("Basic (classic) flow is not enabled"),
        "{text}"
    );
    // … but no role path works for the guest, so its denial proves nothing.
    assert_eq!(
        g.verdict,
        Verdict::Inconclusive(Reason::ControlFailed),
        "{table}"
    );
    // CustomRoleArn where the pool does not choose roles from tokens: a validation error.
    for name in [
        "alice-custom-auth",
        "alice-custom-admin",
        "bobapp-custom-admin",
    ] {
        assert_eq!(
            find(&rs, name).verdict,
            Verdict::Inconclusive(Reason::InvalidRequest),
            "{name}\n{table}"
        );
    }
    // dev's trust-policy paths are unaffected by the pool.
    assert_eq!(
        find(&rs, "dev-assume-admin").standing,
        Standing::Ok,
        "{table}"
    );
    assert_eq!(
        find(&rs, "dev-assume-devtools").standing,
        Standing::Ok,
        "{table}"
    );
    // Nothing is ever a breach or a false denial here.
    assert!(rs.iter().all(|r| r.standing != Standing::Breach), "{table}");
}
