//! Drawing the agent-run view: a pure function of [`AgentApp`].

use hamlet_core::trace::{ObservationStatus, StopReason};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, Paragraph, Wrap};
use ratatui::Frame;

use hamlet_core::trace::{ChildView, Row, RunEnd};

use crate::agent::{AgentApp, Entry};
use crate::ui::{centered, clip, list_offset, thousands};

/// Where each pane goes for a terminal area.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentLayout {
    pub title: Rect,
    pub goal: Rect,
    pub plan: Rect,
    pub list: Rect,
    pub detail: Rect,
    pub footer: Rect,
}

pub(crate) fn layout(area: Rect) -> AgentLayout {
    let plan_h = if area.height >= 30 { 6 } else { 4 };
    let [title, goal, plan, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(plan_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let list_w = (area.width * 3 / 10).clamp(20.min(area.width), 40);
    let [list, detail] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(10)]).areas(main);
    AgentLayout {
        title,
        goal,
        plan,
        list,
        detail,
        footer,
    }
}

fn status_mark(s: ObservationStatus) -> (&'static str, Color) {
    match s {
        ObservationStatus::Ok => ("✓", Color::Green),
        ObservationStatus::ToolError => ("✗", Color::Red),
        ObservationStatus::Refused => ("⊘", Color::Yellow),
        ObservationStatus::Declined => ("⊘", Color::Yellow),
        ObservationStatus::Invalid => ("?", Color::Red),
    }
}

fn status_word(s: ObservationStatus) -> &'static str {
    match s {
        ObservationStatus::Ok => "ok",
        ObservationStatus::ToolError => "tool error",
        ObservationStatus::Refused => "refused",
        ObservationStatus::Declined => "declined",
        ObservationStatus::Invalid => "invalid reply",
    }
}

fn reason_word(r: StopReason) -> &'static str {
    match r {
        StopReason::Finished => "finished",
        StopReason::MaxSteps => "step budget spent",
        StopReason::MaxTokens => "token budget spent",
        StopReason::WallTime => "time budget spent",
        StopReason::Loop => "stopped: loop",
        StopReason::Stuck => "stopped: stuck",
        StopReason::Interrupted => "interrupted",
        StopReason::BackendError => "backend error",
    }
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn title_line(app: &AgentApp) -> Line<'static> {
    let u = app.usage();
    let (agent, model) = app
        .run
        .start
        .as_ref()
        .map(|s| (s.agent.clone(), s.model.clone()))
        .unwrap_or_else(|| ("…".into(), "…".into()));
    let steps = match app.budget.max_steps {
        Some(m) => format!("step {}/{m}", app.steps()),
        None => format!("step {}", app.steps()),
    };
    let tokens = match app.budget.max_tokens {
        Some(m) if m > 0 => format!(
            "tokens {}/{} ({}%)",
            thousands(u.total_tokens()),
            thousands(m),
            u.total_tokens() * 100 / m
        ),
        _ => format!("tokens {}", thousands(u.total_tokens())),
    };
    let state = match (&app.run.end, app.live) {
        (Some(e), _) => reason_word(e.reason).to_string(),
        (None, true) if app.pending.is_some() => "waiting for you".into(),
        (None, true) => "running".into(),
        (None, false) => "replay (no end)".into(),
    };
    // Most important first: a narrow terminal cuts the model name, not the state.
    Line::from(vec![
        Span::styled(
            " hamlet ",
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(" "),
        Span::styled(state, bold()),
        Span::raw(format!(" · {agent} · {steps} · {tokens} · {model}")),
    ])
}

