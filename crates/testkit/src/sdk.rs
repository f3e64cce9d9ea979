//! The real AWS SDK clients (STS, Cognito) pointed at the lab's identity services.

use std::time::{Duration, SystemTime};

use iot_canary_lab::RunningLab;

use crate::sigv4::{Creds, sdk_creds};

/// A client of SDK crate `$sdk` for us-east-1 at `$endpoint` (optionally signing with `$creds`).
macro_rules! lab_client {
    ($sdk:ident, $endpoint:expr $(, $creds:expr)?) => {{
        let builder = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .endpoint_url($endpoint);
        $(let builder = builder.credentials_provider($creds);)?
        $sdk::Client::from_conf(builder.build())
    }};
}

pub fn sts(lab: &RunningLab, c: &Creds) -> aws_sdk_sts::Client {
    lab_client!(aws_sdk_sts, &lab.endpoints.sts, sdk_creds(c))
}

pub fn cognito_idp(lab: &RunningLab) -> aws_sdk_cognitoidentityprovider::Client {
    lab_client!(aws_sdk_cognitoidentityprovider, &lab.endpoints.cognito_idp)
}

pub fn cognito_identity(lab: &RunningLab) -> aws_sdk_cognitoidentity::Client {
    lab_client!(aws_sdk_cognitoidentity, &lab.endpoints.cognito_identity)
}

/// InitiateAuth(USER_PASSWORD_AUTH) → id token.
pub async fn id_token(lab: &RunningLab, client_id: &str, user: &str, password: &str) -> String {
    let out = cognito_idp(lab)
        .initiate_auth()
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
        .client_id(client_id)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .expect("InitiateAuth");
    out.authentication_result()
        .and_then(|r| r.id_token())
        .expect("id token")
        .to_string()
}

/// GetId + GetCredentialsForIdentity; `login` = (provider name, id token) or None for a guest.
pub async fn identity_credentials(
    lab: &RunningLab,
    pool: &str,
    login: Option<(&str, &str)>,
) -> (String, Creds, SystemTime) {
    let ci = cognito_identity(lab);
    let mut get_id = ci.get_id().identity_pool_id(pool);
    if let Some((p, t)) = login {
        get_id = get_id.logins(p, t);
    }
    let id = get_id
        .send()
        .await
        .expect("GetId")
        .identity_id()
        .unwrap()
        .to_string();
    let mut gc = ci.get_credentials_for_identity().identity_id(&id);
    if let Some((p, t)) = login {
        gc = gc.logins(p, t);
    }
    let out = gc.send().await.expect("GetCredentialsForIdentity");
    let c = out.credentials().expect("credentials");
    let exp = c.expiration().expect("expiration");
    let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(exp.secs() as u64);
    (
        id,
        Creds {
            akid: c.access_key_id().unwrap().into(),
            secret: c.secret_key().unwrap().into(),
            token: c.session_token().map(str::to_string),
        },
        exp,
    )
}
