//! Policy unit-test files for `iot-canary policy test` (format: ARCHITECTURE.md, "Policy test
//! files"; those keys are an interface). Loading is pure (text in, cases or an error naming
//! file, line and key out); the CLI reads the files.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{
    AuthResult, Decision, IotAction, Policy, PolicySet, Request, RequestContext, StatementRef,
    authorize, authorize_call, authorize_retained_publish,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    region: Spanned<String>,
    account_id: Spanned<String>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    policies: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    session_policy: Option<Spanned<String>>,
    #[serde(default)]
    iot_policies: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    principal: Option<Spanned<String>>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    context: Option<Spanned<BTreeMap<String, ContextValue>>>,
    action: Spanned<String>,
    resource: String,
    #[serde(default)]
    retain: bool,
    expect: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContextValue {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
}

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Allow,
    /// Any deny, explicit or implicit.
    Deny,
    ExplicitDeny,
    ImplicitDeny,
}

impl Expect {
    pub fn agrees(self, d: Decision) -> bool {
        match self {
            Expect::Allow => d == Decision::Allowed,
            Expect::Deny => d != Decision::Allowed,
            Expect::ExplicitDeny => d == Decision::ExplicitDeny,
            Expect::ImplicitDeny => d == Decision::ImplicitDeny,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::ExplicitDeny => "explicit-deny",
            Expect::ImplicitDeny => "implicit-deny",
        }
    }
}

/// The action a case asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseAction {
    /// An AWS IoT data-plane action; the resource may be a plain name.
    Iot(IotAction),
    /// Any other `service:Action` (`sts:AssumeRole`, `s3:GetObject`, `iot:AttachPolicy`, ...)
    /// on a full resource ARN: what a role allows beyond MQTT (e.g. a guest's scope-down).
    Named(String),
}

impl CaseAction {
    pub fn name(&self) -> &str {
        match self {
            CaseAction::Iot(a) => a.name(),
            CaseAction::Named(n) => n,
        }
    }
}

/// One loaded case, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub set: PolicySet,
    pub context: RequestContext,
    pub action: CaseAction,
    pub resource: String,
    pub retain: bool,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub struct TestFile {
    pub file: String,
    pub cases: Vec<Case>,
    /// The file's `[policies]` by name (for checks over the documents themselves).
    pub policies: BTreeMap<String, Arc<Policy>>,
}

/// A bad test file: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TestFileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for TestFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The key written on a line (`name = ...`), to name it in errors the TOML layer reports.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?.trim();
    if l.starts_with('[') {
        return Some(l.trim_matches(|c| c == '[' || c == ']').to_owned());
    }
    let (k, _) = l.split_once('=')?;
    Some(k.trim().to_owned())
}

