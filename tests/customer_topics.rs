//! `rapport customer EMAIL --unsubscribe --topic TOPIC` with the real binary on both databases: a
//! topic no campaign of rapport.toml has would block nothing, so it is refused with a hint and
//! nothing is stored; a campaign's topic stops that campaign's mail and no other.

mod common;
use common::{Engine, Shop, stderr, stdout};

/// Two customers and two campaigns to everyone, each of its own topic.
const CONFIG: &str = r#"[[campaign]]
name = "news"
segment = "everyone"
template = "winback"
topic = "newsletter"

[[campaign]]
name = "deals"
segment = "everyone"
template = "winback"
topic = "offers"
"#;

async fn shop(engine: Engine) -> Shop {
    common::shop_with(engine, &common::numbered_customers(2), CONFIG).await
}

/// Everything an opt-out could have written: the customer's suppressions and the stored events.
async fn written(shop: &Shop) -> (Vec<String>, i64) {
    let store = shop.store().await;
    let written = (
        store.suppressed_topics("c0@example.com").await.unwrap(),
        store.count_events().await.unwrap(),
    );
    store.close().await;
    written
}

/// The summary line of a send that starts with `label` (`sent`, `skipped`), its spaces collapsed:
/// `skipped 1 (opted_out 1)`.
fn summary_line(out: &std::process::Output, label: &str) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no `{label}` line:\n{text}{}", stderr(out)));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A wrong case, a typo, a topic far from any, and `*` are each refused with the topics and a
/// hint, and nothing is stored: the next send still reaches the customer.
async fn an_unknown_topic_is_refused_and_nothing_is_stored(engine: Engine) {
    let shop = shop(engine).await;
    let before = written(&shop).await;
    let refusals = [
        (
            "Newsletter",
            "did you mean \"newsletter\"? the topics are newsletter, offers",
        ),
        (
            "ofers",
            "did you mean \"offers\"? the topics are newsletter, offers",
        ),
        ("weather", "hint: the topics are newsletter, offers"),
        ("*", "leave out --topic to unsubscribe from every email"),
    ];

    for (topic, hint) in refusals {
        let out = shop.rapport(&[
            "customer",
            "c0@example.com",
            "--unsubscribe",
            "--topic",
            topic,
        ]);

        assert_eq!(out.status.code(), Some(1), "{topic}: {}", stdout(&out));
        let message = format!("no campaign in rapport.toml has the topic {topic:?}");
        assert!(stderr(&out).contains(&message), "{}", stderr(&out));
        assert!(stderr(&out).contains(hint), "{}", stderr(&out));
        assert!(!stdout(&out).contains("unsubscribed"), "{}", stdout(&out));
    }

    assert_eq!(written(&shop).await, before);
    assert_eq!(before, (Vec::new(), 0));
    let news = shop.rapport(&["send", "news"]);
    assert!(news.status.success(), "{}", stderr(&news));
    assert!(summary_line(&news, "sent") == "sent 2", "{}", stdout(&news));
}
on_both_databases!(
    unknown_topics,
    an_unknown_topic_is_refused_and_nothing_is_stored
);

/// A campaign's topic, in its own case, is recorded with its event: that campaign skips the customer
/// as opted out, the other still mails them.
async fn a_campaign_topic_stops_that_campaign_only(engine: Engine) {
    let shop = shop(engine).await;

    let out = shop.rapport(&[
        "customer",
        "C0@example.com",
        "--unsubscribe",
        "--topic",
        "newsletter",
    ]);
    let news = shop.rapport(&["send", "news"]);
    let deals = shop.rapport(&["send", "deals"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("c0@example.com is unsubscribed from the topic \"newsletter\"."),
        "{}",
        stdout(&out)
    );
    assert_eq!(written(&shop).await.0, ["newsletter"]);
    // The customer's page says what mail they no longer get.
    assert!(
        stdout(&out).contains("  no mail         topic \"newsletter\" (unsubscribe since "),
        "{}",
        stdout(&out)
    );
    assert!(
        summary_line(&news, "skipped").contains("opted_out 1"),
        "{}",
        stdout(&news)
    );
    assert!(
        summary_line(&deals, "sent") == "sent 2",
        "{}",
        stdout(&deals)
    );
}
on_both_databases!(campaign_topics, a_campaign_topic_stops_that_campaign_only);
