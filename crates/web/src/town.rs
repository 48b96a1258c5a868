//! A town run's event log held by the server, with a snapshot every [`CHECKPOINT_EVERY`] records
//! so that showing any moment folds at most that many records (the page never replays the log).

use std::collections::{BTreeMap, HashMap};

use hamlet_core::memory::MemoryId;
use hamlet_core::town::{
    AgentInfo, AgentView, EventRecord, Extra, Learned, MemoryLine, PlaceInfo, PlanItem, RunMetrics,
    SimTime, TalkLine, TownEvent, TownSnapshot,
};
use serde::Serialize;

/// Records between two kept snapshots.
pub const CHECKPOINT_EVERY: usize = 1024;
/// Talk lines and events a snapshot response carries (the newest).
const FEED: usize = 60;

/// What a viewer shows at one moment: the core snapshot and the viewer's extra fold.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub snap: TownSnapshot,
    pub extra: Extra,
}

impl Frame {
    fn apply(&mut self, rec: &EventRecord) {
        self.snap.apply(rec);
        self.extra.fold(rec);
        // The map and the places live in the summary; frames do not carry copies of them.
        if matches!(rec.event, TownEvent::RunStarted { .. }) {
            self.snap.map = Vec::new();
            self.snap.legend = BTreeMap::new();
            self.snap.places = Vec::new();
        }
    }
}

/// The world as the first record describes it.
#[derive(Debug, Clone, Serialize)]
pub struct World {
    pub world: String,
    pub scenario: Option<String>,
    pub seed: u64,
    pub step_secs: u32,
    pub start: SimTime,
    pub until: SimTime,
    pub map: Vec<String>,
    pub legend: BTreeMap<String, String>,
    pub places: Vec<PlaceInfo>,
    pub agents: Vec<AgentInfo>,
}

/// A memory and whose it is, for resolving a reflection's evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub agent: String,
    #[serde(flatten)]
    pub memory: MemoryLine,
}

/// The whole log, its newest state and the kept snapshots.
#[derive(Debug, Default)]
pub struct TownLog {
    records: Vec<EventRecord>,
    head: Frame,
    /// `(records applied, frame)`, one per [`CHECKPOINT_EVERY`] records, the first at 0.
    checkpoints: Vec<(usize, Frame)>,
    memories: HashMap<MemoryId, Evidence>,
    world: Option<World>,
    ended: bool,
}

/// `GET /api/summary` of a town run.
#[derive(Debug, Serialize)]
pub struct TownSummary<'a> {
    pub kind: &'static str,
    #[serde(flatten)]
    pub world: Option<&'a World>,
    pub records: usize,
    pub first: SimTime,
    pub last: SimTime,
    /// The run wrote its metrics: nothing more will come.
    pub ended: bool,
    pub checkpoint_every: usize,
}

/// `GET /api/town/snapshot`: the town at one moment.
#[derive(Debug, Serialize)]
pub struct SnapshotView<'a> {
    /// Records applied.
    pub index: usize,
    pub step: u64,
    pub time: SimTime,
    /// "day 1 08:30".
    pub label: String,
    pub agents: &'a BTreeMap<String, AgentView>,
    pub objects: &'a BTreeMap<String, String>,
    pub conversations: &'a BTreeMap<u64, Vec<String>>,
    pub model_calls: u64,
    pub checks: &'a [(String, bool, String)],
    /// The newest lines of conversation, oldest first.
    pub talk: &'a [TalkLine],
    pub events: &'a [(SimTime, String)],
    pub topics: &'a [String],
    pub learned: &'a BTreeMap<String, Vec<Learned>>,
    pub talked: &'a BTreeMap<String, BTreeMap<String, u32>>,
    pub metrics: Option<&'a RunMetrics>,
}

/// A reflection with its evidence resolved to the memories' texts.
#[derive(Debug, Serialize)]
pub struct ReflectionView<'a> {
    pub time: SimTime,
    pub insights: &'a [String],
    pub evidence: Vec<&'a Evidence>,
}

