//! `login` and `logout`, keeping credentials in Docker's own config file so other tools share them.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use berth_engine::Engine;
use clap::Args;

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    pub(super) username: Option<String>,
    /// Password (prefer --password-stdin: this one is visible to other users in the process list)
    #[arg(short, long)]
    pub(super) password: Option<String>,
    /// Read the password from standard input
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    /// Registry host[:port]
    server: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    server: String,
}

fn prompt(question: &str) -> anyhow::Result<String> {
    out!("{question}")?;
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(engine: &Engine, args: LoginArgs) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let username = match args.username {
        Some(u) => u,
        None if interactive && !args.password_stdin => prompt("Username: ")?,
        None => bail!("username required: pass --username"),
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = args.password {
        p
    } else if interactive {
        rpassword::prompt_password("Password: ")?
    } else {
        bail!("password required: pass --password-stdin");
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    engine.login(&args.server, &username, &password).await?;
    outln!("Login Succeeded")?;
    Ok(())
}

pub fn logout(engine: &Engine, args: LogoutArgs) -> anyhow::Result<()> {
    if engine.logout(&args.server)? {
        outln!("Removing login credentials for {}", args.server)?;
    } else {
        outln!("Not logged in to {}", args.server)?;
    }
    Ok(())
}
