//! Wildcard matching for actions, resource ARNs and `*Like` condition values.
//!
//! IAM semantics: `*` matches any run of characters (crossing `/`), `?` exactly one character.
//! AWS IoT "Publish/Subscribe policy examples"
//! (https://docs.aws.amazon.com/iot/latest/developerguide/pub-sub-policy.html): "In policy
//! documents, the MQTT wildcard characters, `+` and `#` are treated as those characters with
//! no special meaning" — so they are ordinary literals here.
//!
//! Patterns are compiled once at parse time; matching allocates nothing unless a variable has
//! to be rendered (an IP address or a time).

use super::RequestContext;
use super::variables::{Var, VarBody, parse_var_body};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
    /// Literal text (lower-cased when the pattern is case-insensitive).
    Lit(Box<str>),
    /// A policy variable; its substituted value is literal text (never a wildcard).
    Var(Var),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Box<[Tok]>,
    case_insensitive: bool,
}

/// How a raw pattern string is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    pub(crate) wildcards: bool,
    pub(crate) variables: bool,
    pub(crate) case_insensitive: bool,
}

impl Pattern {
    pub(crate) fn compile(raw: &str, syntax: Syntax) -> Pattern {
        let mut toks = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, toks: &mut Vec<Tok>| {
            if !lit.is_empty() {
                toks.push(Tok::Lit(std::mem::take(lit).into_boxed_str()));
            }
        };
        let mut rest = raw;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let whole = &rest[..=end];
                match parse_var_body(&rest[2..end], whole) {
                    VarBody::Literal(ch) => lit.push(ch),
                    VarBody::Var(v) => {
                        flush(&mut lit, &mut toks);
                        toks.push(Tok::Var(v));
                    }
                }
                rest = &rest[end + 1..];
                continue;
            }
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut lit, &mut toks);
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut lit, &mut toks);
                    toks.push(Tok::One);
                }
                _ if syntax.case_insensitive => lit.push(c.to_ascii_lowercase()),
                _ => lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut lit, &mut toks);
        Pattern {
            toks: toks.into_boxed_slice(),
            case_insensitive: syntax.case_insensitive,
        }
    }

    /// True when the pattern is a lone `*`.
    pub(crate) fn is_any(&self) -> bool {
        matches!(&*self.toks, [Tok::Star])
    }

    /// True when the pattern has no wildcard and no variable.
    fn is_literal(&self) -> bool {
        self.toks.iter().all(|t| matches!(t, Tok::Lit(_)))
    }

    pub(crate) fn matches(&self, text: &str, ctx: &RequestContext) -> bool {
        if !self.toks.iter().any(|t| matches!(t, Tok::Star)) {
            return self.group_at(&self.toks, text, 0, ctx) == Some(text.len());
        }
        let mut groups = self.toks.split(|t| matches!(t, Tok::Star));
        // `split` always yields at least one (possibly empty) group.
        let Some(first) = groups.next() else {
            return text.is_empty();
        };
        let Some(mut pos) = self.group_at(first, text, 0, ctx) else {
            return false;
        };
        let mut groups = groups.peekable();
        if groups.peek().is_none() {
            return pos == text.len();
        }
        while let Some(group) = groups.next() {
            let last = groups.peek().is_none();
            if last {
                if group.is_empty() {
                    return true;
                }
                return (pos..=text.len())
                    .filter(|&s| text.is_char_boundary(s))
                    .any(|s| self.group_at(group, text, s, ctx) == Some(text.len()));
            }
            // Star-free groups have a fixed length, so the leftmost placement of each middle
            // group leaves the most room for the rest: greedy search is exact.
            match (pos..=text.len())
                .filter(|&s| text.is_char_boundary(s))
                .find_map(|s| self.group_at(group, text, s, ctx))
            {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }

    /// Matches a star-free group at byte offset `at`; returns the end offset.
    fn group_at(
        &self,
        group: &[Tok],
        text: &str,
        at: usize,
        ctx: &RequestContext,
    ) -> Option<usize> {
        let mut pos = at;
        for tok in group {
            match tok {
                Tok::Lit(l) => pos = self.lit_at(l, text, pos)?,
                Tok::One => pos += text[pos..].chars().next()?.len_utf8(),
                Tok::Var(v) => pos = self.lit_at(&v.resolve(ctx), text, pos)?,
                Tok::Star => return None,
            }
        }
        Some(pos)
    }

    fn lit_at(&self, lit: &str, text: &str, at: usize) -> Option<usize> {
        let end = at.checked_add(lit.len())?;
        let candidate = text.as_bytes().get(at..end)?;
        let equal = if self.case_insensitive {
            candidate.eq_ignore_ascii_case(lit.as_bytes())
        } else {
            candidate == lit.as_bytes()
        };
        // Equal bytes starting on a boundary end on one: `lit` is valid UTF-8.
        equal.then_some(end)
    }
}

/// A resource ARN pattern (the `Resource` element, `ArnLike`/`ArnEquals` values). IAM matches
/// each of the six colon-separated ARN components separately
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN);
/// the sixth component (the resource, e.g. `topic/a/b`) takes the rest, colons included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Parts(Box<[Pattern]>),
    /// Fewer than six components (e.g. `*`): matched against the whole ARN.
    Whole(Pattern),
}

