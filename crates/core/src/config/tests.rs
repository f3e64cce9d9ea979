use super::*;

/// A valid config the tests below vary; `fixtures/` holds the invalid ones.
const BASE: &str = include_str!("fixtures/valid/base.toml");

fn p(src: &str) -> Result<Config, Vec<Issue>> {
    match parse(Path::new("/etc/canaries.toml"), src) {
        Ok(c) => Ok(c),
        Err(ConfigError::Invalid { issues, .. }) => Err(issues),
        Err(e) => panic!("{e}"),
    }
}

fn line_of(src: &str, needle: &str) -> usize {
    src[..src.find(needle).expect(needle)].matches('\n').count() + 1
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/config/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// The environment fixtures' `*_env` references resolve in; the values are the secrets no
/// error may echo.
pub(super) fn fixture_env(var: &str) -> Option<String> {
    match var {
        "SLACK_URL" => Some(SLACK_HOOK.into()),
        "EMPTY" => Some("  ".into()),
        "AM_TOKEN" => Some("tok-secret\n".into()),
        "NOT_A_URL" => Some("hooks.slack.com/XXXXsecret".into()),
        _ => None,
    }
}

pub(super) const SLACK_HOOK: &str = "https://hooks.slack.com/services/T000/B000/XXXXsecret";

/// Parses a fixture as the daemon loads a config: the file, then the notifiers' secrets.
fn load_fixture(path: &Path) -> (String, Result<Config, ConfigError>) {
    let text = std::fs::read_to_string(path).unwrap();
    let loaded = parse(path, &text).and_then(|c| resolve_notifiers(&c, &fixture_env).map(|_| c));
    (text, loaded)
}

/// `...` in an expected error stands for any text; the rest must match exactly.
fn matches_elided(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("...").collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut tail) = actual.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for m in middle {
        match tail.find(m) {
            Some(i) => tail = &tail[i + m.len()..],
            None => return false,
        }
    }
    tail.ends_with(last)
}

/// Each `fixtures/invalid/*.toml` states its errors in its first lines (`# error: LINE:COL:
/// `KEY`: MESSAGE`, one per issue, in the order reported) and the values no error may echo
/// (`# secret: VALUE`).
#[test]
fn invalid_fixtures_report_their_located_errors() {
    for path in fixtures("invalid") {
        let (text, loaded) = load_fixture(&path);
        let name = path.display().to_string();
        let expected: Vec<&str> = text
            .lines()
            .map_while(|l| l.strip_prefix("# error: "))
            .collect();
        let mut secrets: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# secret: "))
            .collect();
        secrets.extend(["XXXXsecret", "tok-secret"]);
        assert!(!expected.is_empty(), "{name}: no `# error:` line");
        let err = match loaded {
            Ok(_) => panic!("{name}: parsed, expected {expected:?}"),
            Err(ConfigError::Invalid { path: at, issues }) => {
                assert_eq!(at, path, "{name}");
                issues
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let actual: Vec<String> = err.iter().map(Issue::to_string).collect();
        assert_eq!(actual.len(), expected.len(), "{name}: {actual:#?}");
        for (want, got) in expected.iter().zip(&actual) {
            assert!(
                matches_elided(want, got),
                "{name}:\n want {want}\n  got {got}"
            );
        }
        let rendered = ConfigError::Invalid {
            path: path.clone(),
            issues: err,
        }
        .to_string();
        assert!(rendered.starts_with(&format!("{name}:")), "{rendered}");
        for s in &secrets {
            assert!(
                !rendered.contains(s),
                "{name}: secret `{s}` echoed: {rendered}"
            );
        }
        // Resolving a notifier on its own names it (the located error names its index).
        if let Ok(doc) = toml::from_str::<toml::Table>(&text)
            && let Some(toml::Value::Array(ns)) = doc.get("notifier")
        {
            for n in ns {
                let Ok(n) = n.clone().try_into::<NotifierConfig>() else {
                    continue;
                };
                if let Err(e) = n.resolve(&fixture_env, path.parent().unwrap()) {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("`{}`", n.name)), "{name}: {msg}");
                    for s in &secrets {
                        assert!(!msg.contains(s), "{name}: secret `{s}` echoed: {msg}");
                    }
                }
            }
        }
    }
}

