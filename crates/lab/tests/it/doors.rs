//! The HTTPS doors (iot-data and the IoT control-plane subset) against the in-process lab with
//! the real SDK crates (aws-sdk-iotdataplane, aws-sdk-iot), endpoint URLs from the ready
//! line: every operation allowed and refused for an IAM user, a role session with a session
//! policy, an authenticated Cognito identity (role ∩ IoT policy on the data plane, the role
//! alone on the control plane) and a guest; the doors' effects seen over MQTT; signature and
//! expired-credential errors. The same call sequence is replayed by boto3 in `doors_boto3`,
//! whose answers must agree.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_iot::error::ProvideErrorMetadata;
use aws_smithy_types::Blob;
use iot_canary_lab::RunningLab;
use iot_canary_lab::state::{IssuedCredentials, Principal, cognito_identity_id};
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::{self, Mqtt};
use iot_canary_testkit::scenario::{DEMO_APP_CLIENT, DEMO_POOL, DEMO_PROVIDER, OPS, Scenario};
use iot_canary_testkit::sdk;
use iot_canary_testkit::sigv4::Creds;
use serde::Serialize;

pub const NARROW: (&str, &str) = ("AKIALABNARROW0000001", "lab-secret-narrow");
const ACCOUNT_ARN: &str = "arn:aws:iot:us-east-1:123456789012";

