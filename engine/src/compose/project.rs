//! Project operations: `up` (networks, volumes, images, then containers in dependency waves, each wave's
//! services at once, each service waiting for its dependencies' conditions) and `down`, and the
//! project's containers found by their labels, as docker compose finds them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::try_join_all;

use super::ComposeError;
use super::load::LoadedProject;
use super::model::Condition;
use super::plan::{self, LABEL_HASH, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE};
use crate::container::{ContainerRecord, ListFilter, ListOptions, Status};
use crate::health::HealthStatus;
use crate::network::NetworkCreate;
use crate::volume::{VolumeCreate, VolumeFilter};
use crate::{Engine, Error};

/// One line of docker compose's progress: ` Container p-web-1  Started`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub kind: &'static str,
    pub name: String,
    pub status: String,
}

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub build: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// `--scale SERVICE=N`, over `deploy.replicas`.
    pub scale: BTreeMap<String, u64>,
    /// `--wait`: return once every container runs (and is healthy, where it has a healthcheck).
    pub wait: bool,
}

/// `docker compose run`'s container: its command (the service's when empty), `--rm`, and whether it
/// takes input (`-i`, compose's default) and a pty (not with `-T` or without a terminal).
#[derive(Debug, Clone, Default)]
pub struct OneOffOptions {
    pub command: Vec<String>,
    pub remove: bool,
    pub interactive: bool,
    pub tty: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    /// `--rmi all|local`
    pub rmi: Option<String>,
}

type Report<'a> = &'a (dyn Fn(Progress) + Send + Sync);

fn say(report: Report<'_>, kind: &'static str, name: &str, status: &str) {
    report(Progress { kind, name: name.to_string(), status: status.to_string() });
}

