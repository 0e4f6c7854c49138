//! Runs the `berth` binary as a user would, against a temporary state root, config file and Docker
//! credentials dir, and checks what it left on disk.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The default berth config for tests: small retry budget so fault tests finish quickly.
pub const DEFAULT_CONFIG: &str = "max_concurrent_downloads = 3\nregistry_max_attempts = 4\nregistry_read_timeout_secs = 30\nregistry_connect_timeout_secs = 10\n";

/// Words any clear "not authorized" message contains at least one of.
pub const AUTH_WORDS: &[&str] = &["unauthorized", "authentication", "denied", "login", "credentials"];

/// A sandbox dir holding berth's root (`root/`), its config (`config.toml`) and the Docker
/// credentials dir (`docker/`); everything is removed on drop.
pub struct Berth {
    sandbox: tempfile::TempDir,
    /// Where [`Berth::layer_view`] mounts layer images: outside the sandbox, whose every name the escape
    /// checks walk.
    views: tempfile::TempDir,
    mounted: std::cell::RefCell<Vec<PathBuf>>,
}

/// The layer stores every layer test runs under.
pub const STORES: [&str; 2] = ["dir", "erofs"];

impl Drop for Berth {
    fn drop(&mut self) {
        for view in self.mounted.borrow().iter() {
            let _ = rustix::mount::unmount(view, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth::with_config(DEFAULT_CONFIG)
    }

    /// A sandbox whose config.toml is exactly `config`.
    pub fn with_config(config: &str) -> Berth {
        let sandbox = tempfile::Builder::new().prefix("berth-test-").tempdir().expect("temp sandbox");
        fs::create_dir(sandbox.path().join("root")).expect("create root dir");
        fs::create_dir(sandbox.path().join("docker")).expect("create docker config dir");
        fs::write(sandbox.path().join("config.toml"), config).expect("write config.toml");
        let views = tempfile::Builder::new().prefix("berth-views-").tempdir().expect("temp views dir");
        Berth { sandbox, views, mounted: Default::default() }
    }

    /// A sandbox storing layers in `store` (`dir` or `erofs`), otherwise as [`Berth::new`].
    pub fn with_store(store: &str) -> Berth {
        Berth::with_config(&format!("{DEFAULT_CONFIG}layer_store = \"{store}\"\n"))
    }

    /// Where stored layer `chain` (64 hex) is: its directory or its EROFS image.
    pub fn layer_path(&self, chain: &str) -> PathBuf {
        let image = self.layers_dir().join(format!("{chain}.erofs"));
        if image.is_file() { image } else { self.layers_dir().join(chain) }
    }

    /// The tree of stored layer `chain` (64 hex): its directory, or its EROFS image mounted read-only.
    pub fn layer_view(&self, chain: &str) -> PathBuf {
        let dir = self.layers_dir().join(chain);
        if dir.is_dir() {
            return dir;
        }
        let target = self.views.path().join(chain);
        if !self.mounted.borrow().contains(&target) {
            fs::create_dir_all(&target).expect("create view mountpoint");
            let image = self.layers_dir().join(format!("{chain}.erofs"));
            berth_engine::testing::mount_layer_image(&image, &target)
                .unwrap_or_else(|e| panic!("mount layer image {}: {e}", image.display()));
            self.mounted.borrow_mut().push(target.clone());
        }
        target
    }

    pub fn sandbox(&self) -> &Path {
        self.sandbox.path()
    }

    pub fn root(&self) -> PathBuf {
        self.sandbox.path().join("root")
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root().join("layers")
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root().join("blobs/sha256")
    }

    pub fn docker_config_dir(&self) -> PathBuf {
        self.sandbox.path().join("docker")
    }

    /// Writes DOCKER_CONFIG/config.json with Basic credentials for `host`.
    pub fn write_docker_auth(&self, host: &str, user: &str, password: &str) {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({"auths": {host: {"auth": auth}}});
        fs::write(self.docker_config_dir().join("config.json"), config.to_string()).expect("write docker config.json");
    }

    /// `berth --root ROOT ARGS..` with BERTH_CONFIG and DOCKER_CONFIG pointing into the sandbox,
    /// stdin closed, stdout and stderr piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("--root")
            .arg(self.root())
            .args(args)
            .env("BERTH_CONFIG", self.sandbox.path().join("config.toml"))
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .env_remove("BERTH_ROOT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run berth");
        Run::new(args, out)
    }

    /// Runs berth with `stdin` written to its standard input (e.g. `login --password-stdin`).
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command(args).stdin(Stdio::piped()).spawn().expect("spawn berth");
        child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes()).expect("write berth stdin");
        Run::new(args, child.wait_with_output().expect("wait for berth"))
    }

    /// `berth image inspect REF` parsed; the single object of the array.
    pub fn inspect(&self, reference: &str) -> serde_json::Value {
        let run = self.run(&["image", "inspect", reference]).success();
        let mut array: Vec<serde_json::Value> = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("image inspect {reference}: not a JSON array ({e}):\n{}", run.stdout));
        assert_eq!(array.len(), 1, "image inspect {reference}: one object expected:\n{}", run.stdout);
        array.remove(0)
    }

    /// The image IDs `berth images -q` prints (empty when no image is listed).
    pub fn image_ids(&self) -> Vec<String> {
        self.run(&["images", "-q"]).success().stdout.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
    }

    /// Names of the entries of ROOT/layers (empty when it does not exist), less the layers' tar indexes.
    pub fn layer_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .layers_dir_names()
            .into_iter()
            .filter(|name| !name.ends_with(".tarsplit"))
            .map(|name| name.strip_suffix(".erofs").map(str::to_owned).unwrap_or(name))
            .collect();
        names.sort();
        names
    }

    fn layers_dir_names(&self) -> Vec<String> {
        match fs::read_dir(self.layers_dir()) {
            Ok(dir) => dir.map(|e| e.expect("read layers dir").file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The store holds exactly the layer dirs named `chain_ids` and nothing else (no temp dirs, no
    /// leftovers of failed pulls), and no tar index of any other layer.
    pub fn assert_layers_exactly(&self, chain_ids: &[String]) {
        let mut expected = chain_ids.to_vec();
        expected.sort();
        expected.dedup();
        assert_eq!(self.layer_entries(), expected, "entries of {}", self.layers_dir().display());
        for name in self.layers_dir_names() {
            if let Some(chain) = name.strip_suffix(".tarsplit") {
                assert!(expected.contains(&chain.to_string()), "tar index {name} outlived its layer");
            }
        }
    }

    /// Every entry of ROOT/layers is a 64-hex chain-id dir: a failed pull left no temp dir there.
    pub fn assert_no_temp_layers(&self) {
        for name in self.layer_entries() {
            assert!(
                name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
                "ROOT/layers holds {name:?}, which is not a chain-id dir (leftover of a failed pull?)"
            );
        }
    }

    /// No file in any layer dir is an AUFS whiteout (`.wh.*`): whiteouts must become overlay ones.
    pub fn assert_no_wh_files(&self) {
        let mut found = Vec::new();
        for entry in self.layer_entries() {
            walk(&self.layer_view(&entry), &mut |path, _| {
                if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".wh.")) {
                    found.push(path.to_path_buf());
                }
            });
        }
        assert!(found.is_empty(), "AUFS whiteout files left in layer dirs: {found:?}");
    }

    /// No entry whose name contains `marker` exists outside the layer dirs: not elsewhere in the root,
    /// not beside it in the sandbox, not in the sandbox's parent, not in `/`. Malicious layers name their
    /// escape attempts with a unique marker.
    pub fn assert_no_escape(&self, marker: &str) {
        let layers = self.layers_dir();
        let mut escaped = Vec::new();
        walk(self.sandbox(), &mut |path, _| {
            let named = path.file_name().is_some_and(|n| n.to_string_lossy().contains(marker));
            let in_a_layer = path.strip_prefix(&layers).is_ok_and(|rel| rel.components().count() > 1);
            if named && !in_a_layer {
                escaped.push(path.to_path_buf());
            }
        });
        for dir in [self.sandbox().parent().unwrap_or(Path::new("/")), Path::new("/")] {
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().contains(marker) {
                    escaped.push(entry.path());
                }
            }
        }
        assert!(escaped.is_empty(), "a layer wrote outside its layer dir: {escaped:?}");
    }

    /// The store is consistent after a failed pull: nothing listed, no temp layer dirs.
    pub fn assert_failed_pull_left_nothing(&self) {
        assert_eq!(self.image_ids(), Vec::<String>::new(), "a failed pull must list no image");
        self.assert_no_temp_layers();
    }
}

