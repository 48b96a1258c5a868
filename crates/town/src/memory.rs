//! Agents' memories, kept in a [`MemoryStream`]: in a run, `hamlet-memory`'s durable store in
//! `RUN_DIR/memory` (SQLite, embeddings, BM25), scored as in Generative Agents by recency,
//! importance and relevance, all on the simulated clock.
//!
//! Memories decided during a step are queued in [`WorldState::pending`] and written together
//! with [`flush`] (one transaction, one batch of embeddings), once after perception and once at
//! the end of the step; ids come from the store. The world state keeps only each agent's newest
//! and most important few ([`Note`]s), the evidence a reflection cites.

use hamlet_core::town::{EventRecord, SimTime, TownEvent};
use hamlet_core::{MemoryKind, MemoryStream, NewMemory, RecallQuery, TimeMs};

use crate::state::{AgentId, Note, WorldState, RECENT, SALIENT};
use crate::{Error, Result};

/// Simulated seconds to the stream's milliseconds.
pub fn ms(t: SimTime) -> TimeMs {
    i64::try_from(t.0).unwrap_or(i64::MAX / 1000) * 1000
}

/// Queues a memory for agent `id`, created now (`evidence`: the memories a reflection rests on).
pub fn queue(
    st: &mut WorldState,
    id: AgentId,
    kind: MemoryKind,
    text: String,
    importance: u8,
    evidence: Vec<i64>,
) {
    let name = st.agent(id).name.clone();
    let m = NewMemory::new(name, kind, text, ms(st.time))
        .importance(importance.clamp(1, 10))
        .evidence(evidence);
    st.pending.push((id, m));
}

/// Writes the queued memories in one batch, logs each, and updates the agents' notes and
/// reflection counters.
pub fn flush(st: &mut WorldState, ev: &mut Vec<EventRecord>, mem: &dyn MemoryStream) -> Result<()> {
    if st.pending.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(&mut st.pending);
    let ids = mem
        .add_batch(pending.iter().map(|(_, m)| m.clone()).collect())
        .map_err(|source| Error::Memory {
            context: format!("writing {} memories at {}", pending.len(), st.time),
            source,
        })?;
    for ((who, m), id) in pending.into_iter().zip(ids) {
        let importance = m.importance.unwrap_or(1);
        st.counters.memories += 1;
        let a = st.agent_mut(who);
        if m.kind != MemoryKind::Reflection {
            a.since_reflect += u32::from(importance);
        }
        let note = Note {
            id,
            importance,
            text: m.text.clone(),
        };
        if importance >= 6 {
            a.salient.push(note.clone());
            a.salient
                .sort_by(|x, y| y.importance.cmp(&x.importance).then(y.id.cmp(&x.id)));
            a.salient.truncate(SALIENT);
        }
        a.recent.push_back(note);
        while a.recent.len() > RECENT {
            a.recent.pop_front();
        }
        ev.push(EventRecord {
            step: st.step,
            time: st.time,
            event: TownEvent::MemoryWritten {
                agent: m.agent,
                kind: m.kind,
                text: m.text,
                importance,
                id,
            },
        });
    }
    Ok(())
}

/// The `k` best memories of agent `id` for `query`, best first (the stream marks them accessed).
pub fn recall(
    st: &WorldState,
    mem: &dyn MemoryStream,
    id: AgentId,
    query: &str,
    k: usize,
) -> Result<Vec<String>> {
    let name = &st.agent(id).name;
    let q = RecallQuery::new(query, k, ms(st.time)).agent(name.clone());
    let hits = mem.recall(&q).map_err(|source| Error::Memory {
        context: format!("recalling {name}'s memories of {query:?}"),
        source,
    })?;
    Ok(hits.into_iter().map(|h| h.record.text).collect())
}
