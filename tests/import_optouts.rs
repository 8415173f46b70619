//! Opt-outs imported as events (`email.unsubscribed`, `email.bounced`, `email.complained`, say from
//! the tool a shop used before) stop mail as rapport's own do, through the real binary, on SQLite and
//! PostgreSQL.

mod common;
use common::{Engine, Shop, stderr, stdout};
use rapport::store::suppressions::{ALL_TOPICS, suppression_for};

const CUSTOMERS: &str = "\
email,first_name
gone@example.com,Gina
offers@example.com,Omar
bounced@example.com,Bea
complained@example.com,Carl
changed@example.com,Chloe
buyer@example.com,Bruno
";

/// What another tool exported: unsubscribes (from everything, and from one topic), a bounce, a
/// complaint, an unsubscribe that the customer took back later, and a plain purchase.
const EVENTS: &str = "\
email,kind,occurred_at,topic
gone@example.com,email.unsubscribed,2026-10-01,
offers@example.com,email.unsubscribed,2026-10-01,offers
bounced@example.com,email.bounced,2026-10-02,
complained@example.com,email.complained,2026-10-03,
changed@example.com,email.unsubscribed,2026-10-01,offers
changed@example.com,email.resubscribed,2026-10-05,offers
buyer@example.com,purchase,2026-10-04,
";

/// The scope and reason that keep `email` from mail about `topic`, if any.
async fn suppression(shop: &Shop, email: &str, topic: &str) -> Option<(String, String)> {
    let store = shop.store().await;
    let mut tx = store.begin_read().await.unwrap();
    let found = suppression_for(&mut tx, email, topic).await.unwrap();
    tx.rollback().await.unwrap();
    store.close().await;
    found
}

async fn imported_opt_outs_stop_mail(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_customers(CUSTOMERS);
    shop.write("events.csv", EVENTS);

    let first = shop.rapport(&["import", "events", "events.csv"]);
    let again = shop.rapport(&["import", "events", "events.csv"]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("; 4 opt-outs applied"),
        "{}",
        stdout(&first)
    );
    let everything = |reason: &str| Some((ALL_TOPICS.to_string(), reason.to_string()));
    for topic in ["newsletter", "offers"] {
        assert_eq!(
            suppression(&shop, "gone@example.com", topic).await,
            everything("unsubscribe")
        );
        assert_eq!(
            suppression(&shop, "bounced@example.com", topic).await,
            everything("hard_bounce")
        );
        assert_eq!(
            suppression(&shop, "complained@example.com", topic).await,
            everything("complaint")
        );
        assert_eq!(suppression(&shop, "buyer@example.com", topic).await, None);
        assert_eq!(
            suppression(&shop, "changed@example.com", topic).await,
            None,
            "the later opt-in stands"
        );
    }
    assert_eq!(
        suppression(&shop, "offers@example.com", "offers").await,
        Some(("offers".to_string(), "unsubscribe".to_string()))
    );
    assert_eq!(
        suppression(&shop, "offers@example.com", "newsletter").await,
        None
    );
    // A second import of the same file stores nothing more and applies nothing more.
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("0 events inserted, 7 already stored"),
        "{}",
        stdout(&again)
    );
    assert!(!stdout(&again).contains("opt-out"), "{}", stdout(&again));
}
on_both_databases!(imported_opt_outs_stop_mail, imported_opt_outs_stop_mail);

/// The send itself skips them: the newsletter goes to the customers still subscribed to it, and the
/// dry run names those it skips.
async fn a_send_skips_imported_opt_outs(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_data(CUSTOMERS, EVENTS);
    let dry_run = shop.rapport(&["send", "newsletter", "--dry-run"]);

    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    let out = stdout(&dry_run);
    for mailed in [
        "offers@example.com",
        "changed@example.com",
        "buyer@example.com",
    ] {
        assert!(out.contains(&format!("would send to {mailed}")), "{out}");
    }
    let skipped_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("skipped: 3 suppressed: "))
        .unwrap_or_else(|| panic!("no line for the 3 suppressed: {out}"));
    for skipped in [
        "gone@example.com",
        "bounced@example.com",
        "complained@example.com",
    ] {
        assert!(!out.contains(&format!("would send to {skipped}")), "{out}");
        assert!(skipped_line.contains(skipped), "{skipped_line}");
    }
}
on_both_databases!(
    a_send_skips_imported_opt_outs,
    a_send_skips_imported_opt_outs
);

