//! `rapport demo`: the README's main command, on the embedded SQLite default.

mod common;
use common::{stderr, stdout};
use std::process::Command;

/// An evening in the US and Europe alike (18:00 UTC): none of the demo's customers is in their
/// quiet hours.
const EVENING: &str = "2026-11-27T18:00:00Z";

fn demo(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    demo_at(EVENING, dir, extra)
}

/// `rapport demo` with the clock started at `at`.
fn demo_at(at: &str, dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("demo")
        .arg(dir)
        .args(extra)
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_WORKSPACE")
        .env("RAPPORT_CLOCK", at)
        .output()
        .unwrap()
}

/// The demo builds a shop, sends every campaign to the outbox and points at a message to open; a
/// second demo in the same folder replaces the first.
#[test]
fn the_demo_sends_every_campaign_to_the_outbox() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shop");

    let first = demo(&dir, &["--customers", "300"]);
    let second = demo(&dir, &["--customers", "300"]);

    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    for campaign in ["winback", "garden-seeds", "newsletter"] {
        assert!(
            out.contains(&format!("campaign {campaign} (run ")),
            "{campaign} ran: {out}"
        );
    }
    assert!(
        out.contains("campaign thank-you: sent to each customer after a `purchase` event, once"),
        "the triggered campaign is left to the daemon: {out}"
    );
    let message = out
        .lines()
        .find_map(|l| l.strip_prefix("Open one of the messages in a mail client: "))
        .expect("a message to open");
    assert!(
        message.contains("/outbox/"),
        "a message that went out: {message}"
    );
    let eml = std::fs::read_to_string(message).unwrap();
    assert!(
        eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{eml}"
    );
    assert!(
        eml.contains("12 Alder St, Portland OR 97201"),
        "the footer carries the postal address"
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stdout(&first),
        stdout(&second).replace(&second_paths(&second), &second_paths(&first)),
        "same seed, same shop"
    );
}

/// Between 05:00 and 07:00 UTC every demo customer is in their quiet hours (21:00-08:00, from Los
/// Angeles to Paris): nothing goes out, and the demo still shows a message, the one a regular will
/// get. (The test above, run then, used to find no message to open.)
#[test]
fn when_every_message_waits_the_demo_shows_one_all_the_same() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shop");

    let out = demo_at("2026-11-27T06:00:00Z", &dir, &["--customers", "300"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("waiting"), "{text}");
    assert!(text.contains("No message went out now"), "{text}");
    let message = text
        .lines()
        .find_map(|l| l.strip_prefix("Open one of the messages in a mail client: "))
        .expect("a message to open");
    assert!(message.ends_with("preview.eml"), "{message}");
    let eml = std::fs::read_to_string(message).unwrap();
    assert!(
        eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{eml}"
    );
    let outbox = std::fs::read_dir(dir.join("outbox")).map_or(0, |d| d.count());
    assert_eq!(outbox, 0, "nothing was sent during the quiet hours");
}

fn second_paths(out: &std::process::Output) -> String {
    stdout(out)
        .lines()
        .find_map(|l| l.strip_prefix("Open one of the messages in a mail client: "))
        .unwrap_or_default()
        .to_string()
}

/// The demo never overwrites a folder it did not make.
#[test]
fn the_demo_leaves_other_folders_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();

    let out = demo(dir.path(), &["--customers", "10"]);

    refused(&out, &["is not an earlier demo: nothing was changed"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

/// `rapport` in an earlier demo's folder, with no database override: the owner at work in it.
fn rapport_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .current_dir(dir)
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_WORKSPACE")
        .env_remove("RAPPORT_CLOCK")
        .output()
        .unwrap()
}

/// Asserts that a demo refused (status 1), saying each of `parts`.
fn refused(out: &std::process::Output, parts: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    for part in parts {
        assert!(stderr(out).contains(part), "{part:?} in {}", stderr(out));
    }
}

/// An earlier demo that the owner has started to use is not replaced: customers imported into it by
/// hand, anything added to the folder (a `.git`), or a segment written in it, make the next demo
/// refuse and change nothing.
#[test]
fn an_earlier_demo_in_use_is_kept() {
    let parent = tempfile::tempdir().unwrap();
    let [imported, added, edited] = ["imported", "added", "edited"].map(|d| parent.path().join(d));
    for dir in [&imported, &added, &edited] {
        assert!(demo(dir, &["--customers", "10"]).status.success());
    }
    std::fs::write(imported.join("mine.csv"), "email\nreal@myshop.example\n").unwrap();
    let import = rapport_in(&imported, &["import", "customers", "mine.csv"]);
    assert!(import.status.success(), "{}", stderr(&import));
    std::fs::remove_file(imported.join("mine.csv")).unwrap();
    std::fs::create_dir(added.join(".git")).unwrap();
    std::fs::write(edited.join("segments/mine.seg"), "email exists\n").unwrap();

    let again_imported = demo(&imported, &["--customers", "10"]);
    let again_added = demo(&added, &["--customers", "10"]);
    let again_edited = demo(&edited, &["--customers", "10"]);

    refused(
        &again_imported,
        &[
            "its database holds customers 11, ",
            "where the demo left customers 10, ",
        ],
    );
    let customer = rapport_in(&imported, &["customer", "real@myshop.example"]);
    assert!(customer.status.success(), "{}", stderr(&customer));
    refused(&again_added, &["it also holds .git: nothing was changed"]);
    assert!(added.join(".git").is_dir());
    refused(
        &again_edited,
        &["segments/mine.seg was written after the demo"],
    );
    assert!(edited.join("segments/mine.seg").exists());
}

/// `RAPPORT_DATABASE_URL` (an owner's real database, say) is not filled with the demo's synthetic
/// shop: the demo keeps it in its own folder, says so, and its suggested commands read that.
#[test]
fn the_demo_never_writes_into_the_database_the_environment_names() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shop");
    let elsewhere = parent.path().join("production.db");

    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("demo")
        .arg(&dir)
        .args(["--customers", "50"])
        .env(
            "RAPPORT_DATABASE_URL",
            format!("sqlite://{}", elsewhere.display()),
        )
        .env_remove("RAPPORT_WORKSPACE")
        .env("RAPPORT_CLOCK", EVENING)
        .output()
        .unwrap();

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!elsewhere.exists(), "the other database was not created");
    assert!(dir.join("rapport.db").exists());
    assert!(
        stderr(&out).contains("RAPPORT_DATABASE_URL is set; the demo ignores it"),
        "{}",
        stderr(&out)
    );
    let stats = stdout(&out)
        .lines()
        .find(|l| l.trim_end().ends_with(" stats"))
        .expect("a suggested `stats`")
        .trim()
        .to_string();
    assert!(
        stats.starts_with("RAPPORT_DATABASE_URL= rapport --workspace "),
        "{stats}"
    );
    // The suggested command, run as a shell would with the variable still set, reads the demo.
    let suggested = Command::new("sh")
        .args([
            "-c",
            &stats.replacen("rapport", env!("CARGO_BIN_EXE_rapport"), 1),
        ])
        .env(
            "RAPPORT_DATABASE_URL",
            format!("sqlite://{}", elsewhere.display()),
        )
        .env_remove("RAPPORT_CLOCK")
        .output()
        .unwrap();
    assert!(suggested.status.success(), "{}", stderr(&suggested));
    assert!(
        stdout(&suggested).contains("newsletter"),
        "{}",
        stdout(&suggested)
    );
    assert!(!elsewhere.exists());
}