impl ArnPattern {
    pub(crate) fn compile(raw: &str, syntax: Syntax) -> ArnPattern {
        let parts = split_arn(raw);
        if parts.len() == 6 {
            let compiled: Box<[Pattern]> =
                parts.iter().map(|p| Pattern::compile(p, syntax)).collect();
            // With literal leading components, "components 1-5 equal and the resource matches"
            // is the same as a whole-string match: one prefix compare instead of six matches.
            if compiled[..5].iter().all(Pattern::is_literal) {
                return ArnPattern::Whole(Pattern::compile(raw, syntax));
            }
            ArnPattern::Parts(compiled)
        } else {
            ArnPattern::Whole(Pattern::compile(raw, syntax))
        }
    }

    pub(crate) fn is_any(&self) -> bool {
        matches!(self, ArnPattern::Whole(p) if p.is_any())
    }

    pub(crate) fn matches(&self, arn: &str, ctx: &RequestContext) -> bool {
        match self {
            ArnPattern::Whole(p) => p.matches(arn, ctx),
            ArnPattern::Parts(parts) => {
                let mut n = 0;
                for (part, pat) in arn.splitn(6, ':').zip(parts.iter()) {
                    if !pat.matches(part, ctx) {
                        return false;
                    }
                    n += 1;
                }
                n == 6
            }
        }
    }
}

