//! Checkpoints: the whole state of a run, written atomically beside a snapshot of its memory
//! stream, and read back on resume.
//!
//! The order makes a crash at any point harmless: the log is already synced (every step's
//! events are), the memory stream writes a snapshot into a new directory, then `checkpoint.json`
//! is replaced by rename and older snapshots are removed. Until the rename the previous
//! checkpoint and its snapshot are whole; after it, the new ones are.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{open_memory, OpenMemory, Run, RunConfig, CHECKPOINT_FILE, MEMORY_DIR};
use crate::state::WorldState;
use crate::{Error, Result};
use hamlet_core::SnapshotStream;

const SNAPSHOT_PREFIX: &str = "checkpoint-memory-";

/// `checkpoint.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub config: RunConfig,
    pub state: WorldState,
    /// The byte length of the event log this state matches.
    pub events_len: u64,
    pub wall_secs: f64,
    /// Of `wall_secs`, in the model and in the memory stream.
    #[serde(default)]
    pub model_secs: f64,
    #[serde(default)]
    pub memory_secs: f64,
    #[serde(default)]
    pub done: bool,
    /// The memory snapshot directory (in the run directory) taken with this checkpoint.
    #[serde(default)]
    pub memory: Option<String>,
}

impl Run {
    /// Snapshots the memory stream, then replaces the checkpoint atomically and removes older
    /// snapshots. (The event log needs no sync here: every step's events were synced.)
    pub fn checkpoint(&mut self) -> Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        // A fresh name each time: the snapshot the current checkpoint names is never touched.
        let mut n = 0;
        let snapshot = loop {
            let name = format!("{SNAPSHOT_PREFIX}{}-{n}", self.state.step);
            if !self.dir.join(&name).exists() {
                break name;
            }
            n += 1;
        };
        let snap_dir = self.dir.join(&snapshot);
        self.memory
            .snapshot(&snap_dir)
            .map_err(|source| Error::Memory {
                context: format!("writing the memory snapshot {}", snap_dir.display()),
                source,
            })?;
        sync_tree(&snap_dir)?;
        let cp = Checkpoint {
            config: self.config.clone(),
            state: self.state.clone(),
            events_len: self.events.len(),
            wall_secs: self.wall.total,
            model_secs: self.wall.model,
            memory_secs: self.wall.memory,
            done: self.done,
            memory: Some(snapshot.clone()),
        };
        let text = serde_json::to_string(&cp)
            .map_err(|e| Error::run(path.display().to_string(), e.to_string()))?;
        let tmp = self.dir.join("checkpoint.json.tmp");
        let mut f =
            File::create(&tmp).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| Error::io(format!("replacing {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        remove_snapshots_except(&self.dir, Some(&snapshot));
        Ok(())
    }
}

pub(super) fn read_checkpoint(dir: &Path) -> Result<(PathBuf, Checkpoint)> {
    let cp_path = dir.join(CHECKPOINT_FILE);
    let text = std::fs::read_to_string(&cp_path).map_err(|e| {
        Error::run(
            cp_path.display().to_string(),
            format!("cannot read the checkpoint ({e}): is this a run directory?"),
        )
    })?;
    let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
        Error::run(
            cp_path.display().to_string(),
            format!("corrupt checkpoint: {e}"),
        )
    })?;
    Ok((cp_path, cp))
}

/// Replaces `dir/memory` with a copy of the snapshot `name` and opens it.
pub(super) fn restore_memory(
    dir: &Path,
    name: &str,
    open: OpenMemory<'_>,
) -> Result<Box<dyn SnapshotStream>> {
    let snap = dir.join(name);
    if !snap.is_dir() || name.contains(['/', '\\']) || !name.starts_with(SNAPSHOT_PREFIX) {
        return Err(Error::run(
            snap.display().to_string(),
            "the checkpoint's memory snapshot is missing: the run directory was changed by hand",
        ));
    }
    let live = dir.join(MEMORY_DIR);
    if live.exists() {
        std::fs::remove_dir_all(&live)
            .map_err(|e| Error::io(format!("clearing {}", live.display()), e))?;
    }
    copy_tree(&snap, &live)?;
    // Snapshots a crash left behind, newer than the checkpoint, are of no use.
    remove_snapshots_except(dir, Some(name));
    open_memory(open, &live)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|err| {
                Error::io(
                    format!("copying {} to {}", src.display(), dst.display()),
                    err,
                )
            })?;
        }
    }
    Ok(())
}

/// Syncs every file under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for e in entries {
        let p = e
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
            .path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("syncing {}", p.display()), e))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
}

/// Removes the memory snapshots in `dir` other than `keep`; failures only warn (a leftover
/// snapshot is never read).
fn remove_snapshots_except(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(SNAPSHOT_PREFIX) && Some(name.as_str()) != keep {
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!(snapshot = %name, error = %err, "could not remove an old memory snapshot");
            }
        }
    }
}
