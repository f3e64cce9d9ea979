//! End-to-end tests of every identity kind against the lab's identity plane (STS, Cognito user
//! pool + identity pool, vending API), through the real AWS SDK clients with endpoint
//! overrides, plus refresh across a short credential TTL and STS/Cognito outages (through a
//! switchable TCP relay) with recovery.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use iot_canary_daemon::identity::{
    CredentialCache, Endpoints, Env, FailureReason, IdentityConfig, IdentityContext, IdentitySet,
    RefreshPolicy,
};
use iot_canary_lab::RunningLab;
use iot_canary_lab::state::{Principal, cognito_identity_id};
use iot_canary_testkit::config;
use iot_canary_testkit::lab::start_plain;
use iot_canary_testkit::net::addr_of;
use iot_canary_testkit::relay::{self, Relay};
use iot_canary_testkit::scenario::{
    DEMO_APP_CLIENT as APP_CLIENT, DEMO_POOL as POOL, DEMO_USER_POOL as USER_POOL, OPS, Scenario,
};

/// Bound on every wait (generous for a loaded 2-core machine).
const WAIT: Duration = Duration::from_secs(60);

const OPS_KEY: &str = OPS.0;
const OPS_SECRET: &str = OPS.1;

/// The demo world plus a role `ops` may assume, with the Cognito TTL set (seconds).
async fn start_lab(cognito_ttl: Option<u64>) -> RunningLab {
    let mut scenario = Scenario::demo().role("DeviceAccess", &["VendingBroad"], &["ops"]);
    if let Some(ttl) = cognito_ttl {
        scenario = scenario.set("cognito", "credentials_ttl", ttl as i64);
    }
    start_plain(&scenario).await
}

fn endpoints_of(url: &str) -> Endpoints {
    Endpoints {
        sts: Some(url.to_owned()),
        cognito_identity: Some(url.to_owned()),
        cognito_idp: Some(url.to_owned()),
        ..Default::default()
    }
}

/// Secrets handed over through an env overlay (no process-env mutation).
fn env() -> Env {
    Env::isolated([
        ("OPS_KEY", OPS_KEY),
        ("OPS_SECRET", OPS_SECRET),
        ("ALICE_PASSWORD", "alice-lab-password-1"),
        ("BOB_PASSWORD", "bob-lab-password-1"),
        ("WRONG_PASSWORD", "not-alices-password"),
    ])
}

fn identities(toml_text: &str) -> Vec<IdentityConfig> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        identity: Vec<IdentityConfig>,
    }
    toml::from_str::<Doc>(toml_text)
        .unwrap_or_else(|e| panic!("identity config invalid: {e}"))
        .identity
}

/// ops (static), alice (Cognito) and guest from the fixtures, plus assume-role identities
/// (one whose role trusts ops, one whose role does not) and alice with a wrong password.
fn identities_text() -> String {
    config::identities(&["ops", "alice", "guest"])
        + r#"
[[identity]]
name = "dev"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/DeviceAccess"
session_name = "canary-dev"
source = "ops"
duration = "15m"
session_policy = '''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${session_name}"}]}'''

[[identity]]
name = "untrusted"
kind = "assume-role"
role_arn = "arn:aws:iam::123456789012:role/VendingRole"
session_name = "canary-untrusted"
source = "ops"

[[identity]]
name = "alice-wrong-password"
kind = "cognito"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de"
username = "alice"
password_env = "WRONG_PASSWORD"
"#
}

fn build(lab_url: &str, extra: &str, policy: RefreshPolicy) -> IdentitySet {
    let ctx = IdentityContext::new("us-east-1", endpoints_of(lab_url)).with_env(env());
    IdentitySet::build(
        &identities(&format!("{}{extra}", identities_text())),
        &ctx,
        &policy,
    )
    .expect("identity set builds")
}

async fn current(
    set: &IdentitySet,
    name: &str,
) -> Result<
    Arc<iot_canary_daemon::identity::SessionCredentials>,
    iot_canary_daemon::identity::IdentityError,
> {
    let cache = set
        .get(name)
        .unwrap_or_else(|| panic!("no identity {name}"));
    tokio::time::timeout(WAIT, cache.current())
        .await
        .unwrap_or_else(|_| panic!("{name}: current() did not return within {WAIT:?}"))
}

fn principal(lab: &RunningLab, access_key_id: &str) -> Principal {
    lab.state()
        .lookup_access_key(access_key_id)
        .unwrap_or_else(|| panic!("the lab did not issue {access_key_id}"))
        .principal
}

