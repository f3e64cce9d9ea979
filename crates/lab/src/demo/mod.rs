//! The embedded demo world (names agreed in DEMO.md; the deliberate hole is documented in
//! docs/lab-identity.md and at the top of the scenario file).

/// The demo scenario text (TOML, lab scenario format).
pub const DEMO_SCENARIO: &str = include_str!("scenario.toml");

/// Parses and validates the demo scenario.
pub fn load() -> Result<crate::scenario::LoadedScenario, crate::scenario::ScenarioError> {
    crate::scenario::parse(DEMO_SCENARIO, "<embedded demo>", std::path::Path::new("."))
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_scenario_is_valid() {
        let loaded = super::load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.scenario.region, "us-east-1");
        assert_eq!(loaded.scenario.account_id, "123456789012");
        let users: Vec<&str> = loaded
            .scenario
            .cognito
            .as_ref()
            .unwrap()
            .user
            .iter()
            .map(|u| u.username.as_str())
            .collect();
        assert_eq!(users, ["alice", "bob", "carol"]);
    }
}
