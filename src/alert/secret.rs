//! Notifier secrets (webhook URLs, bearer tokens) use the identity module's redacting
//! [`Secret`]: one type, so `Debug`/`Display` can never leak a secret from either path.

pub use crate::identity::Secret;

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
