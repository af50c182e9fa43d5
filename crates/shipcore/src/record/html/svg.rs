//! The timeline chart as inline SVG, hand-written (see the [module docs](super) for why).
//!
//! Structure (ids and classes are stable; tests and the browser check find elements by
//! them):
//! - `<svg class="timeline" role="img">` with `<title>` and `<desc>` (a text summary);
//! - `g#lane-markers`: one `g.marker.marker-<kind>` per marker (`marker-rollback`,
//!   `marker-gate-blocked`, …; ids `marker-<kind>-<n>`), each with a `<title>` tooltip
//!   holding the reason, and a dashed `line.marker-line` across every lane;
//! - `g#lane-weights`: one `path.series.weight` per revision, id `weight-<revision>`;
//! - `g#lane-replicas`: `path.series.replicas-desired` / `path.series.replicas-ready` per
//!   revision, ids `desired-<revision>` / `ready-<revision>`;
//! - `g.lane.validator` per validator (id `lane-validator-<name>`): per metric a
//!   `g.series.metric` (id `metric-<validator>-<metric>`) holding one `path.segment` per
//!   unbroken run of values of one analysis run and one `circle.point` per value; `line.threshold-critical` and
//!   `line.threshold-warning` (ids `threshold-critical-<validator>-<metric>`…), the bands
//!   beyond them (`rect.band-critical`, `rect.band-warning`); and `g.gap` per measurement
//!   with nothing to plot (a cross on the lane's floor, never a point at zero).

use super::super::fmt_num;
use super::super::summary::CheckStatus;
use super::timeline::{BadSide, MarkerKind, MetricSeries, StepPoint, Timeline};
use super::{escape, scrub, scrub_urls, slug, text};
use crate::time::{format_duration, Timestamp};
use std::fmt::Write;
use std::time::Duration;

/// Okabe–Ito, in the order revisions and metrics take them (blue, orange, bluish green,
/// reddish purple, sky blue, vermillion, yellow, black).
pub(crate) const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];
const CRITICAL: &str = "#D55E00";
const WARNING: &str = "#E69F00";
const DASHES: [&str; 4] = ["", "6 3", "2 2", "8 3 2 3"];

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 44.0;
const LANE_GAP: f64 = 22.0;

struct Scale {
    start: u64,
    span: f64,
}

impl Scale {
    fn x(&self, t: Timestamp) -> f64 {
        let dt = t.0.saturating_sub(self.start) as f64;
        LEFT + (dt / self.span).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
    fn end_x(&self) -> f64 {
        WIDTH - RIGHT
    }
}

fn rel(t: Timestamp, start: Timestamp) -> String {
    format!(
        "+{}",
        format_duration(Duration::from_millis(t.0.saturating_sub(start.0)))
    )
}

/// A revision's place in the palette: its order of first appearance in the weight lane,
/// then the replica lane, so a revision has one colour in both.
pub(crate) fn revision_index(tl: &Timeline, revision: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for r in tl
        .weights
        .iter()
        .map(|w| w.revision.as_str())
        .chain(tl.replicas.iter().map(|r| r.revision.as_str()))
    {
        if !seen.contains(&r) {
            seen.push(r);
        }
    }
    seen.iter()
        .position(|r| *r == revision)
        .unwrap_or(seen.len())
}

/// Step series as a path: horizontal to each change, then vertical; held to the end.
fn step_path(points: &[StepPoint], sc: &Scale, y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let (x, yy) = (sc.x(p.at), y(f64::from(p.value)));
        if i == 0 {
            let _ = write!(d, "M{x:.1},{yy:.1}");
        } else {
            let _ = write!(d, " H{x:.1} V{yy:.1}");
        }
    }
    if !points.is_empty() {
        let _ = write!(d, " H{:.1}", sc.end_x());
    }
    d
}

fn lane_frame(out: &mut String, top: f64, height: f64, label: &str, sub: &str) {
    let _ = write!(
        out,
        r##"<rect class="lane-bg" x="{LEFT}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="#fafafa" stroke="#ddd"/><text x="8" y="{:.1}" font-weight="600">{}</text><text x="8" y="{:.1}" class="muted" fill="#555">{}</text>"##,
        WIDTH - LEFT - RIGHT,
        top + 14.0,
        escape(label),
        top + 28.0,
        escape(sub)
    );
}

