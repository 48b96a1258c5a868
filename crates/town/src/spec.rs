//! Personas (`agents/town/*.toml`) and scenarios (`worlds/<town>/scenarios/*.toml`), validated
//! against a loaded [`World`] with errors that name the file, the line and the fix.

use std::collections::BTreeMap;
use std::path::Path;

use hamlet_core::town::{parse_clock, SimTime};
use serde::Deserialize;
use toml::Spanned;

use crate::world::{parse_toml, read, spec_err, World};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PersonaRaw {
    name: String,
    age: u32,
    #[serde(default)]
    traits: Vec<String>,
    occupation: String,
    #[serde(default)]
    description: String,
    home: Spanned<String>,
    #[serde(default)]
    spawn: Option<Spanned<[u16; 2]>>,
    wake: Spanned<String>,
    sleep: Spanned<String>,
    #[serde(default)]
    relationships: BTreeMap<String, String>,
    #[serde(default)]
    routine: Vec<RoutineRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RoutineRaw {
    at: Spanned<String>,
    place: Spanned<String>,
    activity: String,
}

/// One entry of a daily routine (or of a planned schedule).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Block {
    /// Minutes since midnight.
    pub start: u32,
    /// Arena path.
    pub place: String,
    pub activity: String,
}

/// A validated persona.
#[derive(Debug, Clone)]
pub struct Persona {
    pub name: String,
    pub age: u32,
    pub traits: Vec<String>,
    pub occupation: String,
    pub description: String,
    /// Home arena path.
    pub home: String,
    pub spawn: hamlet_core::town::Tile,
    /// Minutes since midnight.
    pub wake: u32,
    pub sleep: u32,
    pub relationships: BTreeMap<String, String>,
    /// Sorted by start.
    pub routine: Vec<Block>,
    pub file: String,
}

impl Persona {
    pub fn initials(&self) -> String {
        let mut s: String = self
            .name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .collect();
        if s.chars().count() < 2 {
            s = self.name.chars().take(2).collect();
        }
        s.to_uppercase()
    }

    /// Loads one persona file and checks its places and times against the world.
    pub fn load(path: &Path, world: &World) -> Result<Persona> {
        Persona::from_text(path, &read(path)?, world)
    }

    /// A persona from the text of its file (`path` names it in errors), checked as
    /// [`Persona::load`] checks a file.
    pub fn from_text(path: &Path, text: &str, world: &World) -> Result<Persona> {
        let raw: PersonaRaw = parse_toml(path, text)?;
        let err = |span: std::ops::Range<usize>, msg: String| spec_err(path, text, span.start, msg);
        let time = |s: &Spanned<String>, field: &str| {
            parse_clock(s.get_ref()).ok_or_else(|| err(s.span(), format!("malformed time {:?} in `{field}`: write it as \"HH:MM\" (24-hour), e.g. \"07:30\"", s.get_ref())))
        };
        let place = |s: &Spanned<String>| {
            world.resolve_place(s.get_ref()).ok_or_else(|| err(s.span(), format!("unknown place {:?}: use an arena path (\"Sector:arena\") or a sector of {}; known arenas: {}", s.get_ref(), world.name, world.arena_list())))
        };
        let home = place(&raw.home)?;
        let wake = time(&raw.wake, "wake")?;
        let sleep = time(&raw.sleep, "sleep")?;
        let spawn = match &raw.spawn {
            Some(s) => {
                let [x, y] = *s.get_ref();
                let t = hamlet_core::town::Tile::new(x, y);
                if !world.walkable(t) {
                    return Err(err(
                        s.span(),
                        format!("spawn [{x}, {y}] is a wall or off the map: pick a walkable tile"),
                    ));
                }
                t
            }
            None => world
                .arenas
                .get(&home)
                .and_then(|t| t.first().copied())
                .unwrap_or_default(),
        };
        let mut routine = Vec::new();
        for r in &raw.routine {
            let p = place(&r.place)?;
            let target = world
                .arenas
                .get(&p)
                .and_then(|t| t.first().copied())
                .unwrap_or_default();
            if !world.reachable(spawn, target) {
                return Err(err(r.place.span(), format!("unreachable place {p:?} from the spawn of {}: connect it to the streets on the map", raw.name)));
            }
            routine.push(Block {
                start: time(&r.at, "routine.at")?,
                place: p,
                activity: r.activity.clone(),
            });
        }
        routine.sort_by_key(|b| b.start);
        // Spawn must reach the streets (every routine place is checked above; the street is the
        // hub every world connects through).
        if let Some(street) = world.arenas.get(&world.street).and_then(|t| t.first()) {
            if !world.reachable(spawn, *street) {
                let span = raw
                    .spawn
                    .as_ref()
                    .map(|s| s.span())
                    .unwrap_or(raw.home.span());
                return Err(err(span, format!("unreachable spawn for {}: no path from it to the street; open a door ('.' or an arena tile) in the wall", raw.name)));
            }
        }
        Ok(Persona {
            name: raw.name,
            age: raw.age,
            traits: raw.traits,
            occupation: raw.occupation,
            description: raw.description,
            home,
            spawn,
            wake,
            sleep,
            relationships: raw.relationships,
            routine,
            file: path.display().to_string(),
        })
    }

