//! Witness requests: the concrete request behind every policy finding, decided by the policy
//! engine. A witness is never asserted: it is what `authorize_action` returned, with the
//! statement that decided it.
//!
//! Probe identities: the audited device is `audit-device` (client id = thing name, attached to
//! its principal, Cognito identity `us-east-1:…a0d1`); the other device, whose data the audited
//! one must not reach, is `audit-other-device`. A policy that lets `audit-device` reach
//! `audit-other-device` reaches any device: that name appears in no policy.

use iot_canary_policy::{AuthResult, Decision, PolicySet, RequestContext, authorize_action};
use serde::Serialize;

use crate::AuditOptions;

pub const DEVICE: &str = "audit-device";
pub const OTHER: &str = "audit-other-device";
pub const DEVICE_COGNITO_SUB: &str = "us-east-1:00000000-0000-0000-0000-00000000a0d1";
pub const OTHER_COGNITO_SUB: &str = "us-east-1:00000000-0000-0000-0000-0000000b0d2e";

/// Who sends a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// MQTT client id; `None` for HTTP and control-plane calls.
    pub client_id: Option<String>,
    /// The thing the connection is attached to (`iot:Connection.Thing.*`), if any.
    pub thing: Option<String>,
    /// The Cognito identity id (`cognito-identity.amazonaws.com:sub`).
    pub cognito_sub: String,
}

impl Caller {
    /// The audited device, attached to its thing.
    pub fn device() -> Caller {
        Caller {
            client_id: Some(DEVICE.into()),
            thing: Some(DEVICE.into()),
            cognito_sub: DEVICE_COGNITO_SUB.into(),
        }
    }

    /// The other device, attached to its own thing, with its own Cognito identity: what a
    /// policy scoped by identity variables gives it is what the audited device must not get.
    pub fn other() -> Caller {
        Caller {
            client_id: Some(OTHER.into()),
            thing: Some(OTHER.into()),
            cognito_sub: OTHER_COGNITO_SUB.into(),
        }
    }

    /// A client that picks its own client id and is attached to no thing.
    pub fn unattached(client_id: &str) -> Caller {
        Caller {
            client_id: Some(client_id.into()),
            thing: None,
            cognito_sub: DEVICE_COGNITO_SUB.into(),
        }
    }

    pub fn context(&self, o: &AuditOptions) -> RequestContext {
        let mut ctx = RequestContext {
            region: o.region.clone(),
            account_id: o.account_id.clone(),
            client_id: self.client_id.clone(),
            ..Default::default()
        };
        let mut put = |k: &str, v: &str| {
            ctx.values.insert(k.into(), vec![v.into()]);
        };
        put("cognito-identity.amazonaws.com:sub", &self.cognito_sub);
        match &self.thing {
            Some(t) => {
                put("iot:connection.thing.thingname", t);
                put("iot:connection.thing.isattached", "true");
                // The credentials provider's context keys (role alias policies).
                put("credentials-iot:thingname", t);
                put("credentials-iot:awsthingname", t);
            }
            None => put("iot:connection.thing.isattached", "false"),
        }
        ctx
    }
}

/// One request and the engine's decision on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvedRequest {
    /// How the policies combined (`IoT policy`, `Cognito unauthenticated role`, ...).
    pub principal: String,
    pub caller: Caller,
    pub action: String,
    /// Full resource ARN.
    pub resource: String,
    /// `ALLOWED`, `EXPLICIT_DENY`, `IMPLICIT_DENY`.
    pub decision: &'static str,
    /// The policy and statement (`Sid` or `#index`) that decided it.
    pub policy: Option<String>,
    pub statement: Option<String>,
    pub explanation: String,
}

impl ProvedRequest {
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allowed.as_str()
    }

    /// `Subscribe topicfilter/a/# as client "+"`-style one-liner for messages.
    pub fn summary(&self) -> String {
        let who = match (&self.caller.client_id, &self.caller.thing) {
            (Some(c), Some(t)) if c == t => format!("client `{c}` (thing attached)"),
            (Some(c), Some(t)) => format!("client `{c}` (thing `{t}`)"),
            (Some(c), None) => format!("client `{c}` (no thing attached)"),
            (None, _) => "caller".to_owned(),
        };
        let by = match (&self.policy, &self.statement) {
            (Some(p), Some(s)) => format!(" by {p}/{s}"),
            _ => String::new(),
        };
        format!(
            "{who}: {} {} -> {}{by}",
            self.action, self.resource, self.decision
        )
    }
}

