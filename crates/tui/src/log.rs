//! Reading a JSONL log, and following one that is still being written.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Follows a JSONL file: each [`Tail::poll`] returns the complete lines appended since the last.
/// A line still being written (no newline yet) waits for the next poll.
#[derive(Debug)]
pub struct Tail<T> {
    path: PathBuf,
    offset: u64,
    line: usize,
    pending: Vec<u8>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Tail<T> {
    pub fn new(path: &Path) -> Self {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            line: 0,
            pending: Vec::new(),
            _t: PhantomData,
        }
    }

    /// The events in complete lines added since the last poll (none when the file is missing).
    pub fn poll(&mut self) -> Result<Vec<T>> {
        let read_err = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(read_err(e)),
        };
        file.seek(SeekFrom::Start(self.offset)).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(read_err)?;
        self.offset += bytes.len() as u64;
        self.pending.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            self.line += 1;
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let event = serde_json::from_str(text).map_err(|e| Error::Parse {
                path: self.path.clone(),
                line: self.line,
                message: e.to_string(),
            })?;
            out.push(event);
        }
        Ok(out)
    }
}

/// Every event in the complete lines of a JSONL file.
pub fn read_all<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Err(Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    Tail::new(path).poll()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tail_waits_for_complete_lines_and_names_bad_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.jsonl");
        let mut f = File::create(&path).expect("create");
        write!(f, "1\n2\n3").expect("write");
        let mut tail = Tail::<u32>::new(&path);
        assert_eq!(tail.poll().expect("poll"), vec![1, 2]);
        writeln!(f, "4\n5").expect("write");
        assert_eq!(tail.poll().expect("poll"), vec![34, 5]);
        writeln!(f, "nope").expect("write");
        let err = tail.poll().expect_err("bad line");
        assert!(err.to_string().contains("log.jsonl:5"), "{err}");
    }
}
