//! `kube generate|play|down`: the engine's Kubernetes hand-off; notes of what could not be carried over go
//! to stderr.

use std::path::PathBuf;

use berth_engine::Engine;
use berth_engine::kube::{GenerateOptions, Kind, Note, Source};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum KubeSubcommand {
    /// Write Kubernetes YAML for containers or a compose project
    Generate(GenerateArgs),
    /// Run the Pods and Deployments of a Kubernetes YAML file as local pods
    Play(PlayArgs),
    /// Remove the pods a Kubernetes YAML file made with kube play
    Down(DownArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TypeArg {
    Pod,
    Deployment,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write one Pod, or one Deployment per service
    #[arg(long = "type", value_enum, default_value = "pod")]
    kind: TypeArg,
    /// Write published ports as a Service rather than as hostPorts
    #[arg(short, long)]
    service: bool,
    /// Every container of this compose project
    #[arg(long, value_name = "NAME", conflicts_with = "containers")]
    project: Option<String>,
    /// Write the YAML to this file rather than to standard output
    #[arg(short, long, value_name = "FILE")]
    filename: Option<PathBuf>,
    #[arg(value_name = "CONTAINER", required_unless_present = "project")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The Kubernetes YAML file
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the volumes of the file's PersistentVolumeClaims
    #[arg(long)]
    volumes: bool,
    /// The Kubernetes YAML file
    file: PathBuf,
}

fn print_notes(notes: &[Note]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}

pub async fn run(engine: &Engine, cmd: KubeSubcommand) -> anyhow::Result<()> {
    match cmd {
        KubeSubcommand::Generate(args) => {
            let source = match args.project {
                Some(project) => Source::Project(project),
                None => Source::Containers(args.containers),
            };
            let kind = match args.kind {
                TypeArg::Pod => Kind::Pod,
                TypeArg::Deployment => Kind::Deployment,
            };
            let generated = engine.kube_generate(&source, GenerateOptions { kind, service: args.service })?;
            print_notes(&generated.notes);
            match args.filename {
                Some(path) => std::fs::write(&path, generated.yaml)
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
                None => out!("{}", generated.yaml)?,
            }
        }
        KubeSubcommand::Play(args) => {
            let outcome = engine.kube_play(&args.file).await?;
            print_notes(&outcome.notes);
            for volume in &outcome.volumes {
                outln!("Volume: {volume}")?;
            }
            for pod in &outcome.pods {
                outln!("Pod: {}", pod.name)?;
                for container in &pod.containers {
                    outln!("Container: {container}")?;
                }
            }
        }
        KubeSubcommand::Down(args) => {
            let outcome = engine.kube_down(&args.file, args.volumes).await?;
            for container in &outcome.containers {
                outln!("Container: {container}")?;
            }
            for volume in &outcome.volumes {
                outln!("Volume: {volume}")?;
            }
        }
    }
    Ok(())
}
