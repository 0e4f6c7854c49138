//! podman with its storage in the test's own directory, for reading back what berth made or pushed.

use std::process::Command;

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// None (a visible skip; a failure under CI=true) when podman is not installed. `prefix` names its
    /// storage directory after the test's prefix.
    pub fn new(prefix: &str) -> Option<Podman> {
        let found = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "podman is missing (scripts/deps.sh installs it)");
            eprintln!("SKIPPED: podman is not installed");
            return None;
        }
        Some(Podman {
            dir: tempfile::Builder::new().prefix(&format!("{prefix}-podman-")).tempdir().expect("podman dir"),
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            // Its own libpod tmp dir too: another instance's `system reset` would clear the shared one.
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            // runc runs here without cgroup changes.
            .args(["--runtime", "runc"])
            .args(args);
        cmd
    }

    /// Runs podman and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.ok_bytes(args)).into_owned()
    }

    /// Runs podman and requires success; returns stdout as bytes (a tar, say).
    pub fn ok_bytes(&self, args: &[&str]) -> Vec<u8> {
        let out = self.command(args).output().expect("run podman");
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command(&["rm", "-af"]).output();
        let _ = self.command(&["system", "reset", "-f"]).output();
        let overlay = self.dir.path().join("root/overlay");
        let _ = Command::new("umount").arg("-R").arg(&overlay).output();
    }
}