fn y_axis(out: &mut String, top: f64, height: f64, lo: f64, hi: f64, unit: &str) {
    for (v, y) in [(hi, top), (lo, top + height)] {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}{}</text>"##,
            LEFT - 4.0,
            y + 4.0,
            fmt_num(v),
            escape(unit)
        );
    }
}

fn outcome_class(o: CheckStatus) -> &'static str {
    match o {
        CheckStatus::Passed => "outcome-passed",
        CheckStatus::Failed => "outcome-failed",
        CheckStatus::Inconclusive => "outcome-inconclusive",
        CheckStatus::Error => "outcome-error",
        CheckStatus::NotRun => "outcome-not-run",
    }
}

/// The y range of a metric lane: every value and level, 0 included, with headroom.
fn range(series: &[MetricSeries]) -> (f64, f64) {
    let mut lo: f64 = 0.0;
    let mut hi: f64 = f64::NEG_INFINITY;
    for s in series {
        let levels = [s.critical, s.warning];
        for v in s
            .samples
            .iter()
            .filter_map(|p| p.value)
            .chain(levels.into_iter().flatten())
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !hi.is_finite() || hi <= lo {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.1)
}

fn marker_shape(kind: MarkerKind, x: f64, y: f64) -> String {
    let c = match kind {
        MarkerKind::StepStarted => "#555555",
        MarkerKind::GatePassed => "#009E73",
        MarkerKind::GateBlocked | MarkerKind::Failed => CRITICAL,
        MarkerKind::GateWaiting | MarkerKind::Paused => WARNING,
        MarkerKind::Command => "#0072B2",
        MarkerKind::Rollback => "#CC79A7",
        MarkerKind::Finished => "#000000",
    };
    match kind {
        MarkerKind::StepStarted => format!(
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{c}"/>"#,
            x - 5.0,
            y - 5.0,
            x + 5.0,
            y - 5.0,
            x,
            y + 4.0
        ),
        MarkerKind::GatePassed => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{c}"/>"#),
        MarkerKind::GateBlocked | MarkerKind::GateWaiting => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{c}"/>"#,
            x - 5.0,
            y - 5.0
        ),
        MarkerKind::Paused => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="3" height="10" fill="{c}"/><rect x="{:.1}" y="{:.1}" width="3" height="10" fill="{c}"/>"#,
            x - 4.0,
            y - 5.0,
            x + 1.0,
            y - 5.0
        ),
        MarkerKind::Command => format!(
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{c}"/>"#,
            y - 6.0,
            x + 6.0,
            y + 6.0,
            x - 6.0
        ),
        MarkerKind::Failed => format!(
            r#"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="{c}" stroke-width="3"/>"#,
            x - 5.0,
            y - 5.0,
            x + 5.0,
            y + 5.0,
            x - 5.0,
            y + 5.0,
            x + 5.0,
            y - 5.0
        ),
        MarkerKind::Rollback => format!(
            r#"<polygon points="{:.1},{y:.1} {:.1},{:.1} {:.1},{:.1}" fill="{c}"/>"#,
            x - 6.0,
            x + 5.0,
            y - 6.0,
            x + 5.0,
            y + 6.0
        ),
        MarkerKind::Finished => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="none" stroke="{c}" stroke-width="2"/>"#,
            x - 4.5,
            y - 4.5
        ),
    }
}

/// Time-axis ticks at a round interval (1 s … 1 d) giving at most 7 ticks over `span_ms`.
fn ticks(start: Timestamp, span_ms: u64) -> Vec<Timestamp> {
    const STEPS_S: [u64; 18] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|s| span_ms / s <= 6)
        .unwrap_or_else(|| (span_ms / 6).max(1));
    (0..=span_ms / step)
        .map(|i| Timestamp(start.0 + i * step))
        .collect()
}

