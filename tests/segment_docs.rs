//! Every example in docs/segments.md runs here, on SQLite and PostgreSQL, against the example data
//! the page itself lists: each ```seg block parses and selects exactly the customers it names, each
//! `file=` block is the example file verbatim, each `seg error` block renders the error shown after it,
//! each ```console block prints what it shows, and each `seg check=NAME` block makes `rapport check`
//! print the warning shown after it.

mod common;
use common::doc_blocks::Block;
use common::{Engine, Shop, repo_file, stderr, stdout};
use rapport::segment::{Library, compile};
use rapport::timestamp::Timestamp;

const NOW: &str = "2026-06-15T12:00:00Z";

fn blocks() -> Vec<Block> {
    common::doc_blocks::blocks("docs/segments.md")
}

async fn shop_with_doc_data(engine: Engine, blocks: &[Block]) -> Shop {
    let shop = Shop::new(engine).await;
    for name in ["customers.csv", "events.csv"] {
        let block = blocks
            .iter()
            .find(|b| b.language() == "csv" && b.info.get(1).map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("docs/segments.md lists {name}"));
        shop.write(name, &block.body);
        let kind = name.trim_end_matches(".csv");
        let out = shop.rapport(&["import", kind, name]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("0 rows rejected"), "{}", stdout(&out));
    }
    shop
}

/// Every ```seg example selects exactly the members it lists; example files are shown verbatim.
async fn every_rule_example_selects_its_members(engine: Engine) {
    let blocks = blocks();
    let shop = shop_with_doc_data(engine, &blocks).await;
    let store = shop.store().await;
    let now = Timestamp::parse_flexible(NOW).unwrap();
    let mut checked = 0;
    for block in blocks.iter().filter(|b| b.language() == "seg") {
        if let Some(file) = block.attribute("file") {
            assert_eq!(
                std::fs::read_to_string(repo_file(file)).unwrap(),
                block.body,
                "{file} as shown"
            );
        }
        if block.info.iter().any(|w| w == "error") || block.attribute("check").is_some() {
            continue;
        }
        let mut library = Library::load(&shop.path().join("segments")).unwrap();
        library.insert("doc_example", &block.body);
        let rule = library
            .rule("doc_example")
            .unwrap_or_else(|e| panic!("{}\n{e}", block.body));
        let expected = block
            .attribute("members")
            .unwrap_or_else(|| panic!("no members= for {}", block.body));
        let condition = compile(&rule.expr, store.dialect(), now).unwrap();
        let mut members = Vec::new();
        store
            .for_each_member(&condition, None, |c| {
                members.push(c.email);
                Ok(())
            })
            .await
            .unwrap();
        members.sort();
        assert_eq!(members.join(","), expected, "members of:\n{}", block.body);
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} examples were checked");
}
on_both_databases!(
    every_rule_example_selects_its_members,
    every_rule_example_selects_its_members
);

/// Every `seg error` example renders exactly the error shown after it.
#[test]
fn every_error_example_renders_as_shown() {
    let blocks = blocks();
    let mut checked = 0;
    for (i, block) in blocks.iter().enumerate() {
        if block.language() != "seg" || !block.info.iter().any(|w| w == "error") {
            continue;
        }
        let mut library = Library::load(&repo_file("segments")).unwrap();
        library.insert("example", &block.body);
        let error = library
            .rule("example")
            .expect_err("an error example fails")
            .to_string();
        assert_eq!(
            format!("{error}\n"),
            blocks[i + 1].body,
            "the error shown after:\n{}",
            block.body
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

/// Every ```console example prints what the page shows; every `check=` example warns as shown.
async fn every_command_example_prints_as_shown(engine: Engine) {
    let blocks = blocks();
    let shop = shop_with_doc_data(engine, &blocks).await;
    let mut checked = 0;
    for block in blocks.iter().filter(|b| b.language() == "console") {
        let (command, expected) = block.body.split_once('\n').unwrap();
        let args: Vec<&str> = command
            .strip_prefix("$ rapport ")
            .expect("a rapport command")
            .split_whitespace()
            .collect();
        let out = shop.rapport(&args);
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "output of {command}");
        checked += 1;
    }
    for (i, block) in blocks.iter().enumerate() {
        let Some(name) = block.attribute("check") else {
            continue;
        };
        shop.write(&format!("segments/{name}.seg"), &block.body);
        let out = shop.rapport(&["check"]);
        assert!(
            out.status.success(),
            "warnings do not fail check: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&blocks[i + 1].body),
            "{}",
            stderr(&out)
        );
        checked += 1;
    }
    assert!(checked >= 5);
}
on_both_databases!(
    every_command_example_prints_as_shown,
    every_command_example_prints_as_shown
);