#[tokio::test]
async fn assume_role_signed_by_a_static_identity_carries_the_session_policy() {
    let lab = start_lab(None).await;
    let set = build(&lab.endpoints.sts, "", RefreshPolicy::default());

    let ops = current(&set, "ops").await.expect("static ops");
    assert_eq!(ops.access_key_id, OPS_KEY);
    assert_eq!(ops.expiration, None);

    let before = SystemTime::now();
    let dev = current(&set, "dev").await.expect("assume-role dev");
    assert!(dev.access_key_id.starts_with("ASIA"), "{dev:?}");
    assert!(dev.session_token.is_some());
    let exp = dev.expiration.expect("STS credentials expire");
    let lifetime = exp.duration_since(before).unwrap();
    assert!(
        lifetime > Duration::from_secs(850) && lifetime <= Duration::from_secs(905),
        "15m requested, got {lifetime:?}"
    );
    match principal(&lab, &dev.access_key_id) {
        Principal::AssumedRole {
            role,
            session_name,
            session_policy,
        } => {
            assert_eq!(role, "DeviceAccess");
            assert_eq!(session_name, "canary-dev");
            assert!(session_policy.is_some(), "the session policy reached STS");
        }
        other => panic!("unexpected principal {other:?}"),
    }
    let st = set.get("dev").unwrap().status();
    assert_eq!(st.fetches, 1);
    assert!(st.expiry_timestamp_seconds().is_some());

    let e = current(&set, "untrusted").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Auth, "{e}");
    assert!(e.message.contains("AccessDenied"), "{e}");
    assert_eq!(
        set.get("untrusted").unwrap().status().failures[&FailureReason::Auth],
        1
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_static_secret_is_an_auth_failure_of_the_role_without_leaking_it() {
    let lab = start_lab(None).await;
    let ctx = IdentityContext::new("us-east-1", endpoints_of(&lab.endpoints.sts)).with_env(
        Env::isolated([
            ("OPS_KEY", OPS_KEY),
            ("OPS_SECRET", "definitely-wrong-secret"),
        ]),
    );
    let set = IdentitySet::build(
        &identities(&identities_text()),
        &ctx,
        &RefreshPolicy::default(),
    )
    .expect("builds");
    let e = current(&set, "dev").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Auth, "{e}");
    assert!(!e.message.contains("definitely-wrong-secret"), "{e}");
    lab.shutdown().await;
}

