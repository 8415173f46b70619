//! `rapport backup FILE`: a consistent copy of the SQLite database, taken while rapport runs
//! (`VACUUM INTO`: one read transaction, so the copy is the database as of one instant).

use crate::workspace::Workspace;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to write; it must not exist yet.
    pub file: PathBuf,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    anyhow::ensure!(
        !workspace.config.database.url.is_postgres(),
        "the database is PostgreSQL: back it up with pg_dump (see docs/operations.md)"
    );
    anyhow::ensure!(
        !args.file.exists(),
        "{} exists already: choose a new file name",
        args.file.display()
    );
    let store = workspace.open_store().await?;
    let target = std::path::absolute(&args.file)
        .with_context(|| format!("cannot use {}", args.file.display()))?;
    let result = store.backup_sqlite(&target).await;
    store.close().await;
    result?;
    println!("backed up {} to {}", store.url(), args.file.display());
    Ok(ExitCode::SUCCESS)
}