/// One row of the list; a sub-agent's rows are indented under the step that started it.
fn row_item(depth: usize, row: Row<'_>, width: usize) -> ListItem<'static> {
    let indent = "  ".repeat(depth);
    let width = width.saturating_sub(indent.len());
    let styled = |text: String, style| vec![Span::styled(clip(&text, width), style)];
    let mut spans = match row {
        Row::End(end) => styled(format!("  ■ {}", reason_word(end.reason)), bold()),
        Row::Entry(Entry::Child(c)) => styled(
            format!("  ↳ {}: {}", c.child.agent, c.child.goal),
            Style::default().fg(Color::Cyan),
        ),
        Row::Entry(Entry::Reflect(r)) => styled(
            format!("  ↻ reflect: {}", r.reason),
            Style::default().fg(Color::Magenta),
        ),
        Row::Entry(Entry::Step(s)) => {
            let (mark, color) = status_mark(s.observation.status);
            let what = match &s.action {
                Some(a) => format!("{} {}", a.tool, a.args),
                None => "(invalid reply)".into(),
            };
            let head = format!("{:>3} ", s.step);
            let rest = clip(&what, width.saturating_sub(head.chars().count() + 2));
            vec![
                Span::raw(head),
                Span::styled(mark, Style::default().fg(color)),
                Span::raw(format!(" {rest}")),
            ]
        }
    };
    spans.insert(0, Span::raw(indent));
    ListItem::new(Line::from(spans))
}

/// What a sub-agent was given, and how far it got.
fn child_lines(c: &ChildView) -> Vec<Line<'static>> {
    let k = &c.child;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Sub-agent: ", bold()),
            Span::raw(format!("{} (started by step {})", k.agent, c.step)),
        ]),
        Line::from(vec![
            Span::styled("Goal: ", bold()),
            Span::raw(k.goal.clone()),
        ]),
        Line::from(format!("run {} · workspace {}/", k.run_dir, k.workspace)),
        Line::from(format!(
            "budget: {} steps · {} tokens · {} s",
            k.max_steps,
            thousands(k.max_tokens),
            k.max_wall_secs
        )),
    ];
    let progress = match &c.run.end {
        Some(RunEnd { reason, step, .. }) => {
            format!("ended ({}) after {step} steps", reason_word(*reason))
        }
        None => format!("running: {} steps so far", c.run.steps()),
    };
    lines.push(Line::from(progress));
    lines
}

fn detail_lines(app: &AgentApp) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let label = |l: &str, text: &str| -> Line<'static> {
        Line::from(vec![
            Span::styled(format!("{l}: "), bold()),
            Span::raw(text.to_string()),
        ])
    };
    let rows = app.run.rows();
    let row = match rows.get(app.selected) {
        Some((_, row)) => Some(*row),
        None => app.run.end.as_ref().map(Row::End),
    };
    match row {
        Some(Row::Entry(Entry::Step(s))) => {
            let u = s.usage;
            lines.push(Line::from(Span::styled(
                format!(
                    "step {} · {} · {}+{} tokens ({} cached) · model {:.1} s · tool {:.1} s",
                    s.step,
                    status_word(s.observation.status),
                    u.tokens.prompt_tokens,
                    u.tokens.completion_tokens,
                    u.tokens.cached_tokens,
                    u.model_ms / 1e3,
                    u.tool_ms / 1e3
                ),
                Style::default().fg(Color::DarkGray),
            )));
            match &s.action {
                Some(a) => {
                    for (l, t) in a.thoughts.labelled() {
                        lines.push(label(l, t));
                    }
                    lines.push(label("Action", &format!("{} {}", a.tool, a.args)));
                }
                None => lines.push(label("Reply", &s.raw)),
            }
            lines.push(label(
                &format!("Observation ({})", status_word(s.observation.status)),
                "",
            ));
            lines.extend(
                s.observation
                    .text
                    .lines()
                    .map(|l| Line::from(format!("  {l}"))),
            );
        }
        Some(Row::Entry(Entry::Child(c))) => lines.extend(child_lines(c)),
        Some(Row::Entry(Entry::Reflect(r))) => {
            lines.push(label("Reflection after step", &r.step.to_string()));
            lines.push(label("Why", &r.reason));
            lines.push(label("Plan", ""));
            lines.extend(r.plan.lines().map(|l| Line::from(format!("  {l}"))));
        }
        Some(Row::End(end)) => {
            lines.push(label("End", reason_word(end.reason)));
            lines.push(Line::from(end.message.clone()));
            if let Some(a) = &end.answer {
                lines.push(label("Answer", ""));
                lines.extend(a.lines().map(|l| Line::from(format!("  {l}"))));
            }
            let u = end.usage;
            lines.push(Line::from(format!(
                    "{} steps · {} tokens ({} prompt, {} cached, {} generated) · model {:.1} s · tools {:.1} s",
                    end.step,
                    thousands(u.total_tokens()),
                    thousands(u.tokens.prompt_tokens),
                    thousands(u.tokens.cached_tokens),
                    thousands(u.tokens.completion_tokens),
                    u.model_ms / 1e3,
                    u.tool_ms / 1e3
                )));
        }
        None => lines.push(Line::from("no steps yet")),
    }
    lines
}