/// Parses and validates a test file; `file` is the name used in errors and output.
pub fn load(file: &str, text: &str) -> Result<TestFile, TestFileError> {
    let err_at = |offset: usize, key: &str, message: String| {
        let (line, column) = line_col(text, offset);
        TestFileError {
            file: file.to_owned(),
            line,
            column,
            key: key.to_owned(),
            message,
        }
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, _) = line_col(text, offset);
        let key = key_on_line(text, line).unwrap_or_else(|| "(document)".into());
        err_at(offset, &key, e.message().trim().to_owned())
    })?;
    for (k, v) in [("region", &raw.region), ("account_id", &raw.account_id)] {
        if v.get_ref().trim().is_empty() {
            return Err(err_at(v.span().start, k, "must not be empty".into()));
        }
    }
    let mut policies: BTreeMap<&str, Arc<Policy>> = BTreeMap::new();
    for (name, json) in &raw.policies {
        let p = Policy::parse(name, json.get_ref()).map_err(|e| {
            err_at(
                json.span().start,
                &format!("policies.{name}"),
                e.to_string(),
            )
        })?;
        policies.insert(name, Arc::new(p));
    }
    let resolve =
        |names: &Spanned<Vec<String>>, key: &str| -> Result<Vec<Arc<Policy>>, TestFileError> {
            names
                .get_ref()
                .iter()
                .map(|n| {
                    policies.get(n.as_str()).cloned().ok_or_else(|| {
                        err_at(
                            names.span().start,
                            key,
                            format!("unknown policy `{n}` (not in [policies])"),
                        )
                    })
                })
                .collect()
        };
    let mut cases = Vec::with_capacity(raw.case.len());
    for (i, spanned) in raw.case.iter().enumerate() {
        let c = spanned.get_ref();
        let key = |k: &str| format!("case[{i}].{k}");
        let role = match &c.policies {
            Some(p) => resolve(p, &key("policies"))?,
            None => Vec::new(),
        };
        let session = match &c.session_policy {
            Some(s) => {
                let p = policies.get(s.get_ref().as_str()).cloned().ok_or_else(|| {
                    err_at(
                        s.span().start,
                        &key("session_policy"),
                        format!("unknown policy `{}` (not in [policies])", s.get_ref()),
                    )
                })?;
                Some(p)
            }
            None => None,
        };
        let principal = c.principal.as_ref().map_or("iam", |p| p.get_ref().as_str());
        let principal_at = c
            .principal
            .as_ref()
            .map_or(spanned.span().start, |p| p.span().start);
        let only_for = |present: bool, what: &str, allowed: &str| -> Result<(), TestFileError> {
            if present {
                return Err(err_at(
                    principal_at,
                    &key(what),
                    format!(
                        "`{what}` is only valid with principal = \"{allowed}\", not \"{principal}\""
                    ),
                ));
            }
            Ok(())
        };
        let set = match principal {
            "iam" => {
                only_for(
                    c.iot_policies.is_some(),
                    "iot_policies",
                    "cognito-authenticated",
                )?;
                match session {
                    Some(s) => PolicySet::AssumedRole {
                        role_policies: role,
                        session_policies: vec![s],
                    },
                    None => PolicySet::Iam { policies: role },
                }
            }
            "cognito-authenticated" => {
                only_for(session.is_some(), "session_policy", "iam")?;
                let iot = match &c.iot_policies {
                    Some(p) => resolve(p, &key("iot_policies"))?,
                    None => Vec::new(),
                };
                PolicySet::CognitoAuthenticated {
                    role_policies: role,
                    iot_policies: iot,
                }
            }
            "cognito-unauthenticated" => {
                only_for(session.is_some(), "session_policy", "iam")?;
                only_for(
                    c.iot_policies.is_some(),
                    "iot_policies",
                    "cognito-authenticated",
                )?;
                // Enhanced flow: Cognito's scope-down applies (a basic-flow guest is an
                // `iam` case with the role as `policies` and its own `session_policy`).
                PolicySet::cognito_guest(role)
            }
            other => {
                return Err(err_at(
                    principal_at,
                    &key("principal"),
                    format!(
                        "unknown principal `{other}` (iam | cognito-authenticated | cognito-unauthenticated)"
                    ),
                ));
            }
        };
        let action = case_action(c.action.get_ref(), &c.resource)
            .map_err(|message| err_at(c.action.span().start, &key("action"), message))?;
        if c.retain && action != CaseAction::Iot(IotAction::Publish) {
            return Err(err_at(
                c.action.span().start,
                &key("retain"),
                "`retain = true` only applies to action = \"iot:Publish\"".into(),
            ));
        }
        let expect = match c.expect.get_ref().as_str() {
            "allow" => Expect::Allow,
            "deny" => Expect::Deny,
            "explicit-deny" => Expect::ExplicitDeny,
            "implicit-deny" => Expect::ImplicitDeny,
            other => {
                return Err(err_at(
                    c.expect.span().start,
                    &key("expect"),
                    format!(
                        "unknown expectation `{other}` (allow | deny | explicit-deny | implicit-deny)"
                    ),
                ));
            }
        };
        let mut context = RequestContext {
            region: raw.region.get_ref().clone(),
            account_id: raw.account_id.get_ref().clone(),
            client_id: c.client_id.clone(),
            ..Default::default()
        };
        if let Some(ctx) = &c.context {
            let at = ctx.span().start;
            for (k, v) in ctx.get_ref() {
                let values: Vec<String> = match v {
                    ContextValue::Str(s) => vec![s.clone()],
                    ContextValue::Bool(b) => vec![b.to_string()],
                    ContextValue::Int(n) => vec![n.to_string()],
                    ContextValue::List(l) => l.clone(),
                };
                let ckey = key(&format!("context.\"{k}\""));
                let single = || match values.as_slice() {
                    [v] => Ok(v.as_str()),
                    _ => Err(err_at(at, &ckey, "expects exactly one value".into())),
                };
                match k.to_ascii_lowercase().as_str() {
                    "aws:sourceip" => {
                        let v = single()?;
                        context.source_ip = Some(v.parse().map_err(|_| {
                            err_at(at, &ckey, format!("`{v}` is not an IP address"))
                        })?);
                    }
                    "aws:currenttime" | "aws:epochtime" => {
                        let v = single()?;
                        let secs = super::variables::parse_date(v)
                            .filter(|s| *s >= 0.0)
                            .ok_or_else(|| {
                                err_at(
                                    at,
                                    &ckey,
                                    format!("`{v}` is not an ISO 8601 time or epoch seconds"),
                                )
                            })?;
                        context.current_time = Some(UNIX_EPOCH + Duration::from_secs_f64(secs));
                    }
                    "iot:clientid" => {
                        let v = single()?;
                        if context.client_id.as_deref().is_some_and(|c| c != v) {
                            return Err(err_at(at, &ckey, "conflicts with `client_id`".into()));
                        }
                        context.client_id = Some(v.to_owned());
                    }
                    lower => {
                        context.values.insert(lower.to_owned(), values.clone());
                    }
                }
            }
        }
        let (line, _) = line_col(text, spanned.span().start);
        cases.push(Case {
            name: c.name.clone(),
            line,
            set,
            context,
            action,
            resource: c.resource.clone(),
            retain: c.retain,
            expect,
        });
    }
    Ok(TestFile {
        file: file.to_owned(),
        cases,
        policies: policies
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    })
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub file: String,
    pub line: usize,
    pub case: String,
    pub action: String,
    pub resource: String,
    pub expect: Expect,
    pub decision: &'static str,
    pub deciding: Option<DecidingStatement>,
    pub explanation: String,
    pub agree: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecidingStatement {
    pub policy: String,
    pub statement: String,
}

