//! The lab scenario file (interface: the keys shown in ARCHITECTURE.md are fixed).
//! Serde types only here; loading and validation with file/line/key errors live beside them.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub region: String,
    pub account_id: String,
    /// name -> JSON policy document (inline string) or `{ file = "..." }`.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySource>,
    #[serde(default)]
    pub iam_user: Vec<IamUser>,
    #[serde(default)]
    pub role: Vec<Role>,
    #[serde(default)]
    pub cognito: Option<Cognito>,
    #[serde(default)]
    pub thing: Vec<Thing>,
    #[serde(default)]
    pub vending: Option<Vending>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PolicySource {
    Inline(String),
    File { file: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamUser {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub policies: Vec<String>,
    /// Who may AssumeRole: IAM user names, role names, or "*". Empty: nobody.
    #[serde(default)]
    pub trusted: Vec<String>,
    /// Upper bound for DurationSeconds (AWS default 3600).
    #[serde(default)]
    pub max_session_duration: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cognito {
    pub user_pool_id: String,
    pub app_client_id: String,
    pub identity_pool_id: String,
    /// Role names (from `[[role]]`).
    pub authenticated_role: String,
    #[serde(default)]
    pub unauthenticated_role: Option<String>,
    /// Lifetime of issued credentials and tokens, seconds (AWS: 3600).
    #[serde(default)]
    pub credentials_ttl: Option<u64>,
    #[serde(default)]
    pub user: Vec<CognitoUser>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CognitoUser {
    pub username: String,
    pub password: String,
    /// IoT policy names attached to this user's identity id.
    #[serde(default)]
    pub iot_policies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thing {
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub shared_with: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vending {
    /// The broad role the vending API assumes on the caller's behalf.
    pub role: String,
    /// Session policy template (JSON with placeholders, see docs/lab.md).
    pub session_policy_template: String,
    #[serde(default)]
    pub credentials_ttl: Option<u64>,
}
