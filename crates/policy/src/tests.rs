//! Whole-engine tests: grammar, combination rules and the documented traps. Each test names
//! the AWS documentation page whose behaviour it encodes.

use super::*;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

fn pol(name: &str, json: &str) -> Arc<Policy> {
    Arc::new(Policy::parse(name, json).unwrap_or_else(|e| panic!("{e}")))
}

/// A policy of one statement that allows `action` on `resource` (JSON: a string or an array).
fn allow(name: &str, action: &str, resource: &str) -> Arc<Policy> {
    pol(
        name,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{action},"Resource":{resource}}}]}}"#
        ),
    )
}

fn ctx(client_id: &str) -> RequestContext {
    RequestContext {
        region: REGION.into(),
        account_id: ACCOUNT.into(),
        client_id: Some(client_id.into()),
        ..Default::default()
    }
}

fn decide(set: &PolicySet, action: IotAction, resource: &str, c: &RequestContext) -> AuthResult {
    authorize(
        set,
        &Request {
            action,
            resource,
            context: c,
        },
    )
}

fn iam(policies: &[&Arc<Policy>]) -> PolicySet {
    PolicySet::Iam {
        policies: policies.iter().map(|p| Arc::clone(p)).collect(),
    }
}

fn err_path(json: &str) -> String {
    match Policy::parse("P", json) {
        Err(PolicyError::Invalid { path, .. }) => path,
        Ok(_) => panic!("expected an error for {json}"),
    }
}

// ---- grammar (IAM JSON policy element reference,
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html) ----

#[test]
fn statement_may_be_object_or_array_and_elements_strings_or_arrays() {
    let one = pol(
        "One",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}"#,
    );
    let many = pol(
        "Many",
        r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A","Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/c1"]}]}"#,
    );
    assert_eq!(one.statement_labels().collect::<Vec<_>>(), ["#0"]);
    assert_eq!(many.statement_labels().collect::<Vec<_>>(), ["A"]);
    assert_eq!(many.version(), Some("2012-10-17"));
    let c = ctx("c1");
    assert!(decide(&iam(&[&one]), IotAction::Connect, "anything", &c).allowed());
    assert!(decide(&iam(&[&many]), IotAction::Connect, "c1", &c).allowed());
    assert!(!decide(&iam(&[&many]), IotAction::Connect, "c2", &c).allowed());
}

#[test]
fn malformed_documents_are_errors_with_json_paths() {
    assert_eq!(err_path("not json"), "$");
    assert_eq!(err_path("[]"), "$");
    assert_eq!(err_path(r#"{"Version":"2012-10-17"}"#), "$");
    assert_eq!(
        err_path(r#"{"Version":"2020-01-01","Statement":[]}"#),
        "$.Version"
    );
    assert_eq!(err_path(r#"{"Statment":[]}"#), "$.Statment");
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Effect":"allow","Action":"iot:*","Resource":"*"}]}"#
        ),
        "$.Statement[1].Effect"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#),
        "$.Statement[0]"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Action":"iot:*"}]}"#),
        "$.Statement[0]"
    );
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","NotAction":"iot:Publish","Resource":"*"}]}"#
        ),
        "$.Statement[0].NotAction"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Action":["iot:*",3],"Resource":"*"}]}"#),
        "$.Statement[0].Action[1]"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Action":"Publish","Resource":"*"}]}"#),
        "$.Statement[0].Action[0]"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"topic/a"}]}"#),
        "$.Statement[0].Resource[0]"
    );
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Principal":"*"}]}"#
        ),
        "$.Statement[0].Principal"
    );
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"StringLikeX":{"k":"v"}}}]}"#
        ),
        "$.Statement[0].Condition.StringLikeX"
    );
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"NumericLessThan":{"k":"many"}}}]}"#
        ),
        "$.Statement[0].Condition.NumericLessThan.k"
    );
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}]}"#
        ),
        "$.Statement[0].Condition.StringEquals.k"
    );
    // IAM: "Statement IDs (SID) in a single policy must be unique".
    assert_eq!(
        err_path(
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"iot:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"iot:*","Resource":"*"}]}"#
        ),
        "$.Statement[1].Sid"
    );
    assert_eq!(
        err_path(r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Foo":1}]}"#),
        "$.Statement[0].Foo"
    );
}

