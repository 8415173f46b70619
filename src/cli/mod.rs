//! The command line: one file per subcommand, each with its `Args` and `run`.

mod app;
mod backup;
mod check;
mod check_when;
mod customer;
mod daemon;
mod demo;
mod dry_run;
mod import;
mod init;
mod migrate;
mod preview;
mod progress;
mod segment;
mod send;
mod serve;
mod stats;
mod table;

pub use app::{Cli, main, run};
