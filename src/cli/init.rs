//! `rapport init [DIR]`: scaffold a workspace from the example shop at the root of this repository,
//! with a freshly generated tracking secret. It never overwrites anything.

use anyhow::{Context, bail};
use rand::Rng;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the workspace (created if missing); defaults to --workspace.
    pub dir: Option<PathBuf>,
}

/// The example workspace, compiled in: (path in the workspace, contents).
const FILES: &[(&str, &str)] = &[
    (
        "segments/lapsed_regulars.seg",
        include_str!("../../segments/lapsed_regulars.seg"),
    ),
    (
        "segments/new_customers.seg",
        include_str!("../../segments/new_customers.seg"),
    ),
    (
        "segments/first_purchase.seg",
        include_str!("../../segments/first_purchase.seg"),
    ),
    (
        "segments/big_spenders.seg",
        include_str!("../../segments/big_spenders.seg"),
    ),
    (
        "segments/garden_fans.seg",
        include_str!("../../segments/garden_fans.seg"),
    ),
    (
        "segments/engaged_readers.seg",
        include_str!("../../segments/engaged_readers.seg"),
    ),
    (
        "segments/never_opened.seg",
        include_str!("../../segments/never_opened.seg"),
    ),
    (
        "segments/all_customers.seg",
        include_str!("../../segments/all_customers.seg"),
    ),
    (
        "templates/layout.html",
        include_str!("../../templates/layout.html"),
    ),
    (
        "templates/winback.subject",
        include_str!("../../templates/winback.subject"),
    ),
    (
        "templates/winback.html",
        include_str!("../../templates/winback.html"),
    ),
    (
        "templates/_footer.html",
        include_str!("../../templates/_footer.html"),
    ),
    (
        "templates/_recent.html",
        include_str!("../../templates/_recent.html"),
    ),
    (
        "templates/new_arrivals.subject",
        include_str!("../../templates/new_arrivals.subject"),
    ),
    (
        "templates/new_arrivals.html",
        include_str!("../../templates/new_arrivals.html"),
    ),
    (
        "templates/thank_you.subject",
        include_str!("../../templates/thank_you.subject"),
    ),
    (
        "templates/thank_you.html",
        include_str!("../../templates/thank_you.html"),
    ),
    (
        "templates/thank_you.txt",
        include_str!("../../templates/thank_you.txt"),
    ),
    (
        "templates/newsletter.subject",
        include_str!("../../templates/newsletter.subject"),
    ),
    (
        "templates/newsletter.html",
        include_str!("../../templates/newsletter.html"),
    ),
    (
        ".gitignore",
        "# The embedded database and the outbox of written messages stay out of git.\nrapport.db\nrapport.db-*\noutbox/\n",
    ),
];
const CONFIG_TEMPLATE: &str = include_str!("../../rapport.toml");

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| workspace.to_path_buf());
    scaffold(&dir)?;
    println!("Created a workspace in {}", dir.display());
    println!("Next: edit rapport.toml (sender, postal address, tracking URL), then");
    println!(
        "  rapport --workspace {} import customers customers.csv",
        dir.display()
    );
    println!("  rapport --workspace {} check", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The files and folders that [`scaffold`] makes at the top of a workspace, besides rapport.toml.
pub fn top_level_entries() -> impl Iterator<Item = &'static str> {
    FILES.iter().filter_map(|(path, _)| path.split('/').next())
}

/// Writes the example workspace into `dir`, refusing if any file it would write already exists
/// (a `.gitignore` of the owner's is left alone instead).
pub fn scaffold(dir: &Path) -> anyhow::Result<()> {
    let config = with_fresh_secret(CONFIG_TEMPLATE);
    let all =
        std::iter::once((crate::config::CONFIG_FILE, config.as_str())).chain(FILES.iter().copied());
    // An existing .gitignore (the folder is already a git repository) is kept as it is.
    let files: Vec<(PathBuf, &str)> = all
        .map(|(path, text)| (dir.join(path), text))
        .filter(|(path, _)| !(path.ends_with(".gitignore") && path.exists()))
        .collect();
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already holds a workspace ({} exist); nothing was changed\n  = hint: choose an empty folder, e.g. `rapport init my-shop`",
            dir.display(),
            existing.join(", ")
        );
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Replaces the value of the `secret = "…"` line with 32 random bytes in hex.
fn with_fresh_secret(config: &str) -> String {
    let secret = hex::encode(rand::rng().random::<[u8; 32]>());
    config
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("secret = ") {
                format!("secret = \"{secret}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_init_gets_its_own_valid_secret() {
        let a = with_fresh_secret(CONFIG_TEMPLATE);
        let b = with_fresh_secret(CONFIG_TEMPLATE);
        assert_ne!(a, b);
        let config = crate::config::parse("rapport.toml", &a).unwrap();
        assert_eq!(config.tracking.secret.get_ref().expose().len(), 64);
    }
}
