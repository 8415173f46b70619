//! `rapport preview CAMPAIGN --to EMAIL [--part subject|text|html|headers|eml]`: exactly the message
//! that customer would get, printed instead of sent. The database is opened read-only: a preview
//! writes nothing. Links are signed for the preview delivery (id 0), which no real delivery has, so
//! they stay inactive until the message is really sent. It ends with the send decision for that
//! customer as of now: sent at once, deferred (until when, and why), or skipped (and why).

use crate::campaign::decide;
use crate::clock::Clock;
use crate::config::CampaignConfig;
use crate::diagnostic::did_you_mean;
use crate::domain::EmailAddress;
use crate::message::{ComposeError, Composed, Composer, PREVIEW};
use crate::store::Store;
use crate::template::Library;
use crate::workspace::Workspace;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The campaign, as named by `name` in a [[campaign]] of rapport.toml.
    pub campaign: String,
    /// The customer's address (any letter case).
    #[arg(long, value_name = "EMAIL")]
    pub to: String,
    /// Print only one part; `eml` is the complete message, which a mail client opens.
    #[arg(long, value_enum)]
    pub part: Option<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Subject,
    Text,
    Html,
    Headers,
    Eml,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    let campaign = find_campaign(&workspace, &args.campaign)?;
    let library = load_template(&workspace, campaign)?;
    let email = EmailAddress::parse(&args.to)?;
    let store = Store::open_read_only(&workspace.config.database.url, &workspace.dir).await?;
    let now = Clock::from_env()?.now();
    let found = async {
        let (customer, summary) = find_recipient(&store, email.key()).await?;
        let decision = decide(&workspace, &store, campaign, &customer, now).await?;
        anyhow::Ok((customer, summary, decision))
    }
    .await;
    store.close().await;
    let (customer, summary, decision) = found?;
    let composer = Composer::new(&workspace.config, campaign, &library)
        .with_dkim(&workspace.config, &workspace.dir)?;
    let composed = match composer.compose(&customer, &summary, PREVIEW, now) {
        Ok(composed) => composed,
        Err(ComposeError::Render(diagnostic)) => return Err(diagnostic.into()),
        Err(other) => return Err(other.into()),
    };
    print_part(&composed, &composer.wire(&composed.message), args.part)?;
    // A single part may be piped into a file: the decision then goes to stderr.
    if args.part.is_some() {
        eprintln!("{decision}");
    } else {
        println!("\n{decision}");
    }
    eprintln!(
        "preview: nothing was sent or stored; the {} tracked links and the unsubscribe link are signed \
         for the preview (delivery 0) and stay inactive until the message is really sent",
        composed.links.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn find_campaign<'w>(
    workspace: &'w Workspace,
    name: &str,
) -> anyhow::Result<&'w CampaignConfig> {
    let campaigns = &workspace.config.campaigns;
    if let Some(c) = campaigns.iter().find(|c| c.name.get_ref().as_str() == name) {
        return Ok(c);
    }
    let names: Vec<&str> = campaigns
        .iter()
        .map(|c| c.name.get_ref().as_str())
        .collect();
    let hint = match did_you_mean(name, names.iter().copied()) {
        Some(near) => format!("did you mean \"{near}\"?"),
        None if names.is_empty() => "declare one with [[campaign]] in rapport.toml".to_string(),
        None => format!("the campaigns are {}", names.join(", ")),
    };
    bail!("no campaign is named {name:?} in rapport.toml\n  = hint: {hint}")
}

pub(super) fn load_template(
    workspace: &Workspace,
    campaign: &CampaignConfig,
) -> anyhow::Result<Library> {
    let (library, problems) = Library::load(&workspace.templates_dir())?;
    let name = campaign.template.get_ref().as_str();
    if library.message_names().iter().any(|n| n == name) {
        return Ok(library);
    }
    for problem in &problems {
        eprintln!("{problem}\n");
    }
    bail!(
        "template {name:?} of campaign {:?} cannot be used: it needs templates/{name}.subject and templates/{name}.html, both compiling\n  = hint: run `rapport check` for every problem",
        campaign.name.get_ref().as_str()
    )
}

pub(super) async fn find_recipient(
    store: &Store,
    key: &str,
) -> anyhow::Result<(crate::store::Customer, crate::store::Summary)> {
    let Some(customer) = store.customer_by_key(key).await? else {
        let hint = super::customer::suggestion(store, key).await?;
        bail!("no customer has the address {key}{hint}");
    };
    let summary = store
        .summaries(&[customer.id])
        .await?
        .remove(&customer.id)
        .unwrap_or_default();
    Ok((customer, summary))
}

fn print_part(composed: &Composed, eml: &[u8], part: Option<Part>) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(eml);
    let headers = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let mut out = std::io::stdout().lock();
    match part {
        Some(Part::Subject) => writeln!(out, "{}", composed.subject),
        Some(Part::Text) => write!(out, "{}", composed.text),
        Some(Part::Html) => write!(out, "{}", composed.html),
        Some(Part::Headers) => writeln!(out, "{headers}"),
        Some(Part::Eml) => out.write_all(eml),
        None => write!(
            out,
            "{headers}\n\n--- text/plain ---\n{}\n--- text/html ---\n{}\n",
            composed.text, composed.html
        ),
    }
    .context("cannot write to standard output")
}
