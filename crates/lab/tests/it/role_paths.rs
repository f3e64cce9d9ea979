//! The identity pool's other role paths and STS trust policies against the in-process lab,
//! with the real SDK crates (aws-sdk-sts, aws-sdk-cognitoidentity, aws-sdk-cognitoidentityprovider)
//! and the `aws-cognito-srp` client: AssumeRole trust (both sides), the basic (classic) flow
//! (GetOpenIdToken + AssumeRoleWithWebIdentity), role selection from tokens (CustomRoleArn),
//! and USER_SRP_AUTH — each allowed and refused, with AWS's error codes.

use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
use iot_canary_lab::RunningLab;
use iot_canary_lab::demo::DEMO_SCENARIO;
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::connect_ok;
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as CLIENT, DEMO_POOL as POOL, DEMO_PROVIDER as PROVIDER,
    DEMO_USER_POOL as USER_POOL, OPS, Scenario,
};
use iot_canary_testkit::sdk::{cognito_identity, cognito_idp, id_token, identity_credentials, sts};
use iot_canary_testkit::sigv4::Creds;

const ACCOUNT: &str = "123456789012";

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// The code (and message) of an SDK error.
pub(crate) fn code<E: ProvideErrorMetadata>(e: &E) -> (String, String) {
    (
        e.code().unwrap_or("<none>").to_string(),
        e.message().unwrap_or("").to_string(),
    )
}

pub(crate) async fn assume(
    lab: &RunningLab,
    who: &Creds,
    role: &str,
) -> Result<String, (String, String)> {
    sts(lab, who)
        .assume_role()
        .role_arn(role_arn(role))
        .role_session_name("canary-probe")
        .send()
        .await
        .map(|o| o.assumed_role_user().unwrap().arn().to_string())
        .map_err(|e| code(&e.into_service_error()))
}

