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

use crate::config::tests::{SLACK_HOOK as HOOK, fixture_env as env};

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
fn slack_url_only_by_reference() {
    let s = resolve_one("[[notifier]]\nname = \"s\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n")
        .unwrap();
    assert_eq!(s.url.expose(), HOOK);
    assert!(!format!("{s:?}").contains("XXXXsecret"));
}

#[test]
fn bad_name_and_duplicates() {
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
