//! Turns the raw file into a `Config`, collecting every problem with its location.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::client_id_clashes::{ClientIdUse, collisions};
use super::*;
use crate::evidence_rules::MIN_GRACE_MS;

struct Issues<'a> {
    loc: &'a Locator<'a>,
    list: Vec<Issue>,
}

impl Issues<'_> {
    fn at<T>(&mut self, s: &Spanned<T>, key: &str, msg: impl Into<String>) {
        self.list.push(self.loc.issue(s.span(), key, msg));
    }
}

pub(super) fn build(path: &Path, loc: &Locator<'_>, raw: RawConfig) -> Result<Config, Vec<Issue>> {
    let mut is = Issues {
        loc,
        list: Vec::new(),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

    // [target]
    let rt = raw.target.into_inner();
    if rt.region.get_ref().trim().is_empty() {
        is.at(&rt.region, "region", "must not be empty");
    } else if !valid_region(rt.region.get_ref()) {
        is.at(
            &rt.region,
            "region",
            format!(
                "`{}` is not an AWS region name like `us-east-1` or `eu-central-1` (SigV4 signs for it, so a typo makes every upgrade fail)",
                rt.region.get_ref()
            ),
        );
    }
    if rt.endpoint.get_ref().trim().is_empty() {
        is.at(
            &rt.endpoint,
            "endpoint",
            "must not be empty (host[:port] of the IoT data endpoint)",
        );
    }
    let client_id = client_id_template(&mut is, rt.client_id.as_ref(), DEFAULT_CLIENT_ID, &[]);
    let target = Target {
        region: rt.region.into_inner(),
        endpoint: rt.endpoint.into_inner(),
        ca_file: rt.ca_file.map(|c| resolve(&base_dir, c.get_ref())),
        mqtt_version: rt.mqtt_version.unwrap_or_default(),
        client_id,
    };

    // [endpoints]
    let endpoints = match raw.endpoints {
        None => Endpoints::default(),
        Some(e) => {
            let mut url = |v: Option<Spanned<String>>, key: &str| {
                let v = v?;
                if crate::units::http_url(v.get_ref()).is_err() {
                    is.at(
                        &v,
                        key,
                        format!(
                            "`{}` is not an absolute http:// or https:// URL (the AWS API endpoint to call instead of the regional default)",
                            v.get_ref()
                        ),
                    );
                }
                Some(v.into_inner())
            };
            Endpoints {
                sts: url(e.sts, "sts"),
                cognito_identity: url(e.cognito_identity, "cognito_identity"),
                cognito_idp: url(e.cognito_idp, "cognito_idp"),
                iot_data: url(e.iot_data, "iot_data"),
                iot: url(e.iot, "iot"),
            }
        }
    };

    // [schedule]
    let mut schedule = Schedule::default();
    if let Some(s) = raw.schedule {
        let s = s.into_inner();
        if let Some(i) = &s.interval {
            if i.get_ref().0.is_zero() {
                is.at(i, "interval", "must be greater than 0");
            }
            schedule.interval = i.get_ref().0;
        }
        if let Some(j) = s.jitter {
            schedule.jitter = j.0;
        }
        if let Some(t) = &s.timeout {
            if t.get_ref().0.is_zero() {
                is.at(t, "timeout", "must be greater than 0");
            }
            schedule.timeout = t.get_ref().0;
            if schedule.timeout > schedule.interval {
                is.at(t, "timeout", "must not exceed `interval`");
            }
        }
        if let Some(c) = &s.concurrency {
            match usize::try_from(*c.get_ref()) {
                Ok(n) if n >= 1 => schedule.concurrency = n,
                _ => is.at(c, "concurrency", "must be a positive integer"),
            }
        }
        if let Some(c) = s.connect_interval {
            schedule.connect_interval = c.0;
        }
        if let Some(r) = &s.connect_rate {
            match u32::try_from(*r.get_ref()) {
                Ok(n) if n >= 1 => schedule.connect_rate = n,
                _ => is.at(
                    r,
                    "connect_rate",
                    "must be a positive integer (CONNECTs per second, account-wide; AWS default 500)",
                ),
            }
        }
        if let Some(d) = &s.delivery_grace {
            schedule.delivery_grace = d.get_ref().0;
            if schedule.delivery_grace.as_millis() < u128::from(MIN_GRACE_MS) {
                is.at(
                    d,
                    "delivery_grace",
                    format!(
                        "must be at least {MIN_GRACE_MS}ms: AWS does not order deliveries, so a bait may trail the marker that proves a subscription caught up"
                    ),
                );
            }
        }
    }

    // [server]
    let mut server = Server::default();
    let raw_server = raw.server.map(|s| {
        server.trigger = s.trigger.unwrap_or(false);
        s.listen
    });
    if let Some(l) = raw_server.flatten() {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => server.listen = a,
            Err(_) => is.at(
                &l,
                "listen",
                format!("`{}` is not an address like 127.0.0.1:9464", l.get_ref()),
            ),
        }
    }

    // [trigger]
    let mut trigger = TriggerSettings::default();
    if let Some(t) = raw.trigger {
        if let Some(e) = &t.every {
            if e.get_ref().0.is_zero() {
                is.at(e, "every", "must be greater than 0");
            }
            trigger.every = e.get_ref().0;
        }
        if let Some(w) = &t.watch {
            trigger.watch = w.get_ref().0;
            if trigger.watch < trigger.every {
                is.at(
                    w,
                    "watch",
                    "must be at least `every` (one round in the watch)",
                );
            }
        }
    }

    // [state]
    let state = raw.state.and_then(|s| {
        if s.dir.get_ref().trim().is_empty() {
            is.at(
                &s.dir,
                "dir",
                "must not be empty (leave out [state] to keep no state)",
            );
            None
        } else {
            Some(State {
                dir: resolve(&base_dir, s.dir.get_ref()),
            })
        }
    });

    // [[identity]]
    let mut identities = Vec::new();
    let mut identity_names = BTreeSet::new();
    for ri in raw.identity {
        let span = ri.span();
        let ri = ri.into_inner();
        if !identity_names.insert(ri.name.get_ref().clone()) {
            is.at(
                &ri.name,
                "name",
                format!("duplicate identity name `{}`", ri.name.get_ref()),
            );
        }
        if !IDENTITY_KINDS.contains(&ri.kind.get_ref().as_str()) {
            is.at(
                &ri.kind,
                "kind",
                format!(
                    "unknown identity kind `{}`, expected one of: {}",
                    ri.kind.get_ref(),
                    IDENTITY_KINDS.join(", ")
                ),
            );
        }
        let params: toml::Table = ri.params.into_iter().collect();
        let mut whole = params.clone();
        whole.insert(
            "name".into(),
            toml::Value::String(ri.name.get_ref().clone()),
        );
        whole.insert(
            "kind".into(),
            toml::Value::String(ri.kind.get_ref().clone()),
        );
        match toml::Value::Table(whole).try_into::<crate::config::identity::IdentityConfig>() {
            Ok(mut config) => identities.push(IdentitySpec {
                name: ri.name.into_inner(),
                kind: ri.kind.into_inner(),
                params,
                config: {
                    config.resolve_paths(&base_dir);
                    config
                },
                line: loc.line_col(span.start).0,
            }),
            Err(e) if IDENTITY_KINDS.contains(&ri.kind.get_ref().as_str()) => {
                is.list
                    .push(loc.issue(span, "", e.message().trim().to_string()));
            }
            // Unknown kinds are already reported above.
            Err(_) => {}
        }
    }

    // [[canary]]
    let mut canaries = Vec::new();
    let mut canary_names = BTreeSet::new();
    // (identity, family) of deny canaries (first span) and of controls: a deny canary's
    // denials count only beside a control of its own family (the same door, same credentials).
    let mut deny_identities: BTreeMap<(String, ProbeFamily), Spanned<String>> = BTreeMap::new();
    let mut control_identities = BTreeSet::new();
    let mut control_families: BTreeSet<(String, ProbeFamily)> = BTreeSet::new();
    // effective client id key (`${canary}` expanded) -> its users
    let mut client_ids: BTreeMap<String, Vec<ClientIdUse>> = BTreeMap::new();
    let mut marker_topics = Vec::new();
    let mut canary_spans = Vec::new();
    let mut id_spans: BTreeMap<String, std::ops::Range<usize>> = BTreeMap::new();
    for rc in raw.canary {
        let rc = rc.into_inner();
        canary_spans.push(rc.action.span());
        let name = rc.name.get_ref().clone();
        if !canary_names.insert(name.clone()) {
            is.at(&rc.name, "name", format!("duplicate canary name `{name}`"));
        }
        if name.trim().is_empty() {
            is.at(&rc.name, "name", "must not be empty");
        }
        if !identity_names.contains(rc.identity.get_ref()) {
            is.at(
                &rc.identity,
                "identity",
                format!("no [[identity]] named `{}`", rc.identity.get_ref()),
            );
        }
        let action = *rc.action.get_ref();
        let expect = rc.expect.unwrap_or(Expect::Deny);
        let family = action.family();
        if expect == Expect::Allow {
            control_identities.insert(rc.identity.get_ref().clone());
            control_families.insert((rc.identity.get_ref().clone(), family));
        } else {
            deny_identities
                .entry((rc.identity.get_ref().clone(), family))
                .or_insert(rc.identity.clone());
        }

        check_fields(&mut is, &rc, action);
        if let Some(id) = identities
            .iter()
            .find(|i: &&IdentitySpec| &i.name == rc.identity.get_ref())
            && let Some(msg) = super::role_paths::identity_problem(action, &id.config)
        {
            is.at(&rc.identity, "identity", msg);
        }

        if let Some(w) = &rc.witness {
            if !identity_names.contains(w.get_ref()) {
                is.at(
                    w,
                    "witness",
                    format!("no [[identity]] named `{}`", w.get_ref()),
                );
            } else if w.get_ref() == rc.identity.get_ref() {
                is.at(
                    w,
                    "witness",
                    "the witness must be a different (privileged) identity",
                );
            }
        }
        let qos = match &rc.qos {
            None => 1,
            Some(q) if matches!(*q.get_ref(), 0 | 1) => *q.get_ref() as u8,
            Some(q) => {
                is.at(q, "qos", "must be 0 or 1 (AWS IoT does not support QoS 2)");
                1
            }
        };
        if action == ProbeAction::Publish && qos == 0 && rc.witness.is_none() {
            is.at(
                &rc.action,
                "witness",
                "a QoS 0 publish has no PUBACK; it needs a `witness` to observe it",
            );
        }
        // A `delete-connection` canary's client id is the probe-named id it asks to
        // disconnect: `${nonce}` makes it one nobody uses.
        let nonce_ok: &[&str] = if action == ProbeAction::DeleteConnection {
            &["nonce"]
        } else {
            &[]
        };
        let template =
            client_id_template(&mut is, rc.client_id.as_ref(), &target.client_id, nonce_ok);
        let key = template.replace("${canary}", &name);
        let span = rc.client_id.as_ref().map_or(rc.name.span(), |c| c.span());
        id_spans.insert(name.clone(), span.clone());
        let mqtt_version = rc.mqtt_version.unwrap_or(target.mqtt_version);
        // Only MQTT canaries connect with their client id (a `delete-connection` canary's is
        // the probe-named id it asks to disconnect).
        if action.is_mqtt() {
            client_ids.entry(key).or_default().push(ClientIdUse {
                canary: name.clone(),
                identity: rc.identity.get_ref().clone(),
                template: template.clone(),
                connect: action == ProbeAction::Connect,
                control: expect == Expect::Allow,
                version: mqtt_version,
                span,
            });
        }
        marker_topics.push(rc.marker_topic.as_ref().map(|m| m.get_ref().clone()));

        canaries.push(Canary {
            name,
            identity: rc.identity.into_inner(),
            action,
            expect,
            topic: rc.topic.map(Spanned::into_inner),
            topic_filter: rc.topic_filter.map(Spanned::into_inner),
            thing: rc.thing.map(Spanned::into_inner).or_else(|| {
                (action == ProbeAction::AttachThingPrincipal)
                    .then(|| probe_names::DEFAULT_THING.to_string())
            }),
            shadow: rc.shadow.map(Spanned::into_inner).or_else(|| {
                (action == ProbeAction::HttpsShadowDelete)
                    .then(|| probe_names::DEFAULT_SHADOW.to_string())
            }),
            client_id: template,
            witness: rc.witness.map(Spanned::into_inner),
            qos,
            mqtt_version,
            timeout: rc.timeout.map_or(schedule.timeout, |t| t.0),
            marker: None,
            policy_name: rc.policy_name.map(Spanned::into_inner).or_else(|| {
                (action == ProbeAction::AttachPolicy)
                    .then(|| probe_names::DEFAULT_POLICY.to_string())
            }),
            role_arn: rc.role_arn.map(Spanned::into_inner),
        });
    }

    for i in 0..canaries.len() {
        let marker = markers::resolve(&canaries, &marker_topics, i);
        // No marker is no error: an exact filter can carry none, and whether a wildcard filter
        // matches a topic the identity may receive only the policies know (a foreign device's
        // `devices/x/#` often matches none). Without one, a refused SUBSCRIBE still denies and a
        // granted filter whose bait does not arrive ends `no_delivery_proof` (rule R7); the
        // probe's evidence says so.
        canaries[i].marker = marker;
    }

    let mut told_no_control = BTreeSet::new();
    for ((identity, family), span) in &deny_identities {
        if !control_identities.contains(identity) {
            if !told_no_control.insert(identity) {
                continue;
            }
            is.at(
                span,
                "identity",
                format!(
                    "identity `{identity}` has deny canaries but no control (a canary with expect = \"allow\"); without one its denials prove nothing"
                ),
            );
        } else if !control_families.contains(&(identity.clone(), *family)) {
            is.at(
                span,
                "identity",
                format!(
                    "identity `{identity}` has {family} deny canaries but no {family} control (a canary of that family with expect = \"allow\"): a refusal through one door says nothing while the identity's credentials are unproven there"
                ),
            );
        }
    }

    // Retain probes on one topic would each find the other's retained message and, never
    // overwriting what they did not set, stay inconclusive.
    let mut retain_topics: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, c) in canaries.iter().enumerate() {
        if c.action != ProbeAction::Retain {
            continue;
        }
        let Some(topic) = c.topic.as_deref() else {
            continue;
        };
        if let Some(first) = retain_topics.insert(topic, c.name.as_str()) {
            is.list.push(loc.issue(
                canary_spans[i].clone(),
                "topic",
                format!(
                    "retain canaries `{first}` and `{}` both probe `{topic}`: each would find the other's retained message and, never overwriting a message it did not set, stay inconclusive; give each its own topic",
                    c.name
                ),
            ));
        }
    }

    for (span, message) in collisions(&client_ids) {
        is.list.push(loc.issue(span, "client_id", message));
    }

    // A 3.1.1 refusal is a closed socket; only a 3.1.1 control on a fresh connection after it
    // can confirm it (docs/evidence-rules.md, X6).
    let v311_controls: BTreeSet<&str> = canaries
        .iter()
        .filter(|c| c.is_control() && c.action.is_mqtt() && c.mqtt_version == MqttVersion::V311)
        .map(|c| c.identity.as_str())
        .collect();
    let mut told = BTreeSet::new();
    for (i, c) in canaries.iter().enumerate() {
        if !c.is_control()
            && c.action.is_mqtt()
            && c.mqtt_version == MqttVersion::V311
            && control_identities.contains(&c.identity)
            && !v311_controls.contains(c.identity.as_str())
            && told.insert(c.identity.as_str())
        {
            is.list.push(loc.issue(
                canary_spans[i].clone(),
                "mqtt_version",
                format!(
                    "identity `{}` has MQTT 3.1.1 deny canaries but no MQTT 3.1.1 control: AWS refuses 3.1.1 requests by closing the socket, and only a 3.1.1 control that succeeds afterwards can tell that from a dropped connection",
                    c.identity
                ),
            ));
        }
    }

    let configs: Vec<_> = identities.iter().map(|i| i.config.clone()).collect();
    for t in super::client_ids::too_long(&target, &configs, &canaries) {
        let what = match t.key {
            "witness" => "its witness's client id (`[target] client_id` + `-witness`)",
            _ => "its client id",
        };
        is.list.push(loc.issue(
            id_spans.get(&t.canary).cloned().unwrap_or(0..0),
            "client_id",
            format!(
                "canary `{}`: {what} expands to {} bytes, over AWS IoT's {}-byte limit (AWS refuses such a CONNECT, so the probe could never see); shorten the template or the canary name",
                t.canary,
                t.bytes,
                super::client_ids::MAX_CLIENT_ID_BYTES
            ),
        ));
    }

    // [alerting]
    let alerting = match raw.alerting {
        None => AlertingConfig::default(),
        Some(a) => {
            let span = a.span();
            let a = a.into_inner();
            if a.blind_after_rounds == 0 {
                is.list.push(loc.issue(
                    span.clone(),
                    "blind_after_rounds",
                    "must be at least 1 (consecutive blind rounds before a warning fires)",
                ));
            }
            if let Some(u) = &a.dashboard_url
                && crate::units::http_url(u).is_err()
            {
                is.list.push(loc.issue(
                    span.clone(),
                    "dashboard_url",
                    format!("`{u}` is not an absolute http:// or https:// URL"),
                ));
            }
            if crate::units::http_url(&a.runbook_url).is_err() {
                is.list.push(loc.issue(
                    span,
                    "runbook_url",
                    format!(
                        "`{}` is not an absolute http:// or https:// URL",
                        a.runbook_url
                    ),
                ));
            }
            a
        }
    };

    // [[notifier]]: names are metric label values, so they must be unique; secrets are loaded
    // later (`resolve_notifiers`) so parsing stays free of environment and file reads.
    let mut notifiers = Vec::new();
    let mut notifier_names = BTreeSet::new();
    for rn in raw.notifier {
        let span = rn.span();
        let n = rn.into_inner();
        if !notifier_names.insert(n.name.clone()) {
            is.list.push(loc.issue(
                span.clone(),
                "name",
                format!("duplicate notifier name `{}`", n.name),
            ));
        }
        let (line, col) = loc.line_col(span.start);
        notifiers.push(NotifierEntry {
            config: n,
            line,
            col,
        });
    }

    // [coverage]
    let coverage = raw.coverage.and_then(|c| {
        let span = c.span();
        let c = c.into_inner();
        let mut bad = |key: &str, msg: &str| is.list.push(loc.issue(span.clone(), key, msg));
        match (c.lab_scenario, c.ownership) {
            (Some(s), None) => {
                if c.policies.is_some() {
                    bad(
                        "policies",
                        "a lab scenario holds its policies; `policies` goes with `ownership`",
                    );
                    return None;
                }
                Some(CoverageSource::LabScenario {
                    scenario: resolve(&base_dir, &s),
                    resources: c.resources.map(|r| resolve(&base_dir, &r)),
                })
            }
            (None, Some(o)) => match c.policies {
                Some(p) if !p.is_empty() && c.resources.is_none() => {
                    Some(CoverageSource::Ownership {
                        ownership: resolve(&base_dir, &o),
                        policies: p.iter().map(|p| resolve(&base_dir, p)).collect(),
                    })
                }
                Some(p) if !p.is_empty() => {
                    bad("resources", "an ownership file holds its own [resources]");
                    None
                }
                _ => {
                    bad(
                        "policies",
                        "an ownership file needs the policy sources (`policies = [...]`)",
                    );
                    None
                }
            },
            _ => {
                bad(
                    "",
                    "name exactly one of `lab_scenario` or `ownership` (with `policies`)",
                );
                None
            }
        }
    });

    if is.list.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            target,
            endpoints,
            schedule,
            server,
            identities,
            canaries,
            alerting,
            notifiers,
            state,
            trigger,
            coverage,
        })
    } else {
        is.list.sort_by_key(|i| (i.line, i.col));
        Err(is.list)
    }
}