#[test]
fn not_action_and_not_resource() {
    // IAM "NotAction" / "NotResource": the statement applies to everything not listed.
    let p = pol(
        "P",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","NotAction":"iot:Connect","NotResource":"arn:aws:iot:us-east-1:123456789012:topic/secret/*"}]}"#,
    );
    let set = iam(&[&p]);
    let c = ctx("c");
    assert!(decide(&set, IotAction::Publish, "open/x", &c).allowed());
    assert!(!decide(&set, IotAction::Publish, "secret/x", &c).allowed());
    assert!(!decide(&set, IotAction::Connect, "c", &c).allowed());
}

#[test]
fn resource_arns_are_built_per_action() {
    // IoT "AWS IoT Core actions / resources": client/, topic/, topicfilter/, thing/.
    // https://docs.aws.amazon.com/iot/latest/developerguide/iot-action-resources.html
    assert_eq!(
        IotAction::Connect.resource_arn(REGION, ACCOUNT, "c"),
        "arn:aws:iot:us-east-1:123456789012:client/c"
    );
    for (action, kind) in [
        (IotAction::Publish, "topic"),
        (IotAction::Receive, "topic"),
        (IotAction::RetainPublish, "topic"),
        (IotAction::Subscribe, "topicfilter"),
        (IotAction::GetThingShadow, "thing"),
        (IotAction::UpdateThingShadow, "thing"),
        (IotAction::DeleteThingShadow, "thing"),
    ] {
        let arn = action.resource_arn(REGION, ACCOUNT, "x");
        assert_eq!(arn, format!("arn:aws:iot:us-east-1:123456789012:{kind}/x"));
        let p = pol(
            "P",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{}","Resource":"{arn}"}}]}}"#,
                action.name()
            ),
        );
        assert!(
            decide(&iam(&[&p]), action, "x", &ctx("c")).allowed(),
            "{action:?}"
        );
        // A full ARN may be given instead of the plain name.
        assert!(
            decide(&iam(&[&p]), action, &arn, &ctx("c")).allowed(),
            "{action:?}"
        );
    }
    assert_eq!(
        IotAction::from_name("IOT:publish"),
        Some(IotAction::Publish)
    );
    assert_eq!(IotAction::from_name("Publish"), None);
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    // IAM "Action" element: case-insensitive, `*`/`?` wildcards.
    let p = allow("P", r#""IOT:pub*""#, r#""*""#);
    let c = ctx("c");
    assert!(decide(&iam(&[&p]), IotAction::Publish, "t", &c).allowed());
    assert!(!decide(&iam(&[&p]), IotAction::Subscribe, "t", &c).allowed());
}

// ---- evaluation (IAM "Policy evaluation logic"; IoT API_AuthResult) ----

#[test]
fn explicit_deny_beats_allow_and_implicit_deny_is_default() {
    let allow = pol(
        "Allow",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    );
    let deny = pol(
        "Deny",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoSecret","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/secret"}]}"#,
    );
    let set = iam(&[&allow, &deny]);
    let c = ctx("c");
    let r = decide(&set, IotAction::Publish, "secret", &c);
    assert_eq!(r.decision, Decision::ExplicitDeny);
    assert_eq!(
        r.deciding,
        Some(StatementRef {
            policy: "Deny".into(),
            statement: "NoSecret".into()
        })
    );
    let r = decide(&set, IotAction::Publish, "open", &c);
    assert_eq!(r.decision, Decision::Allowed);
    assert_eq!(r.deciding.unwrap().to_string(), "Allow/All");
    let r = decide(&iam(&[&deny]), IotAction::Publish, "open", &c);
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert_eq!(r.deciding, None);
    assert!(
        r.explanation.contains("identity policies"),
        "{}",
        r.explanation
    );
    let r = decide(&iam(&[]), IotAction::Connect, "c", &c);
    assert_eq!(r.decision, Decision::ImplicitDeny);
}

#[test]
fn assumed_role_is_role_intersect_session() {
    // IAM "Session policies": "the intersection of the role's identity-based policy and the
    // session policies ... You cannot use session policies to grant more permissions".
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
    let role = allow("Role", r#""iot:*""#, r#""arn:aws:iot:*:*:topic/devices/*""#);
    let session = pol(
        "session",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Own","Effect":"Allow","Action":"iot:Publish","Resource":["arn:aws:iot:*:*:topic/devices/lamp1/*","arn:aws:iot:*:*:topic/other/*"]}]}"#,
    );
    let set = PolicySet::AssumedRole {
        role_policies: vec![role.clone()],
        session_policies: vec![session],
    };
    let c = ctx("c");
    let r = decide(&set, IotAction::Publish, "devices/lamp1/cmd", &c);
    assert!(r.allowed());
    assert_eq!(r.deciding.unwrap().to_string(), "session/Own");
    // Role allows, session does not.
    let r = decide(&set, IotAction::Publish, "devices/lamp2/cmd", &c);
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert!(
        r.explanation.contains("session policy"),
        "{}",
        r.explanation
    );
    // Session allows, role does not: session policies cannot grant.
    let r = decide(&set, IotAction::Publish, "other/x", &c);
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert!(r.explanation.contains("role policies"), "{}", r.explanation);
    // No session policy: the role's permissions unchanged.
    let plain = PolicySet::AssumedRole {
        role_policies: vec![role],
        session_policies: vec![],
    };
    assert!(decide(&plain, IotAction::Publish, "devices/lamp2/cmd", &c).allowed());
}

#[test]
fn deny_in_session_policy_wins() {
    let role = allow("Role", r#""iot:*""#, r#""*""#);
    let session = pol(
        "session",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Sid":"D","Effect":"Deny","Action":"iot:Subscribe","Resource":"*"}]}"#,
    );
    let set = PolicySet::AssumedRole {
        role_policies: vec![role],
        session_policies: vec![session],
    };
    let r = decide(&set, IotAction::Subscribe, "a/#", &ctx("c"));
    assert_eq!(r.decision, Decision::ExplicitDeny);
    assert_eq!(r.deciding.unwrap().to_string(), "session/D");
}

#[test]
fn cognito_authenticated_needs_both_role_and_iot_policy() {
    // IoT "Authorization with Amazon Cognito identities": "An action is allowed only if both
    // policies allow the requested action"; without an attached IoT policy authorization fails.
    // https://docs.aws.amazon.com/iot/latest/developerguide/cog-iot-policies.html
    let role = allow("AuthRole", r#""iot:*""#, r#""*""#);
    let iot = pol(
        "UserIot",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"OwnClient","Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${cognito-identity.amazonaws.com:sub}"}]}"#,
    );
    let mut c = ctx("us-east-1:alice");
    c.values.insert(
        "cognito-identity.amazonaws.com:sub".into(),
        vec!["us-east-1:alice".into()],
    );
    let with = PolicySet::CognitoAuthenticated {
        role_policies: vec![role.clone()],
        iot_policies: vec![iot.clone()],
    };
    let r = decide(&with, IotAction::Connect, "us-east-1:alice", &c);
    assert!(r.allowed(), "{}", r.explanation);
    assert_eq!(r.deciding.unwrap().to_string(), "UserIot/OwnClient");
    assert!(!decide(&with, IotAction::Connect, "us-east-1:bob", &c).allowed());
    // Role allows everything, but there is no IoT policy: the documented trap.
    let without = PolicySet::CognitoAuthenticated {
        role_policies: vec![role.clone()],
        iot_policies: vec![],
    };
    let r = decide(&without, IotAction::Connect, "us-east-1:alice", &c);
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert!(
        r.explanation.contains("no AWS IoT policy"),
        "{}",
        r.explanation
    );
    // The IoT policy alone does not suffice either.
    let no_role = PolicySet::CognitoAuthenticated {
        role_policies: vec![],
        iot_policies: vec![iot],
    };
    assert!(!decide(&no_role, IotAction::Connect, "us-east-1:alice", &c).allowed());
}

#[test]
fn cognito_unauthenticated_without_session_policies_uses_role_only() {
    // Cognito "Identity pools (federated identities) authentication flow": in the basic flow
    // (no caller-supplied session policy) guests get the unauthenticated role's permissions.
    // The enhanced flow's scope-down is tested in `cognito`.
    let role = allow(
        "Guest",
        r#""iot:Subscribe""#,
        r#""arn:aws:iot:*:*:topicfilter/public/*""#,
    );
    let set = PolicySet::CognitoUnauthenticated {
        role_policies: vec![role],
        session_policies: vec![],
    };
    assert!(decide(&set, IotAction::Subscribe, "public/news", &ctx("g")).allowed());
    assert!(!decide(&set, IotAction::Subscribe, "private/x", &ctx("g")).allowed());
}

#[test]
fn retained_publish_needs_publish_and_retain_publish() {
    // IoT iot-action-resources.html: "iot:RetainPublish ... also requires iot:Publish".
    let publish_only = allow("P", r#""iot:Publish""#, r#""*""#);
    let both = allow("B", r#"["iot:Publish","iot:RetainPublish"]"#, r#""*""#);
    let retain_only = allow("R", r#""iot:RetainPublish""#, r#""*""#);
    let c = ctx("c");
    assert!(!authorize_retained_publish(&iam(&[&publish_only]), "t", &c).allowed());
    assert!(!authorize_retained_publish(&iam(&[&retain_only]), "t", &c).allowed());
    assert!(authorize_retained_publish(&iam(&[&both]), "t", &c).allowed());
}

// ---- documented traps ----

#[test]
fn trap_deny_on_restricted_topicfilter_does_not_stop_hash_subscribe() {
    // IoT pub-sub-policy.html: Allow topicfilter/a/* + Deny topicfilter/a/restricted/* still
    // lets a client subscribe to `a/#`; the fix is a Receive deny on topic/a/restricted/*.
    let p = pol(
        "P",
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/*"},
          {"Effect":"Deny","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/restricted/*"},
          {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/*"},
          {"Sid":"Fix","Effect":"Deny","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/restricted/*"}]}"#,
    );
    let set = iam(&[&p]);
    let c = ctx("c");
    assert!(decide(&set, IotAction::Subscribe, "a/#", &c).allowed());
    assert_eq!(
        decide(&set, IotAction::Subscribe, "a/restricted/x", &c).decision,
        Decision::ExplicitDeny
    );
    let r = decide(&set, IotAction::Receive, "a/restricted/x", &c);
    assert_eq!(r.decision, Decision::ExplicitDeny);
    assert_eq!(r.deciding.unwrap().statement, "Fix");
}

#[test]
fn trap_client_id_plus_reaches_single_level_wildcard_filter() {
    // IoT basic-policy-variables.html: with `${iot:ClientId}` in a topic filter a client
    // connecting as `+` may subscribe to `my/+/topic`.
    let p = allow(
        "P",
        r#""iot:Subscribe""#,
        r#""arn:aws:iot:us-east-1:123456789012:topicfilter/my/${iot:ClientId}/topic""#,
    );
    let set = iam(&[&p]);
    assert!(decide(&set, IotAction::Subscribe, "my/+/topic", &ctx("+")).allowed());
    assert!(!decide(&set, IotAction::Subscribe, "my/+/topic", &ctx("dev1")).allowed());
    assert!(decide(&set, IotAction::Subscribe, "my/dev1/topic", &ctx("dev1")).allowed());
}

#[test]
fn trap_star_crosses_topic_levels() {
    // IoT pub-sub-policy.html: `*` in a resource is not an MQTT single-level wildcard.
    let p = allow(
        "P",
        r#""iot:Publish""#,
        r#""arn:aws:iot:us-east-1:123456789012:topic/devices/*/telemetry""#,
    );
    assert!(
        decide(
            &iam(&[&p]),
            IotAction::Publish,
            "devices/bob/lamp/x/telemetry",
            &ctx("c")
        )
        .allowed()
    );
}

