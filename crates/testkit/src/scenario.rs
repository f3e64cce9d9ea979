//! Lab worlds as fixture files, with the overrides tests need (a policy replaced, a TTL set, a
//! user added), so no test carries its own copy of a scenario.
//!
//! The fixtures (`fixtures/scenarios/*.toml`) are ordinary lab scenarios; [`Scenario::demo`]
//! is the demo world the lab embeds. Edits go through the TOML tables, so the result is
//! always a scenario the lab parses like a file.

use std::path::Path;

use iot_canary_lab::scenario::LoadedScenario;
use toml::{Table, Value};

/// Static keys of the IAM users the fixtures share: (access key id, secret access key).
pub const OPS: (&str, &str) = ("AKIALABOPS0000000001", "lab-secret-ops");
pub const ALICE: (&str, &str) = ("AKIALABALICE00000001", "lab-secret-alice");
pub const DEV: (&str, &str) = ("AKIALABDEV0000000001", "lab-secret-dev");

/// The demo world's Cognito pools (`Scenario::demo()`).
pub const DEMO_POOL: &str = "us-east-1:0a1b2c3d-0000-4000-8000-00000000c0de";
pub const DEMO_USER_POOL: &str = "us-east-1_LabPool01";
pub const DEMO_APP_CLIENT: &str = "labappclient00000000000001";
pub const DEMO_PROVIDER: &str = "cognito-idp.us-east-1.amazonaws.com/us-east-1_LabPool01";
/// The app client secret of [`Scenario::demo_srp_only`].
pub const DEMO_CLIENT_SECRET: &str = "lab-client-secret";

/// A lab scenario being prepared for a test.
#[derive(Debug, Clone)]
pub struct Scenario {
    name: String,
    table: Table,
}

impl Scenario {
    /// `fixtures/scenarios/NAME.toml`.
    pub fn fixture(name: &str) -> Scenario {
        Scenario::from_text(name, &crate::fixture(&format!("scenarios/{name}.toml")))
    }

    /// The lab's embedded demo world.
    pub fn demo() -> Scenario {
        Scenario::from_text("demo", iot_canary_lab::demo::DEMO_SCENARIO)
    }

    /// The demo world with a production-like app client: `USER_SRP_AUTH` and refresh only,
    /// with the client secret [`DEMO_CLIENT_SECRET`].
    pub fn demo_srp_only() -> Scenario {
        Scenario::demo()
            .set(
                "cognito",
                "explicit_auth_flows",
                Value::Array(vec![
                    "ALLOW_USER_SRP_AUTH".into(),
                    "ALLOW_REFRESH_TOKEN_AUTH".into(),
                ]),
            )
            .set("cognito", "app_client_secret", DEMO_CLIENT_SECRET)
    }

    pub fn from_text(name: &str, text: &str) -> Scenario {
        let table = text
            .parse::<Table>()
            .unwrap_or_else(|e| panic!("scenario {name} is not TOML: {e}"));
        Scenario {
            name: name.to_string(),
            table,
        }
    }

    /// Adds or replaces the policy `name` (a JSON document).
    pub fn policy(mut self, name: &str, doc: &str) -> Scenario {
        self.table_mut("policies")
            .insert(name.into(), Value::String(doc.into()));
        self
    }

