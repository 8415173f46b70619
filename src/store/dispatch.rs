//! The two macros that compile one query body for each database driver.

/// Runs `$body` with `$pool` bound to the store's concrete pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::db::Db::Sqlite($pool) => $body,
            $crate::store::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's concrete connection; reborrow it as
/// `&mut *$conn` for each query.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite($conn, _) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *$conn;
                $body
            }
            $crate::store::Tx::Postgres($conn) => {
                let $conn: &mut sqlx::PgConnection = &mut *$conn;
                $body
            }
        }
    };
}

/// `$first, $first+1, …` for `count` bound values, as in `WHERE id IN (…)`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
