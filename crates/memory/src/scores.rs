//! [`Scores`]: the columns retrieval ranks on (importance, last access) kept in memory beside the
//! rows, and the access times not yet written back.
//!
//! A recall scores its ~100–200 candidates on recency and importance. Reading those two columns
//! from SQLite took about 2 ms per recall at 100k memories, more than both index searches
//! together, and writing each recall's access times took another 0.1–0.9 ms. So
//! [`crate::SqliteRecords`] loads the two columns once when it opens (one scan: ~16 bytes a
//! memory), keeps them current as it inserts and touches, and writes access times back in
//! batches: with the next insert (in its transaction), when [`Scores::due`] says so (1,024 ids or
//! one second after the oldest), on `flush`, before a snapshot, and when the blocking store is
//! dropped. A process that dies loses at most that window of access times, never a memory.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use hamlet_core::{MemoryId, TimeMs};

use crate::records::ScoreRow;

/// Pending access times past which they are written back.
const MAX_PENDING: usize = 1024;
/// Age of the oldest pending access time past which they are written back.
const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Scores {
    /// id → (importance, last accessed), for every stored memory.
    rows: RwLock<HashMap<MemoryId, (u8, TimeMs)>>,
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// id → the access time to write (the newest).
    times: HashMap<MemoryId, TimeMs>,
    since: Option<Instant>,
}

impl Scores {
    pub(crate) fn load(rows: impl IntoIterator<Item = ScoreRow>) -> Self {
        let rows = rows
            .into_iter()
            .map(|r| (r.id, (r.importance, r.last_accessed)))
            .collect();
        Scores {
            rows: RwLock::new(rows),
            pending: Mutex::default(),
        }
    }

    /// Memories just stored (last accessed when created).
    pub(crate) fn inserted(&self, rows: impl IntoIterator<Item = ScoreRow>) {
        let mut map = self.rows.write().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            map.insert(r.id, (r.importance, r.last_accessed));
        }
    }

    /// The scoring columns of `ids` that are stored.
    pub(crate) fn get(&self, ids: &[MemoryId]) -> Vec<ScoreRow> {
        let map = self.rows.read().unwrap_or_else(|p| p.into_inner());
        ids.iter()
            .filter_map(|&id| {
                let &(importance, last_accessed) = map.get(&id)?;
                Some(ScoreRow {
                    id,
                    importance,
                    last_accessed,
                })
            })
            .collect()
    }

    /// The current last-access time of `id`, if stored.
    pub(crate) fn last_accessed(&self, id: MemoryId) -> Option<TimeMs> {
        let map = self.rows.read().unwrap_or_else(|p| p.into_inner());
        map.get(&id).map(|r| r.1)
    }

    /// Marks `ids` accessed at `now` (never moving a time backwards) and queues the write-back.
    pub(crate) fn touch(&self, ids: &[MemoryId], now: TimeMs) {
        let mut map = self.rows.write().unwrap_or_else(|p| p.into_inner());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            if let Some(row) = map.get_mut(id) {
                if now > row.1 {
                    row.1 = now;
                    pending.times.insert(*id, now);
                }
            }
        }
        if !pending.times.is_empty() {
            pending.since.get_or_insert_with(Instant::now);
        }
    }

    /// Whether the pending access times should be written back now.
    pub(crate) fn due(&self) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.times.len() >= MAX_PENDING || pending.since.is_some_and(|s| s.elapsed() >= MAX_AGE)
    }

    /// Takes the pending access times, grouped by time (one UPDATE each).
    pub(crate) fn take_pending(&self) -> Vec<(TimeMs, Vec<MemoryId>)> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.since = None;
        let mut by_time: HashMap<TimeMs, Vec<MemoryId>> = HashMap::new();
        for (id, t) in pending.times.drain() {
            by_time.entry(t).or_default().push(id);
        }
        let mut out: Vec<_> = by_time.into_iter().collect();
        out.sort_by_key(|(t, _)| *t);
        out
    }

    /// Puts back access times whose write failed, so a later write tries again.
    pub(crate) fn restore(&self, batches: Vec<(TimeMs, Vec<MemoryId>)>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (t, ids) in batches {
            for id in ids {
                let e = pending.times.entry(id).or_insert(t);
                *e = (*e).max(t);
            }
        }
        if !pending.times.is_empty() {
            pending.since.get_or_insert_with(Instant::now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: MemoryId, last_accessed: TimeMs) -> ScoreRow {
        ScoreRow {
            id,
            importance: 5,
            last_accessed,
        }
    }

    fn sorted(mut batches: Vec<(TimeMs, Vec<MemoryId>)>) -> Vec<(TimeMs, Vec<MemoryId>)> {
        batches.iter_mut().for_each(|(_, ids)| ids.sort());
        batches
    }

    #[test]
    fn touches_move_forward_only_and_queue_the_newest_time_once_per_id() {
        let s = Scores::load([row(1, 100), row(2, 100)]);
        s.touch(&[1, 2, 3], 50);
        assert!(s.take_pending().is_empty(), "an older time changes nothing");
        s.touch(&[1], 200);
        s.touch(&[1, 2], 300);
        assert_eq!(s.get(&[1, 2, 3]), vec![row(1, 300), row(2, 300)]);
        assert_eq!(sorted(s.take_pending()), vec![(300, vec![1, 2])]);
        assert!(s.take_pending().is_empty());
        assert!(!s.due());
    }

    #[test]
    fn a_failed_write_is_queued_again() {
        let s = Scores::load([row(1, 100)]);
        s.touch(&[1], 200);
        let batches = s.take_pending();
        s.restore(batches);
        assert_eq!(s.take_pending(), vec![(200, vec![1])]);
    }

    #[test]
    fn many_pending_times_are_due() {
        let ids: Vec<MemoryId> = (1..=MAX_PENDING as MemoryId).collect();
        let s = Scores::load(ids.iter().map(|&id| row(id, 0)));
        s.touch(&ids[..10], 5);
        assert!(!s.due());
        s.touch(&ids, 6);
        assert!(s.due());
    }
}
