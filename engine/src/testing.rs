//! What berth's own tests share, the engine's unit tests and the integration tests alike (built with the
//! `testing` feature, which only test builds turn on).

/// Writes an executable script at `path` through a child process (`install -m 755`), never through a
/// descriptor of the test process: a test on another thread forking meanwhile would inherit that descriptor,
/// and executing the script would fail with "Text file busy".
pub fn install_script(path: &std::path::Path, content: &str) {
    let source = path.with_extension("source");
    std::fs::write(&source, content).unwrap();
    let installed = std::process::Command::new("install").arg("-m").arg("755").arg(&source).arg(path).status();
    assert!(installed.is_ok_and(|s| s.success()), "install {}", path.display());
}

/// Whether the test may do what needs root (namespaces, mounts, cgroups, device nodes, chown). Off root the
/// test is skipped and says so on stderr; under `CI=true` a skip is a failure, so CI cannot go green by
/// skipping.
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test} needs root, and CI=true forbids skipping it");
    eprintln!("SKIPPED {test}: needs root (namespaces, mounts, cgroups, device nodes, ownership)");
    false
}

/// Mounts the EROFS layer image `image` read-only at `target` (an existing directory), as the store's
/// own mounts are made (file-backed, no loop device), for a test to read what a layer holds.
pub fn mount_layer_image(image: &std::path::Path, target: &std::path::Path) -> std::io::Result<()> {
    let mnt = crate::layer::erofs::mount::mount_image(image)?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

static MONITOR_EXECUTABLE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// A test that opens an engine in its own process (the TUI's backend, say) starts containers with `berth`
/// (`CARGO_BIN_EXE_berth`) as their monitor: the test binary cannot be one.
pub fn use_monitor_executable(berth: std::path::PathBuf) {
    let _ = MONITOR_EXECUTABLE.set(berth);
}

pub(crate) fn monitor_executable() -> Option<std::path::PathBuf> {
    MONITOR_EXECUTABLE.get().cloned()
}

/// Asserts that `check` holds in a forked child: for what changes the whole process (a seccomp filter, a
/// mount namespace) and so must not happen in the test harness. The child leaves with `_exit`, a panic in
/// it counting as false, so none of the harness runs twice.
pub fn holds_in_child(check: impl FnOnce() -> bool) {
    // libc: rustix offers fork only to libc implementors. SAFETY: the child runs `check` and leaves with
    // _exit; glibc's malloc, which it may use, is reset for the child by fork.
    match unsafe { libc::fork() } {
        0 => {
            let held = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or(false);
            // SAFETY: ends the child without running the harness's destructors or atexit handlers.
            unsafe { libc::_exit(if held { 0 } else { 1 }) }
        }
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        child => {
            let mut status = 0;
            // SAFETY: waiting for the child forked above.
            assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the check failed: status {status:#x}");
        }
    }
}