    /// The document of policy `name`.
    pub fn policy_doc(&self, name: &str) -> String {
        self.table
            .get("policies")
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("scenario {} has no policy {name}", self.name))
            .to_string()
    }

    /// Adds an IAM user with static keys and the given policies.
    pub fn iam_user(mut self, name: &str, key: &str, secret: &str, policies: &[&str]) -> Scenario {
        let mut user = Table::new();
        user.insert("name".into(), name.into());
        user.insert("access_key_id".into(), key.into());
        user.insert("secret_access_key".into(), secret.into());
        user.insert(
            "policies".into(),
            Value::Array(policies.iter().map(|p| Value::from(*p)).collect()),
        );
        self.array_mut("iam_user").push(Value::Table(user));
        self
    }

    /// Replaces an existing IAM user's secret access key.
    pub fn iam_secret(mut self, user: &str, secret: &str) -> Scenario {
        let name = self.name.clone();
        let entry = self
            .array_mut("iam_user")
            .iter_mut()
            .filter_map(Value::as_table_mut)
            .find(|t| t.get("name").and_then(Value::as_str) == Some(user))
            .unwrap_or_else(|| panic!("scenario {name} has no IAM user {user}"));
        entry.insert("secret_access_key".into(), secret.into());
        self
    }

    /// Sets `key` of the existing `[[role]]` `role` (e.g. its `trust_policy`).
    pub fn role_set(mut self, role: &str, key: &str, value: impl Into<Value>) -> Scenario {
        let name = self.name.clone();
        let entry = self
            .array_mut("role")
            .iter_mut()
            .filter_map(Value::as_table_mut)
            .find(|t| t.get("name").and_then(Value::as_str) == Some(role))
            .unwrap_or_else(|| panic!("scenario {name} has no role {role}"));
        entry.insert(key.into(), value.into());
        self
    }

    /// Sets `key` in the top-level table `section` (e.g. `cognito`, `credentials_ttl`).
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Scenario {
        self.table_mut(section).insert(key.into(), value.into());
        self
    }

    /// Appends a `[[role]]` with its policies, assumable by the `trusted` IAM users.
    pub fn role(mut self, name: &str, policies: &[&str], trusted: &[&str]) -> Scenario {
        let list = |v: &[&str]| Value::Array(v.iter().map(|p| Value::from(*p)).collect());
        let mut role = Table::new();
        role.insert("name".into(), name.into());
        role.insert("policies".into(), list(policies));
        role.insert("trusted".into(), list(trusted));
        self.array_mut("role").push(Value::Table(role));
        self
    }

    /// Appends a `[[thing]]`.
    pub fn thing(mut self, name: &str, owner: &str) -> Scenario {
        let mut thing = Table::new();
        thing.insert("name".into(), name.into());
        thing.insert("owner".into(), owner.into());
        self.array_mut("thing").push(Value::Table(thing));
        self
    }

    /// Sets the `[realism]` table from TOML text (docs/realism.md), e.g.
    /// `realism("profile = \"aws\"\nseed = 7")` or `realism("late_ack = 1.0\nlate_ack_delay = \"2s\"")`.
    pub fn realism(mut self, knobs: &str) -> Scenario {
        let table = knobs
            .parse::<Table>()
            .unwrap_or_else(|e| panic!("realism knobs are not TOML: {e}\n{knobs}"));
        self.table.insert("realism".into(), Value::Table(table));
        self
    }

    /// The scenario as the TOML text a lab reads.
    pub fn text(&self) -> String {
        toml::to_string(&self.table)
            .unwrap_or_else(|e| panic!("scenario {} does not serialise: {e}", self.name))
    }

    /// Writes the scenario to `dir/scenario.toml` (for the `lab` subcommand); returns the path.
    pub fn write(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("scenario.toml");
        std::fs::write(&path, self.text())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Parses the scenario as the lab does (relative paths resolve under `dir`).
    pub fn load(&self, dir: &Path) -> LoadedScenario {
        iot_canary_lab::scenario::parse(&self.text(), &self.name, dir)
            .unwrap_or_else(|e| panic!("scenario {} invalid: {e}", self.name))
    }

    /// The top-level `key`, created as `empty` when missing; panics if it is another kind.
    fn entry(&mut self, key: &str, empty: Value) -> &mut Value {
        let kind = empty.type_str();
        let value = self.table.entry(key).or_insert(empty);
        assert_eq!(
            value.type_str(),
            kind,
            "scenario {}: `{key}` is not a {kind}",
            self.name
        );
        value
    }

    fn table_mut(&mut self, key: &str) -> &mut Table {
        let value = self.entry(key, Value::Table(Table::new()));
        value.as_table_mut().expect("checked by entry")
    }

    fn array_mut(&mut self, key: &str) -> &mut Vec<Value> {
        let value = self.entry(key, Value::Array(Vec::new()));
        value.as_array_mut().expect("checked by entry")
    }
}
