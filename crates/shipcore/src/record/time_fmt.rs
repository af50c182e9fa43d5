//! ISO 8601 UTC text for [`Timestamp`]s (`2024-01-15T14:30:00Z`), and back. A small
//! proleptic-Gregorian civil-date conversion (Howard Hinnant's algorithm), so records need
//! no time-zone database.
//!
//! ```
//! use shipcore::record::time_fmt::{format_iso8601, parse_iso8601};
//! use shipcore::time::Timestamp;
//! assert_eq!(format_iso8601(Timestamp(1_705_329_000_000)), "2024-01-15T14:30:00Z");
//! assert_eq!(format_iso8601(Timestamp(1_500)), "1970-01-01T00:00:01.500Z");
//! assert_eq!(parse_iso8601("2024-01-15T14:30:00Z"), Ok(Timestamp(1_705_329_000_000)));
//! ```

use crate::time::Timestamp;

const MS_PER_DAY: u64 = 86_400_000;

/// `(year, month 1..=12, day 1..=31)` of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Days from 1970-01-01 to a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` before the `Z` when the instant has milliseconds.
pub fn format_iso8601(t: Timestamp) -> String {
    let ms = t.as_millis();
    let days = (ms / MS_PER_DAY) as i64;
    let rem = ms % MS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
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

fn number(text: &str, what: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number"));
    }
    text.parse()
        .map_err(|_| format!("{what} {text:?} is out of range"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)` (UTC only, years from 1970). The error
/// says which part is wrong.
pub fn parse_iso8601(text: &str) -> Result<Timestamp, String> {
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .ok_or_else(|| format!("{text:?} must end in Z (UTC)"))?;
    let (date, time) = body
        .split_once('T')
        .ok_or_else(|| format!("{text:?} has no 'T' between date and time"))?;
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(dd), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(format!("date {date:?} is not YYYY-MM-DD"));
    };
    let (year, month, day) = (
        i64::from(number(y, "year")?),
        number(mo, "month")?,
        number(dd, "day")?,
    );
    if year < 1970 {
        return Err(format!("year {year} is before 1970"));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is not within 1..=12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("day {day} does not exist in {year:04}-{month:02}"));
    }
    let (clock, fraction) = match time.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (time, None),
    };
    let mut t = clock.split(':');
    let (Some(h), Some(mi), Some(s), None) = (t.next(), t.next(), t.next(), t.next()) else {
        return Err(format!("time {time:?} is not HH:MM:SS"));
    };
    let (h, mi, s) = (
        number(h, "hour")?,
        number(mi, "minute")?,
        number(s, "second")?,
    );
    if h > 23 || mi > 59 || s > 59 {
        return Err(format!("time {clock} is not a valid time of day"));
    }
    let milli = match fraction {
        Some(f) => {
            number(f, "fraction of a second")?;
            // Keep milliseconds; finer digits are dropped.
            let digits: String = f.chars().chain("000".chars()).take(3).collect();
            number(&digits, "fraction of a second")?
        }
        None => 0,
    };
    let days = days_from_civil(year, month, day) as u64;
    let ms = days * MS_PER_DAY
        + u64::from(h) * 3_600_000
        + u64::from(mi) * 60_000
        + u64::from(s) * 1000
        + u64::from(milli);
    Ok(Timestamp(ms))
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

    #[test]
    fn day_numbers_agree_both_ways() {
        for days in 0..200_000i64 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn bad_text_names_the_part() {
        assert!(parse_iso8601("2024-01-15 14:30:00Z")
            .unwrap_err()
            .contains("'T'"));
        assert!(parse_iso8601("2024-01-15T14:30:00")
            .unwrap_err()
            .contains("end in Z"));
        assert!(parse_iso8601("2023-02-29T00:00:00Z")
            .unwrap_err()
            .contains("day 29"));
        assert!(parse_iso8601("2024-13-01T00:00:00Z")
            .unwrap_err()
            .contains("month 13"));
        assert!(parse_iso8601("2024-01-01T24:00:00Z")
            .unwrap_err()
            .contains("not a valid time"));
        assert!(parse_iso8601("2024-01-xxT00:00:00Z")
            .unwrap_err()
            .contains("day"));
        assert_eq!(
            parse_iso8601("2024-01-15T14:30:00.5+00:00"),
            Ok(Timestamp(1_705_329_000_500))
        );
    }
}
