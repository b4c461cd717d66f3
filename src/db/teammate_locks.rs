//! `teammate_locks`: a lease per teammate name, so only one multi-step
//! operation works on a teammate at a time (see the migration for why).

use sqlx::SqlitePool;

use crate::clock::Timestamp;

/// Takes the lease on `name` for `operation` until `until`. Returns `None`
/// when taken, or the operation that holds it now.
pub async fn take(
    pool: &SqlitePool,
    name: &str,
    operation: &str,
    now: Timestamp,
    until: Timestamp,
) -> sqlx::Result<Option<(String, Timestamp)>> {
    let mut tx = crate::db::begin_immediate(pool).await?;
    sqlx::query("DELETE FROM teammate_locks WHERE name = ? AND until_at <= ?")
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let taken = sqlx::query(
        "INSERT INTO teammate_locks (name, operation, taken_at, until_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(operation)
    .bind(now)
    .bind(until)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let holder = if taken {
        None
    } else {
        sqlx::query_as::<_, (String, Timestamp)>("SELECT operation, until_at FROM teammate_locks WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
    };
    tx.commit().await?;
    Ok(holder)
}

/// Gives the lease on `name` back.
pub async fn give_back(pool: &SqlitePool, name: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM teammate_locks WHERE name = ?").bind(name).execute(pool).await?;
    Ok(())
}
