//! Property tests for the policy engine: the parser never panics, and evaluation keeps the
//! invariants AWS documents (explicit deny wins, intersections never grant more than either
//! side, allow/deny monotonicity), and wildcard matching agrees with a naive reference.

use std::sync::Arc;

use iot_canary_policy::{
    Decision, IotAction, Policy, PolicySet, Request, RequestContext, authorize,
};
use proptest::prelude::*;

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn ctx(user: &str) -> RequestContext {
    let mut c = RequestContext {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        client_id: Some("c1".into()),
        ..Default::default()
    };
    c.values.insert("aws:username".into(), vec![user.into()]);
    c
}

fn action() -> impl Strategy<Value = IotAction> {
    prop::sample::select(IotAction::ALL.to_vec())
}

fn action_pattern() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "*",
        "iot:*",
        "iot:Publish",
        "iot:pub*",
        "iot:Subscribe",
        "iot:Receive",
        "iot:Connect",
        "iot:*Shadow",
        "IOT:RetainPublish",
        "iot:?onnect",
    ])
}

/// Short strings over an alphabet that exercises wildcards and literal MQTT characters.
fn fragment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', 'b', '/', '+', '#', '*', '?']),
        0..6,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn literal_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!['a', 'b', '/', '+', '#']), 0..6)
        .prop_map(|v| v.into_iter().collect())
}

fn resource_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (
            prop::sample::select(vec!["client", "topic", "topicfilter", "thing", "*"]),
            fragment()
        )
            .prop_map(|(kind, f)| format!("{ARN}:{kind}/{f}")),
        fragment().prop_map(|f| format!("{ARN}:topic/${{aws:username}}{f}")),
    ]
}

fn condition() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        r#"{"StringEquals":{"aws:username":"alice"}}"#,
        r#"{"StringNotEquals":{"aws:username":"alice"}}"#,
        r#"{"StringLike":{"aws:username":"b*"}}"#,
        r#"{"StringEqualsIfExists":{"aws:nothere":"x"}}"#,
        r#"{"Null":{"aws:username":"false"}}"#,
    ]))
    .prop_map(|c| c.map(str::to_owned))
}