#[tokio::test]
async fn cognito_user_and_guest_get_identity_pool_credentials() {
    let lab = start_lab(None).await;
    let set = build(&lab.endpoints.sts, "", RefreshPolicy::default());

    // Many probes asking at once share one sign-in.
    let cache = set.get("alice").unwrap();
    let all = futures_util::future::join_all((0..8).map(|_| cache.current())).await;
    let alice = all[0].clone().expect("cognito alice");
    assert!(
        all.iter()
            .all(|r| r.as_ref().unwrap().access_key_id == alice.access_key_id)
    );
    assert_eq!(cache.status().fetches, 1);
    let want_id = cognito_identity_id("us-east-1", POOL, "alice");
    assert_eq!(alice.identity_id.as_deref(), Some(want_id.as_str()));
    assert_eq!(alice.username.as_deref(), Some("alice"));
    assert!(alice.session_token.is_some() && alice.expiration.is_some());
    assert_eq!(
        principal(&lab, &alice.access_key_id),
        Principal::CognitoAuthenticated {
            identity_id: want_id,
            username: "alice".into()
        }
    );

    let e = current(&set, "alice-wrong-password").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Auth, "{e}");
    // SRP (the default flow) learns of a wrong password when it answers the challenge.
    assert!(
        e.message.contains(
            "RespondToAuthChallenge (PASSWORD_VERIFIER): HTTP 400 NotAuthorizedException"
        ),
        "{e}"
    );
    assert!(!e.message.contains("not-alices-password"), "{e}");

    let guest_cache = set.get("guest").unwrap();
    let guest = current(&set, "guest").await.expect("guest");
    let gid = guest.identity_id.clone().expect("guest identity id");
    assert!(gid.starts_with("us-east-1:"), "{gid}");
    assert!(matches!(
        principal(&lab, &guest.access_key_id),
        Principal::CognitoUnauthenticated { identity_id } if identity_id == gid
    ));
    // A refresh keeps the same guest identity (as an app keeps it on the device).
    guest_cache.invalidate();
    let again = current(&set, "guest").await.expect("guest again");
    assert_eq!(again.identity_id.as_deref(), Some(gid.as_str()));
    assert_ne!(
        again.access_key_id, guest.access_key_id,
        "fresh credentials"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn credential_endpoint_with_cognito_login_and_with_bearer_token_file() {
    let lab = start_lab(None).await;
    let vend = &lab.endpoints.vending;
    let dir = tempfile::tempdir().unwrap();

    // A bearer token the way a deployment would provision it: an id token in a file.
    let idp = aws_sdk_cognitoidentityprovider::Client::from_conf(
        aws_sdk_cognitoidentityprovider::Config::builder()
            .behavior_version(aws_sdk_cognitoidentityprovider::config::BehaviorVersion::latest())
            .region(aws_sdk_cognitoidentityprovider::config::Region::new(
                "us-east-1",
            ))
            .endpoint_url(&lab.endpoints.cognito_idp)
            .build(),
    );
    let out = idp
        .initiate_auth()
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .client_id(APP_CLIENT)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", "alice-lab-password-1")
        .send()
        .await
        .expect("InitiateAuth");
    let token = out
        .authentication_result()
        .unwrap()
        .id_token()
        .unwrap()
        .to_owned();
    let token_file = dir.path().join("alice.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let bad_file = dir.path().join("bad.token");
    std::fs::write(&bad_file, "not-a-jwt").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [&token_file, &bad_file] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    let extra = format!(
        r#"
[[identity]]
name = "bob-vended"
kind = "credential-endpoint"
url = "{vend}"
user_pool_id = "{USER_POOL}"
app_client_id = "{APP_CLIENT}"
username = "bob"
password_env = "BOB_PASSWORD"
client_id_field = "ClientId"

[[identity]]
name = "alice-bearer"
kind = "credential-endpoint"
url = "{vend}"
method = "GET"
bearer_token_file = "{}"

[[identity]]
name = "bad-bearer"
kind = "credential-endpoint"
url = "{vend}"
bearer_token_file = "{}"
"#,
        token_file.display(),
        bad_file.display()
    );
    let set = build(&lab.endpoints.sts, &extra, RefreshPolicy::default());

    let bob = current(&set, "bob-vended").await.expect("vended bob");
    assert_eq!(bob.client_id.as_deref(), Some("bob"));
    assert_eq!(bob.username.as_deref(), Some("bob"));
    assert!(bob.expiration.is_some() && bob.session_token.is_some());
    assert!(matches!(
        principal(&lab, &bob.access_key_id),
        Principal::AssumedRole { role, session_policy: Some(_), .. } if role == "VendingRole"
    ));

    let alice = current(&set, "alice-bearer")
        .await
        .expect("vended alice via bearer");
    assert_eq!(alice.username, None);
    assert!(matches!(
        principal(&lab, &alice.access_key_id),
        Principal::AssumedRole { role, .. } if role == "VendingRole"
    ));

    let e = current(&set, "bad-bearer").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Auth, "{e}");
    assert!(e.message.contains("HTTP 401"), "{e}");
    assert!(!e.message.contains("not-a-jwt"), "{e}");
    lab.shutdown().await;
}

#[tokio::test]
async fn named_profile_from_a_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let config = dir.path().join("config");
    std::fs::write(
        &creds,
        "[canary]\naws_access_key_id = AKIAPROFILE000000001\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    std::fs::write(&config, "[profile canary]\nregion = us-east-1\n").unwrap();
    let text = format!(
        r#"
[[identity]]
name = "p"
kind = "profile"
profile = "canary"
credentials_file = "{}"
config_file = "{}"

[[identity]]
name = "missing"
kind = "profile"
profile = "no-such-profile"
credentials_file = "{}"
config_file = "{}"
"#,
        creds.display(),
        config.display(),
        creds.display(),
        config.display()
    );
    let ctx = IdentityContext::new("us-east-1", Endpoints::default()).with_env(env());
    let set = IdentitySet::build(&identities(&text), &ctx, &RefreshPolicy::default()).unwrap();
    let p = current(&set, "p").await.expect("profile credentials");
    assert_eq!(p.access_key_id, "AKIAPROFILE000000001");
    assert_eq!(p.secret_access_key.expose(), "profile-secret");
    let e = current(&set, "missing").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Config, "{e}");
    assert!(e.message.contains("no-such-profile"), "{e}");
}

