//! The recordings index and the export/playback audit log (migration 0003). A
//! [`RecordingIndex`] is a plain pool on the node's database: the node gets one from
//! [`Storage::recordings`], the CLI opens its own on the data directory (no CDR writer, no
//! journal replay), which SQLite's WAL mode lets run beside a live node.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::Row;

use super::{Backend, Storage, StorageError};

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingRow {
    pub call_id: String,
    /// The recording file (`recordings/YYYY/MM/DD/<call-id>.nrec`), relative to the data directory.
    pub path: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub participants: Vec<serde_json::Value>,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub size_bytes: i64,
    pub segments: i64,
    pub chain_head: Option<String>,
    pub manifest_sha256: Option<String>,
    /// recording / complete / incomplete / damaged
    pub state: String,
    pub reason: Option<String>,
    pub dropped_packets: i64,
    pub gaps: Vec<serde_json::Value>,
}

impl RecordingRow {
    /// The row of a recording that has just started: state `recording`, nothing measured yet.
    pub fn started(call_id: &str, path: String, started_at: i64) -> RecordingRow {
        RecordingRow {
            call_id: call_id.to_owned(),
            path,
            started_at,
            ended_at: None,
            duration_ms: None,
            participants: Vec::new(),
            agent: None,
            queue: None,
            tags: BTreeMap::new(),
            size_bytes: 0,
            segments: 0,
            chain_head: None,
            manifest_sha256: None,
            state: "recording".into(),
            reason: None,
            dropped_packets: 0,
            gaps: Vec::new(),
        }
    }
}

/// Search criteria of `ncgw recordings list` and `GET /api/v1/recordings`.
#[derive(Debug, Clone, Default)]
pub struct RecordingFilter {
    pub agent: Option<String>,
    pub queue: Option<String>,
    /// Started at or after (unix ms).
    pub since: Option<i64>,
    pub tags: Vec<(String, String)>,
    pub state: Option<String>,
    pub limit: u32,
}

/// Binds every column of `row` as `$1..$17`, in the order of `COLUMNS`.
fn bind_row<'q>(q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>, row: &'q RecordingRow) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(&row.call_id)
        .bind(&row.path)
        .bind(row.started_at)
        .bind(row.ended_at)
        .bind(row.duration_ms)
        .bind(json(&row.participants))
        .bind(&row.agent)
        .bind(&row.queue)
        .bind(json(&row.tags))
        .bind(row.size_bytes)
        .bind(row.segments)
        .bind(&row.chain_head)
        .bind(&row.manifest_sha256)
        .bind(&row.state)
        .bind(&row.reason)
        .bind(row.dropped_packets)
        .bind(json(&row.gaps))
}

const COLUMNS: &str = "call_id, path, started_at, ended_at, duration_ms, participants_json, agent, queue, tags_json, \
    size_bytes, segments, chain_head, manifest_sha256, state, reason, dropped_packets, gaps_json";

#[derive(Clone)]
pub struct RecordingIndex {
    pool: SqlitePool,
}

