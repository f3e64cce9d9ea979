//! The reference docs stay true to the binary: docs/cli.md holds every command's `--help`
//! exactly (rewrite it with `IOT_CANARY_BLESS_DOCS=1 cargo test -p iot-canary --test it
//! docs_reference`); every `iot-canary <command> --flag` the docs and the README show exists
//! (the runbook once told people to run `simulate --policies`, which did not); and
//! docs/schemas/canaries.schema.json accepts every shipped config (the repo's canaries.toml, the
//! core's valid fixtures, every `init` template) and refuses the fixtures whose shape is wrong;
//! the JSON reports of `demo --once`, `simulate`, `policy test` and `audit` match
//! docs/schemas/report.schema.json (docs/reports.md).

use std::collections::BTreeMap;
use std::path::Path;

use iot_canary_testkit::process::output_ok;
use iot_canary_testkit::tools;

use crate::support::{BIN, DEMO_ONCE_JSON, repo};

fn help(path: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(path)
        .arg("--help")
        .env_remove("COLUMNS")
        .output()
        .expect("iot-canary runs");
    assert!(out.status.success(), "{path:?} --help: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The subcommands a help text lists (`help` itself left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path ("" for the top level) with its `--help`.
fn all_help() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        for sub in subcommands(&text) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        found.insert(path.join(" "), text);
    }
    found
}

const OPEN: &str = "<!-- help: ";

/// docs/cli.md's help blocks by command path: `<!-- help: PATH -->` then a ```text block.
fn doc_blocks(doc: &str) -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix(OPEN) else {
            continue;
        };
        let path = rest.trim_end_matches("-->").trim().to_string();
        assert_eq!(lines.next(), Some("```text"), "block of `{path}`");
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.insert(path, body.join("\n") + "\n");
    }
    blocks
}

/// `doc` with every help block replaced by the binary's text.
fn blessed(doc: &str, helps: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        out.push_str(l);
        out.push('\n');
        if let Some(rest) = l.strip_prefix(OPEN) {
            let path = rest.trim_end_matches("-->").trim();
            lines.by_ref().take_while(|l| *l != "```").for_each(drop);
            out.push_str("```text\n");
            out.push_str(
                helps
                    .get(path)
                    .map(String::as_str)
                    .unwrap_or("(no such command)\n"),
            );
            out.push_str("```\n");
        }
    }
    out
}

#[test]
fn cli_md_is_the_binarys_help() {
    let helps = all_help();
    assert!(helps.contains_key("policy size"), "{:?}", helps.keys());
    let path = repo("docs/cli.md");
    let doc = std::fs::read_to_string(&path).expect("docs/cli.md");
    if std::env::var_os("IOT_CANARY_BLESS_DOCS").is_some() {
        std::fs::write(&path, blessed(&doc, &helps)).unwrap();
        return;
    }
    let blocks = doc_blocks(&doc);
    let missing: Vec<&String> = helps.keys().filter(|k| !blocks.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "docs/cli.md has no help block for {missing:?}"
    );
    for (cmd, text) in &helps {
        assert_eq!(
            &blocks[cmd], text,
            "docs/cli.md is out of date for `iot-canary {cmd} --help`; rewrite the blocks with IOT_CANARY_BLESS_DOCS=1 cargo test -p iot-canary --test it docs_reference"
        );
    }
    let stale: Vec<&String> = blocks.keys().filter(|k| !helps.contains_key(*k)).collect();
    assert!(
        stale.is_empty(),
        "docs/cli.md documents commands that do not exist: {stale:?}"
    );
}