/// `us-east-1`, `eu-central-1`, `us-gov-west-1`, `cn-north-1`: two letters, lowercase words,
/// a number, joined by `-`.
fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() { p } else { base.join(p) }
}

/// The client id template as written (its placeholders checked), else the inherited one.
fn client_id_template(
    is: &mut Issues<'_>,
    written: Option<&Spanned<String>>,
    inherited: &str,
    extra: &[&str],
) -> String {
    match written {
        Some(c) => {
            check_template(is, c, "client_id", extra);
            c.get_ref().clone()
        }
        None => inherited.to_string(),
    }
}

fn check_template(is: &mut Issues<'_>, s: &Spanned<String>, key: &str, extra: &[&str]) {
    let v = s.get_ref();
    if v.is_empty() {
        is.at(s, key, "must not be empty");
    }
    let mut rest = v.as_str();
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) if PLACEHOLDERS.contains(&&after[..j]) || extra.contains(&&after[..j]) => {
                rest = &after[j + 1..]
            }
            Some(j) => {
                is.at(
                    s,
                    key,
                    format!(
                        "unknown placeholder `${{{}}}`, expected one of: {}",
                        &after[..j],
                        PLACEHOLDERS.join(", ")
                    ),
                );
                return;
            }
            None => {
                is.at(s, key, "unterminated placeholder `${`");
                return;
            }
        }
    }
    // `+` and `#` are valid client ids on AWS IoT (the `${iot:ClientId}` policy trap connects
    // as `+`), so a canary must be able to try them.
}

