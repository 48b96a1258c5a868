//! The offline task suite: goals with starting files, a check on the result, and a reference
//! solution that proves the check.
//!
//! Two formats are read ([`load`]). Our own, `DIR/task.toml`, with the starting workspace under
//! `DIR/files/`:
//!
//! ```toml
//! goal = "Write the sum of column B of data.csv to answer.txt."
//! category = "data"
//! max-steps = 8
//! file = "answer.txt"          # leave out to check the finish answer
//! solution-answer = "..."      # the reference finish answer (for answer checks)
//! shell-allow = ["python3"]    # the task's agent gets `shell` with these programs
//! first-goal = "..."           # a memory task: a first run (with `first-files/`) shares the store
//! [check]
//! contains = ["60"]
//! python = "check.py"          # run in the workspace after the run; exit 0 passes
//! ```
//!
//! A `site/` folder is served on 127.0.0.1 for that task only, and `{site}` in the goal becomes
//! its base URL. `solution/` holds the files the workspace should end with.
//!
//! And AutoGPT's agbenchmark challenges, `DIR/data.json` with starting files under
//! `DIR/artifacts_in/` and the reference solution under `DIR/artifacts_out/`. `eval.type =
//! "file"` checks `should_contain` / `should_not_contain` over the named files or extensions;
//! `"python"` copies `custom_python/` into the workspace after the run and checks the output of
//! running each of `ground.files`; `pytest` and LLM judges are listed as skipped.
//!
//! [`run_task`] runs a task ([`run`]) and fails it on any escape from the workspace
//! ([`guard`]); [`check_task`] is the check alone ([`check`]), which is what the suite's own
//! tests run against every task's starting workspace and reference solution.

pub mod check;
pub mod guard;
pub mod load;
pub mod run;
pub mod site;

use std::path::Path;

pub use check::{check_task, evaluate};
pub use guard::{Canary, Snapshot};
pub use load::{load_suite, Check, FirstRun, Task};
pub use run::{run_task, task_spec, BoxError, MemoryFactory, RunReport, Tally, TaskResult};
pub use site::SiteServer;

/// Copies the files under `from` into `to` (created), replacing files of the same name.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
