//! Cognito user pool + identity pool against the in-process lab with the real SDK crates
//! (aws-sdk-cognitoidentityprovider, aws-sdk-cognitoidentity), then MQTT with the issued
//! credentials: authenticated = role ∩ IoT policy on the identity id; guests = guest role.

use std::time::SystemTime;

use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use iot_canary_testkit::lab::{Admin, start_plain};
use iot_canary_testkit::mqtt::{ConnectOutcome, connect_ok, connect_v5};
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as CLIENT, DEMO_POOL as POOL, DEMO_PROVIDER as PROVIDER, OPS, Scenario,
};
use iot_canary_testkit::sdk::{cognito_identity, cognito_idp, id_token, identity_credentials, sts};
use iot_canary_testkit::sigv4::Creds;
use iot_canary_testkit::{WAIT, nonce};

/// An InitiateAuth that must fail: (flow, app client, parameters, error code).
type AuthRefusal<'a> = (AuthFlowType, &'a str, &'a [(&'a str, &'a str)], &'a str);
/// The identity-pool operations refused in `identity_pool_errors`.
#[derive(Debug, Clone, Copy)]
enum PoolCall {
    GetId,
    Credentials,
}

/// An identity-pool call that must fail: (pool or identity id, login, error code).
type PoolRefusal<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_identity_is_role_intersect_iot_policy() {
    let lab = start_plain(&Scenario::demo()).await;
    let tok = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
    let (id, creds, exp) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
    assert!(id.starts_with("us-east-1:"));
    let left = exp.duration_since(SystemTime::now()).unwrap().as_secs();
    assert!(
        (3500..=3600).contains(&left),
        "one hour credentials, got {left}s"
    );
    // Stable id across sign-ins.
    let tok2 = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
    let (id2, _, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok2))).await;
    assert_eq!(id, id2);

    // Client id: only her identity id (IoT policy), although the role allows any.
    let (o, _) = connect_v5(&lab, &creds, "alice").await;
    assert_eq!(o, ConnectOutcome::Refused("NotAuthorized".into()));
    let mut m = connect_ok(&lab, &creds, &format!("{id}-app")).await;
    assert!(m.subscribe("devices/alice-lamp/telemetry").await);
    assert!(
        m.subscribe("$aws/things/alice-thermostat/shadow/get/accepted")
            .await
    );
    assert!(m.publish("devices/alice-lamp/cmd", "on").await);
    // The role allows bob's plug; her IoT policy does not.
    assert!(!m.subscribe("devices/bob-plug/telemetry").await);
    assert!(!m.publish("devices/bob-plug/cmd", "off").await);
    drop(m);

    // Receive is checked per delivery: ops publishes to her topic, she receives it.
    let mut m = connect_ok(&lab, &creds, &format!("{id}-rx")).await;
    assert!(m.subscribe("devices/alice-lamp/telemetry").await);
    let mut witness = connect_ok(&lab, &Creds::from(OPS), "ops-witness-1").await;
    let n = nonce("lamp");
    assert!(witness.publish("devices/alice-lamp/telemetry", &n).await);
    assert!(m.received("devices/alice-lamp/telemetry", &n, WAIT).await);
    drop(m);

    // Detaching her IoT policy (admin API) leaves the role alone: nothing is allowed.
    let admin = Admin::of(&lab);
    let target = serde_json::json!({ "identity": id }).to_string();
    let s = admin.detach("AliceDevices", &target).await;
    assert!((200..300).contains(&s), "detach: {s}");
    let (o, _) = connect_v5(&lab, &creds, &format!("{id}-detached")).await;
    assert_eq!(o, ConnectOutcome::Refused("NotAuthorized".into()));
    // ... and re-attaching restores access.
    let s = admin.attach("AliceDevices", &target).await;
    assert!((200..300).contains(&s), "attach: {s}");
    // (A different client id: AWS allows one CONNECT per second per client id.)
    let _m = connect_ok(&lab, &creds, &format!("{id}-reattached")).await;
    lab.shutdown().await;
}

