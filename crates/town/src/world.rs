//! The static world: the tile map, the place tree (town › sector › arena › object) and paths.
//!
//! `worlds/<town>/world.toml` names the map file (an ASCII grid), maps grid characters to arenas
//! (`legend`), lists objects with their arena, tile and starting state, and says where the
//! personas live. `#` is a wall, `.` a street; every other character must be in the legend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hamlet_core::line_of;
use hamlet_core::town::{PlaceInfo, PlaceKind, SimTime, Tile};
use serde::Deserialize;
use toml::Spanned;

use crate::{Error, Result};

/// File name of the world description inside a world directory.
pub const WORLD_FILE: &str = "world.toml";
/// The arena name of street tiles, inside the town's own sector: a world named "Smallville" has
/// its streets at "Smallville:street".
pub const STREET_ARENA: &str = "street";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WorldRaw {
    name: String,
    map: Spanned<String>,
    #[serde(default = "default_agents_dir")]
    agents: Spanned<String>,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    step_secs: Option<Spanned<u32>>,
    #[serde(default)]
    vision: Option<u16>,
    #[serde(default)]
    attention: Option<usize>,
    legend: BTreeMap<String, Spanned<String>>,
    #[serde(default, rename = "object")]
    objects: Vec<ObjectRaw>,
}

fn default_agents_dir() -> Spanned<String> {
    Spanned::new(0..0, "../../agents/town".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ObjectRaw {
    path: Spanned<String>,
    at: Spanned<[u16; 2]>,
    #[serde(default = "idle")]
    state: String,
    /// Words in an action that put the object to use ("cook" for a stove).
    #[serde(default)]
    verbs: Vec<String>,
}

fn idle() -> String {
    "idle".to_string()
}

/// An object in an arena.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// "Sector:arena:object".
    pub path: String,
    pub arena: String,
    pub tile: Tile,
    pub state: String,
    pub verbs: Vec<String>,
}

/// The loaded, validated world.
#[derive(Debug, Clone)]
pub struct World {
    pub name: String,
    pub dir: PathBuf,
    pub agents_dir: PathBuf,
    pub start: SimTime,
    pub step_secs: u32,
    /// Vision radius in tiles (Chebyshev).
    pub vision: u16,
    /// How many perceived things an agent attends to per step.
    pub attention: usize,
    pub width: u16,
    pub height: u16,
    /// The map rows as written.
    pub rows: Vec<String>,
    /// `None`: wall; else the arena path of the tile.
    tiles: Vec<Option<String>>,
    pub legend: BTreeMap<String, String>,
    /// Arena path → its tiles (row-major order).
    pub arenas: BTreeMap<String, Vec<Tile>>,
    pub objects: Vec<Object>,
    /// The arena path of the street tiles (`"<name>:street"`).
    pub street: String,
}

pub(crate) fn spec_err(path: &Path, text: &str, offset: usize, message: String) -> Error {
    Error::Spec {
        file: format!("{}:{}", path.display(), line_of(text, offset)),
        message,
    }
}

/// Parses TOML, turning a syntax or unknown-field error into `file:line: message`.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        Error::Spec {
            file: format!("{}:{line}", path.display()),
            message: e.message().trim().to_string(),
        }
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

