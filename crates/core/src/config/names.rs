//! What AWS IoT accepts as a topic, a topic filter, a thing name and a shadow name. A canary
//! whose names AWS would refuse for their form (too many levels, too long, a `/` in a thing
//! name) gets refusals that say nothing about authorization, so such names are config errors.

/// AWS IoT: at most 7 forward slashes in a topic or filter (the Basic Ingest prefix
/// `$aws/rules/<rule>/` not counted).
pub const MAX_SLASHES: usize = 7;
/// AWS IoT: topics and filters of at most 256 bytes (UTF-8; Basic Ingest prefix not counted).
pub const MAX_TOPIC_BYTES: usize = 256;
/// AWS IoT thing names: 1–128 characters of `[a-zA-Z0-9:_-]`.
pub const MAX_THING: usize = 128;
/// Named shadows: 1–64 characters of `[a-zA-Z0-9:_-]`.
pub const MAX_SHADOW: usize = 64;

/// The part of a topic AWS's limits apply to: without a Basic Ingest prefix.
fn counted(topic: &str) -> &str {
    match topic.strip_prefix("$aws/rules/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, t)| t),
        None => topic,
    }
}

/// AWS's length and depth limits for a topic or filter; `None` when within them.
pub fn aws_topic_limits(topic: &str) -> Option<String> {
    let t = counted(topic);
    if t.len() > MAX_TOPIC_BYTES {
        return Some(format!(
            "is {} bytes; AWS IoT allows at most {MAX_TOPIC_BYTES}",
            t.len()
        ));
    }
    let slashes = t.matches('/').count();
    if slashes > MAX_SLASHES {
        return Some(format!(
            "has {slashes} `/`; AWS IoT allows at most {MAX_SLASHES} level separators"
        ));
    }
    None
}

/// A topic name a canary may publish to or be baited on: non-empty, no wildcards, no NUL,
/// within AWS's limits.
pub fn topic_problem(topic: &str) -> Option<String> {
    if topic.is_empty() || topic.contains(['#', '+', '\0']) {
        return Some("a topic name must be non-empty and contain no wildcards (`#`, `+`)".into());
    }
    aws_topic_limits(topic)
}

/// A topic filter: MQTT syntax and AWS's limits.
pub fn filter_problem(filter: &str) -> Option<String> {
    if filter.contains('\0') || !iot_canary_policy::actions::valid_topic_filter(filter) {
        return Some(
            "invalid topic filter (`#` only as the last level, `+` only as a whole level)".into(),
        );
    }
    aws_topic_limits(filter)
}

fn name_problem(kind: &str, name: &str, max: usize) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'));
    if name.is_empty() || name.len() > max || !ok_chars {
        Some(format!(
            "`{name}` is not a valid {kind} name: 1–{max} characters of letters, digits, `:`, `_` and `-` (a `/`, `+` or `#` would put the probe on another topic than the {kind}'s)"
        ))
    } else {
        None
    }
}

/// An AWS IoT thing name (`[a-zA-Z0-9:_-]+`, at most 128).
pub fn thing_problem(name: &str) -> Option<String> {
    name_problem("thing", name, MAX_THING)
}

/// A named shadow's name (`[a-zA-Z0-9:_-]+`, at most 64).
pub fn shadow_problem(name: &str) -> Option<String> {
    name_problem("shadow", name, MAX_SHADOW)
}

/// The topic a marker is published to under a subscribe control's filter: each `+` level
/// becomes `iot-canary`, a trailing `#` becomes `iot-canary/marker`; `None` if that breaks
/// AWS's limits.
pub fn topic_under(filter: &str) -> Option<String> {
    let levels: Vec<&str> = filter
        .split('/')
        .map(|l| match l {
            "+" => "iot-canary",
            "#" => "iot-canary/marker",
            other => other,
        })
        .collect();
    let topic = levels.join("/");
    topic_problem(&topic).is_none().then_some(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_limits() {
        assert_eq!(aws_topic_limits("a/b/c/d/e/f/g/h"), None);
        assert!(aws_topic_limits("a/b/c/d/e/f/g/h/i").is_some());
        assert_eq!(aws_topic_limits("$aws/rules/r1/a/b/c/d/e/f/g/h"), None);
        assert_eq!(aws_topic_limits(&"x".repeat(256)), None);
        assert!(aws_topic_limits(&"x".repeat(257)).is_some());
        assert!(topic_problem("a/+/b").is_some());
        assert!(topic_problem("").is_some());
        assert!(filter_problem("a/#/b").is_some());
        assert_eq!(filter_problem("a/+/#"), None);
    }

    #[test]
    fn thing_and_shadow_names() {
        for ok in ["lamp", "bob-plug", "a:b_c-1"] {
            assert_eq!(thing_problem(ok), None, "{ok}");
            assert_eq!(shadow_problem(ok), None, "{ok}");
        }
        for bad in ["a/b", "a+", "#", "", "a b", "lamp.1"] {
            assert!(thing_problem(bad).is_some(), "{bad}");
            assert!(shadow_problem(bad).is_some(), "{bad}");
        }
        assert!(thing_problem(&"t".repeat(129)).is_some());
        assert!(shadow_problem(&"s".repeat(65)).is_some());
    }

    #[test]
    fn marker_topics_under_filters() {
        assert_eq!(
            topic_under("devices/dev-lamp/#").as_deref(),
            Some("devices/dev-lamp/iot-canary/marker")
        );
        assert_eq!(
            topic_under("devices/+/status").as_deref(),
            Some("devices/iot-canary/status")
        );
        assert_eq!(topic_under("a/b").as_deref(), Some("a/b"));
        assert_eq!(topic_under("a/b/c/d/e/f/g/#"), None);
    }
}
