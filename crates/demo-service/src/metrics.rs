//! Request counters and a latency histogram, rendered in the Prometheus text exposition
//! format (version 0.0.4). Every series carries the service's `version` label.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, seconds.
pub const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`BUCKETS`]; the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    version: String,
    start_unix: f64,
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Empty metrics for a service of `version`, started at `start_unix` (seconds).
    pub fn new(version: impl Into<String>, start_unix: f64) -> Self {
        Metrics {
            version: version.into(),
            start_unix,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records one request to `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.lock();
        *inner
            .requests
            .entry((route.to_string(), status))
            .or_insert(0) += 1;
        let h = inner.latency.entry(route.to_string()).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len() + 1];
        }
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        h.counts[slot] += 1;
        h.sum += secs;
        h.count += 1;
    }

    /// The metrics in the Prometheus text format.
    ///
    /// ```
    /// let m = demo_service::metrics::Metrics::new("1.0.0", 0.0);
    /// m.observe("/", 200, std::time::Duration::from_millis(3));
    /// let text = m.render();
    /// assert!(text.contains("http_requests_total{route=\"/\",status=\"200\",version=\"1.0.0\"} 1\n"));
    /// ```
    pub fn render(&self) -> String {
        let inner = self.lock().clone();
        let v = escape(&self.version);
        let mut out = String::new();
        out.push_str(
            "# HELP http_requests_total Application requests handled, by route and status code.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",status=\"{status}\",version=\"{v}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Application request latency, by route.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let r = escape(route);
            let mut cumulative = 0u64;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += c;
                let le = match BUCKETS.get(i) {
                    Some(b) => format!("{b}"),
                    None => "+Inf".to_string(),
                };
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{r}\",version=\"{v}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{r}\",version=\"{v}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{r}\",version=\"{v}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP demo_info The running demo service's version (always 1).\n");
        out.push_str("# TYPE demo_info gauge\n");
        let _ = writeln!(out, "demo_info{{version=\"{v}\"}} 1");
        out.push_str("# HELP process_start_time_seconds Start time of the process since the Unix epoch, seconds.\n");
        out.push_str("# TYPE process_start_time_seconds gauge\n");
        let _ = writeln!(out, "process_start_time_seconds {}", self.start_unix);
        out
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_count() {
        let m = Metrics::new("2.0.0", 1.5);
        for ms in [1, 7, 30, 300, 20_000] {
            m.observe("/api/items", 200, Duration::from_millis(ms));
        }
        let text = m.render();
        let bucket = |le: &str| {
            let prefix = format!(
                "http_request_duration_seconds_bucket{{route=\"/api/items\",version=\"2.0.0\",le=\"{le}\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(bucket("0.005"), 1);
        assert_eq!(bucket("0.01"), 2);
        assert_eq!(bucket("0.05"), 3);
        assert_eq!(bucket("0.5"), 4);
        assert_eq!(bucket("10"), 4);
        assert_eq!(bucket("+Inf"), 5);
        assert!(text.contains(
            "http_request_duration_seconds_count{route=\"/api/items\",version=\"2.0.0\"} 5\n"
        ));
        assert!(text.contains("process_start_time_seconds 1.5\n"));
    }

    #[test]
    fn counts_by_route_and_status() {
        let m = Metrics::new("1.0.0", 0.0);
        m.observe("/", 200, Duration::ZERO);
        m.observe("/", 200, Duration::ZERO);
        m.observe("/", 500, Duration::ZERO);
        let text = m.render();
        assert!(
            text.contains("http_requests_total{route=\"/\",status=\"200\",version=\"1.0.0\"} 2\n")
        );
        assert!(
            text.contains("http_requests_total{route=\"/\",status=\"500\",version=\"1.0.0\"} 1\n")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new("a\"b\\c\nd", 0.0);
        assert!(m
            .render()
            .contains("demo_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"));
    }
}
