//! [`SqliteRecords`]: the [`RecordStore`] on SQLite through sqlx, the source of truth. Every
//! memory is a row here first; the indexes are derived from these rows and can be rebuilt from
//! them at any time. Async on whatever tokio runtime awaits it (sqlx runs each connection on its
//! own thread, so a commit's fsync never holds the caller's worker).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use crate::records::{NewRow, RecordStore, ScoreRow};
use crate::scores::Scores;
use crate::{Error, Result};

const RECORD_COLUMNS: &str =
    "id, agent, kind, text, created, last_accessed, importance, embedding, evidence, expires, metadata";

/// The rows of a store in one SQLite file (WAL mode).
#[derive(Debug)]
pub struct SqliteRecords {
    pool: SqlitePool,
    /// One connection with `synchronous = NORMAL` for last-accessed updates: in WAL mode it
    /// does not fsync per commit, so a recall does not wait for the disk. A power cut may lose
    /// the newest access times, never a memory (inserts go through `pool`, fully synced).
    touch_pool: SqlitePool,
    /// The scoring columns in memory, and access times not yet written back.
    scores: Scores,
    path: PathBuf,
}

impl SqliteRecords {
    /// Opens (creating if missing) the database at `path` in WAL mode and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| db_err(path, "building connection options", e))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when `add` returns, so a crash right after loses nothing.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await
            .map_err(|e| {
                let corrupt = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "26" || c == "11");
                let what = if corrupt {
                    "opening: it is not an SQLite database, or a damaged one (move it aside to start a new store)"
                } else {
                    "opening (is the path writable?)"
                };
                db_err(path, what, e)
            })?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| Error::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let touch_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.synchronous(SqliteSynchronous::Normal))
            .await
            .map_err(|e| db_err(path, "opening a second connection", e))?;
        let scores = sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT id, importance, last_accessed FROM memories",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| db_err(path, "reading the scoring columns", e))?;
        let scores =
            Scores::load(
                scores
                    .into_iter()
                    .map(|(id, importance, last_accessed)| ScoreRow {
                        id,
                        importance: importance.clamp(1, 10) as u8,
                        last_accessed,
                    }),
            );
        Ok(SqliteRecords {
            pool,
            touch_pool,
            scores,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, context: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
        let context = context.to_string();
        move |e| db_err(&self.path, &context, e)
    }

    /// Writes a consistent copy of the whole database (committed rows, including access times
    /// written on the second connection) to `to`, which must not exist.
    pub async fn vacuum_into(&self, to: &Path) -> Result<()> {
        self.write_access_times().await?;
        let target = to.to_string_lossy().to_string();
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(self.err("writing a snapshot (VACUUM INTO)"))?;
        Ok(())
    }

    /// The `columns` of the rows of `ids`, in chunks that keep under SQLite's parameter limit.
    async fn rows_of(
        &self,
        columns: &str,
        ids: &[MemoryId],
        what: &str,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {columns} FROM memories WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(&self.pool).await.map_err(self.err(what))?);
        }
        Ok(out)
    }

    fn decode_record(&self, row: &sqlx::sqlite::SqliteRow) -> Result<MemoryRecord> {
        let id: i64 = row.try_get("id").map_err(self.err("decoding a row"))?;
        let bad = |reason: String| Error::Corrupt {
            path: self.path.clone(),
            id,
            reason,
        };
        let get_err = |e: sqlx::Error| bad(e.to_string());
        let kind: String = row.try_get("kind").map_err(get_err)?;
        let evidence: String = row.try_get("evidence").map_err(get_err)?;
        let metadata: String = row.try_get("metadata").map_err(get_err)?;
        let blob: Vec<u8> = row.try_get("embedding").map_err(get_err)?;
        let importance: i64 = row.try_get("importance").map_err(get_err)?;
        Ok(MemoryRecord {
            id,
            agent: row.try_get("agent").map_err(get_err)?,
            kind: MemoryKind::parse(&kind).map_err(bad)?,
            text: row.try_get("text").map_err(get_err)?,
            created: row.try_get("created").map_err(get_err)?,
            // Newer than the row's when a recall's access time is not written back yet.
            last_accessed: row
                .try_get::<i64, _>("last_accessed")
                .map_err(get_err)?
                .max(self.scores.last_accessed(id).unwrap_or(TimeMs::MIN)),
            importance: importance.clamp(1, 10) as u8,
            embedding: decode_vector(&blob)
                .ok_or_else(|| bad("embedding blob is not f32s".into()))?,
            evidence: serde_json::from_str(&evidence).map_err(|e| bad(format!("evidence: {e}")))?,
            expires: row.try_get("expires").map_err(get_err)?,
            metadata: serde_json::from_str(&metadata).map_err(|e| bad(format!("metadata: {e}")))?,
        })
    }
}

