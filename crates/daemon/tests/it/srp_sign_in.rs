//! USER_SRP_AUTH end to end: the daemon's `cognito` and `credential-endpoint` identities sign
//! in to a lab user pool whose app client (like many production clients) allows only SRP and
//! refresh and has a client secret; the credentials they get open the door a connect control
//! needs. The same pool refuses `auth_flow = "user_password"` with Cognito's error.

use std::time::Duration;

use iot_canary_daemon::identity::{
    Endpoints, Env, FailureReason, IdentityConfig, IdentityContext, IdentitySet, RefreshPolicy,
};
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::mqtt::connect_ok;
use iot_canary_testkit::scenario::Scenario;
use iot_canary_testkit::sigv4::Creds;

const WAIT: Duration = Duration::from_secs(60);

fn identities(text: &str) -> Vec<IdentityConfig> {
    #[derive(serde::Deserialize)]
    struct Doc {
        identity: Vec<IdentityConfig>,
    }
    toml::from_str::<Doc>(text)
        .unwrap_or_else(|e| panic!("identity config invalid: {e}"))
        .identity
}

const LOGIN: &str = r#"user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
username = "alice"
password_env = "ALICE_PASSWORD"
app_client_secret_env = "CLIENT_SECRET"
"#;

#[tokio::test]
async fn the_daemon_signs_in_with_srp_and_the_password_flow_is_refused_where_the_client_forbids_it()
{
    let world = Scenario::demo_srp_only();
    let lab = start_plain(&world).await;
    let url = lab.endpoints.sts.clone();
    let ctx = IdentityContext::new(
        "us-east-1",
        Endpoints {
            sts: Some(url.clone()),
            cognito_identity: Some(url.clone()),
            cognito_idp: Some(url),
            ..Endpoints::default()
        },
    )
    .with_env(Env::isolated([
        ("ALICE_PASSWORD", "alice-lab-password-1"),
        ("CLIENT_SECRET", "lab-client-secret"),
    ]));
    let text = format!(
        r#"
[[identity]]
name = "alice-srp"
kind = "cognito"
identity_pool_id = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de"
{LOGIN}
[[identity]]
name = "alice-password"
kind = "cognito"
identity_pool_id = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de"
auth_flow = "user_password"
{LOGIN}
[[identity]]
name = "alice-vended"
kind = "credential-endpoint"
url = "{}"
auth_flow = "user_srp"
{LOGIN}"#,
        lab.endpoints.vending
    );
    let set = IdentitySet::build(&identities(&text), &ctx, &RefreshPolicy::default())
        .expect("identity set builds");
    let current = |name: &'static str| {
        let cache = set
            .get(name)
            .unwrap_or_else(|| panic!("no identity {name}"));
        async move {
            tokio::time::timeout(WAIT, cache.current())
                .await
                .unwrap_or_else(|_| panic!("{name}: no answer within {WAIT:?}"))
        }
    };

    // SRP (the default flow): identity-pool credentials that pass a connect control.
    let srp = current("alice-srp").await.expect("SRP sign-in");
    let id = srp.identity_id.clone().expect("identity id");
    let creds = Creds {
        akid: srp.access_key_id.clone(),
        secret: srp.secret_access_key.expose().to_string(),
        token: srp.session_token.as_ref().map(|t| t.expose().to_string()),
    };
    drop(connect_ok(&lab, &creds, &format!("{id}-srp-control")).await);

    // The vending API with an SRP sign-in: its session connects as the user.
    let vended = current("alice-vended").await.expect("vended credentials");
    let creds = Creds {
        akid: vended.access_key_id.clone(),
        secret: vended.secret_access_key.expose().to_string(),
        token: vended
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
    };
    drop(connect_ok(&lab, &creds, "alice-vended-control").await);

    // USER_PASSWORD_AUTH is not allowed for this app client: Cognito's error, a config
    // failure (fix the identity's auth_flow), the password nowhere in it.
    let e = current("alice-password").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Config, "{e}");
    assert!(
        e.message.contains(
            "InvalidParameterException: USER_PASSWORD_AUTH flow not enabled for this client"
        ),
        "{e}"
    );
    assert!(!e.message.contains("alice-lab-password-1"), "{e}");
    lab.shutdown().await;
}
