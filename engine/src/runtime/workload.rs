//! The last step in a container's process before its command runs: libcontainer's executor, wrapped so the
//! command starts as Docker's do. berth's processes are Rust programs, which ignore SIGPIPE; an ignored
//! signal survives exec, so without a reset `yes | head` in a container would spin forever on EPIPE. Every
//! signal gets its default action back and none stays blocked.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use super::seccomp_bpf::Seccomp;

/// Runs the container's command with default signal dispositions, after loading `seccomp` when given.
#[derive(Clone, Default)]
pub(crate) struct Workload {
    /// The container's seccomp filter, compiled ahead and loaded here, as the last step before the exec. A
    /// container's init gets it from `prepare` (libcontainer is given no profile); an exec'd process too
    /// (libcontainer's tenant builder drops the container's profile; runc applies it to exec'd processes,
    /// and so does berth, with no_new_privs, so setuid binaries do not raise privileges inside an exec).
    pub seccomp: Option<Seccomp>,
    /// The write end of an [`ExecReport`], for the process that started this one to learn why an exec failed.
    pub report: Option<RawFd>,
}

impl Executor for Workload {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset_signals();
        if let Some(seccomp) = &self.seccomp {
            confine(seccomp)
                .map_err(|e| ExecutorError::Other(format!("loading the container's seccomp profile: {e}")))?;
        }
        exec_command(spec, self.report)
    }

    /// Only that there is a command: whether it can run is the exec's own answer (its errno, reported through
    /// the [`ExecReport`] pipe), so the exit code comes from the kind of failure, never from matching a
    /// message, and the lookup in the container's PATH is the kernel's and libc's, not a second copy.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        match spec.process().as_ref().and_then(|p| p.args().as_ref()) {
            Some(args) if !args.is_empty() => Ok(()),
            _ => Err(ExecutorValidationError::ArgValidationError("the container has no command to run".into())),
        }
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        DefaultExecutor {}.setup_envs(envs)
    }
}

/// Loads the filter; then gives up the CAP_SYS_ADMIN the init kept only to load it.
fn confine(seccomp: &Seccomp) -> std::io::Result<()> {
    if seccomp.no_new_privs {
        rustix::thread::set_no_new_privs(true)?;
    }
    seccomp.filter.load()?;
    if seccomp.drop_admin {
        use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
        let mut sets = capabilities(None)?;
        sets.effective.remove(CapabilitySet::SYS_ADMIN);
        sets.permitted.remove(CapabilitySet::SYS_ADMIN);
        set_capabilities(None, sets)?;
    }
    Ok(())
}

/// execvp of the spec's command, as libcontainer's default executor does. A failure here comes after the
/// container was started, where libcontainer reports at most "failed to execute workload": the cause goes
/// to the process's stderr (the container's log) and, when there is one, to the [`ExecReport`] pipe.
fn exec_command(spec: &Spec, report: Option<RawFd>) -> Result<(), ExecutorError> {
    let args = spec.process().as_ref().and_then(|p| p.args().as_ref()).filter(|a| !a.is_empty());
    let args = args.ok_or(ExecutorError::InvalidArg)?;
    let c_args = args
        .iter()
        .map(|a| std::ffi::CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ExecutorError::InvalidArg)?;
    let mut argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // libc: execvp searches PATH as the OCI process expects; rustix has no exec outside its `runtime` module.
    // SAFETY: argv is a null-terminated array of pointers into c_args, which outlives the call.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let message = exec_failure_message(&args[0], errno);
    let line = format!("berth: {message}\n");
    // SAFETY: write(2) of buffers that live across the calls; a failure leaves nothing else to do.
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
        if let Some(fd) = report {
            let record = format!("{errno}\n{message}");
            libc::write(fd, record.as_ptr().cast(), record.len());
        }
    }
    Err(ExecutorError::Execution(message.into()))
}

/// Docker's wording for a command that could not be run, with the cause spelled out where the errno alone
/// would puzzle.
fn exec_failure_message(executable: &str, errno: i32) -> String {
    let cause = match errno {
        libc::ENOENT if !executable.contains('/') => "executable file not found in $PATH".to_string(),
        libc::E2BIG => "its arguments and environment are too large for the kernel".to_string(),
        libc::ENOEXEC => "exec format error: not a program this kernel can run".to_string(),
        _ => std::io::Error::from_raw_os_error(errno).to_string().to_lowercase(),
    };
    let cause = cause.split(" (os error").next().unwrap_or_default().to_string();
    let hint = if executable.starts_with("/proc/self/") || executable.starts_with("/proc/thread-self/") {
        "; while a process starts, /proc/self is berth's own runtime, whose files are outside the container"
    } else {
        ""
    };
    format!("exec: {executable:?}: {cause}{hint}")
}

/// A close-on-exec pipe that tells whoever started a container process whether its exec happened: the
/// write end closes at a successful exec, and carries the errno and message of a failed one (written by
/// [`Workload`]). libcontainer returns from start before the exec, so without this a command that cannot
/// run would look like one that ran and exited 255.
pub(crate) struct ExecReport {
    reader: std::io::PipeReader,
    writer: Option<std::io::PipeWriter>,
}

