//! `rapport segment …` and `rapport check` through the real binary, on SQLite and PostgreSQL.

mod common;
use common::{Engine, Shop, stderr, stdout};
use std::os::fd::{FromRawFd, OwnedFd};

/// Evaluation instant for every command here, so ages and windows are fixed.
const NOW: &str = "2026-06-15T12:00:00Z";

const CUSTOMERS: &str = "\
email,first_name,last_name,city,tier
alice@example.com,Alice,Martin,Portland,gold
bob@example.com,Bob,,Lyon,silver
mallory@example.com,Mallory,,x' OR 1=1 --,
";

const EVENTS: &str = "\
email,kind,occurred_at,amount,category
alice@example.com,purchase,2026-01-10,120,garden
alice@example.com,purchase,2026-02-10,220,tools
alice@example.com,purchase,2026-03-10,320,garden
alice@example.com,purchase,2026-04-01,40,tools
bob@example.com,purchase,2025-05-01,20,garden
bob@example.com,purchase,2026-03-01,20,tools
bob@example.com,purchase,2026-06-03,35,seeds
";

async fn shop_with_data(engine: Engine) -> Shop {
    let shop = Shop::new(engine).await;
    shop.import_data(CUSTOMERS, EVENTS);
    shop
}

fn segment(shop: &Shop, args: &[&str]) -> std::process::Output {
    let mut all = vec!["segment", "--now", NOW];
    all.extend_from_slice(args);
    shop.rapport(&all)
}

/// A literal that looks like SQL is only ever a value: it matches the one customer whose city it is.
async fn sql_in_a_literal_is_just_text(engine: Engine) {
    let shop = shop_with_data(engine).await;
    shop.write(
        "segments/tricky.seg",
        "# Injection attempt.\ncity == \"x' OR 1=1 --\"\n",
    );
    shop.write(
        "segments/tricky2.seg",
        "city == \"Portland\\\" OR 1=1 --\" or tier == \"' OR ''='\"\n",
    );

    let count = segment(&shop, &["count", "tricky"]);
    let show = segment(&shop, &["show", "tricky"]);
    let other = segment(&shop, &["count", "tricky2"]);

    assert!(count.status.success(), "{}", stderr(&count));
    assert_eq!(stdout(&count).trim(), "1");
    let listed = stdout(&show);
    assert!(listed.contains("mallory@example.com"), "{listed}");
    assert!(
        !listed.contains("alice@") && !listed.contains("bob@"),
        "{listed}"
    );
    assert!(
        listed.contains("x' OR 1=1 --"),
        "the city column shows the figure: {listed}"
    );
    assert_eq!(stdout(&other).trim(), "0");
    let store = shop.store().await;
    assert_eq!(
        store.count_customers().await.unwrap(),
        3,
        "nothing was changed"
    );
}
on_both_databases!(sql_in_a_literal_is_just_text, sql_in_a_literal_is_just_text);

/// explain shows, for a customer inside and one outside, each clause with its value and figures.
async fn explain_shows_why_in_and_why_out(engine: Engine) {
    let shop = shop_with_data(engine).await;

    let inside = segment(&shop, &["explain", "lapsed_regulars", "ALICE@example.com"]);
    let outside = segment(&shop, &["explain", "lapsed_regulars", "bob@example.com"]);

    assert!(inside.status.success(), "{}", stderr(&inside));
    assert_eq!(
        stdout(&inside).trim(),
        "alice@example.com is in segment \"lapsed_regulars\"\n\
         ✓ all of\n  \
           ✓ purchase.count(365d) >= 3  (4 purchases in 365d, last 75 days ago)\n  \
           ✓ not purchase.any(60d)  (0 purchases in 60d, last 75 days ago)\n  \
           ✓ not email.unsubscribed.any()  (0 email.unsubscribed events)"
    );
    assert_eq!(
        stdout(&outside).trim(),
        "bob@example.com is not in segment \"lapsed_regulars\"\n\
         ✗ all of\n  \
           ✗ purchase.count(365d) >= 3  (2 purchases in 365d, last 12 days ago)\n  \
           ✗ not purchase.any(60d)  (1 purchase in 60d, last 12 days ago)\n  \
           ✓ not email.unsubscribed.any()  (0 email.unsubscribed events)"
    );
    assert!(
        stderr(&inside).is_empty(),
        "SQL and interpreter agree: {}",
        stderr(&inside)
    );
}
on_both_databases!(
    explain_shows_why_in_and_why_out,
    explain_shows_why_in_and_why_out
);

