use super::*;

const BASE: &str = r#"
[target]
region = "us-east-1"
endpoint = "127.0.0.1:8883"

[schedule]
interval = "30s"
jitter = "10%"
timeout = "5s"
concurrency = 4

[[identity]]
name = "alice"
kind = "cognito"
user_pool_id = "us-east-1_LabPool01"
app_client_id = "labappclient00000000000001"
identity_pool_id = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de"
username = "alice"
password_env = "ALICE_PASSWORD"

[[identity]]
name = "ops"
kind = "static"
access_key_id_env = "OPS_KEY"
secret_access_key_env = "OPS_SECRET"

[[canary]]
name = "alice-own-lamp"
identity = "alice"
action = "subscribe"
topic_filter = "devices/alice-lamp/#"
expect = "allow"

[[canary]]
name = "alice-cannot-read-bob"
identity = "alice"
action = "receive"
topic = "devices/bob-plug/telemetry"
witness = "ops"
"#;

fn p(src: &str) -> Result<Config, Vec<Issue>> {
    match parse(Path::new("/etc/canaries.toml"), src) {
        Ok(c) => Ok(c),
        Err(ConfigError::Invalid { issues, .. }) => Err(issues),
        Err(e) => panic!("{e}"),
    }
}

fn one_issue(src: &str) -> Issue {
    let mut issues = p(src).expect_err("should be invalid");
    assert_eq!(issues.len(), 1, "{issues:?}");
    issues.remove(0)
}

