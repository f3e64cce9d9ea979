//! The policy parser must never panic, whatever the bytes; a document it accepts must also
//! evaluate without panicking.
#![no_main]

use std::sync::Arc;

use iot_canary_policy::{IotAction, Policy, PolicySet, Request, RequestContext, authorize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse("fuzz", text) else {
        return;
    };
    let mut ctx = RequestContext {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        client_id: Some("c+1".into()),
        ..Default::default()
    };
    ctx.values.insert("aws:username".into(), vec!["alice".into()]);
    let set = PolicySet::Iam {
        policies: vec![Arc::new(policy)],
    };
    for action in IotAction::ALL {
        for resource in ["c+1", "a/#", "a/b/c", "", "arn:aws:iot:us-east-1:123456789012:topic/x"] {
            let _ = authorize(
                &set,
                &Request {
                    action,
                    resource,
                    context: &ctx,
                },
            );
        }
    }
});
