//! STS over the awsQuery protocol: request parsing, AssumeRole decisions, XML responses.
//! Pure: the caller supplies the scenario, the authenticated caller and the time.

use std::time::{Duration, SystemTime};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::errors::{AwsError, xml_escape};
use crate::scenario::{Role, Scenario};

/// AWS: "The plaintext that you use for both inline and managed session policies can't
/// exceed 2,048 characters" (the `Policy` member is modelled with max length 2048).
pub const MAX_POLICY_PLAINTEXT: usize = 2048;
/// The lab's model of the packed (compressed) session-policy budget, in packed bytes. AWS does
/// not document its packing; the lab's packing and this budget are documented in
/// docs/lab-identity.md so tests can aim above and below it deterministically.
pub const PACKED_POLICY_BUDGET: usize = 1200;
pub const MIN_DURATION: u64 = 900;
pub const MAX_DURATION_MODEL: u64 = 43_200;
pub const DEFAULT_DURATION: u64 = 3600;
pub const MAX_POLICY_ARNS: usize = 10;
const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// awsQuery parameters in request order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(form: &[u8]) -> Self {
        Params(form_urlencoded::parse(form).into_owned().collect())
    }

    pub fn extend(&mut self, more: Params) {
        self.0.extend(more.0);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `Prefix.member.N.suffix` values in N order (awsQuery list encoding).
    fn members(&self, prefix: &str, suffix: &str) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
                let (n, sfx) = rest.split_once('.').unwrap_or((rest, ""));
                (sfx == suffix).then(|| n.parse().ok().map(|n| (n, v.clone())))?
            })
            .collect();
        out.sort();
        out
    }
}

fn null_member(member: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub session_name: String,
    pub duration_seconds: Option<u64>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

impl AssumeRoleInput {
    /// Parses and applies the API model's constraints (`ValidationError` as STS answers).
    pub fn parse(p: &Params) -> Result<Self, AwsError> {
        let role_arn = p
            .get("RoleArn")
            .ok_or_else(|| null_member("roleArn"))?
            .to_string();
        if !(20..=2048).contains(&role_arn.len()) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
                role_arn
            )));
        }
        let session_name = p
            .get("RoleSessionName")
            .ok_or_else(|| null_member("roleSessionName"))?
            .to_string();
        let valid_chars = session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !(2..=64).contains(&session_name.len()) || !valid_chars {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: \
                 Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        let duration_seconds = match p.get("DurationSeconds") {
            None => None,
            Some(s) => {
                let d: i64 = s.parse().map_err(|_| {
                    AwsError::bad_request(
                        "MalformedQueryString",
                        format!("DurationSeconds: '{s}' is not an integer"),
                    )
                })?;
                if d < MIN_DURATION as i64 {
                    return Err(AwsError::validation(format!(
                        "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"
                    )));
                }
                if d > MAX_DURATION_MODEL as i64 {
                    return Err(AwsError::validation(format!(
                        "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION_MODEL}"
                    )));
                }
                Some(d as u64)
            }
        };
        let policy = p.get("Policy").map(str::to_string);
        if let Some(pol) = &policy {
            let n = pol.chars().count();
            if n == 0 || n > MAX_POLICY_PLAINTEXT {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value at 'policy' failed to satisfy constraint: \
                     Member must have length less than or equal to {MAX_POLICY_PLAINTEXT} (got {n})"
                )));
            }
        }
        let policy_arns: Vec<String> = p
            .members("PolicyArns", "arn")
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        if policy_arns.len() > MAX_POLICY_ARNS {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"
            )));
        }
        Ok(AssumeRoleInput {
            role_arn,
            session_name,
            duration_seconds,
            policy,
            policy_arns,
        })
    }
}

/// Who is calling, as far as trust and `GetCallerIdentity` are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    IamUser {
        name: String,
    },
    AssumedRole {
        role: String,
        session_name: String,
    },
    /// Cognito identity-pool credentials (an assumed role in AWS terms).
    Cognito {
        role: String,
        identity_id: String,
    },
}