/// A one-paragraph text alternative of the chart.
fn describe(tl: &Timeline) -> String {
    let mut parts = Vec::new();
    for w in &tl.weights {
        let max = w.points.iter().map(|p| p.value).max().unwrap_or(0);
        let last = w.points.last().map(|p| p.value).unwrap_or(0);
        parts.push(format!(
            "{} traffic peaked at {max}% and ended at {last}%",
            w.revision
        ));
    }
    for lane in &tl.validators {
        for m in lane.metrics.iter().filter(|m| m.baseline_of.is_none()) {
            let values: Vec<f64> = m.samples.iter().filter_map(|s| s.value).collect();
            let gaps = m.samples.len() - values.len();
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut s = format!("{} {}: {} value(s)", lane.validator, m.name, values.len());
            if max.is_finite() {
                let _ = write!(s, ", highest {}", fmt_num(max));
            }
            if let Some(c) = m.critical {
                let _ = write!(s, ", critical level {}", fmt_num(c));
            }
            if gaps > 0 {
                let _ = write!(s, ", {gaps} gap(s) without data");
            }
            parts.push(s);
        }
    }
    for m in tl.markers.iter().filter(|m| {
        matches!(
            m.kind,
            MarkerKind::Failed
                | MarkerKind::Rollback
                | MarkerKind::GateBlocked
                | MarkerKind::Finished
        )
    }) {
        parts.push(format!(
            "{} at {}: {}",
            m.label,
            rel(m.at, tl.start),
            scrub(&m.detail)
        ));
    }
    if parts.is_empty() {
        return "No events to plot.".into();
    }
    parts.join("; ") + "."
}

