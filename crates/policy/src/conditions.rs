//! The `Condition` element: operators, `...IfExists`, `ForAnyValue:` / `ForAllValues:`.
//!
//! Semantics from IAM "Condition operators"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
//! and "Single-valued vs. multivalued context keys"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html):
//! - several values for one key are ORed, several keys in one operator and several operators
//!   are ANDed;
//! - a key absent from the request makes a positive operator false and a negated operator
//!   (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`, ...) true; `...IfExists` makes it true;
//! - `ForAnyValue:` is false and `ForAllValues:` true when the key is absent or empty;
//! - `Null` tests presence only.

use std::net::IpAddr;

use super::RequestContext;
use super::matching::{ArnPattern, Pattern, Syntax};
use super::variables::{Key, Lookup, epoch_seconds, lookup, parse_date};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// Policy-side values, compiled for their operator family.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// String* operators; `*Like` patterns have wildcards, the others only variables.
    Strings(Vec<Pattern>),
    Arns(Vec<ArnPattern>),
    Numbers(Cmp, Vec<f64>),
    Dates(Cmp, Vec<f64>),
    Bools(Vec<String>),
    Binary(Vec<String>),
    Cidrs(Vec<Cidr>),
    /// `Null`: `true` means "the key must be absent".
    Null(Vec<bool>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    set: SetOp,
    if_exists: bool,
    negated: bool,
    key: Key,
    values: Values,
}

/// An error in a condition block; `path` is relative to the `Condition` element.
#[derive(Debug)]
pub(crate) struct ConditionError {
    pub(crate) path: String,
    pub(crate) message: String,
}

/// The policy-side values of one key, as written (strings, numbers and booleans are accepted
/// and read as text, as IAM does).
pub(crate) fn parse_condition(
    operator: &str,
    key: &str,
    raw_values: &[String],
    variables: bool,
) -> Result<Condition, ConditionError> {
    let err = |path: String, message: String| ConditionError { path, message };
    let op_path = format!(".{operator}");
    let key_path = format!(".{operator}.{key}");
    let (set, base) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
        (SetOp::ForAnyValue, rest)
    } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
        (SetOp::ForAllValues, rest)
    } else {
        (SetOp::Single, operator)
    };
    let (base, if_exists) = match base.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (base, false),
    };
    let strings = |like: bool, ci: bool| {
        let syntax = Syntax {
            wildcards: like,
            variables,
            case_insensitive: ci,
        };
        Values::Strings(
            raw_values
                .iter()
                .map(|v| Pattern::compile(v, syntax))
                .collect(),
        )
    };
    let numbers = |cmp: Cmp| -> Result<Values, ConditionError> {
        let mut out = Vec::with_capacity(raw_values.len());
        for v in raw_values {
            match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => out.push(n),
                _ => return Err(err(key_path.clone(), format!("`{v}` is not a number"))),
            }
        }
        Ok(Values::Numbers(cmp, out))
    };
    let dates = |cmp: Cmp| -> Result<Values, ConditionError> {
        let mut out = Vec::with_capacity(raw_values.len());
        for v in raw_values {
            match parse_date(v) {
                Some(d) => out.push(d),
                None => {
                    return Err(err(
                        key_path.clone(),
                        format!("`{v}` is not an ISO 8601 date or epoch seconds"),
                    ));
                }
            }
        }
        Ok(Values::Dates(cmp, out))
    };
    let (negated, values) = match base {
        "StringEquals" => (false, strings(false, false)),
        "StringNotEquals" => (true, strings(false, false)),
        "StringEqualsIgnoreCase" => (false, strings(false, true)),
        "StringNotEqualsIgnoreCase" => (true, strings(false, true)),
        "StringLike" => (false, strings(true, false)),
        "StringNotLike" => (true, strings(true, false)),
        "NumericEquals" => (false, numbers(Cmp::Eq)?),
        "NumericNotEquals" => (true, numbers(Cmp::Eq)?),
        "NumericLessThan" => (false, numbers(Cmp::Lt)?),
        "NumericLessThanEquals" => (false, numbers(Cmp::Le)?),
        "NumericGreaterThan" => (false, numbers(Cmp::Gt)?),
        "NumericGreaterThanEquals" => (false, numbers(Cmp::Ge)?),
        "DateEquals" => (false, dates(Cmp::Eq)?),
        "DateNotEquals" => (true, dates(Cmp::Eq)?),
        "DateLessThan" => (false, dates(Cmp::Lt)?),
        "DateLessThanEquals" => (false, dates(Cmp::Le)?),
        "DateGreaterThan" => (false, dates(Cmp::Gt)?),
        "DateGreaterThanEquals" => (false, dates(Cmp::Ge)?),
        "Bool" => (
            false,
            Values::Bools(raw_values.iter().map(|v| v.to_ascii_lowercase()).collect()),
        ),
        "BinaryEquals" => (false, Values::Binary(raw_values.to_vec())),
        "IpAddress" | "NotIpAddress" => {
            let mut cidrs = Vec::with_capacity(raw_values.len());
            for v in raw_values {
                cidrs.push(Cidr::parse(v).ok_or_else(|| {
                    err(
                        key_path.clone(),
                        format!("`{v}` is not an IP address or CIDR block"),
                    )
                })?);
            }
            (base == "NotIpAddress", Values::Cidrs(cidrs))
        }
        "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => {
            // IAM documents ArnEquals and ArnLike identically: per-component, wildcards allowed.
            let syntax = Syntax {
                wildcards: true,
                variables,
                case_insensitive: false,
            };
            (
                base.starts_with("ArnNot"),
                Values::Arns(
                    raw_values
                        .iter()
                        .map(|v| ArnPattern::compile(v, syntax))
                        .collect(),
                ),
            )
        }
        "Null" => {
            if if_exists || set != SetOp::Single {
                return Err(err(
                    op_path,
                    "`Null` takes neither `IfExists` nor a set operator".into(),
                ));
            }
            let mut flags = Vec::with_capacity(raw_values.len());
            for v in raw_values {
                match v.to_ascii_lowercase().as_str() {
                    "true" => flags.push(true),
                    "false" => flags.push(false),
                    _ => {
                        return Err(err(
                            key_path,
                            format!("`Null` expects true or false, got `{v}`"),
                        ));
                    }
                }
            }
            (false, Values::Null(flags))
        }
        _ => {
            return Err(err(
                op_path,
                format!("unknown condition operator `{operator}`"),
            ));
        }
    };
    Ok(Condition {
        set,
        if_exists,
        negated,
        key: Key::new(key),
        values,
    })
}

