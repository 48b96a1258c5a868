//! The town view's state: the event log, a cursor into it, and what the records up to the cursor
//! add up to. Replay moves the cursor (play, step, seek); live appends records as they come.

use std::time::Duration;

use hamlet_core::town::{EventRecord, SimTime, Tile, TownEvent, TownSnapshot};
pub use hamlet_core::town::{Extra, MemoryLine, TalkLine};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::term::{Control, Screen};
use crate::ui::contains;

/// Playback speeds: simulated seconds per real second.
pub const SPEEDS: [u32; 9] = [1, 10, 30, 60, 120, 300, 600, 1800, 3600];
const DEFAULT_SPEED: usize = 3;

/// The state of the town view.
#[derive(Debug, Clone)]
pub struct TownApp {
    pub log: Vec<EventRecord>,
    /// How many records of the log are applied.
    pub cursor: usize,
    pub snap: TownSnapshot,
    pub extra: Extra,
    pub playing: bool,
    pub speed: usize,
    /// Playback position in simulated seconds (replay).
    pub play_clock: f64,
    /// Records arrive from a running simulation: playing follows the newest.
    pub live: bool,
    /// Index of the selected agent (in name order).
    pub selected: usize,
    pub show_help: bool,
    pub size: (u16, u16),
    /// The time being typed after `g`.
    pub seek_input: Option<String>,
    pub status: Option<String>,
}

impl TownApp {
    pub fn new(live: bool) -> Self {
        TownApp {
            log: Vec::new(),
            cursor: 0,
            snap: TownSnapshot::default(),
            extra: Extra::default(),
            playing: true,
            speed: DEFAULT_SPEED,
            play_clock: 0.0,
            live,
            selected: 0,
            show_help: false,
            size: (80, 24),
            seek_input: None,
            status: None,
        }
    }

    /// A replay of a whole log, paused or playing from its start.
    pub fn replay(log: Vec<EventRecord>) -> Self {
        let mut app = TownApp::new(false);
        app.log = log;
        app.seek_index(1);
        app
    }

    /// Agent names in display order.
    pub fn agent_names(&self) -> Vec<&String> {
        self.snap.agents.keys().collect()
    }

    pub fn selected_name(&self) -> Option<&String> {
        self.snap.agents.keys().nth(self.selected)
    }

    fn fold_next(&mut self) {
        if let Some(rec) = self.log.get(self.cursor) {
            self.snap.apply(rec);
            self.extra.fold(rec);
            self.cursor += 1;
            if self.live && matches!(rec.event, TownEvent::Metrics { .. }) {
                self.status = Some("the run has ended · press q to leave".into());
            }
        }
    }

    /// Applies records until `index` of them are applied (rebuilding from the start to go back).
    pub fn seek_index(&mut self, index: usize) {
        let index = index.min(self.log.len());
        if index < self.cursor {
            self.cursor = 0;
            self.snap = TownSnapshot::default();
            self.extra = Extra::default();
        }
        while self.cursor < index {
            self.fold_next();
        }
        self.play_clock = self.snap.time.0 as f64;
        self.clamp_selection();
    }

    /// Shows the town as it was at `time`: every record up to and including it applied.
    pub fn seek_time(&mut self, time: SimTime) {
        let index = self.log.partition_point(|r| r.time <= time).max(1);
        self.seek_index(index);
        self.play_clock = time.0 as f64;
    }

    /// Applies the records of the next simulation step.
    pub fn step(&mut self) {
        let Some(first) = self.log.get(self.cursor) else {
            return;
        };
        let step = first.step;
        while self.log.get(self.cursor).is_some_and(|r| r.step == step) {
            self.fold_next();
        }
        self.play_clock = self.snap.time.0 as f64;
    }

    fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.snap.agents.len().saturating_sub(1));
    }

    fn seek_relative(&mut self, secs: i64) {
        let t = (self.snap.time.0 as i64 + secs).max(0) as u64;
        self.seek_time(SimTime(t));
    }

    fn seek_key(&mut self, key: &KeyEvent) {
        let Some(text) = &mut self.seek_input else {
            return;
        };
        match key.code {
            KeyCode::Enter => {
                let text = std::mem::take(text);
                self.seek_input = None;
                match SimTime::parse(&text) {
                    Ok(t) => {
                        self.seek_time(t);
                        self.status = Some(format!("jumped to {t}"));
                    }
                    Err(e) => self.status = Some(e),
                }
            }
            KeyCode::Esc => self.seek_input = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
    }

    /// Where an agent stands (for tests and the map).
    pub fn tile_of(&self, name: &str) -> Option<Tile> {
        self.snap.agents.get(name).map(|a| a.tile)
    }
}

impl Screen for TownApp {
    type Msg = EventRecord;

    fn apply(&mut self, rec: EventRecord) {
        let at_head = self.cursor == self.log.len();
        self.log.push(rec);
        if self.live && self.playing && at_head {
            self.fold_next();
            self.clamp_selection();
        } else if self.cursor == 0 {
            // The first record (the world) always shows.
            self.fold_next();
        }
    }

    fn key(&mut self, key: &KeyEvent) -> Control {
        if key.kind == KeyEventKind::Release {
            return Control::Continue;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Control::Quit;
        }
        if self.seek_input.is_some() {
            self.seek_key(key);
            return Control::Continue;
        }
        if self.show_help {
            if matches!(
                key.code,
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q')
            ) {
                self.show_help = false;
            }
            return Control::Continue;
        }
        let n = self.snap.agents.len();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Control::Quit,
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Char(' ') | KeyCode::Char('p') => self.playing = !self.playing,
            KeyCode::Char('s') | KeyCode::Char('.') => {
                self.playing = false;
                self.step();
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.speed = (self.speed + 1).min(SPEEDS.len() - 1)
            }
            KeyCode::Char('-') => self.speed = self.speed.saturating_sub(1),
            KeyCode::Char(']') => self.seek_relative(3600),
            KeyCode::Char('[') => self.seek_relative(-3600),
            KeyCode::Home => self.seek_index(1),
            KeyCode::End => self.seek_index(self.log.len()),
            KeyCode::Char('g') => self.seek_input = Some(String::new()),
            KeyCode::Down | KeyCode::Char('j') | KeyCode::Tab if n > 0 => {
                self.selected = (self.selected + 1) % n
            }
            KeyCode::Up | KeyCode::Char('k') | KeyCode::BackTab if n > 0 => {
                self.selected = (self.selected + n - 1) % n
            }
            _ => {}
        }
        Control::Continue
    }

    fn mouse(&mut self, m: &MouseEvent) {
        if m.kind != MouseEventKind::Down(MouseButton::Left) {
            return;
        }
        let area = Rect::new(0, 0, self.size.0, self.size.1);
        let l = crate::town_view::layout(area, &self.snap);
        if contains(l.agents, m.column, m.row) {
            let row = m.row.saturating_sub(l.agents.y + 1) as usize;
            if m.row > l.agents.y && row < self.snap.agents.len() {
                self.selected = row;
            }
        } else if contains(l.map, m.column, m.row) {
            let view = crate::town_view::map_view(l.map, &self.snap, self.selected_name());
            if let Some(tile) = view.tile_at(m.column, m.row) {
                if let Some(i) = self.snap.agents.values().position(|a| a.tile == tile) {
                    self.selected = i;
                }
            }
        }
    }

    fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
    }

    fn tick(&mut self, elapsed: Duration) {
        if !self.playing {
            return;
        }
        if self.live {
            self.seek_index(self.log.len());
            return;
        }
        self.play_clock += elapsed.as_secs_f64() * f64::from(SPEEDS[self.speed]);
        let before = self.cursor;
        while self
            .log
            .get(self.cursor)
            .is_some_and(|r| r.time.0 as f64 <= self.play_clock)
        {
            self.fold_next();
        }
        if self.cursor != before {
            self.clamp_selection();
        }
    }

    fn render(&self, frame: &mut Frame) {
        crate::town_view::render(self, frame);
    }
}
