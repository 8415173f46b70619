//! Templates and preview through the real binary, on SQLite and PostgreSQL: what an owner sees in
//! `rapport preview` and `rapport check`, and what a customer would receive.

mod common;
use common::{Engine, Shop, stderr, stdout};

const CUSTOMERS: &str = "\
email,first_name,last_name,timezone,locale,city
alice@example.com,Alice,Martin,America/Los_Angeles,en-US,Portland
bob@example.com,,,Europe/Paris,fr,Lyon
";

/// A shop with Alice (three purchases, mostly wool) and Bob (no name, no events).
async fn shop_with_customers(engine: Engine) -> Shop {
    let shop = Shop::new(engine).await;
    // Noon where Alice lives, `d` of her calendar days ago: `ago` counts days in her zone, so the
    // hour of the test run and a daylight-saving change in between cannot move a purchase a day.
    let days_ago = |d: i64| {
        let zone = chrono_tz::America::Los_Angeles;
        let today = chrono::Utc::now().with_timezone(&zone).date_naive();
        (today - chrono::Duration::days(d))
            .and_hms_opt(12, 0, 0)
            .and_then(|noon| noon.and_local_timezone(zone).single())
            .expect("noon exists every day")
            .to_rfc3339()
    };
    let events = format!(
        "email,kind,occurred_at,amount,category,item\n\
         alice@example.com,purchase,{},120.5,wool,Winter coat\n\
         alice@example.com,purchase,{},30,wool,Scarf\n\
         alice@example.com,purchase,{},12,linen,Napkins\n\
         alice@example.com,visit,{},,,\n",
        days_ago(21),
        days_ago(60),
        days_ago(90),
        days_ago(2),
    );
    shop.import_data(CUSTOMERS, &events);
    shop
}

/// Runs `rapport preview CAMPAIGN --to EMAIL --part PART` and returns its standard output.
fn preview(shop: &Shop, campaign: &str, email: &str, part: &str) -> String {
    let out = shop.rapport(&["preview", campaign, "--to", email, "--part", part]);
    assert!(out.status.success(), "preview failed: {}", stderr(&out));
    stdout(&out)
}

/// Sets a customer's first name behind the importer's back, as another tool writing the table might.
async fn set_first_name(shop: &Shop, email: &str, name: &str) {
    let sql = "UPDATE customers SET first_name = $1 WHERE email_key = $2";
    match shop.engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&shop.database_url).await.unwrap();
            sqlx::query(sql)
                .bind(name)
                .bind(email)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&shop.database_url).await.unwrap();
            sqlx::query(sql)
                .bind(name)
                .bind(email)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// A customer named `<script>alert(1)</script>` appears escaped in the HTML part.
async fn names_are_escaped_in_html(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    set_first_name(&shop, "alice@example.com", "<script>alert(1)</script>").await;

    let html = preview(&shop, "winback", "alice@example.com", "html");

    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}
on_both_databases!(names_are_escaped_in_html, names_are_escaped_in_html);

/// A name containing CR/LF cannot add a header, neither through To nor through the subject.
async fn line_breaks_in_names_cannot_add_headers(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    set_first_name(&shop, "alice@example.com", "Eve\r\nBcc: victim@example.com").await;

    let headers = preview(&shop, "winback", "alice@example.com", "headers");
    let eml = preview(&shop, "winback", "alice@example.com", "eml");

    let head = eml.split("\r\n\r\n").next().unwrap();
    for text in [headers.as_str(), head] {
        assert!(
            !text
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{text}"
        );
    }
    assert!(
        headers.contains("Subject: We miss you, Eve Bcc: victim@example.com\n"),
        "{headers}"
    );
}
on_both_databases!(
    line_breaks_in_names_cannot_add_headers,
    line_breaks_in_names_cannot_add_headers
);

/// Without a first name, the greeting and the subject fall back to friendly words.
async fn a_missing_first_name_falls_back(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let subject = preview(&shop, "winback", "bob@example.com", "subject");
    let text = preview(&shop, "winback", "bob@example.com", "text");

    assert_eq!(subject, "We miss you, friend\n");
    assert!(
        text.starts_with("Maple & Thread\n\nHello there,\n"),
        "{text}"
    );
}
on_both_databases!(
    a_missing_first_name_falls_back,
    a_missing_first_name_falls_back
);

