//! Time as data: a [`Timestamp`] is milliseconds since the Unix epoch, so the engine can
//! compare, store and replay instants without reading a clock. Durations in configuration
//! are written as `"30s"`, `"5m"`, `"1h30m"`, `"250ms"` (or a bare number of seconds).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// An instant, in milliseconds since the Unix epoch (simulated or real).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The epoch itself; simulations start here unless told otherwise.
    pub const ZERO: Timestamp = Timestamp(0);

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Current wall-clock time.
    pub fn now_utc() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as u64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_duration(Duration::from_millis(self.0)))
    }
}

/// Error parsing a duration string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {problem} (write e.g. \"30s\", \"5m\", \"1h30m\", \"250ms\")")]
#[non_exhaustive]
pub struct DurationParseError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Parses `"1h30m"`, `"90s"`, `"250ms"`, `"2d"`, decimals (`"1.5s"`, `"8m0.005s"`, as
/// [`format_duration`] writes them; precision is one millisecond) or a bare number of
/// seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(shipcore::time::parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert!(shipcore::time::parse_duration("ten minutes").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationParseError> {
    let err = |problem| DurationParseError {
        input: input.to_string(),
        problem,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u128 = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(err("expected a number before each unit"));
        }
        let n: u128 = s[start..i].parse().map_err(|_| err("number too large"))?;
        // An optional decimal fraction, as `format_duration` writes seconds (`1.250s`).
        let mut frac: (u128, u32) = (0, 0);
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let fstart = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &s[fstart..i];
            if digits.is_empty() {
                return Err(err("expected digits after the decimal point"));
            }
            if digits.len() > 9 {
                return Err(err("at most 9 decimals"));
            }
            let f: u128 = digits.parse().map_err(|_| err("number too large"))?;
            frac = (f, digits.len() as u32);
        }
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: u128 = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(err("missing unit (ms, s, m, h, d)")),
            _ => return Err(err("unknown unit (use ms, s, m, h, d)")),
        };
        // The fraction's value, truncated to whole milliseconds.
        let frac_ms = frac.0 * unit_ms / 10u128.pow(frac.1);
        total = total
            .checked_add(n.checked_mul(unit_ms).ok_or_else(|| err("too large"))?)
            .and_then(|t| t.checked_add(frac_ms))
            .ok_or_else(|| err("too large"))?;
    }
    // Up to `Duration`'s own limit (u64::MAX seconds), like a bare number of seconds, so
    // that everything `format_duration` writes reads back.
    let secs = u64::try_from(total / 1000).map_err(|_| err("too large"))?;
    Ok(Duration::new(secs, (total % 1000) as u32 * 1_000_000))
}

/// Formats a duration compactly: `1h2m3s`, `250ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut out = String::with_capacity(12);
    write_duration(&mut out, d);
    out
}

/// Appends [`format_duration`]'s text for `d` to `out`.
pub(crate) fn write_duration(out: &mut String, d: Duration) {
    use std::fmt::Write;
    let ms = d.as_millis();
    // Writing to a String cannot fail.
    if ms == 0 {
        out.push_str("0s");
        return;
    }
    if ms < 1000 {
        let _ = write!(out, "{ms}ms");
        return;
    }
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, rem_ms) = (rem / 1000, rem % 1000);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || rem_ms > 0 {
        if rem_ms > 0 {
            let _ = write!(out, "{s}.{rem_ms:03}s");
        } else {
            let _ = write!(out, "{s}s");
        }
    }
}

/// Serde support for `Duration` as a human string (`"30s"`); accepts numbers as seconds.
///
/// Use with `#[serde(with = "shipcore::time::serde_duration")]`.
pub mod serde_duration {
    use super::*;

    /// Serializes as `"1m30s"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Deserializes from `"1m30s"` or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Duration::from_secs(n)),
            Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde support for `Option<Duration>` as a human string or null.
pub mod serde_opt_duration {
    use super::*;

    /// Serializes `Some(d)` as `"30s"`, `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from `"30s"`, a number of seconds, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::serde_duration")] Duration);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde support for `f64` that keeps NaN and infinities (JSON has no such numbers):
/// finite values are numbers, others the strings `"NaN"`, `"inf"`, `"-inf"`.
pub(crate) mod serde_f64 {
    use super::*;

    /// Serializes finite values as numbers, others as strings.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    /// Deserializes a number or one of `"NaN"`, `"inf"`, `"+Inf"`, `"-inf"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(n),
            Raw::Text(t) => match t.to_ascii_lowercase().as_str() {
                "nan" => Ok(f64::NAN),
                "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
                "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
                _ => t
                    .parse()
                    .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a number"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("45", 45_000),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_millis(), ms, "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        assert_eq!(parse_duration("").unwrap_err().problem, "empty");
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5x")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_duration("m5")
            .unwrap_err()
            .to_string()
            .contains("number"));
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    /// Found by the `strategy_config` fuzz target (`"interval": 333555555555555554`): a number
    /// of seconds past u64::MAX milliseconds was accepted, written back as
    /// `"92654320987654h19m14s"` and then refused as "too large", so a configuration or a
    /// journaled plan holding it could not be read again.
    #[test]
    fn every_duration_read_as_seconds_reads_back_from_its_text() {
        for secs in [333_555_555_555_555_554, u64::MAX / 1000 + 1, u64::MAX] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{secs} s");
        }
        assert_eq!(
            parse_duration("18446744073709551615999ms").unwrap(),
            Duration::new(u64::MAX, 999_000_000)
        );
        assert_eq!(
            parse_duration("18446744073709551616s").unwrap_err().problem,
            "too large"
        );
    }

    /// Fuzzing (plan_json) found `"5ms8m"` read as 8m5ms, written back as `"8m0.005s"` and
    /// then refused ("missing unit"): every duration `format_duration` writes must read back.
    #[test]
    fn durations_with_milliseconds_read_back_from_their_text() {
        for ms in [1, 999, 1_001, 480_005, 3_600_000 + 61_250, 86_400_123] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{ms} ms");
        }
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            Duration::from_millis(1_500)
        );
        assert_eq!(parse_duration("0.5m").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("1.0001s").unwrap(),
            Duration::from_millis(1_000)
        );
        assert_eq!(
            parse_duration("1.s").unwrap_err().problem,
            "expected digits after the decimal point"
        );
        assert_eq!(
            parse_duration("1.0000000001s").unwrap_err().problem,
            "at most 9 decimals"
        );
    }
}
