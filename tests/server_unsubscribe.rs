//! Unsubscribing over real HTTP on both databases: RFC 8058 one-click, the page's buttons and undo,
//! the preferences page, and what the next run of the campaign does about it.

mod common;
#[path = "server_support/http.rs"]
mod http;
#[path = "server_support/setup.rs"]
mod setup;

use common::{Engine, stderr, stdout};
use rapport::token::Purpose;
use setup::{HOSTILE, start};

fn skipped_line(out: &std::process::Output) -> String {
    stdout(out)
        .lines()
        .find(|l| l.trim_start().starts_with("skipped"))
        .unwrap_or_else(|| panic!("no skipped line:\n{}{}", stdout(out), stderr(out)))
        .to_string()
}

/// A GET of the unsubscribe link changes nothing; the one-click POST unsubscribes at once (200, no
/// redirect), and the next run of the campaign skips the customer as opted out.
async fn one_click_unsubscribes_and_the_next_run_skips(engine: Engine) {
    let t = start(engine).await;
    let path = t.path("c0@example.com", Purpose::Unsubscribe);
    let before = t.written().await;
    for _ in 0..3 {
        let page = http::get(t.addr, &path).await;
        assert_eq!(page.status, 200);
    }
    assert_eq!(t.written().await, before, "a GET never unsubscribes");

    let answer = http::post(t.addr, &path, "List-Unsubscribe=One-Click").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("location"), None);
    let suppressions = t.suppressions().await;
    assert_eq!(suppressions["c0@example.com"], ["news"]);
    assert!(suppressions["c1@example.com"].is_empty());
    let events = t.events("c0@example.com", "email.unsubscribed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].properties.0["via"], "one_click");
    // Mailbox providers may post twice: nothing more is written.
    assert_eq!(
        http::post(t.addr, &path, "List-Unsubscribe=One-Click")
            .await
            .status,
        200
    );
    assert_eq!(
        t.events("c0@example.com", "email.unsubscribed").await.len(),
        1
    );

    let out = t.shop.rapport(&["send", "news", "--new-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        skipped_line(&out).contains("opted_out 1"),
        "{}",
        stdout(&out)
    );
    // Another topic still reaches them.
    let out = t.shop.rapport(&["send", "offers"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("opted_out"), "{}", stdout(&out));
    t.stop().await;
}
on_both_databases!(one_click, one_click_unsubscribes_and_the_next_run_skips);

/// The page's buttons: this topic, everything, and undo; and a POST with no known form is refused.
async fn the_page_unsubscribes_from_a_topic_or_everything_and_undoes(engine: Engine) {
    let t = start(engine).await;
    let path = t.path("c2@example.com", Purpose::Unsubscribe);

    let page = http::get(t.addr, &path).await;
    assert!(
        page.text().contains("Maple &amp; Thread"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("12 Alder St, Portland OR 97201"));
    assert!(page.text().contains("value=\"topic\""));

    assert_eq!(http::post(t.addr, &path, "action=topic").await.status, 200);
    assert_eq!(suppressed(&t).await, ["news"]);
    let undone = http::post(t.addr, &path, "action=undo-topic").await;
    assert!(
        undone.text().contains("subscribed again"),
        "{}",
        undone.text()
    );
    assert!(suppressed(&t).await.is_empty());

    assert_eq!(
        http::post(t.addr, &path, "action=everything").await.status,
        200
    );
    assert_eq!(suppressed(&t).await, ["*"]);
    let out = t.shop.rapport(&["send", "news", "--new-run"]);
    assert!(
        skipped_line(&out).contains("suppressed 1"),
        "{}",
        stdout(&out)
    );
    http::post(t.addr, &path, "action=undo-everything").await;
    assert!(suppressed(&t).await.is_empty());

    let kinds = [
        t.events("c2@example.com", "email.unsubscribed").await.len(),
        t.events("c2@example.com", "email.resubscribed").await.len(),
    ];
    assert_eq!(kinds, [2, 2]);
    assert_eq!(
        http::post(t.addr, &path, "action=delete-all").await.status,
        400
    );
    t.stop().await;
}
async fn suppressed(t: &setup::Tracked) -> Vec<String> {
    t.suppressions().await["c2@example.com"].clone()
}

on_both_databases!(
    page_buttons,
    the_page_unsubscribes_from_a_topic_or_everything_and_undoes
);

/// An undo lifts only an unsubscribe, never a hard bounce recorded for the address.
async fn undo_never_lifts_a_bounce(engine: Engine) {
    let t = start(engine).await;
    let mut tx = t.store.begin().await.unwrap();
    rapport::store::suppressions::suppress(
        &mut tx,
        "c0@example.com",
        "*",
        rapport::store::suppressions::Reason::HardBounce,
        None,
        rapport::timestamp::Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let path = t.path("c0@example.com", Purpose::Unsubscribe);

    let answer = http::post(t.addr, &path, "action=undo-everything").await;

    assert_eq!(answer.status, 200);
    assert!(
        answer.text().contains("no unsubscribe to undo"),
        "{}",
        answer.text()
    );
    assert_eq!(t.suppressions().await["c0@example.com"], ["*"]);
    t.stop().await;
}
on_both_databases!(bounces_stay, undo_never_lifts_a_bounce);

/// The preferences page lists the workspace's topics, ticked while received, and saving applies them.
async fn preferences_show_and_change_topics(engine: Engine) {
    let t = start(engine).await;
    let path = t.path("c0@example.com", Purpose::Preferences);
    let page = http::get(t.addr, &path).await;
    assert_eq!(page.status, 200);
    for topic in ["news", "offers"] {
        assert!(
            page.text().contains(&format!("value=\"{topic}\" checked")),
            "{}",
            page.text()
        );
    }

    let saved = http::post(t.addr, &path, "action=save&topic=offers").await;

    assert_eq!(saved.status, 200);
    assert!(saved.text().contains("value=\"news\">"), "{}", saved.text());
    assert_eq!(t.suppressions().await["c0@example.com"], ["news"]);
    http::post(t.addr, &path, "action=save&topic=offers&topic=news").await;
    assert!(t.suppressions().await["c0@example.com"].is_empty());
    t.stop().await;
}
on_both_databases!(preferences, preferences_show_and_change_topics);

/// The `topic` of each of a customer's events of `kind`, sorted.
async fn topics_of(t: &setup::Tracked, email: &str, kind: &str) -> Vec<String> {
    let mut topics: Vec<String> = t
        .events(email, kind)
        .await
        .iter()
        .map(|e| e.properties.0["topic"].as_str().unwrap().to_string())
        .collect();
    topics.sort_unstable();
    topics
}

/// One save that unticks two topics records two `email.unsubscribed` events, one per topic (they
/// share a delivery and an instant), so a segment on either topic finds the customer; ticking both
/// again records two `email.resubscribed`.
async fn a_save_records_an_opt_out_per_topic(engine: Engine) {
    let t = start(engine).await;
    t.shop.write(
        "segments/left_offers.seg",
        "# Opted out of offers.\nemail.unsubscribed[topic == \"offers\"].any()\n",
    );
    let path = t.path("c0@example.com", Purpose::Preferences);

    let saved = http::post(t.addr, &path, "action=save").await;

    assert_eq!(saved.status, 200);
    assert_eq!(t.suppressions().await["c0@example.com"], ["news", "offers"]);
    assert_eq!(
        topics_of(&t, "c0@example.com", "email.unsubscribed").await,
        ["news", "offers"]
    );
    for event in t.events("c0@example.com", "email.unsubscribed").await {
        assert_eq!(event.properties.0["via"], "preferences");
    }
    let out = t.shop.rapport(&["segment", "count", "left_offers"]);
    assert_eq!(stdout(&out).trim(), "1", "{}", stderr(&out));

    http::post(t.addr, &path, "action=save&topic=news&topic=offers").await;

    assert!(t.suppressions().await["c0@example.com"].is_empty());
    assert_eq!(
        topics_of(&t, "c0@example.com", "email.resubscribed").await,
        ["news", "offers"]
    );
    t.stop().await;
}
on_both_databases!(save_per_topic, a_save_records_an_opt_out_per_topic);

/// A hostile first name is shown escaped on the pages, never as markup.
async fn hostile_names_are_escaped(engine: Engine) {
    let t = start(engine).await;
    for purpose in [Purpose::Unsubscribe, Purpose::Preferences] {
        let page = http::get(t.addr, &t.path("c1@example.com", purpose)).await;
        assert!(!page.text().contains(HOSTILE), "{}", page.text());
        assert!(!page.text().contains("<script"), "{}", page.text());
    }
    let page = http::get(t.addr, &t.path("c1@example.com", Purpose::Unsubscribe)).await;
    assert!(
        page.text()
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.text()
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    t.stop().await;
}
on_both_databases!(hostile_names, hostile_names_are_escaped);

/// Mailbox providers may post the one-click request several times at once: one suppression, one
/// `email.unsubscribed` event, and every post answered 200.
async fn concurrent_one_clicks_unsubscribe_once(engine: Engine) {
    let t = start(engine).await;
    let path = t.path("c2@example.com", Purpose::Unsubscribe);
    let posts: Vec<_> = (0..12)
        .map(|_| {
            let path = path.clone();
            let addr = t.addr;
            tokio::spawn(async move { http::post(addr, &path, "List-Unsubscribe=One-Click").await })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap().status, 200);
    }
    assert_eq!(t.suppressions().await["c2@example.com"], ["news"]);
    assert_eq!(
        t.events("c2@example.com", "email.unsubscribed").await.len(),
        1
    );
    t.stop().await;
}
on_both_databases!(
    concurrent_one_clicks,
    concurrent_one_clicks_unsubscribe_once
);

/// The token of the one-click unsubscribe link in a message file (its `List-Unsubscribe` header).
fn unsubscribe_token(eml: &str) -> String {
    let header = eml
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .expect("a List-Unsubscribe header");
    let (_, link) = header.split_once("/u/").expect("an https unsubscribe link");
    link.split('>').next().unwrap().to_string()
}

/// Rotating the secret: with the old one in `previous_secrets`, the unsubscribe links of mail
/// already sent keep working (without it they answer 404), and new mail is signed with the new one.
async fn a_rotated_secret_keeps_earlier_links_working(engine: Engine) {
    let mut t = start(engine).await;
    let old_link = t.path("c0@example.com", Purpose::Unsubscribe);
    let new = "4c8a2e6f0b9d1357ace2468bdf013579bdf02468ace13579fdb97531eca86420";
    let rotated = setup::CONFIG.replace(setup::SECRET, new);
    let with_previous = rotated.replace(
        &format!("secret = \"{new}\""),
        &format!(
            "secret = \"{new}\"\nprevious_secrets = [\"{}\"]",
            setup::SECRET
        ),
    );

    t.restart_with(&rotated).await;
    let without = http::post(t.addr, &old_link, "List-Unsubscribe=One-Click").await;
    let suppressed_without = t.suppressions().await["c0@example.com"].clone();
    t.restart_with(&with_previous).await;
    let with = http::post(t.addr, &old_link, "List-Unsubscribe=One-Click").await;
    let out = t.shop.rapport(&["send", "offers"]);
    assert!(out.status.success(), "{}", stderr(&out));

    assert_eq!(without.status, 404, "the old secret alone no longer signs");
    assert!(suppressed_without.is_empty());
    assert_eq!(with.status, 200);
    assert_eq!(t.suppressions().await["c0@example.com"], ["news"]);
    let sent_before: Vec<i64> = t.deliveries.values().copied().collect();
    let mut offers = 0;
    for entry in std::fs::read_dir(t.shop.path().join("outbox")).unwrap() {
        let path = entry.unwrap().path();
        let id: i64 = path.file_stem().unwrap().to_str().unwrap()["delivery-".len()..]
            .parse()
            .unwrap();
        if sent_before.contains(&id) {
            continue;
        }
        offers += 1;
        let token = unsubscribe_token(&std::fs::read_to_string(&path).unwrap());
        let signed_by =
            |secret: &str| rapport::token::Signer::new(secret.as_bytes()).verify(&token);
        assert!(
            signed_by(new).is_some(),
            "new mail is signed with the new secret"
        );
        assert_eq!(signed_by(setup::SECRET), None);
    }
    assert_eq!(offers, 3, "c0 opted out of news only");
    t.stop().await;
}
on_both_databases!(rotated_secret, a_rotated_secret_keeps_earlier_links_working);
