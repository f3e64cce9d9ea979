//! boto3 (PyPI) as an independent client: AssumeRole, GetCallerIdentity, InitiateAuth, GetId,
//! GetCredentialsForIdentity and the error codes it parses, against the in-process lab. The
//! credentials boto3 obtained are then proven on SigV4 MQTT from Rust.

use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::connect_ok;
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as CLIENT, DEMO_POOL as POOL, DEMO_PROVIDER as PROVIDER, Scenario,
};
use iot_canary_testkit::sigv4::Creds;
use iot_canary_testkit::{assert_str_fields, tools};

use crate::support::repo;

const ROLE: &str = "arn:aws:iam::123456789012:role/DeviceFleet";
const SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/dev-*","arn:aws:iot:us-east-1:123456789012:topicfilter/devices/dev-1/*"]}]}"#;

/// The demo world plus an IAM user who may assume a fleet role.
fn scenario() -> Scenario {
    Scenario::demo()
        .policy(
            "Fleet",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":["arn:aws:iot:us-east-1:123456789012:client/dev-*","arn:aws:iot:us-east-1:123456789012:topicfilter/devices/*"]}]}"#,
        )
        .iam_user(
            "integrator",
            "AKIALABINTEGRATOR001",
            "lab-secret-integrator",
            &[],
        )
        .role("DeviceFleet", &["Fleet"], &["integrator"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_assume_role_and_cognito_against_the_lab() {
    let lab = start_plain(&scenario()).await;
    let script = repo("tests/python/test_boto3_identity.py");
    let v: serde_json::Value = tools::python_json(
        &script,
        &[
            ("LAB_STS", &lab.endpoints.sts),
            ("LAB_COGNITO_IDP", &lab.endpoints.cognito_idp),
            ("LAB_COGNITO_IDENTITY", &lab.endpoints.cognito_identity),
            ("LAB_AKID", "AKIALABINTEGRATOR001"),
            ("LAB_SECRET", "lab-secret-integrator"),
            ("LAB_ROLE_ARN", ROLE),
            ("LAB_SESSION_POLICY", SESSION_POLICY),
            ("LAB_CLIENT_ID", CLIENT),
            ("LAB_ALICE_PASSWORD", "alice-lab-password-1"),
            ("LAB_POOL", POOL),
            ("LAB_PROVIDER", PROVIDER),
        ],
        None,
        std::time::Duration::from_secs(120),
    )
    .await;

    assert_eq!(
        v["sts"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/DeviceFleet/boto3-dev-1"
    );
    assert_str_fields(
        &v["errors"],
        &[
            ("assume_untrusted", "AccessDenied"),
            ("assume_bad_policy", "MalformedPolicyDocument"),
            ("assume_too_long", "ValidationError"),
            ("wrong_secret", "SignatureDoesNotMatch"),
            ("wrong_password", "NotAuthorizedException"),
            ("unknown_pool", "ResourceNotFoundException"),
            ("bad_login_token", "NotAuthorizedException"),
        ],
    );

    let s = |k: &str, f: &str| v[k][f].as_str().unwrap().to_string();
    // boto3's STS session: Fleet ∩ session policy.
    let session = Creds {
        akid: s("sts", "AccessKeyId"),
        secret: s("sts", "SecretAccessKey"),
        token: Some(s("sts", "SessionToken")),
    };
    let mut m = connect_ok(&lab, &session, "dev-1").await;
    m.assert_subscriptions(&["devices/dev-1/telemetry"], &["devices/dev-2/telemetry"])
        .await;
    drop(m);
    // boto3's Cognito credentials: alice's identity.
    let id = s("cognito", "IdentityId");
    assert_eq!(
        id,
        iot_canary_lab::state::cognito_identity_id("us-east-1", POOL, "alice")
    );
    let alice = Creds {
        akid: s("cognito", "AccessKeyId"),
        secret: s("cognito", "SecretKey"),
        token: Some(s("cognito", "SessionToken")),
    };
    let mut m = connect_ok(&lab, &alice, &id).await;
    m.assert_subscriptions(
        &["devices/alice-lamp/telemetry"],
        &["devices/bob-plug/telemetry"],
    )
    .await;
    drop(m);
    // boto3's guest credentials: the guest role.
    let gid = s("guest", "IdentityId");
    let guest = Creds {
        akid: s("guest", "AccessKeyId"),
        secret: s("guest", "SecretKey"),
        token: Some(s("guest", "SessionToken")),
    };
    let mut g = connect_ok(&lab, &guest, &gid).await;
    assert!(!g.publish("devices/alice-lamp/cmd", "x").await);
    lab.shutdown().await;
}
