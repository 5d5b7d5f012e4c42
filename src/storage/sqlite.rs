//! The SQLite backend: connection pool, embedded migrations, CDR and user queries.
use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::Row;

use super::{CdrRecord, EndedBy, Outcome, StorageError, UserCredentials, UserInfo};

/// The schema, compiled in. The version and description follow the file name, as
/// `sqlx::migrate!` would derive them, so the `_sqlx_migrations` table is the same either way.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "cdr and users", include_str!("migrations/0001_cdr_and_users.sql")),
    (2, "acd", include_str!("migrations/0002_acd.sql")),
    (3, "recordings", include_str!("migrations/0003_recordings.sql")),
];

/// Serves [`MIGRATIONS`] to sqlx's migrator without the proc-macro crate (see the commit that
/// added this module: `sqlx::migrate!` needs the `macros` feature and a second build of
/// sqlx-sqlite for the host).
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 'static>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
                })
                .collect())
        })
    }
}

const CDR_COLUMNS: &str = "id, call_id_in, call_id_out, caller, callee, source, dialplan_rule, queue, agent, \
    wait_ms, outcome, started_at, ringing_at, answered_at, ended_at, setup_ms, talk_ms, cause, ended_by, \
    sip_code_in, sip_code_out, media_json, tags_json, queue_outcome";