#[tokio::test]
async fn cognito_credentials_refresh_across_a_short_lab_ttl() {
    const TTL: u64 = 4;
    let lab = start_lab(Some(TTL)).await;
    let policy = RefreshPolicy {
        min_validity: Duration::from_secs(1),
        ..RefreshPolicy::default()
    };
    let set = build(&lab.endpoints.sts, "", policy);
    let cache = set.get("alice").unwrap();

    let first = current(&set, "alice").await.expect("first credentials");
    let exp1 = first.expiration.expect("expires");
    let left = exp1.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        left <= Duration::from_secs(TTL),
        "lab TTL honoured: {left:?}"
    );
    // Until the refresh point the same credentials are shared.
    let same = current(&set, "alice").await.unwrap();
    if SystemTime::now() + Duration::from_secs(1) < exp1 {
        assert_eq!(same.access_key_id, first.access_key_id);
    }

    // Wait for the lab's own expiry instant (a known time, not a guess; the wire format
    // truncates to whole seconds, so the lab's registered instant is the authority).
    let lab_exp = lab
        .state()
        .lookup_access_key(&first.access_key_id)
        .and_then(|c| c.expiration)
        .expect("the lab registered an expiry");
    let until = lab_exp
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(until + Duration::from_millis(50)).await;
    assert!(
        lab_exp <= lab.state().now(),
        "old credentials expired in the lab"
    );

    let second = current(&set, "alice").await.expect("refreshed credentials");
    assert_ne!(second.access_key_id, first.access_key_id);
    assert!(second.expiration.unwrap() > exp1);
    assert!(second.expiration.unwrap() > lab.state().now());
    assert_eq!(
        second.identity_id, first.identity_id,
        "same Cognito identity"
    );
    let st = cache.status();
    assert_eq!(st.fetches, 2);
    assert!(st.failures.is_empty());
    assert_eq!(
        st.expiry_timestamp_seconds(),
        second
            .expiration
            .and_then(|e| e.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    );
    lab.shutdown().await;
}

/// Waits until the cache's backoff allows the next fetch (a known instant).
async fn wait_retry(cache: &CredentialCache) {
    if let Some(t) = cache.status().retry_not_before {
        let d = t.duration_since(SystemTime::now()).unwrap_or_default();
        assert!(d <= WAIT, "backoff {d:?} too long for the test");
        tokio::time::sleep(d + Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sts_and_cognito_outages_are_classified_then_recover() {
    let lab = start_lab(None).await;
    let (url, relay) = relay::start(addr_of(&lab.endpoints.sts)).await;
    let policy = RefreshPolicy {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        fetch_timeout: Duration::from_secs(2),
        ..RefreshPolicy::default()
    };
    let set = build(&url, "", policy);
    let (dev, alice) = (set.get("dev").unwrap(), set.get("alice").unwrap());

    // Healthy first.
    let dev1 = current(&set, "dev").await.expect("dev through relay");
    let alice1 = current(&set, "alice").await.expect("alice through relay");

    // Connection-level outage: network.
    relay.send(Relay::Down).unwrap();
    dev.invalidate();
    alice.invalidate();
    let e = current(&set, "dev").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Network, "{e}");
    let e = current(&set, "alice").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Network, "{e}");
    // While backing off, callers fail fast with the same classified error.
    let e = current(&set, "alice").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Network, "{e}");
    assert_eq!(alice.status().failures[&FailureReason::Network], 1);
    assert!(!alice.status().usable);

    // The service answers 503: service.
    relay.send(Relay::Unavailable).unwrap();
    wait_retry(dev).await;
    wait_retry(alice).await;
    let e = current(&set, "dev").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Service, "{e}");
    let e = current(&set, "alice").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Service, "{e}");
    assert_eq!(alice.status().consecutive_failures, 2);

    // A stalled service: the cache's fetch timeout classifies it as timeout.
    relay.send(Relay::Stall).unwrap();
    wait_retry(alice).await;
    let e = current(&set, "alice").await.unwrap_err();
    assert_eq!(e.reason, FailureReason::Timeout, "{e}");

    // Recovery after the backoff.
    relay.send(Relay::Up).unwrap();
    wait_retry(dev).await;
    wait_retry(alice).await;
    let dev2 = current(&set, "dev").await.expect("dev recovers");
    let alice2 = current(&set, "alice").await.expect("alice recovers");
    assert_ne!(dev2.access_key_id, dev1.access_key_id);
    assert_ne!(alice2.access_key_id, alice1.access_key_id);
    for cache in [dev, alice] {
        let st = cache.status();
        assert_eq!(st.consecutive_failures, 0);
        assert_eq!(st.last_error, None);
        assert_eq!(st.failures[&FailureReason::Network], 1);
        assert_eq!(st.failures[&FailureReason::Service], 1);
        assert!(st.usable);
    }
    assert_eq!(alice.status().failures[&FailureReason::Timeout], 1);
    lab.shutdown().await;
}
