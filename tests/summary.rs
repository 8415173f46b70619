//! Behaviour summaries, on SQLite and PostgreSQL: what templates learn about a customer's past.

mod common;
use common::{Engine, Shop};

const CUSTOMERS: &str =
    "email,first_name\nalice@example.com,Alice\nbob@example.com,Bob\ncarol@example.com,Carol\n";
const EVENTS: &str = "\
email,kind,occurred_at,amount,category,item
alice@example.com,purchase,2026-01-10T10:00:00Z,10,linen,Napkins
alice@example.com,purchase,2026-02-10T10:00:00Z,20,wool,Scarf
alice@example.com,purchase,2026-03-10T10:00:00Z,30,wool,Hat
alice@example.com,purchase,2026-04-10T10:00:00Z,40,linen,Apron
alice@example.com,purchase,2026-05-10T10:00:00Z,50,wool,Gloves
alice@example.com,purchase,2026-06-10T10:00:00Z,60,cotton,Shirt
alice@example.com,visit,2026-07-01T10:00:00Z,,,
alice@example.com,email.opened,2026-07-02T10:00:00Z,,,
bob@example.com,visit,2026-05-01T10:00:00Z,,,
";

/// One call summarises a batch: counts and totals over every purchase, the five most recent newest
/// first, the most frequent category, the last visit and the last opened email; customers without
/// events are absent.
async fn summaries_of_a_batch(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.import_data(CUSTOMERS, EVENTS);
    let store = shop.store().await;
    let id = |c: Option<rapport::store::Customer>| c.unwrap().id;
    let alice = id(store.customer_by_key("alice@example.com").await.unwrap());
    let bob = id(store.customer_by_key("bob@example.com").await.unwrap());
    let carol = id(store.customer_by_key("carol@example.com").await.unwrap());

    let summaries = store.summaries(&[alice, bob, carol]).await.unwrap();

    let a = &summaries[&alice];
    assert_eq!(a.purchases, 6);
    assert_eq!(a.total_spent, 210.0);
    assert_eq!(a.favourite_category.as_deref(), Some("wool"));
    let items: Vec<_> = a
        .recent_purchases
        .iter()
        .map(|p| p.properties["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["Shirt", "Gloves", "Apron", "Hat", "Scarf"]);
    assert_eq!(a.last_purchase().unwrap().amount, Some(60.0));
    assert_eq!(a.last_visit_at.unwrap().to_string(), "2026-07-01 10:00 UTC");
    assert_eq!(
        a.last_email_opened_at.unwrap().to_string(),
        "2026-07-02 10:00 UTC"
    );
    let b = &summaries[&bob];
    assert_eq!((b.purchases, b.total_spent), (0, 0.0));
    assert!(b.recent_purchases.is_empty() && b.favourite_category.is_none());
    assert_eq!(b.last_visit_at.unwrap().to_string(), "2026-05-01 10:00 UTC");
    assert!(!summaries.contains_key(&carol));
}
on_both_databases!(summaries_of_a_batch, summaries_of_a_batch);
