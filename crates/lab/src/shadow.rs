//! Device shadow service over the MQTT reserved topics
//! `$aws/things/NAME/shadow[/name/SHADOW]/{get,update,delete}`. Pure: a request (topic,
//! payload, time) in, the response messages out; the broker routes them like any publish, so
//! subscribers still need iot:Subscribe and iot:Receive on the response topics.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Update,
    Delete,
}

/// A parsed shadow request topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowTopic {
    pub thing: String,
    /// `None`: the classic (unnamed) shadow.
    pub shadow: Option<String>,
    pub op: Op,
}

impl ShadowTopic {
    /// `$aws/things/T/shadow[/name/S]` (response topics append `/op/accepted` etc.)
    pub fn prefix(&self) -> String {
        match &self.shadow {
            None => format!("$aws/things/{}/shadow", self.thing),
            Some(s) => format!("$aws/things/{}/shadow/name/{s}", self.thing),
        }
    }
}

/// Parses a request topic; response topics (`.../accepted` etc.) and others give `None`.
pub fn parse_topic(topic: &str) -> Option<ShadowTopic> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/shadow/")?;
    if thing.is_empty() || thing.contains('/') {
        return None;
    }
    let (shadow, op) = match rest.strip_prefix("name/") {
        Some(named) => {
            let (s, op) = named.split_once('/')?;
            (Some(s.to_string()), op)
        }
        None => (None, rest),
    };
    let op = match op {
        "get" => Op::Get,
        "update" => Op::Update,
        "delete" => Op::Delete,
        _ => return None,
    };
    if shadow.as_deref() == Some("") {
        return None;
    }
    Some(ShadowTopic {
        thing: thing.to_string(),
        shadow,
        op,
    })
}

#[derive(Debug, Clone, PartialEq)]
struct Doc {
    desired: Map<String, Value>,
    reported: Map<String, Value>,
    version: u64,
}

/// All shadows, keyed by (thing, shadow name).
#[derive(Debug, Default)]
pub struct Shadows {
    docs: BTreeMap<(String, Option<String>), Doc>,
    /// Version of deleted shadows continues (AWS keeps the version after delete).
    last_version: BTreeMap<(String, Option<String>), u64>,
}

/// One message the shadow service publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub topic: String,
    pub payload: Value,
}

fn rejected(
    t: &ShadowTopic,
    op: &str,
    code: u16,
    message: &str,
    token: &Option<Value>,
    now: u64,
) -> Response {
    let mut p = json!({"code": code, "message": message, "timestamp": now});
    if let Some(tok) = token {
        p["clientToken"] = tok.clone();
    }
    Response {
        topic: format!("{}/{op}/rejected", t.prefix()),
        payload: p,
    }
}

/// The message AWS's Device Shadow service documents for each `rejected` code
/// (device-shadow-error-messages.html).
pub fn rejection_message(code: u16) -> &'static str {
    match code {
        400 => "Invalid JSON",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Thing not found",
        409 => "Version conflict",
        413 => "The payload exceeds the maximum size allowed",
        415 => "Unsupported documented encoding; supported encoding is UTF-8",
        429 => "Too Many Requests",
        _ => "Internal service failure",
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Update => "update",
        Op::Delete => "delete",
    }
}

/// A request answered `rejected` with `code` without being served (realism: the service's
/// own errors, e.g. 429 with more than 10 requests in flight, 500). The client token of a
/// JSON request is echoed, as with every rejection.
pub fn reject(t: &ShadowTopic, payload: &[u8], code: u16, now: u64) -> Response {
    let token = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("clientToken").cloned());
    rejected(t, op_name(t.op), code, rejection_message(code), &token, now)
}

/// Applies a JSON merge where `null` deletes a key.
fn merge(into: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                into.remove(k);
            }
            Value::Object(p) => {
                let slot = into
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = slot {
                    merge(m, p);
                    if m.is_empty() {
                        into.remove(k);
                    }
                } else {
                    *slot = v.clone();
                }
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Keys of `desired` whose value differs from `reported` (recursively for objects).
fn delta(desired: &Map<String, Value>, reported: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, d) in desired {
        match (d, reported.get(k)) {
            (Value::Object(dm), Some(Value::Object(rm))) => {
                let sub = delta(dm, rm);
                if !sub.is_empty() {
                    out.insert(k.clone(), Value::Object(sub));
                }
            }
            (d, Some(r)) if d == r => {}
            (d, _) => {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    out
}

fn metadata(m: &Map<String, Value>, now: u64) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| {
                let meta = match v {
                    Value::Object(inner) => metadata(inner, now),
                    _ => json!({"timestamp": now}),
                };
                (k.clone(), meta)
            })
            .collect(),
    )
}

fn state_json(doc: &Doc) -> Value {
    let mut state = Map::new();
    if !doc.desired.is_empty() {
        state.insert("desired".into(), Value::Object(doc.desired.clone()));
    }
    if !doc.reported.is_empty() {
        state.insert("reported".into(), Value::Object(doc.reported.clone()));
    }
    Value::Object(state)
}