impl From<StatementRef> for DecidingStatement {
    fn from(s: StatementRef) -> Self {
        DecidingStatement {
            policy: s.policy,
            statement: s.statement,
        }
    }
}

pub fn evaluate(case: &Case) -> AuthResult {
    match &case.action {
        _ if case.retain => authorize_retained_publish(&case.set, &case.resource, &case.context),
        CaseAction::Iot(action) => authorize(
            &case.set,
            &Request {
                action: *action,
                resource: &case.resource,
                context: &case.context,
            },
        ),
        // An API call: a Cognito identity's IoT policies apply to data-plane actions only.
        CaseAction::Named(action) => {
            authorize_call(&case.set, action, &case.resource, &case.context)
        }
    }
}

/// An AWS IoT data-plane action by name, or any other `service:Action` the service reference
/// knows, which then needs a full ARN as its resource.
fn case_action(name: &str, resource: &str) -> Result<CaseAction, String> {
    if let Some(a) = IotAction::from_name(name) {
        return Ok(CaseAction::Iot(a));
    }
    let iot_names: Vec<&str> = IotAction::ALL.iter().map(|a| a.name()).collect();
    let unknown = || {
        format!(
            "unknown action `{name}` (one of {}, or another service's `service:Action` on a full ARN)",
            iot_names.join(", ")
        )
    };
    let (service, action) = name.split_once(':').ok_or_else(unknown)?;
    let known = if service.eq_ignore_ascii_case("iot") {
        crate::actions::is_iot_action(name)
    } else {
        crate::actions::is_known_service(service)
    };
    if !known || action.is_empty() || action.contains(['*', '?']) {
        return Err(unknown());
    }
    // A full ARN; `*` for actions without a resource type (`iot:ListThings`); or a Cognito
    // identity id, the bare resource AWS evaluates for an AttachPolicy to an identity.
    if !(resource.starts_with("arn:") || resource == "*" || is_identity_id(resource)) {
        return Err(format!(
            "`{name}` is not an AWS IoT data-plane action: `resource` must be a full ARN, `*` or a Cognito identity id, not `{resource}`"
        ));
    }
    Ok(CaseAction::Named(name.to_owned()))
}

/// `REGION:8-4-4-4-12 hex`, a Cognito identity id.
fn is_identity_id(s: &str) -> bool {
    s.split_once(':').is_some_and(|(region, id)| {
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && id.len() == 36
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    })
}

pub fn run(file: &TestFile) -> Vec<CaseOutcome> {
    file.cases
        .iter()
        .map(|case| {
            let r = evaluate(case);
            CaseOutcome {
                file: file.file.clone(),
                line: case.line,
                case: case.name.clone(),
                action: case.action.name().to_owned(),
                resource: case.resource.clone(),
                expect: case.expect,
                decision: r.decision.as_str(),
                agree: case.expect.agrees(r.decision),
                deciding: r.deciding.map(Into::into),
                explanation: r.explanation,
            }
        })
        .collect()
}

