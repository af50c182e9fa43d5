//! ISO 8601 UTC text for [`Timestamp`]s (`2024-01-15T14:30:00Z`), and back, with
//! [`jiff`] (its proleptic-Gregorian calendar; no time-zone database is consulted).
//!
//! ```
//! use shipcore::record::time_fmt::{format_iso8601, parse_iso8601};
//! use shipcore::time::Timestamp;
//! assert_eq!(format_iso8601(Timestamp(1_705_329_000_000)), "2024-01-15T14:30:00Z");
//! assert_eq!(format_iso8601(Timestamp(1_500)), "1970-01-01T00:00:01.500Z");
//! assert_eq!(parse_iso8601("2024-01-15T14:30:00Z"), Ok(Timestamp(1_705_329_000_000)));
//! ```

use crate::time::Timestamp;
use jiff::fmt::strtime;
use jiff::tz::TimeZone;

/// The layout [`parse_iso8601`] reads (before the `Z` or `+00:00`), in `strftime` terms.
const LAYOUT: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` before the `Z` when the instant has milliseconds.
/// Instants past jiff's last one (`9999-12-30T22:00:00.999Z`) are written as that one.
pub fn format_iso8601(t: Timestamp) -> String {
    let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
    let instant = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::MAX);
    if ms % 1000 == 0 {
        format!("{instant:.0}")
    } else {
        format!("{instant:.3}")
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)` (UTC only, years from 1970, at most
/// nine fractional digits; finer than milliseconds is dropped) with jiff's `strptime`
/// reading of that layout, which also takes a `+` before the year, one-digit months,
/// days, hours, minutes and seconds, and reads a leap second (`:60`) as `:59`. The error
/// quotes the text and names the part that is wrong (`month`, `day`, `hour`, the `T`...);
/// callers add the field's name.
pub fn parse_iso8601(text: &str) -> Result<Timestamp, String> {
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .ok_or_else(|| format!("{text:?} must end in Z (UTC)"))?;
    let not_iso = |e: jiff::Error| format!("{text:?} is not YYYY-MM-DDTHH:MM:SS[.fff]Z: {e}");
    let parts = strtime::parse(LAYOUT, body).map_err(not_iso)?;
    let civil = parts.to_datetime().map_err(not_iso)?;
    if civil.year() < 1970 {
        return Err(format!("{text:?}: year {} is before 1970", civil.year()));
    }
    let instant = TimeZone::UTC
        .to_timestamp(civil)
        .map_err(|e| format!("{text:?} is not an instant: {e}"))?;
    // Not negative: the year is 1970 or later.
    Ok(Timestamp(instant.as_millisecond().max(0) as u64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_iso8601(Timestamp::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_iso8601(Timestamp(951_782_400_000)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format_iso8601(Timestamp(951_868_799_999)),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_iso8601(Timestamp(4_107_542_400_000)),
            "2100-03-01T00:00:00Z"
        );
        assert_eq!(
            format_iso8601(Timestamp(1_709_164_800_000)),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn round_trips_over_centuries() {
        let mut t: u64 = 0;
        // Steps of a prime number of milliseconds to hit every month, leap year and hour.
        while t < 8_000_000_000_000 {
            let text = format_iso8601(Timestamp(t));
            assert_eq!(parse_iso8601(&text), Ok(Timestamp(t)), "{text}");
            t += 7_919_999_983;
        }
    }

    /// The hand-written conversion this module used before jiff (Howard Hinnant's
    /// `civil_from_days`), kept as the reference the jiff output must equal byte for byte.
    fn reference_format(t: Timestamp) -> String {
        const MS_PER_DAY: u64 = 86_400_000;
        let ms = t.as_millis();
        let z = (ms / MS_PER_DAY) as i64 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let rem = ms % MS_PER_DAY;
        let (h, m, s, milli) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000,
        );
        if milli == 0 {
            format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
        } else {
            format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
        }
    }

    #[test]
    fn output_is_byte_identical_to_the_hand_written_conversion() {
        // Every day of 1970..=2517, at a time of day that moves through hours, minutes,
        // seconds and milliseconds (whole seconds every other day).
        for days in 0..200_000u64 {
            let ms = days * 86_400_000 + (days * 7_919_993) % 86_400_000;
            let ms = if days % 2 == 0 { ms - ms % 1000 } else { ms };
            let t = Timestamp(ms);
            assert_eq!(format_iso8601(t), reference_format(t), "{ms}");
        }
        let last = Timestamp(jiff::Timestamp::MAX.as_millisecond() as u64);
        assert_eq!(format_iso8601(last), reference_format(last));
        assert_eq!(format_iso8601(last), "9999-12-30T22:00:00.999Z");
        assert_eq!(format_iso8601(Timestamp(u64::MAX)), format_iso8601(last));
    }

    #[test]
    fn bad_text_names_the_part() {
        let err = |t: &str| parse_iso8601(t).expect_err(t);
        assert!(err("2024-01-15 14:30:00Z").contains("`T`"));
        assert!(err("2024-01-15T14:30:00").contains("end in Z"));
        assert!(err("2024-01-15T14:30:00+01:00").contains("end in Z"));
        assert!(err("2023-02-29T00:00:00Z").contains("'day' for `2023-02`"));
        assert!(err("2024-13-01T00:00:00Z").contains("'month'"));
        assert!(err("2024-01-01T24:00:00Z").contains("'hour'"));
        assert_eq!(
            parse_iso8601("2024-01-01T23:59:60Z"),
            parse_iso8601("2024-01-01T23:59:59Z")
        );
        assert!(err("2024-01-xxT00:00:00Z").contains("day"));
        assert!(err("1969-12-31T23:59:59Z").contains("before 1970"));
        assert!(err("2024-01-01T00:00Z").starts_with("\"2024-01-01T00:00Z\""));
        assert_eq!(
            parse_iso8601("2024-01-15T14:30:00.5+00:00"),
            Ok(Timestamp(1_705_329_000_500))
        );
        assert_eq!(
            parse_iso8601("2024-01-15T14:30:00.123999Z"),
            Ok(Timestamp(1_705_329_000_123))
        );
    }
}
