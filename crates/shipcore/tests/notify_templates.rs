//! Message templates and the log notifier (captured through a tracing subscriber).
#![allow(clippy::unwrap_used)]

use shipcore::notify::{LogNotifier, Templates};
use shipcore::notify::{Notification, Notifier};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[test]
fn default_templates_render_each_kind() {
    let t = Templates::default();
    let cases = [
        (
            Notification::Started {
                rollout_id: "r1".into(),
                service: "api".into(),
                version: "1.0.0".into(),
            },
            "Rollout r1 started: deploying api 1.0.0",
        ),
        (
            Notification::StepPassed {
                rollout_id: "r1".into(),
                step: 0,
                description: "scale candidate to 1".into(),
            },
            "Rollout r1: step 1 passed (scale candidate to 1)",
        ),
        (
            Notification::Finished {
                rollout_id: "r1".into(),
                phase: "succeeded".into(),
                reason: "all steps completed".into(),
            },
            "Rollout r1 finished: succeeded (all steps completed)",
        ),
        (
            Notification::RollbackStarted {
                rollout_id: "r1".into(),
                reason: "p95 latency 900ms > 500ms".into(),
            },
            "Rollout r1 is rolling back: p95 latency 900ms > 500ms",
        ),
    ];
    for (n, want) in cases {
        assert_eq!(t.render(&n), want);
    }
}

#[test]
fn values_are_not_expanded_twice_and_unknown_braces_stay() {
    let t = Templates {
        rollback: "{{reason}} / {{other}} / {{".into(),
        ..Templates::default()
    };
    let n = Notification::RollbackStarted {
        rollout_id: "r1".into(),
        reason: "saw {{rollout_id}}".into(),
    };
    assert_eq!(t.render(&n), "saw {{rollout_id}} / {{other}} / {{");
}

#[test]
fn validate_names_the_template_and_placeholder() {
    let t = Templates {
        finished: "{{rollout_id}} {{version}}".into(),
        ..Templates::default()
    };
    let e = t.validate().unwrap_err();
    assert_eq!(e.field, "finished");
    assert!(e.problem.contains("unknown placeholder {{version}}"), "{e}");
    assert!(
        e.to_string()
            .contains("available: {{rollout_id}}, {{phase}}, {{reason}}"),
        "{e}"
    );
    let e = serde_json::from_str::<Templates>(r#"{"start": "x"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `start`"), "{e}");
    // Omitted templates keep their defaults.
    let t: Templates = serde_json::from_str(r#"{"started": "go {{service}}"}"#).unwrap();
    assert_eq!(t.rollback, Templates::default().rollback);
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_notifier_writes_tracing_events_with_levels() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let n = LogNotifier::new();
    n.notify(&Notification::Started {
        rollout_id: "r1".into(),
        service: "api".into(),
        version: "1.0.0".into(),
    })
    .await
    .unwrap();
    n.notify(&Notification::RollbackStarted {
        rollout_id: "r1".into(),
        reason: "errors".into(),
    })
    .await
    .unwrap();
    n.notify(&Notification::Finished {
        rollout_id: "r1".into(),
        phase: "succeeded".into(),
        reason: "done".into(),
    })
    .await
    .unwrap();
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(" INFO shipcore::notify: Rollout r1 started: deploying api 1.0.0"),
        "{out}"
    );
    assert!(
        lines[0].contains("rollout=\"r1\"") && lines[0].contains("kind=\"started\""),
        "{out}"
    );
    assert!(
        lines[1].starts_with(" WARN shipcore::notify: Rollout r1 is rolling back: errors"),
        "{out}"
    );
    assert!(
        lines[2].starts_with(" INFO shipcore::notify: Rollout r1 finished: succeeded"),
        "{out}"
    );
}

/// Notification templates are the `{{name}}` language of queries and URLs (spaces inside
/// the braces allowed); the single-brace `{name}` of earlier versions is refused by
/// `validate`, naming the template and saying what to write.
#[test]
fn notifications_use_the_one_template_language() {
    let t = Templates {
        started: "{{ service }} {{version}} by {{rollout_id}}".into(),
        ..Templates::default()
    };
    t.validate().unwrap();
    let n = Notification::Started {
        rollout_id: "r1".into(),
        service: "api".into(),
        version: "1.0.0".into(),
    };
    assert_eq!(t.render(&n), "api 1.0.0 by r1");
    // The same text through the generic renderer.
    let vars = [
        ("service", "api"),
        ("version", "1.0.0"),
        ("rollout_id", "r1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        shipcore::metrics::render_template(&t.started, &vars).unwrap(),
        t.render(&n)
    );

    let old = Templates {
        rollback: "Rollout {rollout_id} is rolling back: {reason}".into(),
        ..Templates::default()
    };
    let e = old.validate().unwrap_err();
    assert_eq!(e.field, "rollback");
    assert!(e.problem.contains("write {{rollout_id}}"), "{e}");
}