/// Each `iot-canary COMMAND ...` in a code span or block of `text`: (line, command path, the
/// `--flags` that follow on that line).
fn shown_commands(
    text: &str,
    commands: &BTreeMap<String, String>,
) -> Vec<(usize, String, Vec<String>)> {
    let mut shown = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        // Code: the whole line in a block, else the `...` spans.
        let spans: Vec<&str> = if in_block {
            vec![line]
        } else {
            line.split('`').skip(1).step_by(2).collect()
        };
        for span in spans {
            for (i, _) in span.match_indices("iot-canary ") {
                let words: Vec<&str> = span[i + "iot-canary ".len()..]
                    .split_whitespace()
                    .take_while(|w| !w.starts_with('#'))
                    .collect();
                let mut path = String::new();
                for w in &words {
                    let longer = if path.is_empty() {
                        w.to_string()
                    } else {
                        format!("{path} {w}")
                    };
                    if commands.contains_key(&longer) {
                        path = longer;
                    } else if !w.starts_with('-') || !path.is_empty() {
                        break;
                    }
                }
                if path.is_empty() {
                    continue;
                }
                let flags = words
                    .iter()
                    .filter_map(|w| w.trim_matches(|c| c == '[' || c == ']').split('=').next())
                    .filter(|w| w.starts_with("--") && w.len() > 2)
                    .map(str::to_string)
                    .collect();
                shown.push((n + 1, path, flags));
            }
        }
    }
    shown
}

/// Flags the docs announce for a feature not built yet, each saying so where it is shown. Keep
/// this list short: an entry is a promise someone else is keeping.
const ANNOUNCED: [(&str, &str, &str); 1] = [(
    "policy-change-trigger.md",
    "once",
    "--settle-min", // "comes with the trigger feature" (that doc, "Exit 1 (breach) ...")
)];

