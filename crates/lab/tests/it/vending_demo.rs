//! The credential-vending API and the embedded demo world: the demo scenario loads, its one
//! hole is real (bob receives alice's thermostat telemetry through a wildcard filter past a
//! Deny) and everything DEMO.md wants tight is.

use iot_canary_lab::RunningLab;
use iot_canary_lab::state::{ThingInfo, cognito_identity_id};
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::{ConnectOutcome, connect_ok, connect_v5};
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as CLIENT, DEMO_POOL as POOL, DEMO_PROVIDER as PROVIDER, OPS, Scenario,
};
use iot_canary_testkit::sdk::{cognito_idp, id_token, identity_credentials};
use iot_canary_testkit::sigv4::Creds;
use iot_canary_testkit::{WAIT, nonce};

use crate::raw_http;

fn password(user: &str) -> String {
    format!("{user}-lab-password-1")
}

/// Calls the vending API; returns (status, JSON body).
async fn vend(lab: &RunningLab, auth: Option<&str>) -> (u16, serde_json::Value) {
    let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
    let base = lab.endpoints.vending.trim_end_matches("/vend").to_string();
    let (status, body) = raw_http(&base, "POST", "/vend", &headers, b"").await;
    (
        status,
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("vending answered non-JSON ({e}): {body}")),
    )
}

