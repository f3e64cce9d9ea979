//! Probe-named resources: the names the HTTPS and control-plane probes invent so that a call
//! which gets through touches nothing real (a policy, thing, named shadow or client id that
//! does not exist). They may hold `${nonce}`, replaced per run by a short random token, so no
//! two runs share a name and none names a real resource by accident.

/// The placeholder a probe-named resource may hold.
pub const NONCE: &str = "${nonce}";

/// The default policy `attach-policy` tries to attach (nonexistent by construction).
pub const DEFAULT_POLICY: &str = "iot-canary-probe-${nonce}";
/// The default thing `attach-thing-principal` tries to attach the identity to.
pub const DEFAULT_THING: &str = "iot-canary-probe-${nonce}";
/// The default named shadow `https-shadow-delete` tries to delete.
pub const DEFAULT_SHADOW: &str = "iot-canary-${nonce}";

/// The length of the token `${nonce}` becomes (hex digits).
pub const NONCE_LEN: usize = 12;

/// What validation puts in place of `${nonce}` to check a name's form and length.
pub const SAMPLE_NONCE: &str = "0123456789ab";

/// The token for a run nonce: its last [`NONCE_LEN`] hex digits (the daemon's nonces are
/// random hex), or the whole of a shorter one.
pub fn token(run_nonce: &str) -> String {
    let hex: String = run_nonce.chars().filter(char::is_ascii_hexdigit).collect();
    let start = hex.len().saturating_sub(NONCE_LEN);
    hex[start..].to_ascii_lowercase()
}

/// `name` with every `${nonce}` replaced by `token`.
pub fn expand(name: &str, token: &str) -> String {
    name.replace(NONCE, token)
}

/// Whether the name is probe-named (holds `${nonce}`).
pub fn has_nonce(name: &str) -> bool {
    name.contains(NONCE)
}

/// An IoT policy name (`[\w+=,.@-]+`, 1–128 characters) once `${nonce}` is expanded.
pub fn policy_problem(name: &str) -> Option<String> {
    let n = expand(name, SAMPLE_NONCE);
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    (!ok).then(|| {
        format!(
            "`{name}` is not a valid IoT policy name: 1–128 characters of letters, digits and `_+=,.@-` (`${{nonce}}` allowed)"
        )
    })
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account>:role/<path/name>`.
pub fn role_arn_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty() && !n.ends_with('/'));
    (!ok).then(|| {
        format!("`{arn}` is not an IAM role ARN like `arn:aws:iam::123456789012:role/name`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_short_hex_and_expand_every_placeholder() {
        assert_eq!(
            token("iotc-00000000000000000000deadbeef0123"),
            "deadbeef0123"
        );
        assert_eq!(token("ab"), "ab");
        assert_eq!(expand("a-${nonce}-${nonce}", "x1"), "a-x1-x1");
        assert!(has_nonce(DEFAULT_POLICY) && has_nonce(DEFAULT_THING) && has_nonce(DEFAULT_SHADOW));
        assert!(super::super::names::thing_problem(&expand(DEFAULT_THING, SAMPLE_NONCE)).is_none());
        assert!(
            super::super::names::shadow_problem(&expand(DEFAULT_SHADOW, SAMPLE_NONCE)).is_none()
        );
    }

    #[test]
    fn policy_names_and_role_arns() {
        assert!(policy_problem(DEFAULT_POLICY).is_none());
        assert!(policy_problem("lab-user@x.y=z").is_none());
        assert!(policy_problem("").is_some());
        assert!(policy_problem("a/b").is_some());
        assert!(policy_problem(&"p".repeat(129)).is_some());
        assert!(role_arn_problem("arn:aws:iam::123456789012:role/lab/admin").is_none());
        assert!(role_arn_problem("arn:aws-cn:iam::123456789012:role/r").is_none());
        for bad in [
            "arn:aws:iam::123456789012:user/u",
            "arn:aws:iam::12345:role/r",
            "arn:aws:sts::123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "role/r",
        ] {
            assert!(role_arn_problem(bad).is_some(), "{bad}");
        }
    }
}
