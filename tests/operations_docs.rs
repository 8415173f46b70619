//! The systemd units and the helper script that docs/operations.md shows are the files of
//! docs/examples/, word for word, so an owner who copies either gets the same thing.

mod common;
use common::dkim_verifier::dkim_verifies;
use common::{Engine, repo_file};

const PAGE: &str = "docs/operations.md";

/// The blocks of the page fenced as `language`.
fn blocks(language: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo_file(PAGE)).unwrap();
    let fence = format!("```{language}\n");
    text.split(&fence)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repo_file(&format!("docs/examples/{name}"))).unwrap()
}

/// Each unit file shown (its first line names where it goes) is the example file of that name.
#[test]
fn the_units_shown_are_the_example_files() {
    let units: Vec<String> = blocks("ini")
        .into_iter()
        .filter(|b| b.starts_with("# /etc/systemd/system/"))
        .collect();
    let names: Vec<&str> = units
        .iter()
        .map(|b| {
            let first = b.lines().next().unwrap();
            let path = first.trim_start_matches("# ").split(':').next().unwrap();
            path.rsplit('/').next().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "rapport.service",
            "rapport-backup.service",
            "rapport-backup.timer"
        ]
    );

    for (name, shown) in names.iter().zip(&units) {
        assert_eq!(*shown, example(name), "{PAGE} shows docs/examples/{name}");
    }
}

/// The helper script shown is the example file.
#[test]
fn the_admin_script_shown_is_the_example_file() {
    let script = blocks("sh")
        .into_iter()
        .find(|b| b.starts_with("#!/bin/sh\n# rapport-admin"))
        .expect("the page shows rapport-admin");

    assert_eq!(script, example("rapport-admin"));
}

/// The service runs the daemon in /srv/rapport, reloads it with SIGHUP, and gives it more time to stop
/// than it needs (30 s).
#[test]
fn the_service_runs_the_daemon_and_waits_for_a_clean_stop() {
    let unit = example("rapport.service");
    let value = |key: &str| {
        unit.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("rapport.service sets {key}"))
    };

    assert_eq!(
        value("ExecStart"),
        "/usr/local/bin/rapport --workspace /srv/rapport daemon"
    );
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("Type"), "simple");
    assert_eq!(value("Restart"), "on-failure");
    assert_eq!(value("ReadWritePaths"), "/srv/rapport");
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    assert!(stop >= 60, "TimeoutStopSec={stop} leaves too little room");
}

/// The `[tracking]` section shown for a rotation is valid, and keeps the old secret accepted.
#[test]
fn the_rotation_shown_is_a_valid_configuration() {
    let shown = blocks("toml");
    let tracking = shown
        .iter()
        .find(|b| b.contains("previous_secrets"))
        .expect("the rotation example");
    let sender = "[sender]\nfrom = \"Maple & Thread <hello@maplethread.example>\"\n\
                  postal_address = \"12 Alder St, Portland OR 97201\"\n\n";
    let config = rapport::config::parse("rapport.toml", &format!("{sender}{tracking}"))
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.tracking.previous_secrets.len(), 1);
}

/// The DKIM script of the page makes a key and prints the DNS record for it; a message that rapport
/// signs with that key, as the page then says to configure it, verifies against that record.
#[tokio::test]
async fn the_dkim_record_the_page_prints_verifies_rapports_signatures() {
    let script = blocks("sh")
        .into_iter()
        .find(|b| b.starts_with("# dkim-key"))
        .expect("the page shows the DKIM script");
    let section = blocks("toml")
        .into_iter()
        .find(|b| b.starts_with("[dkim]"))
        .expect("the page shows the [dkim] section");
    let campaign =
        "[[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\n";
    let shop = common::shop_with(Engine::Sqlite, &common::numbered_customers(1), campaign).await;

    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(shop.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    let record = printed
        .split_once('"')
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map(|(record, _)| record)
        .expect("a quoted record");
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write("rapport.toml", &format!("{config}\n{section}"));
    let eml = shop.rapport(&["preview", "news", "--to", "c0@example.com", "--part", "eml"]);

    assert!(
        printed.starts_with("rapport._domainkey TXT \"v=DKIM1; k=rsa; p="),
        "{printed}"
    );
    assert!(eml.status.success(), "{}", common::stderr(&eml));
    if let Err(log) = dkim_verifies(&eml.stdout, record) {
        panic!("the page's record does not verify rapport's signature:\n{log}");
    }
}