impl Storage {
    /// The recordings index on this storage's database.
    pub fn recordings(&self) -> RecordingIndex {
        match &self.backend {
            Backend::Sqlite(b) => RecordingIndex { pool: b.pool().clone() },
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl RecordingIndex {
    /// Opens the database of `data_dir` (creating and migrating it when needed).
    pub async fn open(data_dir: &Path) -> Result<RecordingIndex, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StorageError::io(data_dir, e))?;
        let b = super::sqlite::SqliteBackend::open(&data_dir.join(super::DB_FILE), Duration::from_secs(5)).await?;
        Ok(RecordingIndex { pool: b.pool().clone() })
    }

    /// A row for a recording that has just started (state `recording`).
    pub async fn insert(&self, row: &RecordingRow) -> Result<(), StorageError> {
        let sql = format!("INSERT INTO recordings ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) ON CONFLICT(call_id) DO NOTHING");
        bind_row(sqlx::query(&sql), row).execute(&self.pool).await.map_err(StorageError::from_sqlx)?;
        Ok(())
    }

    /// Replaces a row with its final values (the recording closed); the path and start stay.
    pub async fn update(&self, row: &RecordingRow) -> Result<(), StorageError> {
        let sql = "UPDATE recordings SET ended_at=$4, duration_ms=$5, participants_json=$6, agent=$7, queue=$8, tags_json=$9, \
             size_bytes=$10, segments=$11, chain_head=$12, manifest_sha256=$13, state=$14, reason=$15, dropped_packets=$16, \
             gaps_json=$17 WHERE call_id=$1";
        bind_row(sqlx::query(sql), row).execute(&self.pool).await.map_err(StorageError::from_sqlx)?;
        Ok(())
    }

    /// Merges business tags into a recording's row; `false` when the call has no recording.
    pub async fn add_tags(&self, call_id: &str, tags: &BTreeMap<String, String>) -> Result<bool, StorageError> {
        let Some(mut row) = self.get(call_id).await? else { return Ok(false) };
        row.tags.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        sqlx::query("UPDATE recordings SET tags_json=$2 WHERE call_id=$1")
            .bind(call_id)
            .bind(json(&row.tags))
            .execute(&self.pool)
            .await
            .map_err(StorageError::from_sqlx)?;
        Ok(true)
    }

    pub async fn get(&self, call_id: &str) -> Result<Option<RecordingRow>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM recordings WHERE call_id = $1");
        let row = sqlx::query(&sql).bind(call_id).fetch_optional(&self.pool).await.map_err(StorageError::from_sqlx)?;
        row.as_ref().map(from_row).transpose()
    }

    /// Recordings matching `f`, newest first.
    pub async fn list(&self, f: &RecordingFilter) -> Result<Vec<RecordingRow>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recordings WHERE ($1 IS NULL OR agent = $1) AND ($2 IS NULL OR queue = $2) \
             AND ($3 IS NULL OR started_at >= $3) AND ($4 IS NULL OR state = $4) ORDER BY started_at DESC, call_id"
        );
        let rows = sqlx::query(&sql)
            .bind(&f.agent)
            .bind(&f.queue)
            .bind(f.since)
            .bind(&f.state)
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::from_sqlx)?;
        let mut out = Vec::new();
        for r in &rows {
            let row = from_row(r)?;
            if f.tags.iter().all(|(k, v)| row.tags.get(k) == Some(v)) {
                out.push(row);
            }
            if f.limit > 0 && out.len() >= f.limit as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Writes who exported or played a recording.
    pub async fn audit(&self, at: i64, call_id: &str, action: &str, operator: &str, detail: Option<&str>) -> Result<(), StorageError> {
        sqlx::query("INSERT INTO recording_audit (at, call_id, action, operator, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(at)
            .bind(call_id)
            .bind(action)
            .bind(operator)
            .bind(detail)
            .execute(&self.pool)
            .await
            .map_err(StorageError::from_sqlx)?;
        Ok(())
    }

    /// The audit log of one recording, oldest first: (at, action, operator, detail).
    pub async fn audit_log(&self, call_id: &str) -> Result<Vec<(i64, String, String, Option<String>)>, StorageError> {
        let rows = sqlx::query("SELECT at, action, operator, detail FROM recording_audit WHERE call_id = $1 ORDER BY id")
            .bind(call_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StorageError::from_sqlx)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }
}

fn from_row(r: &SqliteRow) -> Result<RecordingRow, StorageError> {
    let call_id: String = r.get(0);
    let bad = |column: &'static str| StorageError::CorruptRow { id: call_id.clone(), column };
    let participants: Vec<serde_json::Value> = serde_json::from_str(r.get(5)).map_err(|_| bad("participants_json"))?;
    let tags: BTreeMap<String, String> = serde_json::from_str(r.get(8)).map_err(|_| bad("tags_json"))?;
    let gaps: Vec<serde_json::Value> = serde_json::from_str(r.get(16)).map_err(|_| bad("gaps_json"))?;
    Ok(RecordingRow {
        call_id: call_id.clone(),
        path: r.get(1),
        started_at: r.get(2),
        ended_at: r.get(3),
        duration_ms: r.get(4),
        participants,
        agent: r.get(6),
        queue: r.get(7),
        tags,
        size_bytes: r.get(9),
        segments: r.get(10),
        chain_head: r.get(11),
        manifest_sha256: r.get(12),
        state: r.get(13),
        reason: r.get(14),
        dropped_packets: r.get(15),
        gaps,
    })
}