#[test]
fn every_command_the_docs_show_exists() {
    let helps = all_help();
    let mut files = vec![repo("README.md")];
    for e in std::fs::read_dir(repo("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut wrong = Vec::new();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, cmd, flags) in shown_commands(&text, &helps) {
            checked += 1;
            let known = format!("{}\n{}", helps[&cmd], helps[""]);
            for flag in flags {
                let spelled = [
                    format!("{flag} "),
                    format!("{flag},"),
                    format!("{flag}\n"),
                    format!("{flag}="),
                ];
                let announced = ANNOUNCED
                    .iter()
                    .any(|(doc, c, fl)| f.ends_with(doc) && *c == cmd && *fl == flag);
                if !announced && !spelled.iter().any(|s| known.contains(s.as_str())) {
                    wrong.push(format!(
                        "{}:{line}: `iot-canary {cmd}` has no {flag}",
                        f.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} command lines found in the docs"
    );
    assert!(
        wrong.is_empty(),
        "the docs show flags that do not exist:\n{}",
        wrong.join("\n")
    );
}

const VALIDATE: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for f in sys.argv[2:]:
    doc = tomllib.load(open(f, "rb")) if f.endswith(".toml") else json.load(open(f))
    errs = list(v.iter_errors(doc))
    print(json.dumps({"file": f, "errors": [e.message[:200] for e in errs]}))
"#;

/// file (TOML or JSON) -> the complaints of docs/schemas/`schema`.
fn schema_errors(schema: &str, files: &[std::path::PathBuf]) -> BTreeMap<String, Vec<String>> {
    output_ok(
        std::process::Command::new(tools::python())
            .arg("-c")
            .arg(VALIDATE)
            .arg(repo(&format!("docs/schemas/{schema}")))
            .args(files),
        "the schema validator (the test venv's python)",
    )
    .lines()
    .map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let errors = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        (v["file"].as_str().unwrap().to_string(), errors)
    })
    .collect()
}

fn tomls(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_json_schema_accepts_every_shipped_config_and_refuses_wrong_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut shipped = vec![repo("canaries.toml")];
    shipped.extend(tomls(&repo("crates/core/src/config/fixtures/valid")));
    for kind in iot_canary_core::config::IDENTITY_KINDS {
        let p = dir.path().join(format!("init-{kind}.toml"));
        let st = std::process::Command::new(BIN)
            .args(["init", "--kind", kind, "-o"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(st.status.success(), "init --kind {kind}: {st:?}");
        shipped.push(p);
    }
    let found = schema_errors("canaries.schema.json", &shipped);
    assert_eq!(found.len(), shipped.len());
    for (f, errors) in &found {
        assert!(
            errors.is_empty(),
            "{f} does not match docs/schemas/canaries.schema.json: {errors:?}"
        );
    }

    // Wrong shapes the parser also refuses: unknown keys and kinds, a missing [target],
    // QoS 2, a secret pasted where a variable name belongs.
    let invalid = repo("crates/core/src/config/fixtures/invalid");
    let wrong: Vec<_> = [
        "canary-unknown-key",
        "notifier-unknown-key-retries",
        "static-unknown-key",
        "guest-unknown-key",
        "identity-unknown-kind",
        "notifier-unknown-kind",
        "target-missing",
        "canary-qos-two",
        "cognito-password-pasted-into-env",
        "notifier-slack-url-pasted-into-env",
        "static-inline-secret-access-key",
        "target-bad-region",
    ]
    .iter()
    .map(|n| invalid.join(format!("{n}.toml")))
    .collect();
    for (f, errors) in schema_errors("canaries.schema.json", &wrong) {
        assert!(!errors.is_empty(), "the schema accepts {f}");
    }
}

/// Every inconclusive reason the verdicts can carry is explained in the runbook (with what to
/// do) and named in the blind alert's rule, so a new reason cannot ship undocumented.
#[test]
fn every_inconclusive_reason_is_in_the_runbook_and_the_alert_rules() {
    let runbook = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
    let blind = &runbook[runbook.find("## IotCanaryBlind").expect("blind section")..];
    let rules = std::fs::read_to_string(repo("deploy/prometheus/iot-canary-rules.yml")).unwrap();
    let rule: String = rules[rules.find("alert: IotCanaryBlind").expect("blind rule")..]
        .lines()
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let named: std::collections::BTreeSet<&str> = rule
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for r in iot_canary_core::verdict::Reason::ALL {
        let name = r.as_str();
        assert!(
            blind.contains(&format!("| `{name}` |")),
            "docs/runbook.md does not explain `{name}`"
        );
        assert!(
            named.contains(name),
            "the IotCanaryBlind rule's comment does not name `{name}`: {rule}"
        );
    }
}

/// The report of each JSON-reporting command, written by the binary, matches the documented
/// envelope (one shape, `schema_version` first; before, `simulate` printed a bare array and
/// `policy test` a third shape).
#[test]
fn every_json_report_matches_the_report_schema() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_dir(repo("examples/policy-tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("an example policy");
    let policy = policy.to_str().unwrap();
    let tests = repo("examples/policy-tests/cognito-owners.toml");
    let runs: [(&str, Vec<&str>); 4] = [
        ("demo", DEMO_ONCE_JSON.to_vec()),
        (
            "simulate",
            vec![
                "simulate",
                "-c",
                "canaries.toml",
                "--lab-scenario",
                "crates/lab/src/demo/scenario.toml",
                "--format",
                "json",
            ],
        ),
        (
            "policy test",
            vec![
                "policy",
                "test",
                tests.to_str().unwrap(),
                "--format",
                "json",
            ],
        ),
        ("audit", vec!["audit", policy, "--format", "json"]),
    ];
    let mut files = Vec::new();
    for (command, args) in &runs {
        let out = std::process::Command::new(BIN)
            .args(args)
            .current_dir(repo(""))
            .env("TMPDIR", dir.path())
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"));
        assert_eq!(v["command"], *command);
        assert_eq!(v["exit_code"], out.status.code().unwrap());
        let f = dir
            .path()
            .join(format!("{}.json", command.replace(' ', "-")));
        std::fs::write(&f, &out.stdout).unwrap();
        files.push(f);
    }
    for (f, errors) in schema_errors("report.schema.json", &files) {
        assert!(
            errors.is_empty(),
            "{f} does not match docs/schemas/report.schema.json: {errors:?}"
        );
    }
    // The schema is not vacuous: a report without its version, or a blind row without its
    // reason, is refused.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("schema_version");
    v["results"][0]["verdict"] = "inconclusive".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let errors = &schema_errors("report.schema.json", &[bad])
        .into_values()
        .next()
        .unwrap();
    assert!(
        errors.iter().any(|e| e.contains("schema_version")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("reason")), "{errors:?}");
}
