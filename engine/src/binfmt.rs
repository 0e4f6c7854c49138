//! QEMU user emulation through binfmt_misc, for RUN steps of foreign platforms. berth registers its own
//! handlers (`berth-qemu-ARCH`) only when asked (`berth system binfmt install`), never silently; each
//! uses the fix-binary flag (`F`), so the kernel opens the interpreter at registration and a container's
//! RUN step finds it whatever its root holds.
//!
//! A registration is `:NAME:M::MAGIC:MASK:INTERPRETER:FLAGS` written to `register`; the ELF magic and
//! mask per architecture are those of QEMU's `qemu-binfmt-conf.sh`.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the kernel's binfmt_misc filesystem is mounted.
pub const MOUNT: &str = "/proc/sys/fs/binfmt_misc";
/// berth's handlers are named so: `berth-qemu-aarch64`.
pub const PREFIX: &str = "berth-qemu-";

#[derive(Debug, Error)]
pub enum BinfmtError {
    #[error("binfmt_misc is not mounted at {MOUNT} (mount it with `mount -t binfmt_misc binfmt_misc {MOUNT}`)")]
    NotMounted,
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("no qemu-*-static emulator found in {dir}: install qemu-user-static")]
    NoEmulators { dir: String },
    #[error("unknown emulator {name:?}: berth registers {}", known())]
    Unknown { name: String },
}

/// One architecture QEMU emulates: its QEMU name, the OCI name, and the ELF header it recognises.
struct Arch {
    qemu: &'static str,
    oci: &'static str,
    magic: &'static str,
    mask: &'static str,
}

const ELF64_MASK: &str = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
const ARCHES: &[Arch] = &[
    Arch {
        qemu: "aarch64",
        oci: "arm64",
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        mask: ELF64_MASK,
    },
    Arch {
        qemu: "arm",
        oci: "arm",
        magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
        mask: ELF64_MASK,
    },
    Arch {
        qemu: "x86_64",
        oci: "amd64",
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        mask: ELF64_MASK,
    },
    Arch {
        qemu: "riscv64",
        oci: "riscv64",
        magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00",
        mask: ELF64_MASK,
    },
    Arch {
        qemu: "s390x",
        oci: "s390x",
        magic: r"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
        mask: r"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff",
    },
];

fn known() -> String {
    ARCHES.iter().map(|a| a.qemu).collect::<Vec<_>>().join(", ")
}

/// QEMU's name for an OCI architecture (`arm64` → `aarch64`).
pub fn qemu_name(oci_arch: &str) -> Option<&'static str> {
    ARCHES.iter().find(|a| a.oci == oci_arch).map(|a| a.qemu)
}

/// A registered handler as `binfmt_misc/NAME` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub name: String,
    pub enabled: bool,
    pub interpreter: String,
    pub flags: String,
}