#[test]
fn valid_fixtures_parse_and_resolve() {
    for path in fixtures("valid") {
        if let (_, Err(e)) = load_fixture(&path) {
            panic!("{e}");
        }
    }
}

#[test]
fn base_config_parses_with_defaults() {
    let c = p(BASE).unwrap();
    assert_eq!(c.schedule.interval, Duration::from_secs(30));
    assert_eq!(c.schedule.jitter, 0.1);
    assert_eq!(c.schedule.concurrency, 4);
    assert_eq!(c.schedule.connect_interval, Duration::from_secs(1));
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(c.target.mqtt_version, MqttVersion::V5);
    assert_eq!(c.target.url(), "wss://127.0.0.1:8883/mqtt");
    assert_eq!(
        c.identities[0]
            .params
            .get("username")
            .and_then(|v| v.as_str()),
        Some("alice")
    );
    assert_eq!(c.identities[1].line, line_of(BASE, "name = \"ops\"") - 1);
    let r = &c.canaries[1];
    assert_eq!(
        (r.action, r.expect, r.qos),
        (ProbeAction::Receive, Expect::Deny, 1)
    );
    assert_eq!(r.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(r.timeout, Duration::from_secs(5));
}

#[test]
fn ca_file_is_relative_to_the_config() {
    let src = BASE.replace(
        "endpoint = \"127.0.0.1:8883\"",
        "endpoint = \"127.0.0.1:8883\"\nca_file = \"lab-ca.pem\"",
    );
    let c = p(&src).unwrap();
    assert_eq!(c.target.ca_file.unwrap(), PathBuf::from("/etc/lab-ca.pem"));
}

#[test]
fn the_repo_canaries_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../canaries.toml");
    if let Err(e) = load(&path) {
        panic!("{e}");
    }
}

#[test]
fn alerting_and_notifiers_parse_and_resolve() {
    let src = format!(
        "{BASE}\n[alerting]\nblind_after_rounds = 3\nrepeat_interval = \"1h\"\ndashboard_url = \"https://grafana.example.com/d/iot-canary\"\n\n[[notifier]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:9093\"\n\n[[notifier]]\nname = \"chat\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n"
    );
    let c = p(&src).unwrap();
    assert_eq!(c.alerting.blind_after_rounds, 3);
    assert_eq!(c.alerting.repeat_interval, Duration::from_secs(3600));
    assert_eq!(c.notifiers.len(), 2);
    assert_eq!(c.notifiers[1].line, line_of(&src, "name = \"chat\"") - 1);
    let env = |v: &str| {
        (v == "SLACK_URL").then(|| "https://hooks.slack.com/services/T/B/secret".to_string())
    };
    let s = resolve_notifiers(&c, &env).unwrap();
    assert_eq!(s[0].name, "am");
    assert_eq!(
        s[1].url.expose(),
        "https://hooks.slack.com/services/T/B/secret"
    );

    // A missing variable is located at the notifier's table and names the key, not a value.
    let err = resolve_notifiers(&c, &|_| None).unwrap_err().to_string();
    let line = line_of(&src, "name = \"chat\"") - 1;
    assert!(
        err.contains(&format!(
            "/etc/canaries.toml:{line}:1: `notifier[1].url_env`"
        )),
        "{err}"
    );
    assert!(err.contains("SLACK_URL is not set"), "{err}");
}

