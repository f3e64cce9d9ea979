//! STS against the in-process lab with the real SDK (aws-sdk-sts, aws-config's
//! AssumeRoleProvider), then MQTT with the issued credentials: role ∩ session policy.

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::{ConnectOutcome, connect_ok, connect_v5};
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::sdk::sts;
use iot_canary_testkit::sigv4::Creds;

use crate::raw_http;

const ROLE: &str = "arn:aws:iam::123456789012:role/DeviceFleet";

fn integrator() -> Creds {
    Creds::new("AKIALABINTEGRATOR001", "lab-secret-integrator")
}

/// Session policy: dev-1's topics, plus `other/*` that the role does not grant.
const SESSION: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
  {"Effect":"Allow","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/devices/dev-1/*","arn:aws:iot:us-east-1:123456789012:topicfilter/devices/dev-1/*","arn:aws:iot:us-east-1:123456789012:topic/other/*","arn:aws:iot:us-east-1:123456789012:topicfilter/other/*"]}
]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_session_is_role_intersect_session_policy_over_mqtt() {
    let lab = start_plain(&Scenario::fixture("sts")).await;
    let out = sts(&lab, &integrator())
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("dev-1")
        .policy(SESSION)
        .duration_seconds(900)
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    #[allow(deprecated)] // PackedPolicySize is still what AssumeRole returns
    let packed = out.packed_policy_size();
    assert!(packed.unwrap() >= 1);
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::123456789012:assumed-role/DeviceFleet/dev-1"
    );
    let exp = std::time::SystemTime::try_from(*c.expiration()).unwrap();
    let left = exp.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        left > Duration::from_secs(800) && left <= Duration::from_secs(900),
        "{left:?}"
    );
    let session = Creds {
        akid: c.access_key_id().into(),
        secret: c.secret_access_key().into(),
        token: Some(c.session_token().into()),
    };

    // GetCallerIdentity with the session credentials.
    let who = sts(&lab, &session)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/DeviceFleet/dev-1")
    );
    assert_eq!(who.account(), Some("123456789012"));

    // Connect: the session allows any client id, the role only dev-*.
    let (refused, _) = connect_v5(&lab, &session, "laptop-1").await;
    assert_eq!(refused, ConnectOutcome::Refused("NotAuthorized".into()));
    let mut m = connect_ok(&lab, &session, "dev-1").await;
    // Both allow dev-1's topics.
    assert!(m.subscribe("devices/dev-1/telemetry").await);
    assert!(m.publish("devices/dev-1/telemetry", "hello").await);
    // The role allows dev-2, the session does not.
    assert!(!m.subscribe("devices/dev-2/telemetry").await);
    assert!(!m.publish("devices/dev-2/cmd", "x").await);
    // The session allows other/*, the role does not.
    assert!(!m.subscribe("other/feed").await);
    assert!(!m.publish("other/feed", "x").await);

    // Without a session policy the session has the role's permissions.
    let out = sts(&lab, &integrator())
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("dev-2")
        .send()
        .await
        .expect("AssumeRole without policy");
    #[allow(deprecated)]
    let packed = out.packed_policy_size();
    assert_eq!(packed, None);
    let full = Creds::from(&aws_credential_types::Credentials::new(
        out.credentials().unwrap().access_key_id(),
        out.credentials().unwrap().secret_access_key(),
        Some(out.credentials().unwrap().session_token().to_string()),
        None,
        "t",
    ));
    let mut m2 = connect_ok(&lab, &full, "dev-2").await;
    m2.assert_subscriptions(&["devices/dev-2/telemetry"], &["other/feed"])
        .await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_config_assume_role_provider_with_policy_arns() {
    let lab = start_plain(&Scenario::fixture("sts")).await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&lab.endpoints.sts)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIALABINTEGRATOR001",
            "lab-secret-integrator",
            None,
            None,
            "static",
        ))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(ROLE)
        .session_name("dev-7")
        .policy_arns(vec![
            "arn:aws:iam::123456789012:policy/ConnectOnly".to_string(),
        ])
        .session_length(Duration::from_secs(1800))
        .configure(&sdk)
        .build()
        .await;
    let c = provider
        .provide_credentials()
        .await
        .expect("provider credentials");
    let exp = c.expiry().expect("expiry");
    let left = exp.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        left > Duration::from_secs(1700) && left <= Duration::from_secs(1800),
        "{left:?}"
    );
    // Managed session policy ConnectOnly ∩ Fleet: connect as dev-*, nothing else.
    let creds = Creds::from(&c);
    let mut m = connect_ok(&lab, &creds, "dev-7").await;
    assert!(!m.subscribe("devices/dev-7/telemetry").await);
    assert!(!m.publish("devices/dev-7/telemetry", "x").await);
    lab.shutdown().await;
}