#[derive(Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
    /// The database file; checked before each CDR write (see `insert_cdrs`).
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens or creates the database file and brings the schema up to date.
    pub async fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteBackend, StorageError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(StorageError::from_sqlx)?;
        let migrator = Migrator::new(Embedded).await.map_err(StorageError::Migration)?;
        migrator.run(&pool).await.map_err(StorageError::Migration)?;
        Ok(SqliteBackend { pool, path: path.to_owned() })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Inserts records in one transaction; an id already present is left as it is.
    ///
    /// Refuses when the database file has been deleted under us: SQLite would go on writing to
    /// the unlinked inode and the rows would vanish at the next open, after the journal had
    /// let go of them. They stay journalled instead and are replayed when the node reopens.
    pub async fn insert_cdrs(&self, records: &[CdrRecord]) -> Result<(), StorageError> {
        if !self.path.exists() {
            let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "the database file was deleted");
            return Err(StorageError::Unavailable(sqlx::Error::Io(gone)));
        }
        let sql = format!(
            "INSERT INTO cdr ({CDR_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) \
             ON CONFLICT(id) DO NOTHING"
        );
        let mut tx = self.pool.begin().await.map_err(StorageError::from_sqlx)?;
        for r in records {
            let media = serde_json::to_string(&r.media).unwrap_or_else(|_| "[]".to_owned());
            let tags = serde_json::to_string(&r.tags).unwrap_or_else(|_| "{}".to_owned());
            sqlx::query(&sql)
                .bind(&r.id)
                .bind(&r.call_id_in)
                .bind(&r.call_id_out)
                .bind(&r.caller)
                .bind(&r.callee)
                .bind(&r.source)
                .bind(&r.dialplan_rule)
                .bind(&r.queue)
                .bind(&r.agent)
                .bind(r.wait_ms)
                .bind(r.outcome.as_str())
                .bind(r.started_at)
                .bind(r.ringing_at)
                .bind(r.answered_at)
                .bind(r.ended_at)
                .bind(r.setup_ms)
                .bind(r.talk_ms)
                .bind(&r.cause)
                .bind(r.ended_by.as_str())
                .bind(r.sip_code_in.map(i64::from))
                .bind(r.sip_code_out.map(i64::from))
                .bind(media)
                .bind(tags)
                .bind(&r.queue_outcome)
                .execute(&mut *tx)
                .await
                .map_err(StorageError::from_sqlx)?;
        }
        tx.commit().await.map_err(StorageError::from_sqlx)
    }

    pub async fn get_cdr(&self, id: &str) -> Result<Option<CdrRecord>, StorageError> {
        let sql = format!("SELECT {CDR_COLUMNS} FROM cdr WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(StorageError::from_sqlx)?;
        row.map(|row| cdr_from_row(&row)).transpose()
    }

    pub async fn list_cdrs(&self, since: Option<i64>, limit: u32) -> Result<Vec<CdrRecord>, StorageError> {
        // Two statements rather than `$1 IS NULL OR …`, which PostgreSQL cannot type.
        let rows = match since {
            Some(since) => {
                let sql = format!("SELECT {CDR_COLUMNS} FROM cdr WHERE started_at >= $1 ORDER BY started_at DESC, id DESC LIMIT $2");
                sqlx::query(&sql).bind(since).bind(i64::from(limit)).fetch_all(&self.pool).await
            }
            None => {
                let sql = format!("SELECT {CDR_COLUMNS} FROM cdr ORDER BY started_at DESC, id DESC LIMIT $1");
                sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.pool).await
            }
        }
        .map_err(StorageError::from_sqlx)?;
        rows.iter().map(cdr_from_row).collect()
    }

    pub async fn add_user(&self, creds: &UserCredentials, display: Option<&str>, created_at: i64) -> Result<(), StorageError> {
        let result = sqlx::query(
            "INSERT INTO users (id, display, realm, ha1_md5, ha1_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT(id) DO NOTHING",
        )
        .bind(&creds.id)
        .bind(display)
        .bind(&creds.realm)
        .bind(&creds.ha1_md5)
        .bind(&creds.ha1_sha256)
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(StorageError::from_sqlx)?;
        if result.rows_affected() == 0 {
            return Err(StorageError::UserExists { id: creds.id.clone() });
        }
        Ok(())
    }

    pub async fn remove_user(&self, id: &str) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&self.pool).await.map_err(StorageError::from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>, StorageError> {
        let rows = sqlx::query("SELECT id, display, realm, created_at FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                Ok(UserInfo {
                    id: row.try_get("id").map_err(StorageError::from_sqlx)?,
                    display: row.try_get("display").map_err(StorageError::from_sqlx)?,
                    realm: row.try_get("realm").map_err(StorageError::from_sqlx)?,
                    created_at: row.try_get("created_at").map_err(StorageError::from_sqlx)?,
                })
            })
            .collect()
    }

    /// One user's credentials (`Some(id)`) or everyone's (`None`).
    pub async fn get_credentials(&self, id: Option<&str>) -> Result<Vec<UserCredentials>, StorageError> {
        let rows = match id {
            Some(id) => {
                sqlx::query("SELECT id, realm, ha1_md5, ha1_sha256 FROM users WHERE id = $1").bind(id).fetch_all(&self.pool).await
            }
            None => sqlx::query("SELECT id, realm, ha1_md5, ha1_sha256 FROM users ORDER BY id").fetch_all(&self.pool).await,
        }
        .map_err(StorageError::from_sqlx)?;
        rows.iter()
            .map(|row| {
                Ok(UserCredentials {
                    id: row.try_get("id").map_err(StorageError::from_sqlx)?,
                    realm: row.try_get("realm").map_err(StorageError::from_sqlx)?,
                    ha1_md5: row.try_get("ha1_md5").map_err(StorageError::from_sqlx)?,
                    ha1_sha256: row.try_get("ha1_sha256").map_err(StorageError::from_sqlx)?,
                })
            })
            .collect()
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn cdr_from_row(row: &SqliteRow) -> Result<CdrRecord, StorageError> {
    let id: String = row.try_get("id").map_err(StorageError::from_sqlx)?;
    let corrupt = |column: &'static str| StorageError::CorruptRow { id: id.clone(), column };
    let get_str = |column: &'static str| row.try_get::<String, _>(column).map_err(|_| corrupt(column));
    let get_opt_str = |column: &'static str| row.try_get::<Option<String>, _>(column).map_err(|_| corrupt(column));
    let get_i64 = |column: &'static str| row.try_get::<i64, _>(column).map_err(|_| corrupt(column));
    let get_opt_i64 = |column: &'static str| row.try_get::<Option<i64>, _>(column).map_err(|_| corrupt(column));
    let get_code = |column: &'static str| -> Result<Option<u16>, StorageError> {
        get_opt_i64(column)?.map(|c| u16::try_from(c).map_err(|_| corrupt(column))).transpose()
    };
    Ok(CdrRecord {
        call_id_in: get_opt_str("call_id_in")?,
        call_id_out: get_opt_str("call_id_out")?,
        caller: get_str("caller")?,
        callee: get_str("callee")?,
        source: get_str("source")?,
        dialplan_rule: get_opt_str("dialplan_rule")?,
        queue: get_opt_str("queue")?,
        agent: get_opt_str("agent")?,
        wait_ms: get_opt_i64("wait_ms")?,
        outcome: Outcome::parse(&get_str("outcome")?).ok_or_else(|| corrupt("outcome"))?,
        started_at: get_i64("started_at")?,
        ringing_at: get_opt_i64("ringing_at")?,
        answered_at: get_opt_i64("answered_at")?,
        ended_at: get_opt_i64("ended_at")?,
        setup_ms: get_opt_i64("setup_ms")?,
        talk_ms: get_opt_i64("talk_ms")?,
        cause: get_str("cause")?,
        ended_by: EndedBy::parse(&get_str("ended_by")?).ok_or_else(|| corrupt("ended_by"))?,
        sip_code_in: get_code("sip_code_in")?,
        sip_code_out: get_code("sip_code_out")?,
        media: serde_json::from_str(&get_str("media_json")?).map_err(|_| corrupt("media_json"))?,
        tags: serde_json::from_str(&get_str("tags_json")?).map_err(|_| corrupt("tags_json"))?,
        queue_outcome: get_opt_str("queue_outcome")?,
        id: id.clone(),
    })
}