/// list gives every example segment with its member count and description; show gives the figures.
async fn list_and_show_give_counts_and_figures(engine: Engine) {
    let shop = shop_with_data(engine).await;

    shop.write(
        "segments/gardeners.seg",
        "purchase[category in [\"garden\", \"x]\"]].any() and tier exists\n",
    );
    let list = segment(&shop, &["list"]);
    let gardeners = segment(&shop, &["show", "gardeners"]);
    let show = segment(&shop, &["show", "big_spenders", "--limit", "5"]);

    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    assert!(
        text.starts_with("NAME             MEMBERS  DESCRIPTION\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "big_spenders           1  Customers who spent more than 500 over the last year."
        ),
        "{text}"
    );
    assert!(
        text.contains("lapsed_regulars        1  Regulars who have not been back for two months."),
        "{text}"
    );
    assert_eq!(
        stdout(&gardeners).trim(),
        "EMAIL              NAME          purchase[category in [\"garden\", \"x]\"]].count()  tier\n\
         alice@example.com  Alice Martin  2                                               gold\n\
         bob@example.com    Bob           1                                               silver\n\
         2 of 2 members"
    );
    assert_eq!(
        stdout(&show).trim(),
        "EMAIL              NAME          purchase.sum(365d)\n\
         alice@example.com  Alice Martin  700.00\n\
         1 of 1 members"
    );
}
on_both_databases!(
    list_and_show_give_counts_and_figures,
    list_and_show_give_counts_and_figures
);

/// check fails on a broken segment with its location, and warns (without failing) on unknown kinds.
async fn check_reports_errors_and_warnings(engine: Engine) {
    let shop = shop_with_data(engine).await;
    let clean = shop.rapport(&["check"]);
    shop.write(
        "segments/typo.seg",
        "purchse.any(30d) and citty == \"Lyon\"\n",
    );
    let warned = shop.rapport(&["check"]);
    shop.write(
        "segments/broken.seg",
        "# Broken.\npurchase.count(30d) == \"x\"\n",
    );
    let failed = shop.rapport(&["check"]);

    assert!(
        clean.status.success(),
        "the example segments pass: {}",
        stderr(&clean)
    );
    assert!(
        stdout(&clean).contains("segments: 8 files, 0 errors, 0 warnings"),
        "{}",
        stdout(&clean)
    );
    assert!(warned.status.success(), "{}", stderr(&warned));
    let warnings = stderr(&warned);
    assert!(
        warnings.contains("segments/typo.seg:1:1: warning: no event of kind 'purchse' is stored"),
        "{warnings}"
    );
    assert!(
        warnings.contains("hint: did you mean 'purchase'?"),
        "{warnings}"
    );
    assert!(
        warnings.contains("segments/typo.seg:1:22: warning: no customer has the attribute 'citty'"),
        "{warnings}"
    );
    assert!(
        warnings.contains("hint: did you mean 'city'?"),
        "{warnings}"
    );
    assert_eq!(failed.status.code(), Some(1));
    let errors = stderr(&failed);
    assert!(
        errors.contains(
            "segments/broken.seg:2:24: error: type mismatch: count(…) is a number, but this is text"
        ),
        "{errors}"
    );
}
on_both_databases!(
    check_reports_errors_and_warnings,
    check_reports_errors_and_warnings
);

/// Naming a segment that does not exist suggests the closest one.
async fn unknown_segment_names_get_a_suggestion(engine: Engine) {
    let shop = Shop::new(engine).await;

    let out = segment(&shop, &["count", "big_spender"]);

    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("there is no segment \"big_spender\""),
        "{text}"
    );
    assert!(text.contains("did you mean \"big_spenders\"?"), "{text}");
}
on_both_databases!(
    unknown_segment_names_get_a_suggestion,
    unknown_segment_names_get_a_suggestion
);

/// `rapport segment show NAME | head -1`: a reader that stops early closes the pipe. The report
/// stops there quietly, as a Unix tool stopped by SIGPIPE does (status 141), with no panic on stderr.
async fn a_closed_pipe_ends_a_report_quietly(engine: Engine) {
    let shop = shop_with_data(engine).await;
    shop.write("segments/everyone.seg", "email exists\n");
    // The pipe's reader is gone before rapport starts: its first line already meets EPIPE.
    let mut ends = [0; 2];
    // SAFETY: pipe(2) fills both descriptors, which are then owned here and nowhere else.
    let (reader, writer) = unsafe {
        assert_eq!(libc::pipe(ends.as_mut_ptr()), 0);
        (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1]))
    };
    drop(reader);
    let out = shop
        .command(&["segment", "--now", NOW, "show", "everyone"])
        .stdout(writer)
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "nothing on stderr: no panic, no backtrace"
    );
}
on_both_databases!(
    a_closed_pipe_ends_a_report_quietly,
    a_closed_pipe_ends_a_report_quietly
);
