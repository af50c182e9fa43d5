//! Engine processes (`examples/pg_node`, built by `cargo test`) for the multi-process
//! tests: spawn, signal, read their logs, kill them when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const LEASE: Duration = Duration::from_millis(2000);

pub fn node_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    debug.join("examples").join("pg_node")
}

pub struct Node {
    pub name: String,
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl Node {
    pub fn spawn(url: &str, schema: &str, name: &str, dir: &std::path::Path) -> Node {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(node_binary())
            .env("SHIPCORE_PG_URL", url)
            .env("NODE_SCHEMA", schema)
            .env("NODE_NAME", name)
            .env("NODE_LEASE_MS", LEASE.as_millis().to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (built by `cargo test`)",
                    node_binary().display()
                )
            });
        Node {
            name: name.into(),
            child,
            log,
        }
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {}", self.name);
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shipcore-pg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
