//! The visual report: one self-contained HTML page per rollout (a timeline chart, the steps,
//! the comparison table, the record, the runbook link) and a history page with the four
//! DORA keys. Both are `String`s: inline CSS and inline SVG, no JavaScript, nothing fetched,
//! so a page works offline and as a CI artefact.
//!
//! - [`render_report`]: one rollout, from its record and event log (the ship report's
//!   inputs). The chart's data is [`Timeline`] (what is plotted where; gaps for missing
//!   data); its SVG has stable ids and classes (`weight-<revision>`, `threshold-critical`,
//!   `marker-rollback`, …) that tests and browsers can find.
//! - [`render_history`]: many records ([`RecordStore::all`](super::RecordStore::all)),
//!   with [`Dora`] figures per service and overall, and a row per deployment linking to its
//!   report.
//!
//! **Why hand-written SVG, not plotters.** The chart is a few step lines, points, threshold
//! lines and markers on one shared time axis. Hand-written SVG gives each element a stable id
//! and class, a `<title>` tooltip and ARIA text, which plotters' SVG backend does not (it
//! emits anonymous shapes), and it adds no dependency, so there is no cargo feature. The
//! drawing is checked by structural tests (counts of series, points, markers, threshold
//! lines by class) and, in CI, in a real browser (`scripts/ci/e2e-browser.sh`).
//!
//! **Safety.** Every text is HTML-escaped ([`escape`]); free text (reasons, messages,
//! actions, links) also goes through [`scrub`], which applies the ship report's redaction
//! ([`redact::url`](crate::redact::url): no userinfo, query string or fragment of a URL)
//! and bounds endpoint text ([`redact::endpoint_text`](crate::redact::endpoint_text)).
//!
//! **Palette.** Okabe–Ito (colour-blind safe); lines also differ by dash pattern and
//! markers by shape, so nothing is told by colour alone. Print CSS keeps the chart and
//! tables on white paper.

mod dora;
mod history_page;
mod page;
mod svg;
mod timeline;

pub use dora::{Dora, DoraFigures};
pub use history_page::{render_history, HistoryOptions};
pub use page::{render_report, ReportOptions};
pub use svg::timeline_svg;
pub use timeline::{
    BadSide, Gap, Marker, MarkerKind, MetricSeries, ReplicaSeries, Sample, StepPoint, Timeline,
    ValidatorLane, WeightSeries,
};

use std::borrow::Cow;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe in element text and in
/// quoted attribute values.
///
/// ```
/// use shipcore::record::html::escape;
/// assert_eq!(escape(r#"<b class="x">&'"#), "&lt;b class=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Free text made safe to show, before escaping: every URL in it (a word containing `://`)
/// loses its userinfo, query string and fragment ([`redact::url`](crate::redact::url)),
/// and the text is cut to [`MAX_ENDPOINT_TEXT`](crate::redact::MAX_ENDPOINT_TEXT) bytes.
///
/// ```
/// use shipcore::record::html::scrub;
/// assert_eq!(
///     scrub("gate said no: https://ci:hunter2@gate.invalid/ok?token=abc (503)"),
///     "gate said no: https://gate.invalid/ok (503)"
/// );
/// ```
pub fn scrub(text: &str) -> String {
    crate::redact::endpoint_text(&scrub_urls(text)).into_owned()
}

/// `text` with every URL in it redacted as [`scrub`] does, not cut.
pub(crate) fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // After the delimiter, which may be several bytes long (a no-break space).
        let start = rest[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | '"' | '\'' | '<' | '['))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ']'))
            .map_or(rest.len(), |p| i + p);
        out.push_str(&rest[..start]);
        out.push_str(&crate::redact::url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// [`escape`] of [`scrub`]: how free text reaches a page.
pub(crate) fn text(s: &str) -> String {
    escape(&scrub(s)).into_owned()
}

/// A string made into an id fragment: ASCII letters and digits kept (lowercased), anything
/// else `-`.
pub(crate) fn slug(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}

/// The page's shared stylesheet: Okabe–Ito colours, readable tables, print rules.
pub(crate) const CSS: &str = r#"
:root { --fg:#111; --muted:#555; --line:#ccc; --ok:#009E73; --bad:#D55E00; --warn:#E69F00; --info:#0072B2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--fg); background: #fff; margin: 0 auto; padding: 16px 24px 40px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.outcome { display: inline-block; font-weight: 700; padding: 2px 10px; border-radius: 4px; border: 2px solid; }
.outcome.good { color: #00684a; border-color: var(--ok); }
.outcome.bad { color: #9a3b00; border-color: var(--bad); }
.outcome.neutral { color: #004f80; border-color: var(--info); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fail { color: #9a3b00; font-weight: 600; }
.pass { color: #00684a; }
.muted { color: var(--muted); }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 12px; }
svg.timeline { width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
svg text { font: 11px system-ui, sans-serif; fill: #222; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.swatch { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 4px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  a { color: inherit; text-decoration: none; }
  a[href]::after { content: " (" attr(href) ")"; font-size: 9px; color: #555; }
  svg.timeline { border: none; }
  h2 { break-after: avoid; }
  table, figure { break-inside: avoid; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_in_free_text_is_redacted_whatever_surrounds_it() {
        assert_eq!(
            scrub("a\u{a0}https://u:p@h.invalid/x?t=1 and (http://h2.invalid/?k=2) end"),
            "a\u{a0}https://h.invalid/x and (http://h2.invalid/) end"
        );
        assert_eq!(scrub("é://weird?q=1"), "é://weird");
        assert_eq!(scrub("no urls here"), "no urls here");
        assert!(scrub(&"x".repeat(2000)).len() < 600, "bounded");
    }

    #[test]
    fn slugs_are_ascii_ids() {
        assert_eq!(slug("Web V2/α"), "web-v2--");
        assert_eq!(slug(""), "x");
    }
}