impl Caller {
    pub fn arn(&self, account: &str) -> String {
        match self {
            Caller::IamUser { name } => format!("arn:aws:iam::{account}:user/{name}"),
            Caller::AssumedRole { role, session_name } => {
                format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}")
            }
            Caller::Cognito { role, .. } => {
                format!("arn:aws:sts::{account}:assumed-role/{role}/CognitoIdentityCredentials")
            }
        }
    }

    pub fn user_id(&self) -> String {
        match self {
            Caller::IamUser { name } => format!("AIDA{}", stable_id(name)),
            Caller::AssumedRole { role, session_name } => {
                format!("AROA{}:{session_name}", stable_id(role))
            }
            Caller::Cognito { role, .. } => {
                format!("AROA{}:CognitoIdentityCredentials", stable_id(role))
            }
        }
    }

    /// The caller as a role trust policy sees it.
    pub fn aws_caller(&self, account: &str) -> super::trust::AwsCaller {
        match self {
            Caller::IamUser { name } => super::trust::AwsCaller {
                account: account.to_string(),
                principal_arn: format!("arn:aws:iam::{account}:user/{name}"),
                session_arn: None,
            },
            Caller::AssumedRole { role, .. } | Caller::Cognito { role, .. } => {
                super::trust::AwsCaller {
                    account: account.to_string(),
                    principal_arn: format!("arn:aws:iam::{account}:role/{role}"),
                    session_arn: Some(self.arn(account)),
                }
            }
        }
    }
}

/// A deterministic 17-character upper-case id derived from a name (AWS unique ids look so).
pub fn stable_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(name.as_bytes());
    h.iter()
        .take(17)
        .map(|b| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[usize::from(b % 32)]))
        .collect()
}

/// The outcome of a successful AssumeRole, before credentials are minted.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionGrant {
    pub role: String,
    pub session_name: String,
    /// Inline policy and managed session policies merged into one document (their
    /// statements combine as a union; the result intersects with the role's policies).
    pub session_policy: Option<String>,
    pub expiration: SystemTime,
    pub packed_policy_percent: Option<u32>,
}

pub fn find_role<'a>(scenario: &'a Scenario, role_arn: &str) -> Option<&'a Role> {
    let rest = role_arn.strip_prefix("arn:aws:iam::")?;
    let (account, path) = rest.split_once(':')?;
    let name = path.strip_prefix("role/")?.rsplit('/').next()?;
    if account != scenario.account_id {
        return None;
    }
    scenario.role.iter().find(|r| r.name == name)
}

/// Resolves `policy_arns` (`arn:aws:iam::ACCOUNT:policy/NAME` or AWS-managed
/// `arn:aws:iam::aws:policy/NAME`) to the scenario's documents.
fn managed_policy(
    scenario: &Scenario,
    arn: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, AwsError> {
    let name = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .filter(|(acct, _)| *acct == scenario.account_id || *acct == "aws")
        .and_then(|(_, p)| p.strip_prefix("policy/"))
        .and_then(|p| p.rsplit('/').next());
    name.and_then(lookup).ok_or_else(|| {
        AwsError::bad_request(
            "MalformedPolicyDocument",
            format!("Policy {arn} does not exist or is not attachable."),
        )
    })
}

/// AssumeRole decision: trust (`trusted` says whether the role's trust policy and the
/// caller's own policies let the caller in: [`super::trust::decide_assume_role`]), duration
/// bounds, session policies and their size. `lookup` returns a named policy document's JSON;
/// `check_policy` parses a policy with the engine (an error becomes `MalformedPolicyDocument`).
pub fn assume_role(
    scenario: &Scenario,
    caller: &Caller,
    input: &AssumeRoleInput,
    trusted: impl Fn(&Role) -> bool,
    lookup: impl Fn(&str) -> Option<String>,
    check_policy: impl Fn(&str) -> Result<(), String>,
    now: SystemTime,
) -> Result<SessionGrant, AwsError> {
    let denied = || {
        AwsError::forbidden(
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.arn(&scenario.account_id),
                input.role_arn
            ),
        )
    };
    let role = find_role(scenario, &input.role_arn).ok_or_else(denied)?;
    if !trusted(role) {
        return Err(denied());
    }
    let max = role.max_session_duration.unwrap_or(DEFAULT_DURATION);
    // Role chaining caps sessions at one hour whatever the role allows.
    let max = if matches!(caller, Caller::IamUser { .. }) {
        max
    } else {
        max.min(3600)
    };
    grant_within(scenario, role, input, max, &lookup, &check_policy, now)
}