/// The derived text part keeps every link as a numbered, tracked reference, and uses the summary.
async fn derived_text_keeps_links_and_behaviour(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let text = preview(&shop, "winback", "alice@example.com", "text");

    assert!(text.contains("Hello Alice,"), "{text}");
    assert!(text.contains("Your last order was 3 weeks ago, and we still think of you every time new wool comes in."), "{text}");
    assert!(
        text.contains("- Winter coat, 3 weeks ago ($120.50)\n- Scarf, 2 months ago ($30.00)"),
        "{text}"
    );
    assert!(text.contains("See what is new this season [1]"), "{text}");
    assert!(text.contains("Unsubscribe [3]"), "{text}");
    assert!(
        text.contains("\nLinks:\n[1] https://mail.maplethread.example/c/"),
        "{text}"
    );
    assert!(
        text.contains("\n[3] https://mail.maplethread.example/u/"),
        "{text}"
    );
}
on_both_databases!(
    derived_text_keeps_links_and_behaviour,
    derived_text_keeps_links_and_behaviour
);

/// The complete message has every header a mailbox provider asks for, and both parts.
async fn eml_is_a_complete_message(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let eml = preview(&shop, "winback", "alice@example.com", "eml");

    let (head, body) = eml
        .split_once("\r\n\r\n")
        .expect("headers, blank line, body");
    for header in [
        "From: ",
        "To: \"Alice Martin\" <alice@example.com>",
        "Subject: We miss you, Alice",
        "Date: ",
        "Message-ID: <rapport.0.0@maplethread.example>",
        "List-Unsubscribe: <https://mail.maplethread.example/u/",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative;",
    ] {
        assert!(head.contains(header), "missing {header:?} in\n{head}");
    }
    assert!(
        head.contains("<mailto:hello@maplethread.example?subject=unsubscribe%20"),
        "{head}"
    );
    assert!(
        body.contains("Content-Type: text/plain; charset=utf-8"),
        "{body}"
    );
    assert!(
        body.contains("Content-Type: text/html; charset=utf-8"),
        "{body}"
    );
    assert!(eml.lines().all(|l| l.len() <= 998));
}
on_both_databases!(eml_is_a_complete_message, eml_is_a_complete_message);

/// Preview writes nothing: the SQLite file is byte-for-byte the same, PostgreSQL rows are unchanged.
async fn preview_leaves_the_database_unchanged(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    let before = database_fingerprint(&shop).await;

    for part in ["eml", "text", "html", "headers", "subject"] {
        preview(&shop, "winback", "alice@example.com", part);
    }
    let missing = shop.rapport(&["preview", "winback", "--to", "nobody@example.com"]);

    assert!(!missing.status.success());
    assert_eq!(database_fingerprint(&shop).await, before);
}
on_both_databases!(
    preview_leaves_the_database_unchanged,
    preview_leaves_the_database_unchanged
);

/// SQLite: a hash of the database file. PostgreSQL: every table's rows, as text.
async fn database_fingerprint(shop: &Shop) -> String {
    use sha2::{Digest, Sha256};
    match shop.engine {
        Engine::Sqlite => {
            let bytes = std::fs::read(shop.path().join("test.db")).unwrap();
            hex::encode(Sha256::digest(&bytes))
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&shop.database_url).await.unwrap();
            let mut all = String::new();
            for table in [
                "customers",
                "events",
                "campaigns",
                "runs",
                "deliveries",
                "suppressions",
            ] {
                let sql = format!(
                    "SELECT COALESCE(string_agg(t::text, '|' ORDER BY t::text), '') FROM {table} t"
                );
                let rows: String = sqlx::query_scalar(&sql).fetch_one(&pool).await.unwrap();
                all.push_str(&rows);
            }
            pool.close().await;
            all
        }
    }
}

/// Unknown campaigns and addresses get a clear error with a suggestion.
async fn unknown_campaign_or_address_suggests(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let campaign = shop.rapport(&["preview", "winbak", "--to", "alice@example.com"]);
    let address = shop.rapport(&["preview", "winback", "--to", "alice@exmple.com"]);

    assert!(!campaign.status.success());
    assert!(
        stderr(&campaign).contains("no campaign is named \"winbak\""),
        "{}",
        stderr(&campaign)
    );
    assert!(
        stderr(&campaign).contains("did you mean \"winback\"?"),
        "{}",
        stderr(&campaign)
    );
    assert!(!address.status.success());
    assert!(
        stderr(&address).contains("did you mean alice@example.com?"),
        "{}",
        stderr(&address)
    );
}
on_both_databases!(
    unknown_campaign_or_address_suggests,
    unknown_campaign_or_address_suggests
);

