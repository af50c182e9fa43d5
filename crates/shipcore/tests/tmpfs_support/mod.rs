//! A real, small tmpfs for disk-full tests: `mount -t tmpfs -o size=SIZE tmpfs DIR` (needs
//! root, as CI runs). Without root or `mount`, a test says so and skips; with
//! `SHIPCORE_E2E=1` that is a failure instead.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted (and its folder removed) when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`"64k"`); `None` (after printing why) when this machine
    /// cannot, unless `SHIPCORE_E2E=1`, which makes it a panic.
    pub fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(&mnt)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir, mnt }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") {
            panic!("{test}: SHIPCORE_E2E=1 but a {size} tmpfs could not be mounted (run as root): {why}");
        }
        eprintln!(
            "{test}: SKIPPED, a {size} tmpfs could not be mounted ({why}); run as root \
             (SHIPCORE_E2E=1 makes this a failure)"
        );
        None
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mnt
    }

    /// Fills the file system with `filler` until a write fails, leaving about `leave`
    /// bytes free, and returns the filler's path (remove it to free the space).
    pub fn fill_leaving(&self, leave: u64) -> PathBuf {
        let filler = self.mnt.join("filler");
        let total = fs_size(&self.mnt);
        let len = total.saturating_sub(leave) as usize;
        // A write that does not fit writes what fits: the filler takes the rest.
        let _ = std::fs::write(&filler, vec![b'.'; len]);
        filler
    }
}

/// Total bytes of the file system at `path`, from `df`.
fn fs_size(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=size", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1).unwrap().trim().parse().unwrap()
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a child that was killed may not be reaped yet): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        // `dir` (the mount point's parent) is removed after this, once unmounted.
    }
}
