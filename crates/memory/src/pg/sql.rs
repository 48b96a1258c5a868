//! The SQL of [`super::PgStore`]: preparing a database, writing, the candidates of a recall, and
//! the few reads around them. Each function is one round trip (or one transaction).

use std::collections::HashMap;
use std::path::PathBuf;

use hamlet_core::score::{fuse, Fusion};
use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{AssertSqlSafe, PgPool, QueryBuilder, Row};

use super::url::PgUrl;
use crate::records::{NewRow, ScoreRow};
use crate::{Error, Result};

/// The columns of a record, embedding left out.
const RECORD_COLUMNS: &str =
    "id, agent, kind, text, created, last_accessed, importance, evidence, expires, metadata::text AS metadata";

/// A PostgreSQL error with what to check.
pub(crate) fn err(url: &PgUrl, context: &str, e: sqlx::Error) -> Error {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string())
        .unwrap_or_default();
    let hint = match (&e, code.as_str()) {
        (sqlx::Error::Io(_), _) | (sqlx::Error::PoolTimedOut, _) => {
            " (is PostgreSQL running there, and are the host and port right?)"
        }
        (sqlx::Error::Protocol(_), _) => " (does that address speak the PostgreSQL protocol?)",
        (_, "28P01" | "28000") => " (check the user and password in the URL)",
        (_, "3D000") => " (create the database first, e.g. `createdb NAME`)",
        (_, "42501") => {
            " (the user lacks a privilege: a superuser must run `CREATE EXTENSION vector` in this database once, and the user needs CREATE on it)"
        }
        (_, "0A000" | "58P01") => {
            " (pgvector is not installed on this server: install it, see https://github.com/pgvector/pgvector)"
        }
        _ => "",
    };
    Error::Pg {
        url: url.to_string(),
        context: context.to_string(),
        hint: hint.to_string(),
        source: e,
    }
}

/// Makes the database ready for a store of dimension `dim`: the `vector` extension, the schema,
/// the migrations, and on a new store the embedding column's dimension and its HNSW index. Holds
/// an advisory lock meanwhile, so processes opening one store at once do it once.
pub(crate) async fn prepare(pool: &PgPool, url: &PgUrl, dim: usize) -> Result<()> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| err(url, "connecting", e))?;
    let key = format!("hamlet-memory:{}", url.schema());
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(&key)
        .execute(&mut *conn)
        .await
        .map_err(|e| err(url, "taking the set-up lock", e))?;
    let out = prepare_locked(&mut conn, url, dim).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(&key)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // A connection that cannot unlock is closed, which releases the lock.
        conn.detach();
    }
    out
}

async fn prepare_locked(conn: &mut sqlx::PgConnection, url: &PgUrl, dim: usize) -> Result<()> {
    let has_vector: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| err(url, "checking for pgvector", e))?;
    if !has_vector {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
            .execute(&mut *conn)
            .await
            .map_err(|e| err(url, "creating the pgvector extension", e))?;
    }
    let schema = url.schema();
    // The name is a checked plain identifier (PgUrl), so it is safe to write into the SQL.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut *conn)
    .await
    .map_err(|e| err(url, &format!("creating the schema {schema}"), e))?;
    sqlx::migrate!("./migrations-pg")
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(|source| Error::PgMigrate {
            url: url.to_string(),
            source,
        })?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'dim'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| err(url, "reading the store's dimension", e))?;
    match stored {
        Some(d) if d.parse::<usize>().ok() == Some(dim) => Ok(()),
        Some(d) => Err(Error::DimensionMismatch {
            store: url.to_string(),
            stored: d.parse().unwrap_or(0),
            given: dim,
            model: sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'embedder'")
                .fetch_optional(&mut *conn)
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        }),
        None => {
            let new_store = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::query(AssertSqlSafe(format!(
                    "ALTER TABLE memories ALTER COLUMN embedding TYPE vector({dim})"
                )))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "CREATE INDEX IF NOT EXISTS memories_embedding_hnsw ON memories \
                     USING hnsw (embedding vector_cosine_ops)",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO store_meta (key, value) VALUES ('dim', $1)")
                    .bind(dim.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            };
            new_store
                .await
                .map_err(|e| err(url, "setting up the vector column", e))
        }
    }
}

