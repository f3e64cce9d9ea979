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
    /// Realism knobs (docs/realism.md): `profile = "aws"|"chaos"`, `seed`, per-knob overrides.
    /// Absent: off, the lab as it always was.
    #[serde(default)]
    pub realism: Option<crate::realism::RealismSpec>,
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
    /// The role's IAM trust policy (JSON). When set it replaces `trusted`; when absent the
    /// lab derives one: `trusted` names by ARN, and for the identity pool's roles the trust
    /// policy the Cognito console writes (aud = the pool, amr = authenticated/unauthenticated).
    /// docs/lab-identity.md, "Trust policies".
    #[serde(default)]
    pub trust_policy: Option<String>,
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
    /// Lifetime of user-pool id/access tokens, seconds (AWS default 3600); defaults to
    /// `credentials_ttl` when that is set, so one knob expires both in tests.
    #[serde(default)]
    pub token_ttl: Option<u64>,
    #[serde(default)]
    pub user: Vec<CognitoUser>,
    /// The identity pool's `AllowClassicFlow` (default false, as AWS): whether
    /// `GetOpenIdToken` (the basic flow) is served.
    #[serde(default)]
    pub allow_classic_flow: bool,
    /// Authenticated role selection "Choose role from token" (role mapping `Token`): the id
    /// token's `cognito:roles` / `cognito:preferred_role` pick the role and `CustomRoleArn` is
    /// honoured. Default false: the authenticated role, `CustomRoleArn` refused.
    #[serde(default)]
    pub role_from_token: bool,
    /// What `Token` role mapping does when the token names no single role (AWS
    /// `AmbiguousRoleResolution`): `AuthenticatedRole` (default) or `Deny`.
    #[serde(default)]
    pub ambiguous_role_resolution: AmbiguousRoleResolution,
    /// The app client's allowed `InitiateAuth` flows (AWS `ExplicitAuthFlows`, e.g.
    /// `["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]`; the `ALLOW_` prefix is optional).
    /// Absent: every flow the lab implements (password, SRP, refresh).
    #[serde(default)]
    pub explicit_auth_flows: Option<Vec<String>>,
    /// The app client's secret: when set, `SECRET_HASH` is required on every flow.
    #[serde(default)]
    pub app_client_secret: Option<String>,
    /// User-pool groups: their role ARNs become the id token's `cognito:roles` and
    /// `cognito:preferred_role` (lowest `precedence` wins), their names `cognito:groups`.
    #[serde(default)]
    pub group: Vec<CognitoGroup>,
}

/// AWS `RoleMapping.AmbiguousRoleResolution`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AmbiguousRoleResolution {
    #[default]
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CognitoGroup {
    pub name: String,
    /// A `[[role]]` name; its ARN goes into members' `cognito:roles`.
    #[serde(default)]
    pub role: Option<String>,
    /// Lower wins `cognito:preferred_role` (AWS: 0 is highest); absent ranks last.
    #[serde(default)]
    pub precedence: Option<u32>,
    /// `[[cognito.user]]` usernames in the group.
    #[serde(default)]
    pub users: Vec<String>,
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

// ---------------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------------

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::IgnoredAny;
use toml::Spanned;

use iot_canary_policy::Policy;

/// A scenario error names the file, the line/column and the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when the error is not tied to a place in the file (e.g. unreadable file).
    pub line: usize,
    pub column: usize,
    /// Dotted key path (`iam_user[0].policies[1]`), or `-` for whole-file errors.
    pub key: String,
    pub message: String,
}

/// A validated scenario with every policy document parsed.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    /// The file it came from (`<embedded>` for in-memory scenarios).
    pub source: String,
    /// Policy name -> parsed document (from inline JSON or `{ file = ... }`).
    pub policies: BTreeMap<String, Arc<Policy>>,
    /// Raw JSON of each policy (admin API shows it back).
    pub policy_json: BTreeMap<String, String>,
    /// The `[realism]` table resolved (off when absent).
    pub realism: crate::realism::Realism,
    /// Role name -> its trust policy (written, or derived: see `Role::trust_policy`).
    pub trust: BTreeMap<String, Arc<crate::identity::trust::TrustPolicy>>,
}

/// Reads and validates a scenario file; `{ file = ... }` policy paths are relative to it.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        key: "-".into(),
        message: format!("cannot read: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &path.display().to_string(), &base)
}

