//! Notifier configuration: parsing, defaults, and errors naming the field.
#![allow(clippy::unwrap_used)]

use shipcore::notify::Notification;
use shipcore::notify::NotifierConfig;

fn build_err(json: &str) -> (String, String) {
    match serde_json::from_str::<NotifierConfig>(json) {
        Ok(c) => {
            let e = c.build().err().expect("expected a build error");
            (e.0.field, e.0.problem)
        }
        Err(e) => ("<json>".into(), e.to_string()),
    }
}

#[tokio::test]
async fn configs_build_working_notifiers() {
    let c: NotifierConfig = serde_json::from_str(
        r#"{"type": "log", "templates": {"started": "go {{service}} {{version}}"}}"#,
    )
    .unwrap();
    let n = c.build().unwrap();
    let started = Notification::Started {
        rollout_id: "r1".into(),
        service: "web".into(),
        version: "1.0.0".into(),
    };
    n.notify(&started).await.unwrap();

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c: NotifierConfig = serde_json::from_value(serde_json::json!({
        "type": "webhook", "url": format!("http://{closed}/hook")
    }))
    .unwrap();
    match &c {
        NotifierConfig::Webhook {
            timeout, text_only, ..
        } => {
            assert_eq!(*timeout, std::time::Duration::from_secs(10));
            assert!(!text_only);
        }
        other => panic!("{other:?}"),
    }
    // Nobody listens there: the failure is an error value, not a panic.
    let e = c.build().unwrap().notify(&started).await.unwrap_err();
    assert!(e.0.contains("unreachable"), "{e}");
}

#[test]
fn errors_name_the_field() {
    let (f, p) = build_err(r#"{"type": "webhook", "url": "hooks.example/x"}"#);
    assert_eq!(f, "url");
    assert!(p.contains("not a URL"), "{p}");
    let (f, _) = build_err(r#"{"type": "webhook", "url": "http://x/y", "timeout": "0s"}"#);
    assert_eq!(f, "timeout");
    let (f, p) =
        build_err(r#"{"type": "log", "templates": {"rollback": "{{service}} rolled back"}}"#);
    assert_eq!(f, "templates.rollback");
    assert!(p.contains("unknown placeholder {{service}}"), "{p}");
    assert!(p.contains("available: {{rollout_id}}, {{reason}}"), "{p}");
    // The single-brace placeholders of earlier versions are refused at load, with the fix.
    let (f, p) = build_err(
        r#"{"type": "webhook", "url": "http://x/y", "templates": {"started": "go {service} {{version}}"}}"#,
    );
    assert_eq!(f, "templates.started");
    assert!(
        p.contains("{service} is the single-brace placeholder"),
        "{p}"
    );
    assert!(p.contains("write {{service}}"), "{p}");
    // A brace around a word that is no placeholder is text.
    let c: NotifierConfig =
        serde_json::from_str(r#"{"type": "log", "templates": {"rollback": "{ops} {{reason}}"}}"#)
            .unwrap();
    assert!(c.build().is_ok());
    let (_, p) = build_err(r#"{"type": "webhook", "url": "http://x/y", "channel": "ops"}"#);
    assert!(p.contains("unknown field `channel`"), "{p}");
    let (_, p) = build_err(r#"{"type": "email", "to": "ops@example.invalid"}"#);
    assert!(p.contains("unknown variant `email`"), "{p}");
}
