//! Views rendered into ratatui's `TestBackend` and compared with the expected screens in
//! `tests/screens/` (text), plus the styles that carry meaning (agent colours, selection).

mod common;

use common::{agent_trace, assert_screen, delegated_trace, draw, town_log};
use hamlet_core::town::SimTime;
use hamlet_tui::agent::{AgentApp, AgentMsg, ApprovalRequest, Budget};
use hamlet_tui::town::TownApp;
use hamlet_tui::Screen;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn replayed_agent() -> AgentApp {
    let mut app = AgentApp::new(
        Budget {
            max_steps: Some(20),
            max_tokens: Some(300_000),
        },
        false,
    );
    for e in agent_trace() {
        app.apply(AgentMsg::Event(e));
    }
    app
}

/// The recorded town, paused at its start.
fn paused_town() -> TownApp {
    let mut app = TownApp::replay(town_log());
    app.playing = false;
    app
}

#[test]
fn agent_run_80x24() {
    let mut app = replayed_agent();
    // Replay selects the last row (the end); look at the step that failed.
    app.handle(&key(KeyCode::Home));
    app.handle(&key(KeyCode::Down));
    let (lines, buf) = draw(&app, 80, 24);
    assert_screen("agent_run_80x24", &lines);
    // The selected row is drawn reversed.
    let row = lines
        .iter()
        .position(|l| l.contains("2 ✗ read_file"))
        .expect("step 2 row");
    assert!(buf[(2, row as u16)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn agent_run_end_and_large_terminal() {
    let app = replayed_agent();
    let (lines, _) = draw(&app, 120, 36);
    assert_screen("agent_run_120x36", &lines);
    let text = lines.join("\n");
    assert!(text.contains("Answer"), "{text}");
    assert!(text.contains("522,250"));
    assert!(text.contains("tokens 2,180/300,000"));
}

#[test]
fn a_sub_agent_is_nested_under_the_step_that_started_it() {
    let mut app = AgentApp::new(Budget::default(), false);
    for e in delegated_trace() {
        app.apply(AgentMsg::Event(e));
    }
    // The child's row, its two steps and end, then the lead's two steps and end.
    assert_eq!(app.rows(), 7);
    app.handle(&key(KeyCode::Home));
    let (lines, _) = draw(&app, 80, 24);
    assert_screen("agent_sub_agent_80x24", &lines);
    let text = lines.join("\n");
    assert!(text.contains("↳ writer: Write a t"), "{text}");
    assert!(
        text.contains("Sub-agent: writer (started by step 1)"),
        "{text}"
    );
    let indented = lines
        .iter()
        .position(|l| l.contains("  1 ✓ write_file"))
        .expect("the child's step");
    let own = lines
        .iter()
        .position(|l| l.contains("1 ✓ delegate"))
        .expect("the lead's step");
    assert!(
        indented < own,
        "the child's rows come before the step's own record"
    );
    let col = |l: &str, pat: &str| l.find(pat).unwrap();
    assert!(
        col(&lines[indented], "1 ✓") > col(&lines[own], "1 ✓"),
        "the child's rows are indented"
    );
}

#[test]
fn agent_approval_prompt() {
    let mut app = AgentApp::new(Budget::default(), true);
    let events = agent_trace();
    app.apply(AgentMsg::Event(events[0].clone()));
    app.apply(AgentMsg::Event(events[1].clone()));
    let (tx, _rx) = std::sync::mpsc::channel();
    let action = match &events[2] {
        hamlet_core::trace::TraceEvent::Step(s) => s.action.clone().expect("action"),
        _ => unreachable!(),
    };
    app.apply(AgentMsg::Approve(ApprovalRequest {
        step: 2,
        action,
        reply: tx,
    }));
    let (lines, _) = draw(&app, 80, 24);
    assert_screen("agent_approval_80x24", &lines);
    assert!(lines[0].contains("waiting for you"));
}

#[test]
fn town_map_with_agents_80x24() {
    let mut app = paused_town();
    app.seek_time(SimTime::at(1, 7, 20));
    let (lines, buf) = draw(&app, 80, 24);
    assert_screen("town_80x24", &lines);
    // Maria stands at (13, 2): tiles are two cells wide inside the map's border.
    let (x, y) = (1 + 13 * 2, 1 + 1 + 2);
    assert_eq!(buf[(x, y)].symbol(), "M");
    assert_eq!(buf[(x + 1, y)].symbol(), "L");
    assert_eq!(
        buf[(x, y)].bg,
        Color::Yellow,
        "Maria is the third agent: the third colour"
    );
    let text = lines.join("\n");
    assert!(text.contains("party: 2/3 know"), "{text}");
    assert!(text.contains("Isabella: Morning!"));
}

#[test]
fn town_large_terminal() {
    let mut app = paused_town();
    app.seek_index(usize::MAX);
    app.handle(&key(KeyCode::Down));
    app.handle(&key(KeyCode::Down));
    let (lines, _) = draw(&app, 140, 40);
    assert_screen("town_140x40", &lines);
    let text = lines.join("\n");
    assert!(text.contains("maria-knows"), "{text}");
    assert!(text.contains("Isabella is a good friend"));
}

#[test]
fn help_overlay() {
    let mut app = paused_town();
    app.handle(&key(KeyCode::Char('?')));
    let (lines, _) = draw(&app, 80, 24);
    assert_screen("town_help_80x24", &lines);
    app.handle(&key(KeyCode::Esc));
    assert!(!app.show_help);

    let mut agent = replayed_agent();
    agent.handle(&key(KeyCode::Char('?')));
    let (lines, _) = draw(&agent, 80, 24);
    assert_screen("agent_help_80x24", &lines);
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut town = TownApp::replay(town_log());
    town.seek_index(usize::MAX);
    let agent = replayed_agent();
    for (w, h) in [(1, 1), (10, 5), (40, 12), (80, 24), (300, 80)] {
        draw(&town, w, h);
        draw(&agent, w, h);
    }
}