#[test]
fn config_from_an_environment_variable_names_the_variable() {
    let var = "IOT_CANARY_TEST_CONFIG_ENV_7";
    // SAFETY (test-only): this variable name is unique to this test.
    unsafe { std::env::set_var(var, format!("{BASE}\n[schedule2]\n")) };
    let err = load_env(var).unwrap_err().to_string();
    assert!(err.starts_with(&format!("${var}:")), "{err}");
    assert!(err.contains("schedule2"), "{err}");
    unsafe { std::env::set_var(var, BASE) };
    assert_eq!(load_env(var).unwrap().canaries.len(), 2);
    let err = load_env("IOT_CANARY_TEST_UNSET_VAR_7")
        .unwrap_err()
        .to_string();
    assert!(err.contains("$IOT_CANARY_TEST_UNSET_VAR_7"), "{err}");
}

#[test]
fn relative_identity_files_resolve_against_the_config_directory() {
    let text = BASE.replace(
        "password_env = \"ALICE_PASSWORD\"",
        "password_file = \"secrets/alice\"",
    );
    let cfg = parse(Path::new("/etc/iot-canary/canaries.toml"), &text).unwrap();
    let alice = cfg.identities.iter().find(|i| i.name == "alice").unwrap();
    match &alice.config.kind {
        crate::config::identity::IdentityKind::Cognito(c) => assert_eq!(
            c.login.password,
            crate::secret::SecretRef::File(PathBuf::from("/etc/iot-canary/secrets/alice"))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_rate_defaults_to_the_aws_quota_and_must_be_positive() {
    let c = parse(Path::new("c.toml"), BASE).unwrap();
    assert_eq!(c.schedule.connect_rate, 500);
    let src = BASE.replace("concurrency = 4", "concurrency = 4\nconnect_rate = 100");
    let c = parse(Path::new("c.toml"), &src).unwrap();
    assert_eq!(c.schedule.connect_rate, 100);
}

#[test]
fn liveness_markers_come_through_the_filter_under_test() {
    let marker = |c: &Config, name: &str| {
        c.canaries
            .iter()
            .find(|k| k.name == name)
            .unwrap_or_else(|| panic!("no canary {name}"))
            .marker
            .clone()
            .map(|m| (m.topic, m.filter, m.from))
    };
    let t = |a: &str, b: &str, c: &str| Some((a.to_string(), b.to_string(), c.to_string()));
    // An exact filter matches only the bait's own topic: no marker can come through it, and
    // the subscribe control's topic (through another filter) is not taken.
    let c = p(BASE).unwrap();
    assert_eq!(marker(&c, "alice-cannot-read-bob"), None);
    // A wildcard filter: a topic under the subscribe control's filter that it matches,
    // arriving through the filter under test.
    let wild = |filter: &str| {
        BASE.replace(
            "topic = \"devices/bob-plug/telemetry\"\n",
            &format!("topic = \"devices/bob-plug/telemetry\"\ntopic_filter = \"{filter}\"\n"),
        )
    };
    let c = p(&wild("devices/#")).unwrap();
    assert_eq!(
        marker(&c, "alice-cannot-read-bob"),
        t(
            "devices/alice-lamp/iot-canary/marker",
            "devices/#",
            "control alice-own-lamp"
        )
    );
    // A receive control's topic wins over a subscribe control's; the receive control itself,
    // whose filter matches neither other topic, uses its own topic.
    let recv_control = "\n[[canary]]\nname = \"alice-reads-lamp\"\nidentity = \"alice\"\naction = \"receive\"\ntopic = \"devices/alice-lamp/telemetry\"\ntopic_filter = \"devices/alice-lamp/+\"\nwitness = \"ops\"\nexpect = \"allow\"\n";
    let c = p(&format!("{}{recv_control}", wild("devices/#"))).unwrap();
    assert_eq!(
        marker(&c, "alice-cannot-read-bob"),
        t(
            "devices/alice-lamp/telemetry",
            "devices/#",
            "control alice-reads-lamp"
        )
    );
    assert_eq!(
        marker(&c, "alice-reads-lamp"),
        t(
            "devices/alice-lamp/telemetry",
            "devices/alice-lamp/+",
            "its own topic"
        )
    );
    // A wildcard filter that matches no control's topic has no marker (the policies may allow
    // none under it): not an error, the probe ends `no_delivery_proof` if granted and silent.
    let c = p(&wild("devices/bob-plug/+")).unwrap();
    assert!(
        c.canaries
            .iter()
            .find(|k| k.name == "alice-cannot-read-bob")
            .is_some_and(|k| k.marker.is_none())
    );
    // `marker_topic` wins over everything, through the filter under test.
    let own = wild("devices/#").replace(
        "witness = \"ops\"",
        "witness = \"ops\"\nmarker_topic = \"devices/alice-lamp/status\"",
    );
    let c = p(&own).unwrap();
    assert_eq!(
        marker(&c, "alice-cannot-read-bob"),
        t("devices/alice-lamp/status", "devices/#", "marker_topic")
    );
    // ... and must be matched by it.
    let own = BASE.replace(
        "witness = \"ops\"",
        "witness = \"ops\"\nmarker_topic = \"devices/alice-lamp/status\"",
    );
    let err = p(&own).unwrap_err();
    assert!(
        err.iter().any(|i| i.key.ends_with("marker_topic")
            && i.message.contains("not matched by the filter under test")),
        "{err:?}"
    );
    // A subscribe canary singles out 3.1.1 SUBACK 0x80 beside another filter: the control's.
    let sub = "\n[[canary]]\nname = \"alice-sub-bob\"\nidentity = \"alice\"\naction = \"subscribe\"\ntopic_filter = \"devices/bob-plug/#\"\n";
    let c = p(&format!("{BASE}{sub}")).unwrap();
    assert_eq!(
        marker(&c, "alice-sub-bob"),
        t(
            "devices/alice-lamp/iot-canary/marker",
            "devices/alice-lamp/#",
            "control alice-own-lamp"
        )
    );
}

#[test]
fn client_ids_may_be_shared_by_probes_that_never_overlap() {
    // An identity's MQTT 5 probes share one pooled connection (the default template is the
    // same for both of BASE's canaries); a 3.1.1 deny canary and a 3.1.1 control of the same
    // identity run one after the other.
    let v311 = "\n[[canary]]\nname = \"a311\"\nidentity = \"alice\"\naction = \"subscribe\"\ntopic_filter = \"devices/bob-plug/#\"\nmqtt_version = \"3.1.1\"\nclient_id = \"alice-311\"\n\n[[canary]]\nname = \"a311-own\"\nidentity = \"alice\"\naction = \"subscribe\"\ntopic_filter = \"devices/alice-lamp/#\"\nmqtt_version = \"3.1.1\"\nclient_id = \"alice-311\"\nexpect = \"allow\"\n";
    let c = p(&format!("{BASE}{v311}")).unwrap();
    assert_eq!(c.canaries.len(), 4);
    // Two 3.1.1 deny canaries with that id would overlap.
    let clash = v311
        .replace("expect = \"allow\"\n", "")
        .replace("a311-own", "a311-b");
    let err = p(&format!("{BASE}{clash}")).unwrap_err();
    assert!(
        err.iter()
            .any(|i| i.key.ends_with("client_id") && i.message.contains("a311, a311-b")),
        "{err:?}"
    );
}

#[test]
fn state_dir_resolves_from_the_config_file_and_runbook_url_defaults_to_the_repository() {
    let c = p(BASE).unwrap();
    assert_eq!(c.state, None);
    assert_eq!(
        c.alerting.runbook_url,
        crate::config::alerting::DEFAULT_RUNBOOK_URL
    );
    let c = p(&format!(
        "{BASE}\n[state]\ndir = \"state\"\n\n[alerting]\nrunbook_url = \"https://wiki.example/runbook.md\"\n"
    ))
    .unwrap();
    assert_eq!(c.state.unwrap().dir, Path::new("/etc/state"));
    assert_eq!(c.alerting.runbook_url, "https://wiki.example/runbook.md");
    let c = p(&format!("{BASE}\n[state]\ndir = \"/var/lib/iot-canary\"\n")).unwrap();
    assert_eq!(c.state.unwrap().dir, Path::new("/var/lib/iot-canary"));
}

#[test]
fn the_trigger_is_off_by_default_and_its_watch_defaults_to_ten_minutes() {
    let c = p(BASE).unwrap();
    assert!(!c.server.trigger);
    assert_eq!(c.trigger, TriggerSettings::default());
    assert_eq!(
        (c.trigger.every, c.trigger.watch),
        (Duration::from_secs(30), Duration::from_secs(600))
    );
    let c = p(&format!(
        "{BASE}\n[server]\ntrigger = true\n\n[trigger]\nevery = \"15s\"\nwatch = \"20m\"\n"
    ))
    .unwrap();
    assert!(c.server.trigger);
    assert_eq!(c.server.listen, Server::default().listen);
    assert_eq!(
        (c.trigger.every, c.trigger.watch),
        (Duration::from_secs(15), Duration::from_secs(1200))
    );
    let e = p(&format!("{BASE}\n[trigger]\noften = \"1m\"\n")).unwrap_err();
    assert_eq!(e[0].key, "trigger.often", "{e:?}");
}

#[test]
fn coverage_paths_resolve_from_the_config_file() {
    let text = format!(
        "{BASE}\n[coverage]\nownership = \"world/ownership.toml\"\npolicies = [\"cfn/fleet.yaml\", \"/abs/plan.json\"]\n"
    );
    let c = parse(Path::new("/etc/iot-canary/canaries.toml"), &text).unwrap();
    assert_eq!(
        c.coverage,
        Some(CoverageSource::Ownership {
            ownership: "/etc/iot-canary/world/ownership.toml".into(),
            policies: vec![
                "/etc/iot-canary/cfn/fleet.yaml".into(),
                "/abs/plan.json".into()
            ],
        })
    );
    assert_eq!(p(BASE).unwrap().coverage, None);
}
/// Every new door parses, with the documented defaults for probe-named resources, its
/// family, and a subject reports can show.
#[test]
fn doors_fixture_fills_probe_named_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/fixtures/valid/doors.toml");
    let (_, loaded) = load_fixture(&path);
    let cfg = loaded.unwrap();
    let by = |n: &str| cfg.canaries.iter().find(|c| c.name == n).unwrap();
    let seen: std::collections::BTreeSet<ProbeAction> =
        cfg.canaries.iter().map(|c| c.action).collect();
    for a in ProbeAction::ALL.iter().filter(|a| !a.is_mqtt()) {
        assert!(seen.contains(a), "doors.toml lacks {a}");
    }
    assert_eq!(
        by("attach-policy").policy_name.as_deref(),
        Some(probe_names::DEFAULT_POLICY)
    );
    assert_eq!(
        by("attach-policy").subject(),
        "policy iot-canary-probe-${nonce}"
    );
    assert_eq!(
        by("https-shadow-delete").shadow.as_deref(),
        Some(probe_names::DEFAULT_SHADOW)
    );
    assert_eq!(
        by("attach-thing-principal").thing.as_deref(),
        Some("alice-${nonce}")
    );
    assert_eq!(by("delete-connection").client_id, "alice-lamp-${nonce}");
    assert_eq!(
        by("delete-connection").subject(),
        "client alice-lamp-${nonce}"
    );
    assert_eq!(
        by("https-shadow-update").subject(),
        "thing alice-lamp shadow config"
    );
    assert_eq!(
        by("custom-role").subject(),
        "role arn:aws:iam::123456789012:role/lab-admin"
    );
    assert_eq!(by("https-publish").qos, 0);
    assert_eq!(by("list-things").family(), ProbeFamily::ControlPlane);
    assert_eq!(
        cfg.endpoints.iot_data.as_deref(),
        Some("https://127.0.0.1:8443")
    );
    assert_eq!(cfg.endpoints.iot.as_deref(), Some("http://127.0.0.1:4101"));
    // No two doors of the fixture share a subject string they should not.
    assert!(cfg.canaries.iter().all(|c| !c.subject().is_empty()));
}
