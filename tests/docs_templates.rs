//! Every template example of docs/templates.md, rendered for the customers the page describes and
//! compared with the output the page shows. (Its `console` examples run in tests/templates.rs.)

mod common;

use rapport::store::{Customer, Purchase, Summary};
use rapport::template::{Library, Links, Sender, Shared, html_to_text};
use rapport::timestamp::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;

/// One fenced block of the page: its info string and its text.
struct Block {
    info: String,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for inner in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            text.push_str(inner);
            text.push('\n');
        }
        out.push(Block {
            info: info.trim().to_string(),
            text,
        });
    }
    out
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_flexible(text).unwrap()
}

fn customer(
    email: &str,
    first: Option<&str>,
    last: Option<&str>,
    zone: &str,
    locale: &str,
    attributes: serde_json::Value,
) -> Customer {
    Customer {
        id: 1,
        email: email.into(),
        email_key: email.into(),
        first_name: first.map(Into::into),
        last_name: last.map(Into::into),
        timezone: Some(zone.into()),
        locale: Some(locale.into()),
        attributes: sqlx::types::Json(attributes.as_object().unwrap().clone()),
        status: "active".into(),
        created_at: at("2025-06-01T12:00:00Z"),
        updated_at: at("2026-03-01T00:00:00Z"),
    }
}

fn purchase(when: &str, amount: f64, item: &str, category: &str) -> Purchase {
    Purchase {
        occurred_at: at(when),
        amount: Some(amount),
        properties: json!({ "item": item, "category": category })
            .as_object()
            .unwrap()
            .clone(),
    }
}

/// Alice and Bob, exactly as "The examples' customers" describes them.
fn documented_customers() -> (Customer, Summary, Customer, Summary) {
    let alice = customer(
        "alice@example.com",
        Some("Alice"),
        Some("Martin"),
        "America/Los_Angeles",
        "en-US",
        json!({ "city": "Portland", "vip": true, "note": "Loves <b>bold</b> colours & wool" }),
    );
    let alice_summary = Summary {
        purchases: 3,
        total_spent: 162.5,
        favourite_category: Some("wool".into()),
        last_visit_at: Some(at("2026-03-08T18:00:00Z")),
        last_email_opened_at: Some(at("2026-03-09T08:00:00Z")),
        recent_purchases: vec![
            purchase("2026-02-17T19:30:00Z", 120.5, "Winter coat", "wool"),
            purchase("2026-01-10T18:00:00Z", 30.0, "Scarf", "wool"),
            purchase("2025-12-01T02:00:00Z", 12.0, "Napkins", "linen"),
        ],
    };
    let bob = customer(
        "bob@example.com",
        None,
        None,
        "Europe/Paris",
        "fr",
        json!({}),
    );
    (alice, alice_summary, bob, Summary::default())
}

/// Renders `source` for Alice or Bob as a text, HTML, or HTML-made-text file.
fn render(kind: &str, source: &str) -> String {
    let (alice, alice_summary, bob, bob_summary) = documented_customers();
    let (customer, summary) = if kind.ends_with("-bob") {
        (&bob, &bob_summary)
    } else {
        (&alice, &alice_summary)
    };
    let file = if kind.starts_with("tera-html") {
        "example.html"
    } else {
        "example.txt"
    };
    let (library, problems) =
        Library::compile(BTreeMap::from([(file.to_string(), source.to_string())]));
    assert!(problems.is_empty(), "{problems:?}");
    let sender = Sender {
        name: "Maple & Thread",
        email: "hello@maplethread.example",
        postal_address: "12 Alder St, Portland OR 97201",
        currency: "USD",
    };
    let shared = Shared::new(
        &sender,
        "winback",
        "offers",
        chrono_tz::America::Los_Angeles,
    );
    let links = Links {
        unsubscribe_url: "https://mail.maplethread.example/u/TOKEN".into(),
        preferences_url: "https://mail.maplethread.example/p/TOKEN".into(),
    };
    let context = shared.context(customer, summary, &links, at("2026-03-10T17:00:00Z"));
    let rendered = library
        .render_file(file, &context)
        .unwrap_or_else(|e| panic!("{source}: {e}"));
    if kind == "tera-html-as-text" {
        html_to_text(&rendered)
    } else {
        rendered
    }
}

/// Each template example is followed by an `output` block showing exactly what it renders.
#[test]
fn every_template_example_renders_as_documented() {
    let page = std::fs::read_to_string(common::repo_file("docs/templates.md")).unwrap();
    let blocks = blocks(&page);
    let mut checked = 0;
    for pair in blocks.windows(2) {
        if !pair[0].info.starts_with("tera") {
            continue;
        }
        assert_eq!(
            pair[1].info, "output",
            "a `{}` example must be followed by its output",
            pair[0].info
        );
        let rendered = render(&pair[0].info, &pair[0].text);
        assert_eq!(
            rendered.trim_end(),
            pair[1].text.trim_end(),
            "example:\n{}",
            pair[0].text
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} examples found");
}

/// Every context field and filter the page's tables name appears in an example.
#[test]
fn every_documented_field_has_an_example() {
    let page = std::fs::read_to_string(common::repo_file("docs/templates.md")).unwrap();
    let examples: String = blocks(&page)
        .into_iter()
        .filter(|b| b.info.starts_with("tera"))
        .map(|b| b.text)
        .collect();
    let fields: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(fields.len() >= 25, "{fields:?}");
    let groups = ["customer.", "summary.", "campaign.", "sender.", "links."];
    for field in fields {
        let field = field.trim_end_matches(".NAME");
        if groups.iter().any(|g| field.starts_with(g)) || ["now", "zone", "locale"].contains(&field)
        {
            assert!(examples.contains(field), "no example uses `{field}`");
        }
    }
    for filter in ["greet", "default", "money", "date", "ago", "pluralize"] {
        assert!(
            examples.contains(&format!("| {filter}")),
            "no example uses the `{filter}` filter"
        );
    }
}
