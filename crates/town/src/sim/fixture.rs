//! A town built in memory for the phases' unit tests: two rooms joined by a street, three
//! villagers, a stove that cooking puts to use, and a scenario with one piece of news.

use std::path::Path;

use hamlet_core::testing::VecMemory;
use hamlet_core::town::SimTime;

use super::{Need, SimConfig, Tick, Town};
use crate::decision::ReactReply;
use crate::prompts::Prompts;
use crate::spec::{Persona, Scenario};
use crate::state::{AgentId, WorldState};
use crate::world::World;

const WORLD: &str = r#"name = "Tiny"
map = "map.txt"
start = "day 1 07:00"

[legend]
a = "Home:room"
b = "Cafe:room"

[[object]]
path = "Cafe:room:stove"
at = [10, 1]
verbs = ["cook"]
"#;

/// Home is x 1–3, the street x 4–8, the cafe x 9–11.
const MAP: &str = "#############\n#aaa.....bbb#\n#aaa.....bbb#\n#############\n";

const SCENARIO: &str = r#"name = "news"
[[topic]]
name = "party"
keywords = ["party"]
[[knowledge]]
agent = "Ann"
topic = "party"
text = "I am hosting a party at the Cafe tonight."
[[event]]
at = "day 1 08:00"
description = "The cafe announces free coffee."
place = "Cafe:room"
[[gathering]]
name = "coffee"
place = "Cafe:room"
from = "day 1 08:00"
to = "day 1 09:00"
"#;

fn persona(world: &World, name: &str, home: &str, routine: &str) -> Persona {
    let text = format!(
        "name = \"{name}\"\nage = 30\noccupation = \"villager\"\nhome = \"{home}\"\n\
         wake = \"07:00\"\nsleep = \"22:00\"\n{routine}"
    );
    Persona::from_text(Path::new(&format!("{name}.toml")), &text, world).expect("persona")
}

/// Ann and Ben live in the home room, Cal in the cafe; Ben has coffee at the cafe from 07:30.
fn town(with_scenario: bool) -> Town {
    let world = World::from_text(Path::new("tiny"), WORLD, MAP).expect("world");
    let personas = vec![
        persona(&world, "Ann", "Home:room", ""),
        persona(
            &world,
            "Ben",
            "Home:room",
            "[[routine]]\nat = \"07:30\"\nplace = \"Cafe:room\"\nactivity = \"have coffee\"\n",
        ),
        persona(&world, "Cal", "Cafe:room", ""),
    ];
    let scenario = with_scenario.then(|| {
        Scenario::from_text(Path::new("news.toml"), SCENARIO, &world, &personas).expect("scenario")
    });
    let prompts = Prompts::load(None).expect("built-in prompts");
    Town::new(world, personas, scenario, prompts, SimConfig::default()).expect("town")
}

/// The tiny town (with its scenario or not), its memories and its state at a time of day 1.
pub(super) struct Fixture {
    pub town: Town,
    pub mem: VecMemory,
    pub st: WorldState,
}

impl Fixture {
    pub fn new(with_scenario: bool, hour: u32, minute: u32) -> Fixture {
        let (town, mem) = (town(with_scenario), VecMemory::new());
        let st = state(&town, &mem, hour, minute);
        Fixture { town, mem, st }
    }

    /// The agent named `name`.
    pub fn id(&self, name: &str) -> AgentId {
        id(&self.st, name)
    }

    /// A step in progress over the state.
    pub fn tick(&mut self) -> Tick<'_> {
        Tick::new(&self.town, &mut self.st)
    }
}

/// Agent `id` decides whether to talk to `other`.
pub(super) fn react(t: &mut Tick<'_>, id: AgentId, other: &str, talk: bool) {
    t.apply(
        id,
        Need::React(other.into()),
        Some(ReactReply { talk }.into()),
    );
}

/// Agent `id` decides to talk to `other`: the conversation it starts.
pub(super) fn start_talk(t: &mut Tick<'_>, id: AgentId, other: &str) -> u64 {
    react(t, id, other, true);
    t.agent(id).conversation.expect("a conversation started")
}

/// The state of `town` at `time` on day 1, with its opening memories in `mem`.
fn state(town: &Town, mem: &VecMemory, hour: u32, minute: u32) -> WorldState {
    let start = SimTime::at(1, hour, minute);
    let (mut st, _) = town
        .init(1, start, SimTime::at(2, 0, 0), mem)
        .expect("init");
    st.time = SimTime(start.0 + 10);
    // Everyone wakes at 07:00 and sleeps at 22:00 (a run starts them asleep, and their first
    // perception wakes them).
    for a in &mut st.agents {
        a.asleep = !(7..22).contains(&hour);
    }
    st
}

/// The agent named `name`.
pub(super) fn id(st: &WorldState, name: &str) -> AgentId {
    st.id_of(name).expect("an agent of the fixture")
}

/// Agent `name` has planned today and queued its current block, so it needs nothing for that.
pub(super) fn settled(tick: &mut Tick<'_>, name: &str) {
    let who = id(tick.st, name);
    let minute = tick.minute();
    let (block, _) = tick.block_at(who, minute);
    let day = tick.st.time.day();
    let a = tick.agent_mut(who);
    a.planned_day = day;
    a.block = Some((day, block.start));
}
