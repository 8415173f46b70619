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

const EVENTS: &str = "\
email,kind,occurred_at,amount,id,category
alice@example.com,purchase,2026-10-01T17:05:00Z,84.00,order-1,garden
ALICE@example.com,visit,2026-11-01,,,
bob@example.com,purchase,2026-09-15 10:00:00,12.5,,tools
";

/// Events import once: ids and identical rows are recognised on the second run.
async fn events_import_idempotently(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.write("events.csv", EVENTS);
    shop.rapport(&["import", "customers", "customers.csv"]);

    let first = shop.rapport(&["import", "events", "events.csv"]);
    let second = shop.rapport(&["import", "events", "events.csv"]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first).trim(),
        "events.csv: 3 events inserted, 0 already stored, 0 rows rejected"
    );
    assert_eq!(
        stdout(&second).trim(),
        "events.csv: 0 events inserted, 3 already stored, 0 rows rejected"
    );
    let store = shop.store().await;
    assert_eq!(store.count_events().await.unwrap(), 3);
    let alice = store
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let events = store.events_of_customer(alice.id, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["visit", "purchase"],
        "newest first"
    );
    assert_eq!(events[1].amount, Some(84.0));
    assert_eq!(
        events[1].properties.0["category"],
        serde_json::json!("garden")
    );
    assert_eq!(events[1].source_id.as_deref(), Some("order-1"));
    assert_eq!(events[1].occurred_at.to_string(), "2026-10-01 17:05 UTC");
}
on_both_databases!(events_import_idempotently, events_import_idempotently);

/// Every kind of bad row is reported as FILE:LINE: field: problem and skipped; good rows are kept.
async fn bad_rows_are_reported_and_skipped(engine: Engine) {
    let shop = Shop::new(engine).await;
    let mut customers = b"email,first_name,timezone,city\n".to_vec();
    customers.extend_from_slice(b"ok@example.com,Olga,Europe/Paris,Paris\n");
    customers.extend_from_slice(b"not-an-email,Nope,,\n");
    customers.extend_from_slice(b"tz@example.com,Tess,Europe/Pariss,\n");
    customers.extend_from_slice(b"cols@example.com,Colin,UTC\n");
    customers.extend_from_slice(b"utf@example.com,Ren\xe9,,\n");
    customers.extend_from_slice(b"\"quoted@example.com\",\"Multi\nLine\",,\"Portland, OR\"\n");
    customers.extend_from_slice(b"last@example.com,Lea,,\n");
    std::fs::write(shop.path().join("customers.csv"), customers).unwrap();

    let out = shop.rapport(&["import", "customers", "customers.csv"]);

    let errors = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "any rejected row makes the exit code 1"
    );
    assert!(
        errors.contains("customers.csv:3: email: \"not-an-email\" is not a valid email address"),
        "{errors}"
    );
    assert!(errors.contains("customers.csv:4: timezone: unknown time zone \"Europe/Pariss\"; did you mean \"Europe/Paris\"?"), "{errors}");
    assert!(
        errors.contains("customers.csv:5: row: has 3 fields but the header has 4 columns"),
        "{errors}"
    );
    assert!(
        errors.contains("customers.csv:6: first_name: is not valid UTF-8"),
        "{errors}"
    );
    assert!(
        errors.contains("customers.csv:7: first_name: contains a line break"),
        "{errors}"
    );
    assert_eq!(
        stdout(&out).trim(),
        "customers.csv: 2 customers inserted, 0 updated, 0 unchanged, 5 rows rejected"
    );
    let store = shop.store().await;
    assert!(
        store
            .customer_by_key("ok@example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .customer_by_key("last@example.com")
            .await
            .unwrap()
            .is_some(),
        "rows after bad ones are kept"
    );
    assert!(
        store
            .customer_by_key("tz@example.com")
            .await
            .unwrap()
            .is_none()
    );

    shop.write(
        "events.csv",
        "email,kind,occurred_at,amount\n\
         ok@example.com,purchase,2026-01-05,10\n\
         ok@example.com,purchase,05/01/2026,10\n\
         ok@example.com,purchase,2026-01-06,$10\n\
         ok@example.com,add to cart,2026-01-06,\n\
         stranger@example.com,visit,2026-01-07,\n",
    );
    let out = shop.rapport(&["import", "events", "events.csv"]);
    let errors = stderr(&out);
    assert!(
        errors.contains("events.csv:3: occurred_at: \"05/01/2026\" is not a date"),
        "{errors}"
    );
    assert!(
        errors.contains("events.csv:4: amount: \"$10\" is not an amount"),
        "{errors}"
    );
    assert!(
        errors.contains("events.csv:5: kind: \"add to cart\" is not an event kind"),
        "{errors}"
    );
    assert!(
        errors.contains("events.csv:6: email: no customer has the address stranger@example.com"),
        "{errors}"
    );
    assert_eq!(
        stdout(&out).trim(),
        "events.csv: 1 event inserted, 0 already stored, 4 rows rejected"
    );
}
on_both_databases!(
    bad_rows_are_reported_and_skipped,
    bad_rows_are_reported_and_skipped
);

