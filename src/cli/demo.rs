//! `rapport demo [DIR]`: a complete tour in seconds. Scaffolds a workspace, fills it with a synthetic
//! shop (written as CSV files in `data/` and imported like any owner's export), runs every campaign
//! through the outbox transport, and says which message to open.

use super::send::{Request, Sent, send_campaign};
use crate::config::{CONFIG_FILE, DATABASE_URL_ENV};
use crate::import::{ImportOptions, Source, import_customers, import_events};
use crate::message::Composer;
use crate::template::Library;
use crate::workspace::Workspace;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Marks a folder made by `rapport demo`, which a later demo may replace.
const MARKER: &str = ".rapport-demo";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the demo shop.
    #[arg(default_value = "rapport-demo")]
    pub dir: PathBuf,
    /// How many customers the shop has.
    #[arg(long, default_value_t = 3000)]
    pub customers: usize,
    /// Another seed gives another shop; the same seed, the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = args.dir.as_path();
    prepare(dir).await?;
    // `RAPPORT_CLOCK` moves the whole demo in time, the shop's history as well as its sending.
    let now = crate::clock::Clock::from_env()?.now();
    let data = crate::demo::generate(args.seed, args.customers, now.datetime());
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::write(dir.join("data/customers.csv"), &data.customers_csv)?;
    std::fs::write(dir.join("data/events.csv"), &data.events_csv)?;
    println!(
        "A demo shop in {}: {} customers, {} events (data/*.csv)",
        dir.display(),
        data.customers,
        data.events
    );

    let (workspace, ignored_url) = load_own(dir)?;
    if ignored_url {
        eprintln!(
            "note: {DATABASE_URL_ENV} is set; the demo ignores it and keeps its shop in {}",
            dir.join("rapport.db").display()
        );
    }
    let store = workspace.open_store().await?;
    let fail_on_bad_row = &mut |e: &crate::import::RowError| eprintln!("{e}");
    let options = ImportOptions::default();
    import_customers(
        &store,
        &Source::File(dir.join("data/customers.csv")),
        &options,
        fail_on_bad_row,
    )
    .await?;
    import_events(
        &store,
        &Source::File(dir.join("data/events.csv")),
        &options,
        fail_on_bad_row,
    )
    .await?;

    let (library, problems) = Library::load(&workspace.templates_dir())?;
    anyhow::ensure!(
        problems.is_empty(),
        "the demo's templates do not compile: {}",
        problems[0]
    );
    // The commands the demo suggests. With the variable set, they would read the database it names,
    // not the demo's (and the daemon would plan the demo's campaigns there).
    let rapport = if ignored_url {
        format!("{DATABASE_URL_ENV}= rapport --workspace {}", dir.display())
    } else {
        format!("rapport --workspace {}", dir.display())
    };
    println!();
    for campaign in &workspace.config.campaigns {
        if let Some(kind) = &campaign.trigger {
            // The shop's history is all in the past: a triggered campaign starts with the daemon.
            println!(
                "campaign {}: sent to each customer after a `{}` event, once; `{rapport} daemon` sends it\n",
                campaign.name(),
                kind.get_ref().as_str(),
            );
            continue;
        }
        let composer = Composer::new(&workspace.config, campaign, &library)
            .with_dkim(&workspace.config, &workspace.dir)?;
        let request = Request {
            limit: None,
            new_run: false,
            wait_retries: 0,
            progress: false,
        };
        match send_campaign(&workspace, &store, campaign, &composer, &request).await? {
            Sent::Delivered { summary, .. } => println!("{summary}\n"),
            Sent::AlreadyFinished(_) => unreachable!("a fresh demo has no finished runs"),
        }
    }
    let regular = a_member(&workspace, &store, "lapsed_regulars", now).await?;
    let outbox = dir.join(&workspace.config.delivery.outbox_dir);
    let to_open = match first_message(&outbox) {
        Some(path) => Some(path),
        // Every message waits (for the customers' quiet hours, between 05:00 and 07:00 UTC with
        // the demo's time zones): show the one a regular will get instead.
        None => match &regular {
            Some(email) => {
                println!(
                    "No message went out now: every one waits (see above). Here is the one {email} will get."
                );
                Some(write_preview(&workspace, &store, &library, "winback", email, now).await?)
            }
            None => None,
        },
    };
    let made = what_the_database_holds(&store).await?;
    store.close().await;
    // Written last, so that every file the demo made is older (see `prepare`).
    std::fs::write(dir.join(MARKER), format!("{MARKER_TEXT}{made}\n"))?;
    match to_open {
        Some(path) => println!(
            "Open one of the messages in a mail client: {}",
            path.display()
        ),
        None => println!("No message was written (every customer was skipped)."),
    }
    if let Some(email) = regular {
        println!("Try next:\n  {rapport} segment explain lapsed_regulars {email}");
        println!("  {rapport} preview winback --to {email}\n  {rapport} stats");
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's workspace with the database its rapport.toml names, whatever `RAPPORT_DATABASE_URL`
/// says: a demo fills its database with a synthetic shop, and replacing the folder must replace all
/// of it, so it never writes into a database outside its folder (an owner's PostgreSQL, say).
/// Also says whether the variable was set and ignored.
fn load_own(dir: &Path) -> anyhow::Result<(Workspace, bool)> {
    let mut workspace = Workspace::load(dir)?;
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let own = crate::config::parse(CONFIG_FILE, &text)?.database.url;
    let ignored = own != workspace.config.database.url;
    workspace.config.database.url = own;
    Ok((workspace, ignored))
}

/// Writes what `email` will get from `campaign` to `preview.eml` in the workspace, as `rapport
/// preview --part eml` shows it; returns its path.
async fn write_preview(
    workspace: &Workspace,
    store: &crate::store::Store,
    library: &Library,
    campaign: &str,
    email: &str,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<PathBuf> {
    let campaign = super::preview::find_campaign(workspace, campaign)?;
    let (customer, summary) = super::preview::find_recipient(store, email).await?;
    let composer = Composer::new(&workspace.config, campaign, library)
        .with_dkim(&workspace.config, &workspace.dir)?;
    let composed = composer.compose(&customer, &summary, crate::message::PREVIEW, now)?;
    let path = workspace.dir.join("preview.eml");
    std::fs::write(&path, composer.wire(&composed.message))?;
    Ok(path)
}

/// One member of `segment`, to suggest commands with a real address.
async fn a_member(
    workspace: &Workspace,
    store: &crate::store::Store,
    segment: &str,
    now: crate::timestamp::Timestamp,
) -> anyhow::Result<Option<String>> {
    let rule = crate::segment::Library::load(&workspace.segments_dir())?.rule(segment)?;
    let condition = crate::segment::compile(&rule.expr, store.dialect(), now)?;
    let mut member = None;
    store
        .for_each_member(&condition, Some(1), |c| {
            member = Some(c.email);
            Ok(())
        })
        .await?;
    Ok(member)
}

/// Scaffolds `dir`, replacing an earlier demo there but never anything else: the earlier demo's
/// folder is replaced only while it holds what the demo left and nothing more ([`not_made_by_a_demo`]).
/// A `.git`, an edited template, customers imported by hand: any of these and the demo refuses,
/// naming it, and changes nothing.
async fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.join(MARKER).exists() {
        if let Some(kept) = not_made_by_a_demo(dir).await? {
            anyhow::bail!(
                "{} is an earlier demo, but {kept}: nothing was changed\n  = hint: pass another folder, e.g. `rapport demo /tmp/shop`, or delete this one yourself",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace the earlier demo in {}", dir.display()))?;
    } else if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not an earlier demo: nothing was changed\n  = hint: pass another folder, e.g. `rapport demo /tmp/shop`",
            dir.display()
        );
    }
    super::init::scaffold(dir)?;
    std::fs::write(dir.join(MARKER), MARKER_TEXT)?;
    Ok(())
}

/// The first line of the marker; a finished demo adds what its database holds
/// ([`what_the_database_holds`]).
const MARKER_TEXT: &str = "made by `rapport demo`; a later demo replaces this folder while it holds only what a demo made\n";

/// `customers N, events N, suppressions N`: what a finished demo's database holds, written into
/// its marker. An import, a send or an unsubscribe recorded since changes it.
async fn what_the_database_holds(store: &crate::store::Store) -> anyhow::Result<String> {
    let mut tx = store.begin_read().await?;
    let suppressions = crate::store::suppressions::count(&mut tx).await?;
    tx.rollback().await?;
    Ok(format!(
        "customers {}, events {}, suppressions {suppressions}",
        store.count_customers().await?,
        store.count_events().await?
    ))
}

/// What in an earlier demo's folder a demo did not make, if anything: an entry of its own, a file
/// of the workspace written after the demo (an edited template, a new segment), or a database that
/// no longer holds what the demo left in it (customers imported, an unsubscribe recorded).
async fn not_made_by_a_demo(dir: &Path) -> anyhow::Result<Option<String>> {
    let made: Vec<&str> = [MARKER, CONFIG_FILE, "data", "outbox", "preview.eml"]
        .into_iter()
        .chain(super::init::top_level_entries())
        .chain(["rapport.db", "rapport.db-wal", "rapport.db-shm"])
        .collect();
    let mut others: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !made.contains(&name.as_str()))
        .collect();
    if !others.is_empty() {
        others.sort();
        return Ok(Some(format!("it also holds {}", others.join(", "))));
    }
    let marker = std::fs::read_to_string(dir.join(MARKER))?;
    let Some(left) = marker.lines().nth(1) else {
        // The demo stopped before it finished: there is nothing of the owner's in it yet.
        return Ok(None);
    };
    let finished = std::fs::metadata(dir.join(MARKER))?.modified()?;
    let workspace_files = [CONFIG_FILE, "segments", "templates"];
    if let Some(changed) = changed_since(dir, &workspace_files, finished)? {
        return Ok(Some(format!("{changed} was written after the demo")));
    }
    let workspace = match load_own(dir) {
        Ok((workspace, _)) => workspace,
        Err(e) => return Ok(Some(format!("its rapport.toml does not load ({e})"))),
    };
    let store = crate::store::Store::open_read_only(&workspace.config.database.url, dir).await?;
    let holds = what_the_database_holds(&store).await;
    store.close().await;
    let holds = holds?;
    Ok((holds != left).then(|| format!("its database holds {holds} where the demo left {left}")))
}

/// The first file under `entries` of `dir` (files, or folders searched through) modified after
/// `since`, as a path relative to `dir`.
fn changed_since(
    dir: &Path,
    entries: &[&str],
    since: std::time::SystemTime,
) -> anyhow::Result<Option<String>> {
    let mut pending: Vec<PathBuf> = entries.iter().map(|e| dir.join(e)).collect();
    while let Some(path) = pending.pop() {
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            pending.extend(std::fs::read_dir(&path)?.flatten().map(|e| e.path()));
        } else if metadata.modified()? > since {
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            return Ok(Some(relative.display().to_string()));
        }
    }
    Ok(None)
}

/// The first `.eml` in the outbox, by name.
fn first_message(outbox: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outbox)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files.into_iter().next()
}
