//! `system binfmt install|uninstall|ls`: berth's QEMU handlers in binfmt_misc, registered and removed only
//! when asked (`berth_engine::binfmt`).

use std::path::PathBuf;

use berth_engine::binfmt;
use clap::{Args, Subcommand};

use super::format::table;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BinfmtSubcommand {
    /// Register QEMU user emulation (fix-binary) for every qemu-*-static found
    Install(InstallArgs),
    /// Remove the handlers berth registered
    Uninstall,
    /// List the registered binfmt_misc handlers
    Ls,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Directory holding the qemu-ARCH-static emulators
    #[arg(long, default_value = "/usr/bin", value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(cmd: BinfmtSubcommand) -> anyhow::Result<()> {
    match cmd {
        BinfmtSubcommand::Install(args) => {
            for name in binfmt::install(&args.dir)? {
                outln!("installed {name}")?;
            }
        }
        BinfmtSubcommand::Uninstall => {
            for name in binfmt::uninstall()? {
                outln!("removed {name}")?;
            }
        }
        BinfmtSubcommand::Ls => {
            let rows: Vec<Vec<String>> = binfmt::list()?
                .into_iter()
                .map(|h| {
                    let state = if h.enabled { "enabled" } else { "disabled" };
                    vec![h.name, state.to_string(), h.flags, h.interpreter]
                })
                .collect();
            out!("{}", table(&["NAME", "STATE", "FLAGS", "INTERPRETER"], &rows))?;
        }
    }
    Ok(())
}
