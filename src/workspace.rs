//! A workspace: the folder holding `rapport.toml`, `templates/`, `segments/` and (by default) the
//! SQLite database. Every command but `init` starts by loading one.

use crate::config::{self, Config};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// A loaded workspace.
#[derive(Debug)]
pub struct Workspace {
    pub dir: PathBuf,
    pub config: Config,
}

impl Workspace {
    /// Loads `dir/rapport.toml`, applying the environment overrides.
    pub fn load(dir: &Path) -> anyhow::Result<Workspace> {
        let config = config::load(dir)?;
        Ok(Workspace {
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// Opens the workspace database, creating and migrating it as needed.
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.config.database.url, &self.dir).await
    }

    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.dir.join("templates")
    }
}
