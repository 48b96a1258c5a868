//! SQLite through sqlx: the source of truth. Every memory is a row here first; the indexes are
//! derived from these rows and can be rebuilt from them at any time.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, TimeMs};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use crate::rt::Runtime;
use crate::{Error, Result};

/// A memory ready to be written: importance decided, embedding computed.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub agent: String,
    pub kind: MemoryKind,
    pub text: String,
    pub created: TimeMs,
    pub importance: u8,
    pub embedding: Vec<f32>,
    pub evidence: Vec<MemoryId>,
    pub expires: Option<TimeMs>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The columns retrieval scores on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScoreRow {
    pub id: MemoryId,
    pub importance: u8,
    pub last_accessed: TimeMs,
}

const RECORD_COLUMNS: &str =
    "id, agent, kind, text, created, last_accessed, importance, embedding, evidence, expires, metadata";

pub(crate) struct Db {
    pool: SqlitePool,
    /// One connection with `synchronous = NORMAL` for last-accessed updates: in WAL mode it
    /// does not fsync per commit, so a recall does not wait for the disk. A power cut may lose
    /// the newest access times, never a memory (inserts go through `pool`, fully synced).
    touch_pool: SqlitePool,
    path: PathBuf,
    rt: Runtime,
}

impl Db {
    /// Opens (creating if missing) the database at `path` in WAL mode and applies the migrations.
    pub fn open(path: &Path, rt: Runtime) -> Result<Db> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| db_err(path, "building connection options", e))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when `add` returns, so a crash right after loses nothing.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = rt
            .block(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(opts.clone()),
            )
            .map_err(|e| db_err(path, "opening (is the path writable?)", e))?;
        rt.block(sqlx::migrate!("./migrations").run(&pool))
            .map_err(|source| Error::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let touch_pool = rt
            .block(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts.synchronous(SqliteSynchronous::Normal)),
            )
            .map_err(|e| db_err(path, "opening a second connection", e))?;
        Ok(Db {
            pool,
            touch_pool,
            path: path.to_path_buf(),
            rt,
        })
    }

    fn err(&self, context: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
        let context = context.to_string();
        move |e| db_err(&self.path, &context, e)
    }

    /// Writes a consistent copy of the whole database (committed rows, including access times
    /// written on the second connection) to `to`, which must not exist.
    pub fn vacuum_into(&self, to: &Path) -> Result<()> {
        let target = to.to_string_lossy().to_string();
        self.rt
            .block(
                sqlx::query("VACUUM INTO ?")
                    .bind(target)
                    .execute(&self.pool),
            )
            .map_err(self.err("writing a snapshot (VACUUM INTO)"))?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.rt
            .block(
                sqlx::query_scalar::<_, String>("SELECT value FROM store_meta WHERE key = ?")
                    .bind(key)
                    .fetch_optional(&self.pool),
            )
            .map_err(self.err("reading store metadata"))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.rt
            .block(
                sqlx::query(
                    "INSERT INTO store_meta (key, value) VALUES (?, ?) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&self.pool),
            )
            .map_err(self.err("writing store metadata"))?;
        Ok(())
    }

    /// Writes `rows` in one transaction and returns their ids (increasing). Non-reflection
    /// memories add their importance to their agent's reflection counter in the same transaction.
    pub fn insert(&self, rows: &[NewRow]) -> Result<Vec<MemoryId>> {
        let fut = async {
            let mut tx = self.pool.begin().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for r in rows {
                let evidence = serde_json::to_string(&r.evidence).unwrap_or_else(|_| "[]".into());
                let metadata = serde_json::to_string(&r.metadata).unwrap_or_else(|_| "{}".into());
                let res = sqlx::query(
                    "INSERT INTO memories (agent, kind, text, created, last_accessed, importance, \
                     embedding, evidence, expires, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&r.agent)
                .bind(r.kind.as_str())
                .bind(&r.text)
                .bind(r.created)
                .bind(r.created)
                .bind(i64::from(r.importance))
                .bind(encode_vector(&r.embedding))
                .bind(evidence)
                .bind(r.expires)
                .bind(metadata)
                .execute(&mut *tx)
                .await?;
                ids.push(res.last_insert_rowid());
                if r.kind != hamlet_core::MemoryKind::Reflection {
                    sqlx::query(
                        "INSERT INTO reflection_state (agent, since_last) VALUES (?, ?) \
                         ON CONFLICT(agent) DO UPDATE SET since_last = since_last + excluded.since_last",
                    )
                    .bind(&r.agent)
                    .bind(i64::from(r.importance))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        };
        self.rt.block(fut).map_err(self.err("inserting memories"))
    }

    pub fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        Ok(self.records(&[id])?.pop())
    }

    /// Full records for `ids` (any order; missing ids are skipped).
    pub fn records(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {RECORD_COLUMNS} FROM memories WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            let rows = self
                .rt
                .block(q.fetch_all(&self.pool))
                .map_err(self.err("reading memories"))?;
            for row in rows {
                out.push(self.decode_record(&row)?);
            }
        }
        Ok(out)
    }

    /// Records with ids above `after`, in id order, at most `limit` (for index repair and rebuild).
    pub fn records_after(&self, after: MemoryId, limit: usize) -> Result<Vec<MemoryRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM memories WHERE id > ? ORDER BY id LIMIT ?");
        let rows = self
            .rt
            .block(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit as i64)
                    .fetch_all(&self.pool),
            )
            .map_err(self.err("reading memories to index"))?;
        rows.iter().map(|r| self.decode_record(r)).collect()
    }

    /// The scoring columns of `ids`.
    pub fn score_rows(&self, ids: &[MemoryId]) -> Result<Vec<ScoreRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, importance, last_accessed FROM memories WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            let rows = self
                .rt
                .block(q.fetch_all(&self.pool))
                .map_err(self.err("reading memories to score"))?;
            out.extend(rows.into_iter().map(|(id, imp, la)| ScoreRow {
                id,
                importance: imp.clamp(1, 10) as u8,
                last_accessed: la,
            }));
        }
        Ok(out)
    }

    /// Sets `last_accessed` of `ids` to `now` (never moving it backwards).
    pub fn touch(&self, ids: &[MemoryId], now: TimeMs) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE memories SET last_accessed = MAX(last_accessed, ?) WHERE id IN ({})",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for id in ids {
            q = q.bind(id);
        }
        self.rt
            .block(q.execute(&self.touch_pool))
            .map_err(self.err("updating last-accessed times"))?;
        Ok(())
    }

    /// Ids of the newest memories matching a filter (the candidates of a query with no text).
    pub fn newest(
        &self,
        agent: Option<&str>,
        kinds: &[MemoryKind],
        after: Option<TimeMs>,
        before: Option<TimeMs>,
        now: TimeMs,
        limit: usize,
    ) -> Result<Vec<MemoryId>> {
        let mut sql = String::from(
            "SELECT id FROM memories WHERE (expires IS NULL OR expires > ?) \
             AND (? IS NULL OR agent = ?) AND (? IS NULL OR created >= ?) AND (? IS NULL OR created < ?)",
        );
        if !kinds.is_empty() {
            sql.push_str(&format!(" AND kind IN ({})", placeholders(kinds.len())));
        }
        sql.push_str(" ORDER BY created DESC, id DESC LIMIT ?");
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
            .bind(now)
            .bind(agent)
            .bind(agent)
            .bind(after)
            .bind(after)
            .bind(before)
            .bind(before);
        for k in kinds {
            q = q.bind(k.as_str());
        }
        q = q.bind(limit as i64);
        self.rt
            .block(q.fetch_all(&self.pool))
            .map_err(self.err("listing recent memories"))
    }

    pub fn max_id(&self) -> Result<MemoryId> {
        self.rt
            .block(
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM memories")
                    .fetch_one(&self.pool),
            )
            .map_err(self.err("reading the newest id"))
    }

    /// Memories per (agent, kind).
    pub fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.rt
            .block(
                sqlx::query_as::<_, (String, String, i64)>(
                    "SELECT agent, kind, COUNT(*) FROM memories GROUP BY agent, kind ORDER BY agent, kind",
                )
                .fetch_all(&self.pool),
            )
            .map_err(self.err("counting memories"))
    }

    /// Importance summed over `agent`'s memories since its last reflection.
    pub fn importance_since_reflection(&self, agent: &str) -> Result<i64> {
        let v = self
            .rt
            .block(
                sqlx::query_scalar::<_, i64>(
                    "SELECT since_last FROM reflection_state WHERE agent = ?",
                )
                .bind(agent)
                .fetch_optional(&self.pool),
            )
            .map_err(self.err("reading the reflection counter"))?;
        Ok(v.unwrap_or(0))
    }

    pub fn reset_reflection(&self, agent: &str, now: TimeMs) -> Result<()> {
        self.rt
            .block(
                sqlx::query(
                    "INSERT INTO reflection_state (agent, since_last, last_reflection) VALUES (?, 0, ?) \
                     ON CONFLICT(agent) DO UPDATE SET since_last = 0, last_reflection = excluded.last_reflection",
                )
                .bind(agent)
                .bind(now)
                .execute(&self.pool),
            )
            .map_err(self.err("resetting the reflection counter"))?;
        Ok(())
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
            last_accessed: row.try_get("last_accessed").map_err(get_err)?,
            importance: importance.clamp(1, 10) as u8,
            embedding: decode_vector(&blob)
                .ok_or_else(|| bad("embedding blob is not f32s".into()))?,
            evidence: serde_json::from_str(&evidence).map_err(|e| bad(format!("evidence: {e}")))?,
            expires: row.try_get("expires").map_err(get_err)?,
            metadata: serde_json::from_str(&metadata).map_err(|e| bad(format!("metadata: {e}")))?,
        })
    }
}

fn db_err(path: &Path, context: &str, source: sqlx::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        context: context.to_string(),
        source,
    }
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
