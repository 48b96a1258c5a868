//! Drawing the town view: a pure function of [`TownApp`].

use hamlet_core::town::{PlanItem, SimTime, Tile, TownSnapshot};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::town::{TownApp, SPEEDS};
use crate::ui::{agent_color, clip};

#[derive(Debug, Clone, Copy)]
pub(crate) struct TownLayout {
    pub title: Rect,
    pub map: Rect,
    pub agents: Rect,
    pub detail: Rect,
    pub talk: Rect,
    pub events: Rect,
    pub footer: Rect,
}

pub(crate) fn layout(area: Rect, snap: &TownSnapshot) -> TownLayout {
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(area);
    let map_h = snap.map.len() as u16 + 2;
    let upper_h = map_h.clamp(6.min(body.height), (body.height * 55 / 100).max(6));
    let [upper, lower] =
        Layout::vertical([Constraint::Length(upper_h), Constraint::Min(3)]).areas(body);
    let list_w = (area.width * 2 / 5).clamp(24.min(area.width), 44);
    let [map, agents] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(list_w)]).areas(upper);
    let [detail, talk, events] = Layout::horizontal([
        Constraint::Percentage(40),
        Constraint::Percentage(30),
        Constraint::Percentage(30),
    ])
    .areas(lower);
    TownLayout {
        title,
        map,
        agents,
        detail,
        talk,
        events,
        footer,
    }
}

/// Which part of the map shows in a pane, and how wide a tile is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapView {
    inner: Rect,
    ox: u16,
    oy: u16,
    cell_w: u16,
}

impl MapView {
    /// The tile under a screen cell.
    pub(crate) fn tile_at(&self, col: u16, row: u16) -> Option<Tile> {
        if !crate::ui::contains(self.inner, col, row) {
            return None;
        }
        Some(Tile::new(
            self.ox + (col - self.inner.x) / self.cell_w,
            self.oy + (row - self.inner.y),
        ))
    }
}

/// Tiles are two cells wide when the map fits that way (room for initials), else one; a map
/// larger than the pane scrolls to keep the selected agent in view.
pub(crate) fn map_view(area: Rect, snap: &TownSnapshot, selected: Option<&String>) -> MapView {
    let inner = Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    );
    let map_w = snap
        .map
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0) as u16;
    let map_h = snap.map.len() as u16;
    let cell_w = if map_w * 2 <= inner.width { 2 } else { 1 };
    let vis_w = inner.width / cell_w;
    let vis_h = inner.height;
    let focus = selected
        .and_then(|n| snap.agents.get(n))
        .map(|a| a.tile)
        .unwrap_or_default();
    let origin = |f: u16, vis: u16, total: u16| {
        if total <= vis {
            0
        } else {
            f.saturating_sub(vis / 2).min(total - vis)
        }
    };
    MapView {
        inner,
        ox: origin(focus.x, vis_w, map_w),
        oy: origin(focus.y, vis_h, map_h),
        cell_w,
    }
}

fn tile_style(c: char) -> Style {
    match c {
        '#' => Style::default().fg(Color::DarkGray),
        '.' | ' ' => Style::default().fg(Color::Rgb(90, 90, 90)),
        _ => Style::default().fg(Color::Gray),
    }
}

fn draw_map(app: &TownApp, buf: &mut Buffer, area: Rect) {
    let snap = &app.snap;
    let view = map_view(area, snap, app.selected_name());
    let inner = view.inner;
    for (dy, row) in snap
        .map
        .iter()
        .skip(view.oy as usize)
        .take(inner.height as usize)
        .enumerate()
    {
        for (dx, c) in row
            .chars()
            .skip(view.ox as usize)
            .take((inner.width / view.cell_w) as usize)
            .enumerate()
        {
            let x = inner.x + dx as u16 * view.cell_w;
            let y = inner.y + dy as u16;
            let s: String = if view.cell_w == 2 {
                if c == '#' {
                    "##".into()
                } else {
                    format!("{c} ")
                }
            } else {
                c.to_string()
            };
            buf.set_string(x, y, s, tile_style(c));
        }
    }
    let selected = app.selected_name();
    for (i, (name, a)) in snap.agents.iter().enumerate() {
        if a.tile.x < view.ox || a.tile.y < view.oy {
            continue;
        }
        let (dx, dy) = (a.tile.x - view.ox, a.tile.y - view.oy);
        if dx >= inner.width / view.cell_w || dy >= inner.height {
            continue;
        }
        let mut label: String = a.initials.chars().take(view.cell_w as usize).collect();
        while label.chars().count() < view.cell_w as usize {
            label.push(' ');
        }
        let mut style = Style::default()
            .fg(Color::Black)
            .bg(agent_color(i))
            .add_modifier(Modifier::BOLD);
        if Some(name) == selected {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        buf.set_string(inner.x + dx * view.cell_w, inner.y + dy, label, style);
    }
}

fn plan_lines(items: &[PlanItem], now: SimTime, width: usize, max: usize) -> Vec<Line<'static>> {
    // The item running now, and the ones after it.
    let current = items.iter().rposition(|p| p.start <= now).unwrap_or(0);
    items
        .iter()
        .enumerate()
        .skip(current)
        .take(max)
        .map(|(i, p)| {
            let mark = if i == current { "›" } else { " " };
            let line = clip(
                &format!("{mark}{} {}", p.start.clock(), p.description),
                width,
            );
            if i == current {
                Line::from(Span::styled(
                    line,
                    Style::default().add_modifier(Modifier::BOLD),
                ))
            } else {
                Line::from(line)
            }
        })
        .collect()
}

