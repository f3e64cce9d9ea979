//! Session policy size against the STS limit: "The plaintext that you use for both inline and
//! managed session policies can't exceed 2,048 characters"
//! (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html, `Policy`).
//! The separate packed (compressed) limit is not computable offline: AWS does not document
//! the packing, so only the plaintext is reported.

use serde::Serialize;

/// The plaintext limit for an inline session policy, in characters.
pub const SESSION_POLICY_PLAINTEXT_LIMIT: usize = 2048;

/// Characters as STS counts them (Unicode scalar values, whitespace included).
pub fn plaintext_len(json: &str) -> usize {
    json.chars().count()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeReport {
    /// Characters as given (what STS sees if the document is sent verbatim).
    pub plaintext_chars: usize,
    /// Characters after removing insignificant JSON whitespace; `None` if not valid JSON.
    pub minified_chars: Option<usize>,
    pub limit: usize,
    pub within_limit: bool,
}

/// Reports the size of a session policy against the 2,048-character limit.
pub fn session_policy_size(json: &str) -> SizeReport {
    let plaintext_chars = plaintext_len(json);
    let minified_chars = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string(&v).ok())
        .map(|s| plaintext_len(&s));
    SizeReport {
        plaintext_chars,
        minified_chars,
        limit: SESSION_POLICY_PLAINTEXT_LIMIT,
        within_limit: plaintext_chars <= SESSION_POLICY_PLAINTEXT_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(plaintext_len("é"), 1);
        assert_eq!(plaintext_len("{}"), 2);
    }

    #[test]
    fn limit_is_inclusive_at_2048() {
        let at = format!("{{\"a\":\"{}\"}}", "x".repeat(2048 - 8));
        assert_eq!(plaintext_len(&at), 2048);
        assert!(session_policy_size(&at).within_limit);
        let over = format!("{{\"a\":\"{}\"}}", "x".repeat(2049 - 8));
        let r = session_policy_size(&over);
        assert_eq!(r.plaintext_chars, 2049);
        assert!(!r.within_limit);
    }

    #[test]
    fn minified_size_drops_whitespace() {
        let r = session_policy_size("{ \"Version\" : \"2012-10-17\" }");
        assert_eq!(r.minified_chars, Some("{\"Version\":\"2012-10-17\"}".len()));
        assert_eq!(session_policy_size("{").minified_chars, None);
    }
}
