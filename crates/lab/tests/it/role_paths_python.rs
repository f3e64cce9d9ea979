//! Independent clients agree with the Rust SDK on every role path: boto3 (sts,
//! cognito-identity) and pycognito's `AWSSRP` (USER_SRP_AUTH) ask the lab the questions
//! `role_paths` asks with the Rust SDK crates; each case must get the same answer (`ok`, or
//! the same error code and message).

use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as CLIENT, DEMO_POOL as POOL, DEMO_PROVIDER as PROVIDER,
    DEMO_USER_POOL as USER_POOL, OPS, Scenario,
};
use iot_canary_testkit::sdk::{cognito_identity, identity_credentials};
use iot_canary_testkit::sigv4::Creds;
use iot_canary_testkit::tools;
use serde_json::{Value, json};

use crate::role_paths::{
    assume, classic_world, custom_role_with, guest_id, open_id_token, srp_sign_in, web_identity,
};

fn as_value<T>(r: Result<T, (String, String)>) -> Value {
    match r {
        Ok(_) => json!("ok"),
        Err((code, message)) => json!({ "code": code, "message": message }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_pycognito_get_the_rust_sdks_answers() {
    let loose = start_plain(&classic_world(true)).await;
    let strict = start_plain(&Scenario::demo()).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python/test_role_paths.py");
    let py: Value = tools::python_json(
        &script,
        &[
            ("LOOSE_STS", &loose.endpoints.sts),
            ("LOOSE_COGNITO_IDP", &loose.endpoints.cognito_idp),
            ("LOOSE_COGNITO_IDENTITY", &loose.endpoints.cognito_identity),
            (
                "STRICT_COGNITO_IDENTITY",
                &strict.endpoints.cognito_identity,
            ),
            ("LAB_OPS_AKID", OPS.0),
            ("LAB_OPS_SECRET", OPS.1),
            ("LAB_USER_POOL", USER_POOL),
            ("LAB_CLIENT_ID", CLIENT),
            ("LAB_ALICE_PASSWORD", "alice-lab-password-1"),
            ("LAB_POOL", POOL),
            ("LAB_PROVIDER", PROVIDER),
        ],
        None,
        std::time::Duration::from_secs(120),
    )
    .await;

    // The same questions through the Rust SDK (and the aws-cognito-srp client).
    let lab = &loose;
    let tok = srp_sign_in(lab, "alice", "alice-lab-password-1", None)
        .await
        .unwrap();
    let (alice_id, alice, _) = identity_credentials(lab, POOL, Some((PROVIDER, &tok))).await;
    assert_eq!(
        py["srp_identity_id"],
        json!(alice_id),
        "pycognito signed in as alice"
    );
    let gid = guest_id(lab).await;
    let guest_token = open_id_token(lab, &gid, None).await.unwrap();
    let user_token = open_id_token(lab, &alice_id, Some(&tok)).await.unwrap();
    let strict_guest = guest_id(&strict).await;
    let rust = [
        (
            "srp_wrong_password",
            as_value(srp_sign_in(lab, "alice", "not-her-password", None).await),
        ),
        (
            "assume_admin_ops",
            as_value(assume(lab, &Creds::from(OPS), "FleetAdminRole").await),
        ),
        (
            "assume_admin_alice",
            as_value(assume(lab, &alice, "FleetAdminRole").await),
        ),
        (
            "web_guest_auth_role",
            as_value(web_identity(lab, &guest_token, "CognitoAuthRole").await),
        ),
        (
            "web_guest_guest_role",
            as_value(web_identity(lab, &guest_token, "CognitoGuestRole").await),
        ),
        (
            "web_user_admin_role",
            as_value(web_identity(lab, &user_token, "FleetAdminRole").await),
        ),
        (
            "web_forged_token",
            as_value(web_identity(lab, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "CognitoAuthRole").await),
        ),
        (
            "custom_auth_role",
            as_value(custom_role_with(lab, &alice_id, &tok, "CognitoAuthRole").await),
        ),
        (
            "custom_admin_role",
            as_value(custom_role_with(lab, &alice_id, &tok, "FleetAdminRole").await),
        ),
        (
            "open_id_token_disabled",
            as_value(open_id_token(&strict, &strict_guest, None).await),
        ),
    ];
    for (case, want) in &rust {
        assert_eq!(&py[*case], want, "{case}: boto3/pycognito vs the Rust SDK");
    }
    // The cases are not all one answer: the comparison could fail.
    assert_eq!(rust[1].1, json!("ok"));
    assert_eq!(rust[2].1["code"], "AccessDenied");
    assert_eq!(
        rust[3].1,
        json!("ok"),
        "the loose trust policy lets the guest in"
    );
    assert_eq!(rust[8].1["code"], "NotAuthorizedException");
    assert_eq!(rust[9].1["code"], "InvalidParameterException");
    let _ = cognito_identity(lab);
    loose.shutdown().await;
    strict.shutdown().await;
}
