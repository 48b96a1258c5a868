//! The keyboard help overlay (`?`).

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::centered;

/// Keys of the agent-run view.
pub const AGENT_KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "select a step"),
    ("PgUp/PgDn", "scroll the detail"),
    ("Home/End", "first / last step"),
    ("f", "follow new steps"),
    ("click", "select a step"),
    ("y a n q", "approve: yes, all, no (+ feedback), quit"),
    ("?", "this help"),
    ("q / Ctrl-C", "quit"),
];

/// Keys of the town view.
pub const TOWN_KEYS: &[(&str, &str)] = &[
    ("space", "play / pause"),
    ("s / .", "one step (paused)"),
    ("+ / -", "faster / slower"),
    ("[ / ]", "back / forward one hour"),
    ("Home/End", "start / end of the log"),
    ("g", "go to a time (day 1 12:00)"),
    ("↑/↓ j/k Tab", "select an agent"),
    ("click", "select an agent (list or map)"),
    ("?", "this help"),
    ("q / Ctrl-C", "quit"),
];

/// Draws the help box over whatever is on screen.
pub fn render(frame: &mut Frame, area: Rect, keys: &[(&str, &str)]) {
    let key_w = keys
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let text_w = keys
        .iter()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(0);
    let w = (key_w + text_w + 6) as u16;
    let h = keys.len() as u16 + 4;
    let rect = centered(area, w, h);
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<key_w$}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw("  "),
                Span::raw(*d),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from("press ? or Esc to close"));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        rect,
    );
}
