//! CSV import through the real binary, on SQLite and PostgreSQL: what the owner sees and what is stored.

mod common;
use common::{Engine, Shop, stderr, stdout};

const CUSTOMERS: &str = "\
email,first_name,last_name,timezone,locale,city,vip,orders,zip
alice@example.com,Alice,Martin,America/Los_Angeles,en-US,Portland,true,5,02134
bob@example.com,Bob,,Europe/Paris,fr,Lyon,false,2,
";

/// A first import inserts, a second one of the same file changes nothing, and attributes keep their types.
async fn customers_import_idempotently(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);

    let first = shop.rapport(&["import", "customers", "customers.csv"]);
    let second = shop.rapport(&["import", "customers", "customers.csv"]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first).trim(),
        "customers.csv: 2 customers inserted, 0 updated, 0 unchanged, 0 rows rejected"
    );
    assert_eq!(
        stdout(&second).trim(),
        "customers.csv: 0 customers inserted, 0 updated, 2 unchanged, 0 rows rejected"
    );
    let store = shop.store().await;
    let alice = store
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .expect("alice stored");
    assert_eq!(alice.first_name.as_deref(), Some("Alice"));
    assert_eq!(alice.timezone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(alice.attributes.0["vip"], serde_json::json!(true));
    assert_eq!(alice.attributes.0["orders"], serde_json::json!(5));
    assert_eq!(
        alice.attributes.0["zip"],
        serde_json::json!("02134"),
        "zip codes keep their leading zero"
    );
    let bob = store
        .customer_by_key("bob@example.com")
        .await
        .unwrap()
        .expect("bob stored");
    assert!(
        !bob.attributes.0.contains_key("zip"),
        "empty cells are absent, not empty strings"
    );
}
on_both_databases!(customers_import_idempotently, customers_import_idempotently);

/// Addresses differing only in case are one customer; later files update given fields and keep the rest.
async fn emails_differing_in_case_are_one_customer(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.write(
        "update.csv",
        "email,first_name,city\n  ALICE@Example.com ,Alicia,\n",
    );
    shop.rapport(&["import", "customers", "customers.csv"]);

    let out = shop.rapport(&["import", "customers", "update.csv"]);

    assert_eq!(
        stdout(&out).trim(),
        "update.csv: 0 customers inserted, 1 updated, 0 unchanged, 0 rows rejected"
    );
    let store = shop.store().await;
    assert_eq!(store.count_customers().await.unwrap(), 2);
    let alice = store
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.first_name.as_deref(), Some("Alicia"));
    assert_eq!(
        alice.last_name.as_deref(),
        Some("Martin"),
        "an absent column keeps the stored value"
    );
    assert_eq!(
        alice.attributes.0["city"],
        serde_json::json!("Portland"),
        "an empty cell keeps the stored value"
    );
    assert_eq!(
        alice.email, "alice@example.com",
        "the address keeps the form it was first given in"
    );
}
on_both_databases!(
    emails_differing_in_case_are_one_customer,
    emails_differing_in_case_are_one_customer
);