/// Why a container's command did not run, with Docker's exit code (127 not found, 126 otherwise).
pub(crate) struct ExecFailure {
    pub message: String,
    pub exit_code: i32,
}

impl ExecReport {
    pub(crate) fn new() -> std::io::Result<ExecReport> {
        // std's pipe is close-on-exec at both ends.
        let (reader, writer) = std::io::pipe()?;
        Ok(ExecReport { reader, writer: Some(writer) })
    }

    /// The write end's number, valid in the processes libcontainer forks from this one.
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.writer.as_ref().map(|w| w.as_raw_fd())
    }

    /// Waits until the started process has exec'd (or died); its failure, if it could not exec. Call only
    /// once the process was started, or after starting it failed.
    pub(crate) fn outcome(mut self) -> Option<ExecFailure> {
        drop(self.writer.take());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut self.reader, &mut text).ok()?;
        let (errno, message) = text.split_once('\n')?;
        let exit_code = if errno.parse() == Ok(libc::ENOENT) { 127 } else { 126 };
        Some(ExecFailure { message: message.to_string(), exit_code })
    }
}

/// Refuses a command the kernel's execve would refuse with E2BIG (which would otherwise surface, if at all,
/// as a bare "Argument list too long" from inside the container): each argument or variable at most 32
/// pages, all of them with their pointers at most ARG_MAX (a quarter of the stack size limit, at most 6 MiB).
pub(crate) fn check_exec_size(id: &str, args: &[String], env: &[String]) -> Result<(), super::RuntimeError> {
    let page = rustix::param::page_size();
    // rustix has no ARG_MAX: it depends on this process's stack limit, which only sysconf computes.
    // SAFETY: sysconf reads constants of the running kernel and this process's stack limit.
    let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    let arg_max = if arg_max > 0 { (arg_max as usize).min(6 << 20) } else { 32 * page };
    match exec_size_problem(args, env, 32 * page, arg_max) {
        Some(reason) => Err(super::RuntimeError::ExecTooLarge { id: id.to_string(), reason }),
        None => Ok(()),
    }
}

/// Why `args` and `env` exceed `max_one` bytes for one string or `max_total` for all; None when they fit.
fn exec_size_problem(args: &[String], env: &[String], max_one: usize, max_total: usize) -> Option<String> {
    let mut total = 0;
    let named = args.iter().enumerate().map(|(i, a)| (format!("argument {i}"), a));
    let vars = env.iter().map(|e| (format!("variable {}", e.split_once('=').map_or(e.as_str(), |(k, _)| k)), e));
    for (what, text) in named.chain(vars) {
        let size = text.len() + 1;
        if size > max_one {
            return Some(format!("{what} has {size} bytes; the kernel takes at most {max_one} for one"));
        }
        total += size + std::mem::size_of::<usize>();
    }
    (total > max_total).then(|| format!("{total} bytes in all; the kernel takes at most {max_total}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_say_what_went_wrong() {
        assert_eq!(exec_failure_message("nope", libc::ENOENT), "exec: \"nope\": executable file not found in $PATH");
        assert_eq!(exec_failure_message("/bin/nope", libc::ENOENT), "exec: \"/bin/nope\": no such file or directory");
        assert_eq!(exec_failure_message("/etc/passwd", libc::EACCES), "exec: \"/etc/passwd\": permission denied");
        let big = exec_failure_message("sh", libc::E2BIG);
        assert!(big.contains("arguments and environment are too large"), "{big}");
        let own = exec_failure_message("/proc/self/exe", libc::ENOENT);
        assert!(own.contains("berth's own runtime"), "{own}");
    }

    #[test]
    fn a_report_without_a_failure_is_none() {
        let report = ExecReport::new().unwrap();
        assert!(report.fd().is_some());
        assert!(report.outcome().is_none());
        let report = ExecReport::new().unwrap();
        let mut copy = report.writer.as_ref().unwrap().try_clone().unwrap();
        std::io::Write::write_all(
            &mut copy,
            format!("{}\nexec: \"x\": no such file or directory", libc::ENOENT).as_bytes(),
        )
        .unwrap();
        drop(copy);
        let failure = report.outcome().unwrap();
        assert_eq!((failure.exit_code, failure.message.as_str()), (127, "exec: \"x\": no such file or directory"));
    }

    #[test]
    fn exec_sizes_over_the_kernels_limits_are_named() {
        let args = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
        assert_eq!(exec_size_problem(&args, &["A=1".into()], 100, 1000), None);
        let big = format!("BIG={}", "x".repeat(200));
        let one = exec_size_problem(&args, &[big], 100, 10_000).unwrap();
        assert!(one.contains("variable BIG has 205 bytes"), "{one}");
        let many: Vec<String> = (0..20).map(|i| format!("V{i}={}", "y".repeat(50))).collect();
        let all = exec_size_problem(&args, &many, 100, 1000).unwrap();
        assert!(all.contains("in all; the kernel takes at most 1000"), "{all}");
        assert!(check_exec_size("c", &args, &["PATH=/bin".into()]).is_ok());
        assert!(check_exec_size("c", &args, &[format!("X={}", "z".repeat(1 << 20))]).is_err());
    }
}
