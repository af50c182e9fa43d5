//! HAProxy names and paths (issue 9, item 14): the runtime API reads one command per line and
//! `;` chains commands, and haproxy.cfg is line- and word-based, so a backend or server name
//! with `;`, a space or a line break, or a path with a line break, must never reach either.
//! No HAProxy needed: a fake admin socket records what would have been sent.
#![allow(clippy::unwrap_used)]

use shipcore::driver::ErrorKind;
use shipcore_driver_compose::router::{
    is_haproxy_name, HaproxyProcess, HaproxyRouter, HaproxySpec, Router,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADER: &str = "1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
";

/// A fake admin socket: answers `show servers state` with `state`, records every line.
async fn fake_admin(dir: &Path, state: String) -> (PathBuf, Arc<Mutex<Vec<String>>>) {
    let path = dir.join("admin.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while conn.read(&mut byte).await.unwrap_or(0) == 1 && byte[0] != b'\n' {
                buf.push(byte[0]);
            }
            let cmd = String::from_utf8_lossy(&buf).to_string();
            log.lock().unwrap().push(cmd.clone());
            let answer = if cmd.starts_with("show servers state") {
                state.clone()
            } else if cmd.starts_with("show stat") {
                "# pxname,svname,scur\n".to_string()
            } else {
                "\n".to_string()
            };
            conn.write_all(answer.as_bytes()).await.ok();
        }
    });
    (path, seen)
}

#[test]
fn haproxy_names_are_letters_digits_and_few_marks() {
    for ok in ["app", "web-v2", "be_1.2:x", &"a".repeat(64)] {
        assert!(is_haproxy_name(ok), "{ok:?}");
    }
    for bad in [
        "",
        "app;shutdown frontend fe",
        "app\nshutdown frontend fe",
        "a b",
        "a/b",
        "é",
        &"a".repeat(65),
    ] {
        assert!(!is_haproxy_name(bad), "{bad:?}");
    }
    let e = HaproxyRouter::try_new("/x.sock", "app; disable server app/s0").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.starts_with("backend: "), "{e}");
    assert!(HaproxyRouter::try_new("/x.sock", "app").is_ok());
}

#[tokio::test]
async fn a_backend_with_a_command_separator_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state =
        format!("{HEADER}3 app 1 s0 127.0.0.1 2 0 100 0 2 15 3 2 6 0 0 0 - 35009 - 0 0 - - 0\n");
    let (socket, seen) = fake_admin(dir.path(), state).await;
    for backend in [
        "app; shutdown sessions server app/s0",
        "app\nshutdown frontend fe",
    ] {
        let router = HaproxyRouter::new(&socket, backend);
        let e = router.status().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert!(e.message.starts_with("backend: "), "{e}");
        let e = router
            .drain(&["127.0.0.1:35009".parse().unwrap()], Default::default())
            .await
            .unwrap_err();
        assert!(e.message.starts_with("backend: "), "{e}");
        let e = router.apply(&[]).await.unwrap_err();
        assert!(e.message.starts_with("backend: "), "{e}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn a_server_name_that_could_split_a_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A (forged) answer naming a server `s0;shutdown`.
    let state = format!(
        "{HEADER}3 app 1 s0;shutdown 127.0.0.1 2 0 100 0 2 15 3 2 6 0 0 0 - 35009 - 0 0 - - 0\n"
    );
    let (socket, seen) = fake_admin(dir.path(), state).await;
    let router = HaproxyRouter::new(&socket, "app");
    let e = router.apply(&[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("server") && e.message.contains("s0;shutdown"),
        "{e}"
    );
    let sent = seen.lock().unwrap().clone();
    assert!(sent.iter().all(|c| c.starts_with("show ")), "{sent:?}");
}

#[tokio::test]
async fn a_command_with_a_line_break_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_admin(dir.path(), HEADER.to_string()).await;
    let router = HaproxyRouter::new(&socket, "app");
    let e = router
        .command("show info\nshutdown frontend fe")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("line break"), "{e}");
    assert!(seen.lock().unwrap().is_empty());
    router.command("show info").await.unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), ["show info"]);
}

#[tokio::test]
async fn the_config_helper_refuses_names_and_paths_that_would_rewrite_haproxy_cfg() {
    let listen = ([127, 0, 0, 1], 18080).into();
    let good = HaproxySpec::new("/tmp/h");
    assert!(good.config(listen).is_ok());
    let cases: Vec<(&str, HaproxySpec)> = vec![
        ("backend", {
            let mut s = good.clone();
            s.backend = "app\n    server evil 10.0.0.1:80".into();
            s
        }),
        ("backend", {
            let mut s = good.clone();
            s.backend = "app evil".into();
            s
        }),
        ("health_path", {
            let mut s = good.clone();
            s.health_path = Some("/health\n    server evil 10.0.0.1:80".into());
            s
        }),
        ("health_path", {
            let mut s = good.clone();
            s.health_path = Some("/health # x".into());
            s
        }),
        ("health_path", {
            let mut s = good.clone();
            s.health_path = Some("health".into());
            s
        }),
        ("dir", {
            let mut s = good.clone();
            s.dir = "/tmp/h level admin\n    stats socket /tmp/x".into();
            s
        }),
        ("dir", {
            let mut s = good.clone();
            s.dir = format!("/tmp/{}", "d".repeat(120)).into();
            s
        }),
        ("slots", {
            let mut s = good.clone();
            s.slots = 0;
            s
        }),
        ("slots", {
            let mut s = good.clone();
            s.slots = 1_000_000_000;
            s
        }),
    ];
    for (field, spec) in cases {
        let e = spec.config(listen).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        // Starting it fails the same way, before anything is written.
        let e = HaproxyProcess::start(spec.clone()).await.unwrap_err();
        assert!(e.contains(field), "{e}");
    }
    let mut ok = good.clone();
    ok.health_path = Some("/health?deep=1&x=a:b".into());
    ok.backend = "web_v2.1".into();
    let cfg = ok.config(listen).unwrap();
    assert!(
        cfg.contains("option httpchk GET /health?deep=1&x=a:b\n"),
        "{cfg}"
    );
    assert!(cfg.contains("backend web_v2.1\n"), "{cfg}");
}
