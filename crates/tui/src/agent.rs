//! The agent-run view's state: folded from [`TraceEvent`]s, changed by keys and mouse.
//!
//! Live (`hamlet run --tui`) the runner's observer sends [`AgentMsg::Event`]s and its approver
//! sends [`AgentMsg::Approve`] and waits for the [`ApprovalAnswer`] on the request's channel;
//! replay (`hamlet watch`) sends the events read from `trace.jsonl`.

use std::sync::mpsc::Sender;

use hamlet_core::trace::{Action, RunView, TraceEvent, Usage};
pub use hamlet_core::trace::{Budget, Entry};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::term::{Control, Screen};
use crate::ui::{contains, list_offset};

/// The user's answer to "run this action?" (the binary maps it onto the runner's approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalAnswer {
    Run,
    /// Run this one and every later one without asking.
    RunAll,
    /// Do not run it; the feedback is shown to the model.
    Decline {
        feedback: String,
    },
    /// Stop the run (it can be resumed).
    Quit,
}

/// An action waiting for the user.
#[derive(Debug)]
pub struct ApprovalRequest {
    pub step: u32,
    pub action: Action,
    pub reply: Sender<ApprovalAnswer>,
}

/// What the agent-run view receives.
#[derive(Debug)]
pub enum AgentMsg {
    Event(TraceEvent),
    Approve(ApprovalRequest),
    /// A line about the run from outside the trace ("run failed: ...").
    Status(String),
}

/// The state of the agent-run view.
#[derive(Debug, Default)]
pub struct AgentApp {
    /// The run as its trace says it went.
    pub run: RunView,
    pub budget: Budget,
    /// Row of the list (entries, then the end when there is one).
    pub selected: usize,
    /// Keep the newest row selected as rows arrive.
    pub follow: bool,
    /// Lines scrolled in the detail pane.
    pub scroll: u16,
    pub show_help: bool,
    /// The terminal's size (for mouse hit-testing; set by resize events).
    pub size: (u16, u16),
    pub pending: Option<ApprovalRequest>,
    /// Feedback being typed for a declined action.
    pub feedback: Option<String>,
    pub status: Option<String>,
    /// Whether the run is happening now (rather than replayed).
    pub live: bool,
}

impl AgentApp {
    pub fn new(budget: Budget, live: bool) -> Self {
        AgentApp {
            budget,
            live,
            follow: true,
            size: (80, 24),
            ..AgentApp::default()
        }
    }

    /// Rows in the list.
    pub fn rows(&self) -> usize {
        self.run.rows().len() + usize::from(self.run.end.is_some())
    }

    /// Tokens and time spent so far.
    pub fn usage(&self) -> Usage {
        self.run.usage()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.run.steps()
    }

    /// The current plan and where it came from: the latest reflection's, else the latest step's.
    pub fn plan(&self) -> Option<(String, &str)> {
        self.run.plan()
    }

    /// Folds one trace event in.
    pub fn push(&mut self, event: TraceEvent) {
        self.run.push(event);
        if self.follow {
            self.selected = self.rows().saturating_sub(1);
            self.scroll = 0;
        }
    }

    fn select(&mut self, row: usize) {
        let last = self.rows().saturating_sub(1);
        self.selected = row.min(last);
        self.follow = self.selected == last && self.live;
        self.scroll = 0;
    }

    fn answer(&mut self, answer: ApprovalAnswer) {
        if let Some(req) = self.pending.take() {
            // The runner may be gone (it stopped); then there is nobody to tell.
            let _ = req.reply.send(answer);
        }
        self.feedback = None;
    }

    /// Keys while an approval is pending; `None` when the key is not an answer.
    fn approval_key(&mut self, key: &KeyEvent) -> Option<Control> {
        if let Some(text) = &mut self.feedback {
            match key.code {
                KeyCode::Enter => {
                    let feedback = text.trim().to_string();
                    self.answer(ApprovalAnswer::Decline { feedback });
                }
                KeyCode::Esc => self.feedback = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            return Some(Control::Continue);
        }
        match key.code {
            KeyCode::Char('y') | KeyCode::Enter => self.answer(ApprovalAnswer::Run),
            KeyCode::Char('a') => self.answer(ApprovalAnswer::RunAll),
            KeyCode::Char('n') => self.feedback = Some(String::new()),
            KeyCode::Char('q') => self.answer(ApprovalAnswer::Quit),
            _ => return None,
        }
        Some(Control::Continue)
    }
}

impl Screen for AgentApp {
    type Msg = AgentMsg;

    fn apply(&mut self, msg: AgentMsg) {
        match msg {
            AgentMsg::Event(e) => self.push(e),
            AgentMsg::Approve(req) => {
                self.pending = Some(req);
                self.feedback = None;
            }
            AgentMsg::Status(s) => self.status = Some(s),
        }
    }

    fn key(&mut self, key: &KeyEvent) -> Control {
        if key.kind == KeyEventKind::Release {
            return Control::Continue;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.answer(ApprovalAnswer::Quit);
            return Control::Quit;
        }
        if self.pending.is_some() {
            if let Some(c) = self.approval_key(key) {
                return c;
            }
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
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                self.answer(ApprovalAnswer::Quit);
                return Control::Quit;
            }
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.select(self.selected + 1),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(5),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(5),
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                if self.follow {
                    self.select(usize::MAX);
                    self.follow = true;
                }
            }
            _ => {}
        }
        Control::Continue
    }

    fn mouse(&mut self, m: &MouseEvent) {
        let layout = crate::agent_view::layout(Rect::new(0, 0, self.size.0, self.size.1));
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) if contains(layout.list, m.column, m.row) => {
                let inner_top = layout.list.y + 1;
                let height = layout.list.height.saturating_sub(2) as usize;
                if m.row >= inner_top && ((m.row - inner_top) as usize) < height {
                    let offset = list_offset(self.selected, self.rows(), height);
                    let row = offset + (m.row - inner_top) as usize;
                    if row < self.rows() {
                        self.select(row);
                    }
                }
            }
            MouseEventKind::ScrollDown if contains(layout.detail, m.column, m.row) => {
                self.scroll = self.scroll.saturating_add(3)
            }
            MouseEventKind::ScrollUp if contains(layout.detail, m.column, m.row) => {
                self.scroll = self.scroll.saturating_sub(3)
            }
            MouseEventKind::ScrollDown => self.select(self.selected + 1),
            MouseEventKind::ScrollUp => self.select(self.selected.saturating_sub(1)),
            _ => {}
        }
    }

    fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
    }

    fn render(&self, frame: &mut Frame) {
        crate::agent_view::render(self, frame);
    }
}