impl RecordStore for SqliteRecords {
    async fn insert(&self, rows: &[NewRow]) -> Result<Vec<MemoryId>> {
        let touched = self.scores.take_pending();
        let fut = async {
            let mut tx = self.pool.begin().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for r in rows {
                let evidence =
                    serde_json::to_string(&r.memory.evidence).unwrap_or_else(|_| "[]".into());
                let metadata =
                    serde_json::to_string(&r.memory.metadata).unwrap_or_else(|_| "{}".into());
                let res = sqlx::query(
                    "INSERT INTO memories (agent, kind, text, created, last_accessed, importance, \
                     embedding, evidence, expires, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&r.memory.agent)
                .bind(r.memory.kind.as_str())
                .bind(&r.memory.text)
                .bind(r.memory.created)
                .bind(r.memory.created)
                .bind(i64::from(r.importance))
                .bind(encode_vector(&r.embedding))
                .bind(evidence)
                .bind(r.memory.expires)
                .bind(metadata)
                .execute(&mut *tx)
                .await?;
                ids.push(res.last_insert_rowid());
            }
            // Queued access times ride along, fully synced.
            for (now, touched) in &touched {
                update_access(&mut tx, touched, *now).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        };
        let ids = match fut.await {
            Ok(ids) => ids,
            Err(e) => {
                self.scores.restore(touched);
                return Err(db_err(&self.path, "inserting memories", e));
            }
        };
        self.scores
            .inserted(ids.iter().zip(rows).map(|(&id, r)| ScoreRow {
                id,
                importance: r.importance,
                last_accessed: r.memory.created,
            }));
        Ok(ids)
    }

    async fn records(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        let rows = self
            .rows_of(RECORD_COLUMNS, ids, "reading memories")
            .await?;
        rows.iter().map(|r| self.decode_record(r)).collect()
    }

    async fn records_after(&self, after: MemoryId, limit: usize) -> Result<Vec<MemoryRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM memories WHERE id > ? ORDER BY id LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading memories to index"))?;
        rows.iter().map(|r| self.decode_record(r)).collect()
    }

    /// From memory (see [`Scores`]).
    async fn score_rows(&self, ids: &[MemoryId]) -> Result<Vec<ScoreRow>> {
        Ok(self.scores.get(ids))
    }

    /// In memory at once; written back in batches (see [`Scores`]), on the second connection
    /// (`synchronous = NORMAL`).
    async fn touch(&self, ids: &[MemoryId], now: TimeMs) -> Result<()> {
        self.scores.touch(ids, now);
        if self.scores.due() {
            self.write_access_times().await?;
        }
        Ok(())
    }

    /// Writes the access times that recalls queued (see [`Scores`]). On a failure they stay
    /// queued for the next write.
    async fn write_access_times(&self) -> Result<()> {
        let batches = self.scores.take_pending();
        if batches.is_empty() {
            return Ok(());
        }
        let fut = async {
            let mut tx = self.touch_pool.begin().await?;
            for (now, ids) in &batches {
                update_access(&mut tx, ids, *now).await?;
            }
            tx.commit().await
        };
        if let Err(e) = fut.await {
            self.scores.restore(batches);
            return Err(db_err(&self.path, "writing last-accessed times", e));
        }
        Ok(())
    }

    /// [`RecallQuery::matches`] in SQL.
    async fn newest(&self, rq: &RecallQuery, limit: usize) -> Result<Vec<MemoryId>> {
        let mut sql = String::from(
            "SELECT id FROM memories WHERE (expires IS NULL OR expires > ?) \
             AND (? IS NULL OR agent = ?) AND (? IS NULL OR created >= ?) AND (? IS NULL OR created < ?)",
        );
        if !rq.kinds.is_empty() {
            sql.push_str(&format!(" AND kind IN ({})", placeholders(rq.kinds.len())));
        }
        sql.push_str(" ORDER BY created DESC, id DESC LIMIT ?");
        let agent = rq.agent.as_deref();
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
            .bind(rq.now)
            .bind(agent)
            .bind(agent)
            .bind(rq.after)
            .bind(rq.after)
            .bind(rq.before)
            .bind(rq.before);
        for k in &rq.kinds {
            q = q.bind(k.as_str());
        }
        q = q.bind(limit as i64);
        q.fetch_all(&self.pool)
            .await
            .map_err(self.err("listing recent memories"))
    }

    async fn max_id(&self) -> Result<MemoryId> {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM memories")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("reading the newest id"))
    }

    async fn counts(&self) -> Result<Vec<(String, String, u64)>> {
        let rows = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT agent, kind, COUNT(*) FROM memories GROUP BY agent, kind ORDER BY agent, kind",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("counting memories"))?;
        Ok(rows
            .into_iter()
            .map(|(a, k, n)| (a, k, n.max(0) as u64))
            .collect())
    }

    async fn meta(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar::<_, String>("SELECT value FROM store_meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("reading store metadata"))
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO store_meta (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(self.err("writing store metadata"))?;
        Ok(())
    }
}

fn db_err(path: &Path, context: &str, source: sqlx::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        context: context.to_string(),
        source,
    }
}

/// Sets `last_accessed` of `ids` to `now`, never moving it backwards.
async fn update_access(
    conn: &mut sqlx::SqliteConnection,
    ids: &[MemoryId],
    now: TimeMs,
) -> std::result::Result<(), sqlx::Error> {
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE memories SET last_accessed = MAX(last_accessed, ?) WHERE id IN ({})",
            placeholders(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

pub(crate) fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn decode_vector(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
