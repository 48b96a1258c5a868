//! Each agent's memory stream, held in the world state.
//!
//! Retrieval scores like Generative Agents' paper (not its code's inverted recency):
//! `0.5·recency + 2·importance + 3·relevance`, recency `0.995^hours` since last access,
//! importance `(i-1)/9`, relevance the share of the query's words found in the memory. Word
//! overlap instead of embeddings keeps a step deterministic and free of an embedding model; the
//! durable `hamlet-memory` store with vectors is the follow-up for long runs.

use hamlet_core::town::SimTime;
use hamlet_core::MemoryKind;

use crate::state::{AgentState, Mem, WorldState};

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// The `k` best memories of `agent` for `query`, best first; marks them accessed at `now`.
pub fn recall(agent: &mut AgentState, query: &str, k: usize, now: SimTime) -> Vec<String> {
    let q = words(query);
    let mut scored: Vec<(f64, usize)> = agent
        .memories
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let hours = now.0.saturating_sub(m.last_access.0) as f64 / 3600.0;
            let recency = 0.995f64.powf(hours);
            let importance = f64::from(m.importance.saturating_sub(1)) / 9.0;
            let relevance = if q.is_empty() {
                0.0
            } else {
                let mw = words(&m.text);
                q.iter().filter(|w| mw.contains(w)).count() as f64 / q.len() as f64
            };
            (0.5 * recency + 2.0 * importance + 3.0 * relevance, i)
        })
        .collect();
    // Ties go to the newer memory, so the order is total and deterministic.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, i)| {
            agent.memories[i].last_access = now;
            agent.memories[i].text.clone()
        })
        .collect()
}

/// Appends a memory and returns its id.
pub fn add(
    st: &mut WorldState,
    agent: usize,
    kind: MemoryKind,
    text: String,
    importance: u8,
    evidence: Vec<i64>,
) -> i64 {
    let id = st.next_memory;
    st.next_memory += 1;
    st.counters.memories += 1;
    let now = st.time;
    let a = &mut st.agents[agent];
    a.since_reflect += u32::from(importance);
    a.memories.push(Mem {
        id,
        kind,
        text,
        created: now,
        last_access: now,
        importance: importance.clamp(1, 10),
        evidence,
    });
    id
}
