//! berth's engine: everything that touches images, containers and the kernel.
//!
//! The UI and the CLI use only this crate's public API and its event stream; this crate never imports them.

pub mod archive;
pub mod binfmt;
pub mod build;
pub mod builder;
pub mod compose;
pub mod config;
pub mod container;
pub mod digest;
pub mod display;
mod error;
mod error_kind;
pub mod events;
mod footprint;
pub mod health;
pub mod helpers;
mod host;
pub mod images;
mod inroot;
pub mod journal;
pub mod kube;
pub(crate) mod layer;
pub mod local;
pub mod log_watch;
pub mod logs;
pub mod manifest;
pub(crate) mod monitor;
pub mod network;
#[cfg(test)]
mod proptest_support;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod run;
pub(crate) mod runtime;
pub(crate) mod session;
pub mod stats;
pub(crate) mod store;
pub mod system;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod volume;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::Config;
pub use error::{Error, with_causes};
pub use error_kind::ErrorKind;
use events::EventBus;
use registry::{Credentials, Registry, RegistryOptions};
use store::Store;

/// Gives back what a long-lived process faulted in while it worked (clean code pages, freed heap), as the
/// monitors do between runs; the API server calls it when it goes quiet.
pub fn shed_idle_memory() {
    footprint::shed();
}

/// Where state lives and how the engine behaves.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub root: PathBuf,
    pub config: Config,
}

impl EngineOptions {
    /// `/var/lib/berth` for root, the XDG data dir otherwise.
    pub fn default_root() -> PathBuf {
        if rustix::process::geteuid().is_root() {
            return PathBuf::from("/var/lib/berth");
        }
        directories::ProjectDirs::from("", "", "berth")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".berth"))
    }
}

/// The engine one berth process runs; every berth process may run one over the same root at once.
pub struct Engine {
    store: Arc<Store>,
    /// Built on first use: the TLS roots it loads cost more than most commands, which never reach a registry.
    registry: std::sync::OnceLock<Registry>,
    config: Config,
    events: EventBus,
    networks: network::Networks,
    /// Process control, freezer and teardown; a fake in the lifecycle unit tests.
    host: Arc<dyn host::Host>,
    /// The counter files a polling list reads, kept open between its readings.
    usage_files: Arc<stats::OpenFiles>,
}

impl Engine {
    pub fn open(opts: EngineOptions) -> Result<Engine, Error> {
        let store = Arc::new(Store::open(&opts.root)?);
        let config = opts.config;
        let networks = network::Networks::new(store.clone(), network::NetworkConfig::from_config(&config))?;
        Ok(Engine {
            store,
            registry: std::sync::OnceLock::new(),
            config,
            events: EventBus::default(),
            networks,
            host: Arc::new(host::Linux),
            usage_files: Arc::default(),
        })
    }

    /// The engine with `host` in place of the machine, for tests of lifecycle decisions without root.
    #[cfg(test)]
    pub(crate) fn with_host(opts: EngineOptions, host: Arc<dyn host::Host>) -> Result<Engine, Error> {
        Ok(Engine { host, ..Engine::open(opts)? })
    }

    pub(crate) fn host(&self) -> &dyn host::Host {
        self.host.as_ref()
    }

    /// The registry client; inside a [`registry::GivenCredentials`] scope, one with those credentials first.
    fn registry(&self) -> Result<Registry, Error> {
        let shared = match self.registry.get() {
            Some(registry) => registry.clone(),
            None => {
                let registry = Registry::new(registry_options(&self.config), Credentials::load())?;
                self.registry.get_or_init(|| registry).clone()
            }
        };
        Ok(match registry::GivenCredentials::current() {
            Some(given) => shared.with_given(given),
            None => shared,
        })
    }

    /// Checks credentials against a registry without saving them (the API's `/auth`).
    pub async fn check_login(&self, registry: &str, user: &str, password: &str) -> Result<(), Error> {
        Ok(self.registry()?.check_login(registry, user, password).await?)
    }

    /// The state root this engine works in.
    pub fn root(&self) -> &std::path::Path {
        self.store.root()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Container networks: records, bridges, addresses, firewall rules.
    pub(crate) fn networks(&self) -> &network::Networks {
        &self.networks
    }

    /// The network layer itself, for tests that wire namespaces they made (the hidden `network
    /// attach/detach` commands, tests/network.rs); callers otherwise use the `Engine` network methods.
    #[cfg(feature = "testing")]
    pub fn network_internals(&self) -> &network::Networks {
        &self.networks
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Pulls an image into the store; progress goes to the event stream.
    pub async fn pull(&self, reference: &str, opts: pull::PullOptions) -> Result<pull::Pulled, Error> {
        let pulled =
            pull::pull(self.store.clone(), self.registry()?, self.events.clone(), &self.config, reference, opts)
                .await?;
        let name = pulled.reference.familiar();
        let image = self.image(&pulled.image_id).ok();
        self.record_event(journal::image_event("pull", &name, &name, image.as_ref()));
        Ok(pulled)
    }

    /// Checks credentials against a registry, then saves them in Docker's credentials file.
    pub async fn login(&self, registry: &str, user: &str, password: &str) -> Result<(), Error> {
        self.registry()?.check_login(registry, user, password).await?;
        Credentials::load().store(registry, user, password)?;
        Ok(())
    }

    /// Forgets saved credentials; false when there were none.
    pub fn logout(&self, registry: &str) -> Result<bool, Error> {
        Ok(Credentials::load().erase(registry)?)
    }
}

fn registry_options(config: &Config) -> RegistryOptions {
    RegistryOptions {
        insecure: config.insecure_registries.clone(),
        max_attempts: config.registry_max_attempts,
        connect_timeout: config.connect_timeout(),
        read_timeout: config.read_timeout(),
        certs_dirs: certs_dirs(config),
        ..RegistryOptions::default()
    }
}

/// Where private registries' certificates are looked up: Docker's own directory, then berth's `certs.d`
/// beside its config file.
fn certs_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/etc/docker/certs.d")];
    if let Some(dir) = config.path.as_deref().and_then(std::path::Path::parent) {
        dirs.push(dir.join("certs.d"));
    }
    dirs
}