/// `check` renders each template for the stored customers and a customer with every optional field
/// empty, and reports a variable without fallback at its file, line and column.
async fn check_reports_missing_variables_with_location(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    shop.write(
        "templates/winback.subject",
        "Hello\n{{ customer.first_name }}, we miss you\n",
    );

    let out = shop.rapport(&["check"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("templates/winback.subject:2:4: error: template \"winback\": `customer.first_name` is not defined for 2 of 3 sample customers"),
        "{err}"
    );
    assert!(
        err.contains("default(value="),
        "the hint shows the fallback: {err}"
    );
}
on_both_databases!(
    check_reports_missing_variables_with_location,
    check_reports_missing_variables_with_location
);

/// The example templates pass `check` as shipped by `rapport init`.
async fn the_example_templates_pass_check(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let out = shop.rapport(&["check"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("ok\n"), "{}", stdout(&out));
}
on_both_databases!(
    the_example_templates_pass_check,
    the_example_templates_pass_check
);

/// Templates that extend or include themselves are reported by `check`, not a crash.
async fn self_referencing_templates_are_errors(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    shop.write(
        "templates/loop.html",
        "{% extends \"loop.html\" %}{% block content %}x{% endblock content %}",
    );
    shop.write("templates/_a.html", "{% include \"_b.html\" %}");
    shop.write("templates/_b.html", "{% include \"_a.html\" %}");

    let out = shop.rapport(&["check"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("templates/loop.html:1:4: error: loop.html extends itself"),
        "{err}"
    );
    assert!(
        err.contains(
            "templates/_a.html:1:4: error: _a.html includes itself: _a.html → _b.html → _a.html"
        ),
        "{err}"
    );
    assert_eq!(
        err.matches(": error: ").count(),
        2,
        "one report per cycle: {err}"
    );
    let preview = shop.rapport(&[
        "preview",
        "winback",
        "--to",
        "alice@example.com",
        "--part",
        "subject",
    ]);
    assert!(
        preview.status.success(),
        "other templates still work: {}",
        stderr(&preview)
    );
}
on_both_databases!(
    self_referencing_templates_are_errors,
    self_referencing_templates_are_errors
);

/// The `file` and `console` examples of docs/templates.md, run in order in one shop: each command
/// prints what the page shows.
async fn documented_commands_print_what_the_docs_show(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    let page = std::fs::read_to_string(common::repo_file("docs/templates.md")).unwrap();
    let mut ran = 0;
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        if let Some(path) = info.strip_prefix("file ") {
            shop.write(path.trim(), &(body.join("\n") + "\n"));
        } else if info == "console" {
            let command = body[0]
                .strip_prefix("$ rapport ")
                .expect("a rapport command");
            let args: Vec<&str> = command.split_whitespace().collect();
            let out = shop.rapport(&args);
            let printed = format!("{}{}", stdout(&out), stderr(&out));
            let expected = body[1..].join("\n");
            assert!(
                printed.contains(&expected),
                "`{command}` printed:\n{printed}\nexpected:\n{expected}"
            );
            ran += 1;
        }
    }
    assert!(ran >= 3, "only {ran} commands found");
}
on_both_databases!(
    documented_commands_print_what_the_docs_show,
    documented_commands_print_what_the_docs_show
);

/// A subject file without its HTML body is reported instead of silently ignored.
async fn a_subject_without_a_body_is_reported(engine: Engine) {
    let shop = shop_with_customers(engine).await;
    shop.write("templates/spring.subject", "Spring is here\n");

    let out = shop.rapport(&["check"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("templates/spring.subject:1:1: error: spring.subject has no body"),
        "{err}"
    );
    assert!(err.contains("create templates/spring.html"), "{err}");
}
on_both_databases!(
    a_subject_without_a_body_is_reported,
    a_subject_without_a_body_is_reported
);

/// A hand-written text part is used as is, with its web addresses tracked; every token in the
/// message is signed with the workspace secret for the preview delivery.
async fn a_written_text_part_is_tracked_and_tokens_verify(engine: Engine) {
    let shop = shop_with_customers(engine).await;

    let text = preview(&shop, "thank-you", "alice@example.com", "text");

    assert!(
        text.starts_with("Dear Alice,\n\nThank you for your first order of $120.50."),
        "{text}"
    );
    let care = text
        .split("How to care for your new things: ")
        .nth(1)
        .unwrap();
    let click = care.lines().next().unwrap();
    let unsubscribe = text.split("Unsubscribe: ").nth(1).unwrap().trim();
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let config = rapport::config::parse("rapport.toml", &config).unwrap();
    let signer = rapport::token::Signer::new(config.tracking.secret.get_ref().expose().as_bytes());
    let claim = |url: &str, path: &str| {
        let prefix = format!("https://mail.maplethread.example/{path}/");
        let token = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
        signer.verify(token).expect("a valid token")
    };
    assert_eq!(claim(click, "c").purpose, rapport::token::Purpose::Click(0));
    assert_eq!(
        claim(unsubscribe, "u").purpose,
        rapport::token::Purpose::Unsubscribe
    );
    assert_eq!(
        claim(unsubscribe, "u").delivery_id,
        0,
        "preview links belong to no delivery"
    );
}
on_both_databases!(
    a_written_text_part_is_tracked_and_tokens_verify,
    a_written_text_part_is_tracked_and_tokens_verify
);