/// Writes rows (inside the caller's transaction) and returns their ids, increasing in order.
pub(crate) async fn insert(
    tx: &mut sqlx::PgConnection,
    url: &PgUrl,
    rows: &[NewRow],
) -> Result<Vec<MemoryId>> {
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('memory_ids') FROM generate_series(1, $1)")
            .bind(rows.len() as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| err(url, "allocating memory ids", e))?;
    ids.sort_unstable();
    let col = |f: &dyn Fn(&NewRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "INSERT INTO memories (id, agent, kind, text, created, last_accessed, importance, \
         embedding, evidence, expires, metadata) \
         SELECT id, agent, kind, text, created, created, importance, emb::vector, ev::bigint[], \
         expires, meta::jsonb FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], \
         $5::bigint[], $6::smallint[], $7::text[], $8::text[], $9::bigint[], $10::text[]) \
         AS u(id, agent, kind, text, created, importance, emb, ev, expires, meta)",
    )
    .bind(&ids)
    .bind(col(&|r| r.memory.agent.clone()))
    .bind(col(&|r| r.memory.kind.as_str().to_string()))
    .bind(col(&|r| r.memory.text.clone()))
    .bind(rows.iter().map(|r| r.memory.created).collect::<Vec<i64>>())
    .bind(
        rows.iter()
            .map(|r| i16::from(r.importance))
            .collect::<Vec<i16>>(),
    )
    .bind(col(&|r| vector_literal(&r.embedding)))
    .bind(col(&|r| array_literal(&r.memory.evidence)))
    .bind(
        rows.iter()
            .map(|r| r.memory.expires)
            .collect::<Vec<Option<i64>>>(),
    )
    .bind(col(&|r| {
        serde_json::to_string(&r.memory.metadata).unwrap_or_else(|_| "{}".into())
    }))
    .execute(&mut *tx)
    .await
    .map_err(|e| err(url, "inserting memories", e))?;
    Ok(ids)
}

/// pgvector's text form, `[x,y,…]`; Rust prints each f32 so that it reads back exactly.
fn vector_literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

fn array_literal(ids: &[MemoryId]) -> String {
    let parts: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

/// [`RecallQuery::matches`] in SQL, appended to a `WHERE` clause: ` AND …` for each condition.
fn push_filter(qb: &mut QueryBuilder<Postgres>, q: &RecallQuery, table: &str) {
    qb.push(format!(" AND ({table}expires IS NULL OR {table}expires > "))
        .push_bind(q.now)
        .push(")");
    if let Some(agent) = &q.agent {
        qb.push(format!(" AND {table}agent = "))
            .push_bind(agent.clone());
    }
    if !q.kinds.is_empty() {
        let kinds: Vec<String> = q.kinds.iter().map(|k| k.as_str().to_string()).collect();
        qb.push(format!(" AND {table}kind = ANY("))
            .push_bind(kinds)
            .push(")");
    }
    if let Some(after) = q.after {
        qb.push(format!(" AND {table}created >= ")).push_bind(after);
    }
    if let Some(before) = q.before {
        qb.push(format!(" AND {table}created < ")).push_bind(before);
    }
}

/// A candidate of a recall: its scoring columns, its cosine to the query, and where it was
/// found (the vector index, the text index, or both).
pub(crate) struct CandidateRow {
    pub row: ScoreRow,
    pub cosine: f32,
    pub in_vector: bool,
    pub text_rank: Option<f32>,
}

/// What both indexes answered for one query.
pub(crate) struct Candidates {
    pub rows: Vec<CandidateRow>,
}

impl Candidates {
    /// The vector index's hits, best first (ties: the newer id), as the embedded index orders.
    pub fn vector_hits(&self) -> Vec<(MemoryId, f32)> {
        let mut hits: Vec<(MemoryId, f32)> = self
            .rows
            .iter()
            .filter(|r| r.in_vector)
            .map(|r| (r.row.id, r.cosine))
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        hits
    }

    /// The text index's hits, best first.
    pub fn text_hits(&self) -> Vec<(MemoryId, f32)> {
        let mut hits: Vec<(MemoryId, f32)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.row.id, r.text_rank?)))
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        hits
    }

    /// The fused relevance of every candidate (the weighted fusion takes a text-only hit's
    /// cosine from its row).
    pub fn fused(&self, fusion: Fusion) -> HashMap<MemoryId, f32> {
        let cosines: HashMap<MemoryId, f32> =
            self.rows.iter().map(|r| (r.row.id, r.cosine)).collect();
        fuse(&self.vector_hits(), &self.text_hits(), fusion, &|id| {
            cosines.get(&id).copied()
        })
    }
}

