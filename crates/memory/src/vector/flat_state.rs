//! The embedded index's memory layout (vectors grouped by agent) and its on-disk log format.

use std::collections::HashMap;

use hamlet_core::{MemoryId, MemoryKind, TimeMs};

use super::VectorPoint;

pub(super) const MAGIC: &[u8; 8] = b"HMVEC01\n";
pub(super) const UPSERT: u8 = 1;
pub(super) const DELETE: u8 = 2;

#[derive(Debug, Default)]
pub(super) struct Segment {
    pub(super) ids: Vec<MemoryId>,
    pub(super) created: Vec<TimeMs>,
    pub(super) expires: Vec<TimeMs>,
    pub(super) kinds: Vec<u8>,
    pub(super) vectors: Vec<f32>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) agents: Vec<String>,
    pub(super) agent_ix: HashMap<String, usize>,
    pub(super) segments: Vec<Segment>,
    /// id -> (segment, row)
    pub(super) loc: HashMap<MemoryId, (usize, usize)>,
    /// Encoded log records not yet committed.
    pub(super) pending: Vec<u8>,
    pub(super) committed_len: u64,
    pub(super) watermark: MemoryId,
}

pub(super) fn kind_ix(k: MemoryKind) -> u8 {
    MemoryKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as u8
}

pub(super) fn apply_upsert(st: &mut State, p: &VectorPoint) {
    remove(st, p.id);
    let seg_ix = match st.agent_ix.get(&p.agent) {
        Some(&i) => i,
        None => {
            st.agents.push(p.agent.clone());
            st.segments.push(Segment::default());
            st.agent_ix.insert(p.agent.clone(), st.agents.len() - 1);
            st.agents.len() - 1
        }
    };
    let seg = &mut st.segments[seg_ix];
    seg.ids.push(p.id);
    seg.created.push(p.created);
    seg.expires.push(p.expires.unwrap_or(TimeMs::MAX));
    seg.kinds.push(kind_ix(p.kind));
    seg.vectors.extend_from_slice(&p.vector);
    st.loc.insert(p.id, (seg_ix, seg.ids.len() - 1));
}

pub(super) fn remove(st: &mut State, id: MemoryId) {
    let Some((s, row)) = st.loc.remove(&id) else {
        return;
    };
    let seg = &mut st.segments[s];
    let dim = seg.vectors.len() / seg.ids.len().max(1);
    let last = seg.ids.len() - 1;
    seg.ids.swap_remove(row);
    seg.created.swap_remove(row);
    seg.expires.swap_remove(row);
    seg.kinds.swap_remove(row);
    if row != last {
        let (head, tail) = seg.vectors.split_at_mut(last * dim);
        head[row * dim..(row + 1) * dim].copy_from_slice(&tail[..dim]);
        st.loc.insert(seg.ids[row], (s, row));
    }
    seg.vectors.truncate(last * dim);
}

pub(super) fn encode(out: &mut Vec<u8>, p: &VectorPoint) {
    out.push(UPSERT);
    out.extend_from_slice(&p.id.to_le_bytes());
    out.extend_from_slice(&p.created.to_le_bytes());
    out.extend_from_slice(&p.expires.unwrap_or(TimeMs::MAX).to_le_bytes());
    out.push(kind_ix(p.kind));
    let agent = p.agent.as_bytes();
    out.extend_from_slice(&(agent.len() as u32).to_le_bytes());
    out.extend_from_slice(agent);
    for x in &p.vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

pub(super) fn replay(st: &mut State, mut b: &[u8], dim: usize) -> std::result::Result<(), String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if b.len() < n {
            return Err("log record cut short".into());
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    let i64_of = |s: &[u8]| i64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
    while !b.is_empty() {
        let op = take(&mut b, 1)?[0];
        let id = i64_of(take(&mut b, 8)?);
        match op {
            DELETE => remove(st, id),
            UPSERT => {
                let created = i64_of(take(&mut b, 8)?);
                let expires = i64_of(take(&mut b, 8)?);
                let kind = take(&mut b, 1)?[0] as usize;
                let alen = u32::from_le_bytes(take(&mut b, 4)?.try_into().unwrap_or([0; 4]));
                let agent = String::from_utf8(take(&mut b, alen as usize)?.to_vec())
                    .map_err(|_| "agent name is not UTF-8".to_string())?;
                let vector = take(&mut b, dim * 4)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let p = VectorPoint {
                    id,
                    agent,
                    kind: *MemoryKind::ALL.get(kind).ok_or("unknown kind")?,
                    created,
                    expires: (expires != TimeMs::MAX).then_some(expires),
                    vector,
                };
                apply_upsert(st, &p);
            }
            _ => return Err(format!("unknown log record type {op}")),
        }
    }
    Ok(())
}
