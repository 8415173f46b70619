//! The commands shown in docs/sending.md print what the page shows: each ```console block's command
//! runs in a shop whose customers include alice@example.com, and its output begins with the lines
//! the block shows after the command.

mod common;
use common::{Engine, stderr, stdout};

const PAGE: &str = "docs/sending.md";

#[tokio::test]
async fn every_console_example_prints_what_the_page_shows() {
    let blocks: Vec<_> = common::doc_blocks::blocks(PAGE)
        .into_iter()
        .filter(|b| b.language() == "console")
        .collect();
    assert!(!blocks.is_empty(), "{PAGE} has no console example");
    let customers = "email,first_name\nalice@example.com,Alice\nbob@example.com,Bob\n";
    let config = "[[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\ntopic = \"offers\"\n";
    let shop = common::shop_with(Engine::Sqlite, customers, config).await;
    for block in blocks {
        let mut lines = block.body.lines();
        let command = lines.next().unwrap();
        let args: Vec<&str> = command
            .strip_prefix("$ rapport ")
            .unwrap_or_else(|| panic!("not a rapport command: {command}"))
            .split_whitespace()
            .collect();
        let expected: Vec<&str> = lines.collect();

        let out = shop.rapport(&args);

        assert!(out.status.success(), "{command}: {}", stderr(&out));
        let printed = stdout(&out);
        let first: Vec<&str> = printed.lines().take(expected.len()).collect();
        assert_eq!(first, expected, "{command} printed:\n{printed}");
    }
}