/// Which keys an action takes: `Need` (must be set), `May` (optional), or absent (an error
/// when set).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    No,
    May,
    Need,
}

struct Keys {
    topic: Key,
    filter: Key,
    thing: Key,
    shadow: Key,
    client_id: Key,
    witness: Key,
    marker: Key,
    policy: Key,
    role: Key,
}

fn keys(action: ProbeAction) -> Keys {
    use Key::*;
    use ProbeAction::*;
    let none = Keys {
        topic: No,
        filter: No,
        thing: No,
        shadow: No,
        // Every MQTT canary connects with a client id (inherited from `[target]`).
        client_id: if action.is_mqtt() { May } else { No },
        witness: No,
        marker: No,
        policy: No,
        role: No,
    };
    match action {
        Connect => Keys {
            client_id: Need,
            ..none
        },
        Subscribe => Keys {
            filter: Need,
            marker: May,
            ..none
        },
        Publish => Keys {
            topic: Need,
            witness: May,
            ..none
        },
        Retain => Keys {
            topic: Need,
            witness: Need,
            ..none
        },
        Receive => Keys {
            topic: Need,
            filter: May,
            witness: Need,
            marker: May,
            ..none
        },
        ShadowGet | ShadowUpdate | ShadowDelete | HttpsShadowGet | HttpsShadowDelete => Keys {
            thing: Need,
            shadow: May,
            ..none
        },
        // The witness checks the shadow exists when the canary may not read it: the probe
        // never creates a shadow.
        HttpsShadowUpdate => Keys {
            thing: Need,
            shadow: May,
            witness: May,
            ..none
        },
        HttpsShadowList | DescribeThing => Keys {
            thing: Need,
            ..none
        },
        // Witness-confirmed: only the witness's subscription seeing it proves a hole.
        HttpsPublish => Keys {
            topic: Need,
            witness: Need,
            ..none
        },
        HttpsRetainedGet => Keys {
            topic: Need,
            ..none
        },
        HttpsRetainedList | ListThings | ListAttachedPolicies => none,
        DeleteConnection => Keys {
            client_id: Need,
            ..none
        },
        // The witness detaches what a hole let the canary attach when the canary itself may
        // not (an attach-at-sign-in role grants AttachPolicy, rarely DetachPolicy).
        AttachPolicy => Keys {
            policy: May,
            witness: May,
            ..none
        },
        GetPolicy => Keys {
            policy: Need,
            ..none
        },
        AttachThingPrincipal => Keys {
            thing: May,
            witness: May,
            ..none
        },
        AssumeRole | WebIdentity | CustomRole => Keys { role: Need, ..none },
    }
}

