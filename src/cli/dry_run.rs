//! `rapport send CAMPAIGN --dry-run`: every member's message rendered, nothing sent or recorded, and
//! a report of who would get it, who would be skipped and why, who would wait (quiet hours,
//! `deliver_at`) and until when, and who would fall back to a default (no first name, no zone).

use crate::campaign::{audience, send_time_check};
use crate::clock::Clock;
use crate::config::CampaignConfig;
use crate::message::{Composer, PREVIEW};
use crate::schedule::Timing;
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::process::ExitCode;

/// Addresses named per skip reason; the rest are counted.
const SKIPPED_SHOWN: usize = 5;

/// `--dry-run`: renders every member's message, records nothing, and reports who would be skipped.
pub(super) async fn dry_run(
    workspace: &Workspace,
    store: &Store,
    campaign: &CampaignConfig,
    composer: &Composer<'_>,
    limit: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let now = Clock::from_env()?.now();
    let condition = audience(&workspace.segments_dir(), campaign, store.dialect(), now)?;
    let mut ids = Vec::new();
    store
        .for_each_member(&condition, limit, |c| {
            ids.push(c.id);
            Ok(())
        })
        .await?;
    let mut would_send = 0;
    // By reason: how many, and the first few addresses.
    let mut skipped = std::collections::BTreeMap::<&str, (u64, Vec<String>)>::new();
    let mut failures = Vec::new();
    let mut shown = 0;
    let (mut no_first_name, mut no_timezone) = (0u64, 0u64);
    let timing = Timing::new(&workspace.config, campaign.deliver_at);
    let mut deferred: std::collections::BTreeMap<&str, (u64, Timestamp)> = Default::default();
    for chunk in ids.chunks(500) {
        let customers = store.customers_by_ids(chunk).await?;
        let summaries = store.summaries(chunk).await?;
        for customer in &customers {
            let mut tx = store.begin_read().await?;
            let skip = send_time_check(
                &mut tx,
                customer,
                campaign.topic.as_str(),
                campaign.weekly_cap(&workspace.config.courtesy),
                now,
            )
            .await?;
            tx.rollback().await?;
            if let Some(skip) = skip {
                let (n, shown) = skipped.entry(skip.reason()).or_default();
                *n += 1;
                if shown.len() < SKIPPED_SHOWN {
                    shown.push(customer.email.clone());
                }
                continue;
            }
            let summary = summaries.get(&customer.id).cloned().unwrap_or_default();
            match composer.compose(customer, &summary, PREVIEW, now) {
                Ok(composed) => {
                    would_send += 1;
                    no_first_name +=
                        u64::from(customer.first_name.as_deref().is_none_or(str::is_empty));
                    no_timezone += u64::from(customer.timezone.is_none());
                    let zone = timing.zone(customer.timezone.as_deref());
                    if let Some(deferral) = timing.due(zone, now) {
                        let entry = deferred
                            .entry(deferral.reason())
                            .or_insert((0, deferral.until()));
                        entry.0 += 1;
                        entry.1 = entry.1.min(deferral.until());
                    }
                    if shown < 20 {
                        shown += 1;
                        println!("would send to {:<32} {}", customer.email, composed.subject);
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", customer.email)),
            }
        }
    }
    if would_send > shown {
        println!("… and {} more", would_send - shown);
    }
    let name = campaign.name.get_ref().as_str();
    println!(
        "dry run of campaign {name}: {} in the segment, {would_send} would be sent",
        ids.len()
    );
    for (reason, (n, shown)) in &skipped {
        let more = match *n - shown.len() as u64 {
            0 => String::new(),
            more => format!(" and {more} more"),
        };
        println!("  skipped: {n} {reason}: {}{more}", shown.join(", "));
    }
    for failure in &failures {
        println!("  cannot render: {failure}");
    }
    for (reason, (n, first)) in &deferred {
        let what = match *reason {
            "quiet hours" => "the end of their quiet hours",
            _ => "the campaign's deliver_at time in their zone",
        };
        println!("  deferred: {n} would wait for {what} (the first until {first})");
    }
    if no_first_name > 0 {
        println!(
            "  fallback: {no_first_name} have no first name: the template's default greeting is used"
        );
    }
    if no_timezone > 0 {
        let zone = workspace.config.courtesy.default_timezone.0;
        println!(
            "  fallback: {no_timezone} have no time zone: courtesy.default_timezone ({zone}) is used"
        );
    }
    println!("nothing was sent or recorded");
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
