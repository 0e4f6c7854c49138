//! podman with its storage in the test's own directory, for reading back what berth made or pushed.

use std::process::Command;

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// None (a visible skip; a failure under CI=true) when podman is not installed.
    pub fn new() -> Option<Podman> {
        let found = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "podman is missing (scripts/deps.sh installs it)");
            eprintln!("SKIPPED: podman is not installed");
            return None;
        }
        Some(Podman { dir: tempfile::Builder::new().prefix("bp-podman-").tempdir().expect("podman dir") })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            .args(args);
        cmd
    }

    /// Runs podman and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run podman");
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
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