/// The narrow IAM user: bob-plug's data, lists, kicking bob-* clients, a little registry.
const NARROW_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"BobPlugData","Effect":"Allow","Action":["iot:Publish","iot:RetainPublish","iot:GetThingShadow","iot:UpdateThingShadow","iot:DeleteThingShadow","iot:ListNamedShadowsForThing","iot:GetRetainedMessage"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/devices/bob-plug/*","arn:aws:iot:us-east-1:123456789012:thing/bob-plug","arn:aws:iot:us-east-1:123456789012:thing/bob-plug/*"]},
  {"Sid":"Lists","Effect":"Allow","Action":["iot:ListRetainedMessages","iot:ListThings","iot:ListAttachedPolicies"],"Resource":"*"},
  {"Sid":"KickBobClients","Effect":"Allow","Action":"iot:DeleteConnection","Resource":"arn:aws:iot:us-east-1:123456789012:client/bob-*"},
  {"Sid":"Registry","Effect":"Allow","Action":["iot:DescribeThing","iot:GetPolicy"],"Resource":["arn:aws:iot:us-east-1:123456789012:thing/bob-plug","arn:aws:iot:us-east-1:123456789012:policy/BobDevices"]},
  {"Sid":"PairBobPlug","Effect":"Allow","Action":"iot:AttachThingPrincipal","Resource":"*","Condition":{"ArnEquals":{"iot:thingArn":"arn:aws:iot:us-east-1:123456789012:thing/bob-plug"}}},
  {"Sid":"CertificatesOnly","Effect":"Allow","Action":["iot:AttachPolicy","iot:DetachPolicy"],"Resource":"arn:aws:iot:us-east-1:123456789012:cert/*"}
]}"#;

/// The session policy the role session is narrowed by (the role itself allows iot:*).
pub const SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["iot:GetThingShadow"],"Resource":"arn:aws:iot:us-east-1:123456789012:thing/alice-lamp"},
  {"Effect":"Allow","Action":["iot:Publish"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/devices/alice-lamp/*"},
  {"Effect":"Allow","Action":["iot:ListThings"],"Resource":"*"},
  {"Effect":"Allow","Action":["iot:GetPolicy"],"Resource":"arn:aws:iot:us-east-1:123456789012:policy/FleetOperator"}
]}"#;

/// The guest role: the demo's status feed plus reading its retained messages over HTTPS.
const GUEST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"GuestConnect","Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${cognito-identity.amazonaws.com:sub}"},
  {"Sid":"PublicStatusFeed","Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/status/*"},
  {"Sid":"PublicStatusFeedReceive","Effect":"Allow","Action":["iot:Receive","iot:GetRetainedMessage"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/status/*"}
]}"#;

/// The demo world (its Cognito users, the attach-at-sign-in hole) plus the narrow IAM user,
/// a support role only `narrow` may assume, and a guest role with one HTTPS grant.
pub fn world() -> Scenario {
    Scenario::demo()
        .policy("Narrow", NARROW_POLICY)
        .policy(
            "SupportRole",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
        )
        .policy("GuestStatusFeed", GUEST_POLICY)
        .iam_user("narrow", NARROW.0, NARROW.1, &["Narrow"])
        .role("Support", &["SupportRole"], &["narrow"])
}

/// One call, as both the Rust SDK and the boto3 script perform it (JSON for the script).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    Publish {
        topic: String,
        retain: bool,
        payload: String,
    },
    GetThingShadow {
        thing: String,
        shadow: Option<String>,
    },
    UpdateThingShadow {
        thing: String,
        shadow: Option<String>,
        payload: String,
    },
    DeleteThingShadow {
        thing: String,
        shadow: Option<String>,
    },
    ListNamedShadowsForThing {
        thing: String,
    },
    GetRetainedMessage {
        topic: String,
    },
    ListRetainedMessages,
    DeleteConnection {
        client_id: String,
    },
    AttachPolicy {
        policy: String,
        target: String,
    },
    DetachPolicy {
        policy: String,
        target: String,
    },
    AttachThingPrincipal {
        thing: String,
        principal: String,
    },
    ListThings,
    DescribeThing {
        thing: String,
    },
    GetPolicy {
        policy: String,
    },
    ListAttachedPolicies {
        target: String,
    },
}

/// One step of the sequence: who calls, what, and the answer AWS would give.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub who: &'static str,
    pub call: Call,
    /// `ok` or the error type.
    pub expect: &'static str,
}

fn s(v: &str) -> String {
    v.to_string()
}

fn publish(topic: &str, retain: bool) -> Call {
    Call::Publish {
        topic: s(topic),
        retain,
        payload: s("{\"on\":true}"),
    }
}

fn get(thing: &str, shadow: Option<&str>) -> Call {
    Call::GetThingShadow {
        thing: s(thing),
        shadow: shadow.map(s),
    }
}

fn update(thing: &str, shadow: Option<&str>) -> Call {
    Call::UpdateThingShadow {
        thing: s(thing),
        shadow: shadow.map(s),
        payload: s(r#"{"state":{"reported":{"canary":1}}}"#),
    }
}

fn attach(policy: &str, target: &str) -> Call {
    Call::AttachPolicy {
        policy: s(policy),
        target: s(target),
    }
}

const OK: &str = "ok";
const FORBIDDEN: &str = "ForbiddenException";
const DENIED: &str = "AccessDeniedException";
const NOT_FOUND: &str = "ResourceNotFoundException";

/// The sequence both clients replay, in order (state carries over: a shadow created early is
/// read later, bob's escalation is undone by `ops`).
pub fn steps(bob_id: &str, guest_id: &str) -> Vec<Step> {
    let cert = format!(
        "{ACCOUNT_ARN}:cert/0000000000000000000000000000000000000000000000000000000000000000"
    );
    let step = |who, call, expect| Step { who, call, expect };
    vec![
        // --- the witness (Witness: iot:* on *) sets the stage
        step("ops", publish("status/now", true), OK),
        step("ops", update("alice-thermostat", None), OK),
        // --- IAM user: its identity policy alone
        step("narrow", publish("devices/bob-plug/cmd", false), OK),
        step(
            "narrow",
            publish("devices/alice-lamp/cmd", false),
            FORBIDDEN,
        ),
        step("narrow", publish("devices/bob-plug/state", true), OK),
        step("narrow", update("bob-plug", None), OK),
        step("narrow", get("bob-plug", None), OK),
        step("narrow", get("alice-lamp", None), FORBIDDEN),
        step("narrow", update("bob-plug", Some("cfg")), OK),
        step(
            "narrow",
            Call::ListNamedShadowsForThing {
                thing: s("bob-plug"),
            },
            OK,
        ),
        step(
            "narrow",
            Call::ListNamedShadowsForThing {
                thing: s("alice-lamp"),
            },
            FORBIDDEN,
        ),
        step(
            "narrow",
            Call::DeleteThingShadow {
                thing: s("bob-plug"),
                shadow: Some(s("cfg")),
            },
            OK,
        ),
        step(
            "narrow",
            Call::DeleteThingShadow {
                thing: s("bob-plug"),
                shadow: Some(s("cfg")),
            },
            NOT_FOUND,
        ),
        step(
            "narrow",
            Call::GetRetainedMessage {
                topic: s("devices/bob-plug/state"),
            },
            OK,
        ),
        step(
            "narrow",
            Call::GetRetainedMessage {
                topic: s("devices/bob-plug/none"),
            },
            NOT_FOUND,
        ),
        step(
            "narrow",
            Call::GetRetainedMessage {
                topic: s("status/now"),
            },
            FORBIDDEN,
        ),
        step("narrow", Call::ListRetainedMessages, OK),
        step(
            "narrow",
            Call::DeleteConnection {
                client_id: s("bob-not-connected"),
            },
            NOT_FOUND,
        ),
        step(
            "narrow",
            Call::DeleteConnection {
                client_id: s("alice-phone"),
            },
            FORBIDDEN,
        ),
        step("narrow", Call::ListThings, OK),
        step(
            "narrow",
            Call::DescribeThing {
                thing: s("bob-plug"),
            },
            OK,
        ),
        step(
            "narrow",
            Call::DescribeThing {
                thing: s("alice-lamp"),
            },
            DENIED,
        ),
        step(
            "narrow",
            Call::GetPolicy {
                policy: s("BobDevices"),
            },
            OK,
        ),
        step(
            "narrow",
            Call::GetPolicy {
                policy: s("FleetOperator"),
            },
            DENIED,
        ),
        step("narrow", attach("FleetOperator", bob_id), DENIED),
        step("narrow", attach("FleetOperator", &cert), NOT_FOUND),
        step(
            "narrow",
            Call::DetachPolicy {
                policy: s("BobDevices"),
                target: s(bob_id),
            },
            DENIED,
        ),
        step(
            "narrow",
            Call::ListAttachedPolicies { target: s(bob_id) },
            OK,
        ),
        step(
            "narrow",
            Call::AttachThingPrincipal {
                thing: s("bob-plug"),
                principal: s(bob_id),
            },
            OK,
        ),
        step(
            "narrow",
            Call::AttachThingPrincipal {
                thing: s("alice-lamp"),
                principal: s(bob_id),
            },
            DENIED,
        ),
        // --- role session: the role (iot:*) ∩ the session policy
        step("session", get("alice-lamp", None), NOT_FOUND),
        step("session", get("bob-plug", None), FORBIDDEN),
        step("session", publish("devices/alice-lamp/cmd", false), OK),
        step("session", publish("devices/bob-plug/cmd", false), FORBIDDEN),
        step("session", Call::ListThings, OK),
        step(
            "session",
            Call::DescribeThing {
                thing: s("bob-plug"),
            },
            DENIED,
        ),
        step(
            "session",
            Call::GetPolicy {
                policy: s("FleetOperator"),
            },
            OK,
        ),
        step(
            "session",
            Call::GetPolicy {
                policy: s("BobDevices"),
            },
            DENIED,
        ),
        step("session", attach("FleetOperator", bob_id), DENIED),
        // --- Cognito bob: role ∩ BobDevices on the data plane, the role alone on the control plane
        step("bob", get("bob-plug", None), OK),
        step("bob", get("alice-lamp", None), NOT_FOUND),
        step("bob", get("alice-thermostat", None), FORBIDDEN),
        step("bob", publish("devices/bob-plug/cmd", false), OK),
        step(
            "bob",
            publish("devices/alice-thermostat/cmd", false),
            FORBIDDEN,
        ),
        step(
            "bob",
            Call::GetRetainedMessage {
                topic: s("devices/bob-plug/state"),
            },
            OK,
        ),
        step("bob", Call::ListRetainedMessages, FORBIDDEN),
        step(
            "bob",
            Call::DeleteConnection {
                client_id: s("bob-not-connected"),
            },
            FORBIDDEN,
        ),
        step("bob", Call::ListThings, DENIED),
        // CheckBeforeAttach: the app lists the identity's policies before attaching.
        step("bob", Call::ListAttachedPolicies { target: s(bob_id) }, OK),
        // The attach-at-sign-in hole: AttachPolicy passes IAM for any policy and target.
        step("bob", attach("probe-no-such-policy", bob_id), NOT_FOUND),
        step("bob", attach("FleetOperator", bob_id), OK),
        // ... and bob now reaches alice's thermostat (role ∩ (BobDevices ∪ FleetOperator)),
        step("bob", get("alice-thermostat", None), OK),
        // while the control plane still ignores the IoT policy's iot:*.
        step("bob", Call::ListThings, DENIED),
        step(
            "ops",
            Call::DetachPolicy {
                policy: s("FleetOperator"),
                target: s(bob_id),
            },
            OK,
        ),
        step("bob", get("alice-thermostat", None), FORBIDDEN),
        // --- guest: the unauthenticated role ∩ Cognito's scope-down
        step(
            "guest",
            Call::GetRetainedMessage {
                topic: s("status/now"),
            },
            OK,
        ),
        step(
            "guest",
            Call::GetRetainedMessage {
                topic: s("devices/bob-plug/state"),
            },
            FORBIDDEN,
        ),
        step("guest", get("bob-plug", None), FORBIDDEN),
        step("guest", publish("status/now", false), FORBIDDEN),
        step("guest", Call::ListThings, DENIED),
        step("guest", attach("FleetOperator", guest_id), DENIED),
    ]
}

/// Every identity of the sequence, signed in against `lab`: name -> credentials, plus bob's
/// and the guest's identity ids.
pub struct Identities {
    pub creds: BTreeMap<&'static str, Creds>,
    pub bob_id: String,
    pub guest_id: String,
}

pub async fn sign_in(lab: &RunningLab) -> Identities {
    let mut creds = BTreeMap::new();
    creds.insert("ops", Creds::from(OPS));
    let narrow = Creds::from(NARROW);
    let session = sdk::sts(lab, &narrow)
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/Support")
        .role_session_name("doors")
        .policy(SESSION_POLICY)
        .send()
        .await
        .expect("AssumeRole");
    let c = session.credentials().expect("credentials");
    creds.insert(
        "session",
        Creds {
            akid: c.access_key_id().into(),
            secret: c.secret_access_key().into(),
            token: Some(c.session_token().into()),
        },
    );
    creds.insert("narrow", narrow);
    let token = sdk::id_token(lab, DEMO_APP_CLIENT, "bob", "bob-lab-password-1").await;
    let (bob_id, bob, _) =
        sdk::identity_credentials(lab, DEMO_POOL, Some((DEMO_PROVIDER, &token))).await;
    assert_eq!(
        bob_id,
        cognito_identity_id("us-east-1", DEMO_POOL, "bob"),
        "bob's identity id is the scenario's"
    );
    creds.insert("bob", bob);
    let (guest_id, guest, _) = sdk::identity_credentials(lab, DEMO_POOL, None).await;
    creds.insert("guest", guest);
    Identities {
        creds,
        bob_id,
        guest_id,
    }
}

fn sdk_credentials(c: &Creds) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(&c.akid, &c.secret, c.token.clone(), None, "doors")
}

pub fn data_client(lab: &RunningLab, c: &Creds) -> aws_sdk_iotdataplane::Client {
    let conf = aws_sdk_iotdataplane::Config::builder()
        .behavior_version(aws_sdk_iotdataplane::config::BehaviorVersion::latest())
        .region(aws_sdk_iotdataplane::config::Region::new("us-east-1"))
        .endpoint_url(&lab.endpoints.iot_data)
        .credentials_provider(sdk_credentials(c))
        // One call, one request: a throttled answer is reported, not retried.
        .retry_config(aws_sdk_iotdataplane::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_iotdataplane::Client::from_conf(conf)
}

pub fn iot_client(lab: &RunningLab, c: &Creds) -> aws_sdk_iot::Client {
    let conf = aws_sdk_iot::Config::builder()
        .behavior_version(aws_sdk_iot::config::BehaviorVersion::latest())
        .region(aws_sdk_iot::config::Region::new("us-east-1"))
        .endpoint_url(&lab.endpoints.iot)
        .credentials_provider(sdk_credentials(c))
        .retry_config(aws_sdk_iot::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_iot::Client::from_conf(conf)
}

/// The `Authorization` and `X-Amz-Date` headers aws-sigv4 computes for a bodiless request
/// to `base` + `path` signed for `service` (host = the address, as `raw_http` sends it).
fn sign_headers(
    method: &str,
    base: &str,
    path: &str,
    keys: (&str, &str),
    service: &str,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let host = iot_canary_testkit::net::addr_of(base).to_string();
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(keys.0, keys.1, None, None, "doors").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let url = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        method,
        &url,
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(b""),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `ok`, or the error type (the modelled variant's or an unmodelled error's code); a
/// transport failure is reported as such so it can never pass for an AWS answer.
fn outcome<T, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> String {
    match r {
        Ok(_) => OK.to_string(),
        Err(e) => match e.code() {
            Some(code) => code.to_string(),
            None => format!("no error type: {e:?}"),
        },
    }
}

/// Performs one call with the Rust SDK.
pub async fn call_rust(lab: &RunningLab, c: &Creds, call: &Call) -> String {
    let data = data_client(lab, c);
    let iot = iot_client(lab, c);
    match call {
        Call::Publish {
            topic,
            retain,
            payload,
        } => outcome(
            data.publish()
                .topic(topic)
                .qos(1)
                .retain(*retain)
                .payload(Blob::new(payload.as_bytes()))
                .send()
                .await,
        ),
        Call::GetThingShadow { thing, shadow } => outcome(
            data.get_thing_shadow()
                .thing_name(thing)
                .set_shadow_name(shadow.clone())
                .send()
                .await,
        ),
        Call::UpdateThingShadow {
            thing,
            shadow,
            payload,
        } => outcome(
            data.update_thing_shadow()
                .thing_name(thing)
                .set_shadow_name(shadow.clone())
                .payload(Blob::new(payload.as_bytes()))
                .send()
                .await,
        ),
        Call::DeleteThingShadow { thing, shadow } => outcome(
            data.delete_thing_shadow()
                .thing_name(thing)
                .set_shadow_name(shadow.clone())
                .send()
                .await,
        ),
        Call::ListNamedShadowsForThing { thing } => outcome(
            data.list_named_shadows_for_thing()
                .thing_name(thing)
                .send()
                .await,
        ),
        Call::GetRetainedMessage { topic } => {
            outcome(data.get_retained_message().topic(topic).send().await)
        }
        Call::ListRetainedMessages => outcome(data.list_retained_messages().send().await),
        Call::DeleteConnection { client_id } => {
            outcome(data.delete_connection().client_id(client_id).send().await)
        }
        Call::AttachPolicy { policy, target } => outcome(
            iot.attach_policy()
                .policy_name(policy)
                .target(target)
                .send()
                .await,
        ),
        Call::DetachPolicy { policy, target } => outcome(
            iot.detach_policy()
                .policy_name(policy)
                .target(target)
                .send()
                .await,
        ),
        Call::AttachThingPrincipal { thing, principal } => outcome(
            iot.attach_thing_principal()
                .thing_name(thing)
                .principal(principal)
                .send()
                .await,
        ),
        Call::ListThings => outcome(iot.list_things().send().await),
        Call::DescribeThing { thing } => {
            outcome(iot.describe_thing().thing_name(thing).send().await)
        }
        Call::GetPolicy { policy } => outcome(iot.get_policy().policy_name(policy).send().await),
        Call::ListAttachedPolicies { target } => {
            outcome(iot.list_attached_policies().target(target).send().await)
        }
    }
}

/// Replays `steps` with the Rust SDK; the answers in order.
pub async fn replay_rust(lab: &RunningLab, ids: &Identities, steps: &[Step]) -> Vec<String> {
    let mut out = Vec::with_capacity(steps.len());
    for st in steps {
        out.push(call_rust(lab, &ids.creds[st.who], &st.call).await);
    }
    out
}

/// Each answer equals the step's expectation (all mismatches listed at once).
pub fn assert_expected(client: &str, steps: &[Step], answers: &[String]) {
    let wrong: Vec<String> = steps
        .iter()
        .zip(answers)
        .enumerate()
        .filter(|(_, (st, got))| st.expect != got.as_str())
        .map(|(i, (st, got))| {
            format!(
                "step {i}: {} {:?}: expected {}, {client} got {got}",
                st.who, st.call, st.expect
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_allowed_and_refused_per_identity_kind_with_the_rust_sdk() {
    let lab = start_plain(&world()).await;
    // The ready line names both doors (what the daemon, testkit and boto3 read).
    let ready: serde_json::Value = serde_json::from_str(&lab.ready_line()).unwrap();
    assert_eq!(ready["iot_data"], lab.endpoints.iot_data.as_str());
    assert_eq!(ready["iot"], lab.endpoints.iot.as_str());
    assert!(lab.endpoints.iot_data.starts_with("http://127.0.0.1:"));
    let ids = sign_in(&lab).await;
    let steps = steps(&ids.bob_id, &ids.guest_id);
    let answers = replay_rust(&lab, &ids, &steps).await;
    assert_expected("the Rust SDK", &steps, &answers);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_effects_reach_mqtt_and_the_shared_stores() {
    let lab = start_plain(&world()).await;
    let narrow = Creds::from(NARROW);
    let data = data_client(&lab, &narrow);
    // An MQTT client of bob's plug, watching its topics and shadow responses.
    let mut device = mqtt::connect(&lab, Mqtt::V5, OPS, "bob-plug-1")
        .connected()
        .await;
    device.subscribed("devices/bob-plug/#", 1).await;
    device
        .subscribed("$aws/things/bob-plug/shadow/update/accepted", 1)
        .await;

    // Publish over HTTPS reaches the MQTT subscriber.
    data.publish()
        .topic("devices/bob-plug/cmd")
        .qos(1)
        .payload(Blob::new(&b"on"[..]))
        .send()
        .await
        .expect("HTTPS publish");
    device.expect_publish("devices/bob-plug/cmd", b"on").await;

    // A retained HTTPS publish is stored: GetRetainedMessage and a later MQTT subscriber see it.
    data.publish()
        .topic("devices/bob-plug/state")
        .qos(1)
        .retain(true)
        .payload(Blob::new(&b"idle"[..]))
        .send()
        .await
        .expect("retained HTTPS publish");
    device
        .expect_publish("devices/bob-plug/state", b"idle")
        .await;
    let got = data
        .get_retained_message()
        .topic("devices/bob-plug/state")
        .send()
        .await
        .expect("GetRetainedMessage");
    assert_eq!(got.payload().map(|b| b.as_ref()), Some(&b"idle"[..]));
    assert_eq!(got.qos(), 1);
    assert!(got.last_modified_time() > 0);
    let listed = data
        .list_retained_messages()
        .send()
        .await
        .expect("ListRetainedMessages");
    let summary = listed
        .retained_topics()
        .iter()
        .find(|t| t.topic() == Some("devices/bob-plug/state"))
        .expect("the retained topic is listed");
    assert_eq!(summary.payload_size(), 4);
    let mut late = mqtt::connect(&lab, Mqtt::V5, OPS, "watcher-1")
        .connected()
        .await;
    late.subscribe("devices/bob-plug/state", 1).await;
    let (topic, payload, retain) = late.next_publish().await;
    assert_eq!(
        (topic.as_str(), payload.as_slice(), retain),
        ("devices/bob-plug/state", &b"idle"[..], true)
    );

    // A shadow updated over HTTPS: the answer is the accepted document, MQTT sees the
    // accepted message, and an MQTT get would read the same store.
    let updated = data
        .update_thing_shadow()
        .thing_name("bob-plug")
        .payload(Blob::new(&br#"{"state":{"desired":{"on":true}}}"#[..]))
        .send()
        .await
        .expect("UpdateThingShadow");
    let doc: serde_json::Value =
        serde_json::from_slice(updated.payload().unwrap().as_ref()).unwrap();
    assert_eq!(doc["state"]["desired"]["on"], true);
    assert_eq!(doc["version"], 1);
    let (t, p, _) = device.next_publish().await;
    assert_eq!(t, "$aws/things/bob-plug/shadow/update/accepted");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&p).unwrap()["version"],
        1
    );
    let shadow = data
        .get_thing_shadow()
        .thing_name("bob-plug")
        .send()
        .await
        .expect("GetThingShadow");
    let doc: serde_json::Value =
        serde_json::from_slice(shadow.payload().unwrap().as_ref()).unwrap();
    assert_eq!(doc["state"]["delta"]["on"], true);
    // Named shadows are listed; a version conflict is a ConflictException.
    data.update_thing_shadow()
        .thing_name("bob-plug")
        .shadow_name("cfg")
        .payload(Blob::new(&br#"{"state":{"reported":{"x":1}}}"#[..]))
        .send()
        .await
        .expect("named UpdateThingShadow");
    let names = data
        .list_named_shadows_for_thing()
        .thing_name("bob-plug")
        .send()
        .await
        .expect("ListNamedShadowsForThing");
    assert_eq!(names.results(), ["cfg"]);
    let conflict = data
        .update_thing_shadow()
        .thing_name("bob-plug")
        .payload(Blob::new(
            &br#"{"state":{"reported":{"on":true}},"version":7}"#[..],
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Some("ConflictException"));

    // DeleteConnection kicks a live client (MQTT 5: DISCONNECT 0x98), then finds nobody.
    data.delete_connection()
        .client_id("bob-plug-1")
        .send()
        .await
        .expect("DeleteConnection of a live client");
    assert_eq!(device.closed().await, Some(0x98));
    let gone = data
        .delete_connection()
        .client_id("bob-plug-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("ResourceNotFoundException"));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_attach_policy_is_observable_and_enforced_afterwards() {
    let lab = start_plain(&world()).await;
    let ids = sign_in(&lab).await;
    let bob = &ids.creds["bob"];
    let iot = iot_client(&lab, bob);
    let ops_iot = iot_client(&lab, &Creds::from(OPS));
    let before = ops_iot
        .list_attached_policies()
        .target(&ids.bob_id)
        .send()
        .await
        .expect("ListAttachedPolicies");
    let names = |o: &aws_sdk_iot::operation::list_attached_policies::ListAttachedPoliciesOutput| {
        o.policies()
            .iter()
            .filter_map(|p| p.policy_name().map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&before), ["BobDevices"]);
    // Over MQTT bob cannot command alice's thermostat yet.
    let mut m = mqtt::connect_ok(&lab, bob, &format!("{}-1", ids.bob_id)).await;
    assert!(!m.publish("devices/alice-thermostat/cmd", "heat").await);
    iot.attach_policy()
        .policy_name("FleetOperator")
        .target(&ids.bob_id)
        .send()
        .await
        .expect("bob attaches FleetOperator to himself");
    let after = ops_iot
        .list_attached_policies()
        .target(&ids.bob_id)
        .send()
        .await
        .expect("ListAttachedPolicies");
    assert_eq!(names(&after), ["BobDevices", "FleetOperator"]);
    assert_eq!(
        lab.state().attached(
            &iot_canary_lab::state::Target::Identity(ids.bob_id.clone()),
            SystemTime::now()
        ),
        ["BobDevices", "FleetOperator"]
    );
    // The MQTT door enforces it at once, mid-session: alice's thermostat obeys bob now
    // (BobDevices' explicit Deny on the thermostat's topic filters still holds).
    assert!(m.publish("devices/alice-thermostat/cmd", "heat").await);
    assert!(!m.subscribe("devices/alice-thermostat/telemetry").await);
    // The refusal message names the caller and the resource AWS evaluates.
    let denied = iot.list_things().send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    assert_eq!(
        denied.message(),
        Some(
            "User: arn:aws:sts::123456789012:assumed-role/CognitoAuthRole/CognitoIdentityCredentials is not authorized to perform: iot:ListThings on resource: *"
        )
    );
    let policy = ops_iot
        .get_policy()
        .policy_name("FleetOperator")
        .send()
        .await
        .expect("GetPolicy");
    assert_eq!(
        policy.policy_arn(),
        Some("arn:aws:iot:us-east-1:123456789012:policy/FleetOperator")
    );
    assert!(policy.policy_document().unwrap().contains("\"iot:*\""));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_and_credential_errors_have_the_aws_types() {
    let lab = start_plain(&world()).await;
    let wrong_secret = Creds::new(NARROW.0, "not-the-secret");
    let unknown = Creds::new("AKIALABNOBODY0000001", "whatever");
    // Expired temporary credentials the lab issued (registered directly: no clock games).
    let expired = Creds {
        akid: "ASIALABEXPIRED000001".into(),
        secret: "expired-secret".into(),
        token: Some("expired-token".into()),
    };
    lab.state().register_credentials(IssuedCredentials {
        access_key_id: expired.akid.clone(),
        secret_access_key: expired.secret.clone(),
        session_token: expired.token.clone(),
        expiration: Some(SystemTime::now() - Duration::from_secs(60)),
        principal: Principal::IamUser {
            name: "narrow".into(),
        },
    });
    let get = get("bob-plug", None);
    for (creds, data_code, iot_code) in [
        (&wrong_secret, FORBIDDEN, "InvalidSignatureException"),
        (&unknown, FORBIDDEN, "UnrecognizedClientException"),
        (&expired, FORBIDDEN, "ExpiredTokenException"),
    ] {
        assert_eq!(
            call_rust(&lab, creds, &get).await,
            data_code,
            "{}",
            creds.akid
        );
        assert_eq!(
            call_rust(&lab, creds, &Call::ListThings).await,
            iot_code,
            "{}",
            creds.akid
        );
    }
    // Unsigned requests: the data endpoint says Forbidden, the control plane names the token.
    let (status, body) = crate::raw_http(
        &lab.endpoints.iot_data,
        "GET",
        "/things/bob-plug/shadow",
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = crate::raw_http(&lab.endpoints.iot, "GET", "/things", &[], b"").await;
    assert_eq!(status, 403);
    assert!(body.contains("Missing Authentication Token"), "{body}");
    // A request signed for the wrong service is refused before any lookup.
    let sts_signed = sign_headers("GET", &lab.endpoints.iot, "/things", NARROW, "sts");
    let (status, body) = crate::raw_http(
        &lab.endpoints.iot,
        "GET",
        "/things",
        &sts_signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        b"",
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("scoped to correct service: 'iot'"), "{body}");

    // The admin fault `quota_exceeded`: both doors answer 429 ThrottlingException.
    lab.state().set_faults(iot_canary_lab::state::Faults {
        quota_exceeded: true,
        ..Default::default()
    });
    let narrow = Creds::from(NARROW);
    assert_eq!(call_rust(&lab, &narrow, &get).await, "ThrottlingException");
    assert_eq!(
        call_rust(&lab, &narrow, &Call::ListThings).await,
        "ThrottlingException"
    );
    lab.shutdown().await;
}
