//! Opening a store from its URL, migrating it, and starting transactions.
//!
//! SQLite runs in WAL mode with `synchronous = FULL` (a committed delivery or opt-out survives a power
//! loss), a busy timeout, and foreign keys on; its write transactions begin `IMMEDIATE` so that a
//! transaction that reads before it writes never fails with SQLITE_BUSY halfway.

use crate::config::DatabaseUrl;
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which SQL dialect a store speaks, for the few queries that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Whether a store may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// A connection pool to the workspace database.
pub struct Store {
    pub(crate) db: Db,
    url: String,
    /// SQLite has one writer: write transactions of this store queue here, in order, instead of
    /// meeting SQLITE_BUSY and the busy handler's sleeps (other processes and stores still rely on
    /// those).
    writer: Arc<Mutex<()>>,
    /// SQLite: the store's own connection for the writes on the sending path (see
    /// [`Store::write_own`]), opened by the first of them.
    own: Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
    access: Access,
}

/// A transaction the caller owns: pass `&mut tx` to store functions, then [`Tx::commit`].
/// Dropping it without committing rolls everything back.
pub enum Tx {
    /// With this process's writer turn, for write transactions.
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        Option<OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Store {
    /// Connects to `url` (a relative SQLite path is taken from `workspace`), creating the SQLite file if
    /// needed, and applies pending migrations.
    pub async fn open(url: &DatabaseUrl, workspace: &Path) -> anyhow::Result<Store> {
        let store = Store::connect(url, workspace).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &DatabaseUrl, workspace: &Path) -> anyhow::Result<Store> {
        Store::connect_as(url, workspace, Access::ReadWrite).await
    }

    /// Connects for reading only, without migrating: SQLite opens the file read-only (never creating
    /// it) and PostgreSQL sessions default to read-only transactions. For dry runs such as `preview`.
    pub async fn open_read_only(url: &DatabaseUrl, workspace: &Path) -> anyhow::Result<Store> {
        Store::connect_as(url, workspace, Access::ReadOnly).await
    }

    async fn connect_as(
        url: &DatabaseUrl,
        workspace: &Path,
        access: Access,
    ) -> anyhow::Result<Store> {
        let printable = url.to_string();
        let read_only = access == Access::ReadOnly;
        let db = if url.is_postgres() {
            let mut options = PgConnectOptions::from_str(url.expose())
                .with_context(|| format!("invalid PostgreSQL URL {printable}"))?;
            if read_only {
                options = options.options([("default_transaction_read_only", "on")]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(if read_only { 2 } else { 32 })
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await;
            let cannot = || format!("cannot connect to PostgreSQL at {printable}");
            let pool = match pool {
                Ok(pool) => pool,
                Err(sqlx::Error::PoolTimedOut) => {
                    return Err(why_unreachable(&options).await.context(cannot()));
                }
                Err(e) => return Err(anyhow::Error::new(e).context(cannot())),
            };
            Db::Postgres(pool)
        } else {
            let path = sqlite_path(url.expose(), workspace)?;
            super::wal_writes::register()?;
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .busy_timeout(Duration::from_secs(10));
            let options = if read_only {
                options.read_only(true)
            } else {
                options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .pragma("cache_size", "-8192")
            };
            // A connection to a local file does not go stale: no ping (a trip to the connection's
            // thread) before each use.
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(if read_only { 2 } else { 4 })
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
            Db::Sqlite(pool)
        };
        tracing::debug!(database = %printable, ?access, "connected");
        Ok(Store {
            db,
            url: printable,
            writer: Arc::default(),
            own: Arc::default(),
            access,
        })
    }

    /// Applies the migrations this binary knows and the database has not seen; returns how many ran.
    pub async fn migrate(&self) -> anyhow::Result<usize> {
        let before = self.applied_migrations().await.unwrap_or(0);
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .with_context(|| format!("cannot migrate the database at {}", self.url))?;
        let applied = self.applied_migrations().await?.saturating_sub(before);
        if applied > 0 {
            tracing::info!(database = %self.url, applied, "applied database migrations");
        }
        Ok(applied)
    }

    async fn applied_migrations(&self) -> anyhow::Result<usize> {
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        Ok(n as usize)
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        Ok(match &self.db {
            Db::Sqlite(pool) => {
                let turn = self.writer.clone().lock_owned().await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, Some(turn))
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// SQLite only: runs `work` in one immediate transaction on the store's own connection, in the
    /// store's writer turn, on a blocking thread, and commits it. For the writes that every message
    /// waits for (claiming deliveries, recording what was sent): sqlx runs each statement, and
    /// returns each row, as a trip to its connection's thread and back, a wake-up each, while this
    /// is one hand-over each way; and since SQLite empties a connection's page cache whenever
    /// another connection has written, the one connection that makes these writes finds the pages
    /// it needs still cached. Statements are prepared once per connection (`prepare_cached`).
    ///
    /// The blocking thread holds the writer turn until it commits or rolls back, even if the caller
    /// stops waiting (a shutdown that ran out of time): the transaction is never left half-done.
    /// The turn is not reentrant: a task that holds a write [`Tx`] must not call this.
    pub(crate) async fn write_own<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let Db::Sqlite(pool) = &self.db else {
            anyhow::bail!("only a SQLite store has a connection of its own")
        };
        anyhow::ensure!(
            self.access == Access::ReadWrite,
            "this store was opened read-only"
        );
        let path = pool.connect_options().get_filename().to_path_buf();
        let own = self.own.clone();
        let turn = self.writer.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || -> anyhow::Result<T> {
            let _turn = turn;
            // A panic in an earlier `work` left nothing open: its transaction rolled back as it
            // unwound.
            let mut own = own
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if own.is_none() {
                *own = Some(open_own(&path)?);
            }
            let conn = own.as_mut().expect("opened above");
            let done = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .and_then(|tx| {
                    let done = work(&tx)?;
                    tx.commit()?;
                    Ok(done)
                });
            if done.is_err() && !conn.is_autocommit() {
                // A commit that failed and a rollback that failed too: start afresh next time.
                *own = None;
            }
            Ok(done?)
        })
        .await
        .context("the SQLite writing thread")?
    }

    /// Starts a transaction that only reads (a plain deferred `BEGIN` on SQLite, which also works on a
    /// store opened read-only).
    pub async fn begin_read(&self) -> anyhow::Result<Tx> {
        Ok(match &self.db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?, None),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Writes a consistent copy of a SQLite database to `target` (`VACUUM INTO`, safe while other
    /// connections read and write).
    pub async fn backup_sqlite(&self, target: &Path) -> anyhow::Result<()> {
        let Db::Sqlite(pool) = &self.db else {
            anyhow::bail!("only a SQLite database can be backed up this way")
        };
        let path = target
            .to_str()
            .context("the backup path is not valid UTF-8")?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(pool)
            .await
            .with_context(|| format!("cannot write {path}"))?;
        Ok(())
    }

    /// The database URL with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits for open connections to finish and closes them (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => {
                // The own connection last wrote in the writer turn: once we hold it, it is idle.
                let _turn = self.writer.lock().await;
                let own = self
                    .own
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                drop(own);
                pool.close().await
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(tx, _turn) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(tx, _turn) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// `sqlite://rapport.db` → `WORKSPACE/rapport.db`; `sqlite:///var/lib/rapport.db` stays absolute.
fn sqlite_path(url: &str, workspace: &Path) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    anyhow::ensure!(
        !rest.is_empty(),
        "the SQLite URL {url:?} names no file: write sqlite://rapport.db"
    );
    let path = PathBuf::from(rest);
    Ok(if path.is_absolute() {
        path
    } else {
        workspace.join(path)
    })
}

/// Why PostgreSQL cannot be reached, after the pool gave up: it retries until its timeout and then
/// says only "pool timed out", where one plain connection says "connection refused", or that the
/// password or the database is wrong.
async fn why_unreachable(options: &PgConnectOptions) -> anyhow::Error {
    use sqlx::Connection as _;
    match tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect_with(options),
    )
    .await
    {
        Ok(Err(e)) => anyhow::Error::new(e),
        Err(_) => anyhow::anyhow!(
            "no answer within 5 seconds\n  = hint: is the server running, and reachable from this machine (host, port, firewall)?"
        ),
        Ok(Ok(_connected)) => {
            anyhow::anyhow!("no connection came free within 5 seconds (the server is busy)")
        }
    }
}

/// The store's own connection to the pool's database file, set up as the pool's are (see
/// `Store::connect_as`: the journal is already WAL; every commit is synced to disk), but with a
/// page cache of 2 MB rather than 8: what it writes moves on through the tables and is not read
/// again, and the larger cache only added to the peak RSS (78 MB against 70 MB for `cargo bench
/// --bench send`, at the same rate and the same instructions per message).
fn open_own(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    // Never creates the file: the pool opened it first, and a file moved away meanwhile stays so.
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -2048;",
    )?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_relative_to_the_workspace() {
        let ws = Path::new("/shop");
        assert_eq!(
            sqlite_path("sqlite://rapport.db", ws).unwrap(),
            PathBuf::from("/shop/rapport.db")
        );
        assert_eq!(
            sqlite_path("sqlite:data/r.db", ws).unwrap(),
            PathBuf::from("/shop/data/r.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/r.db", ws).unwrap(),
            PathBuf::from("/var/lib/r.db")
        );
        assert!(sqlite_path("sqlite://", ws).is_err());
    }
}
