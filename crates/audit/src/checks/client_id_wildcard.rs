//! IOT_POLICY_CLIENT_ID_WILDCARD_CHECK (High; reason
//! CLIENT_ID_WILDCARD_SUBSCRIBES_TO_OTHER_CLIENTS): `${iot:ClientId}` in a `topicfilter/`
//! resource while `iot:Connect` admits a client id that is itself an MQTT wildcard. A client
//! connecting as `+` (or `#`) turns `topicfilter/devices/${iot:ClientId}/*` into the filter
//! `devices/+/…`, a subscription to every client's topics (AWS IoT "Basic policy variables"
//! warns about this). Not a Device Defender check.
//!
//! Reported only when the engine proves the whole route for client id `+` or `#`: Connect,
//! Subscribe to the wildcard filter, and Receive of another client's topic that the filter
//! matches. A tight `iot:Receive` closes the route, and then nothing is reported.

use iot_canary_policy::Effect;

use super::{Finding, Severity, Subject};
use crate::witness::{
    Caller, glob, instantiate, iot_arn, mqtt_matches, other_topic_in, valid_filter,
};

pub const CHECK: &str = "IOT_POLICY_CLIENT_ID_WILDCARD_CHECK";
pub const REASON: &str = "CLIENT_ID_WILDCARD_SUBSCRIBES_TO_OTHER_CLIENTS";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let o = subject.options;
    let mut out = Vec::new();
    for client_id in ["+", "#"] {
        let caller = Caller::unattached(client_id);
        let connect = subject.decide(&caller, "iot:Connect", &iot_arn(o, "client", client_id));
        if !connect.allowed() {
            continue;
        }
        for p in &subject.policies {
            for s in p.statements() {
                if s.effect != Effect::Allow
                    || s.not_resource
                    || !s.actions.iter().any(|a| glob(a, "iot:Subscribe", true))
                {
                    continue;
                }
                for r in s.resources {
                    if !r.to_ascii_lowercase().contains("${iot:clientid}")
                        || !r.contains(":topicfilter/")
                    {
                        continue;
                    }
                    let arn = instantiate(r, &caller, "audit-probe", o);
                    let Some((_, filter)) = arn.split_once(":topicfilter/") else {
                        continue;
                    };
                    if !valid_filter(filter) {
                        continue;
                    }
                    let topic = other_topic_in(filter);
                    if !mqtt_matches(filter, &topic) {
                        continue;
                    }
                    let Some(leak) = subject.subscribe_and_receive(&caller, &arn, &topic) else {
                        continue;
                    };
                    let message = format!(
                        "{} {}: `{r}` uses ${{iot:ClientId}} in a topic filter and iot:Connect admits client id `{client_id}`, which subscribes to `{filter}` and receives other clients' messages. Witness: {}; {}; {}",
                        subject.label(),
                        subject.principal,
                        connect.summary(),
                        leak[0].summary(),
                        leak[1].summary()
                    );
                    let mut witness = vec![connect.clone()];
                    witness.extend(leak);
                    out.push(subject.finding(
                        CHECK,
                        REASON,
                        Severity::High,
                        "client-id-mqtt-wildcard",
                        message,
                        witness,
                        Some((&p.name, s.label)),
                    ));
                }
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}
