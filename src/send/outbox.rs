//! The outbox transport: each message becomes `outbox/delivery-ID.eml`, written to a temporary file,
//! synced and renamed into place, so a crash never leaves half a message and a resend of the same
//! delivery replaces its file instead of adding a duplicate.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `message` for `delivery_id` into `dir` (created if needed); returns the file's path.
pub fn write_message(dir: &Path, delivery_id: i64, message: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
    let path = dir.join(format!("delivery-{delivery_id}.eml"));
    let temporary = dir.join(format!(".delivery-{delivery_id}.eml.partial"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(message)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
        .with_context(|| format!("cannot write {} (is the disk full?)", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_replaces_the_file_and_leaves_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        write_message(dir.path(), 7, b"first").unwrap();
        let path = write_message(dir.path(), 7, b"second").unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["delivery-7.eml"]);
        assert_eq!(std::fs::read(path).unwrap(), b"second");
    }
}
