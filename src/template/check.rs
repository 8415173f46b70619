//! What `rapport check` asks of templates: every file compiles, every campaign's template has a
//! subject and a body, and every message template renders for a sample of stored customers plus a
//! synthetic customer with every optional field empty. A failure is reported once per place in the
//! template, with how many of the sampled customers hit it and an example address.

use super::context::{Links, Sender, Shared, synthetic_customer};
use super::library::Library;
use crate::diagnostic::Diagnostic;
use crate::store::{Customer, Store, Summary};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::collections::{BTreeMap, HashMap};

/// How many stored customers each template is rendered for.
pub const SAMPLE_SIZE: i64 = 200;

/// Every template problem of the workspace, as diagnostics (all of them errors).
pub async fn check_templates(workspace: &Workspace) -> anyhow::Result<Vec<Diagnostic>> {
    let (library, mut problems) = Library::load(&workspace.templates_dir())?;
    problems.extend(missing_subjects(workspace, &library)?);
    problems.extend(lone_subjects(workspace, &library));
    let store = workspace.open_store().await?;
    let sample = sample(&store).await;
    store.close().await;
    let (customers, summaries) = sample?;
    for name in library.message_names() {
        problems.extend(render_all(
            workspace, &library, &name, &customers, &summaries,
        ));
    }
    Ok(problems)
}

/// The stored sample, the synthetic customer last, and their summaries.
async fn sample(store: &Store) -> anyhow::Result<(Vec<Customer>, HashMap<i64, Summary>)> {
    let mut customers = store.sample_customers(SAMPLE_SIZE).await?;
    let ids: Vec<i64> = customers.iter().map(|c| c.id).collect();
    let summaries = store.summaries(&ids).await?;
    customers.push(synthetic_customer());
    Ok((customers, summaries))
}

/// A campaign whose template has an HTML body but no subject file.
fn missing_subjects(workspace: &Workspace, library: &Library) -> anyhow::Result<Vec<Diagnostic>> {
    let text = std::fs::read_to_string(workspace.dir.join(crate::config::CONFIG_FILE))?;
    let dir = workspace.templates_dir();
    Ok(workspace
        .config
        .campaigns
        .iter()
        .filter_map(|c| {
            let name = c.template.get_ref().as_str();
            let html = dir.join(format!("{name}.html")).is_file();
            (html && library.source(&format!("{name}.subject")).is_none()).then(|| {
                Diagnostic::new(
                    crate::config::CONFIG_FILE,
                    &text,
                    c.template.span(),
                    format!("template {name:?} has no subject line"),
                )
                .with_hint(format!("create templates/{name}.subject with one line, e.g. Hello {{{{ customer.first_name | default(value=\"there\") }}}}"))
            })
        })
        .collect())
}

/// A `NAME.subject` without `NAME.html` is a message with no body: say so rather than ignore it.
fn lone_subjects(workspace: &Workspace, library: &Library) -> Vec<Diagnostic> {
    let dir = workspace.templates_dir();
    library
        .subject_files()
        .filter_map(|(file, text)| {
            let name = file.strip_suffix(".subject")?;
            (!dir.join(format!("{name}.html")).is_file()).then(|| {
                Diagnostic::new(
                    format!("templates/{file}"),
                    text,
                    0..0,
                    format!("{file} has no body"),
                )
                .with_hint(format!(
                    "create templates/{name}.html (and optionally {name}.txt)"
                ))
            })
        })
        .collect()
}

/// Renders `name` for each customer; one diagnostic per failing place in the template.
fn render_all(
    workspace: &Workspace,
    library: &Library,
    name: &str,
    customers: &[Customer],
    summaries: &HashMap<i64, Summary>,
) -> Vec<Diagnostic> {
    let shared = shared_for(workspace, name);
    let base = workspace
        .config
        .tracking
        .base_url
        .as_url()
        .as_str()
        .trim_end_matches('/');
    let links = Links {
        unsubscribe_url: format!("{base}/u/check"),
        preferences_url: format!("{base}/p/check"),
    };
    let empty = Summary::default();
    let now = Timestamp::now();
    let mut failures: BTreeMap<(String, usize, String), (Diagnostic, usize, String)> =
        BTreeMap::new();
    for customer in customers {
        let summary = summaries.get(&customer.id).unwrap_or(&empty);
        let context = shared.context(customer, summary, &links, now);
        if let Err(error) = library.render(name, &context) {
            let d = library.diagnostic(&error);
            let key = (d.file.clone(), d.span.start, d.message.clone());
            let who = if customer.id == 0 {
                "the customer with every optional field empty".to_string()
            } else {
                customer.email.clone()
            };
            failures.entry(key).or_insert((d, 0, who)).1 += 1;
        }
    }
    let total = customers.len();
    failures
        .into_values()
        .map(|(d, count, example)| explain(d, name, count, total, &example))
        .collect()
}

