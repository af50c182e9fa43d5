//! Generated alerting rules through Prometheus' own tool: `promtool check rules` accepts the
//! file (and rejects broken PromQL), and `promtool test rules` shows the warning and critical
//! alerts firing only after their `for` durations. Needs `promtool` (Debian package
//! `prometheus`; scripts/e2e/prometheus.sh install): with SHIPCORE_E2E=1 a missing promtool
//! fails the test, otherwise it is skipped with a message.
#![allow(clippy::unwrap_used)]

use metrics_prom::{render_rules, AlertThreshold, RuleGroup, StandardQueries};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn promtool() -> Option<String> {
    let bin = std::env::var("SHIPCORE_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    match Command::new(&bin).arg("--version").output() {
        Ok(o) if o.status.success() => Some(bin),
        _ if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") => panic!(
            "SHIPCORE_E2E=1 but promtool ({bin}) is missing: run scripts/e2e/prometheus.sh install \
             (apt-get install -y prometheus)"
        ),
        _ => {
            eprintln!(
                "skipped: promtool not found (install with scripts/e2e/prometheus.sh install; \
                 SHIPCORE_E2E=1 makes this a failure)"
            );
            None
        }
    }
}

fn run(bin: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn web_rules() -> String {
    let q = StandardQueries::new(r#"job="web",revision="{{revision}}""#)
        .with_window(Duration::from_secs(120));
    let vars = [("revision".to_string(), "web-v2".to_string())].into();
    let render = |t: &str| shipcore::metrics::render_template(t, &vars).unwrap();
    let errors = AlertThreshold::new("WebHighErrorRate", render(&q.error_rate()))
        .warning(0.01)
        .critical(0.05)
        .for_duration(Duration::from_secs(120))
        .label("team", "web")
        .annotation("runbook", "https://runbooks.example/web#errors \"quoted\"");
    let latency = AlertThreshold::new("WebSlowP95", render(&q.latency_p95()))
        .critical(0.5)
        .for_duration(Duration::from_secs(300));
    let traffic = AlertThreshold::new("WebNoTraffic", render(&q.request_rate()))
        .below()
        .critical(0.1);
    let mut g = RuleGroup::new("web-rollout", vec![errors, latency, traffic]);
    g.interval = Some(Duration::from_secs(15));
    render_rules(&[g]).unwrap()
}

#[test]
fn promtool_accepts_the_generated_rules() {
    let Some(bin) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), web_rules()).unwrap();
    let (ok, out) = run(&bin, &["check", "rules", "rules.yml"], dir.path());
    assert!(ok, "promtool check rules failed:\n{out}\n{}", web_rules());
    assert!(out.contains("SUCCESS: 4 rules found"), "{out}");
}

#[test]
fn promtool_rejects_broken_promql_so_the_check_is_real() {
    let Some(bin) = promtool() else { return };
    let broken = AlertThreshold::new("Broken", "sum(rate(x[1m])").critical(1.0);
    let yaml = render_rules(&[RuleGroup::new("g", vec![broken])]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), yaml).unwrap();
    let (ok, out) = run(&bin, &["check", "rules", "rules.yml"], dir.path());
    assert!(!ok, "promtool accepted broken PromQL:\n{out}");
    assert!(out.contains("parse error"), "{out}");
}

#[test]
fn alerts_fire_at_their_levels_after_for() {
    let Some(bin) = promtool() else { return };
    let t = AlertThreshold::new("HighErrorRatio", r#"error_ratio{revision="v2"}"#)
        .warning(0.01)
        .critical(0.05)
        .for_duration(Duration::from_secs(120));
    let mut t = t;
    t.warning_for = Some(Duration::from_secs(60));
    let yaml = render_rules(&[RuleGroup::new("g", vec![t])]).unwrap();
    // Minute by minute: 0, 0.02 (warning breached), 0.02, then 0.1 (critical breached).
    // Warning (for 1m) fires from 2m; critical (for 2m) from 5m.
    let alert = |sev: &str, value: &str, level: &str, lasting: &str| {
        format!(
            "          - exp_labels: {{severity: {sev}, revision: v2}}\n            exp_annotations:\n              summary: \"HighErrorRatio: {value} is above the {sev} level {level} for {lasting}\"\n"
        )
    };
    let at = |t: &str, alerts: &[String]| {
        let body = if alerts.is_empty() {
            "        exp_alerts: []\n".to_string()
        } else {
            format!("        exp_alerts:\n{}", alerts.concat())
        };
        format!("      - eval_time: {t}\n        alertname: HighErrorRatio\n{body}")
    };
    let warn = |v: &str| alert("warning", v, "0.01", "1m");
    let crit = |v: &str| alert("critical", v, "0.05", "2m");
    let tests = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'error_ratio{{revision=\"v2\"}}'\n        values: '0 0.02 0.02 0.1 0.1 0.1 0.1'\n    alert_rule_test:\n{}{}{}{}",
        at("1m", &[]),
        at("2m", &[warn("0.02")]),
        at("4m", &[warn("0.1")]),
        at("5m", &[warn("0.1"), crit("0.1")]),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &yaml).unwrap();
    std::fs::write(dir.path().join("tests.yml"), &tests).unwrap();
    let (ok, out) = run(&bin, &["test", "rules", "tests.yml"], dir.path());
    assert!(
        ok,
        "promtool test rules failed:\n{out}\nrules:\n{yaml}\ntests:\n{tests}"
    );
    assert!(out.contains("SUCCESS"), "{out}");
}