/// Guests get the unauthenticated role scoped down by Cognito's session policies: the inline
/// list keeps `iot:*`, so the role's public status feed works and nothing beyond the role does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_get_the_unauthenticated_role_scoped_down_by_cognito() {
    let lab = start_plain(&Scenario::demo()).await;
    let (gid, guest, _) = identity_credentials(&lab, POOL, None).await;
    let (gid2, _, _) = identity_credentials(&lab, POOL, None).await;
    assert_ne!(gid, gid2, "each GetId without logins is a new guest");
    let (o, _) = connect_v5(&lab, &guest, "alice-lamp").await;
    assert_eq!(o, ConnectOutcome::Refused("NotAuthorized".into()));
    let mut g = connect_ok(&lab, &guest, &gid).await;
    // The role's status feed survives the scope-down (the inline list admits iot:*).
    assert!(g.subscribe("status/fleet").await);
    let mut witness = connect_ok(&lab, &Creds::from(OPS), "ops-witness-2").await;
    let n = nonce("feed");
    assert!(witness.publish("status/fleet", &n).await);
    assert!(g.received("status/fleet", &n, WAIT).await);
    // What stays tight for guests.
    g.assert_subscriptions(&[], &["devices/alice-lamp/telemetry"])
        .await;
    assert!(!g.publish("devices/alice-lamp/cmd", "x").await);
    assert!(
        !g.subscribe("$aws/things/alice-lamp/shadow/get/accepted")
            .await
    );
    // The session's policy set is the role ∩ Cognito's two session policies.
    let guest_principal = iot_canary_lab::state::Principal::CognitoUnauthenticated {
        identity_id: gid.clone(),
    };
    let authz = lab
        .state()
        .principal_authz(&guest_principal, std::time::SystemTime::now());
    let sts = iot_canary_policy::authorize_action(
        &authz.set,
        "sts:AssumeRole",
        "arn:aws:iam::123456789012:role/VendingRole",
        &authz.context,
    );
    assert!(
        !sts.allowed() && sts.explanation.contains("Cognito guest session policies"),
        "{}",
        sts.explanation
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_pool_flows_and_errors() {
    let lab = start_plain(&Scenario::demo()).await;
    let idp = cognito_idp(&lab);
    let out = idp
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(CLIENT)
        .auth_parameters("USERNAME", "bob")
        .auth_parameters("PASSWORD", "bob-lab-password-1")
        .send()
        .await
        .unwrap();
    let r = out.authentication_result().unwrap();
    assert_eq!(r.expires_in(), 3600);
    assert_eq!(r.token_type(), Some("Bearer"));
    assert!(r.access_token().is_some());
    let refresh = r.refresh_token().unwrap().to_string();
    let out = idp
        .initiate_auth()
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .client_id(CLIENT)
        .auth_parameters("REFRESH_TOKEN", &refresh)
        .send()
        .await
        .unwrap();
    let fresh = out
        .authentication_result()
        .unwrap()
        .id_token()
        .unwrap()
        .to_string();
    let (id, _, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &fresh))).await;
    assert_eq!(
        id,
        iot_canary_lab::state::cognito_identity_id("us-east-1", POOL, "bob")
    );

    // Refusals: (flow, app client, parameters) → the error code the SDK parses.
    let refusals: [AuthRefusal; 4] = [
        (
            AuthFlowType::UserPasswordAuth,
            CLIENT,
            &[("USERNAME", "bob"), ("PASSWORD", "wrong")],
            "NotAuthorizedException",
        ),
        (
            AuthFlowType::UserPasswordAuth,
            "no-such-client",
            &[("USERNAME", "bob"), ("PASSWORD", "bob-lab-password-1")],
            "ResourceNotFoundException",
        ),
        (
            AuthFlowType::RefreshTokenAuth,
            CLIENT,
            &[("REFRESH_TOKEN", "not-a-token")],
            "NotAuthorizedException",
        ),
        (
            AuthFlowType::UserSrpAuth,
            CLIENT,
            &[("USERNAME", "bob")],
            "InvalidParameterException",
        ),
    ];
    for (flow, client, params, want) in refusals {
        let mut req = idp
            .initiate_auth()
            .auth_flow(flow.clone())
            .client_id(client);
        for (k, v) in params {
            req = req.auth_parameters(*k, *v);
        }
        let e = req.send().await.unwrap_err();
        assert_eq!(e.code(), Some(want), "{flow:?} via {client}: {e:?}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_pool_errors() {
    let lab = start_plain(&Scenario::demo()).await;
    let ci = cognito_identity(&lab);
    let alice = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
    let bob = id_token(&lab, CLIENT, "bob", "bob-lab-password-1").await;
    let alice_id = iot_canary_lab::state::cognito_identity_id("us-east-1", POOL, "alice");
    // (GetId's pool or GetCredentialsForIdentity's identity id, login, error code)
    let refusals: [(PoolCall, PoolRefusal); 6] = [
        (
            PoolCall::GetId,
            (
                "us-east-1:00000000-0000-0000-0000-000000000000",
                None,
                "ResourceNotFoundException",
            ),
        ),
        (
            PoolCall::GetId,
            (
                POOL,
                Some((PROVIDER, "not.a.jwt")),
                "NotAuthorizedException",
            ),
        ),
        // A token of our pool presented as another provider's.
        (
            PoolCall::GetId,
            (
                POOL,
                Some(("accounts.google.com", &alice)),
                "NotAuthorizedException",
            ),
        ),
        // Bob's token cannot fetch alice's identity's credentials; nor can nobody; an
        // unknown identity is not found.
        (
            PoolCall::Credentials,
            (&alice_id, Some((PROVIDER, &bob)), "NotAuthorizedException"),
        ),
        (
            PoolCall::Credentials,
            (&alice_id, None, "NotAuthorizedException"),
        ),
        (
            PoolCall::Credentials,
            (
                "us-east-1:11111111-2222-4333-8444-555555555555",
                None,
                "ResourceNotFoundException",
            ),
        ),
    ];
    for (call, (target, login, want)) in refusals {
        let logins = login.map(|(p, t)| std::collections::HashMap::from([(p.into(), t.into())]));
        let code = match call {
            PoolCall::GetId => {
                let req = ci.get_id().identity_pool_id(target).set_logins(logins);
                req.send().await.unwrap_err().code().map(str::to_string)
            }
            PoolCall::Credentials => {
                let req = ci.get_credentials_for_identity().identity_id(target);
                let req = req.set_logins(logins);
                req.send().await.unwrap_err().code().map(str::to_string)
            }
        };
        assert_eq!(code.as_deref(), Some(want), "{call:?} {target} {login:?}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_and_credentials_are_refused() {
    // Tokens and credentials expire the moment they are issued.
    let lab = start_plain(&Scenario::demo().set("cognito", "credentials_ttl", 0)).await;
    let tok = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
    let e = cognito_identity(&lab)
        .get_id()
        .identity_pool_id(POOL)
        .logins(PROVIDER, &tok)
        .send()
        .await
        .unwrap_err();
    let se = e.as_service_error().unwrap();
    assert!(se.is_not_authorized_exception(), "{e:?}");
    assert!(se.meta().message().unwrap().contains("expired"), "{e:?}");
    // Guest credentials are issued already expired: the gateway refuses the upgrade (403).
    let (gid, guest, _) = identity_credentials(&lab, POOL, None).await;
    match connect_v5(&lab, &guest, &gid).await {
        (ConnectOutcome::Transport(m), _) => assert!(m.contains("403"), "{m}"),
        (other, _) => panic!("expired credentials must be refused at the upgrade, got {other:?}"),
    }
    // STS refuses them with ExpiredToken.
    let e = sts(&lab, &guest)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
        Some("ExpiredToken"),
        "{e:?}"
    );
    lab.shutdown().await;
}
