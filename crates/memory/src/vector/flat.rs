//! The embedded vector index: every vector in memory, grouped by agent, searched by an exact scan.
//!
//! Why a scan and not a graph: at the sizes one machine's agents reach (100k memories), a scan of
//! one agent's vectors takes about a millisecond with AVX2 and has recall 1.0, while an HNSW
//! graph costs minutes to build, slows every insert, and needs care to filter (see
//! docs/BENCHMARKS.md, "Memory", for the measurements behind this choice). Vectors are grouped by
//! agent, so the usual filter (one agent's memories) scans only that agent's rows.
//!
//! On disk: `vectors.bin`, an append-only log of upserts and deletes, and `vectors.mark`, written
//! atomically (temp file + rename) after the log is synced, holding the log length that is
//! committed and the watermark. On open the log is read up to the committed length and anything
//! after it (a crash mid-commit) is cut off; the store then re-applies rows above the watermark.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};

use super::flat_state::{apply_upsert, encode, remove, replay, State, DELETE, MAGIC};
use super::{dot_fn, points, VectorIndex, VectorPoint};
use crate::index::DerivedIndex;
use crate::{Error, Result};

/// The embedded exact-scan vector index (the default).
#[derive(Debug)]
pub struct FlatIndex {
    dim: usize,
    dir: Option<PathBuf>,
    state: RwLock<State>,
}

impl FlatIndex {
    /// An index that lives only in memory (tests, benchmarks).
    pub fn in_memory(dim: usize) -> Self {
        FlatIndex {
            dim,
            dir: None,
            state: RwLock::new(State::default()),
        }
    }

    /// Opens (or creates) the index in `dir`, replaying the committed part of its log.
    pub fn open(dir: &Path, dim: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "creating the directory", e))?;
        let index = FlatIndex {
            dim,
            dir: Some(dir.to_path_buf()),
            state: RwLock::new(State::default()),
        };
        let (len, watermark) = index.read_mark()?;
        let log = index.log_path();
        let mut bytes = Vec::new();
        if log.exists() {
            File::open(&log)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| io(&log, "reading", e))?;
        }
        let len = (len as usize).min(bytes.len());
        let mut st = index.write()?;
        let body = if len >= MAGIC.len() && &bytes[..MAGIC.len()] == MAGIC {
            replay(&mut st, &bytes[MAGIC.len()..len], dim).map_err(|reason| {
                Error::vector(
                    index.describe(),
                    format!(
                        "{}: {reason}; delete the folder and run `hamlet memory rebuild`",
                        log.display()
                    ),
                )
            })?;
            len
        } else {
            0
        };
        st.committed_len = body as u64;
        st.watermark = if body == 0 { 0 } else { watermark };
        drop(st);
        // Cut off whatever was written after the last commit.
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&log)
            .map_err(|e| io(&log, "opening", e))?;
        f.set_len(body as u64)
            .map_err(|e| io(&log, "truncating", e))?;
        Ok(index)
    }

    fn log_path(&self) -> PathBuf {
        self.dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join("vectors.bin")
    }

    fn mark_path(&self) -> PathBuf {
        self.dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join("vectors.mark")
    }

    fn read_mark(&self) -> Result<(u64, MemoryId)> {
        let p = self.mark_path();
        match std::fs::read_to_string(&p) {
            Ok(s) => {
                let v: serde_json::Value = serde_json::from_str(&s)
                    .map_err(|e| Error::vector(self.describe(), format!("{}: {e}", p.display())))?;
                Ok((
                    v["len"].as_u64().unwrap_or(0),
                    v["watermark"].as_i64().unwrap_or(0),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, 0)),
            Err(e) => Err(io(&p, "reading", e)),
        }
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, State>> {
        self.state
            .write()
            .map_err(|_| Error::vector(self.describe(), "lock poisoned by a panic"))
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, State>> {
        self.state
            .read()
            .map_err(|_| Error::vector(self.describe(), "lock poisoned by a panic"))
    }

    fn persist(&self, st: &mut State, watermark: MemoryId, truncate: bool) -> Result<()> {
        let Some(dir) = &self.dir else {
            st.pending.clear();
            st.watermark = watermark;
            return Ok(());
        };
        let log = self.log_path();
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&log)
            .map_err(|e| io(&log, "opening", e))?;
        if truncate || st.committed_len == 0 {
            f.set_len(0).map_err(|e| io(&log, "truncating", e))?;
            f.write_all(MAGIC).map_err(|e| io(&log, "writing", e))?;
            st.committed_len = MAGIC.len() as u64;
        }
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(st.committed_len))
            .and_then(|_| f.write_all(&st.pending))
            .and_then(|_| f.sync_all())
            .map_err(|e| io(&log, "writing", e))?;
        let len = st.committed_len + st.pending.len() as u64;
        let mark = serde_json::json!({"len": len, "watermark": watermark, "dim": self.dim});
        let tmp = dir.join("vectors.mark.tmp");
        let mark_path = self.mark_path();
        File::create(&tmp)
            .and_then(|mut t| {
                t.write_all(mark.to_string().as_bytes())?;
                t.sync_all()
            })
            .and_then(|_| std::fs::rename(&tmp, &mark_path))
            .and_then(|_| File::open(dir).and_then(|d| d.sync_all()))
            .map_err(|e| io(&mark_path, "writing", e))?;
        st.committed_len = len;
        st.pending.clear();
        st.watermark = watermark;
        Ok(())
    }
}