    /// All `*.toml` personas of a directory, sorted by file name.
    pub fn load_dir(dir: &Path, world: &World) -> Result<Vec<Persona>> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("reading persona directory {}", dir.display()), e))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let personas = files
            .iter()
            .map(|f| Persona::load(f, world))
            .collect::<Result<Vec<_>>>()?;
        for (i, p) in personas.iter().enumerate() {
            if personas[..i].iter().any(|q| q.name == p.name) {
                return Err(Error::Spec {
                    file: p.file.clone(),
                    message: format!("two personas are named {:?}: names must be unique", p.name),
                });
            }
        }
        Ok(personas)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ScenarioRaw {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    until: Option<Spanned<String>>,
    #[serde(default)]
    agents: Vec<Spanned<String>>,
    #[serde(default, rename = "topic")]
    topics: Vec<Topic>,
    #[serde(default, rename = "knowledge")]
    knowledge: Vec<KnowledgeRaw>,
    #[serde(default, rename = "event")]
    events: Vec<EventRaw>,
    #[serde(default, rename = "gathering")]
    gatherings: Vec<GatheringRaw>,
    #[serde(default, rename = "check")]
    checks: Vec<CheckRaw>,
}

/// A piece of news whose spread is measured: an agent knows it once it is seeded with it or hears
/// an utterance containing one of the keywords from someone who knows it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Topic {
    pub name: String,
    pub keywords: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KnowledgeRaw {
    agent: Spanned<String>,
    text: String,
    #[serde(default)]
    topic: Option<Spanned<String>>,
    #[serde(default = "eight")]
    importance: u8,
}