/// A cell of a megabyte is refused with its line and column, in customers and events alike, and the
/// other rows are stored; nothing of the huge cell is. A quote left open, which takes in the lines
/// after it, refuses the whole file instead.
async fn huge_cells_are_refused_with_their_line(engine: Engine) {
    let shop = Shop::new(engine).await;
    let huge = "A".repeat(1_000_000);
    shop.write(
        "customers.csv",
        &format!("email,first_name,notes\nbig@example.com,Al,{huge}\nok@example.com,Bob,fine\n"),
    );
    shop.write(
        "events.csv",
        &format!(
            "email,kind,occurred_at,properties\n\
             ok@example.com,purchase,2026-01-01T00:00:00Z,\"{{\"\"note\"\": \"\"{huge}\"\"}}\"\n\
             ok@example.com,visit,2026-01-02T00:00:00Z,\n"
        ),
    );

    let customers = shop.rapport(&["import", "customers", "customers.csv"]);
    let events = shop.rapport(&["import", "events", "events.csv"]);

    assert_eq!(customers.status.code(), Some(1));
    assert!(
        stderr(&customers).contains(
            "customers.csv:2: notes: is 1000000 bytes long, more than a cell may hold (65536): \
             is a quote left open there"
        ),
        "{}",
        stderr(&customers)
    );
    assert_eq!(
        stdout(&customers).trim(),
        "customers.csv: 1 customer inserted, 0 updated, 0 unchanged, 1 row rejected"
    );
    assert_eq!(events.status.code(), Some(1));
    assert!(
        stderr(&events).contains("events.csv:2: properties: is 1000012 bytes long"),
        "{}",
        stderr(&events)
    );
    assert!(
        stdout(&events).contains("1 event inserted"),
        "{}",
        stdout(&events)
    );
    let shown = shop.rapport(&["customer", "big@example.com"]);
    assert!(!shown.status.success(), "the refused row stored nothing");

    // A quote left open on line 2 takes in the 5,000 lines after it: the whole file is refused.
    let mut open_quote = String::from("email,first_name,notes\nopen@example.com,Al,\"oops\n");
    for i in 0..5_000 {
        open_quote.push_str(&format!("later{i}@example.com,Name{i},a note\n"));
    }
    shop.write("open.csv", &open_quote);
    let out = shop.rapport(&["import", "customers", "open.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "open.csv:2:21: notes: a quote opened here is never closed: the 5000 lines after it"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        shop.store()
            .await
            .customer_by_key("open@example.com")
            .await
            .unwrap()
            .is_none()
    );
}
on_both_databases!(
    huge_cells_are_refused_with_their_line,
    huge_cells_are_refused_with_their_line
);

/// A quote left open, which the CSV reader silently runs to the end of the file, refuses the whole
/// file with the line and column of the quote and a hint: no row of it is stored, not even the rows
/// before the quote, in customers and events alike, with or without --strict.
async fn an_open_quote_refuses_the_whole_file(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.rapport(&["import", "customers", "customers.csv"]);
    shop.write(
        "q.csv",
        "email,first_name,notes\n\
         w@example.com,W,fine\n\
         x@example.com,X,\"prefers 12\"\" hoops\n\
         y@example.com,Y,likes red\n\
         z@example.com,Z,ok\n",
    );
    shop.write(
        "events.csv",
        "email,kind,occurred_at,note\n\
         alice@example.com,visit,2026-01-02,fine\n\
         bob@example.com,purchase,2026-01-03,\"gift\n\
         alice@example.com,visit,2026-01-04,\n",
    );

    let customers = shop.rapport(&["import", "customers", "q.csv"]);
    let strict = shop.rapport(&["import", "customers", "q.csv", "--strict"]);
    let events = shop.rapport(&["import", "events", "events.csv"]);

    let expected = "error: nothing was written: q.csv:3:17: notes: a quote opened here is never \
                    closed: the 2 lines after it were read as part of this cell\n  = hint: close the \
                    quote where the cell ends, double a quote meant inside a quoted cell (\"\"), or \
                    remove the stray one\n";
    assert_eq!(stderr(&customers), expected);
    assert!(
        stderr(&strict).contains("q.csv:3:17: notes: a quote opened here is never closed"),
        "{}",
        stderr(&strict)
    );
    assert!(
        stderr(&events).contains(
            "error: nothing was written: events.csv:3:37: note: a quote opened here is never \
             closed: the line after it was read as part of this cell"
        ),
        "{}",
        stderr(&events)
    );
    for out in [&customers, &strict, &events] {
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(out), "", "no summary claims success");
    }
    let store = shop.store().await;
    assert_eq!(
        store.count_customers().await.unwrap(),
        2,
        "only the customers of customers.csv"
    );
    assert!(
        store
            .customer_by_key("w@example.com")
            .await
            .unwrap()
            .is_none(),
        "the row before the quote was rolled back too"
    );
    assert_eq!(store.count_events().await.unwrap(), 0);
}
on_both_databases!(
    an_open_quote_refuses_the_whole_file,
    an_open_quote_refuses_the_whole_file
);