/// An opt-in takes back an earlier opt-out of the same topic wherever it is in the file, even in a
/// later batch than the opt-out (rows are written a thousand at a time); without a topic, both are
/// about everything.
async fn a_later_opt_in_anywhere_in_the_file_stands(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_customers(CUSTOMERS);
    let mut events = String::from("email,kind,occurred_at,topic\n");
    events.push_str("gone@example.com,email.unsubscribed,2026-10-01,\n");
    events.push_str("offers@example.com,email.unsubscribed,2026-10-01,offers\n");
    for day in 0..1_500 {
        let at = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(day);
        events.push_str(&format!("buyer@example.com,purchase,{at},\n"));
    }
    events.push_str("gone@example.com,email.resubscribed,2026-10-05,\n");
    events.push_str("offers@example.com,email.resubscribed,2026-10-05,offers\n");
    shop.write("events.csv", &events);

    let out = shop.rapport(&["import", "events", "events.csv"]);

    assert!(out.status.success(), "{}", stderr(&out));
    for (email, topic) in [
        ("gone@example.com", "newsletter"),
        ("offers@example.com", "offers"),
    ] {
        assert_eq!(suppression(&shop, email, topic).await, None, "{email}");
    }
}
on_both_databases!(
    a_later_opt_in_anywhere_in_the_file_stands,
    a_later_opt_in_anywhere_in_the_file_stands
);

/// A bounce another tool calls soft (a full mailbox, a server down for a day), however it spells it,
/// is kept as history but stops nothing; a hard one, one with no type, or one of a type rapport does
/// not know, stops everything.
async fn only_hard_bounces_stop_mail(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_customers(CUSTOMERS);
    shop.write(
        "bounces.csv",
        "email,kind,occurred_at,bounce_type\n\
         gone@example.com,email.bounced,2026-10-02,soft\n\
         offers@example.com,email.bounced,2026-10-02,SoftBounce\n\
         bounced@example.com,email.bounced,2026-10-02,permanent\n\
         complained@example.com,email.bounced,2026-10-02,maybe\n\
         changed@example.com,email.bounced,2026-10-02,\n",
    );

    let out = shop.rapport(&["import", "events", "bounces.csv"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("5 events inserted") && stdout(&out).contains("; 3 opt-outs applied"),
        "{}",
        stdout(&out)
    );
    let hard = Some((ALL_TOPICS.to_string(), "hard_bounce".to_string()));
    for (email, stopped) in [
        ("gone@example.com", None),
        ("offers@example.com", None),
        ("bounced@example.com", hard.clone()),
        ("complained@example.com", hard.clone()),
        ("changed@example.com", hard),
    ] {
        assert_eq!(
            suppression(&shop, email, "newsletter").await,
            stopped,
            "{email}"
        );
    }
}
on_both_databases!(only_hard_bounces_stop_mail, only_hard_bounces_stop_mail);

/// An imported unsubscribe from a topic no campaign has (the other tool spelt it `Offers`) is
/// stored, and the import warns that it stops nothing, pointing at the nearest topic; importing the
/// file again warns again.
async fn a_topic_no_campaign_has_is_pointed_out(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_customers(CUSTOMERS);
    shop.write(
        "events.csv",
        "email,kind,occurred_at,topic\n\
         gone@example.com,email.unsubscribed,2026-10-01,Offers\n\
         offers@example.com,email.unsubscribed,2026-10-01,Offers\n\
         bounced@example.com,email.unsubscribed,2026-10-01,newsletter\n",
    );

    let out = shop.rapport(&["import", "events", "events.csv"]);
    let again = shop.rapport(&["import", "events", "events.csv"]);

    for out in [&out, &again] {
        assert!(out.status.success(), "{}", stderr(out));
        let warning = stderr(out);
        assert!(
            warning.contains(
                "warning: events.csv: 2 unsubscribes from the topic \"Offers\", which no campaign in rapport.toml has"
            ) && warning.contains("= hint: did you mean \"offers\"?"),
            "{warning}"
        );
        assert!(!warning.contains("\"newsletter\""), "{warning}");
    }
    assert_eq!(
        suppression(&shop, "gone@example.com", "offers").await,
        None,
        "a topic is matched exactly"
    );
}
on_both_databases!(
    a_topic_no_campaign_has_is_pointed_out,
    a_topic_no_campaign_has_is_pointed_out
);
