//! [`DerivedIndex`]: what the store needs of an index it derives from its rows (the tantivy BM25
//! index and every vector index), so that one repair loop and one rebuild loop serve them all.
//!
//! An index is derived data: the store commits every memory to its [`RecordStore`] first, then
//! applies it to each index and later commits the index with a *watermark*, the highest memory
//! id it holds. On open, the rows above an index's watermark are applied again ([`repair`]), so a
//! crash between the two commits loses nothing; [`rebuild`] throws an index away and applies
//! every row. A backend that keeps its indexes inside the same transaction as its rows (PostgreSQL
//! with pgvector and a tsvector column) needs neither and has no `DerivedIndex`.
//!
//! The methods block (tantivy and the embedded index write files and fsync); the async store
//! calls them on tokio's blocking pool.

use std::sync::Arc;

use hamlet_core::{MemoryId, MemoryRecord};

use crate::records::RecordStore;
use crate::{Error, Result};

/// Rows read per page while repairing or rebuilding.
const PAGE: usize = 2000;

/// An index derived from the store's rows, committed with a watermark.
pub trait DerivedIndex: Send + Sync {
    /// What this index is, for logs and `hamlet memory stats` (e.g. "embedded exact scan").
    fn describe(&self) -> String;

    /// Adds or replaces these memories (visible to searches at once, durable at `commit`).
    fn apply(&self, records: &[MemoryRecord]) -> Result<()>;

    /// Makes every change so far durable and records `watermark` (the highest id applied).
    fn commit(&self, watermark: MemoryId) -> Result<()>;

    /// The watermark of the last commit (0 for a new index).
    fn watermark(&self) -> Result<MemoryId>;

    /// Removes everything and resets the watermark to 0 (durably).
    fn clear(&self) -> Result<()>;

    /// How many memories it holds.
    fn len(&self) -> Result<usize>;

    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Runs blocking index work on tokio's blocking pool, off the caller's async worker.
pub(crate) async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Invalid(format!("an index task panicked or was cancelled: {e}")))?
}

/// Brings each index up to the rows' newest id, applying the rows above its watermark. An index
/// ahead of the rows (the database was replaced) is rebuilt from scratch instead.
pub(crate) async fn repair<R: RecordStore>(
    rows: &R,
    indexes: &[Arc<dyn DerivedIndex>],
) -> Result<()> {
    let max = rows.max_id().await?;
    for index in indexes {
        let index = index.clone();
        let from = {
            let i = index.clone();
            off_thread(move || i.watermark()).await?
        };
        if from == max {
            continue;
        }
        let from = if from > max {
            tracing::warn!(
                index = %index.describe(),
                watermark = from,
                rows = max,
                "an index is ahead of the stored rows (was the database replaced?): rebuilding it"
            );
            let i = index.clone();
            off_thread(move || i.clear()).await?;
            0
        } else {
            tracing::info!(
                index = %index.describe(),
                from,
                to = max,
                "repairing an index that lags the stored rows"
            );
            from
        };
        apply_from(rows, &index, from).await?;
        off_thread(move || index.commit(max)).await?;
    }
    Ok(())
}

/// Clears every index and applies every row again; `progress(done, total)` is called as it
/// goes. Returns how many memories were indexed.
pub(crate) async fn rebuild<R: RecordStore>(
    rows: &R,
    indexes: &[Arc<dyn DerivedIndex>],
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64> {
    let total: u64 = rows.counts().await?.iter().map(|c| c.2).sum();
    for index in indexes {
        let i = index.clone();
        off_thread(move || i.clear()).await?;
    }
    progress(0, total);
    let mut done = 0u64;
    let mut after = 0;
    loop {
        let page = rows.records_after(after, PAGE).await?;
        let Some(last) = page.last().map(|r| r.id) else {
            break;
        };
        done += page.len() as u64;
        let page = Arc::new(page);
        for index in indexes {
            let (i, p) = (index.clone(), page.clone());
            off_thread(move || i.apply(&p)).await?;
        }
        progress(done, total);
        after = last;
    }
    let max = rows.max_id().await?;
    for index in indexes {
        let i = index.clone();
        off_thread(move || i.commit(max)).await?;
    }
    Ok(done)
}

/// Applies the rows above `after` to `index`, page by page.
async fn apply_from<R: RecordStore>(
    rows: &R,
    index: &Arc<dyn DerivedIndex>,
    mut after: MemoryId,
) -> Result<()> {
    loop {
        let page = rows.records_after(after, PAGE).await?;
        let Some(last) = page.last().map(|r| r.id) else {
            return Ok(());
        };
        let i = index.clone();
        off_thread(move || i.apply(&page)).await?;
        after = last;
    }
}