async fn vended(lab: &RunningLab, user: &str) -> Creds {
    let tok = id_token(lab, CLIENT, user, &password(user)).await;
    let (status, v) = vend(lab, Some(&format!("Bearer {tok}"))).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["Expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["SessionToken"], v["Token"]);
    Creds {
        akid: v["AccessKeyId"].as_str().unwrap().into(),
        secret: v["SecretAccessKey"].as_str().unwrap().into(),
        token: Some(v["SessionToken"].as_str().unwrap().into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vending_scopes_sessions_to_owned_and_shared_things() {
    let lab = start_plain(&Scenario::demo()).await;
    // bob: his plug and alice's shared lamp, not her thermostat; client id bob / bob-*.
    let bob = vended(&lab, "bob").await;
    let (o, _) = connect_v5(&lab, &bob, "alice").await;
    assert_eq!(o, ConnectOutcome::Refused("NotAuthorized".into()));
    let mut m = connect_ok(&lab, &bob, "bob-phone").await;
    assert!(m.subscribe("devices/bob-plug/telemetry").await);
    assert!(m.subscribe("devices/alice-lamp/telemetry").await);
    assert!(
        m.subscribe("$aws/things/alice-lamp/shadow/get/accepted")
            .await
    );
    assert!(!m.subscribe("devices/alice-thermostat/telemetry").await);
    assert!(!m.publish("devices/alice-thermostat/cmd", "x").await);
    assert!(m.publish("devices/alice-lamp/cmd", "on").await);
    drop(m);
    // carol owns nothing: she may connect as herself and do nothing else.
    let carol = vended(&lab, "carol").await;
    let mut c = connect_ok(&lab, &carol, "carol").await;
    assert!(!c.subscribe("devices/alice-lamp/telemetry").await);
    drop(c);
    // Sharing changes through the admin API show up in the next vended session.
    lab.state()
        .set_thing(
            "alice-thermostat",
            ThingInfo {
                owner: Some("alice".into()),
                shared_with: vec!["carol".into()],
            },
        )
        .unwrap();
    let carol2 = vended(&lab, "carol").await;
    let mut c = connect_ok(&lab, &carol2, "carol-2").await;
    c.assert_subscriptions(
        &["devices/alice-thermostat/telemetry"],
        &["devices/alice-lamp/telemetry"],
    )
    .await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vending_refuses_bad_tokens_and_oversized_policies() {
    // Carol owns 40 devices here: her session policy outgrows STS's 2,048 characters.
    let scenario = (0..40).fold(Scenario::demo(), |s, i| {
        s.thing(&format!("carol-sensor-{i:02}"), "carol")
    });
    let lab = start_plain(&scenario).await;
    let (s, v) = vend(&lab, None).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = vend(&lab, Some("Bearer not-a-token")).await;
    assert_eq!(s, 401, "{v}");
    // An access token is not an id token.
    let out = cognito_idp(&lab)
        .initiate_auth()
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .client_id(CLIENT)
        .auth_parameters("USERNAME", "carol")
        .auth_parameters("PASSWORD", password("carol"))
        .send()
        .await
        .unwrap();
    let access = out
        .authentication_result()
        .unwrap()
        .access_token()
        .unwrap()
        .to_string();
    let (s, _) = vend(&lab, Some(&format!("Bearer {access}"))).await;
    assert_eq!(s, 401);
    // The bare token (aws-config container-provider style) is read too.
    let id = out
        .authentication_result()
        .unwrap()
        .id_token()
        .unwrap()
        .to_string();
    let (s, v) = vend(&lab, Some(&id)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["code"], "ValidationError", "{v}");
    assert!(v["message"].as_str().unwrap().contains("2048"), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("40 thing(s)"),
        "{v}"
    );
    // A user with few devices still gets credentials from the bare token.
    let bob = id_token(&lab, CLIENT, "bob", &password("bob")).await;
    let (s, v) = vend(&lab, Some(&bob)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Things"], serde_json::json!(["alice-lamp", "bob-plug"]));
    lab.shutdown().await;
}

/// Everything DEMO.md says: the hole is open, the rest is tight, for every way in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_world_has_exactly_one_hole() {
    let loaded = iot_canary_lab::demo::load().expect("demo scenario loads");
    assert_eq!(loaded.scenario.thing.len(), 3);
    let lab = start_plain(&Scenario::demo()).await;
    let mut witness = connect_ok(&lab, &Creds::from(OPS), "ops-witness").await;

    // Guests: the public status feed only (Cognito's scope-down keeps iot:*, the role narrows).
    let (gid, guest, _) = identity_credentials(&lab, POOL, None).await;
    let mut g = connect_ok(&lab, &guest, &format!("{gid}-canary")).await;
    g.assert_subscriptions(
        &["status/fleet"],
        &["devices/alice-lamp/telemetry", "devices/+/telemetry"],
    )
    .await;
    let feed = nonce("feed");
    assert!(witness.publish("status/fleet", &feed).await);
    assert!(
        g.received("status/fleet", &feed, WAIT).await,
        "guest control"
    );
    assert!(!g.publish("devices/alice-lamp/cmd", "x").await);
    drop(g);
    let (o, _) = connect_v5(&lab, &guest, "alice-lamp").await;
    assert_eq!(o, ConnectOutcome::Refused("NotAuthorized".into()));

    // bob: the hole. The Deny covers alice-thermostat's filters, not the fleet filter, and
    // Receive on the concrete topic is allowed.
    let tok = id_token(&lab, CLIENT, "bob", &password("bob")).await;
    let (bid, bob, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
    let mut b = connect_ok(&lab, &bob, &format!("{bid}-fleet")).await;
    b.assert_subscriptions(
        &["devices/+/telemetry"],
        &["devices/alice-thermostat/telemetry"],
    )
    .await;
    let bait = nonce("bait");
    assert!(
        witness
            .publish("devices/alice-thermostat/telemetry", &bait)
            .await
    );
    assert!(
        b.received("devices/alice-thermostat/telemetry", &bait, WAIT)
            .await,
        "the hole: bob receives alice's thermostat through devices/+/telemetry"
    );
    drop(b);

    // Cognito users: own devices allowed (controls), others' denied.
    let mut cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "alice",
            vec!["alice-lamp", "alice-thermostat"],
            vec!["bob-plug"],
        ),
        (
            "bob",
            vec!["bob-plug", "alice-lamp"],
            vec!["alice-thermostat"],
        ),
        (
            "carol",
            vec![],
            vec!["alice-lamp", "alice-thermostat", "bob-plug"],
        ),
    ];
    for (user, allowed, denied) in cases.drain(..) {
        let tok = id_token(&lab, CLIENT, user, &password(user)).await;
        let (id, creds, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
        assert_eq!(id, cognito_identity_id("us-east-1", POOL, user));
        // Someone else's client id.
        let other = if user == "alice" { "bob" } else { "alice" };
        let foreign = format!(
            "{}-by-{user}",
            cognito_identity_id("us-east-1", POOL, other)
        );
        let (o, _) = connect_v5(&lab, &creds, &foreign).await;
        assert_eq!(
            o,
            ConnectOutcome::Refused("NotAuthorized".into()),
            "{user} with a foreign client id"
        );
        let mut m = connect_ok(&lab, &creds, &format!("{id}-canary")).await;
        for t in &allowed {
            assert!(
                m.subscribe(&format!("devices/{t}/telemetry")).await,
                "{user} control on {t}"
            );
        }
        for t in &denied {
            assert!(
                !m.subscribe(&format!("devices/{t}/telemetry")).await,
                "{user} subscribe {t}"
            );
            assert!(
                !m.publish(&format!("devices/{t}/cmd"), "x").await,
                "{user} publish {t}"
            );
            assert!(
                !m.subscribe(&format!("$aws/things/{t}/shadow/get/accepted"))
                    .await,
                "{user} shadow {t}"
            );
        }
        drop(m);
    }
    lab.shutdown().await;
}