impl World {
    /// Loads `DIR/world.toml` and its map, checking everything a run relies on.
    pub fn load(dir: &Path) -> Result<World> {
        let path = dir.join(WORLD_FILE);
        let text = read(&path)?;
        let raw: WorldRaw = parse_toml(&path, &text)?;
        let map_path = dir.join(raw.map.get_ref());
        let map_text = std::fs::read_to_string(&map_path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "not found: put the ASCII grid there or fix `map`".to_string()
                }
                std::io::ErrorKind::InvalidData => {
                    "is not UTF-8 text: save the grid as UTF-8".to_string()
                }
                _ => format!("cannot be read ({e})"),
            };
            spec_err(
                &path,
                &text,
                raw.map.span().start,
                format!("map file {} {why}", map_path.display()),
            )
        })?;
        World::build(dir, &path, &text, raw, &map_path, &map_text)
    }

    /// A world from the text of its `world.toml` and of its map, checked as [`World::load`]
    /// checks files (errors name `DIR/world.toml` and the map file the TOML names), for worlds
    /// made in memory: tests of the step's phases, or a tool that generates towns.
    pub fn from_text(dir: &Path, world_toml: &str, map: &str) -> Result<World> {
        let path = dir.join(WORLD_FILE);
        let raw: WorldRaw = parse_toml(&path, world_toml)?;
        let map_path = dir.join(raw.map.get_ref());
        World::build(dir, &path, world_toml, raw, &map_path, map)
    }

    fn build(
        dir: &Path,
        path: &Path,
        text: &str,
        raw: WorldRaw,
        map_path: &Path,
        map_text: &str,
    ) -> Result<World> {
        let err = |span: std::ops::Range<usize>, msg: String| spec_err(path, text, span.start, msg);

        let mut legend = BTreeMap::new();
        for (ch, arena) in &raw.legend {
            let mut chars = ch.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(err(
                    arena.span(),
                    format!("legend key {ch:?} must be one character"),
                ));
            };
            if c == '#' || c == '.' {
                return Err(err(arena.span(), format!("legend key {c:?} is reserved ('#' wall, '.' street): pick another character")));
            }
            if arena.get_ref().split(':').count() != 2
                || arena.get_ref().split(':').any(|p| p.trim().is_empty())
            {
                return Err(err(arena.span(), format!("legend {c:?} = {:?}: an arena path is \"Sector:arena\", e.g. \"Hobbs Cafe:cafe\"", arena.get_ref())));
            }
            legend.insert(c, arena.get_ref().clone());
        }

        let rows: Vec<String> = map_text
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let width = rows.first().map(|r| r.chars().count()).unwrap_or(0);
        if rows.is_empty() || width == 0 {
            return Err(Error::Spec { file: format!("{}:1", map_path.display()), message: "the map is empty: draw the grid with '#' walls, '.' streets and legend characters".into() });
        }
        if width > u16::MAX as usize || rows.len() > u16::MAX as usize {
            return Err(Error::Spec {
                file: format!("{}:1", map_path.display()),
                message: "the map is too large".into(),
            });
        }
        let street = format!("{}:{STREET_ARENA}", raw.name.trim());
        let mut tiles = Vec::with_capacity(width * rows.len());
        let mut arenas: BTreeMap<String, Vec<Tile>> = BTreeMap::new();
        for (y, row) in rows.iter().enumerate() {
            let n = row.chars().count();
            if n != width {
                return Err(Error::Spec { file: format!("{}:{}", map_path.display(), y + 1), message: format!("bad grid: row is {n} characters wide but the first row is {width}: make every row the same width") });
            }
            for (x, c) in row.chars().enumerate() {
                let t = Tile::new(x as u16, y as u16);
                let arena = match c {
                    '#' => None,
                    '.' => Some(street.clone()),
                    c => match legend.get(&c) {
                        Some(a) => Some(a.clone()),
                        None => return Err(Error::Spec { file: format!("{}:{}", map_path.display(), y + 1), message: format!("bad grid: character {c:?} at column {} is not in the legend of {}: add it to [legend] or use '#' or '.'", x + 1, path.display()) }),
                    },
                };
                if let Some(a) = &arena {
                    arenas.entry(a.clone()).or_default().push(t);
                }
                tiles.push(arena);
            }
        }
        for (c, a) in &legend {
            if !arenas.contains_key(a) {
                let span = raw
                    .legend
                    .get(&c.to_string())
                    .map(|s| s.span())
                    .unwrap_or(0..0);
                return Err(err(
                    span,
                    format!(
                        "arena {a:?} (legend {c:?}) has no tiles on the map: draw it or remove it"
                    ),
                ));
            }
        }

        let mut world = World {
            name: raw.name.clone(),
            dir: dir.to_path_buf(),
            agents_dir: dir.join(raw.agents.get_ref()),
            start: SimTime::at(1, 6, 0),
            step_secs: 10,
            vision: raw.vision.unwrap_or(4),
            attention: raw.attention.unwrap_or(3),
            width: width as u16,
            height: rows.len() as u16,
            rows,
            tiles,
            legend: legend
                .iter()
                .map(|(c, a)| (c.to_string(), a.clone()))
                .collect(),
            arenas,
            objects: Vec::new(),
            street,
        };
        if let Some(s) = &raw.start {
            world.start = SimTime::parse(s.get_ref()).map_err(|m| err(s.span(), m))?;
        }
        if let Some(s) = &raw.step_secs {
            if *s.get_ref() == 0 || *s.get_ref() > 600 {
                return Err(err(
                    s.span(),
                    "step-secs must be between 1 and 600 (10 is Generative Agents' step)".into(),
                ));
            }
            world.step_secs = *s.get_ref();
        }
        for o in &raw.objects {
            let p = o.path.get_ref();
            let parts: Vec<&str> = p.split(':').collect();
            if parts.len() != 3 {
                return Err(err(
                    o.path.span(),
                    format!("object path {p:?} must be \"Sector:arena:object\""),
                ));
            }
            let arena = format!("{}:{}", parts[0], parts[1]);
            if !world.arenas.contains_key(&arena) {
                return Err(err(
                    o.path.span(),
                    format!(
                        "unknown place {arena:?} for object {p:?}: known arenas are {}",
                        world.arena_list()
                    ),
                ));
            }
            let [x, y] = *o.at.get_ref();
            let t = Tile::new(x, y);
            if world.arena_at(t) != Some(arena.as_str()) {
                return Err(err(o.at.span(), format!("object {p:?} at [{x}, {y}] is not inside its arena {arena:?}: pick a tile of that arena")));
            }
            world.objects.push(Object {
                path: p.clone(),
                arena,
                tile: t,
                state: o.state.clone(),
                verbs: o.verbs.clone(),
            });
        }
        Ok(world)
    }

    pub(crate) fn arena_list(&self) -> String {
        self.arenas
            .keys()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The arena of a tile (`None` for walls and off-map).
    pub fn arena_at(&self, t: Tile) -> Option<&str> {
        if t.x >= self.width || t.y >= self.height {
            return None;
        }
        self.tiles[t.y as usize * self.width as usize + t.x as usize].as_deref()
    }

    pub fn walkable(&self, t: Tile) -> bool {
        self.arena_at(t).is_some()
    }

    /// Walkable 4-neighbours, in a fixed order.
    pub fn neighbours(&self, t: Tile) -> Vec<Tile> {
        let mut out = Vec::with_capacity(4);
        if t.y > 0 {
            out.push(Tile::new(t.x, t.y - 1));
        }
        if t.x + 1 < self.width {
            out.push(Tile::new(t.x + 1, t.y));
        }
        if t.y + 1 < self.height {
            out.push(Tile::new(t.x, t.y + 1));
        }
        if t.x > 0 {
            out.push(Tile::new(t.x - 1, t.y));
        }
        out.retain(|n| self.walkable(*n));
        out
    }

    /// A shortest path from `from` to `to` (both ends included), by breadth-first search.
    pub fn path(&self, from: Tile, to: Tile) -> Option<Vec<Tile>> {
        if !self.walkable(from) || !self.walkable(to) {
            return None;
        }
        pathfinding::prelude::bfs(&from, |t| self.neighbours(*t), |t| *t == to)
    }

    /// Whether `to` can be reached from `from`.
    pub fn reachable(&self, from: Tile, to: Tile) -> bool {
        self.path(from, to).is_some()
    }

    /// Resolves a place name to an arena: an arena path as is, a sector to its first arena.
    pub fn resolve_place(&self, place: &str) -> Option<String> {
        if self.arenas.contains_key(place) {
            return Some(place.to_string());
        }
        let prefix = format!("{place}:");
        self.arenas.keys().find(|a| a.starts_with(&prefix)).cloned()
    }

    /// Whether a tile is in `place` (an arena, or any arena of a sector).
    pub fn tile_in(&self, t: Tile, place: &str) -> bool {
        match self.arena_at(t) {
            Some(a) => a == place || a.strip_prefix(place).is_some_and(|r| r.starts_with(':')),
            None => false,
        }
    }

    /// The places as the event log lists them: sectors, arenas (with a centre tile), objects.
    pub fn places(&self) -> Vec<PlaceInfo> {
        let sectors: BTreeSet<&str> = self
            .arenas
            .keys()
            .filter_map(|a| a.split(':').next())
            .collect();
        let mut out: Vec<PlaceInfo> = sectors
            .into_iter()
            .map(|s| PlaceInfo {
                path: s.to_string(),
                kind: PlaceKind::Sector,
                tile: None,
                state: None,
            })
            .collect();
        for (a, tiles) in &self.arenas {
            out.push(PlaceInfo {
                path: a.clone(),
                kind: PlaceKind::Arena,
                tile: tiles.get(tiles.len() / 2).copied(),
                state: None,
            });
        }
        for o in &self.objects {
            out.push(PlaceInfo {
                path: o.path.clone(),
                kind: PlaceKind::Object,
                tile: Some(o.tile),
                state: Some(o.state.clone()),
            });
        }
        out
    }
}
