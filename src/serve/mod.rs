//! `berth serve`: the Docker Engine API, so the docker CLI, compose and the SDKs can drive berth.
//!
//! The server is an adapter beside the CLI and the TUI: every handler turns the API's body and query into
//! the options the CLI builds (the run use case's [`berth_engine::run::RunFlags`], the engine's filters) and
//! calls the same `Engine` methods. Containers run under their monitors as ever and outlive the server;
//! what the server keeps in memory is only what the API itself names: exec instances and the exits of the
//! containers it started.
//!
//! One small module per resource (`system`, `events`, `containers`, `exec`, `images`, `auth`, `networks`,
//! `volumes`); `listen` holds the sockets, `hijack` the upgraded streams, `runs` the exit watches.

mod archive;
mod attach;
mod auth;
mod build;
mod containers;
mod create;
mod error;
mod events;
mod exec;
mod hijack;
mod images;
mod listen;
mod networks;
mod query;
mod runs;
mod stats;
mod system;
mod tarballs;
mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use berth_engine::Engine;
use clap::Args;

pub use error::{ApiError, ApiResult};

/// The API version berth advertises: Docker 25's, the oldest that Docker 29 clients still accept.
pub const API_VERSION: &str = "1.44";
/// The oldest API version whose requests berth answers.
pub const MIN_API_VERSION: &str = "1.24";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: unix:///PATH or tcp://127.0.0.1:PORT (repeatable); default
    /// unix:///run/berth/docker.sock as root, $XDG_RUNTIME_DIR/berth/docker.sock otherwise
    #[arg(short = 'H', long = "host", value_name = "ADDRESS")]
    hosts: Vec<String>,
    /// Exit after this many seconds without a request or an open stream (0: never)
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    timeout: u64,
    /// Print the DOCKER_HOST line that points a client at this server, then exit
    #[arg(long)]
    print_env: bool,
}

/// What every handler shares: the engine and the API's own in-memory objects.
pub struct Server {
    pub engine: Engine,
    pub runs: runs::Runs,
    pub execs: exec::Execs,
    pub ttys: attach::Ttys,
}

pub type Shared = Arc<Server>;

pub async fn run(engine: Engine, args: ServeArgs) -> anyhow::Result<()> {
    let addresses = listen::addresses(&args.hosts)?;
    if args.print_env {
        outln!("DOCKER_HOST={}", addresses[0])?;
        return Ok(());
    }
    let server = Arc::new(Server {
        engine,
        runs: runs::Runs::default(),
        execs: exec::Execs::default(),
        ttys: attach::Ttys::default(),
    });
    let listeners = listen::bind(&addresses)?;
    listen::serve(listeners, router(server), std::time::Duration::from_secs(args.timeout)).await
}

/// Every endpoint berth answers; anything else is a 404 with a message.
fn router(server: Shared) -> Router {
    use axum::routing::delete;
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/events", get(events::events))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(create::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/export", get(tarballs::export))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/archive", get(archive::get).head(archive::stat).put(archive::put))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::pull))
        .route("/images/prune", post(images::prune))
        .route("/images/search", get(auth::search))
        .route("/auth", post(auth::login))
        .route("/commit", post(images::commit))
        .route("/images/{*rest}", get(images::get_named).post(images::post_named).delete(images::remove))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::not_found)
        .with_state(server)
}
