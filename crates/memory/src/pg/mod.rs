//! [`PgStore`]: the memory stream on PostgreSQL with pgvector, for towns and agent runs that
//! outgrow one machine. Many processes on many machines share one database.
//!
//! Everything lives in one table in the store's schema: the rows, their vectors (a pgvector
//! column with an HNSW index on cosine distance) and their full text (a generated `tsvector`
//! with a GIN index). A memory and its indexes are written in the same transaction, so there are
//! no watermarks and nothing to repair or rebuild. Retrieval asks both indexes in one statement
//! (the query's filter applied inside each; pgvector's iterative scan keeps a filtered HNSW scan
//! going until it has enough rows), then fuses and scores with `hamlet_core::score`, exactly as
//! the embedded store does. The full-text relevance is PostgreSQL's `ts_rank` over the query's
//! words joined by OR, where the embedded store has tantivy's BM25; fusion normalises either by
//! its best hit.
//!
//! The binary applies its migrations on connect (`migrations-pg/`, in the store's schema, under
//! an advisory lock so that processes opening at once do it once). The `vector` extension must
//! be installed on the server; the store creates it in the database if it may, and otherwise
//! says that a superuser must run `CREATE EXTENSION vector` once.

mod server;
mod sql;
mod url;

use std::sync::Arc;
use std::time::Duration;

