//! Human-friendly units in canaries.toml: durations (`500ms`, `30s`, `5m`, `1h`) and
//! percentages (`10%`).

use std::fmt;
use std::time::Duration;

/// A duration written as `<integer><unit>` with unit `ms`, `s`, `m` or `h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad =
        || format!("invalid duration `{s}`: expected e.g. \"500ms\", \"30s\", \"5m\", \"1h\"");
    if num.is_empty() {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0.as_millis())
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
        let s = String::deserialize(d)?;
        parse_percent(&s)
            .map(Percent)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "5 min",
            "5d",
            "99999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
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
}