fn line_of(src: &str, needle: &str) -> usize {
    src[..src.find(needle).expect(needle)].matches('\n').count() + 1
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
fn unknown_key_names_line_and_key() {
    let src = BASE.replace("witness = \"ops\"", "witness = \"ops\"\ntopik = \"x\"");
    let is = one_issue(&src);
    assert_eq!(is.line, line_of(&src, "topik"));
    assert_eq!(is.key, "canary[1].topik");
    assert!(is.message.contains("unknown field"), "{}", is.message);
}

#[test]
fn bad_duration_and_percent_are_located() {
    let src = BASE.replace("interval = \"30s\"", "interval = \"30 fortnights\"");
    let is = one_issue(&src);
    assert_eq!(
        (is.line, is.key.as_str()),
        (line_of(&src, "interval"), "schedule.interval")
    );
    assert!(is.message.contains("invalid duration"));
    let src = BASE.replace("jitter = \"10%\"", "jitter = \"10\"");
    let is = one_issue(&src);
    assert_eq!(is.key, "schedule.jitter");
}

#[test]
fn missing_identity_and_witness_are_reported_together() {
    let src = BASE
        .replace(
            "identity = \"alice\"\naction = \"receive\"",
            "identity = \"mallory\"\naction = \"receive\"",
        )
        .replace("witness = \"ops\"", "witness = \"opz\"");
    let issues = p(&src).unwrap_err();
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert!(keys.contains(&"canary[1].identity"), "{issues:?}");
    assert!(keys.contains(&"canary[1].witness"), "{issues:?}");
    let w = issues
        .iter()
        .find(|i| i.key == "canary[1].witness")
        .unwrap();
    assert_eq!(w.line, line_of(&src, "opz"));
}

#[test]
fn identity_without_control_is_an_error() {
    let src = BASE.replace("expect = \"allow\"", "expect = \"deny\"");
    let is = one_issue(&src);
    assert!(is.message.contains("no control"), "{is:?}");
    assert_eq!(is.key, "canary[0].identity");
}

#[test]
fn receive_needs_witness() {
    let src = BASE.replace("witness = \"ops\"\n", "");
    let is = one_issue(&src);
    assert!(is.message.contains("needs `witness`"), "{is:?}");
}

#[test]
fn fields_must_fit_the_action() {
    let src = BASE.replace(
        "topic_filter = \"devices/alice-lamp/#\"",
        "topic = \"devices/alice-lamp/x\"",
    );
    let issues = p(&src).unwrap_err();
    assert!(
        issues
            .iter()
            .any(|i| i.message.contains("needs `topic_filter`")),
        "{issues:?}"
    );
    assert!(
        issues
            .iter()
            .any(|i| i.message.contains("`topic` does not apply")),
        "{issues:?}"
    );
    let src = BASE.replace(
        "topic_filter = \"devices/alice-lamp/#\"",
        "topic_filter = \"devices/#/x\"",
    );
    assert!(one_issue(&src).message.contains("invalid topic filter"));
    let src = BASE.replace(
        "topic = \"devices/bob-plug/telemetry\"",
        "topic = \"devices/+/telemetry\"",
    );
    assert!(one_issue(&src).message.contains("no wildcards"));
}

#[test]
fn qos_two_is_rejected() {
    let src = BASE.replace("witness = \"ops\"", "witness = \"ops\"\nqos = 2");
    let is = one_issue(&src);
    assert_eq!(is.key, "canary[1].qos");
}

#[test]
fn connect_canary_client_ids_must_be_unique() {
    let src = format!(
        "{BASE}\n[[canary]]\nname = \"c1\"\nidentity = \"alice\"\naction = \"connect\"\nclient_id = \"bob-phone\"\n\n[[canary]]\nname = \"c2\"\nidentity = \"alice\"\naction = \"connect\"\nclient_id = \"bob-phone\"\n"
    );
    let is = one_issue(&src);
    assert_eq!(is.key, "canary[3].client_id");
    assert!(is.message.contains("c1, c2"), "{is:?}");
}

#[test]
fn shared_literal_client_id_across_identities_collides() {
    let src = BASE.replace("[[canary]]\nname = \"alice-cannot", "[[canary]]\nname = \"ops-own\"\nidentity = \"ops\"\naction = \"subscribe\"\ntopic_filter = \"x\"\nexpect = \"allow\"\nclient_id = \"fixed\"\n\n[[canary]]\nname = \"alice-cannot")
        .replace("witness = \"ops\"", "witness = \"ops\"\nclient_id = \"fixed\"");
    let is = one_issue(&src);
    assert!(is.message.contains("client id `fixed`"), "{is:?}");
}

#[test]
fn unknown_placeholder_and_kind_are_errors() {
    let src = BASE.replace(
        "endpoint = \"127.0.0.1:8883\"",
        "endpoint = \"127.0.0.1:8883\"\nclient_id = \"${user}-x\"",
    );
    assert!(one_issue(&src).message.contains("unknown placeholder"));
    let src = BASE.replace("kind = \"static\"", "kind = \"magic\"");
    let is = one_issue(&src);
    assert_eq!(is.key, "identity[1].kind");
}

#[test]
fn identity_schema_errors_name_the_identity_table() {
    let src = BASE.replace("user_pool_id = \"us-east-1_LabPool01\"\n", "");
    let is = one_issue(&src);
    assert_eq!(is.key, "identity[0]");
    assert_eq!(is.line, line_of(&src, "[[identity]]"));
    assert!(is.message.contains("user_pool_id"), "{is:?}");
}

#[test]
fn missing_target_is_reported() {
    let is = one_issue("[[identity]]\nname = \"a\"\nkind = \"static\"\n");
    assert!(is.message.contains("target"), "{is:?}");
}

#[test]
fn errors_render_file_line_and_key() {
    let src = BASE.replace("concurrency = 4", "concurrency = 0");
    let e = parse(Path::new("conf/c.toml"), &src)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "conf/c.toml:{}:15: `schedule.concurrency`: must be a positive integer",
            line_of(&src, "concurrency")
        )
    );
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
fn notifier_and_alerting_errors_are_located() {
    let src =
        format!("{BASE}\n[[notifier]]\nname = \"am\"\nkind = \"pager\"\nurl = \"http://x\"\n");
    let is = one_issue(&src);
    assert_eq!(is.line, line_of(&src, "kind = \"pager\""));
    assert!(is.key.starts_with("notifier[0]"), "{is:?}");

    let src = format!(
        "{BASE}\n[[notifier]]\nname = \"am\"\nkind = \"webhook\"\nurl = \"http://x\"\ncolour = 1\n"
    );
    let is = one_issue(&src);
    assert_eq!(is.key, "notifier[0].colour", "{is:?}");

    let src = format!(
        "{BASE}\n[[notifier]]\nname = \"am\"\nkind = \"webhook\"\nurl = \"http://x\"\n[[notifier]]\nname = \"am\"\nkind = \"webhook\"\nurl = \"http://y\"\n"
    );
    let is = one_issue(&src);
    assert_eq!(is.key, "notifier[1].name", "{is:?}");
    assert!(is.message.contains("duplicate notifier name"));

    let src = format!("{BASE}\n[alerting]\nblind_after_rounds = 0\n");
    assert_eq!(one_issue(&src).key, "alerting.blind_after_rounds");
    let src = format!("{BASE}\n[alerting]\ndashboard_url = \"grafana/d/x\"\n");
    assert_eq!(one_issue(&src).key, "alerting.dashboard_url");
    let src = format!("{BASE}\n[alerting]\nrepeat_interval = \"soon\"\n");
    let is = one_issue(&src);
    assert_eq!(is.line, line_of(&src, "repeat_interval"));
    assert_eq!(is.key, "alerting.repeat_interval");
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
    let src = BASE.replace("concurrency = 4", "concurrency = 4\nconnect_rate = 0");
    let e = parse(Path::new("c.toml"), &src).unwrap_err().to_string();
    assert!(
        e.contains("`schedule.connect_rate`: must be a positive integer"),
        "{e}"
    );
}