/// The `n` nearest memories by cosine and the `n` best by full text, both passing `q`'s filter,
/// in one statement.
pub(crate) async fn candidates(
    pool: &PgPool,
    url: &PgUrl,
    q: &RecallQuery,
    vector: &[f32],
    n: usize,
) -> Result<Candidates> {
    let n = n as i64;
    let mut qb = QueryBuilder::<Postgres>::new("WITH vec AS (SELECT id FROM memories WHERE TRUE");
    push_filter(&mut qb, q, "");
    qb.push(" ORDER BY embedding <=> ")
        .push_bind(vector.to_vec())
        .push("::real[]::vector LIMIT ")
        .push_bind(n)
        .push("), txt AS (SELECT m.id, ts_rank(m.tsv, t.query) AS rank FROM memories m, ")
        .push("(SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query ")
        .push("FROM unnest(to_tsvector('english', ")
        .push_bind(q.text.clone())
        .push("))) AS t WHERE m.tsv @@ t.query");
    push_filter(&mut qb, q, "m.");
    qb.push(" ORDER BY rank DESC, m.id DESC LIMIT ")
        .push_bind(n)
        .push(
            // The candidates are looked up by primary key, never by a scan of the table.
            "), c AS (SELECT id FROM vec UNION SELECT id FROM txt) \
             SELECT m.id, m.importance, m.last_accessed, (vec.id IS NOT NULL) AS in_vector, \
             txt.rank, 1 - (m.embedding <=> ",
        )
        .push_bind(vector.to_vec())
        .push(
            "::real[]::vector) AS cosine FROM c JOIN memories m ON m.id = c.id \
             LEFT JOIN vec ON vec.id = c.id LEFT JOIN txt ON txt.id = c.id",
        );
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(|e| err(url, "searching memories", e))?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(CandidateRow {
                row: score_row(r)?,
                cosine: r.try_get::<f64, _>("cosine")? as f32,
                in_vector: r.try_get("in_vector")?,
                text_rank: r.try_get("rank")?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(|e| err(url, "decoding search results", e))?;
    Ok(Candidates { rows })
}

/// The newest memories passing `q`'s filter, newest first: the candidates of a query with no
/// text.
pub(crate) async fn newest(
    pool: &PgPool,
    url: &PgUrl,
    q: &RecallQuery,
    n: usize,
) -> Result<Vec<ScoreRow>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT id, importance, last_accessed FROM memories WHERE TRUE",
    );
    push_filter(&mut qb, q, "");
    qb.push(" ORDER BY created DESC, id DESC LIMIT ")
        .push_bind(n as i64);
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(|e| err(url, "listing recent memories", e))?;
    rows.iter()
        .map(score_row)
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(|e| err(url, "decoding recent memories", e))
}

/// The scoring columns of a result row.
fn score_row(r: &PgRow) -> std::result::Result<ScoreRow, sqlx::Error> {
    Ok(ScoreRow {
        id: r.try_get("id")?,
        importance: r.try_get::<i16, _>("importance")?.clamp(1, 10) as u8,
        last_accessed: r.try_get("last_accessed")?,
    })
}

