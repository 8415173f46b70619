//! Rapport: personalized email campaigns for small businesses.
//!
//! # Layout
//! In the order data flows through the engine:
//!
//! - [`workspace`]: finds the workspace folder, loads its `rapport.toml` and opens its store.
//! - [`config`]: the `rapport.toml` model, its value types, and errors that point at the line and key.
//! - [`diagnostic`]: renders `FILE:LINE:COL` errors with the offending line, a caret and a hint.
//! - [`domain`]: validated values built once at the edge (email addresses, time zones, attribute values).
//! - [`timestamp`]: the one instant type, stored as UTC on both databases.
//! - [`segment`]: the segment rule language: parse, type-check, compile to SQL, interpret, explain.
//! - [`store`]: every query, on SQLite (the default) and PostgreSQL, behind one API; migrations.
//! - [`import`]: streaming CSV import of customers and events, with per-row error reports.
//! - [`template`]: Tera templates, the per-recipient context and filters; [`token`] signs links;
//!   [`message`] turns a rendered template into the exact email (tracking, headers, MIME).
//! - [`clock`]: the injectable clock every decision about *when* asks.
//! - [`schedule`]: when campaigns fire and when each recipient's message is due (time zones, quiet hours).
//! - [`campaign`]: running a campaign: plan a run from its segment, deliver it with send-time checks.
//! - [`send`]: SMTP connections to the relay and what each failure means for a delivery.
//! - [`daemon`]: `rapport daemon`: fires schedules and triggers, delivers every unfinished run.
//! - [`server`]: the tracking and unsubscribe HTTP server (open pixel, clicks, one-click unsubscribe).
//! - [`demo`]: the synthetic shop of `rapport demo`.
//! - [`cli`]: one file per subcommand; `main.rs` only calls [`cli::main`].

pub mod campaign;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diagnostic;
pub mod domain;
pub mod import;
pub mod message;
pub mod schedule;
pub mod segment;
pub mod send;
pub mod server;
pub mod store;
pub mod template;
pub mod timestamp;
pub mod token;
pub mod wording;
pub mod workspace;