/// Decides one request.
pub fn decide(
    set: &PolicySet,
    principal: &str,
    caller: &Caller,
    action: &str,
    resource: &str,
    o: &AuditOptions,
) -> ProvedRequest {
    let ctx = caller.context(o);
    let r: AuthResult = authorize_action(set, action, resource, &ctx);
    ProvedRequest {
        principal: principal.to_owned(),
        caller: caller.clone(),
        action: action.to_owned(),
        resource: resource.to_owned(),
        decision: r.decision.as_str(),
        policy: r.deciding.as_ref().map(|d| d.policy.clone()),
        statement: r.deciding.map(|d| d.statement),
        explanation: r.explanation,
    }
}

/// A topic another device publishes on that `filter` covers: each wildcard level becomes
/// [`OTHER`].
pub fn other_topic_in(filter: &str) -> String {
    filter
        .split('/')
        .map(|l| if l == "+" || l == "#" { OTHER } else { l })
        .collect::<Vec<_>>()
        .join("/")
}

/// `arn:PARTITION:iot:REGION:ACCOUNT:KIND/NAME`.
pub fn iot_arn(o: &AuditOptions, kind: &str, name: &str) -> String {
    format!(
        "arn:{}:iot:{}:{}:{kind}/{name}",
        o.partition, o.region, o.account_id
    )
}

/// IAM wildcard match (`*` any run, `?` one character), ASCII case-sensitive or not.
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase()
        } else {
            s.to_owned()
        }
    };
    iot_canary_policy::actions::wildcard_match(&norm(pattern), &norm(text))
}

/// A concrete string matching a resource pattern: `${...}` variables take their value in the
/// caller's context (or stay literal, as AWS leaves an unresolvable variable), `*` becomes
/// `filler` and `?` becomes `x`. ARN components other than the resource take the probe's
/// partition, region and account when the pattern admits them.
pub fn instantiate(pattern: &str, caller: &Caller, filler: &str, o: &AuditOptions) -> String {
    instantiate_in(pattern, &caller.context(o), filler, o)
}

/// [`instantiate`] in a given request context (a world identity's, rather than a probe
/// identity's).
pub fn instantiate_in(
    pattern: &str,
    ctx: &RequestContext,
    filler: &str,
    o: &AuditOptions,
) -> String {
    let var = |name: &str| -> Option<String> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "*" => Some("*".into()),
            "?" => Some("?".into()),
            "$" => Some("$".into()),
            "iot:clientid" => ctx.client_id.clone(),
            _ => ctx.values.get(&lower).and_then(|v| v.first().cloned()),
        }
    };
    let fill = |part: &str, preferred: &str| -> String {
        if !preferred.is_empty() && glob(part, preferred, false) {
            return preferred.to_owned();
        }
        let mut out = String::new();
        let mut rest = part;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let body = &rest[2..end];
                let (name, default) = match body.split_once(',') {
                    Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('\''))),
                    None => (body.trim(), None),
                };
                match var(name).or(default.map(str::to_owned)) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[..=end]),
                }
                rest = &rest[end + 1..];
                continue;
            }
            match c {
                '*' => out.push_str(filler),
                '?' => out.push('x'),
                c => out.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        out
    };
    if pattern == "*" {
        return fill(pattern, "");
    }
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    if parts.len() < 6 {
        return fill(pattern, "");
    }
    let preferred = [
        "arn",
        o.partition.as_str(),
        "",
        o.region.as_str(),
        o.account_id.as_str(),
        "",
    ];
    parts
        .iter()
        .zip(preferred)
        .map(|(p, pref)| fill(p, pref))
        .collect::<Vec<_>>()
        .join(":")
}