/// The session of `role` for the requested duration (default one hour, capped by `max`):
/// the step both AssumeRole flows end with.
fn grant_within(
    scenario: &Scenario,
    role: &Role,
    input: &AssumeRoleInput,
    max: u64,
    lookup: &dyn Fn(&str) -> Option<String>,
    check_policy: &dyn Fn(&str) -> Result<(), String>,
    now: SystemTime,
) -> Result<SessionGrant, AwsError> {
    let duration = input.duration_seconds.unwrap_or(DEFAULT_DURATION.min(max));
    if duration > max {
        return Err(AwsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    session_grant(
        scenario,
        role,
        input,
        &lookup,
        &check_policy,
        now + Duration::from_secs(duration),
    )
}

/// `AssumeRoleWithWebIdentity` (unsigned): the token was verified by the caller; the role's
/// trust policy decides (`trusted`: [`super::trust::decide_web_identity`]). Refusal is
/// `AccessDenied` "Not authorized to perform sts:AssumeRoleWithWebIdentity" (the wording the
/// Cognito developer guide quotes, "Role trust and permissions").
pub fn assume_role_with_web_identity(
    scenario: &Scenario,
    input: &AssumeRoleInput,
    trusted: impl Fn(&Role) -> bool,
    lookup: impl Fn(&str) -> Option<String>,
    check_policy: impl Fn(&str) -> Result<(), String>,
    now: SystemTime,
) -> Result<SessionGrant, AwsError> {
    let denied = || {
        AwsError::forbidden(
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    };
    let role = find_role(scenario, &input.role_arn).ok_or_else(denied)?;
    if !trusted(role) {
        return Err(denied());
    }
    let max = role.max_session_duration.unwrap_or(DEFAULT_DURATION);
    grant_within(scenario, role, input, max, &lookup, &check_policy, now)
}

/// The checks that follow trust; shared with the vending API, which assumes its own role.
pub fn session_grant(
    scenario: &Scenario,
    role: &Role,
    input: &AssumeRoleInput,
    lookup: &impl Fn(&str) -> Option<String>,
    check_policy: &impl Fn(&str) -> Result<(), String>,
    expiration: SystemTime,
) -> Result<SessionGrant, AwsError> {
    let mut docs: Vec<String> = Vec::new();
    if let Some(p) = &input.policy {
        docs.push(p.clone());
    }
    for arn in &input.policy_arns {
        docs.push(managed_policy(scenario, arn, lookup)?);
    }
    let mut statements = Vec::new();
    for doc in &docs {
        let v: serde_json::Value = serde_json::from_str(doc).map_err(|e| {
            AwsError::bad_request(
                "MalformedPolicyDocument",
                format!("Syntax errors in policy: {e}"),
            )
        })?;
        match v.get("Statement") {
            Some(serde_json::Value::Array(a)) => statements.extend(a.iter().cloned()),
            Some(s @ serde_json::Value::Object(_)) => statements.push(s.clone()),
            _ => {
                return Err(AwsError::bad_request(
                    "MalformedPolicyDocument",
                    "Syntax errors in policy: missing Statement",
                ));
            }
        }
        check_policy(doc).map_err(|m| AwsError::bad_request("MalformedPolicyDocument", m))?;
    }
    let (session_policy, packed) = if docs.is_empty() {
        (None, None)
    } else {
        let merged =
            serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
        let packed = packed_size(input.policy.as_deref(), &input.policy_arns);
        let percent = u32::try_from(packed * 100 / PACKED_POLICY_BUDGET).unwrap_or(u32::MAX);
        if packed > PACKED_POLICY_BUDGET {
            return Err(AwsError::bad_request(
                "PackedPolicyTooLarge",
                format!(
                    "Packed policy consumes {percent}% of allotted space, please use smaller policy for session."
                ),
            ));
        }
        (Some(merged), Some(percent.max(1)))
    };
    Ok(SessionGrant {
        role: role.name.clone(),
        session_name: input.session_name.clone(),
        session_policy,
        expiration,
        packed_policy_percent: packed,
    })
}

/// The lab's packing model: the inline policy minified (JSON whitespace removed), IAM policy
/// vocabulary (`"Effect":"Allow"`, `"Action":`, ...) and each `arn:aws:SVC:REGION:ACCOUNT:`
/// prefix packed into one byte each, plus each managed policy ARN's length. Repetitive
/// ARN-heavy policies pack small; policies full of distinct long names do not.
pub fn packed_size(policy: Option<&str>, policy_arns: &[String]) -> usize {
    let mut text = match policy.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(v)) => v.to_string(),
        Some(Err(_)) => policy.unwrap_or_default().to_string(),
        None => String::new(),
    };
    const VOCAB: [&str; 10] = [
        "\"Version\":\"2012-10-17\"",
        "\"Statement\":",
        "\"Effect\":\"Allow\"",
        "\"Effect\":\"Deny\"",
        "\"Action\":",
        "\"NotAction\":",
        "\"Resource\":",
        "\"NotResource\":",
        "\"Condition\":",
        "\"Sid\":",
    ];
    for w in VOCAB {
        text = text.replace(w, "\u{1}");
    }
    let mut size = 0;
    let mut rest = text.as_str();
    while let Some(i) = rest.find("arn:aws:") {
        size += rest[..i].chars().count();
        let after = &rest[i..];
        // Skip to just after the fifth ':' (arn:aws:svc:region:account:).
        let cut = after
            .match_indices(':')
            .nth(4)
            .map(|(j, _)| j + 1)
            .unwrap_or(after.len());
        size += 1;
        rest = &after[cut..];
    }
    size += rest.chars().count();
    size + policy_arns.iter().map(String::len).sum::<usize>()
}

fn iso(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Temporary credentials as minted for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: SystemTime,
}

pub fn assume_role_xml(
    account: &str,
    grant: &SessionGrant,
    creds: &MintedCredentials,
    request_id: &str,
) -> String {
    role_session_xml("AssumeRole", account, grant, creds, None, request_id)
}

pub fn assume_role_with_web_identity_xml(
    account: &str,
    grant: &SessionGrant,
    creds: &MintedCredentials,
    token: &super::trust::WebIdentity,
    request_id: &str,
) -> String {
    role_session_xml(
        "AssumeRoleWithWebIdentity",
        account,
        grant,
        creds,
        Some(token),
        request_id,
    )
}

/// The answer of an `AssumeRole*` operation: the session's user and credentials, and for
/// web identities the token's subject, audience (first) and provider (last), in STS's order.
fn role_session_xml(
    operation: &str,
    account: &str,
    grant: &SessionGrant,
    creds: &MintedCredentials,
    web: Option<&super::trust::WebIdentity>,
    request_id: &str,
) -> String {
    let caller = Caller::AssumedRole {
        role: grant.role.clone(),
        session_name: grant.session_name.clone(),
    };
    let packed = grant
        .packed_policy_percent
        .map(|p| format!("<PackedPolicySize>{p}</PackedPolicySize>"))
        .unwrap_or_default();
    let (subject, provider) = web.map_or_else(Default::default, |t| {
        (
            format!(
                "<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken><Audience>{}</Audience>",
                xml_escape(&t.sub),
                xml_escape(&t.aud)
            ),
            format!("<Provider>{}</Provider>", xml_escape(&t.provider)),
        )
    });
    format!(
        "<{operation}Response xmlns=\"{NS}\"><{operation}Result>{subject}\
         <AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>{packed}{provider}\
         </{operation}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>\
         </{operation}Response>",
        xml_escape(&caller.user_id()),
        xml_escape(&caller.arn(account)),
        xml_escape(&creds.access_key_id),
        xml_escape(&creds.secret_access_key),
        xml_escape(&creds.session_token),
        iso(creds.expiration),
        xml_escape(request_id),
    )
}

pub fn caller_identity_xml(account: &str, caller: &Caller, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId>\
         <Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId>\
         </ResponseMetadata></GetCallerIdentityResponse>",
        xml_escape(&caller.arn(account)),
        xml_escape(&caller.user_id()),
        xml_escape(account),
        xml_escape(request_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn scenario() -> Scenario {
        toml::from_str(
            r#"
            region = "us-east-1"
            account_id = "123456789012"
            [policies]
            Broad = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
            [[role]]
            name = "DeviceAccess"
            policies = ["Broad"]
            trusted = ["integrator"]
            max_session_duration = 7200
            [[role]]
            name = "Nobody"
            policies = ["Broad"]
            "#,
        )
        .unwrap()
    }

    fn params(kv: &[(&str, &str)]) -> Params {
        Params(
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const ARN: &str = "arn:aws:iam::123456789012:role/DeviceAccess";

    fn input(extra: &[(&str, &str)]) -> Result<AssumeRoleInput, AwsError> {
        let mut kv = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", ARN),
            ("RoleSessionName", "dev-1"),
        ];
        kv.extend_from_slice(extra);
        AssumeRoleInput::parse(&params(&kv))
    }

    fn run(caller: &str, inp: &AssumeRoleInput) -> Result<SessionGrant, AwsError> {
        let s = scenario();
        let docs = s.policies.clone();
        let c = Caller::IamUser {
            name: caller.into(),
        };
        let users = ["integrator", "mallory"];
        let trust = |r: &Role| {
            let t = super::super::trust::TrustPolicy::from_trusted(
                &r.name,
                &s.account_id,
                &r.trusted,
                &users,
            );
            let ac = c.aws_caller(&s.account_id);
            let ctx = super::super::trust::assume_role_context(&Default::default(), &ac);
            super::super::trust::decide_assume_role(
                &t,
                &ac,
                &iot_canary_policy::PolicySet::Iam { policies: vec![] },
                &inp.role_arn,
                &ctx,
            )
            .allowed
        };
        assume_role(
            &s,
            &c,
            inp,
            trust,
            |n| match docs.get(n) {
                Some(crate::scenario::PolicySource::Inline(j)) => Some(j.clone()),
                _ => None,
            },
            |_| Ok(()),
            UNIX_EPOCH + Duration::from_secs(1000),
        )
    }

    #[test]
    fn parses_the_sdk_form_including_policy_arns() {
        let p = Params::parse(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FDeviceAccess\
              &RoleSessionName=dev-1&DurationSeconds=900&PolicyArns.member.2.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2FB\
              &PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2FA",
        );
        let i = AssumeRoleInput::parse(&p).unwrap();
        assert_eq!(i.role_arn, ARN);
        assert_eq!(i.duration_seconds, Some(900));
        assert_eq!(
            i.policy_arns,
            vec![
                "arn:aws:iam::123456789012:policy/A",
                "arn:aws:iam::123456789012:policy/B"
            ]
        );
    }

    #[test]
    fn model_constraints_are_validation_errors() {
        let e = AssumeRoleInput::parse(&params(&[("RoleArn", ARN)])).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("roleSessionName"));
        assert_eq!(
            input(&[("DurationSeconds", "899")]).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            input(&[("DurationSeconds", "43201")]).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            input(&[("DurationSeconds", "ten")]).unwrap_err().code,
            "MalformedQueryString"
        );
        let e = AssumeRoleInput::parse(&params(&[
            ("RoleArn", ARN),
            ("RoleSessionName", "bad name!"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        let long = format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[],\"x\":\"{}\"}}",
            "a".repeat(2100)
        );
        let e = input(&[("Policy", &long)]).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("2048"));
    }

    #[test]
    fn trust_and_unknown_roles_are_access_denied() {
        let i = input(&[]).unwrap();
        assert!(run("integrator", &i).is_ok());
        let e = run("mallory", &i).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        assert_eq!(e.status, http::StatusCode::FORBIDDEN);
        assert!(e.message.contains("arn:aws:iam::123456789012:user/mallory"));
        let other_account = AssumeRoleInput {
            role_arn: "arn:aws:iam::999999999999:role/DeviceAccess".into(),
            ..i.clone()
        };
        assert_eq!(
            run("integrator", &other_account).unwrap_err().code,
            "AccessDenied"
        );
        let nobody = AssumeRoleInput {
            role_arn: "arn:aws:iam::123456789012:role/Nobody".into(),
            ..i
        };
        assert_eq!(run("integrator", &nobody).unwrap_err().code, "AccessDenied");
    }

    #[test]
    fn duration_bounds_follow_the_role() {
        let g = run(
            "integrator",
            &input(&[("DurationSeconds", "7200")]).unwrap(),
        )
        .unwrap();
        assert_eq!(g.expiration, UNIX_EPOCH + Duration::from_secs(8200));
        let g = run("integrator", &input(&[]).unwrap()).unwrap();
        assert_eq!(g.expiration, UNIX_EPOCH + Duration::from_secs(4600));
        let e = run(
            "integrator",
            &input(&[("DurationSeconds", "7201")]).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("MaxSessionDuration"));
    }

    #[test]
    fn session_policies_merge_and_report_packed_size() {
        let inline = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev-1"}}"#;
        let g = run(
            "integrator",
            &input(&[
                ("Policy", inline),
                (
                    "PolicyArns.member.1.arn",
                    "arn:aws:iam::123456789012:policy/Broad",
                ),
            ])
            .unwrap(),
        )
        .unwrap();
        let merged: serde_json::Value =
            serde_json::from_str(g.session_policy.as_deref().unwrap()).unwrap();
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 2);
        assert!(g.packed_policy_percent.unwrap() >= 1);
        let g = run("integrator", &input(&[]).unwrap()).unwrap();
        assert_eq!(g.session_policy, None);
        assert_eq!(g.packed_policy_percent, None);
    }

    #[test]
    fn bad_session_policies() {
        let e = run("integrator", &input(&[("Policy", "{not json")]).unwrap()).unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        let e = run(
            "integrator",
            &input(&[(
                "PolicyArns.member.1.arn",
                "arn:aws:iam::123456789012:policy/Missing",
            )])
            .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
    }

    /// Valid policy, 2,000 characters, packs to 1,284 bytes (107% of the budget).
    pub fn dense_policy() -> String {
        let stmts: Vec<String> = (0..18)
            .map(|i| format!(r#"{{"Sid":"S{i:02}{}","Effect":"Allow","Action":"iot:Publish","Resource":"*"}}"#, "z".repeat(40)))
            .collect();
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            stmts.join(",")
        )
    }

    #[test]
    fn packed_check_trips_below_the_plaintext_limit_for_incompressible_policies() {
        // 18 statements with long distinct Sids: 2,000 characters, little to pack.
        let p = dense_policy();
        assert!(p.len() <= MAX_POLICY_PLAINTEXT, "{}", p.len());
        let e = run("integrator", &input(&[("Policy", &p)]).unwrap()).unwrap_err();
        assert_eq!(e.code, "PackedPolicyTooLarge");
        assert!(e.message.contains("% of allotted space"));
        // The same number of resources as full ARNs is longer in plaintext but packs small.
        let arns: Vec<String> = (0..30)
            .map(|i| format!("\"arn:aws:iot:us-east-1:123456789012:topic/d{i}\""))
            .collect();
        let p2 = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":[{}]}}]}}"#,
            arns.join(",")
        );
        assert!(p2.len() <= MAX_POLICY_PLAINTEXT, "{}", p2.len());
        let g = run("integrator", &input(&[("Policy", &p2)]).unwrap()).unwrap();
        assert!(g.packed_policy_percent.unwrap() < 100);
    }

    #[test]
    fn xml_responses_carry_what_the_sdk_reads() {
        let g = SessionGrant {
            role: "DeviceAccess".into(),
            session_name: "dev-1".into(),
            session_policy: None,
            expiration: UNIX_EPOCH + Duration::from_secs(1_893_456_000),
            packed_policy_percent: Some(7),
        };
        let c = MintedCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "s&k".into(),
            session_token: "tok".into(),
            expiration: g.expiration,
        };
        let x = assume_role_xml("123456789012", &g, &c, "r1");
        assert!(x.starts_with("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"));
        assert!(x.contains("<Arn>arn:aws:sts::123456789012:assumed-role/DeviceAccess/dev-1</Arn>"));
        assert!(x.contains("<SecretAccessKey>s&amp;k</SecretAccessKey>"));
        assert!(x.contains("<Expiration>2030-01-01T00:00:00Z</Expiration>"));
        assert!(x.contains("<PackedPolicySize>7</PackedPolicySize>"));
        let x = caller_identity_xml(
            "123456789012",
            &Caller::IamUser { name: "ops".into() },
            "r2",
        );
        assert!(x.contains("<Arn>arn:aws:iam::123456789012:user/ops</Arn>"));
        assert!(x.contains("<Account>123456789012</Account>"));
    }
}