fn detail_lines(app: &TownApp, width: usize) -> Vec<Line<'static>> {
    let Some(name) = app.selected_name() else {
        return vec![Line::from("no agents")];
    };
    let Some(a) = app.snap.agents.get(name) else {
        return Vec::new();
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let head = |s: &str| Line::from(Span::styled(s.to_string(), bold));
    let mut lines = vec![
        Line::from(vec![
            Span::styled(name.clone(), bold.fg(agent_color(app.selected))),
            Span::raw(clip(
                &format!(" · {} · {}", a.occupation, a.place),
                width.saturating_sub(name.len()),
            )),
        ]),
        Line::from(clip(
            &format!(
                "now: {}",
                if a.action.is_empty() {
                    "—"
                } else {
                    &a.action
                }
            ),
            width,
        )),
    ];
    if let Some(day) = app.extra.day_plan.get(name).filter(|d| !d.is_empty()) {
        let text: Vec<&str> = day.iter().map(|p| p.description.as_str()).collect();
        lines.push(Line::from(clip(
            &format!("day: {}", text.join("; ")),
            width,
        )));
    }
    if !a.plan.is_empty() {
        lines.push(head("plan"));
        lines.extend(plan_lines(&a.plan, app.snap.time, width, 3));
    }
    if let Some(now) = app.extra.now_plan.get(name) {
        // The 5–15 minute action running now (the last one started).
        if let Some(p) = now.iter().rev().find(|p| p.start <= app.snap.time) {
            lines.push(Line::from(clip(
                &format!("  ↳ {} {}", p.start.clock(), p.description),
                width,
            )));
        }
    }
    if let Some(mems) = app.extra.memories.get(name) {
        lines.push(head("memories"));
        for m in mems.iter().rev().take(4) {
            lines.push(Line::from(clip(
                &format!("[{:>2}] {}", m.importance, m.text),
                width,
            )));
        }
    }
    if let Some(r) = app.extra.reflection(name) {
        lines.push(head(&format!("reflection {}", r.time.clock())));
        for i in r.insights.iter().take(2) {
            lines.push(Line::from(clip(&format!("• {i}"), width)));
        }
    }
    if !a.knows.is_empty() {
        lines.push(Line::from(clip(
            &format!("knows: {}", a.knows.join(", ")),
            width,
        )));
    }
    lines
}

fn talk_lines(app: &TownApp, width: usize, height: usize) -> Vec<Line<'static>> {
    // The selected agent's open conversation when there is one, else everybody's.
    let conv = app
        .selected_name()
        .and_then(|n| app.snap.agents.get(n))
        .and_then(|a| a.conversation);
    let names: Vec<&String> = app.agent_names();
    let color = |who: &str| {
        names
            .iter()
            .position(|n| n.as_str() == who)
            .map(agent_color)
            .unwrap_or(Color::White)
    };
    let lines: Vec<Line> = app
        .extra
        .talk
        .iter()
        .filter(|t| conv.is_none_or(|c| t.conversation == c))
        .map(|t| {
            Line::from(vec![
                Span::styled(
                    format!("{}: ", t.speaker),
                    Style::default().fg(color(&t.speaker)),
                ),
                Span::raw(clip(
                    &t.text,
                    width.saturating_sub(t.speaker.chars().count() + 2),
                )),
            ])
        })
        .collect();
    let skip = lines.len().saturating_sub(height);
    lines.into_iter().skip(skip).collect()
}