/// The outcome of one berth invocation.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(args: &[&str], out: Output) -> Run {
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts exit 0; panics with the whole output otherwise.
    pub fn success(self) -> Run {
        assert_eq!(self.code, Some(0), "berth {:?} failed:\n{self}", self.args);
        self
    }

    /// Asserts exit 1 with a message on stderr starting `Error: ` that contains every one of `needles`
    /// (case-insensitive), and returns the message.
    pub fn failure(self, needles: &[&str]) -> Run {
        assert_eq!(self.code, Some(1), "berth {:?} should fail with exit 1:\n{self}", self.args);
        assert!(self.stderr.contains("Error: "), "berth {:?}: stderr lacks `Error: `:\n{self}", self.args);
        let lower = self.stderr.to_lowercase();
        for needle in needles {
            assert!(
                lower.contains(&needle.to_lowercase()),
                "berth {:?}: error should mention {needle:?}:\n{self}",
                self.args
            );
        }
        self
    }
}

impl Run {
    /// Asserts stderr mentions at least one of `words` (case-insensitive): for problems that can be
    /// named several fair ways ("timed out" / "timeout").
    pub fn mentions_any(self, words: &[&str]) -> Run {
        let lower = self.stderr.to_lowercase();
        assert!(
            words.iter().any(|w| lower.contains(&w.to_lowercase())),
            "berth {:?}: error should mention one of {words:?}:\n{self}",
            self.args
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit: {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// A Docker-style table (columns separated by two or more spaces) as rows of cells, header first.
pub fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| line.trim().split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect())
        .collect()
}

/// The first 12 hex digits of a `sha256:` digest: Docker's short image ID.
pub fn short_id(digest: &str) -> String {
    digest.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Files outside berth's root that malicious layers aim at. `assert_untouched` proves no write,
/// no new entry, no deletion and no extra hard link happened there.
pub struct Decoys {
    dir: tempfile::TempDir,
    snapshot: BTreeMap<PathBuf, Snapshot>,
}

#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    mode: u32,
    nlink: u64,
    ino: u64,
    mtime_ns: i128,
    contents: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

impl Decoys {
    /// A decoy dir under /tmp (absolute, so layers can name it) with a file `secret`, a dir `sub/` and
    /// a file `sub/inner`.
    pub fn new() -> Decoys {
        let dir = tempfile::Builder::new().prefix("berth-decoy-").tempdir_in("/tmp").expect("decoy dir");
        fs::write(dir.path().join("secret"), b"host secret\n").expect("write decoy");
        fs::create_dir(dir.path().join("sub")).expect("create decoy sub dir");
        fs::write(dir.path().join("sub/inner"), b"host inner\n").expect("write decoy");
        let mut decoys = Decoys { dir, snapshot: BTreeMap::new() };
        decoys.snapshot = snapshot(decoys.path());
        decoys
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The decoy dir as a string with no leading `/`, for tar names that climb with `../`.
    pub fn relative_from_fs_root(&self) -> String {
        self.path().to_string_lossy().trim_start_matches('/').to_owned()
    }

    pub fn assert_untouched(&self) {
        let now = snapshot(self.path());
        assert_eq!(now, self.snapshot, "files outside berth's root under {} were changed", self.path().display());
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Snapshot> {
    let mut map = BTreeMap::new();
    walk(dir, &mut |path, meta| {
        let file_type = meta.file_type();
        map.insert(
            path.to_path_buf(),
            Snapshot {
                mode: meta.mode(),
                nlink: meta.nlink(),
                ino: meta.ino(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                contents: file_type.is_file().then(|| fs::read(path).expect("read decoy")),
                link: file_type.is_symlink().then(|| fs::read_link(path).expect("read decoy link")),
            },
        );
    });
    map
}

/// Visits `dir` and everything below it (not following symlinks), the dir itself included.
pub fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let Ok(meta) = fs::symlink_metadata(dir) else { return };
    visit(dir, &meta);
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(_) => return,
        };
        entries.sort();
        for entry in entries {
            walk(&entry, visit);
        }
    }
}
