//! `rapport check`: what an owner should fix before a campaign runs. A broken `rapport.toml` stops
//! at its first error; past that, every problem in the campaigns is reported at once.

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::wording::plural;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(dir: &Path, _args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    warn_if_secret_is_published(&workspace);
    let mut problems = check_campaign_references(&workspace)?;
    problems.extend(crate::template::check_templates(&workspace).await?);
    let dkim_problem = workspace
        .config
        .dkim
        .as_ref()
        .and_then(|settings| crate::message::dkim::load(settings, &workspace.dir).err());
    if let Some(problem) = &dkim_problem {
        eprintln!("error: {problem:#}\n");
    }
    warn_if_dkim_does_not_align(&workspace);
    let store = workspace.open_store().await?;
    let segments = crate::segment::check::check_segments(&workspace.dir, &store).await?;
    let (timing, timing_warnings) =
        super::check_when::describe(&workspace, &segments.stored_kinds)?;
    problems.extend(segments.errors);
    for problem in problems
        .iter()
        .map(ToString::to_string)
        .chain(segments.warnings)
        .chain(timing_warnings)
    {
        eprintln!("{problem}\n");
    }
    let (customers, events) = (store.count_customers().await?, store.count_events().await?);
    store.close().await;
    println!(
        "{}: {}",
        crate::config::CONFIG_FILE,
        plural(workspace.config.campaigns.len() as u64, "campaign")
    );
    for line in &timing {
        println!("{line}");
    }
    println!(
        "database {}: {}, {}",
        store.url(),
        plural(customers as u64, "customer"),
        plural(events as u64, "event")
    );
    println!("{}", segments.summary);
    if problems.is_empty() && dkim_problem.is_none() {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        let count = problems.len() + usize::from(dkim_problem.is_some());
        println!("{}", plural(count as u64, "problem"));
        Ok(ExitCode::FAILURE)
    }
}

/// The example workspace at the root of rapport's repository, and the docs, have their secrets in
/// public; a shop that copied one could have its links forged. `check` warns (the example workspace
/// stays usable with the outbox); sending through SMTP, the daemon and `serve` refuse it
/// ([`Workspace::refuse_published_secret`]).
fn warn_if_secret_is_published(workspace: &Workspace) {
    if let Some(published) = crate::config::published_secret(&workspace.config) {
        eprintln!(
            "warning: {} an example published with rapport: anyone could forge your tracking and \
             unsubscribe links, so `rapport send` through SMTP, `rapport serve` and the daemon (when it \
             sends through SMTP or serves links) refuse it\n  = hint: {}\n",
            published.is(),
            published.hint()
        );
    }
}

/// DMARC counts a DKIM signature only when its domain aligns with the From address's (RFC 7489
/// §3.1.1; relaxed, the default: the same organizational domain). Without the Public Suffix List,
/// "aligned" here means one of the two domains is the other or ends with "." and the other.
fn warn_if_dkim_does_not_align(workspace: &Workspace) {
    let Some(dkim) = &workspace.config.dkim else {
        return;
    };
    let from = workspace
        .config
        .sender
        .from
        .0
        .email
        .domain()
        .to_ascii_lowercase();
    let signing = dkim.domain.to_ascii_lowercase();
    let within = |a: &str, b: &str| a == b || a.ends_with(&format!(".{b}"));
    if !within(&from, &signing) && !within(&signing, &from) {
        eprintln!(
            "warning: [dkim] domain = {:?} is not the domain of sender.from ({from}): receivers that \
             apply DMARC will not count the signature\n  = hint: sign for {from:?} (publish the key \
             under {}._domainkey.{from})\n",
            dkim.domain, dkim.selector
        );
    }
}

/// Each campaign must name a segment file and a template that exist.
fn check_campaign_references(workspace: &Workspace) -> anyhow::Result<Vec<Diagnostic>> {
    let text = std::fs::read_to_string(workspace.dir.join(crate::config::CONFIG_FILE))?;
    let segments = names_in(&workspace.segments_dir(), "seg");
    let templates = names_in(&workspace.templates_dir(), "html");
    let mut problems = Vec::new();
    for campaign in &workspace.config.campaigns {
        let references = [
            (campaign.segment.as_ref(), &segments, "segments", "seg"),
            (Some(&campaign.template), &templates, "templates", "html"),
        ];
        for (reference, known, folder, ext) in references {
            let Some(reference) = reference else { continue };
            let name = reference.get_ref().as_str();
            if known.iter().any(|k| k == name) {
                continue;
            }
            let hint = match did_you_mean(name, known.iter().map(String::as_str)) {
                Some(near) => format!("did you mean \"{near}\"?"),
                None => format!("create {folder}/{name}.{ext}"),
            };
            let message = format!(
                "campaign {:?}: there is no {folder}/{name}.{ext}",
                campaign.name.get_ref().as_str()
            );
            problems.push(
                Diagnostic::new(crate::config::CONFIG_FILE, &text, reference.span(), message)
                    .with_hint(hint),
            );
        }
    }
    Ok(problems)
}

/// File stems in `dir` with extension `ext`, sorted.
fn names_in(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}