fn event_lines(app: &TownApp, width: usize, height: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let total = app.snap.agents.len();
    for topic in &app.extra.topics {
        let n = app
            .snap
            .agents
            .values()
            .filter(|a| a.knows.contains(topic))
            .count();
        lines.push(Line::from(Span::styled(
            clip(&format!("{topic}: {n}/{total} know"), width),
            Style::default().fg(Color::Cyan),
        )));
    }
    for (name, passed, detail) in &app.snap.checks {
        let (mark, color) = if *passed {
            ("✓", Color::Green)
        } else {
            ("✗", Color::Red)
        };
        lines.push(Line::from(vec![
            Span::styled(mark, Style::default().fg(color)),
            Span::raw(clip(&format!(" {name}: {detail}"), width.saturating_sub(1))),
        ]));
    }
    let room = height.saturating_sub(lines.len());
    let skip = app.extra.events.len().saturating_sub(room);
    for (t, e) in app.extra.events.iter().skip(skip) {
        lines.push(Line::from(clip(&format!("{} {e}", t.clock()), width)));
    }
    lines
}

fn title_line(app: &TownApp) -> Line<'static> {
    let s = &app.snap;
    let play = if app.playing { "▶" } else { "⏸" };
    let mode = if app.live {
        "live".to_string()
    } else {
        format!("{}×", SPEEDS[app.speed])
    };
    let scenario = s
        .scenario
        .as_deref()
        .map(|x| format!(" · {x}"))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled(
            " hamlet ",
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(format!(" {}{scenario} · ", s.world)),
        Span::styled(
            s.time.to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " · step {} · {play} {mode} · {}/{} · calls {}",
            s.step,
            app.cursor,
            app.log.len(),
            s.model_calls
        )),
    ])
}

fn block(title: &str) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

/// Draws the whole town view.
pub(crate) fn render(app: &TownApp, frame: &mut Frame) {
    let area = frame.area();
    let l = layout(area, &app.snap);
    frame.render_widget(Paragraph::new(title_line(app)), l.title);

    frame.render_widget(block("Map"), l.map);
    draw_map(app, frame.buffer_mut(), l.map);

    let w = l.agents.width.saturating_sub(2) as usize;
    let agent_rows: Vec<Line> = app
        .snap
        .agents
        .iter()
        .enumerate()
        .map(|(i, (name, a))| {
            let talk = if a.conversation.is_some() { "»" } else { " " };
            // First names keep the column narrow; the detail pane has the full name.
            let first = name.split_whitespace().next().unwrap_or(name);
            let text = clip(
                &format!(" {first:<8} {talk}{} @ {}", a.action, a.place),
                w.saturating_sub(2),
            );
            let mut style = Style::default();
            if i == app.selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Line::from(vec![
                Span::styled(
                    a.initials.chars().take(2).collect::<String>(),
                    Style::default().fg(Color::Black).bg(agent_color(i)),
                ),
                Span::styled(text, style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(agent_rows).block(block("Agents")), l.agents);

    let dw = l.detail.width.saturating_sub(2) as usize;
    frame.render_widget(
        Paragraph::new(detail_lines(app, dw)).block(block(
            app.selected_name().map(String::as_str).unwrap_or("Agent"),
        )),
        l.detail,
    );
    let (tw, th) = (
        l.talk.width.saturating_sub(2) as usize,
        l.talk.height.saturating_sub(2) as usize,
    );
    frame.render_widget(
        Paragraph::new(talk_lines(app, tw, th))
            .wrap(Wrap { trim: true })
            .block(block("Talk")),
        l.talk,
    );
    let (ew, eh) = (
        l.events.width.saturating_sub(2) as usize,
        l.events.height.saturating_sub(2) as usize,
    );
    frame.render_widget(
        Paragraph::new(event_lines(app, ew, eh)).block(block("Events")),
        l.events,
    );

    let footer = match (&app.seek_input, &app.status) {
        (Some(text), _) => format!("go to (day N HH:MM): {text}▏"),
        (None, Some(s)) => s.clone(),
        (None, None) => {
            "space play/pause  s step  +/- speed  [ ] hour  g go to  ↑↓ agent  ? help  q quit"
                .into()
        }
    };
    frame.render_widget(
        Paragraph::new(clip(&footer, area.width as usize))
            .style(Style::default().fg(Color::DarkGray)),
        l.footer,
    );
    if app.show_help {
        crate::help::render(frame, area, crate::help::TOWN_KEYS);
    }
}
