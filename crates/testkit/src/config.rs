//! Daemon configurations for the lab worlds, from `fixtures/configs/` (templates with
//! `{placeholders}`; `${identity}`-style variables are the daemon's own and stay).

use crate::fixture_with;

/// `configs/dev.toml`: one static identity `dev` (keys from TEST_DEV_KEY/TEST_DEV_SECRET).
pub fn dev(endpoint: &str, ca_file: &str, interval: &str, timeout: &str) -> String {
    fixture_with(
        "configs/dev.toml",
        &[
            ("endpoint", endpoint),
            ("ca_file", ca_file),
            ("interval", interval),
            ("timeout", timeout),
        ],
    )
}

/// Where a daemon finds the identity plane (STS, the Cognito identity pool and user pool).
#[derive(Debug, Clone, Copy)]
pub struct IdentityPlane<'a> {
    pub sts: &'a str,
    pub cognito_identity: &'a str,
    pub cognito_idp: &'a str,
}

impl<'a> IdentityPlane<'a> {
    /// The lab's own identity services.
    pub fn of(lab: &'a iot_canary_lab::RunningLab) -> Self {
        IdentityPlane {
            sts: &lab.endpoints.sts,
            cognito_identity: &lab.endpoints.cognito_identity,
            cognito_idp: &lab.endpoints.cognito_idp,
        }
    }

    /// Every identity service behind one URL (a relay in front of the lab).
    pub fn all_at(url: &'a str) -> Self {
        IdentityPlane {
            sts: url,
            cognito_identity: url,
            cognito_idp: url,
        }
    }
}

/// `configs/target.toml`: `[target]` (gateway `endpoint`, CA, client-id template) and
/// `[endpoints]`; the caller appends the rest.
pub fn target(endpoint: &str, ca_file: &str, client_id: &str, plane: IdentityPlane) -> String {
    fixture_with(
        "configs/target.toml",
        &[
            ("endpoint", endpoint),
            ("ca_file", ca_file),
            ("client_id", client_id),
            ("sts", plane.sts),
            ("cognito_identity", plane.cognito_identity),
            ("cognito_idp", plane.cognito_idp),
        ],
    )
}

/// [`target`] for an in-process lab, its own identity services included.
pub fn lab_target(lab: &iot_canary_lab::RunningLab, client_id: &str) -> String {
    target(
        &lab.endpoints.mqtt,
        &lab.endpoints.ca_file,
        client_id,
        IdentityPlane::of(lab),
    )
}

/// A `static` identity whose keys come from the environment variables `PREFIX_KEY` and
/// `PREFIX_SECRET`.
pub fn static_identity(name: &str, env_prefix: &str) -> String {
    format!(
        "\n[[identity]]\nname = \"{name}\"\nkind = \"static\"\naccess_key_id_env = \"{env_prefix}_KEY\"\nsecret_access_key_env = \"{env_prefix}_SECRET\"\n"
    )
}

/// Schedule knobs of [`ops_dev`].
#[derive(Debug, Clone, Copy)]
pub struct Pace<'a> {
    pub timeout: &'a str,
    pub connect_interval: &'a str,
    pub delivery_grace: &'a str,
}

/// `configs/ops-dev.toml`: static identities `ops` and `dev` (keys from OPS_KEY/OPS_SECRET,
/// DEV_KEY/DEV_SECRET); `ca_file` empty for a plain-websocket lab.
pub fn ops_dev(endpoint: &str, ca_file: &str, pace: Pace) -> String {
    let ca_line = if ca_file.is_empty() {
        String::new()
    } else {
        format!("ca_file = \"{ca_file}\"\n")
    };
    fixture_with(
        "configs/ops-dev.toml",
        &[
            ("endpoint", endpoint),
            ("ca_line", &ca_line),
            ("timeout", pace.timeout),
            ("connect_interval", pace.connect_interval),
            ("delivery_grace", pace.delivery_grace),
        ],
    )
}

/// `dev`'s canaries in the dev-lamp world for one MQTT version (`5` or `3.1.1`), each named
/// `NAME-vVERSION`; `only` keeps those NAMEs (all when empty).
pub fn dev_lamp_canaries(version: &str, only: &[&str]) -> String {
    lamp_canaries("dev", "", version, only)
}

/// The dev-lamp canaries for `identity`, named `PREFIXNAME-vVERSION`.
pub fn lamp_canaries(identity: &str, prefix: &str, version: &str, only: &[&str]) -> String {
    let v = version.replace('.', "");
    let text = fixture_with(
        "configs/dev-lamp-canaries.toml",
        &[
            ("identity", identity),
            ("prefix", prefix),
            ("v", &v),
            ("version", version),
        ],
    );
    let names: Vec<String> = only.iter().map(|n| format!("{prefix}{n}-v{v}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    tables(&text, "canary", &names)
}

/// `configs/identities.toml`'s `[[identity]]` tables named in `names`: `ops` (static keys
/// from OPS_KEY/OPS_SECRET), `alice` (the demo's Cognito user, ALICE_PASSWORD), `guest`.
pub fn identities(names: &[&str]) -> String {
    assert!(!names.is_empty(), "name the identities");
    tables(
        &crate::fixture("configs/identities.toml"),
        "identity",
        names,
    )
}

/// The `[[kind]]` tables of `text` whose `name` is in `names` (all when empty), in file order.
fn tables(text: &str, kind: &str, names: &[&str]) -> String {
    let header = format!("[[{kind}]]");
    let kept: Vec<String> = text
        .split(header.as_str())
        .skip(1)
        .filter(|t| {
            names.is_empty()
                || names
                    .iter()
                    .any(|n| t.contains(&format!("name = \"{n}\"\n")))
        })
        .map(|t| format!("\n{header}{}", t.trim_end()))
        .collect();
    assert!(
        names.is_empty() || kept.len() == names.len(),
        "unknown {kind} among {names:?}"
    );
    kept.join("\n") + "\n"
}

/// One subscribe canary of identity `dev` (`allow` makes it a control).
pub fn dev_subscribe_canary(name: &str, filter: &str, allow: bool) -> String {
    subscribe_canary(name, "dev", filter, allow)
}

/// One subscribe canary of `identity` (`allow` makes it a control).
pub fn subscribe_canary(name: &str, identity: &str, filter: &str, allow: bool) -> String {
    let expect = if allow { "\nexpect = \"allow\"" } else { "" };
    format!(
        "\n[[canary]]\nname = \"{name}\"\nidentity = \"{identity}\"\naction = \"subscribe\"\ntopic_filter = \"{filter}\"{expect}\n"
    )
}

/// For each of `identities`, the control `IDENTITY-own`: it may subscribe to dev's lamp's
/// topics (`devices/dev-lamp/#`).
pub fn own_lamp_controls(identities: &[&str]) -> String {
    identities
        .iter()
        .map(|i| subscribe_canary(&format!("{i}-own"), i, "devices/dev-lamp/#", true))
        .collect()
}