use hamlet_core::score::{rank, Candidate};
use hamlet_core::{
    Embedder, MemoryId, MemoryRecord, MemoryResult, MemoryStream, NewMemory, RecallQuery, Recalled,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

pub use server::LocalServer;
pub use url::{redact, PgUrl, DEFAULT_SCHEMA};

use crate::ingest::{embed_texts, new_rows, validate};
use crate::recall::{query_vector, recalled, SearchMode};
use crate::rt::Runtime;
use crate::stats::Stats;
use crate::store::MemoryConfig;
use crate::{Error, Result};

/// Rows written per statement in a large batch.
const INSERT_CHUNK: usize = 1000;

/// The memory stream in a PostgreSQL database, with a blocking API (its own small runtime, as
/// [`crate::MemoryStore`] has). Thread-safe; each call takes a connection from a pool.
pub struct PgStore {
    url: PgUrl,
    pool: PgPool,
    embedder: Arc<dyn Embedder>,
    config: MemoryConfig,
    rt: Runtime,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects with the default settings (see [`PgStore::open_with`]).
    pub fn open(url: &PgUrl, embedder: Arc<dyn Embedder>) -> Result<Self> {
        Self::open_with(url, embedder, MemoryConfig::default())
    }

    /// Connects, creates the schema and applies the migrations if needed, and checks that the
    /// store's embedding dimension is the embedder's (setting it on a new store).
    pub fn open_with(
        url: &PgUrl,
        embedder: Arc<dyn Embedder>,
        config: MemoryConfig,
    ) -> Result<Self> {
        let rt = Runtime::new()?;
        let pool = rt.block(async {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(url.connect_options())
                .await
                .map_err(|e| sql::err(url, "connecting", e))?;
            sql::prepare(&pool, url, embedder.dim()).await?;
            Ok::<_, Error>(pool)
        })?;
        Ok(PgStore {
            url: url.clone(),
            pool,
            embedder,
            config,
            rt,
        })
    }

    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    pub fn set_embedder_name(&self, name: &str) -> Result<()> {
        self.rt
            .block(sql::set_meta(&self.pool, &self.url, "embedder", name))
    }

    pub fn embedder_name(&self) -> Result<Option<String>> {
        self.rt.block(sql::meta(&self.pool, &self.url, "embedder"))
    }

    pub fn add(&self, memory: NewMemory) -> Result<MemoryId> {
        self.add_batch(vec![memory])?
            .first()
            .copied()
            .ok_or_else(|| Error::Invalid("the insert returned no id".into()))
    }

    /// Stores memories in one transaction and returns their ids, increasing in order. Nothing is
    /// stored if one is invalid.
    pub fn add_batch(&self, memories: Vec<NewMemory>) -> Result<Vec<MemoryId>> {
        memories.iter().try_for_each(validate)?;
        let texts = memories.iter().map(|m| m.text.clone()).collect();
        let vectors = self
            .rt
            .block(embed_texts(Arc::clone(&self.embedder), texts))?;
        self.add_embedded(memories.into_iter().zip(vectors).collect())
    }

    /// Stores memories whose embeddings are already computed (unit length, the store's dim).
    pub fn add_embedded(&self, memories: Vec<(NewMemory, Vec<f32>)>) -> Result<Vec<MemoryId>> {
        let rows = new_rows(
            memories,
            self.embedder.dim(),
            self.config.default_importance,
        )?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.rt.block(async {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(|e| sql::err(&self.url, "starting a transaction", e))?;
            let mut ids = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(INSERT_CHUNK) {
                ids.extend(sql::insert(&mut tx, &self.url, chunk).await?);
            }
            tx.commit()
                .await
                .map_err(|e| sql::err(&self.url, "committing memories", e))?;
            Ok(ids)
        })
    }

    pub fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        Ok(self.get_many(&[id])?.pop())
    }

    /// Memories by id, in the order asked (missing ids skipped), with their embeddings.
    pub fn get_many(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        let mut rs = self.rt.block(sql::records(&self.pool, &self.url, ids))?;
        rs.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
        Ok(rs)
    }

    /// Embeds texts with the store's embedder (unit length).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        self.rt
            .block(embed_texts(Arc::clone(&self.embedder), texts))
    }

    fn query_vector(&self, text: &str) -> Result<Vec<f32>> {
        self.rt
            .block(query_vector(Arc::clone(&self.embedder), text))
    }

    /// Relevance-only search (no recency, no importance, nothing marked accessed), as
    /// [`crate::AsyncMemoryStore::search`].
    pub fn search(&self, q: &RecallQuery, mode: SearchMode) -> Result<Vec<(MemoryId, f32)>> {
        let v = self.query_vector(&q.text)?;
        self.search_with_vector(q, &v, mode)
    }

    pub fn search_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        mode: SearchMode,
    ) -> Result<Vec<(MemoryId, f32)>> {
        let n = match mode {
            SearchMode::Hybrid => self.config.candidates(q.k),
            _ => q.k,
        };
        let c = self
            .rt
            .block(sql::candidates(&self.pool, &self.url, q, vector, n))?;
        let mut out = match mode {
            SearchMode::Vector => c.vector_hits(),
            SearchMode::Bm25 => c.text_hits(),
            SearchMode::Hybrid => c.fused(self.config.scoring.fusion).into_iter().collect(),
        };
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out.truncate(q.k);
        Ok(out)
    }

    /// The best `q.k` memories by recency, importance and relevance; marks them accessed at
    /// `q.now`. Returned records leave out the embedding.
    pub fn recall(&self, q: &RecallQuery) -> Result<Vec<Recalled>> {
        let v = self.query_vector(&q.text)?;
        self.recall_with_vector(q, &v)
    }

    pub fn recall_with_vector(&self, q: &RecallQuery, vector: &[f32]) -> Result<Vec<Recalled>> {
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let n = self.config.candidates(q.k);
        let cands: Vec<Candidate> = if q.text.trim().is_empty() {
            // Nothing to be relevant to: the newest memories compete on recency and importance.
            self.rt
                .block(sql::newest(&self.pool, &self.url, q, n))?
                .into_iter()
                .map(|r| r.candidate(0.0))
                .collect()
        } else {
            let c = self
                .rt
                .block(sql::candidates(&self.pool, &self.url, q, vector, n))?;
            let rel = c.fused(self.config.scoring.fusion);
            c.rows
                .into_iter()
                .map(|r| r.row.candidate(rel.get(&r.row.id).copied().unwrap_or(0.0)))
                .collect()
        };
        let mut ranked = rank(&cands, q.now, &self.config.scoring);
        ranked.truncate(q.k);
        let top: Vec<MemoryId> = ranked.iter().map(|s| s.id).collect();
        let records = self
            .rt
            .block(sql::touch(&self.pool, &self.url, &top, q.now))?;
        Ok(recalled(ranked, records, q))
    }

    /// Counts per agent and kind, and what the database holds.
    pub fn stats(&self) -> Result<Stats> {
        let (counts, newest_id, bytes, embedder) = self.rt.block(async {
            Ok::<_, Error>((
                sql::counts(&self.pool, &self.url).await?,
                sql::max_id(&self.pool, &self.url).await?,
                sql::disk_bytes(&self.pool, &self.url).await?,
                sql::meta(&self.pool, &self.url, "embedder").await?,
            ))
        })?;
        let (memories, by_agent) = crate::stats::by_agent(counts);
        Ok(Stats {
            dir: self.url.to_string(),
            memories,
            by_agent,
            newest_id,
            vector_index: "pgvector HNSW (cosine), in the rows' transaction".into(),
            vector_points: memories as usize,
            vector_watermark: newest_id,
            text_index: "PostgreSQL tsvector (GIN), in the rows' transaction".into(),
            bm25_documents: memories,
            bm25_watermark: newest_id,
            dim: self.embedder.dim(),
            embedder,
            disk_bytes: bytes,
        })
    }
}

impl MemoryStream for PgStore {
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId> {
        Ok(PgStore::add(self, memory)?)
    }

    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        Ok(PgStore::recall(self, query)?)
    }

    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        Ok(PgStore::get(self, id)?)
    }

    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        Ok(PgStore::add_batch(self, memories)?)
    }
}
