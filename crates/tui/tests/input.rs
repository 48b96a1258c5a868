//! Input handling on the app state: selection, pause, step, speed, seek, approval answers, mouse.

mod common;

use std::sync::mpsc;

use common::{agent_trace, town_log};
use hamlet_core::town::{SimTime, Tile};
use hamlet_core::trace::TraceEvent;
use hamlet_tui::agent::{AgentApp, AgentMsg, ApprovalAnswer, ApprovalRequest, Budget};
use hamlet_tui::town::{TownApp, SPEEDS};
use hamlet_tui::{Control, Screen};
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use std::time::Duration;

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn chars(app: &mut impl Screen, s: &str) {
    for c in s.chars() {
        app.handle(&key(KeyCode::Char(c)));
    }
}

fn click(x: u16, y: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn town_pause_play_and_speed() {
    let mut app = TownApp::replay(town_log());
    assert!(app.playing);
    assert_eq!(app.cursor, 1, "replay opens on the world");
    app.handle(&key(KeyCode::Char(' ')));
    assert!(!app.playing);
    app.tick(Duration::from_secs(3600));
    assert_eq!(app.cursor, 1, "paused: time does not move");
    app.handle(&key(KeyCode::Char(' ')));
    // 60× for 10 s is 10 simulated minutes: through 07:10.
    assert_eq!(SPEEDS[app.speed], 60);
    app.tick(Duration::from_secs(10));
    assert_eq!(app.snap.time, SimTime::at(1, 7, 10));
    assert_eq!(app.tile_of("Maria"), Some(Tile::new(10, 3)));
    app.handle(&key(KeyCode::Char('+')));
    assert_eq!(SPEEDS[app.speed], 120);
    for _ in 0..20 {
        app.handle(&key(KeyCode::Char('-')));
    }
    assert_eq!(app.speed, 0);
}

#[test]
fn town_step_and_seek() {
    let mut app = TownApp::replay(town_log());
    chars(&mut app, "s");
    assert!(!app.playing, "stepping pauses");
    assert_eq!(app.snap.step, 0, "the rest of step 0 (plans) first");
    chars(&mut app, "s");
    assert_eq!(app.snap.step, 1);
    assert_eq!(app.snap.time, SimTime::at(1, 7, 10));
    // Jump to a time by typing it.
    chars(&mut app, "gday 1 07:30");
    app.handle(&key(KeyCode::Enter));
    assert_eq!(app.snap.time, SimTime::at(1, 7, 30));
    assert!(
        app.snap.conversations.is_empty(),
        "the conversation ended at 07:30"
    );
    // Back in time rebuilds: Maria is not yet at the cafe at 07:10.
    app.seek_time(SimTime::at(1, 7, 10));
    assert_eq!(app.tile_of("Maria"), Some(Tile::new(10, 3)));
    assert_eq!(app.snap.agents["Maria"].knows, Vec::<String>::new());
    chars(&mut app, "]");
    assert_eq!(app.snap.time, SimTime::at(1, 8, 0));
    assert_eq!(app.tile_of("Klaus"), Some(Tile::new(3, 3)));
    chars(&mut app, "[");
    assert_eq!(app.tile_of("Klaus"), Some(Tile::new(2, 1)));
    // A malformed time says what it expected and moves nothing.
    let before = app.cursor;
    chars(&mut app, "g25:99");
    app.handle(&key(KeyCode::Enter));
    assert_eq!(app.cursor, before);
    assert!(app.status.as_deref().unwrap_or("").contains("expected"));
    app.handle(&key(KeyCode::End));
    assert_eq!(app.cursor, app.log.len());
    app.handle(&key(KeyCode::Home));
    assert_eq!(app.cursor, 1);
}

#[test]
fn town_select_by_keys_and_mouse() {
    let mut app = TownApp::replay(town_log());
    app.playing = false;
    app.seek_time(SimTime::at(1, 7, 20));
    app.handle(&Event::Resize(80, 24));
    assert_eq!(app.selected_name().map(String::as_str), Some("Isabella"));
    app.handle(&key(KeyCode::Down));
    assert_eq!(app.selected_name().map(String::as_str), Some("Klaus"));
    app.handle(&key(KeyCode::Up));
    app.handle(&key(KeyCode::Up));
    assert_eq!(
        app.selected_name().map(String::as_str),
        Some("Maria"),
        "wraps around"
    );
    // Click Klaus's tile (2, 1) on the map: border at column 0, row 1; tiles two cells wide.
    app.handle(&click(1 + 2 * 2, 2 + 1));
    assert_eq!(app.selected_name().map(String::as_str), Some("Klaus"));
    // Click the first row of the agent list (right pane, below its border).
    let list_x = 80 - 10;
    app.handle(&click(list_x, 2));
    assert_eq!(app.selected_name().map(String::as_str), Some("Isabella"));
    assert_eq!(app.handle(&key(KeyCode::Char('q'))), Control::Quit);
}

#[test]
fn town_live_follows_and_pauses() {
    let mut app = TownApp::new(true);
    let log = town_log();
    for r in log.iter().take(5).cloned() {
        app.apply(r);
    }
    assert_eq!(app.cursor, 5);
    app.handle(&key(KeyCode::Char(' ')));
    for r in log.iter().skip(5).cloned() {
        app.apply(r);
    }
    assert_eq!(app.cursor, 5, "paused: records wait");
    app.handle(&key(KeyCode::Char(' ')));
    app.tick(Duration::from_millis(50));
    assert_eq!(app.cursor, log.len());
}

#[test]
fn agent_select_and_follow() {
    let mut app = AgentApp::new(Budget::default(), true);
    let events = agent_trace();
    for e in events.iter().take(3).cloned() {
        app.apply(AgentMsg::Event(e));
    }
    assert_eq!(app.selected, 1, "following the newest step");
    app.handle(&key(KeyCode::Up));
    assert_eq!(app.selected, 0);
    assert!(!app.follow);
    app.apply(AgentMsg::Event(events[3].clone()));
    assert_eq!(app.selected, 0, "not following: selection stays");
    app.handle(&key(KeyCode::Char('f')));
    assert!(app.follow);
    assert_eq!(app.selected, 2);
    app.handle(&key(KeyCode::PageDown));
    assert_eq!(app.scroll, 5);
    app.handle(&key(KeyCode::Down));
    assert_eq!(app.scroll, 0, "a new selection scrolls back to the top");
    // Clicking the first row of the list (below its border) selects step 1.
    app.handle(&Event::Resize(80, 24));
    app.handle(&click(5, 9));
    assert_eq!(app.selected, 0);
}

fn approval(app: &mut AgentApp) -> mpsc::Receiver<ApprovalAnswer> {
    let (tx, rx) = mpsc::channel();
    let action = match &agent_trace()[1] {
        TraceEvent::Step(s) => s.action.clone().expect("action"),
        _ => unreachable!(),
    };
    app.apply(AgentMsg::Approve(ApprovalRequest {
        step: 1,
        action,
        reply: tx,
    }));
    rx
}

#[test]
fn agent_approval_answers() {
    let mut app = AgentApp::new(Budget::default(), true);
    let rx = approval(&mut app);
    // Navigation keys still work while asked; 'y' answers.
    app.handle(&key(KeyCode::Down));
    chars(&mut app, "y");
    assert_eq!(rx.try_recv(), Ok(ApprovalAnswer::Run));
    assert!(app.pending.is_none());

    let rx = approval(&mut app);
    chars(&mut app, "a");
    assert_eq!(rx.try_recv(), Ok(ApprovalAnswer::RunAll));

    let rx = approval(&mut app);
    chars(&mut app, "nuse notes.txt");
    app.handle(&key(KeyCode::Backspace));
    chars(&mut app, "t");
    app.handle(&key(KeyCode::Enter));
    assert_eq!(
        rx.try_recv(),
        Ok(ApprovalAnswer::Decline {
            feedback: "use notes.txt".into()
        })
    );

    // Quitting the TUI while asked answers Quit so the runner stops cleanly.
    let rx = approval(&mut app);
    let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app.handle(&ctrl_c), Control::Quit);
    assert_eq!(rx.try_recv(), Ok(ApprovalAnswer::Quit));
}