impl Handler {
    /// Whether the handler runs QEMU's `qemu` (`aarch64`) emulator with the fix-binary flag: berth's own,
    /// or Debian's (`qemu-aarch64` through `/usr/libexec/qemu-binfmt/aarch64-binfmt-P`).
    fn emulates(&self, qemu: &str) -> bool {
        let file = Path::new(&self.interpreter).file_name().and_then(|f| f.to_str()).unwrap_or_default();
        let runs_qemu = file == format!("qemu-{qemu}-static")
            || file == format!("qemu-{qemu}")
            || file.starts_with(&format!("{qemu}-binfmt"));
        self.enabled && self.flags.contains('F') && runs_qemu
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BinfmtError {
    let path = path.to_path_buf();
    move |source| BinfmtError::Io { action, path, source }
}

fn mounted(mount: &Path) -> Result<(), BinfmtError> {
    match mount.join("register").exists() {
        true => Ok(()),
        false => Err(BinfmtError::NotMounted),
    }
}

/// Every handler registered in the binfmt_misc mounted at `mount`.
pub fn handlers_in(mount: &Path) -> Result<Vec<Handler>, BinfmtError> {
    mounted(mount)?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(mount).map_err(io("read", mount))? {
        let entry = entry.map_err(io("read", mount))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "register" || name == "status" {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(io("read", &entry.path()))?;
        out.push(parse_handler(&name, &text));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn parse_handler(name: &str, text: &str) -> Handler {
    let field =
        |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string()).unwrap_or_default();
    Handler {
        name: name.to_string(),
        enabled: text.lines().next().is_some_and(|l| l.trim() == "enabled"),
        interpreter: field("interpreter "),
        flags: field("flags:"),
    }
}

/// Whether binfmt_misc runs `qemu` (`aarch64`) binaries through QEMU with the fix-binary flag.
pub fn emulated(qemu: &str) -> Result<bool, BinfmtError> {
    Ok(handlers_in(Path::new(MOUNT))?.iter().any(|h| h.emulates(qemu)))
}

/// Registers `name` for `qemu`'s binaries with `interpreter`, fix-binary. A handler of that name is
/// replaced.
pub fn register_in(mount: &Path, name: &str, qemu: &str, interpreter: &Path) -> Result<(), BinfmtError> {
    mounted(mount)?;
    let arch = ARCHES.iter().find(|a| a.qemu == qemu).ok_or_else(|| BinfmtError::Unknown { name: qemu.into() })?;
    if mount.join(name).exists() {
        unregister_in(mount, name)?;
    }
    let line = format!(":{name}:M::{}:{}:{}:F", arch.magic, arch.mask, interpreter.display());
    let register = mount.join("register");
    std::fs::write(&register, line).map_err(io("write", &register))
}

/// Removes the handler `name`; false when there was none.
pub fn unregister_in(mount: &Path, name: &str) -> Result<bool, BinfmtError> {
    mounted(mount)?;
    let path = mount.join(name);
    if !path.exists() {
        return Ok(false);
    }
    std::fs::write(&path, "-1").map_err(io("unregister", &path))?;
    Ok(true)
}

/// `system binfmt install`: a `berth-qemu-ARCH` handler for each `qemu-ARCH-static` in `dir` except
/// the host's own architecture. Returns the handlers registered.
pub fn install(dir: &Path) -> Result<Vec<String>, BinfmtError> {
    let host = crate::registry::Platform::host().architecture;
    let mut done = Vec::new();
    for arch in ARCHES.iter().filter(|a| a.oci != host) {
        let interpreter = dir.join(format!("qemu-{}-static", arch.qemu));
        if !interpreter.is_file() {
            continue;
        }
        let name = format!("{PREFIX}{}", arch.qemu);
        register_in(Path::new(MOUNT), &name, arch.qemu, &interpreter)?;
        done.push(name);
    }
    if done.is_empty() {
        return Err(BinfmtError::NoEmulators { dir: dir.display().to_string() });
    }
    Ok(done)
}

/// `system binfmt uninstall`: removes every handler berth registered. Returns their names.
pub fn uninstall() -> Result<Vec<String>, BinfmtError> {
    let mut removed = Vec::new();
    for handler in handlers_in(Path::new(MOUNT))?.into_iter().filter(|h| h.name.starts_with(PREFIX)) {
        if unregister_in(Path::new(MOUNT), &handler.name)? {
            removed.push(handler.name);
        }
    }
    Ok(removed)
}

/// `system binfmt ls`: every registered handler.
pub fn list() -> Result<Vec<Handler>, BinfmtError> {
    handlers_in(Path::new(MOUNT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_files_parse_and_only_fix_binary_qemu_counts() {
        let text =
            "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f454c46\nmask ffffff\n";
        let h = parse_handler("berth-qemu-aarch64", text);
        assert!(h.enabled && h.flags == "F" && h.interpreter == "/usr/bin/qemu-aarch64-static", "{h:?}");
        assert!(h.emulates("aarch64") && !h.emulates("arm"));
        let lazy = parse_handler("qemu-aarch64", &text.replace("flags: F", "flags: "));
        assert!(!lazy.emulates("aarch64"), "without F the interpreter is looked up inside the container");
        let debian = text.replace("/usr/bin/qemu-aarch64-static", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
        assert!(parse_handler("qemu-aarch64", &debian.replace("flags: F", "flags: OPF")).emulates("aarch64"));
        let off = parse_handler("qemu-aarch64", &text.replace("enabled", "disabled"));
        assert!(!off.emulates("aarch64"));
        assert_eq!(qemu_name("arm64"), Some("aarch64"));
        assert_eq!(qemu_name("mips"), None);
    }
}