fn io(path: &Path, context: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        context: context.to_string(),
        source,
    }
}

/// A score that orders totally (for the top-k heap).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hit(f32, MemoryId);
impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Hit {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

impl DerivedIndex for FlatIndex {
    fn describe(&self) -> String {
        match &self.dir {
            Some(d) => format!("embedded exact scan ({})", d.display()),
            None => "embedded exact scan (in memory)".into(),
        }
    }

    fn apply(&self, records: &[MemoryRecord]) -> Result<()> {
        self.upsert(&points(records))
    }

    fn commit(&self, watermark: MemoryId) -> Result<()> {
        let mut st = self.write()?;
        self.persist(&mut st, watermark, false)
    }

    fn watermark(&self) -> Result<MemoryId> {
        Ok(self.read()?.watermark)
    }

    fn clear(&self) -> Result<()> {
        let mut st = self.write()?;
        *st = State::default();
        self.persist(&mut st, 0, true)
    }

    fn len(&self) -> Result<usize> {
        Ok(self.read()?.loc.len())
    }
}

impl VectorIndex for FlatIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn upsert(&self, points: &[VectorPoint]) -> Result<()> {
        if let Some(p) = points.iter().find(|p| p.vector.len() != self.dim) {
            return Err(Error::Invalid(format!(
                "vector of memory {} has {} dimensions, the index holds {}",
                p.id,
                p.vector.len(),
                self.dim
            )));
        }
        let mut st = self.write()?;
        for p in points {
            apply_upsert(&mut st, p);
            if self.dir.is_some() {
                encode(&mut st.pending, p);
            }
        }
        Ok(())
    }

    fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        let mut st = self.write()?;
        for &id in ids {
            remove(&mut st, id);
            if self.dir.is_some() {
                st.pending.push(DELETE);
                st.pending.extend_from_slice(&id.to_le_bytes());
            }
        }
        Ok(())
    }

    fn search(&self, query: &[f32], q: &RecallQuery, k: usize) -> Result<Vec<(MemoryId, f32)>> {
        if query.len() != self.dim {
            return Err(Error::Invalid(format!(
                "query vector has {} dimensions, the index holds {}",
                query.len(),
                self.dim
            )));
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        let st = self.read()?;
        let dot = dot_fn();
        let mut heap: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
        // Only the asked agent's segment is scanned; within it, `RecallQuery::matches` decides.
        let segs: Vec<usize> = match &q.agent {
            Some(a) => st.agent_ix.get(a).copied().into_iter().collect(),
            None => (0..st.segments.len()).collect(),
        };
        for s in segs {
            let (seg, agent) = (&st.segments[s], st.agents[s].as_str());
            for (row, v) in seg.vectors.chunks_exact(self.dim).enumerate() {
                let kind = MemoryKind::ALL[usize::from(seg.kinds[row]) % MemoryKind::ALL.len()];
                // "Never expires" is stored as the largest time.
                let expires = Some(seg.expires[row]).filter(|e| *e != TimeMs::MAX);
                if !q.matches(agent, kind, seg.created[row], expires) {
                    continue;
                }
                let hit = Hit(dot(query, v), seg.ids[row]);
                if heap.len() < k {
                    heap.push(Reverse(hit));
                } else if heap.peek().is_some_and(|Reverse(min)| hit > *min) {
                    heap.pop();
                    heap.push(Reverse(hit));
                }
            }
        }
        let mut out: Vec<Hit> = heap.into_iter().map(|Reverse(h)| h).collect();
        out.sort_by(|a, b| b.cmp(a));
        Ok(out.into_iter().map(|h| (h.1, h.0)).collect())
    }

    fn similarities(&self, query: &[f32], ids: &[MemoryId]) -> Result<Vec<Option<f32>>> {
        let st = self.read()?;
        let dot = dot_fn();
        Ok(ids
            .iter()
            .map(|id| {
                let &(s, row) = st.loc.get(id)?;
                let v = st.segments[s]
                    .vectors
                    .get(row * self.dim..(row + 1) * self.dim)?;
                (query.len() == self.dim).then(|| dot(query, v))
            })
            .collect())
    }
}
