use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    notifier: Vec<NotifierConfig>,
    #[serde(default)]
    alerting: AlertingConfig,
}

fn parse(s: &str) -> Result<Doc, toml::de::Error> {
    toml::from_str(s)
}

const HOOK: &str = "https://hooks.slack.com/services/T000/B000/XXXXsecret";

fn env(var: &str) -> Option<String> {
    match var {
        "SLACK_URL" => Some(HOOK.into()),
        "EMPTY" => Some("  ".into()),
        "AM_TOKEN" => Some("tok-secret\n".into()),
        "NOT_A_URL" => Some("hooks.slack.com/XXXXsecret".into()),
        _ => None,
    }
}

fn resolve_one(s: &str) -> Result<NotifierSettings, NotifierConfigError> {
    let doc = parse(s).expect("toml parses");
    doc.notifier[0].resolve(&env, Path::new("/nonexistent-base"))
}

#[test]
fn defaults_and_alertmanager() {
    let doc = parse(
        r#"
[[notifier]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
token_env = "AM_TOKEN"
"#,
    )
    .unwrap();
    assert_eq!(doc.alerting, AlertingConfig::default());
    assert_eq!(doc.alerting.blind_after_rounds, 2);
    assert_eq!(doc.alerting.repeat_interval, Duration::from_secs(14400));
    let s = doc.notifier[0].resolve(&env, Path::new("/")).unwrap();
    assert_eq!(s.queue_size, 256);
    assert_eq!(s.resend_interval, Some(Duration::from_secs(60)));
    assert_eq!(s.token.as_ref().unwrap().expose(), "tok-secret");
    assert!(s.send_resolved);
}

#[test]
fn alerting_table_parses_durations() {
    let doc = parse(
        "[alerting]\nblind_after_rounds = 3\nrepeat_interval = \"30m\"\ndashboard_url = \"http://g/d/iot-canary\"\n",
    )
    .unwrap();
    assert_eq!(doc.alerting.blind_after_rounds, 3);
    assert_eq!(doc.alerting.repeat_interval, Duration::from_secs(1800));
}

#[test]
fn unknown_key_is_an_error_with_line() {
    let e =
        parse("[[notifier]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nretries = 3\n")
            .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("retries"), "{msg}");
    assert!(msg.contains("line 5"), "{msg}");
}

#[test]
fn bad_duration_is_an_error() {
    let e = parse("[alerting]\nrepeat_interval = \"4 moons\"\n").unwrap_err();
    assert!(e.to_string().contains("invalid duration"), "{e}");
}

#[test]
fn slack_url_only_by_reference() {
    let e = resolve_one(&format!(
        "[[notifier]]\nname = \"s\"\nkind = \"slack\"\nurl = \"{HOOK}\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key, "url");
    assert!(!e.to_string().contains("XXXXsecret"));
    let s = resolve_one("[[notifier]]\nname = \"s\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n")
        .unwrap();
    assert_eq!(s.url.expose(), HOOK);
    assert!(!format!("{s:?}").contains("XXXXsecret"));
}

#[test]
fn semantic_errors_name_the_key_and_never_the_secret() {
    let cases: &[(&str, &str)] = &[
        ("kind = \"webhook\"", "url"),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\nurl_env = \"SLACK_URL\"",
            "url",
        ),
        ("kind = \"slack\"\nurl_env = \"MISSING\"", "url_env"),
        ("kind = \"slack\"\nurl_env = \"EMPTY\"", "url_env"),
        ("kind = \"slack\"\nurl_env = \"NOT_A_URL\"", "url_env"),
        ("kind = \"slack\"\nurl_file = \"nope.txt\"", "url_file"),
        (
            "kind = \"slack\"\nurl_env = \"SLACK_URL\"\ntoken_env = \"AM_TOKEN\"",
            "token_env",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\nqueue_size = 0",
            "queue_size",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\ntimeout = \"0s\"",
            "timeout",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\nretry_initial = \"10s\"\nretry_max = \"1s\"",
            "retry_max",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\nresend_interval = \"1m\"",
            "resend_interval",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://a\"\nca_file = \"missing.pem\"",
            "ca_file",
        ),
        ("kind = \"webhook\"\nurl = \"ftp://a\"", "url"),
    ];
    for (body, key) in cases {
        let e = resolve_one(&format!("[[notifier]]\nname = \"n\"\n{body}\n")).unwrap_err();
        assert_eq!(e.key, *key, "{body}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("`n`"), "{msg}");
        assert!(
            !msg.contains("XXXXsecret") && !msg.contains("tok-secret"),
            "{msg}"
        );
    }
}

#[test]
fn bad_name_and_duplicates() {
    let e = resolve_one("[[notifier]]\nname = \"a b\"\nkind = \"webhook\"\nurl = \"http://a\"\n")
        .unwrap_err();
    assert_eq!(e.key, "name");
    let doc = parse(
        "[[notifier]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://a\"\n[[notifier]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://b\"\n",
    )
    .unwrap();
    let e = resolve_all(&doc.notifier, &env, Path::new("/")).unwrap_err();
    assert_eq!(e.message, "duplicate notifier name");
}

#[test]
fn url_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook"), format!("{HOOK}\n")).unwrap();
    let doc = parse("[[notifier]]\nname = \"s\"\nkind = \"slack\"\nurl_file = \"hook\"\n").unwrap();
    let s = doc.notifier[0].resolve(&env, dir.path()).unwrap();
    assert_eq!(s.url.expose(), HOOK);
}