fn number_of(rec: &ContainerRecord) -> u64 {
    rec.options.labels.get(LABEL_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Engine {
    /// The project's service containers (every state, not `run`'s one-offs), by their labels; of
    /// `service` only when given.
    pub fn compose_containers(&self, project: &str, service: Option<&str>) -> Result<Vec<ContainerRecord>, Error> {
        let mut list = self.compose_all_containers(project)?;
        list.retain(|r| r.options.labels.get(plan::LABEL_ONEOFF).is_none_or(|o| o != "True"));
        list.retain(|r| service.is_none_or(|s| r.options.labels.get(LABEL_SERVICE).is_some_and(|l| l == s)));
        Ok(list)
    }

    /// A project found again by its containers' labels, as the TUI knows it: the config files and working
    /// directory the last `up` recorded, loaded afresh (so what `up` does next is what the files say now).
    pub fn compose_project(&self, project: &str) -> Result<LoadedProject, Error> {
        let list = self.compose_all_containers(project)?;
        let labels = list
            .iter()
            .map(|r| &r.options.labels)
            .find(|l| l.contains_key(plan::LABEL_WORKING_DIR))
            .ok_or_else(|| ComposeError::UnknownProject { project: project.to_string() })?;
        let working_dir = std::path::PathBuf::from(&labels[plan::LABEL_WORKING_DIR]);
        let files = labels
            .get(plan::LABEL_CONFIG_FILES)
            .map(|f| f.split(',').filter(|f| !f.is_empty()).map(std::path::PathBuf::from).collect())
            .unwrap_or_default();
        let options = super::LoadOptions {
            files,
            project_name: Some(project.to_string()),
            project_directory: Some(working_dir.clone()),
            ..super::LoadOptions::from_environment(working_dir)
        };
        Ok(super::load(&options)?)
    }

    /// Every container with the project's label, one-offs too, in name order.
    fn compose_all_containers(&self, project: &str) -> Result<Vec<ContainerRecord>, Error> {
        let filters = vec![ListFilter::Label { key: LABEL_PROJECT.into(), value: Some(project.into()) }];
        let mut list = self.list_containers(&ListOptions { all: true, filters })?;
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// `docker compose up -d`: makes what the project describes, changing only what changed.
    pub async fn compose_up(
        &self,
        project: &LoadedProject,
        options: &UpOptions,
        report: Report<'_>,
    ) -> Result<(), Error> {
        let services = plan::active_services(project, &options.services)?;
        let waves = plan::levels(project, &services)?;
        self.compose_networks(project, &services, report)?;
        self.compose_volumes(project, &services, report)?;
        for name in &services {
            self.compose_image(project, name, options.build, report).await?;
        }
        if options.remove_orphans {
            for rec in self.compose_containers(&project.name, None)? {
                let service = rec.options.labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
                if !project.model.services.contains_key(&service) {
                    self.compose_remove(&rec, report).await?;
                }
            }
        }
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for wave in waves {
            let changed_before = &changed;
            let outcomes = try_join_all(wave.iter().map(|name| async move {
                self.compose_service_up(project, name, options, changed_before, report).await.map_err(|e| match e {
                    Error::Compose(c) => Error::Compose(c),
                    other => ComposeError::Service { service: name.clone(), message: other.to_string() }.into(),
                })
            }))
            .await?;
            changed.extend(wave.iter().zip(outcomes).filter(|(_, made)| *made).map(|(name, _)| name.clone()));
        }
        if options.wait {
            for name in &services {
                for rec in self.compose_containers(&project.name, Some(name))? {
                    self.compose_wait(&rec, Condition::ServiceHealthy, report).await?;
                }
            }
        }
        Ok(())
    }

    fn compose_networks(&self, project: &LoadedProject, services: &[String], report: Report<'_>) -> Result<(), Error> {
        let mut keys: Vec<String> = Vec::new();
        for s in services {
            for (key, _) in plan::service_networks(&project.model.services[s]) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        for key in keys {
            let declared = project.model.networks.get(&key).cloned().flatten().unwrap_or_default();
            let name = plan::network_name(project, &key);
            if declared.external.is_some_and(|e| e.0) {
                self.inspect_network(&name).map_err(|_| ComposeError::Service {
                    service: key.clone(),
                    message: format!("network {name} declared as external, but could not be found"),
                })?;
                continue;
            }
            if self.list_networks()?.iter().any(|n| n.name == name) {
                continue;
            }
            if let Some(driver) = declared.driver.as_ref().filter(|d| d.0 != "bridge") {
                return Err(ComposeError::Service {
                    service: key,
                    message: format!("network driver {:?}: berth has bridge networks only", driver.0),
                }
                .into());
            }
            let config = declared.ipam.as_ref().and_then(|i| i.config.first());
            let parse_err = |what: &str, v: &str| ComposeError::Service {
                service: key.clone(),
                message: format!("ipam {what} {v:?} is not an IPv4 {what}"),
            };
            let subnet = config
                .and_then(|c| c.subnet.as_ref())
                .map(|s| s.0.parse().map_err(|_| parse_err("subnet", &s.0)))
                .transpose()?;
            let gateway = config
                .and_then(|c| c.gateway.as_ref())
                .map(|s| s.0.parse().map_err(|_| parse_err("gateway", &s.0)))
                .transpose()?;
            let mut labels: BTreeMap<String, String> = declared
                .labels
                .as_ref()
                .map(|l| l.0.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect())
                .unwrap_or_default();
            labels.insert(LABEL_PROJECT.into(), project.name.clone());
            labels.insert(plan::LABEL_NETWORK.into(), key.clone());
            say(report, "Network", &name, "Creating");
            self.create_network(&NetworkCreate {
                name: name.clone(),
                subnet,
                gateway,
                internal: declared.internal.is_some_and(|i| i.0),
                labels,
            })?;
            say(report, "Network", &name, "Created");
        }
        Ok(())
    }

    fn compose_volumes(&self, project: &LoadedProject, services: &[String], report: Report<'_>) -> Result<(), Error> {
        let mut keys: Vec<String> = Vec::new();
        for s in services {
            for v in &project.model.services[s].volumes {
                let key = match v {
                    super::model::ServiceVolume::Short(spec) => spec.split_once(':').map(|(s, _)| s.to_string()),
                    super::model::ServiceVolume::Long(l) if l.kind.0 == "volume" => {
                        l.source.as_ref().map(|s| s.0.clone())
                    }
                    _ => None,
                };
                if let Some(key) = key.filter(|k| project.model.volumes.contains_key(k) && !keys.contains(k)) {
                    keys.push(key);
                }
            }
        }
        for key in keys {
            let declared = project.model.volumes.get(&key).cloned().flatten().unwrap_or_default();
            let name = plan::volume_name(project, &key);
            let exists = self.volume(&name).is_ok();
            if declared.external.is_some_and(|e| e.0) {
                if !exists {
                    return Err(ComposeError::Service {
                        service: key,
                        message: format!("external volume {name:?} not found"),
                    }
                    .into());
                }
                continue;
            }
            if exists {
                continue;
            }
            let mut labels: BTreeMap<String, String> = declared
                .labels
                .as_ref()
                .map(|l| l.0.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect())
                .unwrap_or_default();
            labels.insert(LABEL_PROJECT.into(), project.name.clone());
            labels.insert(plan::LABEL_VOLUME.into(), key.clone());
            say(report, "Volume", &format!("\"{name}\""), "Creating");
            self.create_volume(&VolumeCreate {
                name: Some(name.clone()),
                driver: None,
                labels,
                options: BTreeMap::new(),
            })?;
            say(report, "Volume", &format!("\"{name}\""), "Created");
        }
        Ok(())
    }

    /// `docker compose build`: the build sections of the named services (all when none are named).
    pub async fn compose_build(
        &self,
        project: &LoadedProject,
        services: &[String],
        report: Report<'_>,
    ) -> Result<(), Error> {
        for name in plan::active_services(project, services)? {
            self.compose_image(project, &name, true, report).await?;
        }
        Ok(())
    }

    /// `docker compose pull`: the images of the named services that name one (a build-only service has
    /// nothing to pull).
    pub async fn compose_pull(
        &self,
        project: &LoadedProject,
        services: &[String],
        report: Report<'_>,
    ) -> Result<(), Error> {
        for (name, image) in named_images(project, services)? {
            say(report, "Service", &name, "Pulling");
            self.pull(&image, crate::pull::PullOptions::default()).await?;
            say(report, "Service", &name, "Pulled");
        }
        Ok(())
    }

    /// `docker compose push`: each service with an `image` name pushes that image (built or pulled here),
    /// through the same `Engine::push` as `berth push`.
    pub async fn compose_push(
        &self,
        project: &LoadedProject,
        services: &[String],
        report: Report<'_>,
    ) -> Result<(), Error> {
        for (name, image) in named_images(project, services)? {
            say(report, "Service", &name, "Pushing");
            self.push(&image, crate::push::PushOptions::default()).await?;
            say(report, "Service", &name, "Pushed");
        }
        Ok(())
    }

    /// `docker compose run`: starts the service's dependencies as `up` would, then creates and starts a
    /// one-off container (`PROJECT-SERVICE-run-ID`, `oneoff=True`, no published ports) running `command`
    /// (the service's when empty). The caller follows its output: the outcome's log was opened before
    /// the start, so a one-off that ends before an attach still shows all it wrote.
    pub async fn compose_run(
        &self,
        project: &LoadedProject,
        service: &str,
        one_off: &OneOffOptions,
        report: Report<'_>,
    ) -> Result<crate::run::RunOutcome, Error> {
        let definition = project
            .model
            .services
            .get(service)
            .ok_or_else(|| ComposeError::NoSuchService { service: service.to_string() })?;
        let deps: Vec<String> = plan::conditions(definition).into_iter().map(|(d, _)| d).collect();
        if !deps.is_empty() {
            self.compose_up(project, &UpOptions { services: deps, ..UpOptions::default() }, report).await?;
        } else {
            let own = vec![service.to_string()];
            self.compose_networks(project, &own, report)?;
            self.compose_volumes(project, &own, report)?;
        }
        self.compose_image(project, service, false, report).await?;
        for (dep, condition) in plan::conditions(definition) {
            for rec in self.compose_containers(&project.name, Some(&dep))? {
                self.compose_wait(&rec, condition, report).await?;
            }
        }
        let mut spec = plan::run_spec(project, service, 1)?;
        let suffix: String = hex::encode(rand::random::<[u8; 6]>());
        spec.name = Some(format!("{}-{service}-run-{suffix}", project.name));
        spec.options.labels.insert(plan::LABEL_ONEOFF.into(), "True".into());
        spec.options.labels.remove(LABEL_NUMBER);
        spec.options.publish.clear();
        // A fixed address belongs to the service's container, not to a one-off beside it.
        spec.options.endpoints.values_mut().for_each(|e| e.ipv4_address = None);
        spec.options.auto_remove = one_off.remove;
        if one_off.interactive {
            spec.options.open_stdin = true;
            spec.options.tty = one_off.tty;
        }
        if !one_off.command.is_empty() {
            spec.options.cmd = one_off.command.clone();
        }
        self.run(spec, &|_| {}).await
    }

    /// Builds a service's image when it has a build section and the image is missing (or `--build`).
    async fn compose_image(
        &self,
        project: &LoadedProject,
        name: &str,
        rebuild: bool,
        report: Report<'_>,
    ) -> Result<(), Error> {
        let service = &project.model.services[name];
        let Some(build) = &service.build else { return Ok(()) };
        let image = plan::image_name(&project.name, name, service);
        let policy_build = service.pull_policy.as_ref().is_some_and(|p| p.0 == "build");
        if !rebuild && !policy_build && self.image(&image).is_ok() {
            return Ok(());
        }
        let mut opts = crate::builder::BuildOptions { tags: vec![image.clone()], ..Default::default() };
        match build {
            super::model::Build::Context(c) => opts.context = c.into(),
            super::model::Build::Full(spec) => {
                opts.context = spec
                    .context
                    .as_ref()
                    .map(|c| c.0.clone())
                    .unwrap_or_else(|| project.working_dir.display().to_string())
                    .into();
                opts.dockerfile = spec.dockerfile.as_ref().map(|d| opts.context.join(&d.0));
                opts.target = spec.target.as_ref().map(|t| t.0.clone());
                opts.build_args = spec
                    .args
                    .as_ref()
                    .map(|a| {
                        a.0.iter()
                            .filter_map(|(k, v)| {
                                Some((k.clone(), v.clone().or_else(|| project.variables.get(k).cloned())?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            }
        }
        say(report, "Image", &image, "Building");
        self.build(opts, &|_| {}).await?;
        say(report, "Image", &image, "Built");
        Ok(())
    }

    /// Brings one service's containers to what the file says; whether any was created or recreated.
    /// An unchanged running container is restarted when a dependency it names with `restart: true` was
    /// (re)created in this `up` (`changed`).
    async fn compose_service_up(
        &self,
        project: &LoadedProject,
        name: &str,
        options: &UpOptions,
        changed: &BTreeSet<String>,
        report: Report<'_>,
    ) -> Result<bool, Error> {
        let service = &project.model.services[name];
        let restart_for = plan::restart_dependencies(service).into_iter().find(|d| changed.contains(d));
        let mut made_any = false;
        for (dep, condition) in plan::conditions(service) {
            for rec in self.compose_containers(&project.name, Some(&dep))? {
                self.compose_wait(&rec, condition, report).await?;
            }
        }
        let replicas = options.scale.get(name).copied().unwrap_or_else(|| plan::replicas(service));
        let hash = plan::config_hash(project, service);
        let existing = self.compose_containers(&project.name, Some(name))?;
        for rec in existing.iter().filter(|r| number_of(r) > replicas || number_of(r) == 0) {
            self.compose_remove(rec, report).await?;
        }
        for number in 1..=replicas {
            let spec = plan::run_spec(project, name, number)?;
            let container = spec.name.clone().unwrap_or_default();
            match existing.iter().find(|r| number_of(r) == number) {
                Some(rec) => {
                    let same = rec.options.labels.get(LABEL_HASH) == Some(&hash);
                    if options.no_recreate || same && !options.force_recreate {
                        if rec.status == Status::Running && restart_for.is_some() {
                            say(report, "Container", &rec.name, "Restarting");
                            self.restart_container(&rec.id, rec.options.stop_timeout).await?;
                            say(report, "Container", &rec.name, "Restarted");
                        } else if rec.status == Status::Running {
                            say(report, "Container", &rec.name, "Running");
                        } else {
                            say(report, "Container", &rec.name, "Starting");
                            self.start_container(&rec.id).await?;
                            say(report, "Container", &rec.name, "Started");
                        }
                        continue;
                    }
                    say(report, "Container", &rec.name, "Recreate");
                    self.stop_container(&rec.id, spec.options.stop_timeout).await?;
                    self.remove_container(&rec.id, true).await?;
                    let made = self.create(spec, &|_| {}).await?;
                    say(report, "Container", &container, "Recreated");
                    say(report, "Container", &container, "Starting");
                    self.start_container(&made.id).await?;
                    say(report, "Container", &container, "Started");
                    made_any = true;
                }
                None => {
                    say(report, "Container", &container, "Creating");
                    let made = self.create(spec, &|_| {}).await?;
                    say(report, "Container", &container, "Created");
                    say(report, "Container", &container, "Starting");
                    self.start_container(&made.id).await?;
                    say(report, "Container", &container, "Started");
                    made_any = true;
                }
            }
        }
        Ok(made_any)
    }

    /// `docker compose restart [SERVICE...]`: the named services' containers (all when none are named),
    /// then those of every service that names a restarted one in `depends_on` with `restart: true`, in
    /// dependency order.
    pub async fn compose_restart(
        &self,
        project: &LoadedProject,
        services: &[String],
        report: Report<'_>,
    ) -> Result<(), Error> {
        let mut chosen: BTreeSet<String> = if services.is_empty() {
            project.model.services.keys().cloned().collect()
        } else {
            for s in services {
                if !project.model.services.contains_key(s) {
                    return Err(ComposeError::NoSuchService { service: s.clone() }.into());
                }
            }
            services.iter().cloned().collect()
        };
        loop {
            let more: Vec<String> = project
                .model
                .services
                .iter()
                .filter(|(name, service)| {
                    !chosen.contains(*name) && plan::restart_dependencies(service).iter().any(|d| chosen.contains(d))
                })
                .map(|(name, _)| name.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            chosen.extend(more);
        }
        let all: Vec<String> = project.model.services.keys().cloned().collect();
        for wave in plan::levels(project, &all)? {
            for name in wave.iter().filter(|n| chosen.contains(*n)) {
                for rec in self.compose_containers(&project.name, Some(name))? {
                    say(report, "Container", &rec.name, "Restarting");
                    self.restart_container(&rec.id, rec.options.stop_timeout).await?;
                    say(report, "Container", &rec.name, "Started");
                }
            }
        }
        Ok(())
    }

    /// Waits for a dependency's condition: running; healthy (running, for a container without a
    /// healthcheck, as `--wait` takes it); or exited with 0.
    async fn compose_wait(&self, rec: &ContainerRecord, condition: Condition, report: Report<'_>) -> Result<(), Error> {
        if condition == Condition::ServiceStarted {
            return Ok(());
        }
        say(report, "Container", &rec.name, "Waiting");
        loop {
            let now = self.container(&rec.id)?;
            let failed = |reason: String| ComposeError::Dependency { container: rec.name.clone(), reason };
            match condition {
                Condition::ServiceCompletedSuccessfully if matches!(now.status, Status::Exited | Status::Dead) => {
                    if now.exit_code == 0 {
                        say(report, "Container", &rec.name, "Exited");
                        return Ok(());
                    }
                    return Err(failed(format!("exited ({})", now.exit_code)).into());
                }
                Condition::ServiceHealthy => match (&now.health, now.status) {
                    (_, Status::Exited | Status::Dead) => {
                        return Err(failed(format!("exited ({})", now.exit_code)).into());
                    }
                    (None, Status::Running) => {
                        say(report, "Container", &rec.name, "Healthy");
                        return Ok(());
                    }
                    (Some(h), _) if h.status == HealthStatus::Healthy => {
                        say(report, "Container", &rec.name, "Healthy");
                        return Ok(());
                    }
                    (Some(h), _) if h.status == HealthStatus::Unhealthy => {
                        return Err(failed("is unhealthy".into()).into());
                    }
                    _ => {}
                },
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn compose_remove(&self, rec: &ContainerRecord, report: Report<'_>) -> Result<(), Error> {
        if rec.status.can_stop() {
            say(report, "Container", &rec.name, "Stopping");
            self.stop_container(&rec.id, rec.options.stop_timeout).await?;
            say(report, "Container", &rec.name, "Stopped");
        }
        say(report, "Container", &rec.name, "Removing");
        self.remove_container(&rec.id, true).await?;
        say(report, "Container", &rec.name, "Removed");
        Ok(())
    }

    /// `docker compose down`: the project's containers (in reverse dependency order), its networks, and
    /// with `-v` its named volumes; external ones stay.
    pub async fn compose_down(
        &self,
        project: &LoadedProject,
        options: &DownOptions,
        report: Report<'_>,
    ) -> Result<(), Error> {
        let all: Vec<String> = project.model.services.keys().cloned().collect();
        let waves = plan::levels(project, &all)?;
        let containers = self.compose_all_containers(&project.name)?;
        for wave in waves.iter().rev() {
            let in_wave: Vec<&ContainerRecord> = containers
                .iter()
                .filter(|r| r.options.labels.get(LABEL_SERVICE).is_some_and(|s| wave.contains(s)))
                .collect();
            try_join_all(in_wave.into_iter().map(|rec| self.compose_remove(rec, report))).await?;
        }
        for rec in containers.iter().filter(|r| !r.options.labels.get(LABEL_SERVICE).is_some_and(|s| all.contains(s))) {
            if options.remove_orphans {
                self.compose_remove(rec, report).await?;
            }
        }
        for net in self.list_networks()? {
            if net.labels.get(LABEL_PROJECT) == Some(&project.name) {
                say(report, "Network", &net.name, "Removing");
                self.remove_network(&net.id)?;
                say(report, "Network", &net.name, "Removed");
            }
        }
        if options.volumes {
            let filter = VolumeFilter {
                label: vec![(LABEL_PROJECT.to_string(), Some(project.name.clone()))],
                ..Default::default()
            };
            for volume in self.volumes(&filter)? {
                say(report, "Volume", &volume.name, "Removing");
                self.remove_volume(&volume.name, false)?;
                say(report, "Volume", &volume.name, "Removed");
            }
        }
        if let Some(rmi) = &options.rmi {
            for (name, service) in &project.model.services {
                let local = service.image.is_none();
                if rmi == "all" || local {
                    let image = plan::image_name(&project.name, name, service);
                    if self.image(&image).is_ok() {
                        say(report, "Image", &image, "Removing");
                        self.remove_image(&image, false)?;
                        say(report, "Image", &image, "Removed");
                    }
                }
            }
        }
        Ok(())
    }
}

/// The active services (of `services`, or all) that name an image, with that image: what pull and push
/// work on.
fn named_images(project: &LoadedProject, services: &[String]) -> Result<Vec<(String, String)>, Error> {
    Ok(plan::active_services(project, services)?
        .into_iter()
        .filter_map(|name| {
            let image = project.model.services[&name].image.as_ref()?.0.clone();
            Some((name, image))
        })
        .collect())
}