/// Keys that name a resource a probe would change if the call got through must be
/// probe-named (hold `${nonce}`), so they can only name something that does not exist.
fn must_be_probe_named(action: ProbeAction, key: &str) -> bool {
    matches!(
        (action, key),
        (ProbeAction::DeleteConnection, "client_id")
            | (ProbeAction::AttachThingPrincipal, "thing")
            | (ProbeAction::HttpsShadowDelete, "shadow")
    )
}

fn check_fields(is: &mut Issues<'_>, rc: &RawCanary, action: ProbeAction) {
    use ProbeAction::*;
    let k = keys(action);
    let missing = |is: &mut Issues<'_>, key: &str| {
        is.at(&rc.action, key, format!("action `{action}` needs `{key}`"));
    };
    let extra = |is: &mut Issues<'_>, s: &Spanned<String>, key: &str| {
        is.at(
            s,
            key,
            format!("`{key}` does not apply to action `{action}`"),
        );
    };
    // Presence first: a missing or misplaced key, once per key.
    let present =
        |is: &mut Issues<'_>, v: Option<&Spanned<String>>, key: &str, want: Key| match (v, want) {
            (None, Key::Need) => {
                missing(is, key);
                false
            }
            (Some(s), Key::No) => {
                extra(is, s, key);
                false
            }
            (Some(_), _) => true,
            (None, _) => false,
        };
    let nonce_ok = |is: &mut Issues<'_>, s: &Spanned<String>, key: &str| {
        if must_be_probe_named(action, key) && !probe_names::has_nonce(s.get_ref()) {
            is.at(
                s,
                key,
                format!(
                    "action `{action}` only ever targets a probe-named {key} that cannot exist: include `${{nonce}}` (e.g. `{}`), or a call that gets through would act on a real one",
                    match key {
                        "client_id" => "victim-${nonce}",
                        "shadow" => probe_names::DEFAULT_SHADOW,
                        _ => probe_names::DEFAULT_THING,
                    }
                ),
            );
            false
        } else {
            true
        }
    };
    let sample = |v: &str| probe_names::expand(v, probe_names::SAMPLE_NONCE);
    if !action.is_mqtt() {
        if rc.mqtt_version.is_some() {
            is.at(
                &rc.action,
                "mqtt_version",
                format!(
                    "`mqtt_version` does not apply to action `{action}` (it does not speak MQTT)"
                ),
            );
        }
        if let Some(q) = &rc.qos
            && action != HttpsPublish
        {
            is.at(
                q,
                "qos",
                format!("`qos` does not apply to action `{action}`"),
            );
        }
    }

    let mut topic_ok = false;
    if present(is, rc.topic.as_ref(), "topic", k.topic)
        && let Some(t) = &rc.topic
    {
        match names::topic_problem(t.get_ref()) {
            Some(p) => is.at(t, "topic", p),
            None => topic_ok = true,
        }
    }
    if present(is, rc.topic_filter.as_ref(), "topic_filter", k.filter)
        && let Some(t) = &rc.topic_filter
    {
        match (names::filter_problem(t.get_ref()), &rc.topic) {
            (Some(p), _) => is.at(t, "topic_filter", p),
            (None, Some(topic))
                if topic_ok
                    && !iot_canary_policy::actions::topic_matches(topic.get_ref(), t.get_ref()) =>
            {
                is.at(
                    t,
                    "topic_filter",
                    format!(
                        "`{}` does not match the topic `{}`: the bait published there could never reach this subscription, so its absence would prove nothing",
                        t.get_ref(),
                        topic.get_ref()
                    ),
                )
            }
            _ => {}
        }
    }
    if present(is, rc.thing.as_ref(), "thing", k.thing)
        && let Some(t) = &rc.thing
        && nonce_ok(is, t, "thing")
        && let Some(p) = names::thing_problem(&sample(t.get_ref()))
    {
        is.at(t, "thing", p);
    }
    if present(is, rc.shadow.as_ref(), "shadow", k.shadow)
        && let Some(s) = &rc.shadow
        && nonce_ok(is, s, "shadow")
        && let Some(p) = names::shadow_problem(&sample(s.get_ref()))
    {
        is.at(s, "shadow", p);
    }
    if present(is, rc.policy_name.as_ref(), "policy_name", k.policy)
        && let Some(p) = &rc.policy_name
    {
        if let Some(msg) = probe_names::policy_problem(p.get_ref()) {
            is.at(p, "policy_name", msg);
        } else if action == AttachPolicy
            && !probe_names::has_nonce(p.get_ref())
            && rc.witness.is_none()
        {
            is.at(
                p,
                "policy_name",
                format!(
                    "`{}` names a real policy: if the hole exists the probe attaches it to the canary's own identity, so it needs a `witness` that may iot:DetachPolicy to take it off again (the identity may be able to attach but not detach); or leave `policy_name` out for a probe-named policy that cannot exist",
                    p.get_ref()
                ),
            );
        }
    }
    if present(is, rc.role_arn.as_ref(), "role_arn", k.role)
        && let Some(r) = &rc.role_arn
        && let Some(msg) = probe_names::role_arn_problem(r.get_ref())
    {
        is.at(r, "role_arn", msg);
    }
    if present(is, rc.client_id.as_ref(), "client_id", k.client_id)
        && let Some(c) = &rc.client_id
    {
        nonce_ok(is, c, "client_id");
    }
    if present(is, rc.marker_topic.as_ref(), "marker_topic", k.marker)
        && let Some(m) = &rc.marker_topic
    {
        if let Some(p) = names::topic_problem(m.get_ref()) {
            is.at(m, "marker_topic", p);
        } else if rc
            .topic
            .as_ref()
            .is_some_and(|t| t.get_ref() == m.get_ref())
        {
            is.at(
                m,
                "marker_topic",
                "must differ from `topic`: the marker proves the subscription live beside the bait",
            );
        } else if let Some(filter) = rc
            .topic_filter
            .as_ref()
            .or(rc.topic.as_ref())
            .filter(|_| action == Receive)
            .filter(|f| names::filter_problem(f.get_ref()).is_none())
            && !markers::matched_by(m.get_ref(), filter.get_ref())
        {
            is.at(
                m,
                "marker_topic",
                format!(
                    "`{}` is not matched by the filter under test `{}`: AWS delays delivery after SUBACK per subscription, so only a marker arriving through that filter proves it live; pick a topic it matches that the identity may receive",
                    m.get_ref(),
                    filter.get_ref()
                ),
            );
        }
    }
    present(is, rc.witness.as_ref(), "witness", k.witness);
}