/// `GET /api/town/agent/{name}`: one agent at one moment.
#[derive(Debug, Serialize)]
pub struct AgentDetail<'a> {
    pub name: &'a str,
    pub index: usize,
    pub time: SimTime,
    #[serde(flatten)]
    pub view: &'a AgentView,
    pub day_plan: &'a [PlanItem],
    pub now_plan: &'a [PlanItem],
    /// Newest first.
    pub memories: Vec<&'a MemoryLine>,
    /// Newest first.
    pub reflections: Vec<ReflectionView<'a>>,
    pub talked: Option<&'a BTreeMap<String, u32>>,
}

fn tail<T>(v: &[T], n: usize) -> &[T] {
    &v[v.len().saturating_sub(n)..]
}

impl TownLog {
    pub fn new() -> Self {
        TownLog {
            checkpoints: vec![(0, Frame::default())],
            ..TownLog::default()
        }
    }

    /// Appends one record, keeping a snapshot every [`CHECKPOINT_EVERY`] records.
    pub fn push(&mut self, rec: EventRecord) {
        match &rec.event {
            TownEvent::RunStarted {
                world,
                scenario,
                seed,
                step_secs,
                start,
                until,
                map,
                legend,
                places,
                agents,
            } => {
                self.world = Some(World {
                    world: world.clone(),
                    scenario: scenario.clone(),
                    seed: *seed,
                    step_secs: *step_secs,
                    start: *start,
                    until: *until,
                    map: map.clone(),
                    legend: legend.clone(),
                    places: places.clone(),
                    agents: agents.clone(),
                })
            }
            TownEvent::MemoryWritten {
                agent,
                kind,
                text,
                importance,
                id,
            } => {
                self.memories.insert(
                    *id,
                    Evidence {
                        agent: agent.clone(),
                        memory: MemoryLine {
                            time: rec.time,
                            kind: *kind,
                            importance: *importance,
                            text: text.clone(),
                            id: *id,
                        },
                    },
                );
            }
            TownEvent::Metrics { .. } => self.ended = true,
            _ => {}
        }
        self.head.apply(&rec);
        self.records.push(rec);
        if self.records.len().is_multiple_of(CHECKPOINT_EVERY) {
            self.checkpoints
                .push((self.records.len(), self.head.clone()));
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[EventRecord] {
        &self.records
    }

    pub fn world(&self) -> Option<&World> {
        self.world.as_ref()
    }

    /// How many records show the town at `time`: every record up to and including it (and
    /// always the first, the world).
    pub fn index_at(&self, time: SimTime) -> usize {
        self.records
            .partition_point(|r| r.time <= time)
            .max(1)
            .min(self.records.len())
    }

    /// The town after `index` records: the nearest kept snapshot, then the records after it.
    pub fn frame_at(&self, index: usize) -> Frame {
        let index = index.min(self.records.len());
        if index == self.records.len() {
            return self.head.clone();
        }
        let k = self.checkpoints.partition_point(|(at, _)| *at <= index);
        let (at, frame) = &self.checkpoints[k.saturating_sub(1)];
        let mut frame = frame.clone();
        for rec in &self.records[*at..index] {
            frame.apply(rec);
        }
        frame
    }

    pub fn summary(&self) -> TownSummary<'_> {
        TownSummary {
            kind: "town",
            world: self.world.as_ref(),
            records: self.records.len(),
            first: self.records.first().map(|r| r.time).unwrap_or_default(),
            last: self.records.last().map(|r| r.time).unwrap_or_default(),
            ended: self.ended,
            checkpoint_every: CHECKPOINT_EVERY,
        }
    }

    /// What `GET /api/town/snapshot` returns for a frame.
    pub fn snapshot_view<'a>(&self, index: usize, f: &'a Frame) -> SnapshotView<'a> {
        SnapshotView {
            index,
            step: f.snap.step,
            time: f.snap.time,
            label: f.snap.time.to_string(),
            agents: &f.snap.agents,
            objects: &f.snap.objects,
            conversations: &f.snap.conversations,
            model_calls: f.snap.model_calls,
            checks: &f.snap.checks,
            talk: tail(&f.extra.talk, FEED),
            events: tail(&f.extra.events, FEED),
            topics: &f.extra.topics,
            learned: &f.extra.learned,
            talked: &f.extra.talked,
            metrics: f.extra.metrics.as_ref(),
        }
    }

    /// What `GET /api/town/agent/{name}` returns; `None` for an agent the run does not have.
    pub fn agent_detail<'a>(
        &'a self,
        name: &'a str,
        index: usize,
        f: &'a Frame,
    ) -> Option<AgentDetail<'a>> {
        let view = f.snap.agents.get(name)?;
        let empty: &[PlanItem] = &[];
        Some(AgentDetail {
            name,
            index,
            time: f.snap.time,
            view,
            day_plan: f
                .extra
                .day_plan
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or(empty),
            now_plan: f
                .extra
                .now_plan
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or(empty),
            memories: f
                .extra
                .memories
                .get(name)
                .map(|m| m.iter().rev().collect())
                .unwrap_or_default(),
            reflections: f
                .extra
                .reflections
                .get(name)
                .map(|rs| {
                    rs.iter()
                        .rev()
                        .map(|r| ReflectionView {
                            time: r.time,
                            insights: &r.insights,
                            evidence: r
                                .evidence
                                .iter()
                                .filter_map(|id| self.memories.get(id))
                                .collect(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            talked: f.extra.talked.get(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamlet_core::town::Tile;

    fn log(steps: u64) -> TownLog {
        let mut log = TownLog::new();
        log.push(hamlet_core::testing::town_started(
            SimTime(0),
            SimTime(steps * 10),
            4,
        ));
        for step in 1..=steps {
            log.push(EventRecord {
                step,
                time: SimTime(step * 10),
                event: TownEvent::AgentMoved {
                    agent: "Ada".into(),
                    from: Tile::new((step - 1) as u16, 0),
                    to: Tile::new(step as u16, 0),
                },
            });
        }
        log
    }

    #[test]
    fn a_frame_from_a_checkpoint_equals_the_full_fold() {
        let log = log(3000);
        assert_eq!(log.checkpoints.len(), 3, "one at 0, 1024 and 2048");
        for index in [1, 255, 1023, 1024, 1025, 2100, 3001] {
            let mut full = Frame::default();
            for r in &log.records()[..index] {
                full.apply(r);
            }
            let f = log.frame_at(index);
            assert_eq!(f.snap, full.snap, "at {index}");
            assert_eq!(f.extra, full.extra, "at {index}");
        }
        assert_eq!(
            log.frame_at(log.index_at(SimTime(300))).snap.agents["Ada"].tile,
            Tile::new(30, 0)
        );
        assert!(
            log.frame_at(5).snap.map.is_empty(),
            "frames leave the map to the summary"
        );
        assert_eq!(log.summary().world.map(|w| w.map.len()), Some(1));
    }

    #[test]
    fn an_agents_detail_resolves_reflection_evidence_to_memories() {
        use hamlet_core::memory::MemoryKind;
        let mut log = log(2);
        log.push(EventRecord {
            step: 3,
            time: SimTime(30),
            event: TownEvent::MemoryWritten {
                agent: "Ada".into(),
                kind: MemoryKind::Observation,
                text: "the oven is hot".into(),
                importance: 6,
                id: 41,
            },
        });
        log.push(EventRecord {
            step: 4,
            time: SimTime(40),
            event: TownEvent::Reflection {
                agent: "Ada".into(),
                insights: vec!["baking needs care".into()],
                evidence: vec![41, 99],
            },
        });
        let f = log.frame_at(log.len());
        let d = log.agent_detail("Ada", log.len(), &f).expect("Ada");
        assert_eq!(d.memories[0].importance, 6);
        assert_eq!(d.reflections.len(), 1);
        let texts: Vec<&str> = d.reflections[0]
            .evidence
            .iter()
            .map(|e| e.memory.text.as_str())
            .collect();
        assert_eq!(texts, vec!["the oven is hot"], "unknown ids are left out");
        assert!(log.agent_detail("Bo", log.len(), &f).is_none());
        // Before the reflection, there is none.
        let early = log.frame_at(log.len() - 1);
        assert!(log
            .agent_detail("Ada", log.len() - 1, &early)
            .expect("Ada")
            .reflections
            .is_empty());
    }
}
