//! The workspace configuration as the owner meets it: `rapport init`, `rapport check`, and errors that
//! point at the line and key.

mod common;
use common::{Engine, Shop, stderr, stdout};

/// A misspelt key is reported with file, line, column, the line itself, and the nearest valid key.
#[tokio::test]
async fn unknown_key_names_file_line_and_nearest_key() {
    let shop = Shop::new(Engine::Sqlite).await;
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let line = config
        .lines()
        .position(|l| l.starts_with("concurrency"))
        .unwrap()
        + 1;
    shop.write(
        "rapport.toml",
        &config.replace("concurrency = 8", "concurency = 8"),
    );

    let out = shop.rapport(&["check"]);

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "rapport.toml:{line}:1: error: unknown key `concurency`"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{line} | concurency = 8")), "{err}");
    assert!(err.contains("hint: did you mean `concurrency`?"), "{err}");
}

/// A workspace without a tracking secret, or without a postal address (the law wants one in every
/// marketing email), is refused by every command that would send, and `check` says where.
#[tokio::test]
async fn a_missing_secret_or_an_empty_postal_address_is_an_error() {
    let shop = Shop::new(Engine::Sqlite).await;
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let line_of = |prefix: &str| 1 + config.lines().position(|l| l.starts_with(prefix)).unwrap();
    let cases = [
        (
            config
                .lines()
                .filter(|l| !l.starts_with("secret = "))
                .collect::<Vec<_>>()
                .join("\n"),
            format!(
                "rapport.toml:{}:1: error: missing key `secret`",
                line_of("[tracking]")
            ),
        ),
        (
            config
                .lines()
                .map(|l| {
                    if l.starts_with("postal_address") {
                        "postal_address = \"  \""
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            format!(
                "rapport.toml:{}:18: error: `postal_address`: must not be empty",
                line_of("postal_address")
            ),
        ),
    ];
    for (broken, expected) in cases {
        shop.write("rapport.toml", &broken);
        for args in [&["check"][..], &["send", "winback"]] {
            let out = shop.rapport(args);

            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                stderr(&out).contains(&expected),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// Wrong types and invalid values point at the value and say what a valid one looks like.
#[tokio::test]
async fn invalid_values_say_what_is_expected() {
    let shop = Shop::new(Engine::Sqlite).await;
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let cases = [
        (
            "quiet_hours = \"21:00-08:00\"",
            "quiet_hours = \"after nine\"",
            "is not a time window",
        ),
        (
            "rate = [\"20/s\", \"5000/day\"]",
            "rate = \"fast\"",
            "is not a rate",
        ),
        (
            "default_timezone = \"America/Los_Angeles\"",
            "default_timezone = \"America/LosAngeles\"",
            "did you mean \"America/Los_Angeles\"?",
        ),
        (
            "base_url = \"https://mail.maplethread.example\"",
            "base_url = \"http://mail.maplethread.example\"",
            "needs https",
        ),
        (
            "schedule = \"0 0 10 * * Tue\"",
            "schedule = \"0 10 * * Tue\"",
            "schedules here start with seconds",
        ),
        ("concurrency = 8", "concurrency = \"eight\"", "wrong type"),
        (
            "transport = \"outbox\"",
            "transport = \"smtpp\"",
            "did you mean \"smtp\"?",
        ),
    ];
    for (good, bad, expected) in cases {
        let key = bad.split(' ').next().unwrap();
        let line = config
            .lines()
            .position(|l| l.starts_with(good))
            .expect(good)
            + 1;
        shop.write("rapport.toml", &config.replace(good, bad));

        let out = shop.rapport(&["check"]);

        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(
            err.contains(&format!("rapport.toml:{line}:")),
            "{bad} should point at line {line}: {err}"
        );
        let first_line = err.lines().next().unwrap_or_default();
        assert!(
            first_line.contains(&format!("`{key}`")),
            "{bad}: the message names the key: {err}"
        );
        assert!(err.contains(expected), "{bad}: {err}");
    }
}

/// The example secret is refused; a fresh workspace gets its own random one.
#[tokio::test]
async fn init_writes_a_fresh_secret_and_check_refuses_placeholders() {
    let a = Shop::new(Engine::Sqlite).await;
    let b = Shop::new(Engine::Sqlite).await;
    let secret = |shop: &Shop| {
        let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
        config
            .lines()
            .find(|l| l.starts_with("secret = "))
            .unwrap()
            .to_string()
    };
    assert_ne!(secret(&a), secret(&b));
    let config = std::fs::read_to_string(a.path().join("rapport.toml")).unwrap();
    a.write(
        "rapport.toml",
        &config.replace(&secret(&a), "secret = \"change-me\""),
    );

    let out = a.rapport(&["check"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the tracking secret is still the example value"),
        "{}",
        stderr(&out)
    );
}

/// `init` never overwrites a workspace, and leaves every existing file as it was.
#[tokio::test]
async fn init_refuses_to_overwrite() {
    let shop = Shop::new(Engine::Sqlite).await;
    shop.write("rapport.toml", "# my own settings\n");

    let out = shop.rapport(&["init", "."]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already holds a workspace"),
        "{}",
        stderr(&out)
    );
    let kept = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    assert_eq!(kept, "# my own settings\n");
}

/// `check` passes on a fresh workspace and names a campaign's missing segment with a suggestion.
#[tokio::test]
async fn check_validates_campaign_references() {
    let shop = Shop::new(Engine::Sqlite).await;
    let ok = shop.rapport(&["check"]);
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &config.replace(
            "segment = \"lapsed_regulars\"",
            "segment = \"lapsed_regular\"",
        ),
    );

    let out = shop.rapport(&["check"]);

    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("campaign \"winback\": there is no segments/lapsed_regular.seg"),
        "{err}"
    );
    assert!(err.contains("did you mean \"lapsed_regulars\"?"), "{err}");
}

/// A password in a database URL never reaches the output, even when the connection fails.
#[test]
fn database_passwords_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["init"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["check"])
        .current_dir(dir.path())
        .env(
            "RAPPORT_DATABASE_URL",
            "postgres://shop:hunter2@127.0.0.1:1/shop",
        )
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();

    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        all.contains("postgres://shop:***@127.0.0.1:1/shop"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
}

/// `transport = "smtp"` needs a server: from the file or RAPPORT_SMTP_URL.
#[tokio::test]
async fn smtp_transport_needs_a_url() {
    let shop = Shop::new(Engine::Sqlite).await;
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let config = config.replace("transport = \"outbox\"", "transport = \"smtp\"");
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with("smtp_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    shop.write("rapport.toml", &config);

    let out = shop.rapport(&["check"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("transport = \"smtp\" needs an SMTP server"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("RAPPORT_SMTP_URL"),
        "{}",
        stderr(&out)
    );
}

/// RAPPORT_TRACKING_SECRET replaces the file's secret: links are signed with it (so they differ),
/// and a weak one (or a weak previous secret) is refused with the variable's name, never echoed.
#[tokio::test]
async fn the_tracking_secret_can_come_from_the_environment() {
    let shop = Shop::new(Engine::Sqlite).await;
    shop.write("customers.csv", "email\nann@example.com\n");
    assert!(
        shop.rapport(&["import", "customers", "customers.csv"])
            .status
            .success()
    );
    let preview = |secret: Option<&str>| {
        let mut command = shop.command(&[
            "preview",
            "newsletter",
            "--to",
            "ann@example.com",
            "--part",
            "headers",
        ]);
        if let Some(secret) = secret {
            command.env("RAPPORT_TRACKING_SECRET", secret);
        }
        command.output().unwrap()
    };

    let from_file = preview(None);
    let from_env = preview(Some("0f9e8d7c6b5a49382716a5b4c3d2e1f00f9e8d7c6b5a4938"));
    let weak = preview(Some("hunter2"));

    let unsubscribe = |out: &std::process::Output| {
        let text = stdout(out);
        let line = text
            .lines()
            .find(|l| l.starts_with("List-Unsubscribe:"))
            .map(str::to_string);
        line.unwrap_or_else(|| panic!("no List-Unsubscribe in {text}{}", stderr(out)))
    };
    assert_ne!(
        unsubscribe(&from_file),
        unsubscribe(&from_env),
        "signed with the other secret"
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(
        stderr(&weak).contains("RAPPORT_TRACKING_SECRET: the tracking secret is too short"),
        "{}",
        stderr(&weak)
    );
    assert!(!stderr(&weak).contains("hunter2"));

    // The previous secrets, separated by commas, are held to the same rules.
    let mut command = shop.command(&["check"]);
    let good = "0f9e8d7c6b5a49382716a5b4c3d2e1f00f9e8d7c6b5a4938";
    command.env(
        "RAPPORT_TRACKING_PREVIOUS_SECRETS",
        format!("{good}, hunter2"),
    );
    let weak_previous = command.output().unwrap();
    assert_eq!(weak_previous.status.code(), Some(1));
    assert!(
        stderr(&weak_previous).contains(
            "RAPPORT_TRACKING_PREVIOUS_SECRETS, secret 2 of 2: the tracking secret is too short"
        ),
        "{}",
        stderr(&weak_previous)
    );
    assert!(!stderr(&weak_previous).contains("hunter2"));
}

/// The complete example of docs/configuration.md is a valid configuration.
#[test]
fn documented_example_configuration_is_valid() {
    let doc = std::fs::read_to_string(common::repo_file("docs/configuration.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];

    let config = rapport::config::parse("rapport.toml", example).unwrap_or_else(|d| panic!("{d}"));

    assert_eq!(config.delivery.rate.0.len(), 3);
    assert_eq!(config.campaigns[0].name.get_ref().as_str(), "winback");
    assert_eq!(config.courtesy.max_per_week, Some(2));
}

/// A malformed SMTP URL is caught by `check`, pointing at the value, without echoing its password.
#[tokio::test]
async fn invalid_smtp_url_is_reported_without_its_password() {
    let shop = Shop::new(Engine::Sqlite).await;
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &config.replace(
            "smtp_url = \"smtp://127.0.0.1:2525\"",
            "smtp_url = \"smtp://shop:hunter2@mail.example?tls=maybe\"",
        ),
    );

    let out = shop.rapport(&["check"]);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("`smtp_url`: tls=maybe is not understood"),
        "{err}"
    );
    assert!(
        err.contains("smtp://shop:********@mail.example"),
        "the line is echoed masked: {err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// `rapport migrate` creates the schema of a new database and reports it up to date afterwards.
async fn migrate_applies_and_then_finds_nothing_to_do(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let url = common::fresh_database_url(engine, dir.path()).await;
    let run = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"));
        cmd.env("RAPPORT_DATABASE_URL", &url)
            .env_remove("RAPPORT_WORKSPACE")
            .current_dir(dir.path());
        cmd
    };
    assert!(run().args(["init", "."]).output().unwrap().status.success());

    let first = run().arg("migrate").output().unwrap();
    let second = run().arg("migrate").output().unwrap();

    assert!(first.status.success(), "{}", stderr(&first));
    let migrations = std::fs::read_dir(common::repo_file("migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        stdout(&first).contains(&format!("{migrations} migrations applied")),
        "{}",
        stdout(&first)
    );
    assert!(
        stdout(&second).contains("0 migrations applied; the schema is up to date"),
        "{}",
        stdout(&second)
    );
}
on_both_databases!(
    migrate_applies_and_then_finds_nothing_to_do,
    migrate_applies_and_then_finds_nothing_to_do
);

/// A workspace that copied the published example secret is warned by `check`: with the outbox it
/// stays a workspace to try rapport out with.
#[tokio::test]
async fn the_published_example_secret_gets_a_warning() {
    let shop = Shop::new(Engine::Sqlite).await;
    std::fs::copy(
        common::repo_file("rapport.toml"),
        shop.path().join("rapport.toml"),
    )
    .unwrap();

    let out = shop.rapport(&["check"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "warning: the tracking secret is an example published with rapport: anyone could forge"
        ),
        "{}",
        stderr(&out)
    );
}

/// No mail that reaches people is signed with a published secret, and no server honours links
/// signed with one: `send` through SMTP, `serve` and the daemon refuse it, pointing at the line, and
/// store nothing.
#[tokio::test]
async fn a_published_secret_signs_no_real_mail() {
    let shop = Shop::new(Engine::Sqlite).await;
    let example = std::fs::read_to_string(common::repo_file("rapport.toml")).unwrap();
    let line = 1 + example
        .lines()
        .position(|l| l.starts_with("secret = "))
        .unwrap();
    shop.write(
        "rapport.toml",
        &example.replace("transport = \"outbox\"", "transport = \"smtp\""),
    );

    for args in [
        &["send", "newsletter"][..],
        &["serve", "--listen", "127.0.0.1:0"],
        &["daemon", "--no-server"],
    ] {
        let out = refused(&mut shop.command(args));

        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("the tracking secret is an example published with rapport")
                && err.contains(&format!("rapport.toml:{line}:"))
                && err.contains("openssl rand -hex 32"),
            "{args:?}: {err}"
        );
    }
    assert!(!shop.path().join("test.db").exists(), "nothing was stored");
}

/// A published secret given through the environment, or kept among the previous secrets (which
/// still verify links), is refused the same way, naming where it came from.
#[tokio::test]
async fn a_published_secret_is_refused_from_the_environment_and_among_previous_secrets() {
    let shop = Shop::new(Engine::Sqlite).await;
    let published = rapport::config::PUBLISHED_SECRETS[0];

    let mut serve = shop.command(&["serve", "--listen", "127.0.0.1:0"]);
    let out = refused(serve.env("RAPPORT_TRACKING_SECRET", published));

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("RAPPORT_TRACKING_SECRET: the tracking secret is an example published"),
        "{}",
        stderr(&out)
    );

    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &config.replace(
            "[tracking]\n",
            &format!("[tracking]\nprevious_secrets = [\"{published}\"]\n"),
        ),
    );
    let out = refused(&mut shop.command(&["serve", "--listen", "127.0.0.1:0"]));

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a secret in previous_secrets is an example published"),
        "{}",
        stderr(&out)
    );
}

/// Runs a command that should refuse to start; one that runs on (a server, the daemon) is killed
/// after a while and fails the test, rather than hanging it.
fn refused(command: &mut std::process::Command) -> std::process::Output {
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command:?} did not refuse to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Every secret that rapport's example workspace, README and docs show is known as published, so
/// that a new example cannot slip into real mail.
#[test]
fn every_secret_the_repository_shows_is_known_as_published() {
    fn files_under(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = vec![
        common::repo_file("rapport.toml"),
        common::repo_file("README.md"),
    ];
    files_under(&common::repo_file("docs"), &mut files);
    let mut shown = 0;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
            // A secret as rapport init writes them: 64 hex digits (`openssl rand -hex 32`).
            if word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()) {
                shown += 1;
                assert!(
                    rapport::config::PUBLISHED_SECRETS.contains(&word),
                    "{}: {word} is shown but not in PUBLISHED_SECRETS",
                    file.display()
                );
            }
        }
    }
    assert!(shown >= 3, "found only {shown} secrets");
}

/// The [delivery] example of docs/sending.md is valid configuration.
#[test]
fn documented_delivery_settings_are_valid() {
    let doc = std::fs::read_to_string(common::repo_file("docs/sending.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let delivery = &doc[start..start + doc[start..].find("```").unwrap()];
    let base = std::fs::read_to_string(common::repo_file("docs/configuration.md")).unwrap();
    let base_start = base.find("```toml\n").unwrap() + "```toml\n".len();
    let base = &base[base_start..base_start + base[base_start..].find("```").unwrap()];
    let without_delivery: String = {
        let start = base.find("[delivery]").unwrap();
        let end = base.find("[tracking]").unwrap();
        format!("{}{}", &base[..start], &base[end..])
    };

    let config = rapport::config::parse("rapport.toml", &format!("{without_delivery}\n{delivery}"))
        .unwrap_or_else(|d| panic!("{d}"));

    assert_eq!(config.delivery.retry_after.0.as_secs(), 300);
    assert_eq!(config.delivery.retry_lifetime.0.as_secs(), 2 * 86_400);
    assert_eq!(config.delivery.lease.0.as_secs(), 900);
    assert_eq!(config.delivery.rate.0.len(), 3);
}

/// The backup and upgrade examples of docs/operations.md print what the page shows, and the backup is
/// a complete database.
#[tokio::test]
async fn the_backup_and_migrate_examples_run_as_documented() {
    let page = std::fs::read_to_string(common::repo_file("docs/operations.md")).unwrap();
    let examples: Vec<Vec<&str>> = page
        .split("```console\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().lines().collect())
        .filter(|lines: &Vec<&str>| {
            lines[0].starts_with("$ rapport backup") || lines[0].starts_with("$ rapport migrate")
        })
        .collect();
    assert_eq!(examples.len(), 2, "a backup and a migrate example");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("RAPPORT_DATABASE_URL")
            .env_remove("RAPPORT_WORKSPACE")
            .output()
            .unwrap()
    };
    assert!(run(&["init", "."]).status.success());
    std::fs::write(dir.path().join("c.csv"), "email\nann@example.com\n").unwrap();
    assert!(run(&["import", "customers", "c.csv"]).status.success());
    std::fs::create_dir(dir.path().join("backups")).unwrap();

    for example in &examples {
        let args: Vec<&str> = example[0]
            .trim_start_matches("$ rapport ")
            .split(' ')
            .collect();
        let out = run(&args);
        assert!(out.status.success(), "{}: {}", example[0], stderr(&out));
        assert_eq!(
            stdout(&out).lines().collect::<Vec<_>>(),
            example[1..],
            "{}",
            example[0]
        );
    }

    let backup = dir.path().join("backups/rapport-2026-11-27.db");
    let url =
        rapport::config::DatabaseUrl::parse(format!("sqlite://{}", backup.display())).unwrap();
    let store = rapport::store::Store::open(&url, dir.path()).await.unwrap();
    assert_eq!(
        store.count_customers().await.unwrap(),
        1,
        "the backup holds the data"
    );
    let again = run(&["backup", "backups/rapport-2026-11-27.db"]);
    assert!(
        stderr(&again).contains("exists already"),
        "a backup never overwrites: {}",
        stderr(&again)
    );
}
