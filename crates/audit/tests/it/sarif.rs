//! SARIF output validates against the official SARIF 2.1.0 JSON schema, taken from a package:
//! the `serde-sarif` crate ships `src/schema.json` (OASIS `sarif-schema-2.1.0.json`, checked by
//! its `$id` below). The validator is Python `jsonschema` from the test venv
//! (scripts/test-deps.sh).

use std::path::PathBuf;
use std::process::Command;

use iot_canary_audit::sarif::{fingerprint, log};
use iot_canary_audit::sources::{LoadOptions, load};
use iot_canary_audit::{AuditOptions, audit, suppress};

use super::fixture;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `src/schema.json` of the serde-sarif package this crate builds against.
fn schema_path() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dependency");
    PathBuf::from(manifest).with_file_name("src/schema.json")
}

fn sample() -> String {
    let mut sources = load(
        "templates/fleet.yaml",
        &fixture("cloudformation/fleet.yaml"),
        None,
        &LoadOptions::default(),
    )
    .unwrap();
    sources.extend(
        load(
            "policies/building.json",
            &fixture("device-defender/misconfigured.filter-deny-bypassed.bad.json"),
            None,
            &LoadOptions::default(),
        )
        .unwrap(),
    );
    let mut f = audit(&sources, &AuditOptions::default());
    assert!(f.len() >= 3, "{f:#?}");
    let s = suppress::parse(
        "s.toml",
        "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"fleet-device\"\nreason = \"lab only\"\n",
    )
    .unwrap();
    suppress::apply(&mut f, &s);
    serde_json::to_string_pretty(&log(&f, "0.1.0")).unwrap()
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let schema = schema_path();
    let schema_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap();
    assert_eq!(
        schema_doc["$id"],
        "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
    );
    let python = repo().join("target/test-tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/test-deps.sh",
        python.display()
    );
    let dir = std::env::temp_dir().join(format!("audit-sarif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("audit.sarif");
    std::fs::write(&doc, sample()).unwrap();
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
        jsonschema.Draft7Validator.check_schema(schema)\n\
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))\n\
        [print(e.json_path, e.message) for e in errors]\n\
        sys.exit(1 if errors else 0)\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&schema)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SARIF does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A document the schema rejects, so a validator that accepts everything fails here.
    std::fs::write(&doc, r#"{"version": "2.1.0", "runs": [{"results": []}]}"#).unwrap();
    let bad = Command::new(&python)
        .args(["-c", script])
        .arg(&schema)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "a run without `tool` must not validate"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_result_has_rule_location_line_and_fingerprint() {
    let v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    for r in results {
        assert!(r["ruleId"].as_str().unwrap().ends_with("_CHECK"), "{r}");
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .contains('/'),
            "{r}"
        );
        assert!(loc["region"]["startLine"].as_i64().unwrap() >= 1, "{r}");
        assert_eq!(
            r["partialFingerprints"]["iotCanaryAudit/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
        assert!(
            r["message"]["text"].as_str().unwrap().contains("Witness"),
            "{r}"
        );
    }
    let suppressed: Vec<_> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(
        suppressed[0]["suppressions"][0]["justification"],
        "lab only"
    );
    assert_eq!(suppressed[0]["suppressions"][0]["kind"], "external");
}

#[test]
fn fingerprints_do_not_move_with_lines() {
    let doc = fixture("device-defender/misconfigured.wildcard-in-deny.bad.json");
    let a = audit(
        &load("p.json", &doc, None, &LoadOptions::default()).unwrap(),
        &AuditOptions::default(),
    );
    let shifted = format!("\n\n\n{doc}");
    let b = audit(
        &load("p.json", &shifted, None, &LoadOptions::default()).unwrap(),
        &AuditOptions::default(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x.location.line, y.location.line);
        assert_eq!(fingerprint(x), fingerprint(y));
    }
}