/// Parses and validates scenario text. `source` is used in error messages, `base_dir` resolves
/// `{ file = ... }` policy references.
pub fn parse(text: &str, source: &str, base_dir: &Path) -> Result<LoadedScenario, ScenarioError> {
    let at = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
        let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ScenarioError {
            file: source.to_string(),
            line,
            column,
            key: key.to_string(),
            message,
        }
    };
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        at(
            e.span(),
            &toml_error_key(e.message()),
            e.message().to_string(),
        )
    })?;
    // A second, lenient pass that keeps the spans of every name reference, so semantic errors
    // point at the exact line (the public serde types stay plain for other modules).
    let spans: Spans =
        toml::from_str(text).map_err(|e| at(e.span(), "-", e.message().to_string()))?;

    if scenario.region.is_empty() || !scenario.region.contains('-') {
        return Err(at(
            spans.region.as_ref().map(Spanned::span),
            "region",
            format!("`{}` is not an AWS region name", scenario.region),
        ));
    }
    if scenario.account_id.len() != 12 || !scenario.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(at(
            spans.account_id.as_ref().map(Spanned::span),
            "account_id",
            "must be 12 digits".into(),
        ));
    }

    let mut policies = BTreeMap::new();
    let mut policy_json = BTreeMap::new();
    for (name, src) in &scenario.policies {
        let key = format!("policies.{name}");
        let span = spans.policies.get(name).map(Spanned::span);
        let json = match src {
            PolicySource::Inline(json) => json.clone(),
            PolicySource::File { file } => {
                let p: PathBuf = base_dir.join(file);
                std::fs::read_to_string(&p).map_err(|e| {
                    at(
                        span.clone(),
                        &key,
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?
            }
        };
        let parsed = Policy::parse(name, &json).map_err(|e| at(span, &key, e.to_string()))?;
        policies.insert(name.clone(), Arc::new(parsed));
        policy_json.insert(name.clone(), json);
    }

    let policy_ref = |r: &Spanned<String>, key: String| -> Result<(), ScenarioError> {
        if scenario.policies.contains_key(r.get_ref()) {
            Ok(())
        } else {
            Err(at(
                Some(r.span()),
                &key,
                format!("unknown policy `{}` (not in [policies])", r.get_ref()),
            ))
        }
    };
    let role_names: Vec<&str> = scenario.role.iter().map(|r| r.name.as_str()).collect();
    let role_ref = |r: &Spanned<String>, key: &str| -> Result<(), ScenarioError> {
        if role_names.contains(&r.get_ref().as_str()) {
            Ok(())
        } else {
            Err(at(
                Some(r.span()),
                key,
                format!("unknown role `{}` (not a [[role]] name)", r.get_ref()),
            ))
        }
    };

    for (i, u) in spans.iam_user.iter().enumerate() {
        for (j, p) in u.policies.iter().enumerate() {
            policy_ref(p, format!("iam_user[{i}].policies[{j}]"))?;
        }
    }
    for (i, r) in spans.role.iter().enumerate() {
        for (j, p) in r.policies.iter().enumerate() {
            policy_ref(p, format!("role[{i}].policies[{j}]"))?;
        }
    }
    if let Some(c) = &spans.cognito {
        if let Some(r) = &c.authenticated_role {
            role_ref(r, "cognito.authenticated_role")?;
        }
        if let Some(r) = &c.unauthenticated_role {
            role_ref(r, "cognito.unauthenticated_role")?;
        }
        for (i, u) in c.user.iter().enumerate() {
            for (j, p) in u.iot_policies.iter().enumerate() {
                policy_ref(p, format!("cognito.user[{i}].iot_policies[{j}]"))?;
            }
        }
    }
    if let Some(v) = &spans.vending
        && let Some(r) = &v.role
    {
        role_ref(r, "vending.role")?;
    }

    // Duplicates would make lookups ambiguous (which secret belongs to this key?).
    let mut seen = std::collections::BTreeSet::new();
    for (i, u) in spans.iam_user.iter().enumerate() {
        if let Some(n) = &u.name
            && !seen.insert(format!("user:{}", n.get_ref()))
        {
            return Err(at(
                Some(n.span()),
                &format!("iam_user[{i}].name"),
                format!("duplicate IAM user `{}`", n.get_ref()),
            ));
        }
        if let Some(k) = &u.access_key_id
            && !seen.insert(format!("key:{}", k.get_ref()))
        {
            return Err(at(
                Some(k.span()),
                &format!("iam_user[{i}].access_key_id"),
                "duplicate access key id".into(),
            ));
        }
    }
    for (i, r) in spans.role.iter().enumerate() {
        if let Some(n) = &r.name
            && !seen.insert(format!("role:{}", n.get_ref()))
        {
            return Err(at(
                Some(n.span()),
                &format!("role[{i}].name"),
                format!("duplicate role `{}`", n.get_ref()),
            ));
        }
    }
    let mut principals: Vec<&str> = scenario.iam_user.iter().map(|u| u.name.as_str()).collect();
    if let Some(c) = &spans.cognito {
        for (i, u) in c.user.iter().enumerate() {
            if let Some(n) = &u.username
                && !seen.insert(format!("cognito:{}", n.get_ref()))
            {
                return Err(at(
                    Some(n.span()),
                    &format!("cognito.user[{i}].username"),
                    format!("duplicate user `{}`", n.get_ref()),
                ));
            }
        }
    }
    if let Some(c) = &scenario.cognito {
        principals.extend(c.user.iter().map(|u| u.username.as_str()));
    }
    for (i, t) in spans.thing.iter().enumerate() {
        if let Some(n) = &t.name
            && !seen.insert(format!("thing:{}", n.get_ref()))
        {
            return Err(at(
                Some(n.span()),
                &format!("thing[{i}].name"),
                format!("duplicate thing `{}`", n.get_ref()),
            ));
        }
        let known = |who: &Spanned<String>, key: String| -> Result<(), ScenarioError> {
            if principals.contains(&who.get_ref().as_str()) {
                Ok(())
            } else {
                Err(at(
                    Some(who.span()),
                    &key,
                    format!(
                        "unknown user `{}` (not a [[cognito.user]] username or [[iam_user]] name)",
                        who.get_ref()
                    ),
                ))
            }
        };
        if let Some(o) = &t.owner {
            known(o, format!("thing[{i}].owner"))?;
        }
        for (j, s) in t.shared_with.iter().enumerate() {
            known(s, format!("thing[{i}].shared_with[{j}]"))?;
        }
    }

    let trust = trust_policies(&scenario, &spans, &at)?;
    if let Some(c) = &spans.cognito {
        for (i, g) in c.group.iter().enumerate() {
            if let Some(r) = &g.role {
                role_ref(r, &format!("cognito.group[{i}].role"))?;
            }
            for (j, u) in g.users.iter().enumerate() {
                let known = scenario
                    .cognito
                    .as_ref()
                    .is_some_and(|c| c.user.iter().any(|x| &x.username == u.get_ref()));
                if !known {
                    return Err(at(
                        Some(u.span()),
                        &format!("cognito.group[{i}].users[{j}]"),
                        format!(
                            "unknown user `{}` (not a [[cognito.user]] username)",
                            u.get_ref()
                        ),
                    ));
                }
            }
        }
        if let Some(flows) = &c.explicit_auth_flows {
            for f in flows.get_ref() {
                if crate::identity::cognito_idp::AuthFlow::from_setting(f).is_none() {
                    return Err(at(
                        Some(flows.span()),
                        "cognito.explicit_auth_flows",
                        format!(
                            "unknown flow `{f}` (ALLOW_USER_PASSWORD_AUTH, ALLOW_USER_SRP_AUTH, ALLOW_REFRESH_TOKEN_AUTH)"
                        ),
                    ));
                }
            }
        }
    }

    let realism = match &scenario.realism {
        Some(spec) => spec.resolve(&crate::realism::Realism::off()).map_err(|e| {
            let span = spans
                .realism
                .get(&e.key)
                .map(Spanned::span)
                .or_else(|| spans.realism.values().next().map(Spanned::span));
            at(span, &format!("realism.{}", e.key), e.message)
        })?,
        None => crate::realism::Realism::off(),
    };

    Ok(LoadedScenario {
        scenario,
        source: source.to_string(),
        policies,
        policy_json,
        realism,
        trust,
    })
}

type At<'a> = dyn Fn(Option<std::ops::Range<usize>>, &str, String) -> ScenarioError + 'a;

/// Every role's trust policy: `trust_policy` parsed (errors name `role[i].trust_policy`), or
/// derived from `trusted` and the identity pool's role assignments.
fn trust_policies(
    scenario: &Scenario,
    spans: &Spans,
    at: &At<'_>,
) -> Result<BTreeMap<String, Arc<crate::identity::trust::TrustPolicy>>, ScenarioError> {
    use crate::identity::trust::TrustPolicy;
    let users: Vec<&str> = scenario.iam_user.iter().map(|u| u.name.as_str()).collect();
    let mut out = BTreeMap::new();
    for (i, role) in scenario.role.iter().enumerate() {
        let policy = match &role.trust_policy {
            Some(json) => TrustPolicy::parse(&role.name, json).map_err(|e| {
                let span = spans
                    .role
                    .get(i)
                    .and_then(|r| r.trust_policy.as_ref())
                    .map(Spanned::span);
                at(
                    span,
                    &format!("role[{i}].trust_policy"),
                    format!("{}: {}", e.path, e.message),
                )
            })?,
            None => {
                let mut amr: Vec<&str> = Vec::new();
                let mut pool_id = "";
                if let Some(c) = &scenario.cognito {
                    pool_id = c.identity_pool_id.as_str();
                    let group_role = c.role_from_token
                        && c.group
                            .iter()
                            .any(|g| g.role.as_deref() == Some(&role.name));
                    if c.authenticated_role == role.name || group_role {
                        amr.push("authenticated");
                    }
                    if c.unauthenticated_role.as_deref() == Some(role.name.as_str()) {
                        amr.push("unauthenticated");
                    }
                }
                let pool_amr = (!amr.is_empty()).then_some((pool_id, amr.as_slice()));
                TrustPolicy::derived(
                    &role.name,
                    &scenario.account_id,
                    &role.trusted,
                    &users,
                    pool_amr,
                )
            }
        };
        out.insert(role.name.clone(), Arc::new(policy));
    }
    Ok(out)
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Pulls the key name out of serde messages such as "unknown field `x`" / "missing field `x`".
fn toml_error_key(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map_or_else(|| "-".to_string(), str::to_string)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Spans {
    region: Option<Spanned<String>>,
    account_id: Option<Spanned<String>>,
    policies: BTreeMap<String, Spanned<IgnoredAny>>,
    iam_user: Vec<SpanUser>,
    role: Vec<SpanRole>,
    cognito: Option<SpanCognito>,
    thing: Vec<SpanThing>,
    vending: Option<SpanVending>,
    realism: BTreeMap<String, Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanUser {
    name: Option<Spanned<String>>,
    access_key_id: Option<Spanned<String>>,
    policies: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanRole {
    name: Option<Spanned<String>>,
    policies: Vec<Spanned<String>>,
    trust_policy: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanGroup {
    role: Option<Spanned<String>>,
    users: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanCognito {
    authenticated_role: Option<Spanned<String>>,
    unauthenticated_role: Option<Spanned<String>>,
    user: Vec<SpanCognitoUser>,
    group: Vec<SpanGroup>,
    explicit_auth_flows: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanCognitoUser {
    username: Option<Spanned<String>>,
    iot_policies: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanThing {
    name: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    shared_with: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanVending {
    role: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"region = "us-east-1"
account_id = "123456789012"
[policies]
P = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
[[iam_user]]
name = "ops"
access_key_id = "AKIA1"
secret_access_key = "x"
policies = ["P"]
"#;

    fn err(text: &str) -> ScenarioError {
        parse(text, "s.toml", Path::new(".")).unwrap_err()
    }

    #[test]
    fn valid_scenario_loads() {
        let l = parse(OK, "s.toml", Path::new(".")).unwrap();
        assert_eq!(l.policies.len(), 1);
        assert_eq!(l.scenario.iam_user[0].name, "ops");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = err(&format!("{OK}colour = \"red\"\n"));
        assert_eq!(e.file, "s.toml");
        assert_eq!(e.key, "colour");
        assert_eq!(e.line, 10, "{e}");
    }

    #[test]
    fn unknown_policy_reference_points_at_the_reference() {
        let e = err(&OK.replace("policies = [\"P\"]", "policies = [\"P\", \"Q\"]"));
        assert_eq!(e.key, "iam_user[0].policies[1]");
        assert_eq!(e.line, 9);
        assert!(e.message.contains("`Q`"), "{e}");
    }

    #[test]
    fn policy_file_is_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.json"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
        )
        .unwrap();
        let text = OK.replace(
            "P = '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}'",
            "P = { file = \"p.json\" }",
        );
        assert!(text.contains("file ="));
        let path = dir.path().join("s.toml");
        std::fs::write(&path, &text).unwrap();
        let l = load(&path).unwrap();
        assert!(l.policy_json["P"].contains("iot:*"));
        std::fs::remove_file(dir.path().join("p.json")).unwrap();
        let e = load(&path).unwrap_err();
        assert_eq!(e.key, "policies.P");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn bad_account_and_duplicates_are_errors() {
        assert_eq!(err(&OK.replace("123456789012", "12")).key, "account_id");
        let dup = format!(
            "{OK}[[iam_user]]\nname = \"ops\"\naccess_key_id = \"AKIA2\"\nsecret_access_key = \"y\"\n"
        );
        let e = err(&dup);
        assert_eq!(e.key, "iam_user[1].name");
        assert_eq!(e.line, 11);
    }

    #[test]
    fn thing_owner_must_be_a_known_user() {
        let e = err(&format!(
            "{OK}[[thing]]\nname = \"lamp\"\nowner = \"mallory\"\n"
        ));
        assert_eq!(e.key, "thing[0].owner");
        assert_eq!(e.line, 12);
    }

    #[test]
    fn realism_table_resolves_and_bad_knobs_name_line_and_key() {
        let l = parse(
            &format!("{OK}[realism]\nprofile = \"aws\"\nseed = 3\nqos0_drop = 0.25\n"),
            "s.toml",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(l.realism.profile, crate::realism::Profile::Aws);
        assert_eq!((l.realism.seed, l.realism.qos0_drop), (3, 0.25));
        assert!(
            parse(OK, "s.toml", Path::new("."))
                .unwrap()
                .realism
                .is_off()
        );
        let e = err(&format!("{OK}[realism]\nseed = 1\nlate_ack = 2.0\n"));
        assert_eq!((e.key.as_str(), e.line), ("realism.late_ack", 12), "{e}");
        let e = err(&format!("{OK}[realism]\nactivation_delay = \"soon\"\n"));
        assert_eq!(e.line, 11, "{e}");
        assert!(e.message.contains("not a duration"), "{e}");
        let e = err(&format!("{OK}[realism]\nlatency = \"1s\"\n"));
        assert_eq!(e.key, "latency", "{e}");
    }

    const POOL: &str = r#"
[[role]]
name = "Auth"
[cognito]
user_pool_id = "us-east-1_P"
app_client_id = "c"
identity_pool_id = "us-east-1:pool"
authenticated_role = "Auth"
[[cognito.user]]
username = "alice"
password = "pw"
"#;

    #[test]
    fn role_path_keys_are_validated_with_line_and_key() {
        // A trust policy without Principal.
        let e = err(&format!(
            "{OK}[[role]]\nname = \"R\"\ntrust_policy = '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\"}}]}}'\n"
        ));
        assert_eq!(
            (e.key.as_str(), e.line),
            ("role[0].trust_policy", 12),
            "{e}"
        );
        assert!(
            e.message.contains("Missing required field Principal"),
            "{e}"
        );
        // A group member who is not a user, a group role that is not a role.
        let e = err(&format!(
            "{OK}{POOL}[[cognito.group]]\nname = \"g\"\nusers = [\"mallory\"]\n"
        ));
        assert_eq!(e.key, "cognito.group[0].users[0]", "{e}");
        let e = err(&format!(
            "{OK}{POOL}[[cognito.group]]\nname = \"g\"\nrole = \"Nope\"\n"
        ));
        assert_eq!(e.key, "cognito.group[0].role", "{e}");
        // An auth flow Cognito does not have.
        let e = err(&format!("{OK}{POOL}").replace(
            "authenticated_role = \"Auth\"",
            "authenticated_role = \"Auth\"\nexplicit_auth_flows = [\"ALLOW_MAGIC\"]",
        ));
        assert_eq!(e.key, "cognito.explicit_auth_flows", "{e}");
        assert!(e.message.contains("ALLOW_MAGIC"), "{e}");
        // Valid: derived trust for the pool role, written trust for another.
        let l = parse(&format!("{OK}{POOL}"), "s.toml", Path::new(".")).unwrap();
        assert!(l.trust.contains_key("Auth"));
    }

    #[test]
    fn unreadable_file_is_an_error_not_a_panic() {
        let e = load(Path::new("/nonexistent/s.toml")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("cannot read"));
    }
}
