//! Policy variables (`${iot:ClientId}`, `${cognito-identity.amazonaws.com:sub}`, ...) and the
//! condition-key lookups they share.
//!
//! AWS IAM "Policy elements: variables and tags"
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html) and
//! AWS IoT "Policy variables"
//! (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html):
//! - a variable that cannot be resolved stays as its literal `${...}` text;
//! - `${*}`, `${?}`, `${$}` stand for the literal characters `*`, `?`, `$`;
//! - `${key, 'default'}` supplies a default when the key is absent;
//! - with `Version` absent or `2008-10-17` variables are not recognised at all.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::RequestContext;

/// A condition key or variable name, pre-classified so the hot path needs no string compares
/// for the keys that live in dedicated `RequestContext` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    ClientId,
    SourceIp,
    CurrentTime,
    EpochTime,
    /// Lower-cased name, looked up in `RequestContext::values`.
    Other(Box<str>),
}

impl Key {
    pub(crate) fn new(name: &str) -> Key {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "iot:clientid" => Key::ClientId,
            "aws:sourceip" => Key::SourceIp,
            "aws:currenttime" => Key::CurrentTime,
            "aws:epochtime" => Key::EpochTime,
            _ => Key::Other(lower.into_boxed_str()),
        }
    }
}

/// What the request context holds for a key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    Missing,
    One(&'a str),
    Many(&'a [String]),
    Ip(IpAddr),
    Time(SystemTime),
}

impl<'a> Lookup<'a> {
    pub(crate) fn is_missing(&self) -> bool {
        match self {
            Lookup::Missing => true,
            Lookup::Many(v) => v.is_empty(),
            _ => false,
        }
    }

    /// The single value as text, or `None` when absent or multi-valued (a variable with
    /// several values cannot be substituted and stays literal).
    pub(crate) fn single_str(&self) -> Option<Cow<'a, str>> {
        match *self {
            Lookup::One(s) => Some(Cow::Borrowed(s)),
            Lookup::Many([s]) => Some(Cow::Borrowed(s.as_str())),
            Lookup::Ip(ip) => Some(Cow::Owned(ip.to_string())),
            Lookup::Time(t) => Some(Cow::Owned(format_time(t))),
            Lookup::Missing | Lookup::Many(_) => None,
        }
    }
}

pub(crate) fn lookup<'a>(ctx: &'a RequestContext, key: &Key) -> Lookup<'a> {
    match key {
        Key::ClientId => match &ctx.client_id {
            Some(id) => Lookup::One(id),
            None => lookup_values(ctx, "iot:clientid"),
        },
        Key::SourceIp => match ctx.source_ip {
            Some(ip) => Lookup::Ip(ip),
            None => lookup_values(ctx, "aws:sourceip"),
        },
        Key::CurrentTime => match ctx.current_time {
            Some(t) => Lookup::Time(t),
            None => lookup_values(ctx, "aws:currenttime"),
        },
        Key::EpochTime => match ctx.current_time {
            Some(t) => Lookup::Time(t),
            None => lookup_values(ctx, "aws:epochtime"),
        },
        Key::Other(name) => lookup_values(ctx, name),
    }
}

fn lookup_values<'a>(ctx: &'a RequestContext, lower: &str) -> Lookup<'a> {
    if let Some(v) = ctx.values.get(lower) {
        return Lookup::Many(v);
    }
    // The contract asks callers for lower-cased keys; tolerate mixed case rather than
    // silently treating the key as absent.
    ctx.values
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(lower))
        .map_or(Lookup::Missing, |(_, v)| Lookup::Many(v))
}

/// A `${...}` reference inside a resource or condition value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub(crate) key: Key,
    pub(crate) default: Option<Box<str>>,
    /// The original `${...}` text, used when the variable cannot be resolved.
    pub(crate) raw: Box<str>,
}

impl Var {
    pub(crate) fn resolve<'a>(&'a self, ctx: &'a RequestContext) -> Cow<'a, str> {
        match lookup(ctx, &self.key).single_str() {
            Some(v) => v,
            None => match &self.default {
                Some(d) => Cow::Borrowed(d),
                None => Cow::Borrowed(&self.raw),
            },
        }
    }
}

