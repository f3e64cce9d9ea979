//! Secrets (webhook URLs, bearer tokens) wrapped so that `Debug`/`Display` can never leak them
//! into logs or error messages by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("https://hooks.slack.com/services/T0/B0/abc");
        assert!(!format!("{s:?} {s}").contains("hooks.slack.com"));
        assert_eq!(s.expose(), "https://hooks.slack.com/services/T0/B0/abc");
    }
}
