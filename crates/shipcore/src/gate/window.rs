//! Deploy windows and the freeze calendar: allowed weekdays and hours in a named time zone
//! (IANA names, from jiff's bundled database, so no system tzdata is needed), freeze periods
//! with a reason, and the "no Friday afternoon, no weekend" preset. Judged on
//! `GateContext.now`; a closed window blocks (or waits) saying when the next one opens.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::model::FieldError;
use crate::time::{format_duration, Timestamp};
use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// A day of the week (`"mon"` or `"monday"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Weekday {
    /// Monday to Friday.
    pub const WORKDAYS: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];

    fn of(w: jiff::civil::Weekday) -> Weekday {
        use jiff::civil::Weekday as J;
        match w {
            J::Monday => Weekday::Mon,
            J::Tuesday => Weekday::Tue,
            J::Wednesday => Weekday::Wed,
            J::Thursday => Weekday::Thu,
            J::Friday => Weekday::Fri,
            J::Saturday => Weekday::Sat,
            J::Sunday => Weekday::Sun,
        }
    }
}

/// Deploys are allowed on `days` from `start_hour:00` to `end_hour:00` (local time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRule {
    /// Days it applies to.
    pub days: Vec<Weekday>,
    /// First allowed hour, 0..=23.
    pub start_hour: u8,
    /// Hour the window closes, 1..=24 (exclusive), after `start_hour`.
    pub end_hour: u8,
}