/// The timeline chart of `tl` as an `<svg>` element (no XML prologue; inline in HTML).
pub fn timeline_svg(tl: &Timeline) -> String {
    let span = (tl.end.0.saturating_sub(tl.start.0)).max(1000) as f64;
    let sc = Scale {
        start: tl.start.0,
        span,
    };
    let mut body = String::new();

    // Markers: stacked in rows where they would overlap.
    let mut rows: Vec<f64> = Vec::new(); // last x used per row
    let mut placed = Vec::new();
    for m in &tl.markers {
        let x = sc.x(m.at);
        let row = match rows.iter().position(|last| x - *last >= 14.0) {
            Some(r) => r,
            None => {
                rows.push(f64::NEG_INFINITY);
                rows.len() - 1
            }
        };
        rows[row] = x;
        placed.push((m, x, row));
    }
    let marker_h = 20.0 + 16.0 * rows.len().max(1) as f64;
    let mut top = 8.0;
    let markers_top = top;
    top += marker_h + LANE_GAP;

    // Lane geometry first, so marker lines can span them.
    let weights_top = top;
    let weights_h = 110.0;
    if !tl.weights.is_empty() {
        top += weights_h + LANE_GAP;
    }
    let replicas_top = top;
    let replicas_h = 90.0;
    if !tl.replicas.is_empty() {
        top += replicas_h + LANE_GAP;
    }
    let validators_top = top;
    let metric_h = 110.0;
    top += (metric_h + LANE_GAP) * tl.validators.len() as f64;
    let axis_y = top;
    let height = axis_y + 36.0;

    // Markers lane.
    let _ = write!(body, r#"<g id="lane-markers" class="lane markers">"#);
    lane_frame(
        &mut body,
        markers_top,
        marker_h,
        "Events",
        "hover for reasons",
    );
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (m, x, row) in &placed {
        let n = counts.entry(m.kind.class()).or_default();
        *n += 1;
        let y = markers_top + 14.0 + 16.0 * *row as f64;
        let _ = write!(
            body,
            r##"<g class="marker marker-{k}" id="marker-{k}-{n}" tabindex="0" role="img" aria-label="{label} at {when}: {detail}"><title>{label} at {when}: {detail}</title><line class="marker-line" x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{axis_y:.1}" stroke="#999" stroke-dasharray="2 3"/>{shape}</g>"##,
            k = m.kind.class(),
            label = text(&m.label),
            when = rel(m.at, tl.start),
            detail = text(&m.detail),
            shape = marker_shape(m.kind, *x, y),
        );
    }
    body += "</g>";

    // Weights.
    if !tl.weights.is_empty() {
        let y = |v: f64| weights_top + weights_h - v / 100.0 * (weights_h - 8.0);
        let _ = write!(body, r#"<g id="lane-weights" class="lane weights">"#);
        lane_frame(
            &mut body,
            weights_top,
            weights_h,
            "Traffic weight",
            "percent per revision",
        );
        y_axis(
            &mut body,
            weights_top + 8.0,
            weights_h - 8.0,
            0.0,
            100.0,
            "%",
        );
        for w in &tl.weights {
            let i = revision_index(tl, &w.revision);
            let changes: Vec<String> = w
                .points
                .iter()
                .map(|p| format!("{}% at {}", p.value, rel(p.at, tl.start)))
                .collect();
            let _ = write!(
                body,
                r#"<path class="series weight" id="weight-{id}" data-revision="{rev}" d="{d}" fill="none" stroke="{c}" stroke-width="2.5" stroke-dasharray="{dash}"><title>{rev} traffic: {list}</title></path>"#,
                id = slug(&w.revision),
                rev = escape(&w.revision),
                d = step_path(&w.points, &sc, y),
                c = PALETTE[i % PALETTE.len()],
                dash = DASHES[i % DASHES.len()],
                list = escape(&changes.join(", ")),
            );
        }
        body += "</g>";
    }

    // Replicas.
    if !tl.replicas.is_empty() {
        let max = tl
            .replicas
            .iter()
            .flat_map(|r| r.desired.iter().chain(&r.ready))
            .map(|p| p.value)
            .max()
            .unwrap_or(1)
            .max(1);
        let y = |v: f64| replicas_top + replicas_h - v / f64::from(max) * (replicas_h - 8.0);
        let _ = write!(body, r#"<g id="lane-replicas" class="lane replicas">"#);
        lane_frame(
            &mut body,
            replicas_top,
            replicas_h,
            "Replicas",
            "desired (thin) / ready (thick)",
        );
        y_axis(&mut body, replicas_top, replicas_h, 0.0, f64::from(max), "");
        for r in &tl.replicas {
            let c = PALETTE[revision_index(tl, &r.revision) % PALETTE.len()];
            let id = slug(&r.revision);
            let rev = escape(&r.revision);
            let _ = write!(
                body,
                r#"<path class="series replicas-desired" id="desired-{id}" d="{}" fill="none" stroke="{c}" stroke-width="1.2" stroke-dasharray="4 2"><title>{rev} desired replicas</title></path>"#,
                step_path(&r.desired, &sc, y)
            );
            let _ = write!(
                body,
                r#"<path class="series replicas-ready" id="ready-{id}" d="{}" fill="none" stroke="{c}" stroke-width="3" opacity="0.75"><title>{rev} ready replicas</title></path>"#,
                step_path(&r.ready, &sc, y)
            );
        }
        body += "</g>";
    }

    // Validators.
    for (li, lane) in tl.validators.iter().enumerate() {
        let lt = validators_top + (metric_h + LANE_GAP) * li as f64;
        let (lo, hi) = range(&lane.metrics);
        let y = |v: f64| lt + metric_h - (v - lo) / (hi - lo) * metric_h;
        let lid = slug(&lane.validator);
        let unit = lane.metrics.first().map(|m| m.unit.as_str()).unwrap_or("");
        let _ = write!(
            body,
            r#"<g id="lane-validator-{lid}" class="lane validator">"#
        );
        lane_frame(
            &mut body,
            lt,
            metric_h,
            &lane.validator,
            "validator measurements",
        );
        y_axis(&mut body, lt, metric_h, lo, hi, unit);
        for (mi, m) in lane.metrics.iter().enumerate() {
            let mid = format!("{lid}-{}", slug(&m.name));
            // Bands beyond the levels, then the level lines.
            for (level, class, colour) in [
                (m.warning, "warning", WARNING),
                (m.critical, "critical", CRITICAL),
            ] {
                let Some(v) = level else { continue };
                let ly = y(v);
                let (band_top, band_h) = match (class, m.bad) {
                    // The warning band runs from the warning level to the critical one.
                    ("warning", BadSide::Above) => {
                        let c = m.critical.map(&y).unwrap_or(lt);
                        (c.min(ly), (ly - c).abs())
                    }
                    ("warning", BadSide::Below) => {
                        let c = m.critical.map(&y).unwrap_or(lt + metric_h);
                        (ly.min(c), (c - ly).abs())
                    }
                    (_, BadSide::Above) => (lt, ly - lt),
                    (_, BadSide::Below) => (ly, lt + metric_h - ly),
                };
                let _ = write!(
                    body,
                    r#"<rect class="band band-{class}" x="{LEFT}" y="{band_top:.1}" width="{:.1}" height="{:.1}" fill="{colour}" opacity="0.12"/>"#,
                    WIDTH - LEFT - RIGHT,
                    band_h.max(0.0)
                );
                let _ = write!(
                    body,
                    r#"<line class="threshold threshold-{class}" id="threshold-{class}-{mid}" x1="{LEFT}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="{}"><title>{} {class} level {}{}</title></line>"#,
                    sc.end_x(),
                    if class == "warning" { "5 3" } else { "" },
                    escape(&m.name),
                    fmt_num(v),
                    escape(&m.unit)
                );
            }
            let colour = if m.baseline_of.is_some() {
                "#555555"
            } else {
                PALETTE[(2 + mi) % PALETTE.len()]
            };
            let dash = if m.baseline_of.is_some() { "3 3" } else { "" };
            let class = if m.baseline_of.is_some() {
                "series metric baseline"
            } else {
                "series metric"
            };
            let _ = write!(
                body,
                r#"<g class="{class}" id="metric-{mid}" data-metric="{}">"#,
                escape(&m.name)
            );
            // One path per unbroken run of values: a gap breaks the line.
            let mut run: Vec<(f64, f64)> = Vec::new();
            let flush = |run: &mut Vec<(f64, f64)>, body: &mut String| {
                if run.len() > 1 {
                    let d: Vec<String> =
                        run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    let _ = write!(
                        body,
                        r#"<path class="segment" d="M{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                        d.join(" L")
                    );
                }
                run.clear();
            };
            let mut last_run = None;
            for s in &m.samples {
                if last_run != Some(s.run) {
                    flush(&mut run, &mut body);
                    last_run = Some(s.run);
                }
                match s.value {
                    Some(v) => run.push((sc.x(s.at), y(v))),
                    None => flush(&mut run, &mut body),
                }
            }
            flush(&mut run, &mut body);
            for s in &m.samples {
                let Some(v) = s.value else { continue };
                let _ = write!(
                    body,
                    r##"<circle class="point {oc}" cx="{:.1}" cy="{:.1}" r="4" fill="{fill}" stroke="{colour}" stroke-width="2"><title>{} = {}{} at {} ({}): {}</title></circle>"##,
                    sc.x(s.at),
                    y(v),
                    escape(&m.name),
                    fmt_num(v),
                    escape(&m.unit),
                    rel(s.at, tl.start),
                    s.outcome.as_str(),
                    text(&s.note),
                    oc = outcome_class(s.outcome),
                    fill = if s.outcome == CheckStatus::Failed {
                        CRITICAL
                    } else {
                        "#ffffff"
                    },
                );
            }
            body += "</g>";
        }
        for g in &lane.gaps {
            let (x, fy) = (sc.x(g.at), lt + metric_h - 6.0);
            let _ = write!(
                body,
                r##"<g class="gap"><title>no data at {}: {}</title><path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="#555" stroke-width="1.5"/></g>"##,
                rel(g.at, tl.start),
                text(&g.reason),
                x - 4.0,
                fy - 4.0,
                x + 4.0,
                fy + 4.0,
                x - 4.0,
                fy + 4.0,
                x + 4.0,
                fy - 4.0
            );
        }
        body += "</g>";
    }

    // Time axis.
    let _ = write!(
        body,
        r##"<g id="axis-time" class="axis"><line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        sc.end_x()
    );
    for t in ticks(tl.start, span as u64) {
        let x = sc.x(t);
        let _ = write!(
            body,
            r##"<line x1="{x:.1}" y1="{axis_y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            axis_y + 5.0,
            axis_y + 18.0,
            rel(t, tl.start)
        );
    }
    body += "</g>";

    format!(
        r##"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-labelledby="timeline-title timeline-desc"><title id="timeline-title">Rollout timeline</title><desc id="timeline-desc">{}</desc>{body}</svg>"##,
        escape(&scrub_urls(&describe(tl)))
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::timeline::tests::{err_rate, ev, measured, started};
    use super::*;
    use crate::engine::{EventKind, Phase};
    use crate::model::{Action, FleetState, RevisionId, RevisionState, Role, WeightSet};
    use crate::validator::{MeasureResult, Outcome, ValidatorError};
    use std::sync::Arc;

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    fn bad_canary() -> Vec<crate::engine::Event> {
        let fleet = |w1: u8, w2: u8| {
            Arc::new(FleetState {
                revisions: vec![
                    RevisionState {
                        revision: RevisionId::from("web-v1"),
                        desired: 4,
                        ready: 4,
                        updated: 4,
                        weight: w1,
                    },
                    RevisionState {
                        revision: RevisionId::from("web-v2"),
                        desired: 1,
                        ready: 1,
                        updated: 1,
                        weight: w2,
                    },
                ],
                flags: Default::default(),
            })
        };
        let route = |id: u64, at: u64, w1: u8, w2: u8| {
            [
                ev(
                    at,
                    EventKind::ActionRequested {
                        id,
                        action: Arc::new(Action::Route {
                            weights: WeightSet(vec![
                                (RevisionId::from("web-v1"), w1),
                                (RevisionId::from("web-v2"), w2),
                            ]),
                        }),
                        attempt: 1,
                    },
                ),
                ev(at, EventKind::ActionApplied { id }),
            ]
        };
        let mut events = vec![
            started(0, "web"),
            ev(
                0,
                EventKind::StepStarted {
                    step: 0,
                    description: "scale candidate to 1".into(),
                },
            ),
            ev(
                10_000,
                EventKind::Converged {
                    role: Role::Candidate,
                    replicas: 1,
                    fleet: fleet(100, 0),
                },
            ),
            ev(
                10_000,
                EventKind::StepStarted {
                    step: 1,
                    description: "set candidate weight 10%".into(),
                },
            ),
        ];
        events.extend(route(1, 10_000, 90, 10));
        events.extend([
            ev(
                10_000,
                EventKind::StepStarted {
                    step: 2,
                    description: "analysis".into(),
                },
            ),
            measured(70_000, 1, vec![err_rate(Outcome::Pass, 0.02, true)]),
            measured(130_000, 2, vec![err_rate(Outcome::Pass, 0.03, true)]),
            measured(
                190_000,
                3,
                vec![MeasureResult::Error(ValidatorError {
                    validator: "error-rate".into(),
                    message: "timeout".into(),
                })],
            ),
            measured(250_000, 4, vec![err_rate(Outcome::Fail, 0.12, false)]),
            ev(
                250_000,
                EventKind::Failed {
                    reason: "error rate 0.12 above 0.05".into(),
                },
            ),
            ev(
                250_000,
                EventKind::RollbackStarted {
                    reason: "error rate 0.12 above 0.05".into(),
                },
            ),
        ]);
        events.extend(route(2, 250_000, 100, 0));
        events.push(ev(
            260_000,
            EventKind::Finished {
                phase: Phase::RolledBack,
                reason: "error rate 0.12 above 0.05".into(),
            },
        ));
        events
    }

    #[test]
    fn the_chart_has_one_series_per_revision_points_for_values_only_and_the_levels() {
        let tl = Timeline::from_events(&bad_canary());
        let svg = timeline_svg(&tl);
        // Weights: one step series per revision, with stable ids.
        assert_eq!(count(&svg, r#"class="series weight""#), 2);
        assert!(svg.contains(r#"id="weight-web-v1""#) && svg.contains(r#"id="weight-web-v2""#));
        // Replicas: desired and ready per revision.
        assert_eq!(count(&svg, r#"class="series replicas-desired""#), 2);
        assert_eq!(count(&svg, r#"class="series replicas-ready""#), 2);
        // One validator lane, one metric series: 3 values are points, the error is a gap.
        assert_eq!(count(&svg, r#"class="lane validator""#), 1);
        assert_eq!(count(&svg, r#"class="series metric""#), 1);
        assert_eq!(count(&svg, r#"<circle class="point "#), 3);
        assert_eq!(count(&svg, r#"class="point outcome-failed""#), 1);
        assert_eq!(count(&svg, r#"<g class="gap">"#), 1);
        // The gap breaks the line: the two values before it are one segment, the value
        // after it stands alone (no segment of one point).
        assert_eq!(count(&svg, r#"<path class="segment""#), 1);
        // The critical and warning levels, each a line and a band.
        assert_eq!(count(&svg, r#"class="threshold threshold-critical""#), 1);
        assert!(svg.contains(r#"id="threshold-critical-error-rate-error-rate""#));
        assert_eq!(count(&svg, r#"class="threshold threshold-warning""#), 1);
        assert_eq!(count(&svg, r#"class="band band-critical""#), 1);
        // Markers: 3 steps, the failure, the rollback, the end; reasons as tooltips.
        assert_eq!(count(&svg, r#"class="marker marker-step""#), 3);
        assert_eq!(count(&svg, r#"class="marker marker-failure""#), 1);
        assert_eq!(count(&svg, r#"class="marker marker-rollback""#), 1);
        assert!(svg.contains(r#"id="marker-rollback-1""#));
        assert!(svg.contains("<title>rollback at +4m10s: error rate 0.12 above 0.05</title>"));
        assert_eq!(count(&svg, r#"class="marker marker-finished""#), 1);
        // Text alternative, and balanced groups.
        assert!(svg.contains(r#"role="img" aria-labelledby="timeline-title timeline-desc""#));
        assert!(
            svg.contains("web-v2 traffic peaked at 10% and ended at 0%"),
            "{svg}"
        );
        assert!(svg.contains("1 gap(s) without data"));
        assert_eq!(count(&svg, "<g"), count(&svg, "</g>"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn time_ticks_fall_on_round_intervals() {
        let at = |v: Vec<Timestamp>| v.into_iter().map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(
            at(ticks(Timestamp(0), 10_000)),
            [0, 2_000, 4_000, 6_000, 8_000, 10_000]
        );
        assert_eq!(
            at(ticks(Timestamp(5), 560_000)),
            [5, 120_005, 240_005, 360_005, 480_005]
        );
        assert_eq!(ticks(Timestamp(0), 1_000).len(), 2);
    }

    /// The numeric value of attribute `name` in each element of `svg` that starts with `tag`.
    fn attr(svg: &str, tag: &str, name: &str) -> Vec<f64> {
        svg.match_indices(tag)
            .map(|(i, _)| {
                let rest = &svg[i..];
                let at = rest.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                rest[at..].split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn points_sit_on_the_right_side_of_the_critical_line_in_time_order() {
        let svg = timeline_svg(&Timeline::from_events(&bad_canary()));
        let cx = attr(&svg, "<circle class=\"point ", "cx");
        let cy = attr(&svg, "<circle class=\"point ", "cy");
        let line = attr(&svg, "<line class=\"threshold threshold-critical\"", "y1");
        let warning = attr(&svg, "<line class=\"threshold threshold-warning\"", "y1");
        assert!(
            cx.windows(2).all(|w| w[0] < w[1]),
            "later is further right: {cx:?}"
        );
        // SVG y grows downwards: 0.02 and 0.03 below the 0.05 line, 0.12 above it.
        assert!(
            cy[0] > line[0] && cy[1] > line[0] && cy[2] < line[0],
            "{cy:?} vs {line:?}"
        );
        assert!(cy[1] < cy[0], "0.03 is higher than 0.02");
        // The warning level (0.01) is below the critical one.
        assert!(warning[0] > line[0]);
        // The critical band covers the part of the lane above the line.
        let band_y = attr(&svg, "<rect class=\"band band-critical\"", "y");
        let band_h = attr(&svg, "<rect class=\"band band-critical\"", "height");
        assert!((band_y[0] + band_h[0] - line[0]).abs() < 0.2);
    }

    #[test]
    fn a_gap_is_not_drawn_at_zero() {
        let tl = Timeline::from_events(&[
            measured(0, 1, vec![err_rate(Outcome::Pass, 0.02, false)]),
            measured(
                60_000,
                2,
                vec![err_rate(Outcome::Inconclusive, f64::NAN, false)],
            ),
            measured(120_000, 3, vec![err_rate(Outcome::Pass, 0.04, false)]),
        ]);
        let svg = timeline_svg(&tl);
        assert_eq!(
            count(&svg, r#"<circle class="point "#),
            2,
            "NaN is no point"
        );
        assert_eq!(
            count(&svg, r#"<path class="segment""#),
            0,
            "no line across the gap"
        );
        assert_eq!(count(&svg, r#"<g class="gap">"#), 1);
    }

    #[test]
    fn simultaneous_markers_are_stacked_not_drawn_over_each_other() {
        let tl = Timeline::from_events(&bad_canary());
        let svg = timeline_svg(&tl);
        // failure and rollback happen at the same instant: different rows (y).
        let y_of = |class: &str| {
            let at = svg.find(class).unwrap();
            let line = &svg[at..];
            let y1 = line.find("y1=\"").unwrap() + 4;
            line[y1..y1 + 8].split('"').next().unwrap().to_string()
        };
        assert_ne!(
            y_of("marker marker-failure"),
            y_of("marker marker-rollback")
        );
    }
}
