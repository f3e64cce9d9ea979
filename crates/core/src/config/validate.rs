//! Turns the raw file into a `Config`, collecting every problem with its location.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::*;

/// (canary name, identity, is a connect canary, span of the client id)
type ClientIdUse = (String, String, bool, std::ops::Range<usize>);

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
    let client_id = client_id_template(&mut is, rt.client_id.as_ref(), DEFAULT_CLIENT_ID);
    let target = Target {
        region: rt.region.into_inner(),
        endpoint: rt.endpoint.into_inner(),
        ca_file: rt.ca_file.map(|c| resolve(&base_dir, c.get_ref())),
        mqtt_version: rt.mqtt_version.unwrap_or_default(),
        client_id,
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
        if let Some(d) = s.delivery_grace {
            schedule.delivery_grace = d.0;
        }
    }

    // [server]
    let mut server = Server::default();
    if let Some(l) = raw.server.and_then(|s| s.listen) {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => server.listen = a,
            Err(_) => is.at(
                &l,
                "listen",
                format!("`{}` is not an address like 127.0.0.1:9464", l.get_ref()),
            ),
        }
    }

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
    let mut deny_identities: BTreeMap<String, Spanned<String>> = BTreeMap::new();
    let mut control_identities = BTreeSet::new();
    // effective client id key -> (canary name, identity, is connect canary, span)
    let mut client_ids: BTreeMap<String, Vec<ClientIdUse>> = BTreeMap::new();
    let mut id_spans: BTreeMap<String, std::ops::Range<usize>> = BTreeMap::new();
    for rc in raw.canary {
        let rc = rc.into_inner();
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
        if expect == Expect::Allow {
            control_identities.insert(rc.identity.get_ref().clone());
        } else {
            deny_identities
                .entry(rc.identity.get_ref().clone())
                .or_insert(rc.identity.clone());
        }

        check_fields(&mut is, &rc, action);

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
        let template = client_id_template(&mut is, rc.client_id.as_ref(), &target.client_id);
        let key = template.replace("${canary}", &name);
        let span = rc.client_id.as_ref().map_or(rc.name.span(), |c| c.span());
        id_spans.insert(name.clone(), span.clone());
        client_ids.entry(key).or_default().push((
            name.clone(),
            rc.identity.get_ref().clone(),
            action == ProbeAction::Connect,
            span,
        ));

        canaries.push(Canary {
            name,
            identity: rc.identity.into_inner(),
            action,
            expect,
            topic: rc.topic.map(Spanned::into_inner),
            topic_filter: rc.topic_filter.map(Spanned::into_inner),
            thing: rc.thing.map(Spanned::into_inner),
            shadow: rc.shadow.map(Spanned::into_inner),
            client_id: template,
            witness: rc.witness.map(Spanned::into_inner),
            qos,
            mqtt_version: rc.mqtt_version.unwrap_or(target.mqtt_version),
            timeout: rc.timeout.map_or(schedule.timeout, |t| t.0),
        });
    }

    for (identity, span) in &deny_identities {
        if !control_identities.contains(identity) {
            is.at(
                span,
                "identity",
                format!(
                    "identity `{identity}` has deny canaries but no control (a canary with expect = \"allow\"); without one its denials prove nothing"
                ),
            );
        }
    }

    for (key, users) in &client_ids {
        let identity_specific = [
            "${identity_id}",
            "${username}",
            "${principal}",
            "${identity}",
        ]
        .iter()
        .any(|p| key.contains(p));
        let distinct: BTreeSet<&str> = users.iter().map(|u| u.1.as_str()).collect();
        let has_connect = users.iter().any(|u| u.2);
        // Connect canaries of different identities may test the same id (another's device,
        // `+`, `#`): a connect's verdict is its CONNACK, which arrives before a later connect
        // with the same id (paced per client id) can take the id over.
        let all_connect = users.iter().all(|u| u.2);
        let clash = if all_connect {
            distinct.len() < users.len()
        } else {
            has_connect || (distinct.len() > 1 && !identity_specific)
        };
        if users.len() > 1 && clash {
            let names: Vec<&str> = users.iter().map(|u| u.0.as_str()).collect();
            let (_, _, _, span) = &users[users.len() - 1];
            is.list.push(loc.issue(
                span.clone(),
                "client_id",
                format!(
                    "client id `{key}` is used by canaries {}; AWS disconnects the older holder of a client id, so only connect canaries of different identities may share one",
                    names.join(", ")
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
                    span,
                    "dashboard_url",
                    format!("`{u}` is not an absolute http:// or https:// URL"),
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
            endpoints: raw.endpoints,
            schedule,
            server,
            identities,
            canaries,
            alerting,
            notifiers,
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
) -> String {
    match written {
        Some(c) => {
            check_template(is, c, "client_id");
            c.get_ref().clone()
        }
        None => inherited.to_string(),
    }
}

fn check_template(is: &mut Issues<'_>, s: &Spanned<String>, key: &str) {
    let v = s.get_ref();
    if v.is_empty() {
        is.at(s, key, "must not be empty");
    }
    let mut rest = v.as_str();
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) if PLACEHOLDERS.contains(&&after[..j]) => rest = &after[j + 1..],
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

fn check_fields(is: &mut Issues<'_>, rc: &RawCanary, action: ProbeAction) {
    use ProbeAction::*;
    let (need_topic, need_filter, need_thing, need_client) = match action {
        Connect => (false, false, false, true),
        Subscribe => (false, true, false, false),
        Publish | Retain | Receive => (true, false, false, false),
        ShadowGet | ShadowUpdate | ShadowDelete => (false, false, true, false),
    };
    let allow_filter = need_filter || action == Receive;
    let allow_shadow = need_thing;
    let allow_witness = matches!(action, Publish | Receive | Retain);
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
    match (&rc.topic, need_topic) {
        (None, true) => missing(is, "topic"),
        (Some(t), false) => extra(is, t, "topic"),
        (Some(t), true) if t.get_ref().contains(['#', '+']) || t.get_ref().is_empty() => is.at(
            t,
            "topic",
            "a topic name must be non-empty and contain no wildcards (`#`, `+`)",
        ),
        _ => {}
    }
    match (&rc.topic_filter, need_filter, allow_filter) {
        (None, true, _) => missing(is, "topic_filter"),
        (Some(t), _, false) => extra(is, t, "topic_filter"),
        (Some(t), _, true) if !iot_canary_policy::actions::valid_topic_filter(t.get_ref()) => is
            .at(
                t,
                "topic_filter",
                "invalid topic filter (`#` only as the last level, `+` only as a whole level)",
            ),
        _ => {}
    }
    match (&rc.thing, need_thing) {
        (None, true) => missing(is, "thing"),
        (Some(t), false) => extra(is, t, "thing"),
        _ => {}
    }
    if let (Some(s), false) = (&rc.shadow, allow_shadow) {
        extra(is, s, "shadow");
    }
    if need_client && rc.client_id.is_none() {
        missing(is, "client_id");
    }
    match (&rc.witness, allow_witness) {
        (None, _) if action == Receive => missing(is, "witness"),
        (Some(w), false) => extra(is, w, "witness"),
        _ => {}
    }
}