/// One piece of a `${...}` expression body: a literal escape or a variable.
pub(crate) enum VarBody {
    Literal(char),
    Var(Var),
}

/// Parses the text between `${` and `}`. `raw` is the whole `${...}` text.
pub(crate) fn parse_var_body(body: &str, raw: &str) -> VarBody {
    match body {
        "*" => return VarBody::Literal('*'),
        "?" => return VarBody::Literal('?'),
        "$" => return VarBody::Literal('$'),
        _ => {}
    }
    let (name, default) = match body.split_once(',') {
        Some((name, rest)) => {
            let rest = rest.trim();
            let default = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .map(|d| d.to_owned().into_boxed_str());
            (name.trim(), default)
        }
        None => (body.trim(), None),
    };
    VarBody::Var(Var {
        key: Key::new(name),
        default,
        raw: raw.to_owned().into_boxed_str(),
    })
}

/// ISO 8601 UTC, whole seconds, as `aws:CurrentTime` is rendered.
pub(crate) fn format_time(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Seconds since the Unix epoch of a date as IAM date operators accept it: ISO 8601
/// (`2024-01-02`, `2024-01-02T03:04:05Z`, fractional seconds, `+hh:mm` offsets) or epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok();
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = (days_from_civil(year, month as u32, day as u32) * 86_400) as f64;
    if b.len() == 10 {
        return Some(secs);
    }
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let mut i = 16;
    let mut second = 0.0;
    if b.get(i) == Some(&b':') {
        let whole = num(17, 2)?;
        i = 19;
        let start = i;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        let frac: f64 = if i > start {
            s[start..i].parse().ok()?
        } else {
            0.0
        };
        second = whole as f64 + frac;
    }
    if hour > 23 || minute > 59 || second >= 61.0 {
        return None;
    }
    secs += (hour * 3600 + minute * 60) as f64 + second;
    match b.get(i) {
        None => Some(secs),
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => Some(secs),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = match b.get(i + 3) {
                Some(b':') => num(i + 4, 2)?,
                _ => num(i + 3, 2)?,
            };
            let end = if b.get(i + 3) == Some(&b':') {
                i + 6
            } else {
                i + 5
            };
            if end != b.len() {
                return None;
            }
            let offset = (oh * 3600 + om * 60) as f64;
            Some(if sign == b'+' {
                secs - offset
            } else {
                secs + offset
            })
        }
        _ => None,
    }
}

pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

// Howard Hinnant's civil-date algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_parse_as_iam_accepts_them() {
        // IAM "Date condition operators": W3C ISO 8601 formats or epoch (UNIX) time.
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
        assert_eq!(parse_date("1970-01-01"), Some(0.0));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(1_577_836_800.0));
        assert_eq!(
            parse_date("2020-01-01T01:00:00+01:00"),
            Some(1_577_836_800.0)
        );
        assert_eq!(parse_date("2020-01-01T00:00Z"), Some(1_577_836_800.0));
        assert_eq!(parse_date("1577836800"), Some(1_577_836_800.0));
        assert_eq!(parse_date("2020-01-01T00:00:00.5Z"), Some(1_577_836_800.5));
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2020-01-01T00:00:00Zjunk"), None);
    }

    #[test]
    fn time_formats_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_577_836_800 + 3661);
        assert_eq!(format_time(t), "2020-01-01T01:01:01Z");
        assert_eq!(parse_date(&format_time(t)), Some(epoch_seconds(t)));
    }

    #[test]
    fn var_body_escapes_and_defaults() {
        // IoT "Policy variables": ${*}, ${?}, ${$} are the literal special characters.
        // https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-variables.html
        assert!(matches!(parse_var_body("*", "${*}"), VarBody::Literal('*')));
        assert!(matches!(parse_var_body("?", "${?}"), VarBody::Literal('?')));
        assert!(matches!(parse_var_body("$", "${$}"), VarBody::Literal('$')));
        // IAM "Specifying default values" for policy variables.
        match parse_var_body("aws:username, 'nobody'", "${aws:username, 'nobody'}") {
            VarBody::Var(v) => {
                assert_eq!(v.key, Key::Other("aws:username".into()));
                assert_eq!(v.default.as_deref(), Some("nobody"));
            }
            VarBody::Literal(_) => panic!("expected a variable"),
        }
    }
}
