//! Progress bars: the binary draws them (indicatif); the libraries only report progress.

use std::sync::Mutex;
use std::time::Duration;

use hamlet_models::{Progress, Unit};
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif's syntax).
pub fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(style(template));
    pb
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Draws a model or dataset pull on the terminal: one bar per step.
#[derive(Default)]
pub struct PullBars(Mutex<Option<ProgressBar>>);

impl PullBars {
    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        if let Ok(mut current) = self.0.lock() {
            f(&mut current);
        }
    }
}

impl Progress for PullBars {
    fn start(&self, what: &str, unit: Unit, total: Option<u64>) {
        let template = match (unit, total) {
            (Unit::Parts, _) => "{prefix} [{bar:30}] {pos}/{len} parts {elapsed} {msg}",
            (Unit::Bytes, Some(_)) => {
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
            }
            (Unit::Bytes, None) => "{spinner} {prefix} {bytes} {bytes_per_sec}",
        };
        let pb = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        pb.set_style(style(template).progress_chars("=> "));
        pb.set_prefix(what.to_string());
        if unit == Unit::Parts || total.is_none() {
            pb.enable_steady_tick(Duration::from_millis(250));
        }
        self.with(|c| *c = Some(pb));
    }

    fn advance(&self, n: u64) {
        self.with(|c| c.iter().for_each(|pb| pb.inc(n)));
    }

    fn note(&self, text: &str) {
        self.with(|c| c.iter().for_each(|pb| pb.set_message(text.to_string())));
    }

    fn end(&self, ok: bool) {
        self.with(|c| match c.take() {
            Some(pb) if ok => pb.finish_and_clear(),
            Some(pb) => pb.abandon(),
            None => {}
        });
    }
}
