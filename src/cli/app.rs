//! The top-level parser, logging setup and dispatch to one subcommand.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Personalized email campaigns for small businesses.
///
/// A workspace folder holds rapport.toml, segments/ (who gets a campaign) and templates/ (what they
/// get). Customer data lives in SQLite by default (rapport.db) or in PostgreSQL.
#[derive(Debug, Parser)]
#[command(
    name = "rapport",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The workspace folder (the one with rapport.toml).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "RAPPORT_WORKSPACE",
        default_value = "."
    )]
    pub workspace: PathBuf,

    /// Log line format on stderr; filter with RUST_LOG (e.g. RUST_LOG=rapport=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: rapport.toml with a fresh secret, example segments and templates.
    Init(super::init::Args),
    /// A tour in seconds: a workspace with a synthetic shop, every campaign sent to the outbox.
    Demo(super::demo::Args),
    /// Validate rapport.toml, the campaigns and the database; exit 1 on any error.
    Check(super::check::Args),
    /// Import customers or events from a CSV file (or - for stdin).
    Import(super::import::Args),
    /// Show one customer: attributes, emails waiting to go to them, then events newest first.
    Customer(super::customer::Args),
    /// Segments: list them, count or show members, explain why a customer is in or out.
    Segment(super::segment::Args),
    /// Copy the SQLite database to FILE, consistently, even while rapport runs.
    Backup(super::backup::Args),
    /// Apply database migrations now (they are also applied whenever the database is opened).
    Migrate(super::migrate::Args),
    /// Print exactly the message one customer would get from a campaign, without sending or storing.
    Preview(super::preview::Args),
    /// Send a campaign now: plan a run from its segment (or resume the unfinished one) and deliver it.
    Send(super::send::Args),
    /// Run the schedules, triggered campaigns, deliveries and the tracking server until stopped.
    Daemon(super::daemon::Args),
    /// Run the tracking and unsubscribe server (opens, clicks, one-click unsubscribe) until stopped.
    Serve(super::serve::Args),
    /// Sent, failed, skipped, opened, clicked and unsubscribed, per campaign and run, with rates.
    Stats(super::stats::Args),
}

/// Parses the command line, runs the command and turns errors into messages and exit codes.
pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    // A daemon's log is its record of runs: show them unless RUST_LOG says otherwise.
    let default_level = match cli.command {
        Command::Daemon(_) | Command::Serve(_) => "rapport=info",
        _ => "warn",
    };
    init_logging(cli.log_format, default_level);
    // The servers answer requests on every core. The other commands are one task at heart (a send's
    // workers are polled together, their database work runs on sqlx's own threads): on one thread
    // their wake-ups need no hand-over between threads, and `rapport send` runs about 9% faster.
    let mut builder = match cli.command {
        Command::Daemon(_) | Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            print_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// `rapport segment show lapsed | head -3`: once the reader has gone, printing to stdout fails with
/// a broken pipe (EPIPE, error 32: Rust ignores SIGPIPE, so the write fails rather than the process
/// being stopped), and `println!` panics. A report cut short by its reader is what the user asked
/// for: exit quietly, with the status a Unix tool stopped by SIGPIPE has (128 + 13), rather than
/// print a panic and a backtrace. Every other panic goes to the default hook. What was being printed
/// is a report: anything stored was committed before it, and SQLite and PostgreSQL need no goodbye.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<String>().map(String::as_str))
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.ends_with("(os error 32)") {
            std::process::exit(128 + libc::SIGPIPE);
        }
        default(info);
    }));
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let workspace = cli.workspace;
    match cli.command {
        Command::Init(args) => super::init::run(&workspace, args),
        Command::Demo(args) => super::demo::run(args).await,
        Command::Check(args) => super::check::run(&workspace, args).await,
        Command::Import(args) => super::import::run(&workspace, args).await,
        Command::Customer(args) => super::customer::run(&workspace, args).await,
        Command::Segment(args) => super::segment::run(&workspace, args).await,
        Command::Migrate(args) => super::migrate::run(&workspace, args).await,
        Command::Backup(args) => super::backup::run(&workspace, args).await,
        Command::Preview(args) => super::preview::run(&workspace, args).await,
        Command::Send(args) => super::send::run(&workspace, args).await,
        Command::Daemon(args) => super::daemon::run(&workspace, args).await,
        Command::Serve(args) => super::serve::run(&workspace, args).await,
        Command::Stats(args) => super::stats::run(&workspace, args).await,
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour codes only on a terminal: journald and log files would store them as binary noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Diagnostics print as they are (they carry their own location); other errors as a chain.
fn print_error(error: &anyhow::Error) {
    if let Some(diagnostic) = error.downcast_ref::<crate::diagnostic::Diagnostic>() {
        eprintln!("{diagnostic}");
    } else {
        eprintln!("error: {}", error_chain(error));
    }
}

/// The error and its causes, joined by ": " as anyhow's `{:#}` does, but without a cause whose text
/// the message before it already ends with: sqlx and SQLite errors repeat their source in their
/// own message ("… Connection refused (os error 111): Connection refused (os error 111)").
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_repeated_by_its_error_is_printed_once() {
        let source = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let repeated = anyhow::anyhow!("error communicating with database: {source}");
        let error = anyhow::Error::new(source)
            .context(repeated.to_string())
            .context("cannot connect to PostgreSQL at postgres://localhost/shop");
        assert_eq!(
            error_chain(&error),
            format!("cannot connect to PostgreSQL at postgres://localhost/shop: {repeated}")
        );
        let distinct = anyhow::anyhow!("disk full").context("cannot write the outbox");
        assert_eq!(error_chain(&distinct), "cannot write the outbox: disk full");
    }
}