fn render_approval(app: &AgentApp, frame: &mut Frame, area: Rect) {
    let Some(req) = &app.pending else { return };
    let rect = centered(area, area.width.saturating_sub(8).min(70), 8);
    let mut lines = vec![
        Line::from(vec![Span::styled(
            format!("Step {} wants to run:", req.step),
            bold(),
        )]),
        Line::from(Span::styled(
            clip(
                &req.action.thoughts.reasoning,
                (rect.width as usize).saturating_sub(4),
            ),
            Style::default().fg(Color::DarkGray),
        )),
        Line::from(Span::styled(
            clip(
                &format!("{} {}", req.action.tool, req.action.args),
                (rect.width as usize).saturating_sub(4) * 2,
            ),
            Style::default().fg(Color::Yellow),
        )),
        Line::from(""),
    ];
    match &app.feedback {
        Some(text) => {
            lines.push(Line::from(
                "Why not? (shown to the agent; Enter sends, Esc back)",
            ));
            lines.push(Line::from(format!("> {text}▏")));
        }
        None => lines.push(Line::from(vec![
            Span::styled("[y]", bold()),
            Span::raw("es  "),
            Span::styled("[a]", bold()),
            Span::raw("ll  "),
            Span::styled("[n]", bold()),
            Span::raw("o (+ feedback)  "),
            Span::styled("[q]", bold()),
            Span::raw("uit run"),
        ])),
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::Yellow))
                .title(" approve? "),
        ),
        rect,
    );
}

/// Draws the whole agent-run view.
pub(crate) fn render(app: &AgentApp, frame: &mut Frame) {
    let area = frame.area();
    let l = layout(area);
    frame.render_widget(Paragraph::new(title_line(app)), l.title);

    let goal = app
        .run
        .start
        .as_ref()
        .map(|s| s.goal.as_str())
        .unwrap_or("");
    frame.render_widget(
        Paragraph::new(goal.to_string())
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Goal ")),
        l.goal,
    );

    let (plan_title, plan) = match app.plan() {
        Some((from, plan)) => (format!(" Plan ({from}) "), plan.to_string()),
        None => (" Plan ".to_string(), String::new()),
    };
    frame.render_widget(
        Paragraph::new(plan)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(plan_title)),
        l.plan,
    );

    let inner_w = l.list.width.saturating_sub(2) as usize;
    let height = l.list.height.saturating_sub(2) as usize;
    let mut items: Vec<ListItem> = app
        .run
        .rows()
        .into_iter()
        .map(|(depth, row)| row_item(depth, row, inner_w))
        .collect();
    if let Some(end) = &app.run.end {
        items.push(row_item(0, Row::End(end), inner_w));
    }
    let offset = list_offset(app.selected, items.len(), height);
    let items: Vec<ListItem> = items
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, item)| {
            if i == app.selected {
                item.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                item
            }
        })
        .collect();
    let list_title = if app.follow && app.live {
        " Steps (following) "
    } else {
        " Steps "
    };
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::ALL).title(list_title)),
        l.list,
    );

    frame.render_widget(
        Paragraph::new(detail_lines(app))
            .wrap(Wrap { trim: false })
            .scroll((app.scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(" Detail ")),
        l.detail,
    );

    let footer = match &app.status {
        Some(s) => clip(s, area.width as usize),
        None => "↑↓ select  PgUp/PgDn scroll  f follow  ? help  q quit".to_string(),
    };
    frame.render_widget(
        Paragraph::new(footer).style(Style::default().fg(Color::DarkGray)),
        l.footer,
    );

    render_approval(app, frame, area);
    if app.show_help {
        crate::help::render(frame, area, crate::help::AGENT_KEYS);
    }
}