/// A quote left open after the first 20,000 rows were committed keeps those rows and says so;
/// nothing after them is written.
async fn an_open_quote_after_a_commit_keeps_only_the_committed_rows(engine: Engine) {
    let shop = Shop::new(engine).await;
    let mut big = String::from("email,first_name,notes\n");
    for i in 0..24_000 {
        big.push_str(&format!("c{i}@example.com,C{i},\n"));
    }
    big.push_str("open@example.com,Al,\"oops\n");
    for i in 0..100 {
        big.push_str(&format!("later{i}@example.com,L{i},\n"));
    }
    shop.write("big.csv", &big);

    let out = shop.rapport(&["import", "customers", "big.csv"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "error: the first 20000 rows were committed before the quote was found and are kept \
             (big.csv: 20000 customers inserted, 0 updated, 0 unchanged, 0 rows rejected); nothing \
             after them was written: big.csv:24002:21: notes: a quote opened here is never closed"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(shop.store().await.count_customers().await.unwrap(), 20_000);
}
on_both_databases!(
    an_open_quote_after_a_commit_keeps_only_the_committed_rows,
    an_open_quote_after_a_commit_keeps_only_the_committed_rows
);

/// The row with the open quote is the 20,000th: it ends the batch that would be committed, and must
/// not be committed with it (the end of the input is seen as that row is read).
async fn an_open_quote_on_a_commit_boundary_is_not_committed(engine: Engine) {
    let shop = Shop::new(engine).await;
    let mut big = String::from("email,first_name,notes\n");
    for i in 0..19_999 {
        big.push_str(&format!("c{i}@example.com,C{i},\n"));
    }
    big.push_str("open@example.com,Al,\"oops\ntail@example.com,T,swallowed\n");
    shop.write("big.csv", &big);

    let out = shop.rapport(&["import", "customers", "big.csv"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "error: nothing was written: big.csv:20001:21: notes: a quote opened here is never closed"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(shop.store().await.count_customers().await.unwrap(), 0);
}
on_both_databases!(
    an_open_quote_on_a_commit_boundary_is_not_committed,
    an_open_quote_on_a_commit_boundary_is_not_committed
);

/// Quoted cells over several lines (an address on two lines, a note ending in a line break, a
/// closed quote as the file's last byte) still import, in customers and events alike.
async fn multi_line_quoted_cells_still_import(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write(
        "customers.csv",
        "email,first_name,address,notes\n\
         ann@example.com,Ann,\"12 Main St\nPortland, OR\",\"said \"\"hi\"\"\n\"\n\
         ben@example.com,Ben,\"1 Elm St\",\"last\"",
    );
    shop.write(
        "events.csv",
        "email,kind,occurred_at,note\n\
         ann@example.com,visit,2026-01-02,\"rang the bell\ntwice\"\n\
         ben@example.com,visit,2026-01-03,\n",
    );

    let customers = shop.rapport(&["import", "customers", "customers.csv"]);
    let events = shop.rapport(&["import", "events", "events.csv"]);

    assert!(customers.status.success(), "{}", stderr(&customers));
    assert_eq!(
        stdout(&customers).trim(),
        "customers.csv: 2 customers inserted, 0 updated, 0 unchanged, 0 rows rejected"
    );
    assert!(events.status.success(), "{}", stderr(&events));
    assert_eq!(
        stdout(&events).trim(),
        "events.csv: 2 events inserted, 0 already stored, 0 rows rejected"
    );
    let store = shop.store().await;
    let ann = store
        .customer_by_key("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ann.attributes.0["address"],
        serde_json::json!("12 Main St\nPortland, OR")
    );
    assert_eq!(
        ann.attributes.0["notes"],
        serde_json::json!("said \"hi\""),
        "trimmed, as every attribute"
    );
    let ben = store
        .customer_by_key("ben@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ben.attributes.0["notes"], serde_json::json!("last"));
    let visits = store.events_of_customer(ann.id, 10).await.unwrap();
    assert_eq!(
        visits[0].properties.0["note"],
        serde_json::json!("rang the bell\ntwice")
    );
}
on_both_databases!(
    multi_line_quoted_cells_still_import,
    multi_line_quoted_cells_still_import
);

/// With --strict, one bad row means nothing at all is written, even rows far before it (past the size
/// at which a normal import commits).
async fn strict_leaves_the_database_untouched(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.rapport(&["import", "customers", "customers.csv"]);
    let mut big = String::from("email,first_name\nalice@example.com,Changed\n");
    for i in 0..25_000 {
        big.push_str(&format!("c{i}@example.com,C{i}\n"));
    }
    big.push_str("broken,Nobody\n");
    shop.write("big.csv", &big);

    let out = shop.rapport(&["import", "customers", "big.csv", "--strict"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("big.csv:25003: email:"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("nothing was written (--strict)"),
        "{}",
        stdout(&out)
    );
    let store = shop.store().await;
    assert_eq!(
        store.count_customers().await.unwrap(),
        2,
        "no customer from big.csv was kept"
    );
    let alice = store
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        alice.first_name.as_deref(),
        Some("Alice"),
        "the update in the same file was rolled back"
    );
}
on_both_databases!(
    strict_leaves_the_database_untouched,
    strict_leaves_the_database_untouched
);

/// `-` reads stdin; --create-customers creates unknown customers instead of rejecting their events.
async fn stdin_and_create_customers(engine: Engine) {
    let shop = Shop::new(engine).await;
    let csv = "\u{feff}Email;Kind;Occurred At\nnew@example.com;visit;2026-02-01\n";

    let without = shop.rapport_with_stdin(
        &["import", "events", "-", "--delimiter", ";"],
        Some(csv.as_bytes()),
    );
    let with = shop.rapport_with_stdin(
        &[
            "import",
            "events",
            "-",
            "--delimiter",
            ";",
            "--create-customers",
        ],
        Some(csv.as_bytes()),
    );

    assert!(
        stderr(&without).contains("<stdin>:2: Email: no customer has the address new@example.com"),
        "{}",
        stderr(&without)
    );
    assert!(with.status.success(), "{}", stderr(&with));
    assert_eq!(
        stdout(&with).trim(),
        "<stdin>: 1 event inserted, 0 already stored, 0 rows rejected; 1 new customer created"
    );
    assert!(
        shop.store()
            .await
            .customer_by_key("new@example.com")
            .await
            .unwrap()
            .is_some()
    );
}
on_both_databases!(stdin_and_create_customers, stdin_and_create_customers);

/// Problems with the header stop the import before anything is written, with a hint.
#[tokio::test]
async fn header_problems_stop_before_writing() {
    let shop = Shop::new(Engine::Sqlite).await;
    shop.write("semicolons.csv", "email;first_name\nann@example.com;Ann\n");
    shop.write("twice.csv", "email,City,city\nann@example.com,a,b\n");
    shop.write("empty.csv", "");

    let semicolons = shop.rapport(&["import", "customers", "semicolons.csv"]);
    let twice = shop.rapport(&["import", "customers", "twice.csv"]);
    let empty = shop.rapport(&["import", "customers", "empty.csv"]);

    assert!(
        stderr(&semicolons).contains("semicolons.csv:1: the header has no `email` column"),
        "{}",
        stderr(&semicolons)
    );
    assert!(
        stderr(&semicolons).contains("pass --delimiter ';'"),
        "{}",
        stderr(&semicolons)
    );
    assert!(
        stderr(&twice).contains("twice.csv:1: columns 2 and 3 are both `city`"),
        "{}",
        stderr(&twice)
    );
    assert!(
        stderr(&empty).contains("empty.csv is empty"),
        "{}",
        stderr(&empty)
    );
    for out in [&semicolons, &twice, &empty] {
        assert_eq!(out.status.code(), Some(1));
    }
    assert_eq!(shop.store().await.count_customers().await.unwrap(), 0);
}

/// The sample files of docs/import.md import cleanly, and `rapport customer` shows the timeline.
async fn documented_samples_import_and_show(engine: Engine) {
    let shop = Shop::new(engine).await;
    let customers = common::repo_file("docs/examples/customers.csv");
    let events = common::repo_file("docs/examples/events.csv");

    let c = shop.rapport(&["import", "customers", customers.to_str().unwrap()]);
    let e = shop.rapport(&["import", "events", events.to_str().unwrap()]);
    let page = shop.rapport(&["customer", "Alice@Example.com"]);

    assert!(
        c.status.success() && e.status.success(),
        "{}{}",
        stderr(&c),
        stderr(&e)
    );
    assert!(
        stdout(&c).contains("5 customers inserted"),
        "{}",
        stdout(&c)
    );
    assert!(stdout(&e).contains("9 events inserted"), "{}", stdout(&e));
    let page = stdout(&page);
    assert!(
        page.starts_with("Alice Martin <alice@example.com>\n"),
        "{page}"
    );
    assert!(page.contains("loyalty_tier    gold"), "{page}");
    let timeline: Vec<&str> = page
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("WHEN"))
        .skip(1)
        .collect();
    assert_eq!(timeline.len(), 4, "{page}");
    assert!(
        timeline[0].starts_with("  2026-09-01 09:12 UTC  visit"),
        "{page}"
    );
    assert!(
        timeline[3]
            .starts_with("  2025-12-14 17:05 UTC  purchase   84.00  category=garden channel=store"),
        "{page}"
    );
}
on_both_databases!(
    documented_samples_import_and_show,
    documented_samples_import_and_show
);

/// An unknown address gets a clear error with the nearest stored address.
async fn unknown_customer_gets_a_suggestion(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.rapport(&["import", "customers", "customers.csv"]);

    let out = shop.rapport(&["customer", "alice@exmaple.com"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no customer has the address alice@exmaple.com"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("did you mean alice@example.com?"),
        "{}",
        stderr(&out)
    );
}
on_both_databases!(
    unknown_customer_gets_a_suggestion,
    unknown_customer_gets_a_suggestion
);

/// Ids are unique per kind: a purchase and a visit may both be `1`; the same purchase id again is skipped.
async fn event_ids_are_unique_per_kind(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.rapport(&["import", "customers", "customers.csv"]);
    shop.write(
        "purchases.csv",
        "email,kind,occurred_at,amount,id\nalice@example.com,purchase,2026-01-02,10,1\n",
    );
    shop.write(
        "visits.csv",
        "email,kind,occurred_at,id\nalice@example.com,visit,2026-01-03,1\n",
    );
    shop.write(
        "again.csv",
        "email,kind,occurred_at,amount,id\nbob@example.com,purchase,2026-02-02,99,1\n",
    );

    let purchases = shop.rapport(&["import", "events", "purchases.csv"]);
    let visits = shop.rapport(&["import", "events", "visits.csv"]);
    let again = shop.rapport(&["import", "events", "again.csv"]);

    assert!(
        stdout(&purchases).contains("1 event inserted"),
        "{}",
        stdout(&purchases)
    );
    assert!(
        stdout(&visits).contains("1 event inserted"),
        "{}",
        stdout(&visits)
    );
    assert!(
        stdout(&again).contains("0 events inserted, 1 already stored"),
        "{}",
        stdout(&again)
    );
    assert_eq!(shop.store().await.count_events().await.unwrap(), 2);
}
on_both_databases!(event_ids_are_unique_per_kind, event_ids_are_unique_per_kind);

/// --create-customers never touches a customer that already exists.
async fn create_customers_keeps_existing_ones(engine: Engine) {
    let shop = Shop::new(engine).await;
    shop.write("customers.csv", CUSTOMERS);
    shop.rapport(&["import", "customers", "customers.csv"]);
    shop.write("events.csv", "email,kind,occurred_at\nalice@example.com,visit,2026-01-03\nnew@example.com,visit,2026-01-03\n");
    let before = shop
        .store()
        .await
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .unwrap();

    let out = shop.rapport(&["import", "events", "events.csv", "--create-customers"]);

    assert!(
        stdout(&out).contains("1 new customer created"),
        "{}",
        stdout(&out)
    );
    let after = shop
        .store()
        .await
        .customer_by_key("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.first_name, after.attributes, after.created_at),
        (before.first_name, before.attributes, before.created_at)
    );
}
on_both_databases!(
    create_customers_keeps_existing_ones,
    create_customers_keeps_existing_ones
);

/// A NUL byte (which PostgreSQL cannot store) rejects its row with the field named; the rest imports.
async fn nul_bytes_reject_only_their_row(engine: Engine) {
    let shop = Shop::new(engine).await;
    std::fs::write(
        shop.path().join("customers.csv"),
        b"email,city\nok@example.com,Lyon\nnul@example.com,Ly\0on\n",
    )
    .unwrap();

    let out = shop.rapport(&["import", "customers", "customers.csv"]);

    assert!(
        stderr(&out).contains("customers.csv:3: city: contains a NUL byte"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("1 customer inserted"),
        "{}",
        stdout(&out)
    );
}
on_both_databases!(
    nul_bytes_reject_only_their_row,
    nul_bytes_reject_only_their_row
);

/// A required column named differently gets a hint naming the column to rename.
#[tokio::test]
async fn missing_column_suggests_the_one_to_rename() {
    let shop = Shop::new(Engine::Sqlite).await;
    shop.write("customers.csv", "Email Address,name\nann@example.com,Ann\n");

    let out = shop.rapport(&["import", "customers", "customers.csv"]);

    let err = stderr(&out);
    assert!(
        err.contains(
            "customers.csv:1: the header has no `email` column (found `Email Address`, `name`)"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: rename the column `Email Address` to `email`"),
        "{err}"
    );
}