/// Rewords a render failure: which variable, for how many of the sampled customers.
fn explain(d: Diagnostic, name: &str, count: usize, total: usize, example: &str) -> Diagnostic {
    let (span, what, detail) = match d.message.split_once(" is not defined") {
        Some((_, rest)) => {
            let span = widen_to_path(&d.source, d.span.clone());
            let path = d.source[span.clone()].to_string();
            let detail = rest.trim_start_matches('.').trim().to_string();
            (span, format!("`{path}` is not defined"), detail)
        }
        None => match piped_value(&d.source, d.span.start) {
            Some(value) if d.message.contains("undefined") => {
                let filter = d.source.get(d.span.clone()).unwrap_or_default().trim();
                let what = format!(
                    "`{}` is not defined (the `{filter}` filter needs it)",
                    &d.source[value.clone()]
                );
                (value.start..d.span.end, what, String::new())
            }
            None if d.message.contains("undefined") => {
                let span = widen_to_path(&d.source, d.span.clone());
                let what = format!("`{}` is not defined", &d.source[span.clone()]);
                (span, what, String::new())
            }
            _ => (d.span.clone(), d.message.clone(), String::new()),
        },
    };
    let message = format!(
        "template {name:?}: {what} for {count} of {total} sample customers (e.g. {example})"
    );
    let near = near_name(&what, &detail);
    let hint = [
        near.unwrap_or_else(|| d.hint.clone().unwrap_or_default()),
        detail,
    ]
    .into_iter()
    .filter(|h| !h.is_empty())
    .collect::<Vec<_>>()
    .join("; ");
    let out = Diagnostic::new(d.file, d.source, span, message);
    if hint.is_empty() {
        out
    } else {
        out.with_hint(hint)
    }
}

/// "did you mean `customer`?" when the undefined name is a likely typo of an available one.
fn near_name(what: &str, detail: &str) -> Option<String> {
    let path = what.split('`').nth(1)?;
    let last = path.rsplit('.').next()?;
    let (_, names) = detail.split_once(": ")?;
    let near = crate::diagnostic::did_you_mean(last, names.split(", ").map(str::trim))?;
    Some(format!("did you mean `{near}`?"))
}

/// The span of `summary.last_purchase_at` in `{{ summary.last_purchase_at | ago }}`, given the
/// offset of the filter name.
fn piped_value(source: &str, filter_start: usize) -> Option<std::ops::Range<usize>> {
    let before = source
        .get(..filter_start)?
        .trim_end()
        .strip_suffix('|')?
        .trim_end();
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let start = before.trim_end_matches(is_path).len();
    (start < before.len()).then_some(start..before.len())
}

/// Extends a span over `first_name` to the whole `customer.first_name` before it.
fn widen_to_path(source: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let start = source
        .get(..span.start)
        .map_or(span.start, |before| before.trim_end_matches(is_path).len());
    let end = source.get(span.end..).map_or(span.end, |after| {
        span.end + (after.len() - after.trim_start_matches(is_path).len())
    });
    start..end
}

/// The context of the first campaign that uses template `name`, or a neutral one.
fn shared_for(workspace: &Workspace, name: &str) -> Shared {
    let config = &workspace.config;
    let campaign = config
        .campaigns
        .iter()
        .find(|c| c.template.get_ref().as_str() == name);
    let from = &config.sender.from.0;
    let sender_name = from.name.clone().unwrap_or_default();
    let email = from.email.to_string();
    let sender = Sender {
        name: &sender_name,
        email: &email,
        postal_address: config.sender.postal_address.as_str(),
        currency: config.sender.currency.as_str(),
    };
    let (campaign_name, topic) = match campaign {
        Some(c) => (c.name.get_ref().as_str(), c.topic.as_str()),
        None => (name, "general"),
    };
    Shared::new(
        &sender,
        campaign_name,
        topic,
        config.courtesy.default_timezone.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_whole_variable() {
        let src = "{{ summary.last_purchase_at | ago }} {{ customer.first_name }}";
        let filter = src.find("ago").unwrap();
        assert_eq!(
            &src[piped_value(src, filter).unwrap()],
            "summary.last_purchase_at"
        );
        let field = src.find("first_name").unwrap();
        assert_eq!(
            &src[widen_to_path(src, field..field + 10)],
            "customer.first_name"
        );
        assert_eq!(piped_value(src, field), None);
    }
}
