//! Decisions per second for a realistic Cognito IoT setup: a 16-statement IoT policy with
//! policy variables and conditions, intersected with the identity-pool role policy.
//! Target (issue 2): at least 1,000,000 decisions/s single-threaded.
//!
//! Run: cargo bench --bench policy_eval

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iot_canary_policy::{IotAction, Policy, PolicySet, Request, RequestContext, authorize};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn iot_policy() -> String {
    let sub = "${cognito-identity.amazonaws.com:sub}";
    let mut st = vec![
        format!(
            r#"{{"Sid":"Connect","Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/{sub}-*","Condition":{{"ForAllValues:StringEquals":{{"iot:ConnectAttributes":["PersistentConnect"]}}}}}}"#
        ),
        format!(
            r#"{{"Sid":"OwnInbox","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"{ARN}:topic/users/{sub}/*"}}"#
        ),
        format!(
            r#"{{"Sid":"OwnInboxFilter","Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}:topicfilter/users/{sub}/*"}}"#
        ),
        format!(
            r#"{{"Sid":"NoReserved","Effect":"Deny","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":["{ARN}:topic/$aws/*","{ARN}:topicfilter/$aws/*"]}}"#
        ),
        format!(
            r#"{{"Sid":"NoBroadcast","Effect":"Deny","Action":"iot:Publish","Resource":"{ARN}:topic/broadcast/*","Condition":{{"StringNotEquals":{{"aws:username":"ops"}}}}}}"#
        ),
        format!(
            r#"{{"Sid":"OfficeOnly","Effect":"Deny","Action":"iot:*","Resource":"*","Condition":{{"NotIpAddress":{{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}}}}"#
        ),
    ];
    for (i, thing) in ["lamp", "thermostat", "plug", "door", "camera"]
        .iter()
        .enumerate()
    {
        st.push(format!(r#"{{"Sid":"Topics{i}","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["{ARN}:topic/devices/{sub}-{thing}/*"]}}"#));
        st.push(format!(r#"{{"Sid":"Filters{i}","Effect":"Allow","Action":"iot:Subscribe","Resource":["{ARN}:topicfilter/devices/{sub}-{thing}/*"]}}"#));
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        st.join(",")
    )
}

const ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"IotData","Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:Subscribe","iot:Receive"],"Resource":"*"}]}"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::parse("UserDevices", &iot_policy()).expect("bench policy parses");
    assert_eq!(policy.statement_labels().count(), 16);
    let set = PolicySet::CognitoAuthenticated {
        role_policies: vec![Arc::new(
            Policy::parse("AuthRole", ROLE).expect("role parses"),
        )],
        iot_policies: vec![Arc::new(policy)],
    };
    let sub = "us-east-1:aaaaaaaa-0000-4000-8000-000000000001";
    let mut ctx = RequestContext {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        client_id: Some(format!("{sub}-app")),
        source_ip: Some("10.1.2.3".parse().expect("ip")),
        ..Default::default()
    };
    ctx.values.insert(
        "cognito-identity.amazonaws.com:sub".into(),
        vec![sub.into()],
    );
    ctx.values
        .insert("aws:username".into(), vec!["alice".into()]);
    ctx.values.insert(
        "iot:connectattributes".into(),
        vec!["PersistentConnect".into()],
    );
    let own_topic = format!("devices/{sub}-camera/telemetry");
    let own_filter = format!("devices/{sub}-door/#");
    let other = "devices/us-east-1:bbbbbbbb-0000-4000-8000-000000000002-lamp/cmd".to_owned();
    let client = format!("{sub}-app");
    // A publish/delivery-heavy mix, as the lab sees it: allowed and denied, late matches.
    let requests: Vec<(IotAction, &str)> = vec![
        (IotAction::Publish, &own_topic),
        (IotAction::Receive, &own_topic),
        (IotAction::Subscribe, &own_filter),
        (IotAction::Publish, &other),
        (IotAction::Receive, &other),
        (IotAction::Connect, &client),
        (IotAction::Subscribe, "$aws/things/x/shadow/#"),
        (IotAction::Publish, "broadcast/all"),
    ];
    let allowed = requests
        .iter()
        .filter(|(a, r)| {
            authorize(
                &set,
                &Request {
                    action: *a,
                    resource: r,
                    context: &ctx,
                },
            )
            .allowed()
        })
        .count();
    assert_eq!(allowed, 4, "the mix should be half allowed");

    let mut group = c.benchmark_group("authorize");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("cognito_16_statements_mix", |b| {
        b.iter(|| {
            for (action, resource) in &requests {
                let r = authorize(
                    black_box(&set),
                    &Request {
                        action: *action,
                        resource: black_box(resource),
                        context: black_box(&ctx),
                    },
                );
                black_box(r);
            }
        })
    });
    group.finish();

    c.bench_function("parse_16_statement_policy", |b| {
        let json = iot_policy();
        b.iter(|| Policy::parse("P", black_box(&json)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
