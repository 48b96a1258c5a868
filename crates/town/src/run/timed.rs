//! Timing a step's calls into the model and the memory stream, for the metrics' share of wall
//! time spent in each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hamlet_core::{MemoryId, MemoryRecord, MemoryStream, NewMemory, RecallQuery, Recalled};

use crate::decision::{Answer, Posed, TownModel};

/// Times the calls of a step into the model.
pub(super) struct TimedModel<'a> {
    inner: &'a dyn TownModel,
    nanos: AtomicU64,
}

/// Times the calls of a step into the memory stream.
pub(super) struct TimedMemory<'a> {
    inner: &'a dyn MemoryStream,
    nanos: AtomicU64,
}

fn timed<T>(nanos: &AtomicU64, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let spent = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
    nanos.fetch_add(spent, Ordering::Relaxed);
    out
}

impl<'a> TimedModel<'a> {
    pub(super) fn new(inner: &'a dyn TownModel) -> Self {
        TimedModel {
            inner,
            nanos: AtomicU64::new(0),
        }
    }

    pub(super) fn secs(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl<'a> TimedMemory<'a> {
    pub(super) fn new(inner: &'a dyn MemoryStream) -> Self {
        TimedMemory {
            inner,
            nanos: AtomicU64::new(0),
        }
    }

    pub(super) fn secs(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl TownModel for TimedModel<'_> {
    fn decide(&self, batch: &[Posed]) -> Vec<hamlet_core::Result<Answer>> {
        timed(&self.nanos, || self.inner.decide(batch))
    }
}

impl MemoryStream for TimedMemory<'_> {
    fn add(&self, memory: NewMemory) -> hamlet_core::MemoryResult<MemoryId> {
        timed(&self.nanos, || self.inner.add(memory))
    }
    fn add_batch(&self, memories: Vec<NewMemory>) -> hamlet_core::MemoryResult<Vec<MemoryId>> {
        timed(&self.nanos, || self.inner.add_batch(memories))
    }
    fn recall(&self, query: &RecallQuery) -> hamlet_core::MemoryResult<Vec<Recalled>> {
        timed(&self.nanos, || self.inner.recall(query))
    }
    fn get(&self, id: MemoryId) -> hamlet_core::MemoryResult<Option<MemoryRecord>> {
        timed(&self.nanos, || self.inner.get(id))
    }
}
