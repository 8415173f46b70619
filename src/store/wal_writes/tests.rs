//! Each test writes through the `rapport` VFS and reads through SQLite's own, as another process
//! would: what a reader can see must be in the files.

use super::register;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// A connection through the `rapport` VFS, to a database in WAL mode.
fn writer(path: &Path, synchronous: &str) -> Connection {
    writer_after(path, "", synchronous)
}

/// [`writer`], running `first` before it switches to WAL mode.
fn writer_after(path: &Path, first: &str, synchronous: &str) -> Connection {
    register().unwrap();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags_and_vfs(path, flags, "rapport").unwrap();
    conn.execute_batch(&format!(
        "{first} PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
    ))
    .unwrap();
    conn
}

/// Another reader, as another process would be: SQLite's own VFS, reading the files as they are.
fn plain_reader(path: &Path) -> Connection {
    Connection::open_with_flags_and_vfs(path, OpenFlags::SQLITE_OPEN_READ_ONLY, "unix").unwrap()
}

fn insert(conn: &Connection, tag: &str, rows: usize) {
    for i in 0..rows {
        conn.execute(
            "INSERT INTO t (body) VALUES (?1)",
            [format!("{tag}-{i}-").repeat(100)],
        )
        .unwrap();
    }
}

fn count(reader: &Connection) -> i64 {
    reader
        .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
        .unwrap()
}

fn integrity(reader: &Connection) -> String {
    reader
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn every_commit_is_whole_on_disk_once_readers_can_see_it() {
    // FULL syncs each commit (the store's setting); NORMAL and OFF do not, so only the commit's own
    // last frame, or its publication, tells that the gathered bytes must go out.
    for synchronous in ["FULL", "NORMAL", "OFF"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let writer = writer(&path, synchronous);
        writer
            .execute_batch("CREATE INDEX t_body ON t (body)")
            .unwrap();
        let reader = plain_reader(&path);
        let mut rows = 0;
        // Commits of a few pages, like the ledger's, then one larger than MOST_GATHERED.
        for (round, per_commit) in (0..40).map(|r| (r, 6)).chain([(40, 400)]) {
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            insert(&writer, &round.to_string(), per_commit);
            writer.execute_batch("COMMIT").unwrap();
            rows += per_commit as i64;
            assert_eq!(count(&reader), rows, "{synchronous}, commit {round}");
        }
        assert_eq!(integrity(&reader), "ok", "{synchronous}");
    }
}

/// A transaction larger than its connection's cache writes frames to the log before it ends; if it
/// then rolls back, SQLite leaves them there, to be overwritten. Gathered and written late, they
/// would land over what another connection committed meanwhile.
#[test]
fn a_rolled_back_transaction_never_lands_over_later_commits() {
    rollback_then_commit_elsewhere("NORMAL");
}

/// In exclusive locking mode SQLite releases no log-index lock: a transaction ends with the
/// database file's unlock, and what it left gathered must not land after it.
#[test]
fn a_rollback_in_exclusive_locking_mode_never_lands_over_later_commits() {
    rollback_then_commit_elsewhere("EXCLUSIVE");
}

/// Connection A spills 400 rows in a transaction under `locking_mode`, returns to normal locking
/// and rolls back; B commits 1000 rows; A reads. The files then hold B's rows, whole.
fn rollback_then_commit_elsewhere(locking_mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollback.db");
    let a = writer(&path, "FULL");
    insert(&a, "first", 5);
    a.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let set_locking_mode = |mode: &str| {
        a.query_row(&format!("PRAGMA locking_mode = {mode}"), [], |_| Ok(()))
            .unwrap()
    };
    set_locking_mode(locking_mode);
    a.execute_batch("PRAGMA cache_size = 5; BEGIN IMMEDIATE")
        .unwrap();
    insert(&a, "rolled-back", 400);
    set_locking_mode("NORMAL");
    a.execute_batch("ROLLBACK").unwrap();
    let b = writer(&path, "FULL");
    b.execute_batch("BEGIN IMMEDIATE").unwrap();
    insert(&b, "second", 1000);
    b.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&a), 1005);
    drop(a);

    let reader = plain_reader(&path);
    assert_eq!(integrity(&reader), "ok", "{locking_mode}");
    assert_eq!(count(&reader), 1005, "{locking_mode}");
}

/// Without power-safe overwrites, SQLite pads the last frames of a commit to a sector boundary and
/// splits their writes around a sync.
#[test]
fn commits_padded_to_a_sector_boundary_are_whole_when_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("padded.db");
    let writer = writer(
        Path::new(&format!("file:{}?psow=0", path.display())),
        "FULL",
    );
    let reader = plain_reader(&path);
    for round in 0..30 {
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert(&writer, &round.to_string(), 3);
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(integrity(&reader), "ok", "commit {round}");
        assert_eq!(count(&reader), 3 * (round + 1), "commit {round}");
    }
}

/// A transaction that spilled pages, then changed them again, has SQLite rewrite the checksums of
/// its frames at commit, each frame header on its own. Under `synchronous = NORMAL` no sync follows:
/// the files as the commit left them (what a `kill -9` would leave) must hold it.
#[test]
fn a_commit_is_in_the_files_when_the_process_dies_right_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let writer = writer(&path, "NORMAL");
    commit_with_rewritten_checksums(&writer);

    let (_copy, reader) = as_a_kill_leaves_it(&path);
    assert_eq!(count(&reader), 65);
}

/// 5 rows, then 60 more in a transaction that spills pages to the log and changes them again.
fn commit_with_rewritten_checksums(writer: &Connection) {
    insert(writer, "first", 5);
    writer
        .execute_batch("PRAGMA cache_size = 5; BEGIN IMMEDIATE")
        .unwrap();
    insert(writer, "spilled", 60);
    writer
        .execute("UPDATE t SET body = body || 'x'", [])
        .unwrap();
    writer.execute_batch("COMMIT").unwrap();
}

/// The database and its log copied as they are (what a `kill -9` now would leave), and a reader of
/// the copy.
fn as_a_kill_leaves_it(path: &Path) -> (tempfile::TempDir, Connection) {
    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(
            format!("{}{suffix}", path.display()),
            copy.path().join(format!("copy.db{suffix}")),
        )
        .unwrap();
    }
    let reader = plain_reader(&copy.path().join("copy.db"));
    (copy, reader)
}

/// Exclusive locking mode chosen before WAL keeps the log index on the heap: SQLite then makes no
/// log-index call at all, and no commit may wait for one.
#[test]
fn a_commit_with_the_log_index_on_the_heap_is_in_the_files_right_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heap.db");
    let exclusive = "PRAGMA locking_mode = EXCLUSIVE;";
    let writer = writer_after(&path, exclusive, "NORMAL");
    commit_with_rewritten_checksums(&writer);

    let (_copy, reader) = as_a_kill_leaves_it(&path);
    assert_eq!(count(&reader), 65);
}