/// Sets `last_accessed` of `ids` to `now` (never backwards) and returns their records, embedding
/// left out, as they are after the update.
pub(crate) async fn touch(
    pool: &PgPool,
    url: &PgUrl,
    ids: &[MemoryId],
    now: TimeMs,
) -> Result<HashMap<MemoryId, MemoryRecord>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(AssertSqlSafe(format!(
        "UPDATE memories SET last_accessed = GREATEST(last_accessed, $2) WHERE id = ANY($1) \
         RETURNING {RECORD_COLUMNS}"
    )))
    .bind(ids)
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(|e| err(url, "updating last-accessed times", e))?;
    rows.iter()
        .map(|r| decode(url, r, Vec::new()).map(|rec| (rec.id, rec)))
        .collect()
}

/// Full records of `ids`, with their embeddings (any order; missing ids skipped).
pub(crate) async fn records(
    pool: &PgPool,
    url: &PgUrl,
    ids: &[MemoryId],
) -> Result<Vec<MemoryRecord>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS}, embedding::real[] AS embedding FROM memories WHERE id = ANY($1)"
    )))
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(|e| err(url, "reading memories", e))?;
    rows.iter()
        .map(|r| {
            let embedding: Vec<f32> = r
                .try_get("embedding")
                .map_err(|e| err(url, "decoding an embedding", e))?;
            decode(url, r, embedding)
        })
        .collect()
}

fn decode(url: &PgUrl, row: &PgRow, embedding: Vec<f32>) -> Result<MemoryRecord> {
    let id: i64 = row
        .try_get("id")
        .map_err(|e| err(url, "decoding a row", e))?;
    let bad = |reason: String| Error::Corrupt {
        path: PathBuf::from(url.to_string()),
        id,
        reason,
    };
    let get_err = |e: sqlx::Error| bad(e.to_string());
    let kind: String = row.try_get("kind").map_err(get_err)?;
    let metadata: String = row.try_get("metadata").map_err(get_err)?;
    Ok(MemoryRecord {
        id,
        agent: row.try_get("agent").map_err(get_err)?,
        kind: MemoryKind::parse(&kind).map_err(bad)?,
        text: row.try_get("text").map_err(get_err)?,
        created: row.try_get("created").map_err(get_err)?,
        last_accessed: row.try_get("last_accessed").map_err(get_err)?,
        importance: row
            .try_get::<i16, _>("importance")
            .map_err(get_err)?
            .clamp(1, 10) as u8,
        embedding,
        evidence: row.try_get("evidence").map_err(get_err)?,
        expires: row.try_get("expires").map_err(get_err)?,
        metadata: serde_json::from_str(&metadata).map_err(|e| bad(format!("metadata: {e}")))?,
    })
}

pub(crate) async fn counts(pool: &PgPool, url: &PgUrl) -> Result<Vec<(String, String, u64)>> {
    let rows = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT agent, kind, COUNT(*) FROM memories GROUP BY agent, kind ORDER BY agent, kind",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| err(url, "counting memories", e))?;
    Ok(rows
        .into_iter()
        .map(|(a, k, n)| (a, k, n.max(0) as u64))
        .collect())
}

pub(crate) async fn max_id(pool: &PgPool, url: &PgUrl) -> Result<MemoryId> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::bigint FROM memories")
        .fetch_one(pool)
        .await
        .map_err(|e| err(url, "reading the newest id", e))
}

/// Bytes on disk of the table with its indexes and TOAST.
pub(crate) async fn disk_bytes(pool: &PgPool, url: &PgUrl) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('memories')")
        .fetch_one(pool)
        .await
        .map_err(|e| err(url, "measuring the table", e))?;
    Ok(n.max(0) as u64)
}

pub(crate) async fn meta(pool: &PgPool, url: &PgUrl, key: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(|e| err(url, "reading store metadata", e))
}

pub(crate) async fn set_meta(pool: &PgPool, url: &PgUrl, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO store_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await
    .map_err(|e| err(url, "writing store metadata", e))?;
    Ok(())
}