/// One request-side value.
#[derive(Clone, Copy)]
enum Val<'a> {
    Str(&'a str),
    Ip(IpAddr),
    Time(std::time::SystemTime),
}

impl Condition {
    pub(crate) fn matches(&self, ctx: &RequestContext) -> bool {
        let found = lookup(ctx, &self.key);
        if let Values::Null(flags) = &self.values {
            let absent = found.is_missing();
            return flags.contains(&absent);
        }
        if found.is_missing() {
            return match self.set {
                SetOp::ForAnyValue => false,
                SetOp::ForAllValues => true,
                SetOp::Single => self.if_exists || self.negated,
            };
        }
        match self.set {
            SetOp::Single => {
                let any = any_value(found, |v| self.positive(v, ctx));
                any != self.negated
            }
            SetOp::ForAnyValue => any_value(found, |v| self.positive(v, ctx) != self.negated),
            SetOp::ForAllValues => !any_value(found, |v| self.positive(v, ctx) == self.negated),
        }
    }

    /// Does one request value match any policy value (before negation)?
    fn positive(&self, v: Val<'_>, ctx: &RequestContext) -> bool {
        match &self.values {
            Values::Strings(pats) => with_str(v, |s| pats.iter().any(|p| p.matches(s, ctx))),
            Values::Arns(pats) => with_str(v, |s| pats.iter().any(|p| p.matches(s, ctx))),
            Values::Numbers(cmp, ns) => {
                let n = match v {
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    Val::Time(t) => Some(epoch_seconds(t)),
                    Val::Ip(_) => None,
                };
                n.is_some_and(|n| ns.iter().any(|&p| cmp.holds(n, p)))
            }
            Values::Dates(cmp, ds) => {
                let d = match v {
                    Val::Str(s) => parse_date(s),
                    Val::Time(t) => Some(epoch_seconds(t)),
                    Val::Ip(_) => None,
                };
                d.is_some_and(|d| ds.iter().any(|&p| cmp.holds(d, p)))
            }
            Values::Bools(bs) => with_str(v, |s| bs.iter().any(|b| b.eq_ignore_ascii_case(s))),
            Values::Binary(bs) => with_str(v, |s| bs.iter().any(|b| b == s)),
            Values::Cidrs(cs) => {
                let ip = match v {
                    Val::Ip(ip) => Some(ip),
                    Val::Str(s) => s.trim().parse::<IpAddr>().ok(),
                    Val::Time(_) => None,
                };
                ip.is_some_and(|ip| cs.iter().any(|c| c.contains(ip)))
            }
            Values::Null(_) => false,
        }
    }
}

