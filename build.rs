//! `sqlx::migrate!` embeds the files of `migrations/` when the crate compiles, but cargo does not
//! know it reads them: without this, a migration added or edited after a build is left out of the
//! next incremental one, and the binary would run against a schema it does not have.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
