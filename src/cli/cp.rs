//! `berth cp CONTAINER:SRC DEST|-` and `berth cp SRC|- CONTAINER:DEST`, as Docker spells them. The engine
//! moves a tar stream in and out of the container; this side turns host paths into and out of tar.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use berth_engine::Engine;
use clap::Args;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin)
    pub(super) src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout)
    pub(super) dest: String,
}

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Container { name: String, path: String },
    Host(PathBuf),
    Stream,
}

/// Docker's rule: `-` is a stream; a path starting with `/` or `.` is local; otherwise `NAME:PATH` names a
/// container.
fn side(arg: &str) -> Side {
    if arg == "-" {
        return Side::Stream;
    }
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Host(PathBuf::from(arg));
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => {
            let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
            Side::Container { name: name.to_string(), path }
        }
        _ => Side::Host(PathBuf::from(arg)),
    }
}

pub fn run(engine: &Engine, args: CpArgs) -> anyhow::Result<ExitCode> {
    match (side(&args.src), side(&args.dest)) {
        (Side::Container { name, path }, Side::Stream) => {
            let mut out = std::io::stdout().lock();
            engine.copy_from_container(&name, &path, None, &mut out)?;
            out.flush()?;
        }
        (Side::Container { name, path }, Side::Host(dest)) => from_container(engine, &name, &path, &dest)?,
        (Side::Stream, Side::Container { name, path }) => {
            engine.copy_to_container(&name, &path, &mut std::io::stdin().lock())?;
        }
        (Side::Host(src), Side::Container { name, path }) => to_container(engine, &src, &name, &path)?,
        (Side::Container { .. }, Side::Container { .. }) => bail!("copying between containers is not supported"),
        _ => bail!("must specify at least one container source: CONTAINER:PATH"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Into an existing directory the source keeps its name (or, for `SRC/.`, its content goes there);
/// otherwise it becomes `dest`.
fn from_container(engine: &Engine, name: &str, path: &str, dest: &Path) -> anyhow::Result<()> {
    let (dir, rename) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("destination directory {} does not exist", parent.display());
        }
        let base = dest.file_name().with_context(|| format!("invalid destination {}", dest.display()))?;
        (parent.to_path_buf(), Some(base.to_string_lossy().into_owned()))
    };
    let (reader, mut writer) = std::io::pipe()?;
    std::thread::scope(|scope| {
        let unpack = scope.spawn(move || {
            let mut archive = tar::Archive::new(reader);
            archive.set_overwrite(true);
            archive.unpack(&dir).with_context(|| format!("unpacking into {}", dir.display()))
        });
        let copied = engine.copy_from_container(name, path, rename.as_deref(), &mut writer);
        drop(writer);
        let unpacked = unpack.join().map_err(|_| anyhow::anyhow!("the unpacking thread panicked"))?;
        copied?;
        unpacked
    })
}

/// `SRC/.` into an existing directory sends the content alone; anything else sends SRC itself, which the
/// engine names `dest` unless `dest` is an existing directory.
fn to_container(engine: &Engine, src: &Path, name: &str, path: &str) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(src).with_context(|| format!("could not find {}", src.display()))?;
    let contents = meta.is_dir()
        && src.as_os_str().as_encoded_bytes().ends_with(b"/.")
        && engine.container_path_is_dir(name, path)? == Some(true);
    let base = src
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_os_string()))
        .with_context(|| format!("invalid source {}", src.display()))?;
    let (mut reader, writer) = std::io::pipe()?;
    std::thread::scope(|scope| {
        let pack = scope.spawn(move || -> anyhow::Result<()> {
            let mut builder = tar::Builder::new(writer);
            builder.follow_symlinks(false);
            if contents {
                for entry in std::fs::read_dir(src)? {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        builder.append_dir_all(entry.file_name(), entry.path())?;
                    } else {
                        builder.append_path_with_name(entry.path(), entry.file_name())?;
                    }
                }
            } else if meta.is_dir() {
                builder.append_dir_all(&base, src)?;
            } else {
                builder.append_path_with_name(src, &base)?;
            }
            builder.finish()?;
            Ok(())
        });
        let copied = engine.copy_to_container(name, path, &mut reader);
        drop(reader);
        let packed = pack.join().map_err(|_| anyhow::anyhow!("the packing thread panicked"))?;
        copied?;
        packed.with_context(|| format!("reading {}", src.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_parse_like_docker() {
        assert_eq!(side("-"), Side::Stream);
        assert_eq!(side("web:/etc/hosts"), Side::Container { name: "web".into(), path: "/etc/hosts".into() });
        assert_eq!(side("web:tmp"), Side::Container { name: "web".into(), path: "/tmp".into() });
        assert_eq!(side("./a:b"), Side::Host(PathBuf::from("./a:b")));
        assert_eq!(side("/abs"), Side::Host(PathBuf::from("/abs")));
        assert_eq!(side("plain"), Side::Host(PathBuf::from("plain")));
    }
}