#[test]
fn trap_unresolvable_variable_never_matches_everything() {
    // IoT cert-policy-variables.html / IAM reference_policies_variables.html: no value -> the
    // variable stays literal and the statement does not match real resources.
    let p = allow(
        "P",
        r#""iot:Connect""#,
        r#""arn:aws:iot:us-east-1:123456789012:client/${cognito-identity.amazonaws.com:sub}""#,
    );
    let set = iam(&[&p]);
    assert!(
        !decide(
            &set,
            IotAction::Connect,
            "us-east-1:alice",
            &ctx("us-east-1:alice")
        )
        .allowed()
    );
    // And a Deny with an unresolvable variable denies nothing real.
    let d = pol(
        "D",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Effect":"Deny","Action":"iot:*","Resource":"arn:aws:iot:*:*:client/${aws:username}"}]}"#,
    );
    assert!(decide(&iam(&[&d]), IotAction::Connect, "bob", &ctx("bob")).allowed());
}

#[test]
fn trap_variables_need_version_2012_10_17() {
    // IAM "Version": without Version 2012-10-17 variables such as ${aws:username} are
    // treated as literal strings.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
    let stmt = r#""Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}]"#;
    let new = pol("New", &format!(r#"{{"Version":"2012-10-17",{stmt}}}"#));
    let old = pol("Old", &format!(r#"{{"Version":"2008-10-17",{stmt}}}"#));
    let none = pol("None", &format!("{{{stmt}}}"));
    let c = ctx("dev1");
    assert!(decide(&iam(&[&new]), IotAction::Connect, "dev1", &c).allowed());
    assert!(!decide(&iam(&[&old]), IotAction::Connect, "dev1", &c).allowed());
    assert!(!decide(&iam(&[&none]), IotAction::Connect, "dev1", &c).allowed());
    assert!(decide(&iam(&[&none]), IotAction::Connect, "${iot:ClientId}", &c).allowed());
}

#[test]
fn thing_variables_and_is_attached() {
    // IoT thing-policy-variables.html: ${iot:Connection.Thing.ThingName}, Attributes[...],
    // and Bool iot:Connection.Thing.IsAttached.
    let p = pol(
        "Thing",
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}",
           "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
          {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/site/${iot:Connection.Thing.Attributes[site]}/*"}]}"#,
    );
    let set = iam(&[&p]);
    let mut c = ctx("lamp1");
    c.values.insert(
        "iot:connection.thing.thingname".into(),
        vec!["lamp1".into()],
    );
    c.values.insert(
        "iot:connection.thing.attributes[site]".into(),
        vec!["berlin".into()],
    );
    assert!(
        !decide(&set, IotAction::Connect, "lamp1", &c).allowed(),
        "not attached"
    );
    c.values.insert(
        "iot:connection.thing.isattached".into(),
        vec!["true".into()],
    );
    assert!(decide(&set, IotAction::Connect, "lamp1", &c).allowed());
    assert!(!decide(&set, IotAction::Connect, "lamp2", &c).allowed());
    assert!(decide(&set, IotAction::Publish, "site/berlin/temp", &c).allowed());
    assert!(!decide(&set, IotAction::Publish, "site/paris/temp", &c).allowed());
}

#[test]
fn aws_global_variables_and_conditions() {
    // IAM reference_policies_variables.html: ${aws:username}, ${aws:userid}; IAM condition
    // keys aws:SourceIp and aws:CurrentTime.
    let p = pol(
        "U",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
          "Resource":["arn:aws:iot:us-east-1:123456789012:topic/users/${aws:username}/*","arn:aws:iot:us-east-1:123456789012:topic/ids/${aws:userid}"],
          "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#,
    );
    let set = iam(&[&p]);
    let mut c = ctx("x");
    c.values.insert("aws:username".into(), vec!["alice".into()]);
    c.values
        .insert("aws:userid".into(), vec!["AIDAEXAMPLE".into()]);
    c.source_ip = Some("10.1.2.3".parse().unwrap());
    c.current_time = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
    assert!(decide(&set, IotAction::Publish, "users/alice/x", &c).allowed());
    assert!(decide(&set, IotAction::Publish, "ids/AIDAEXAMPLE", &c).allowed());
    assert!(!decide(&set, IotAction::Publish, "users/bob/x", &c).allowed());
    let mut outside = c.clone();
    outside.source_ip = Some("192.0.2.1".parse().unwrap());
    assert!(!decide(&set, IotAction::Publish, "users/alice/x", &outside).allowed());
    let mut late = c.clone();
    late.current_time = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_900_000_000));
    assert!(!decide(&set, IotAction::Publish, "users/alice/x", &late).allowed());
    let mut no_time = c;
    no_time.current_time = None;
    assert!(!decide(&set, IotAction::Publish, "users/alice/x", &no_time).allowed());
}

#[test]
fn connect_attributes_condition() {
    // IoT connect-policy.html: ForAllValues:StringEquals on iot:ConnectAttributes.
    let p = pol(
        "C",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
          "Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}}]}"#,
    );
    let set = iam(&[&p]);
    let mut c = ctx("c");
    c.values.insert(
        "iot:connectattributes".into(),
        vec!["PersistentConnect".into()],
    );
    assert!(decide(&set, IotAction::Connect, "c", &c).allowed());
    c.values.insert(
        "iot:connectattributes".into(),
        vec!["PersistentConnect".into(), "LastWill".into()],
    );
    assert!(!decide(&set, IotAction::Connect, "c", &c).allowed());
}

/// An empty condition value list, as the AWS IoT guide's ConnectAttributes example writes it
/// (`"ForAllValues:StringEquals": {"iot:ConnectAttributes": []}`: connect only without
/// attributes). Over an empty policy-side set: `ForAllValues` holds iff the request has no
/// value for the key; `ForAnyValue` and plain positive operators never hold; negated operators
/// hold.
#[test]
fn empty_condition_value_lists() {
    let doc = |cond: &str| {
        pol(
            "E",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
                  "Condition":{cond}}}]}}"#
            ),
        )
    };
    let with = |attrs: Option<&[&str]>| {
        let mut c = ctx("c");
        if let Some(a) = attrs {
            c.values.insert(
                "iot:connectattributes".into(),
                a.iter().map(|s| s.to_string()).collect(),
            );
        }
        c
    };
    let absent = with(None);
    let empty = with(Some(&[]));
    let persistent = with(Some(&["PersistentConnect"]));
    let rows: [(&str, [bool; 3]); 5] = [
        (
            r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":[]}}"#,
            [true, true, false],
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":[]}}"#,
            [false, false, false],
        ),
        (
            r#"{"StringEquals":{"iot:ConnectAttributes":[]}}"#,
            [false, false, false],
        ),
        (
            r#"{"StringNotEquals":{"iot:ConnectAttributes":[]}}"#,
            [true, true, true],
        ),
        (
            r#"{"ForAllValues:StringLike":{"iot:ConnectAttributes":[]}}"#,
            [true, true, false],
        ),
    ];
    for (cond, want) in rows {
        let set = iam(&[&doc(cond)]);
        for (c, w) in [&absent, &empty, &persistent].into_iter().zip(want) {
            assert_eq!(
                decide(&set, IotAction::Connect, "c", c).allowed(),
                w,
                "{cond} with {:?}",
                c.values.get("iot:connectattributes")
            );
        }
    }
    // The statements view shows the empty list as written.
    let p = doc(r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":[]}}"#);
    let v: Vec<_> = p.statements().collect();
    assert_eq!(
        v[0].conditions,
        [(
            "ForAllValues:StringEquals".to_owned(),
            "iot:ConnectAttributes".to_owned(),
            Vec::<String>::new()
        )]
    );
}

#[test]
fn statements_view_shows_elements_as_written() {
    let p = pol(
        "V",
        r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"S","Effect":"Deny","Action":"iot:Subscribe","Resource":["arn:aws:iot:*:*:topicfilter/a/#"]},
          {"Effect":"Allow","NotAction":["iot:Connect"],"NotResource":"*",
           "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":true}}}]}"#,
    );
    let v: Vec<_> = p.statements().collect();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].label, v[0].effect), ("S", Effect::Deny));
    assert_eq!(v[0].resources, ["arn:aws:iot:*:*:topicfilter/a/#"]);
    assert_eq!(
        (v[1].label, v[1].not_action, v[1].not_resource),
        ("#1", true, true)
    );
    assert_eq!(
        v[1].conditions,
        [(
            "Bool".to_owned(),
            "iot:Connection.Thing.IsAttached".to_owned(),
            vec!["true".to_owned()]
        )]
    );
    assert!(p.has_variables());
}

#[test]
fn authorize_action_decides_control_plane_actions() {
    let p = pol(
        "A",
        r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"Things","Effect":"Allow","Action":"iot:Describe*","Resource":"arn:aws:iot:us-east-1:123456789012:thing/*"},
          {"Effect":"Deny","Action":"iot:DescribeThing","Resource":"arn:aws:iot:us-east-1:123456789012:thing/secret"}]}"#,
    );
    let set = iam(&[&p]);
    let c = ctx("c");
    let thing = |n: &str| format!("arn:aws:iot:us-east-1:123456789012:thing/{n}");
    let ok = authorize_action(&set, "iot:DescribeThing", &thing("x"), &c);
    assert!(ok.allowed());
    assert_eq!(ok.deciding.map(|d| d.statement), Some("Things".into()));
    let denied = authorize_action(&set, "iot:DescribeThing", &thing("secret"), &c);
    assert_eq!(denied.decision, Decision::ExplicitDeny);
    assert!(!authorize_action(&set, "iot:CreateThing", &thing("x"), &c).allowed());
}

#[test]
fn applicable_statements_lists_every_layer_and_both_effects() {
    // Role ∩ IoT policy: the role's broad allow, the IoT policy's allow and its deny all apply
    // to the denied topic; only the role's allow applies to a topic the IoT policy never names.
    let role = pol(
        "Role",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Broad","Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
    );
    let iot = pol(
        "Iot",
        r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"Mine","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/d/*"},
          {"Sid":"NotThat","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/d/secret"}]}"#,
    );
    let set = PolicySet::CognitoAuthenticated {
        role_policies: vec![role],
        iot_policies: vec![iot],
    };
    let c = ctx("c");
    let topic = |t: &str| IotAction::Publish.resource_arn(REGION, ACCOUNT, t);
    let labels = |t: &str| -> Vec<(&'static str, String, Effect)> {
        applicable_statements(&set, "iot:Publish", &topic(t), &c)
            .into_iter()
            .map(|a| (a.layer, a.statement.to_string(), a.effect))
            .collect()
    };
    assert_eq!(
        labels("d/secret"),
        [
            (
                "identity-pool role policies",
                "Role/Broad".into(),
                Effect::Allow
            ),
            (
                "IoT policies attached to the identity",
                "Iot/Mine".into(),
                Effect::Allow
            ),
            (
                "IoT policies attached to the identity",
                "Iot/NotThat".into(),
                Effect::Deny
            ),
        ]
    );
    assert_eq!(
        labels("elsewhere"),
        [(
            "identity-pool role policies",
            "Role/Broad".into(),
            Effect::Allow
        )]
    );
    // Equal lists, equal decisions: `d/a` and `d/b` are decided by the same statements.
    assert_eq!(labels("d/a"), labels("d/b"));
}