fn code<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_sts::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String {
    match e.as_service_error() {
        Some(s) => s.code().unwrap_or("<none>").to_string(),
        None => format!("not a service error: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_errors_carry_the_codes_the_sdk_expects() {
    let lab = start_plain(&Scenario::fixture("sts")).await;
    let assume = |c: Creds| {
        sts(&lab, &c)
            .assume_role()
            .role_arn(ROLE)
            .role_session_name("s1")
    };
    // Plaintext over 2,048 characters.
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":[{}]}}]}}"#,
        (0..80)
            .map(|i| format!("\"arn:aws:iot:us-east-1:123456789012:topic/devices/d{i}/x\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(big.len() > 2048);
    // Under 2,048 characters but does not pack.
    let dense = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        (0..18)
            .map(|i| format!(
                r#"{{"Sid":"S{i:02}{}","Effect":"Allow","Action":"iot:Publish","Resource":"*"}}"#,
                "z".repeat(40)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(dense.len() <= 2048);
    let nope = aws_sdk_sts::types::PolicyDescriptorType::builder()
        .arn("arn:aws:iam::123456789012:policy/Nope")
        .build();
    // (what, request, the error code the SDK must parse)
    let refusals = [
        (
            "not trusted",
            assume(Creds::new("AKIALABMALLORY000001", "lab-secret-mallory")),
            "AccessDenied",
        ),
        (
            "unknown role",
            assume(integrator()).role_arn("arn:aws:iam::123456789012:role/Nope"),
            "AccessDenied",
        ),
        (
            "wrong secret",
            assume(Creds::new("AKIALABINTEGRATOR001", "wrong")),
            "SignatureDoesNotMatch",
        ),
        (
            "unknown key",
            assume(Creds::new("AKIAUNKNOWN000000000", "x")),
            "InvalidClientTokenId",
        ),
        (
            "duration under the minimum",
            assume(integrator()).duration_seconds(60),
            "ValidationError",
        ),
        (
            "duration over MaxSessionDuration",
            assume(integrator()).duration_seconds(7201),
            "ValidationError",
        ),
        (
            "session policy over 2,048 characters",
            assume(integrator()).policy(&big),
            "ValidationError",
        ),
        (
            "session policy that does not pack",
            assume(integrator()).policy(&dense),
            "PackedPolicyTooLarge",
        ),
        (
            "malformed session policy",
            assume(integrator()).policy("{\"Version\":"),
            "MalformedPolicyDocument",
        ),
        (
            "unknown managed policy",
            assume(integrator()).policy_arns(nope),
            "MalformedPolicyDocument",
        ),
        (
            "bad session name",
            assume(integrator()).role_session_name("has space"),
            "ValidationError",
        ),
    ];
    let mut errors = std::collections::BTreeMap::new();
    for (what, request, want) in refusals {
        let e = request.send().await.unwrap_err();
        assert_eq!(code(&e), want, "{what}: {e:?}");
        errors.insert(what, e);
    }
    let message = |what: &str| {
        let e = errors[what].as_service_error().expect("a service error");
        e.message().unwrap_or_default().to_string()
    };
    assert!(message("duration over MaxSessionDuration").contains("MaxSessionDuration"));
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    assert!(matches!(
        errors["session policy that does not pack"].as_service_error(),
        Some(AssumeRoleError::PackedPolicyTooLargeException(_))
    ));
    assert!(matches!(
        errors["malformed session policy"].as_service_error(),
        Some(AssumeRoleError::MalformedPolicyDocumentException(_))
    ));
    // A session token that does not belong to the key.
    let out = assume(integrator()).send().await.unwrap();
    let c = out.credentials().unwrap();
    let forged = Creds {
        akid: c.access_key_id().into(),
        secret: c.secret_access_key().into(),
        token: Some("forged-token".into()),
    };
    let e = sts(&lab, &forged)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidClientTokenId");
    lab.shutdown().await;
}

/// A raw request and its answer: (headers, body, status, what the body must name; "" when
/// only the status counts).
type RawCase<'a> = (&'a [(&'a str, &'a str)], &'a [u8], u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_raw_requests_get_aws_errors_and_the_lab_keeps_serving() {
    let lab = start_plain(&Scenario::fixture("sts")).await;
    let base = lab.endpoints.sts.clone();
    let form: &[(&str, &str)] = &[("content-type", "application/x-www-form-urlencoded")];
    let garbage: &[(&str, &str)] = &[
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=%%%"),
    ];
    // Cognito with a broken body and an unknown operation.
    let json: &[(&str, &str)] = &[
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AWSCognitoIdentityService.GetId"),
    ];
    let unknown: &[(&str, &str)] = &[
        ("content-type", "application/x-amz-json-1.1"),
        (
            "x-amz-target",
            "AWSCognitoIdentityService.DeleteIdentityPool",
        ),
    ];
    let cases: [RawCase; 9] = [
        (
            form,
            b"Version=2011-06-15",
            400,
            "<Code>MissingAction</Code>",
        ),
        (
            form,
            b"Action=DeleteEverything&Version=2011-06-15",
            400,
            "<Code>InvalidAction</Code>",
        ),
        (
            form,
            b"Action=GetCallerIdentity&Version=2011-06-15",
            403,
            "<Code>MissingAuthenticationToken</Code>",
        ),
        (
            garbage,
            b"Action=GetCallerIdentity",
            400,
            "<Code>IncompleteSignature</Code>",
        ),
        (form, &[0xff, 0xfe, b'%', b'&', b'='], 400, ""),
        (json, b"{not json", 400, "SerializationException"),
        (unknown, b"{}", 400, "UnknownOperationException"),
        (json, b"{}", 400, "InvalidParameterException"),
        // Once more after the others: the first answer was no fluke.
        (
            form,
            b"Version=2011-06-15",
            400,
            "<Code>MissingAction</Code>",
        ),
    ];
    for (headers, body, status, names) in cases {
        let (s, b) = raw_http(&base, "POST", "/", headers, body).await;
        let what = String::from_utf8_lossy(body);
        assert_eq!(s, status, "{what}: {b}");
        assert!(b.contains(names), "{what}: {b}");
    }
    // Still serving real clients afterwards.
    let who = sts(&lab, &integrator())
        .get_caller_identity()
        .send()
        .await
        .expect("still serving");
    assert_eq!(who.arn(), Some("arn:aws:iam::123456789012:user/integrator"));
    lab.shutdown().await;
}