fn eight() -> u8 {
    8
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EventRaw {
    at: Spanned<String>,
    description: String,
    #[serde(default)]
    agents: Vec<Spanned<String>>,
    #[serde(default)]
    place: Option<Spanned<String>>,
    #[serde(default)]
    topic: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GatheringRaw {
    name: String,
    place: Spanned<String>,
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CheckRaw {
    name: String,
    #[serde(default)]
    topic: Option<Spanned<String>>,
    #[serde(default)]
    gathering: Option<Spanned<String>>,
    at_least: usize,
    #[serde(default)]
    by: Option<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<String>,
}

/// Starting knowledge.
#[derive(Debug, Clone)]
pub struct Knowledge {
    pub agent: String,
    pub text: String,
    pub topic: Option<String>,
    pub importance: u8,
}

/// An event injected at a time.
#[derive(Debug, Clone)]
pub struct Injected {
    pub at: SimTime,
    pub description: String,
    pub agents: Vec<String>,
    pub place: Option<String>,
    pub topic: Option<String>,
}

/// A planned gathering whose attendance is measured.
#[derive(Debug, Clone)]
pub struct Gathering {
    pub name: String,
    pub place: String,
    pub from: SimTime,
    pub to: SimTime,
}

/// What a check asks.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// At least `at_least` agents (not in `exclude`) know `topic` by `by`.
    Knows {
        topic: String,
        by: Option<SimTime>,
        exclude: Vec<String>,
    },
    /// At least `at_least` agents came to the gathering.
    Attends { gathering: String },
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    pub at_least: usize,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub start: Option<SimTime>,
    pub until: Option<SimTime>,
    /// Agents the scenario needs (always part of the run).
    pub agents: Vec<String>,
    pub topics: Vec<Topic>,
    pub knowledge: Vec<Knowledge>,
    pub events: Vec<Injected>,
    pub gatherings: Vec<Gathering>,
    pub checks: Vec<Check>,
}

impl Scenario {
    /// `WORLD/scenarios/NAME.toml`, or a path to a scenario file.
    pub fn find(world: &World, name: &str) -> std::path::PathBuf {
        let p = Path::new(name);
        if p.extension().is_some_and(|x| x == "toml") {
            p.to_path_buf()
        } else {
            world.dir.join("scenarios").join(format!("{name}.toml"))
        }
    }

    pub fn load(path: &Path, world: &World, personas: &[Persona]) -> Result<Scenario> {
        Scenario::from_text(path, &read(path)?, world, personas)
    }

    /// A scenario from the text of its file (`path` names it in errors), checked as
    /// [`Scenario::load`] checks a file.
    pub fn from_text(
        path: &Path,
        text: &str,
        world: &World,
        personas: &[Persona],
    ) -> Result<Scenario> {
        let raw: ScenarioRaw = parse_toml(path, text)?;
        let err = |span: std::ops::Range<usize>, msg: String| spec_err(path, text, span.start, msg);
        let time = |s: &Spanned<String>| {
            SimTime::parse(s.get_ref()).map_err(|m| err(s.span(), format!("{m}: fix this time")))
        };
        let agent = |s: &Spanned<String>| {
            if personas.iter().any(|p| &p.name == s.get_ref()) {
                Ok(s.get_ref().clone())
            } else {
                let names: Vec<_> = personas.iter().map(|p| p.name.as_str()).collect();
                Err(err(
                    s.span(),
                    format!(
                        "unknown agent {:?}: personas are {}",
                        s.get_ref(),
                        names.join(", ")
                    ),
                ))
            }
        };
        let topic_names: Vec<&str> = raw.topics.iter().map(|t| t.name.as_str()).collect();
        let topic = |s: &Option<Spanned<String>>| -> Result<Option<String>> {
            match s {
                None => Ok(None),
                Some(s) if topic_names.contains(&s.get_ref().as_str()) => {
                    Ok(Some(s.get_ref().clone()))
                }
                Some(s) => Err(err(
                    s.span(),
                    format!(
                        "unknown topic {:?}: declare it in a [[topic]] table (known: {})",
                        s.get_ref(),
                        topic_names.join(", ")
                    ),
                )),
            }
        };
        let place = |s: &Spanned<String>| {
            let known = world.resolve_place(s.get_ref()).is_some();
            if known {
                Ok(s.get_ref().clone())
            } else {
                Err(err(s.span(), format!("unknown place {:?}: use a sector or \"Sector:arena\" of the world; known arenas: {}", s.get_ref(), world.arena_list())))
            }
        };
        for t in &raw.topics {
            if t.keywords.iter().all(|k| k.trim().is_empty()) {
                return Err(Error::Spec { file: path.display().to_string(), message: format!("topic {:?} has no keywords: diffusion is detected by keywords in utterances", t.name) });
            }
        }
        let mut sc = Scenario {
            name: raw.name.clone(),
            description: raw.description.clone(),
            start: raw.start.as_ref().map(time).transpose()?,
            until: raw.until.as_ref().map(time).transpose()?,
            agents: raw.agents.iter().map(agent).collect::<Result<_>>()?,
            topics: raw.topics.clone(),
            knowledge: Vec::new(),
            events: Vec::new(),
            gatherings: Vec::new(),
            checks: Vec::new(),
        };
        for k in &raw.knowledge {
            sc.knowledge.push(Knowledge {
                agent: agent(&k.agent)?,
                text: k.text.clone(),
                topic: topic(&k.topic)?,
                importance: k.importance.clamp(1, 10),
            });
        }
        for e in &raw.events {
            sc.events.push(Injected {
                at: time(&e.at)?,
                description: e.description.clone(),
                agents: e.agents.iter().map(agent).collect::<Result<_>>()?,
                place: e.place.as_ref().map(place).transpose()?,
                topic: topic(&e.topic)?,
            });
        }
        sc.events.sort_by_key(|e| e.at);
        for g in &raw.gatherings {
            let (from, to) = (time(&g.from)?, time(&g.to)?);
            if to <= from {
                return Err(err(
                    g.to.span(),
                    format!(
                        "gathering {:?} ends before it starts: `to` must be after `from`",
                        g.name
                    ),
                ));
            }
            sc.gatherings.push(Gathering {
                name: g.name.clone(),
                place: place(&g.place)?,
                from,
                to,
            });
        }
        for c in &raw.checks {
            let kind = match (&c.topic, &c.gathering) {
                (Some(_), None) => CheckKind::Knows {
                    topic: topic(&c.topic)?.unwrap_or_default(),
                    by: c.by.as_ref().map(time).transpose()?,
                    exclude: c.exclude.clone(),
                },
                (None, Some(g)) => {
                    if !sc.gatherings.iter().any(|x| &x.name == g.get_ref()) {
                        return Err(err(
                            g.span(),
                            format!(
                                "unknown gathering {:?}: declare it in a [[gathering]] table",
                                g.get_ref()
                            ),
                        ));
                    }
                    CheckKind::Attends {
                        gathering: g.get_ref().clone(),
                    }
                }
                _ => {
                    return Err(Error::Spec {
                        file: path.display().to_string(),
                        message: format!(
                            "check {:?}: give exactly one of `topic` or `gathering`",
                            c.name
                        ),
                    })
                }
            };
            sc.checks.push(Check {
                name: c.name.clone(),
                kind,
                at_least: c.at_least,
            });
        }
        Ok(sc)
    }
}