/// Splits on `:` outside `${...}` (variable names such as
/// `${cognito-identity.amazonaws.com:sub}` contain colons), at most six parts.
fn split_arn(raw: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(6);
    let bytes = raw.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() && parts.len() < 5 {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            match raw[i..].find('}') {
                Some(off) => {
                    i += off + 1;
                    continue;
                }
                None => break,
            }
        }
        if bytes[i] == b':' {
            parts.push(&raw[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&raw[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const RES: Syntax = Syntax {
        wildcards: true,
        variables: true,
        case_insensitive: false,
    };
    const ACT: Syntax = Syntax {
        wildcards: true,
        variables: false,
        case_insensitive: true,
    };

    fn m(pat: &str, text: &str) -> bool {
        Pattern::compile(pat, RES).matches(text, &RequestContext::default())
    }

    #[test]
    fn star_and_question_follow_iam_semantics() {
        // IAM "Resource": `*` any combination of characters, `?` any single character.
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
        assert!(m("*", ""));
        assert!(m("*", "anything/at/all"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(m("a*c", "a/b/c"));
        assert!(!m("a*c", "a/b/cd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a*b*c*d", "axxbyyczzd"));
        assert!(!m("a*b*c*d", "axxbyyczz"));
        assert!(m("*ab", "abab"));
        assert!(m("a**b", "ab"));
        assert!(m("?", "é"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
    }

    #[test]
    fn star_crosses_topic_levels() {
        // IoT pub-sub-policy.html: `topic/a/*` matches `a/b/c`, `*` is not one level.
        assert!(m("topic/a/*", "topic/a/b/c"));
        assert!(m("topic/a/*/c", "topic/a/x/y/c"));
    }

    #[test]
    fn mqtt_wildcards_are_literal_in_policies() {
        // IoT pub-sub-policy.html: `+` and `#` have no special meaning in policy documents.
        assert!(m("topicfilter/some/+/topic", "topicfilter/some/+/topic"));
        assert!(!m("topicfilter/some/+/topic", "topicfilter/some/x/topic"));
        assert!(!m("topic/a/#", "topic/a/b"));
        assert!(m("topic/a/#", "topic/a/#"));
        // The documented trap: a deny on `a/restricted/*` does not touch the filter `a/#`.
        assert!(!m("topicfilter/a/restricted/*", "topicfilter/a/#"));
    }

    #[test]
    fn actions_are_case_insensitive() {
        // IAM "Action": action names are case-insensitive; wildcards allowed.
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
        let ctx = RequestContext::default();
        assert!(Pattern::compile("IOT:publish", ACT).matches("iot:Publish", &ctx));
        assert!(Pattern::compile("iot:Pub*", ACT).matches("iot:publish", &ctx));
        assert!(Pattern::compile("iot:*", ACT).matches("iot:Receive", &ctx));
        assert!(!Pattern::compile("iot:Pub*", ACT).matches("iot:Subscribe", &ctx));
        assert!(Pattern::compile("iot:?onnect", ACT).matches("iot:Connect", &ctx));
    }

    #[test]
    fn variables_substitute_literal_text() {
        let ctx = RequestContext {
            client_id: Some("+".into()),
            ..Default::default()
        };
        let p = Pattern::compile("topicfilter/my/${iot:ClientId}/topic", RES);
        // basic-policy-variables.html: a client id of `+` makes the filter `my/+/topic` match.
        assert!(p.matches("topicfilter/my/+/topic", &ctx));
        assert!(!p.matches("topicfilter/my/x/topic", &ctx));
        let star = RequestContext {
            client_id: Some("*".into()),
            ..Default::default()
        };
        // A substituted value is literal text: a client id `*` is not a wildcard.
        assert!(!p.matches("topicfilter/my/x/topic", &star));
        assert!(p.matches("topicfilter/my/*/topic", &star));
    }

    #[test]
    fn unresolved_variable_stays_literal() {
        // IAM reference_policies_variables.html: no value -> no match (kept literal here, as
        // IoT does for certificate variables: cert-policy-variables.html).
        let p = Pattern::compile("topic/${iot:ClientId}", RES);
        let ctx = RequestContext::default();
        assert!(!p.matches("topic/anything", &ctx));
        assert!(p.matches("topic/${iot:ClientId}", &ctx));
    }

    #[test]
    fn escapes_are_literal_characters() {
        let p = Pattern::compile("topic/a${*}b${?}${$}", RES);
        let ctx = RequestContext::default();
        assert!(p.matches("topic/a*b?$", &ctx));
        assert!(!p.matches("topic/axb?$", &ctx));
    }

    #[test]
    fn arn_components_match_separately() {
        let ctx = RequestContext::default();
        let p = ArnPattern::compile("arn:aws:iot:*:123456789012:topic/*", RES);
        assert!(p.matches("arn:aws:iot:us-east-1:123456789012:topic/a:b", &ctx));
        assert!(!p.matches("arn:aws:iot:us-east-1:999999999999:topic/a", &ctx));
        // `*` in the region component does not swallow the account.
        let p = ArnPattern::compile("arn:aws:iot:us-*:1:topic/x", RES);
        assert!(!p.matches("arn:aws:iot:us-east-1:2:1:topic/x", &ctx));
        assert!(p.matches("arn:aws:iot:us-east-1:1:topic/x", &ctx));
        let sub = ArnPattern::compile(
            "arn:aws:iot:us-east-1:1:topic/${cognito-identity.amazonaws.com:sub}/*",
            RES,
        );
        assert!(
            matches!(sub, ArnPattern::Whole(_)),
            "literal leading components collapse"
        );
        let parts = ArnPattern::compile(
            "arn:aws:iot:*:1:topic/${cognito-identity.amazonaws.com:sub}/*",
            RES,
        );
        assert!(matches!(parts, ArnPattern::Parts(_)));
        let ctx_sub = crate::context_with(&[("cognito-identity.amazonaws.com:sub", &["u:1"])]);
        assert!(sub.matches("arn:aws:iot:us-east-1:1:topic/u:1/x", &ctx_sub));
        assert!(parts.matches("arn:aws:iot:eu-west-1:1:topic/u:1/x", &ctx_sub));
        assert!(!parts.matches("arn:aws:iot:eu-west-1:1:topic/u:2/x", &ctx_sub));
        assert!(ArnPattern::compile("*", RES).is_any());
    }
}
