//! The part of `rapport check` about *when*: each campaign's next fire (in the workspace zone and in
//! UTC), its trigger, or that only `rapport send` starts it; with warnings for a one-shot time already
//! past, a trigger naming an event kind never stored, and a tracking server open to other machines.

use crate::clock::Clock;
use crate::diagnostic::did_you_mean;
use crate::schedule::{When, next_fire};
use crate::workspace::Workspace;

/// One line per campaign saying when it goes out, and the warnings.
/// `kinds` are the event kinds stored (the segment check has read them).
pub fn describe(
    workspace: &Workspace,
    kinds: &[String],
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let config = &workspace.config;
    let tz = config.workspace_timezone();
    let now = Clock::from_env()?.now();
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    let width = config
        .campaigns
        .iter()
        .map(|c| c.name().len())
        .max()
        .unwrap_or(0);
    for campaign in &config.campaigns {
        let name = campaign.name();
        let when = match When::of(campaign) {
            Some(when) => match next_fire(when, tz, now) {
                Some(fire) => {
                    let local = fire.datetime().with_timezone(&tz);
                    format!(
                        "next fire {} {tz} ({fire})",
                        local.format("%a %Y-%m-%d %H:%M")
                    )
                }
                None => {
                    warnings.push(format!(
                        "warning: campaign {name:?}: its `at` time has passed: the daemon will not send it \
                         (unless it is within [daemon] grace of it); `rapport send {name}` sends it now"
                    ));
                    "its time has passed".to_string()
                }
            },
            None => match &campaign.trigger {
                Some(kind) => {
                    let kind = kind.get_ref().as_str();
                    if !kinds.iter().any(|k| k == kind) {
                        let hint = match did_you_mean(kind, kinds.iter().map(String::as_str)) {
                            Some(near) => format!(" (did you mean `{near}`?)"),
                            None => String::new(),
                        };
                        warnings.push(format!(
                            "warning: campaign {name:?}: no `{kind}` event is stored yet{hint}: it triggers on the first one"
                        ));
                    }
                    let delay = campaign.delay_words();
                    format!("after each customer's `{kind}` event, {delay}, once per customer")
                }
                None => "only when you run `rapport send`".to_string(),
            },
        };
        if let (Some(at), Some(quiet)) = (campaign.deliver_at, config.courtesy.quiet_hours)
            && quiet.contains(at.0)
        {
            warnings.push(format!(
                "warning: campaign {name:?}: deliver_at = \"{}\" falls in the quiet hours ({quiet}): every message will \
                 wait until {} instead",
                at.0.format("%H:%M"),
                quiet.end.format("%H:%M")
            ));
        }
        let local_time = campaign
            .deliver_at
            .map(|t| {
                format!(
                    "; delivered at {} in each customer's zone",
                    t.0.format("%H:%M")
                )
            })
            .unwrap_or_default();
        lines.push(format!("  {name:<width$}  {when}{local_time}"));
    }
    let listen = config.tracking.listen;
    if !listen.ip().is_loopback() {
        warnings.push(format!(
            "warning: [tracking] listen = \"{listen}\" accepts connections from other machines\n  = hint: listen on \
             127.0.0.1 and let the reverse proxy (docs/operations.md) reach it, unless the proxy runs elsewhere"
        ));
    }
    Ok((lines, warnings))
}
