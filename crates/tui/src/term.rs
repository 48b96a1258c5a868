//! The real terminal: raw mode, alternate screen, mouse capture, restored on every exit path
//! (return, error, panic); and the loop that feeds a [`Screen`] its messages and input.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Once;
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEvent, MouseEvent,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::{Frame, Terminal};

use crate::{Error, Result};

/// What the loop should do after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Quit,
}

/// A view the loop can drive: state that takes messages and input, and draws itself.
pub trait Screen {
    /// What arrives over the channel (trace events, town records, approval requests).
    type Msg;
    /// Folds one message into the state.
    fn apply(&mut self, msg: Self::Msg);
    /// Handles a key press.
    fn key(&mut self, key: &KeyEvent) -> Control;
    /// Handles a click or a scroll.
    fn mouse(&mut self, _mouse: &MouseEvent) {}
    /// The terminal's new size (for mouse hit-testing).
    fn resize(&mut self, width: u16, height: u16);
    /// Handles a key, mouse or resize event.
    fn handle(&mut self, event: &Event) -> Control {
        match event {
            Event::Key(k) => self.key(k),
            Event::Mouse(m) => {
                self.mouse(m);
                Control::Continue
            }
            Event::Resize(w, h) => {
                self.resize(*w, *h);
                Control::Continue
            }
            _ => Control::Continue,
        }
    }
    /// Time passed (replay playback).
    fn tick(&mut self, _elapsed: Duration) {}
    /// Draws the state (pure: the same state draws the same screen).
    fn render(&self, frame: &mut Frame);
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        LeaveAlternateScreen,
        DisableMouseCapture,
        ratatui::crossterm::cursor::Show
    );
}

/// Puts the terminal back however the TUI ends (including a panic, via the hook).
struct Guard;

impl Guard {
    fn enter() -> Result<Guard> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode().map_err(Error::Terminal)?;
        let guard = Guard;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)
            .map_err(Error::Terminal)?;
        Ok(guard)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs `screen` on the terminal until it quits or `stop` is set (Ctrl-C from outside). Messages
/// from `rx` are applied as they come; a closed channel just means nothing more will come.
pub fn run<S: Screen>(screen: &mut S, rx: &Receiver<S::Msg>, stop: &AtomicBool) -> Result<()> {
    let _guard = Guard::enter()?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout())).map_err(Error::Terminal)?;
    terminal.clear().map_err(Error::Terminal)?;
    let size = terminal.size().map_err(Error::Terminal)?;
    screen.handle(&Event::Resize(size.width, size.height));
    let mut last = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Empty or disconnected: nothing more for now (a finished run keeps its last screen).
        while let Ok(msg) = rx.try_recv() {
            screen.apply(msg);
        }
        let now = Instant::now();
        screen.tick(now - last);
        last = now;
        // ratatui diffs against the previous frame: only changed cells are written (no flicker).
        terminal
            .draw(|f| screen.render(f))
            .map_err(Error::Terminal)?;
        if event::poll(Duration::from_millis(50)).map_err(Error::Terminal)? {
            let ev = event::read().map_err(Error::Terminal)?;
            if screen.handle(&ev) == Control::Quit {
                return Ok(());
            }
        }
    }
}
