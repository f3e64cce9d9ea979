//! The units canaries.toml and the command line are written in, with one grammar each
//! everywhere: durations (`500ms`, `30s`, `5m`, `1h30m`; humantime's grammar), percentages
//! (`10%`) and HTTP(S) URLs (the `url` crate's WHATWG parser).

use std::fmt;
use std::time::Duration;

/// A duration as written in canaries.toml: one or more `<integer><unit>` groups
/// (`ms`, `s`, `m`, `h`, `d`, and humantime's long names such as `min` or `hours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

/// Parses a duration; the error repeats the text (durations are never secret) and an example.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    // humantime accepts a bare `0` as zero; everywhere else a number needs its unit, so `0`
    // without one is refused too rather than being the one unit-less exception.
    if t.is_empty() {
        return Err("empty duration (expected e.g. \"500ms\", \"30s\", \"5m\", \"1h30m\")".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid duration `{t}`: missing unit (e.g. `{t}s`; units ms, s, m, h, d)"
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("invalid duration `{t}`: {e} (expected e.g. \"500ms\", \"30s\", \"5m\", \"1h30m\")")
    })
}

/// Reads a string and parses it with `parse`, whose message becomes the serde error (and so
/// the config issue the user sees).
fn parsed<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// `deserialize_with` for a plain `Duration` field written in the duration grammar.
pub fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parsed(d, parse_duration)
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de_duration(d).map(Dur)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A percentage written as `"10%"`, held as a fraction in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

pub fn parse_percent(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid percentage `{s}`: expected e.g. \"10%\" (0% to 100%)");
    let num = s.trim().strip_suffix('%').ok_or_else(bad)?;
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&v) || !v.is_finite() {
        return Err(bad());
    }
    Ok(v / 100.0)
}

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parsed(d, parse_percent).map(Percent)
    }
}

/// Checks an absolute `http://` or `https://` URL with a host. The error never repeats the
/// value: webhook URLs are secrets (a Slack incoming-webhook URL is its own credential).
pub fn http_url(s: &str) -> Result<url::Url, String> {
    let bad = || "is not an absolute http:// or https:// URL (value not shown)".to_string();
    let u = url::Url::parse(s.trim()).map_err(|_| bad())?;
    match (u.scheme(), u.host_str()) {
        ("http" | "https", Some(h)) if !h.is_empty() => Ok(u),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("30s"), Ok(s(30)));
        assert_eq!(parse_duration("5m"), Ok(s(300)));
        assert_eq!(parse_duration("1h"), Ok(s(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        // One grammar: what [[identity]] accepted and what [schedule] accepted both parse.
        assert_eq!(parse_duration("1h30m"), Ok(s(5400)));
        assert_eq!(parse_duration("900s"), Ok(s(900)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        for bad in [
            "",
            "30",
            "0",
            "s",
            "-1s",
            "5 parsecs",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("30").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn durations_display_in_the_same_grammar() {
        for text in ["500ms", "30s", "1h 30m"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&Dur(d).to_string()), Ok(d), "{text}");
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%"), Ok(0.1));
        assert_eq!(parse_percent("0%"), Ok(0.0));
        assert_eq!(parse_percent("2.5%"), Ok(0.025));
        for bad in ["10", "101%", "-1%", "x%", "NaN%"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(http_url("https://hooks.example.com/a?b=c").is_ok());
        assert!(http_url("http://127.0.0.1:9093").is_ok());
        for bad in [
            "",
            "hooks.example.com/T0/s3cr3t",
            "ftp://x/s3cr3t",
            "https://",
            "mailto:s3cr3t@b",
        ] {
            let e = http_url(bad).unwrap_err();
            assert!(e.contains("value not shown"), "{e}");
            assert!(!e.contains("s3cr3t"), "{bad} echoed in {e}");
        }
    }
}