fn with_str(v: Val<'_>, f: impl FnOnce(&str) -> bool) -> bool {
    match v {
        Val::Str(s) => f(s),
        Val::Ip(ip) => f(&ip.to_string()),
        Val::Time(t) => f(&super::variables::format_time(t)),
    }
}

fn any_value(found: Lookup<'_>, mut f: impl FnMut(Val<'_>) -> bool) -> bool {
    match found {
        Lookup::Missing => false,
        Lookup::One(s) => f(Val::Str(s)),
        Lookup::Many(vs) => vs.iter().any(|s| f(Val::Str(s))),
        Lookup::Ip(ip) => f(Val::Ip(ip)),
        Lookup::Time(t) => f(Val::Time(t)),
    }
}

/// An IPv4 or IPv6 CIDR block (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        parse_condition(op, key, &values, true).unwrap()
    }

    use crate::context_with as ctx;

    #[test]
    fn string_operators() {
        // IAM condition operators, "String condition operators".
        let c = ctx(&[("aws:username", &["Alice"])]);
        assert!(cond("StringEquals", "aws:username", &["Alice"]).matches(&c));
        assert!(!cond("StringEquals", "aws:username", &["alice"]).matches(&c));
        assert!(cond("StringEqualsIgnoreCase", "aws:username", &["alice"]).matches(&c));
        assert!(cond("StringNotEquals", "aws:username", &["Bob"]).matches(&c));
        assert!(!cond("StringNotEquals", "aws:username", &["Bob", "Alice"]).matches(&c));
        assert!(!cond("StringNotEqualsIgnoreCase", "aws:username", &["ALICE"]).matches(&c));
        assert!(cond("StringLike", "aws:username", &["A*"]).matches(&c));
        assert!(cond("StringLike", "aws:username", &["?lice"]).matches(&c));
        assert!(!cond("StringEquals", "aws:username", &["A*"]).matches(&c));
        assert!(cond("StringNotLike", "aws:username", &["B*"]).matches(&c));
        // Condition key names are case-insensitive.
        assert!(cond("StringEquals", "AWS:UserName", &["Alice"]).matches(&c));
    }

    #[test]
    fn missing_keys() {
        // IAM condition operators: absent key -> positive false, negated true; IfExists true.
        let c = RequestContext::default();
        assert!(!cond("StringEquals", "aws:username", &["x"]).matches(&c));
        assert!(cond("StringNotEquals", "aws:username", &["x"]).matches(&c));
        assert!(cond("StringNotLike", "aws:username", &["x"]).matches(&c));
        assert!(cond("StringEqualsIfExists", "aws:username", &["x"]).matches(&c));
        assert!(cond("NumericLessThanIfExists", "k", &["1"]).matches(&c));
        assert!(!cond("IpAddress", "aws:SourceIp", &["10.0.0.0/8"]).matches(&c));
        assert!(cond("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8"]).matches(&c));
        // IfExists with the key present behaves like the plain operator.
        let c = ctx(&[("aws:username", &["y"])]);
        assert!(!cond("StringEqualsIfExists", "aws:username", &["x"]).matches(&c));
    }

    #[test]
    fn null_operator() {
        // IAM "Condition operator to check existence of condition keys".
        let c = ctx(&[("present", &["v"])]);
        assert!(cond("Null", "absent", &["true"]).matches(&c));
        assert!(!cond("Null", "present", &["true"]).matches(&c));
        assert!(cond("Null", "present", &["false"]).matches(&c));
        assert!(parse_condition("NullIfExists", "k", &["true".into()], true).is_err());
        assert!(parse_condition("Null", "k", &["maybe".into()], true).is_err());
    }

    #[test]
    fn numeric_operators() {
        let c = ctx(&[("n", &["10"])]);
        assert!(cond("NumericEquals", "n", &["10.0"]).matches(&c));
        assert!(cond("NumericNotEquals", "n", &["11"]).matches(&c));
        assert!(cond("NumericLessThan", "n", &["11"]).matches(&c));
        assert!(!cond("NumericLessThan", "n", &["10"]).matches(&c));
        assert!(cond("NumericLessThanEquals", "n", &["10"]).matches(&c));
        assert!(cond("NumericGreaterThan", "n", &["9"]).matches(&c));
        assert!(cond("NumericGreaterThanEquals", "n", &["10"]).matches(&c));
        let bad = ctx(&[("n", &["ten"])]);
        assert!(!cond("NumericEquals", "n", &["10"]).matches(&bad));
        assert!(parse_condition("NumericEquals", "n", &["ten".into()], true).is_err());
    }

    #[test]
    fn date_operators_read_current_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let c = RequestContext {
            current_time: Some(t),
            ..Default::default()
        };
        assert!(
            cond(
                "DateGreaterThan",
                "aws:CurrentTime",
                &["2023-01-01T00:00:00Z"]
            )
            .matches(&c)
        );
        assert!(!cond("DateLessThan", "aws:CurrentTime", &["2023-01-01T00:00:00Z"]).matches(&c));
        assert!(cond("DateLessThanEquals", "aws:CurrentTime", &["1700000000"]).matches(&c));
        assert!(cond("DateGreaterThanEquals", "aws:EpochTime", &["1700000000"]).matches(&c));
        assert!(cond("DateEquals", "aws:CurrentTime", &["2023-11-14T22:13:20Z"]).matches(&c));
        assert!(
            cond(
                "DateNotEquals",
                "aws:CurrentTime",
                &["2023-11-14T22:13:21Z"]
            )
            .matches(&c)
        );
        assert!(
            parse_condition("DateLessThan", "aws:CurrentTime", &["soon".into()], true).is_err()
        );
    }

    #[test]
    fn bool_and_binary() {
        // IoT thing-policy-variables.html: Bool on iot:Connection.Thing.IsAttached.
        let c = ctx(&[("iot:connection.thing.isattached", &["true"])]);
        assert!(cond("Bool", "iot:Connection.Thing.IsAttached", &["true"]).matches(&c));
        assert!(cond("Bool", "iot:Connection.Thing.IsAttached", &["TRUE"]).matches(&c));
        assert!(!cond("Bool", "iot:Connection.Thing.IsAttached", &["false"]).matches(&c));
        assert!(
            !cond("Bool", "iot:Connection.Thing.IsAttached", &["true"])
                .matches(&RequestContext::default())
        );
        let b = ctx(&[("k", &["QmluYXJ5"])]);
        assert!(cond("BinaryEquals", "k", &["QmluYXJ5"]).matches(&b));
    }

    #[test]
    fn ip_operators() {
        let c = RequestContext {
            source_ip: Some("203.0.113.7".parse().unwrap()),
            ..Default::default()
        };
        assert!(cond("IpAddress", "aws:SourceIp", &["203.0.113.0/24"]).matches(&c));
        assert!(cond("IpAddress", "aws:SourceIp", &["203.0.113.7"]).matches(&c));
        assert!(!cond("IpAddress", "aws:SourceIp", &["198.51.100.0/24"]).matches(&c));
        assert!(cond("NotIpAddress", "aws:SourceIp", &["198.51.100.0/24"]).matches(&c));
        assert!(cond("IpAddress", "aws:SourceIp", &["0.0.0.0/0"]).matches(&c));
        assert!(!cond("IpAddress", "aws:SourceIp", &["2001:db8::/32"]).matches(&c));
        let v6 = RequestContext {
            source_ip: Some("2001:db8::1".parse().unwrap()),
            ..Default::default()
        };
        assert!(cond("IpAddress", "aws:SourceIp", &["2001:db8::/32"]).matches(&v6));
        assert!(
            parse_condition("IpAddress", "aws:SourceIp", &["10.0.0.0/33".into()], true).is_err()
        );
    }

    #[test]
    fn arn_operators() {
        let c = ctx(&[(
            "aws:sourcearn",
            &["arn:aws:iot:us-east-1:123456789012:thing/lamp"],
        )]);
        assert!(
            cond(
                "ArnLike",
                "aws:SourceArn",
                &["arn:aws:iot:*:123456789012:thing/*"]
            )
            .matches(&c)
        );
        assert!(
            cond(
                "ArnEquals",
                "aws:SourceArn",
                &["arn:aws:iot:us-east-1:123456789012:thing/lamp"]
            )
            .matches(&c)
        );
        assert!(
            cond(
                "ArnNotLike",
                "aws:SourceArn",
                &["arn:aws:iot:*:999999999999:*"]
            )
            .matches(&c)
        );
        assert!(
            !cond(
                "ArnNotEquals",
                "aws:SourceArn",
                &["arn:aws:iot:*:*:thing/lamp"]
            )
            .matches(&c)
        );
    }

    #[test]
    fn set_operators() {
        // IAM "Single-valued vs. multivalued context keys"; IoT connect-policy.html uses
        // ForAllValues:StringEquals on iot:ConnectAttributes.
        let both = ctx(&[("iot:connectattributes", &["PersistentConnect", "LastWill"])]);
        let one = ctx(&[("iot:connectattributes", &["PersistentConnect"])]);
        let none = RequestContext::default();
        // (operator, values, whether it matches both attributes / one / an absent key; None:
        // not asserted). ForAllValues is vacuously true for an absent key, ForAnyValue false.
        type Row = (&'static str, &'static [&'static str], [Option<bool>; 3]);
        let rows: [Row; 4] = [
            (
                "ForAllValues:StringEquals",
                &["PersistentConnect"],
                [Some(false), Some(true), Some(true)],
            ),
            (
                "ForAnyValue:StringEquals",
                &["LastWill"],
                [Some(true), Some(false), Some(false)],
            ),
            (
                "ForAnyValue:StringNotEquals",
                &["LastWill"],
                [Some(true), None, None],
            ),
            (
                "ForAllValues:StringNotLike",
                &["Last*"],
                [Some(false), Some(true), None],
            ),
        ];
        for (op, values, wants) in rows {
            let c = cond(op, "iot:ConnectAttributes", values);
            for ((context, name), want) in [(&both, "both"), (&one, "one"), (&none, "absent")]
                .into_iter()
                .zip(wants)
            {
                if let Some(want) = want {
                    assert_eq!(c.matches(context), want, "{op} {values:?} on {name}");
                }
            }
        }
    }

    #[test]
    fn variables_in_condition_values() {
        let c = RequestContext {
            client_id: Some("us-east-1:abc".into()),
            ..ctx(&[("cognito-identity.amazonaws.com:sub", &["us-east-1:abc"])])
        };
        assert!(
            cond(
                "StringEquals",
                "iot:ClientId",
                &["${cognito-identity.amazonaws.com:sub}"]
            )
            .matches(&c)
        );
        // With variables disabled (Version 2008-10-17) the text is literal.
        let lit = parse_condition(
            "StringEquals",
            "iot:ClientId",
            &["${cognito-identity.amazonaws.com:sub}".into()],
            false,
        )
        .unwrap();
        assert!(!lit.matches(&c));
    }

    #[test]
    fn unknown_operators_are_errors() {
        let e = parse_condition("StringEqualz", "k", &["v".into()], true).unwrap_err();
        assert_eq!(e.path, ".StringEqualz");
        assert!(parse_condition("ForSomeValues:StringEquals", "k", &["v".into()], true).is_err());
    }
}
