//! The examples of docs/scheduling.md are valid for the example shop: each ```toml block is put into a
//! workspace made by `rapport init` (this repository's rapport.toml, segments/ and templates/), in
//! place of the tables it sets (a block with a `[[campaign]]` replaces the shop's campaigns), and
//! `rapport check` passes. Each ```seg file=PATH block is that file of the example shop, verbatim.

mod common;
use common::doc_blocks::Block;
use common::{Engine, Shop, stderr, stdout};

const PAGE: &str = "docs/scheduling.md";

fn blocks() -> Vec<Block> {
    common::doc_blocks::blocks(PAGE)
}

/// The header of each table of a TOML text: `[courtesy]`, `[[campaign]]`.
fn headers(toml: &str) -> Vec<&str> {
    toml.lines()
        .map(str::trim)
        .filter(|line| line.starts_with('['))
        .map(|line| line.split('#').next().unwrap().trim())
        .collect()
}

/// `config` with `example` in place of the tables it sets: a table of the same header is dropped,
/// and every `[[campaign]]` when the example has one (its names may be the shop's own).
fn with_example(config: &str, example: &str) -> String {
    let replaced = headers(example);
    let mut out = String::new();
    let mut keep = true;
    for line in config.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let header = trimmed.split('#').next().unwrap().trim();
            keep = !replaced.contains(&header);
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    format!("{out}\n{example}")
}

/// Every ```toml example passes `rapport check` in the example shop.
#[tokio::test]
async fn every_toml_example_passes_check_in_the_example_shop() {
    let blocks = blocks();
    let examples: Vec<&Block> = blocks.iter().filter(|b| b.language() == "toml").collect();
    let campaigns = examples
        .iter()
        .filter(|b| b.body.contains("[[campaign]]"))
        .count();
    assert!(campaigns >= 4, "{PAGE} shows its campaigns");
    for key in [
        "schedule =",
        "at =",
        "trigger =",
        "delay =",
        "deliver_at =",
        "[daemon]",
    ] {
        assert!(
            examples.iter().any(|b| b.body.contains(key)),
            "{PAGE} shows `{key}`"
        );
    }

    let shop = Shop::new(Engine::Sqlite).await;
    for block in blocks.iter().filter(|b| b.language() == "seg") {
        let file = block
            .attribute("file")
            .unwrap_or_else(|| panic!("a ```seg block names its file=: {}", block.body));
        let shipped = std::fs::read_to_string(shop.path().join(file))
            .unwrap_or_else(|e| panic!("the example shop has {file}: {e}"));
        assert_eq!(block.body, shipped, "{PAGE} shows {file} as it is");
    }
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();

    for example in examples {
        let text = with_example(&config, &example.body);
        rapport::config::parse("rapport.toml", &text).unwrap_or_else(|d| panic!("{d}"));
        shop.write("rapport.toml", &text);

        let out = shop.rapport(&["check"]);

        assert!(
            out.status.success(),
            "{PAGE} example:\n{}\nstdout: {}\nstderr: {}",
            example.body,
            stdout(&out),
            stderr(&out)
        );
    }
}

/// The replacement keeps the shop's other tables and drops those the example sets.
#[test]
fn an_example_replaces_only_the_tables_it_sets() {
    let config = "# shop\n[sender]\nfrom = \"a\"\n\n[courtesy]\nmax_per_week = 1\n\n[[campaign]]\nname = \"old\"\n";
    let example = "[courtesy]\nmax_per_week = 2\n\n[[campaign]]\nname = \"new\"\n";

    let text = with_example(config, example);

    assert!(text.contains("# shop\n[sender]\nfrom = \"a\"\n"), "{text}");
    assert!(
        !text.contains("max_per_week = 1") && !text.contains("\"old\""),
        "{text}"
    );
    assert!(text.ends_with(example), "{text}");
}
