//! `rapport migrate`: apply pending database migrations explicitly (e.g. before starting a new daemon
//! version); opening the database applies them too.

use crate::store::Store;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(dir: &Path, _args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    let store = Store::connect(&workspace.config.database.url, &workspace.dir).await?;
    let applied = store.migrate().await?;
    store.close().await;
    println!(
        "database {}: {applied} migrations applied; the schema is up to date",
        store.url()
    );
    Ok(ExitCode::SUCCESS)
}