/// The demo world with the basic flow allowed; `loose` drops the `amr` pin from the
/// authenticated role's trust policy (the classic escalation).
pub(crate) fn classic_world(loose: bool) -> Scenario {
    let mut text = DEMO_SCENARIO.to_string();
    if loose {
        let pin =
            r#","ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}"#;
        assert!(text.contains(pin), "demo trust policy changed");
        text = text.replace(pin, "");
    }
    Scenario::from_text("classic", &text).set("cognito", "allow_classic_flow", true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_needs_the_trust_policy_and_where_it_trusts_the_account_the_callers_policy() {
    // AdminByAccount trusts the account: the caller's own policy must allow sts:AssumeRole.
    let by_account = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let mut text = DEMO_SCENARIO.to_string();
    text.push_str(&format!(
        "\n[[role]]\nname = \"AdminByAccount\"\npolicies = [\"Witness\"]\ntrust_policy = '{by_account}'\n"
    ));
    let world = Scenario::from_text("trust", &text)
        .policy(
            "MayAssume",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/AdminByAccount"}]}"#,
        )
        .iam_user("dev", "AKIALABDEV0000000001", "lab-secret-dev", &["MayAssume"])
        .iam_user("intern", "AKIALABINTERN0000001", "lab-secret-intern", &[]);
    let lab = start_plain(&world).await;
    let ops = Creds::from(OPS);
    let dev = Creds::from(("AKIALABDEV0000000001", "lab-secret-dev"));
    let intern = Creds::from(("AKIALABINTERN0000001", "lab-secret-intern"));
    // FleetAdminRole names ops by ARN: the trust policy alone lets ops in, nobody else.
    let arn = assume(&lab, &ops, "FleetAdminRole").await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/FleetAdminRole/canary-probe"
    );
    let (c, m) = assume(&lab, &dev, "FleetAdminRole").await.unwrap_err();
    assert_eq!(c, "AccessDenied");
    assert_eq!(
        m,
        "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/FleetAdminRole"
    );
    // Account trust: dev's policy allows it, the intern's does not, ops's (iot:*) does not.
    assert!(assume(&lab, &dev, "AdminByAccount").await.is_ok());
    assert_eq!(
        assume(&lab, &intern, "AdminByAccount").await.unwrap_err().0,
        "AccessDenied"
    );
    assert_eq!(
        assume(&lab, &ops, "AdminByAccount").await.unwrap_err().0,
        "AccessDenied"
    );
    // A signed-in user and a guest (enhanced flow) cannot reach the admin role either.
    let tok = id_token(&lab, CLIENT, "bob", "bob-lab-password-1").await;
    let (_, bob, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
    assert_eq!(
        assume(&lab, &bob, "FleetAdminRole").await.unwrap_err().0,
        "AccessDenied"
    );
    let (_, guest, _) = identity_credentials(&lab, POOL, None).await;
    assert_eq!(
        assume(&lab, &guest, "FleetAdminRole").await.unwrap_err().0,
        "AccessDenied"
    );
    // The admin session works (iot:* through the role): connect with any client id.
    let admin = sts(&lab, &ops)
        .assume_role()
        .role_arn(role_arn("FleetAdminRole"))
        .role_session_name("ops-admin")
        .send()
        .await
        .unwrap();
    let c = admin.credentials().unwrap();
    let admin = Creds {
        akid: c.access_key_id().into(),
        secret: c.secret_access_key().into(),
        token: Some(c.session_token().into()),
    };
    drop(connect_ok(&lab, &admin, "fleet-admin-1").await);
    lab.shutdown().await;
}

pub(crate) async fn guest_id(lab: &RunningLab) -> String {
    cognito_identity(lab)
        .get_id()
        .identity_pool_id(POOL)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string()
}

pub(crate) async fn open_id_token(
    lab: &RunningLab,
    id: &str,
    login: Option<&str>,
) -> Result<String, (String, String)> {
    let mut req = cognito_identity(lab).get_open_id_token().identity_id(id);
    if let Some(t) = login {
        req = req.logins(PROVIDER, t);
    }
    req.send()
        .await
        .map(|o| o.token().unwrap().to_string())
        .map_err(|e| code(&e.into_service_error()))
}

pub(crate) async fn web_identity(
    lab: &RunningLab,
    token: &str,
    role: &str,
) -> Result<String, (String, String)> {
    // Unsigned, as apps call it: no credentials on the client.
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(&lab.endpoints.sts)
            .build(),
    );
    client
        .assume_role_with_web_identity()
        .role_arn(role_arn(role))
        .role_session_name("web-probe")
        .web_identity_token(token)
        .send()
        .await
        .map(|o| o.assumed_role_user().unwrap().arn().to_string())
        .map_err(|e| code(&e.into_service_error()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_basic_flow_is_refused_unless_the_pool_allows_it() {
    let lab = start_plain(&Scenario::demo()).await;
    let gid = guest_id(&lab).await;
    let (c, m) = open_id_token(&lab, &gid, None).await.unwrap_err();
    assert_eq!(c, "InvalidParameterException");
    assert_eq!(
        m,
        "Basic (classic) flow is not enabled, please use enhanced flow."
    );
    let tok = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
    let (aid, _, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
    let (c, _) = open_id_token(&lab, &aid, Some(&tok)).await.unwrap_err();
    assert_eq!(c, "InvalidParameterException");
    // A forged token is no web identity.
    let (c, _) = web_identity(&lab, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "CognitoAuthRole")
        .await
        .unwrap_err();
    assert_eq!(c, "InvalidIdentityToken");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_trust_pins_amr_or_lets_guests_escalate() {
    for loose in [false, true] {
        let lab = start_plain(&classic_world(loose)).await;
        let gid = guest_id(&lab).await;
        let guest_token = open_id_token(&lab, &gid, None).await.unwrap();
        // The guest role: guests may (their own role, no scope-down in the basic flow).
        let arn = web_identity(&lab, &guest_token, "CognitoGuestRole")
            .await
            .unwrap();
        assert_eq!(
            arn,
            "arn:aws:sts::123456789012:assumed-role/CognitoGuestRole/web-probe"
        );
        // The authenticated role: only when its trust policy does not pin amr.
        let r = web_identity(&lab, &guest_token, "CognitoAuthRole").await;
        if loose {
            assert!(r.is_ok(), "loose trust: {r:?}");
        } else {
            assert_eq!(
                r.unwrap_err(),
                (
                    "AccessDenied".to_string(),
                    "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_string()
                )
            );
        }
        // A signed-in user reaches the authenticated role, never the admin role.
        let tok = id_token(&lab, CLIENT, "alice", "alice-lab-password-1").await;
        let (aid, _, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
        let user_token = open_id_token(&lab, &aid, Some(&tok)).await.unwrap();
        assert!(
            web_identity(&lab, &user_token, "CognitoAuthRole")
                .await
                .is_ok()
        );
        assert_eq!(
            web_identity(&lab, &user_token, "FleetAdminRole")
                .await
                .unwrap_err()
                .0,
            "AccessDenied"
        );
        // The guest role pins amr = unauthenticated: a signed-in token is refused there.
        assert_eq!(
            web_identity(&lab, &user_token, "CognitoGuestRole")
                .await
                .unwrap_err()
                .0,
            "AccessDenied"
        );
        lab.shutdown().await;
    }
}

pub(crate) async fn custom_role(
    lab: &RunningLab,
    user: &str,
    pw: &str,
    role: &str,
) -> Result<(), (String, String)> {
    let tok = id_token(lab, CLIENT, user, pw).await;
    let id = cognito_identity(lab)
        .get_id()
        .identity_pool_id(POOL)
        .logins(PROVIDER, &tok)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_string();
    custom_role_with(lab, &id, &tok, role).await
}

/// GetCredentialsForIdentity with `CustomRoleArn` for a signed-in identity.
pub(crate) async fn custom_role_with(
    lab: &RunningLab,
    id: &str,
    tok: &str,
    role: &str,
) -> Result<(), (String, String)> {
    cognito_identity(lab)
        .get_credentials_for_identity()
        .identity_id(id)
        .logins(PROVIDER, tok)
        .custom_role_arn(role_arn(role))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e.into_service_error()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_role_arn_only_names_a_role_from_the_token() {
    let lab = start_plain(&Scenario::demo()).await;
    // bob's token carries cognito:roles = [CognitoAuthRole] (group `residents`).
    custom_role(&lab, "bob", "bob-lab-password-1", "CognitoAuthRole")
        .await
        .unwrap();
    let (c, _) = custom_role(&lab, "bob", "bob-lab-password-1", "FleetAdminRole")
        .await
        .unwrap_err();
    assert_eq!(c, "NotAuthorizedException");
    lab.shutdown().await;

    // A pool without "choose role from token" refuses CustomRoleArn outright.
    let lab = start_plain(&Scenario::demo().set("cognito", "role_from_token", false)).await;
    let (c, _) = custom_role(&lab, "bob", "bob-lab-password-1", "CognitoAuthRole")
        .await
        .unwrap_err();
    assert_eq!(c, "InvalidParameterException");
    lab.shutdown().await;

    // A token role whose trust policy refuses the pool: Cognito's configuration error.
    let text = DEMO_SCENARIO.replace(
        "role = \"CognitoAuthRole\"\nprecedence = 1",
        "role = \"FleetAdminRole\"\nprecedence = 1",
    );
    let lab = start_plain(&Scenario::from_text("admin-group", &text)).await;
    let (c, m) = custom_role(&lab, "bob", "bob-lab-password-1", "FleetAdminRole")
        .await
        .unwrap_err();
    assert_eq!(c, "InvalidIdentityPoolConfigurationException");
    assert_eq!(
        m,
        "Invalid identity pool configuration. Check assigned IAM roles for this pool."
    );
    lab.shutdown().await;
}

/// USER_SRP_AUTH with the `aws-cognito-srp` client (what the daemon uses).
pub(crate) async fn srp_sign_in(
    lab: &RunningLab,
    user: &str,
    password: &str,
    secret: Option<&str>,
) -> Result<String, (String, String)> {
    use aws_cognito_srp::{SrpClient, User};
    let srp = SrpClient::new(User::new(USER_POOL, user, password), CLIENT, secret);
    let p = srp.get_auth_parameters();
    let idp = cognito_idp(lab);
    let mut req = idp
        .initiate_auth()
        .auth_flow(AuthFlowType::UserSrpAuth)
        .client_id(CLIENT)
        .auth_parameters("USERNAME", &p.username)
        .auth_parameters("SRP_A", &p.a);
    if let Some(h) = srp.get_secret_hash() {
        req = req.auth_parameters("SECRET_HASH", h);
    }
    let out = req
        .send()
        .await
        .map_err(|e| code(&e.into_service_error()))?;
    assert_eq!(
        out.challenge_name(),
        Some(&ChallengeNameType::PasswordVerifier)
    );
    let cp = out.challenge_parameters().unwrap();
    let uid = &cp["USER_ID_FOR_SRP"];
    let v = srp
        .verify(&cp["SECRET_BLOCK"], uid, &cp["SALT"], &cp["SRP_B"])
        .unwrap();
    let mut resp = idp
        .respond_to_auth_challenge()
        .challenge_name(ChallengeNameType::PasswordVerifier)
        .client_id(CLIENT)
        .challenge_responses("USERNAME", uid)
        .challenge_responses("PASSWORD_CLAIM_SECRET_BLOCK", v.password_claim_secret_block)
        .challenge_responses("PASSWORD_CLAIM_SIGNATURE", v.password_claim_signature)
        .challenge_responses("TIMESTAMP", v.timestamp);
    if let Some(h) = srp.get_secret_hash() {
        resp = resp.challenge_responses("SECRET_HASH", h);
    }
    let out = resp
        .send()
        .await
        .map_err(|e| code(&e.into_service_error()))?;
    Ok(out
        .authentication_result()
        .unwrap()
        .id_token()
        .unwrap()
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_srp_auth_signs_in_and_a_wrong_password_is_refused() {
    // A production-like app client: SRP and refresh only, with a client secret.
    let world = Scenario::demo_srp_only();
    let lab = start_plain(&world).await;
    let secret = Some("lab-client-secret");
    let tok = srp_sign_in(&lab, "alice", "alice-lab-password-1", secret)
        .await
        .unwrap();
    // The id token works in the identity pool like a password sign-in's.
    let (id, creds, _) = identity_credentials(&lab, POOL, Some((PROVIDER, &tok))).await;
    drop(connect_ok(&lab, &creds, &format!("{id}-srp")).await);
    // Wrong password, unknown user: the same refusal.
    let refused = (
        "NotAuthorizedException".to_string(),
        "Incorrect username or password.".to_string(),
    );
    assert_eq!(
        srp_sign_in(&lab, "alice", "wrong", secret)
            .await
            .unwrap_err(),
        refused
    );
    assert_eq!(
        srp_sign_in(&lab, "zed", "whatever", secret)
            .await
            .unwrap_err(),
        refused
    );
    // No SECRET_HASH for a client with a secret.
    let (c, m) = srp_sign_in(&lab, "alice", "alice-lab-password-1", None)
        .await
        .unwrap_err();
    assert_eq!(c, "NotAuthorizedException");
    assert_eq!(
        m,
        format!("Unable to verify secret hash for client {CLIENT}")
    );
    // The password flow is not allowed for this client.
    let e = cognito_idp(&lab)
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(CLIENT)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", "alice-lab-password-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        (
            "InvalidParameterException".to_string(),
            "USER_PASSWORD_AUTH flow not enabled for this client".to_string()
        )
    );
    lab.shutdown().await;
}

/// The guest role may call sts:AssumeRole on a role that trusts the account. Enhanced-flow
/// guests lose sts:* through Cognito's scope-down; the same role reached by the basic flow
/// (GetOpenIdToken + AssumeRoleWithWebIdentity) has no scope-down and gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_scope_down_removes_sts_but_the_basic_flow_does_not() {
    let mut text = DEMO_SCENARIO.replace(
        "policies = [\"GuestStatusFeed\"]",
        "policies = [\"GuestStatusFeed\", \"GuestMayAssume\"]",
    );
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]}"#;
    text.push_str(&format!(
        "\n[[role]]\nname = \"Target\"\npolicies = [\"GuestStatusFeed\"]\ntrust_policy = '{trust}'\n"
    ));
    let world = Scenario::from_text("guest-sts", &text)
        .policy(
            "GuestMayAssume",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/Target"}]}"#,
        )
        .set("cognito", "allow_classic_flow", true);
    let lab = start_plain(&world).await;
    // Enhanced flow: the scope-down has no sts:*.
    let (gid, guest, _) = identity_credentials(&lab, POOL, None).await;
    assert_eq!(
        assume(&lab, &guest, "Target").await.unwrap_err().0,
        "AccessDenied"
    );
    // Basic flow: the same guest, the same role, no scope-down.
    let token = open_id_token(&lab, &gid, None).await.unwrap();
    let unsigned = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(&lab.endpoints.sts)
            .build(),
    );
    let out = unsigned
        .assume_role_with_web_identity()
        .role_arn(role_arn("CognitoGuestRole"))
        .role_session_name("basic-guest")
        .web_identity_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.subject_from_web_identity_token(), Some(gid.as_str()));
    let c = out.credentials().unwrap();
    let basic = Creds {
        akid: c.access_key_id().into(),
        secret: c.secret_access_key().into(),
        token: Some(c.session_token().into()),
    };
    let arn = assume(&lab, &basic, "Target").await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/Target/canary-probe"
    );
    lab.shutdown().await;
}