fn statement(effect: Option<&'static str>) -> impl Strategy<Value = String> {
    let effect = match effect {
        Some(e) => Just(e).boxed(),
        None => prop::sample::select(vec!["Allow", "Deny"]).boxed(),
    };
    (
        effect,
        any::<bool>(),
        prop::collection::vec(action_pattern(), 1..3),
        any::<bool>(),
        prop::collection::vec(resource_pattern(), 1..3),
        condition(),
    )
        .prop_map(
            |(effect, not_action, actions, not_resource, resources, cond)| {
                let a = if not_action { "NotAction" } else { "Action" };
                let r = if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                };
                let cond = cond.map_or(String::new(), |c| format!(r#","Condition":{c}"#));
                format!(
                    r#"{{"Effect":"{effect}","{a}":{},"{r}":{}{cond}}}"#,
                    serde_json::to_string(&actions).unwrap(),
                    serde_json::to_string(&resources).unwrap()
                )
            },
        )
}

fn doc(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn policy(name: &str, statements: &[String]) -> Arc<Policy> {
    Arc::new(Policy::parse(name, &doc(statements)).expect("generated policy parses"))
}

fn statements() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(statement(None), 0..5)
}

fn decide(set: &PolicySet, a: IotAction, resource: &str, c: &RequestContext) -> Decision {
    authorize(
        set,
        &Request {
            action: a,
            resource,
            context: c,
        },
    )
    .decision
}

/// Naive reference glob: `*` any run, `?` one char, everything else literal.
fn reference_glob(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => {
            reference_glob(&p[1..], t) || (!t.is_empty() && reference_glob(p, &t[1..]))
        }
        (Some('?'), Some(_)) => reference_glob(&p[1..], &t[1..]),
        (Some(c), Some(d)) if c == d => reference_glob(&p[1..], &t[1..]),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in ".{0,200}") {
        let _ = Policy::parse("P", &s);
    }

    #[test]
    fn parse_never_panics_on_policy_shaped_json(
        keys in prop::collection::vec(prop::sample::select(vec![
            "Version", "Statement", "Effect", "Action", "NotAction", "Resource", "NotResource",
            "Condition", "Sid", "StringLike", "ForAllValues:StringEquals", "NumericLessThan",
            "DateGreaterThan", "IpAddress", "Null", "Bool", "aws:SourceIp", "Id"]), 0..12),
        vals in prop::collection::vec(prop::sample::select(vec![
            "\"2012-10-17\"", "\"Allow\"", "\"Deny\"", "\"iot:*\"", "\"*\"", "1", "true", "null",
            "[]", "{}", "[\"a\",1]", "\"10.0.0.0/8\"", "\"${x\"", "\"${*}\"", "\"2020-01-01\""]), 0..12),
        nest in prop::collection::vec(0u8..4, 0..12),
    ) {
        // Build nested objects/arrays from the choices to reach deep parser paths.
        let mut json = String::from("{");
        for (i, k) in keys.iter().enumerate() {
            if i > 0 { json.push(','); }
            let v = vals.get(i).copied().unwrap_or("\"x\"");
            let v = match nest.get(i).copied().unwrap_or(0) {
                0 => v.to_owned(),
                1 => format!("[{v}]"),
                2 => format!("{{\"{k}\":{v}}}"),
                _ => format!("[{{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\",\"Condition\":{{\"{k}\":{{\"k\":{v}}}}}}}]"),
            };
            json.push_str(&format!("\"{k}\":{v}"));
        }
        json.push('}');
        let _ = Policy::parse("P", &json);
    }

    #[test]
    fn evaluation_never_panics(
        st in statements(), a in action(), name in literal_name(), user in "[a-z]{0,4}",
    ) {
        let set = PolicySet::Iam { policies: vec![policy("P", &st)] };
        let _ = decide(&set, a, &name, &ctx(&user));
    }

    #[test]
    fn explicit_deny_always_wins(st in statements(), a in action(), name in literal_name()) {
        // IAM evaluation logic: an explicit deny overrides any allow.
        let mut with_deny = st.clone();
        with_deny.push(r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#.to_owned());
        let c = ctx("alice");
        for set in [
            PolicySet::Iam { policies: vec![policy("P", &with_deny)] },
            PolicySet::AssumedRole { role_policies: vec![policy("R", &st)], session_policies: vec![policy("S", &with_deny)] },
            PolicySet::CognitoAuthenticated { role_policies: vec![policy("R", &with_deny)], iot_policies: vec![policy("I", &st)] },
            PolicySet::CognitoAuthenticated { role_policies: vec![policy("R", &st)], iot_policies: vec![policy("I", &with_deny)] },
        ] {
            prop_assert_eq!(decide(&set, a, &name, &c), Decision::ExplicitDeny);
        }
    }

    #[test]
    fn intersection_never_grants_more_than_either_side(
        role in statements(), session in statements(), a in action(), name in literal_name(), user in "alice|bob",
    ) {
        let c = ctx(&user);
        let r = PolicySet::Iam { policies: vec![policy("R", &role)] };
        let s = PolicySet::Iam { policies: vec![policy("S", &session)] };
        let dr = decide(&r, a, &name, &c);
        let ds = decide(&s, a, &name, &c);
        let expected = if dr == Decision::ExplicitDeny || ds == Decision::ExplicitDeny {
            Decision::ExplicitDeny
        } else if dr == Decision::Allowed && ds == Decision::Allowed {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        };
        let assumed = PolicySet::AssumedRole { role_policies: vec![policy("R", &role)], session_policies: vec![policy("S", &session)] };
        prop_assert_eq!(decide(&assumed, a, &name, &c), expected);
        let cognito = PolicySet::CognitoAuthenticated { role_policies: vec![policy("R", &role)], iot_policies: vec![policy("S", &session)] };
        prop_assert_eq!(decide(&cognito, a, &name, &c), expected);
    }

    #[test]
    fn union_is_order_independent_and_monotone(
        p in statements(), q in statements(), extra in statement(Some("Allow")), a in action(), name in literal_name(),
    ) {
        let c = ctx("alice");
        let pq = PolicySet::Iam { policies: vec![policy("P", &p), policy("Q", &q)] };
        let qp = PolicySet::Iam { policies: vec![policy("Q", &q), policy("P", &p)] };
        let d = decide(&pq, a, &name, &c);
        prop_assert_eq!(d, decide(&qp, a, &name, &c));
        // Adding an allow never removes access and never hides an explicit deny.
        let mut more = p.clone();
        more.push(extra);
        let d2 = decide(&PolicySet::Iam { policies: vec![policy("P", &more), policy("Q", &q)] }, a, &name, &c);
        match d {
            Decision::Allowed => prop_assert_eq!(d2, Decision::Allowed),
            Decision::ExplicitDeny => prop_assert_eq!(d2, Decision::ExplicitDeny),
            Decision::ImplicitDeny => prop_assert_ne!(d2, Decision::ExplicitDeny),
        }
    }

    #[test]
    fn adding_a_deny_never_grants(p in statements(), extra in statement(Some("Deny")), a in action(), name in literal_name()) {
        let c = ctx("bob");
        let before = decide(&PolicySet::Iam { policies: vec![policy("P", &p)] }, a, &name, &c);
        let mut more = p.clone();
        more.push(extra);
        let after = decide(&PolicySet::Iam { policies: vec![policy("P", &more)] }, a, &name, &c);
        if before != Decision::Allowed {
            prop_assert_ne!(after, Decision::Allowed);
        }
    }

    #[test]
    fn resource_glob_agrees_with_reference(pattern in fragment(), topic in fragment()) {
        let p = policy("P", &[format!(r#"{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ARN}:topic/{pattern}"}}"#)]);
        let set = PolicySet::Iam { policies: vec![p] };
        let got = decide(&set, IotAction::Publish, &topic, &ctx("alice")) == Decision::Allowed;
        let want = reference_glob(
            &format!("topic/{pattern}").chars().collect::<Vec<_>>(),
            &format!("topic/{topic}").chars().collect::<Vec<_>>(),
        );
        prop_assert_eq!(got, want, "pattern {:?} topic {:?}", pattern, topic);
    }
}