impl WindowRule {
    /// A rule from its parts.
    pub fn new(days: &[Weekday], start_hour: u8, end_hour: u8) -> Self {
        WindowRule {
            days: days.to_vec(),
            start_hour,
            end_hour,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.days.is_empty() {
            return Err(FieldError::new("days", "must name at least one day").into());
        }
        if self.start_hour > 23 {
            return Err(FieldError::new(
                "start_hour",
                format!("{} is out of range 0..=23", self.start_hour),
            )
            .into());
        }
        if self.end_hour == 0 || self.end_hour > 24 {
            return Err(FieldError::new(
                "end_hour",
                format!("{} is out of range 1..=24", self.end_hour),
            )
            .into());
        }
        if self.end_hour <= self.start_hour {
            return Err(FieldError::new(
                "end_hour",
                format!(
                    "{} must be after start_hour {}",
                    self.end_hour, self.start_hour
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// Ready-made windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPreset {
    /// Monday–Thursday 09:00–17:00, Friday 09:00–12:00, never at the weekend.
    NoFridayAfternoonNoWeekend,
    /// Monday–Friday 09:00–17:00.
    BusinessHours,
}

impl WindowPreset {
    /// The rules of the preset.
    pub fn rules(self) -> Vec<WindowRule> {
        use Weekday::*;
        match self {
            WindowPreset::NoFridayAfternoonNoWeekend => vec![
                WindowRule::new(&[Mon, Tue, Wed, Thu], 9, 17),
                WindowRule::new(&[Fri], 9, 12),
            ],
            WindowPreset::BusinessHours => vec![WindowRule::new(&Weekday::WORKDAYS, 9, 17)],
        }
    }
}

/// A freeze period: no deploys from `start` to `end`. Each bound is an instant
/// (`"2024-12-20T18:00:00Z"`, `"2024-12-20T18:00:00+01:00"`) or a date in the window's zone
/// (`"2024-12-24"`: a start date begins at 00:00, an end date includes the whole day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// First frozen instant or day.
    pub start: String,
    /// Last frozen instant (exclusive) or day (inclusive).
    pub end: String,
    /// Why (shown in the block reason).
    pub reason: String,
}

/// Configuration of a [`DeployWindow`]. Without `windows` and `preset`, every hour is open
/// and only the freezes apply.
///
/// ```
/// let c: shipcore::gate::WindowConfig = serde_json::from_str(r#"{"name": "window",
///     "zone": "Europe/Berlin", "preset": "no_friday_afternoon_no_weekend",
///     "freezes": [{"start": "2024-12-23", "end": "2025-01-02", "reason": "holidays"}]}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Gate name.
    pub name: String,
    /// IANA time zone name (`Europe/Berlin`, `UTC`).
    pub zone: String,
    /// A ready-made set of windows (added to `windows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<WindowPreset>,
    /// Allowed days and hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowRule>,
    /// Freeze periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
    /// Wait until the window opens instead of blocking (for gates inside a rollout).
    #[serde(default)]
    pub wait: bool,
}

impl WindowConfig {
    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<DeployWindow, ConfigError> {
        check_name(&self.name)?;
        let zone = time_zone(&self.zone)?;
        let mut rules = self.preset.map(WindowPreset::rules).unwrap_or_default();
        for (i, r) in self.windows.iter().enumerate() {
            r.validate()
                .map_err(|e| e.within(&format!("windows[{i}]")))?;
            rules.push(r.clone());
        }
        let mut freezes = Vec::new();
        for (i, f) in self.freezes.iter().enumerate() {
            let field = |name: &str| format!("freezes[{i}].{name}");
            let start = parse_bound(&f.start, &zone, false)
                .map_err(|p| FieldError::new(field("start"), p))?;
            let end =
                parse_bound(&f.end, &zone, true).map_err(|p| FieldError::new(field("end"), p))?;
            if end <= start {
                return Err(FieldError::new(field("end"), "must be after start").into());
            }
            freezes.push(FreezePeriod {
                start,
                end,
                reason: f.reason.clone(),
            });
        }
        Ok(DeployWindow {
            name: self.name.clone(),
            zone_name: self.zone.clone(),
            zone,
            rules,
            freezes,
            wait: self.wait,
        })
    }
}

/// Looks up an IANA zone in jiff's bundled database.
fn time_zone(name: &str) -> Result<TimeZone, ConfigError> {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    DB.get_or_init(TimeZoneDatabase::bundled)
        .get(name)
        .map_err(|_| {
            FieldError::new("zone", format!("{name:?} is not a known IANA time zone")).into()
        })
}

fn parse_bound(text: &str, zone: &TimeZone, is_end: bool) -> Result<Timestamp, String> {
    let instant = if let Ok(t) = text.parse::<jiff::Timestamp>() {
        t
    } else if let Ok(d) = text.parse::<Date>() {
        let day = if is_end {
            d.tomorrow().map_err(|e| e.to_string())?
        } else {
            d
        };
        day.to_zoned(zone.clone())
            .map_err(|e| e.to_string())?
            .timestamp()
    } else {
        return Err(format!(
            "{text:?} is neither an instant (2024-12-20T18:00:00Z) nor a date (2024-12-24)"
        ));
    };
    Ok(from_jiff(instant))
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp(t.as_millisecond().max(0) as u64)
}

fn to_jiff(t: Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t.0.min(i64::MAX as u64) as i64)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// A freeze, with its bounds resolved to instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezePeriod {
    /// First frozen instant.
    pub start: Timestamp,
    /// First instant after the freeze.
    pub end: Timestamp,
    /// Why deploys are frozen then, as shown to whoever is blocked.
    pub reason: String,
}

/// Allowed windows and freezes in one time zone.
#[derive(Debug, Clone)]
pub struct DeployWindow {
    name: String,
    zone_name: String,
    zone: TimeZone,
    rules: Vec<WindowRule>,
    freezes: Vec<FreezePeriod>,
    wait: bool,
}

impl DeployWindow {
    /// The freeze in force at `t`, if any.
    pub fn freeze_at(&self, t: Timestamp) -> Option<&FreezePeriod> {
        self.freezes.iter().find(|f| f.start <= t && t < f.end)
    }

    fn in_rules(&self, t: Timestamp) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        let z = to_jiff(t).to_zoned(self.zone.clone());
        let (day, hour) = (Weekday::of(z.weekday()), z.hour());
        self.rules.iter().any(|r| {
            r.days.contains(&day)
                && i8::try_from(r.start_hour).is_ok_and(|s| s <= hour)
                && i8::try_from(r.end_hour).is_ok_and(|e| hour < e)
        })
    }

    /// Deploys are allowed at `t`.
    pub fn is_open(&self, t: Timestamp) -> bool {
        self.freeze_at(t).is_none() && self.in_rules(t)
    }

    /// The first instant at or after `t` when deploys are allowed (`None` if none is found
    /// within 2000 steps from window to window and freeze to freeze).
    pub fn next_open(&self, t: Timestamp) -> Option<Timestamp> {
        let mut c = t;
        for _ in 0..2000 {
            if let Some(f) = self.freeze_at(c) {
                c = f.end;
            } else if !self.in_rules(c) {
                c = self.next_rule_start(c)?;
            } else {
                return Some(c);
            }
        }
        None
    }

    /// The earliest rule start strictly after `t`.
    fn next_rule_start(&self, t: Timestamp) -> Option<Timestamp> {
        let mut date = to_jiff(t).to_zoned(self.zone.clone()).date();
        let mut best: Option<Timestamp> = None;
        for _ in 0..=8 {
            let day = Weekday::of(date.weekday());
            for r in self.rules.iter().filter(|r| r.days.contains(&day)) {
                let hour = i8::try_from(r.start_hour).ok()?;
                let Ok(z) = date.at(hour, 0, 0, 0).to_zoned(self.zone.clone()) else {
                    continue;
                };
                let s = from_jiff(z.timestamp());
                if s > t && best.map_or(true, |b| s < b) {
                    best = Some(s);
                }
            }
            if best.is_some() {
                return best;
            }
            date = date.tomorrow().ok()?;
        }
        best
    }

    /// `t` in the zone's local time: `Monday 09:00`.
    pub fn local(&self, t: Timestamp) -> String {
        to_jiff(t)
            .to_zoned(self.zone.clone())
            .strftime("%A %H:%M")
            .to_string()
    }

    fn local_full(&self, t: Timestamp) -> String {
        to_jiff(t)
            .to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// Why deploys are not allowed at `now` and when they next are; `None` when open.
    pub fn closed_reason(&self, now: Timestamp) -> Option<String> {
        if self.is_open(now) {
            return None;
        }
        let why = match self.freeze_at(now) {
            Some(f) => format!(
                "deploy freeze until {}: {}",
                self.local_full(f.end),
                f.reason
            ),
            None => format!(
                "outside the deploy window (now {} {})",
                self.local(now),
                self.zone_name
            ),
        };
        Some(match self.next_open(now) {
            Some(next) => format!(
                "{why}; next window opens {} ({}, in {})",
                self.local(next),
                self.local_full(next),
                human(next.since(now))
            ),
            None => format!("{why}; no open window found (check the windows and freezes)"),
        })
    }
}

/// `2d17h`, `3h`, `45m` (whole seconds).
fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let rest = std::time::Duration::from_secs(rest);
    match (days, rest.is_zero()) {
        (0, _) => format_duration(rest),
        (d, true) => format!("{d}d"),
        (d, false) => format!("{d}d{}", format_duration(rest)),
    }
}

#[async_trait]
impl Gate for DeployWindow {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let Some(reason) = self.closed_reason(ctx.now) else {
            return GateOutcome::Pass;
        };
        match (self.wait, self.next_open(ctx.now)) {
            (true, Some(next)) => GateOutcome::wait(next.since(ctx.now), reason),
            _ => GateOutcome::block(reason),
        }
    }
}