/// One line per case, `ok`/`FAIL`, the decision and the deciding statement; failures add the
/// explanation; a summary line last.
pub fn render_table(outcomes: &[CaseOutcome]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for o in outcomes {
        let by = o.deciding.as_ref().map_or_else(
            || "-".to_owned(),
            |d| format!("{}/{}", d.policy, d.statement),
        );
        let _ = writeln!(
            out,
            "{:<4}  {}:{}  {}  expect={}  got={}  by={}",
            if o.agree { "ok" } else { "FAIL" },
            o.file,
            o.line,
            o.case,
            o.expect.as_str(),
            o.decision,
            by
        );
        if !o.agree {
            let _ = writeln!(out, "      {}", o.explanation);
        }
    }
    let failed = outcomes.iter().filter(|o| !o.agree).count();
    let _ = writeln!(
        out,
        "{} cases: {} agree, {} disagree",
        outcomes.len(),
        outcomes.len() - failed,
        failed
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
region = "us-east-1"
account_id = "123456789012"

[policies]
P1 = '''{"Version":"2012-10-17","Statement":[
  {"Sid":"Own","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"},
  {"Sid":"Retain","Effect":"Allow","Action":"iot:RetainPublish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/state"}]}'''
S1 = '''{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}'''

[[case]]
name = "publish under own client id"
policies = ["P1"]
client_id = "client1"
action = "iot:Publish"
resource = "client1/data"
expect = "allow"

[[case]]
name = "retain needs RetainPublish"
policies = ["P1"]
client_id = "client1"
action = "iot:Publish"
resource = "client1/data"
retain = true
expect = "implicit-deny"

[[case]]
name = "session policy denies outside 10/8"
policies = ["P1"]
session_policy = "S1"
client_id = "client1"
context = { "aws:SourceIp" = "192.0.2.1" }
action = "iot:Publish"
resource = "client1/data"
expect = "explicit-deny"

[[case]]
name = "cognito without IoT policy"
principal = "cognito-authenticated"
policies = ["P1"]
client_id = "client1"
action = "iot:Publish"
resource = "client1/data"
expect = "allow"
"#;

    #[test]
    fn loads_and_runs_cases() {
        let f = load("good.toml", GOOD).unwrap();
        assert_eq!(f.cases.len(), 4);
        // A case's line is its `[[case]]` header.
        assert_eq!(f.cases[0].line, 11);
        let lines: Vec<&str> = GOOD.lines().collect();
        let last_header = lines.iter().rposition(|l| *l == "[[case]]").unwrap() + 1;
        assert_eq!(f.cases[3].line, last_header);
        let out = run(&f);
        let agree: Vec<bool> = out.iter().map(|o| o.agree).collect();
        assert_eq!(agree, [true, true, true, false]);
        assert_eq!(out[0].deciding.as_ref().unwrap().statement, "Own");
        assert_eq!(out[3].decision, "IMPLICIT_DENY");
        let table = render_table(&out);
        let fail_line = format!("FAIL  good.toml:{last_header}  cognito without IoT policy");
        assert!(table.contains(&fail_line), "{table}");
        assert!(table.contains("4 cases: 3 agree, 1 disagree"), "{table}");
    }

    fn bad(text: &str) -> TestFileError {
        load("bad.toml", text).unwrap_err()
    }

    const HEAD: &str = "region = \"us-east-1\"\naccount_id = \"123456789012\"\n";

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = bad(&format!(
            "{HEAD}[[case]]\nname = \"x\"\npolices = [\"P\"]\naction = \"iot:Connect\"\nresource = \"c\"\nexpect = \"allow\"\n"
        ));
        assert_eq!(e.line, 5, "{e}");
        assert_eq!(e.key, "polices", "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn semantic_errors_name_line_and_key() {
        let case = |body: &str| {
            format!(
                "{HEAD}[policies]\nP = '''{{\"Version\":\"2012-10-17\",\"Statement\":[]}}'''\n[[case]]\nname = \"x\"\n{body}"
            )
        };
        let e = bad(&case(
            "policies = [\"Q\"]\naction = \"iot:Connect\"\nresource = \"c\"\nexpect = \"allow\"\n",
        ));
        assert_eq!((e.line, e.key.as_str()), (7, "case[0].policies"), "{e}");
        let e = bad(&case(
            "action = \"iot:Fly\"\nresource = \"c\"\nexpect = \"allow\"\n",
        ));
        assert_eq!((e.line, e.key.as_str()), (7, "case[0].action"), "{e}");
        let e = bad(&case(
            "action = \"iot:Connect\"\nresource = \"c\"\nexpect = \"maybe\"\n",
        ));
        assert_eq!((e.line, e.key.as_str()), (9, "case[0].expect"), "{e}");
        let e = bad(&case(
            "principal = \"root\"\naction = \"iot:Connect\"\nresource = \"c\"\nexpect = \"allow\"\n",
        ));
        assert_eq!(e.key, "case[0].principal", "{e}");
        let e = bad(&case(
            "iot_policies = [\"P\"]\naction = \"iot:Connect\"\nresource = \"c\"\nexpect = \"allow\"\n",
        ));
        assert_eq!(e.key, "case[0].iot_policies", "{e}");
        let e = bad(&case(
            "context = { \"aws:SourceIp\" = \"nope\" }\naction = \"iot:Connect\"\nresource = \"c\"\nexpect = \"allow\"\n",
        ));
        assert_eq!(e.key, "case[0].context.\"aws:SourceIp\"", "{e}");
        let e = bad(&case(
            "action = \"sts:AssumeRole\"\nresource = \"Admin\"\nexpect = \"allow\"\n",
        ));
        assert_eq!((e.line, e.key.as_str()), (7, "case[0].action"), "{e}");
        assert!(e.message.contains("full ARN"), "{e}");
        let e = bad(&case(
            "action = \"nosuchservice:Do\"\nresource = \"arn:aws:x\"\nexpect = \"allow\"\n",
        ));
        assert!(e.message.contains("unknown action"), "{e}");
    }

    #[test]
    fn guests_are_scoped_down_and_other_services_take_full_arns() {
        let text = format!(
            "{HEAD}[policies]\nG = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":[\"iot:Connect\",\"sts:AssumeRole\",\"s3:GetObject\"],\"Resource\":\"*\"}}]}}'''\n\
             [[case]]\nname = \"connect\"\npolicies = [\"G\"]\nprincipal = \"cognito-unauthenticated\"\naction = \"iot:Connect\"\nresource = \"g\"\nexpect = \"allow\"\n\
             [[case]]\nname = \"sts\"\npolicies = [\"G\"]\nprincipal = \"cognito-unauthenticated\"\naction = \"sts:AssumeRole\"\nresource = \"arn:aws:iam::123456789012:role/Admin\"\nexpect = \"implicit-deny\"\n\
             [[case]]\nname = \"s3\"\npolicies = [\"G\"]\nprincipal = \"cognito-unauthenticated\"\naction = \"s3:GetObject\"\nresource = \"arn:aws:s3:::b/k\"\nexpect = \"allow\"\n\
             [[case]]\nname = \"sts as plain role\"\npolicies = [\"G\"]\naction = \"sts:AssumeRole\"\nresource = \"arn:aws:iam::123456789012:role/Admin\"\nexpect = \"allow\"\n"
        );
        let file = load("g.toml", &text).unwrap();
        let out = run(&file);
        assert!(out.iter().all(|o| o.agree), "{out:#?}");
        assert_eq!(out[1].action, "sts:AssumeRole");
        assert!(
            out[1]
                .explanation
                .contains("Cognito guest session policies"),
            "{out:#?}"
        );
    }

    #[test]
    fn cognito_control_plane_cases_are_decided_by_the_role_alone() {
        // The attach-at-sign-in role: the IoT policy on the identity cannot narrow it.
        let role = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AttachAtSignIn","Effect":"Allow","Action":"iot:AttachPolicy","Resource":"*"}]}"#;
        let mine = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
        let text = format!(
            "{HEAD}[policies]\nRole = '''{role}'''\nMine = '''{mine}'''\n\
             [[case]]\nname = \"attach\"\npolicies = [\"Role\"]\niot_policies = [\"Mine\"]\nprincipal = \"cognito-authenticated\"\naction = \"iot:AttachPolicy\"\nresource = \"arn:aws:iot:us-east-1:123456789012:cert/abc\"\nexpect = \"allow\"\n"
        );
        let file = load("c.toml", &text).unwrap();
        let out = run(&file);
        assert!(out.iter().all(|o| o.agree), "{out:#?}");
        assert!(
            out[0].explanation.contains("identity-pool role policies"),
            "{out:#?}"
        );
    }

    #[test]
    fn bad_policy_json_names_policy_and_json_path() {
        let e = bad(&format!(
            "{HEAD}[policies]\nP = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Permit\",\"Action\":\"iot:*\",\"Resource\":\"*\"}}]}}'''\n"
        ));
        assert_eq!((e.line, e.key.as_str()), (4, "policies.P"), "{e}");
        assert!(e.message.contains("$.Statement[0].Effect"), "{e}");
    }

    #[test]
    fn missing_required_key() {
        let e = bad("region = \"us-east-1\"\n");
        assert!(e.message.contains("account_id"), "{e}");
    }
}
