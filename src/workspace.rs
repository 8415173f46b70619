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

    /// Refuses a tracking secret that rapport's own files publish ([`config::PUBLISHED_SECRETS`])
    /// where links reach people or come back from them: anyone could forge this shop's unsubscribe
    /// links with it. `doing` names what was asked (`rapport send` through SMTP, the daemon, the
    /// tracking server). The error points into rapport.toml, or names the environment variable the
    /// secret came from.
    pub fn refuse_published_secret(&self, doing: &str) -> anyhow::Result<()> {
        let Some(published) = config::published_secret(&self.config) else {
            return Ok(());
        };
        let consequence = if published.previous {
            "links forged with it would still be honoured"
        } else {
            "anyone could forge this shop's unsubscribe and tracking links"
        };
        let problem = format!(
            "{} an example published with rapport: {consequence}, so {doing} refuses it",
            published.is()
        );
        let span = published.value.span();
        if span.is_empty() {
            anyhow::bail!(
                "{}: {problem}\n  = hint: {}",
                published.variable(),
                published.hint()
            );
        }
        let text = std::fs::read_to_string(self.dir.join(config::CONFIG_FILE))?;
        Err(
            crate::diagnostic::Diagnostic::new(config::CONFIG_FILE, text, span, problem)
                .with_hint(published.hint())
                .into(),
        )
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