/// Whether an MQTT topic filter matches a topic name (MQTT 3.1.1 §4.7: `+` one level, `#` the
/// rest; filters starting with a wildcard do not match topics starting with `$`).
pub fn mqtt_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    for (i, level) in f.iter().enumerate() {
        match *level {
            "#" => return i == f.len() - 1,
            "+" if i < t.len() => {}
            l if i < t.len() && l == t[i] => {}
            _ => return false,
        }
    }
    f.len() == t.len()
}

pub use iot_canary_policy::actions::valid_topic_filter as valid_filter;

/// The MQTT wildcard filters that match `topic` without naming it: every prefix followed by
/// `#` (`a/b/#`, `a/#`, `#`), then each level replaced by `+` (`+/b/c`, `+/#`, `a/+/c`,
/// `a/+/#`, ...). A Deny of subscribing to `topic` does not stop a subscription to these.
pub fn ancestor_filters(topic: &str) -> Vec<String> {
    let levels: Vec<&str> = topic.split('/').collect();
    let mut filters = Vec::new();
    for k in (0..levels.len()).rev() {
        let prefix = levels[..k].join("/");
        filters.push(if prefix.is_empty() {
            "#".to_owned()
        } else {
            format!("{prefix}/#")
        });
    }
    for i in 0..levels.len() {
        let mut l: Vec<&str> = levels.clone();
        l[i] = "+";
        filters.push(l.join("/"));
        filters.push(format!("{}/#", l[..=i].join("/")));
    }
    let mut seen = std::collections::BTreeSet::new();
    filters
        .into_iter()
        .filter(|f| f != topic && valid_filter(f) && mqtt_matches(f, topic))
        .filter(|f| seen.insert(f.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_filter_semantics() {
        assert!(mqtt_matches("a/#", "a/b/c"));
        assert!(mqtt_matches("a/#", "a"));
        assert!(mqtt_matches("a/+/c", "a/b/c"));
        assert!(!mqtt_matches("a/+", "a/b/c"));
        assert!(!mqtt_matches("#", "$aws/things/x"));
        assert!(mqtt_matches(
            "$aws/things/+/shadow/update",
            "$aws/things/x/shadow/update"
        ));
        assert!(valid_filter("a/+/#") && !valid_filter("a/b+/c") && !valid_filter("a/#/c"));
    }

    #[test]
    fn instantiate_fills_wildcards_and_variables() {
        let o = AuditOptions::default();
        let c = Caller::unattached("+");
        assert_eq!(
            instantiate(
                "arn:aws:iot:*:*:topicfilter/d/${iot:ClientId}/*",
                &c,
                "x1",
                &o
            ),
            "arn:aws:iot:us-east-1:123456789012:topicfilter/d/+/x1"
        );
        assert_eq!(
            instantiate(
                "arn:aws:iot:us-east-1:1:thing/${iot:Connection.Thing.ThingName}",
                &c,
                "x",
                &o
            ),
            "arn:aws:iot:us-east-1:1:thing/${iot:Connection.Thing.ThingName}"
        );
        assert_eq!(
            instantiate(
                "arn:aws:iot:*:*:thing/${iot:Connection.Thing.ThingName}",
                &Caller::device(),
                "x",
                &o
            ),
            "arn:aws:iot:us-east-1:123456789012:thing/audit-device"
        );
        assert_eq!(instantiate("*", &c, "x", &o), "x");
    }

    #[test]
    fn ancestor_filters_cover_the_topic_without_naming_it() {
        assert_eq!(
            ancestor_filters("a/b"),
            ["a/#", "#", "+/b", "+/#", "a/+", "a/+/#"]
        );
        // `$` topics are not matched by filters starting with a wildcard.
        assert_eq!(ancestor_filters("$aws/x"), ["$aws/#", "$aws/+", "$aws/+/#"]);
    }

    #[test]
    fn glob_is_iam_wildcards() {
        assert!(glob("iot:*", "iot:Publish", false));
        assert!(glob("IOT:pub?ish", "iot:Publish", true));
        assert!(!glob("topic/a/*", "topicfilter/a/b", false));
    }
}
