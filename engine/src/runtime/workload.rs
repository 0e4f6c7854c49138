//! The last step in a container's process before its command runs: libcontainer's executor, wrapped so the
//! command starts as Docker's do. berth's processes are Rust programs, which ignore SIGPIPE; an ignored
//! signal survives exec, so without a reset `yes | head` in a container would spin forever on EPIPE. Every
//! signal gets its default action back and none stays blocked.

use std::collections::HashMap;

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};

/// Runs the container's command with default signal dispositions, after loading `seccomp` when given.
#[derive(Clone, Default)]
pub(crate) struct Workload {
    /// For exec'd processes only: libcontainer's tenant builder drops the container's seccomp profile;
    /// runc applies it to exec'd processes, and so does berth. The filter loads after capabilities are
    /// dropped, which the kernel allows only with no_new_privs, so exec'd processes run with no_new_privs
    /// set (setuid binaries do not raise privileges inside an exec). A container's init gets its profile
    /// from libcontainer itself.
    pub seccomp: Option<LinuxSeccomp>,
}

impl Executor for Workload {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset_signals();
        if let Some(seccomp) = &self.seccomp {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(ExecutorError::Other(format!("no_new_privs: {}", std::io::Error::last_os_error())));
            }
            libcontainer::seccomp::initialize_seccomp(seccomp)
                .map_err(|e| ExecutorError::Other(format!("loading the container's seccomp profile: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

/// Default action for every signal that can have one, and an empty signal mask. The raw syscall, because
/// glibc's `sigaction` refuses the two signals it keeps for itself (32 and 33), which may be ignored too.
fn reset_signals() {
    /// The kernel's `struct sigaction` (x86_64 layout, at least as large as any): all zero is SIG_DFL.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    for signal in 1..=64 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: rt_sigaction reads one struct of the kernel's layout and writes nothing (null old).
            unsafe {
                libc::syscall(libc::SYS_rt_sigaction, signal, &default, std::ptr::null_mut::<KernelSigaction>(), 8)
            };
        }
    }
    // SAFETY: an empty set, initialised by sigemptyset before use.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}