impl Shadows {
    /// The names of `thing`'s named shadows (the classic shadow is not one), sorted.
    pub fn named(&self, thing: &str) -> Vec<String> {
        self.docs
            .keys()
            .filter(|(t, s)| t == thing && s.is_some())
            .filter_map(|(_, s)| s.clone())
            .collect()
    }

    /// Handles one request; `now` is epoch seconds.
    pub fn handle(&mut self, t: &ShadowTopic, payload: &[u8], now: u64) -> Vec<Response> {
        let key = (t.thing.clone(), t.shadow.clone());
        let op = op_name(t.op);
        let body: Option<Value> = if payload.is_empty() {
            Some(json!({}))
        } else {
            serde_json::from_slice(payload).ok()
        };
        let Some(body) = body.filter(Value::is_object) else {
            return vec![rejected(t, op, 400, "Invalid JSON", &None, now)];
        };
        let token = body.get("clientToken").cloned();
        let not_found = || {
            let name = t.shadow.clone().unwrap_or_else(|| t.thing.clone());
            rejected(
                t,
                op,
                404,
                &format!("No shadow exists with name: '{name}'"),
                &token,
                now,
            )
        };
        let with_token = |mut v: Value| {
            if let Some(tok) = &token {
                v["clientToken"] = tok.clone();
            }
            v
        };
        match t.op {
            Op::Get => {
                let Some(doc) = self.docs.get(&key) else {
                    return vec![not_found()];
                };
                let mut state = state_json(doc);
                let d = delta(&doc.desired, &doc.reported);
                if !d.is_empty() {
                    state["delta"] = Value::Object(d);
                }
                vec![Response {
                    topic: format!("{}/get/accepted", t.prefix()),
                    payload: with_token(json!({
                        "state": state,
                        "metadata": {"desired": metadata(&doc.desired, now), "reported": metadata(&doc.reported, now)},
                        "version": doc.version,
                        "timestamp": now,
                    })),
                }]
            }
            Op::Delete => {
                let Some(doc) = self.docs.remove(&key) else {
                    return vec![not_found()];
                };
                self.last_version.insert(key, doc.version);
                vec![Response {
                    topic: format!("{}/delete/accepted", t.prefix()),
                    payload: with_token(json!({"version": doc.version, "timestamp": now})),
                }]
            }
            Op::Update => {
                let Some(state) = body.get("state").and_then(Value::as_object) else {
                    return vec![rejected(
                        t,
                        op,
                        400,
                        "Missing required node: state",
                        &token,
                        now,
                    )];
                };
                let mut patches = Vec::new();
                for section in ["desired", "reported"] {
                    match state.get(section) {
                        None => patches.push(None),
                        Some(Value::Object(m)) => patches.push(Some(m.clone())),
                        Some(Value::Null) => patches.push(Some(Map::new())),
                        Some(_) => {
                            return vec![rejected(
                                t,
                                op,
                                400,
                                &format!("State node {section} must be an object"),
                                &token,
                                now,
                            )];
                        }
                    }
                }
                let previous = self.docs.get(&key).cloned();
                let current_version = previous
                    .as_ref()
                    .map(|d| d.version)
                    .or_else(|| self.last_version.get(&key).copied())
                    .unwrap_or(0);
                if let Some(v) = body.get("version").and_then(Value::as_u64)
                    && v != current_version
                {
                    return vec![rejected(t, op, 409, "Version conflict", &token, now)];
                }
                let mut doc = previous.clone().unwrap_or(Doc {
                    desired: Map::new(),
                    reported: Map::new(),
                    version: current_version,
                });
                for (section, patch) in ["desired", "reported"].iter().zip(&patches) {
                    let target = if *section == "desired" {
                        &mut doc.desired
                    } else {
                        &mut doc.reported
                    };
                    match (state.get(*section), patch) {
                        (Some(Value::Null), _) => target.clear(),
                        (_, Some(p)) => merge(target, p),
                        _ => {}
                    }
                }
                doc.version += 1;
                self.docs.insert(key, doc.clone());
                let mut out = vec![Response {
                    topic: format!("{}/update/accepted", t.prefix()),
                    payload: with_token(json!({
                        "state": Value::Object(state.clone()),
                        "metadata": {
                            "desired": patches[0].as_ref().map_or(json!({}), |p| metadata(p, now)),
                            "reported": patches[1].as_ref().map_or(json!({}), |p| metadata(p, now)),
                        },
                        "version": doc.version,
                        "timestamp": now,
                    })),
                }];
                let d = delta(&doc.desired, &doc.reported);
                if !d.is_empty() && patches[0].is_some() {
                    out.push(Response {
                        topic: format!("{}/update/delta", t.prefix()),
                        payload: with_token(json!({
                            "version": doc.version,
                            "timestamp": now,
                            "state": Value::Object(d),
                        })),
                    });
                }
                let snapshot = |d: &Option<Doc>| match d {
                    Some(d) => json!({"state": state_json(d), "version": d.version}),
                    None => json!({"state": {}, "version": 0}),
                };
                out.push(Response {
                    topic: format!("{}/update/documents", t.prefix()),
                    payload: with_token(json!({
                        "previous": snapshot(&previous),
                        "current": snapshot(&Some(doc)),
                        "timestamp": now,
                    })),
                });
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(topic: &str) -> ShadowTopic {
        parse_topic(topic).unwrap()
    }

    #[test]
    fn parses_classic_and_named_topics() {
        assert_eq!(
            t("$aws/things/lamp/shadow/update"),
            ShadowTopic {
                thing: "lamp".into(),
                shadow: None,
                op: Op::Update
            }
        );
        assert_eq!(
            t("$aws/things/lamp/shadow/name/cfg/get"),
            ShadowTopic {
                thing: "lamp".into(),
                shadow: Some("cfg".into()),
                op: Op::Get
            }
        );
        for no in [
            "$aws/things/lamp/shadow/update/accepted",
            "$aws/things//shadow/get",
            "things/lamp/shadow/get",
            "$aws/things/lamp/shadow/name//get",
        ] {
            assert_eq!(parse_topic(no), None, "{no}");
        }
    }

    #[test]
    fn get_before_update_is_404_then_update_get_delete_round_trip() {
        let mut s = Shadows::default();
        let get = t("$aws/things/lamp/shadow/get");
        let r = s.handle(&get, b"{\"clientToken\":\"c1\"}", 10);
        assert_eq!(r[0].topic, "$aws/things/lamp/shadow/get/rejected");
        assert_eq!(r[0].payload["code"], 404);
        assert_eq!(r[0].payload["clientToken"], "c1");

        let upd = t("$aws/things/lamp/shadow/update");
        let r = s.handle(&upd, br#"{"state":{"desired":{"on":true}}}"#, 11);
        let topics: Vec<&str> = r.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            vec![
                "$aws/things/lamp/shadow/update/accepted",
                "$aws/things/lamp/shadow/update/delta",
                "$aws/things/lamp/shadow/update/documents"
            ]
        );
        assert_eq!(r[0].payload["version"], 1);
        assert_eq!(r[1].payload["state"], json!({"on": true}));
        assert_eq!(r[2].payload["previous"]["version"], 0);

        let r = s.handle(
            &upd,
            br#"{"state":{"reported":{"on":true}},"version":1}"#,
            12,
        );
        assert_eq!(r.len(), 2, "no delta once reported matches desired");
        let r = s.handle(
            &upd,
            br#"{"state":{"reported":{"on":false}},"version":1}"#,
            13,
        );
        assert_eq!(r[0].topic, "$aws/things/lamp/shadow/update/rejected");
        assert_eq!(r[0].payload["code"], 409);

        let r = s.handle(&get, b"", 14);
        assert_eq!(
            r[0].payload["state"],
            json!({"desired": {"on": true}, "reported": {"on": true}})
        );
        assert_eq!(r[0].payload["version"], 2);

        let del = t("$aws/things/lamp/shadow/delete");
        let r = s.handle(&del, b"", 15);
        assert_eq!(r[0].topic, "$aws/things/lamp/shadow/delete/accepted");
        assert_eq!(r[0].payload["version"], 2);
        assert_eq!(s.handle(&del, b"", 16)[0].payload["code"], 404);
        let r = s.handle(&upd, br#"{"state":{"reported":{"x":1}}}"#, 17);
        assert_eq!(r[0].payload["version"], 3, "version continues after delete");
    }

    #[test]
    fn rejections_echo_the_client_token_and_name_the_code() {
        let r = reject(
            &t("$aws/things/lamp/shadow/name/cfg/update"),
            br#"{"clientToken":"c9","state":{}}"#,
            429,
            5,
        );
        assert_eq!(r.topic, "$aws/things/lamp/shadow/name/cfg/update/rejected");
        assert_eq!(r.payload["code"], 429);
        assert_eq!(r.payload["clientToken"], "c9");
        assert_eq!(r.payload["message"], "Too Many Requests");
        let r = reject(&t("$aws/things/lamp/shadow/get"), b"", 401, 5);
        assert_eq!(r.topic, "$aws/things/lamp/shadow/get/rejected");
        assert!(r.payload.get("clientToken").is_none());
    }

    #[test]
    fn null_removes_keys_and_bad_json_is_400() {
        let mut s = Shadows::default();
        let upd = t("$aws/things/lamp/shadow/name/n/update");
        s.handle(&upd, br#"{"state":{"reported":{"a":1,"b":2}}}"#, 1);
        s.handle(&upd, br#"{"state":{"reported":{"a":null}}}"#, 2);
        let r = s.handle(&t("$aws/things/lamp/shadow/name/n/get"), b"", 3);
        assert_eq!(r[0].payload["state"]["reported"], json!({"b": 2}));
        assert_eq!(s.handle(&upd, b"not json", 4)[0].payload["code"], 400);
        assert_eq!(
            s.handle(&upd, br#"{"nostate":1}"#, 4)[0].payload["code"],
            400
        );
        assert_eq!(
            s.handle(&upd, br#"{"state":{"desired":3}}"#, 4)[0].payload["code"],
            400
        );
    }
}
