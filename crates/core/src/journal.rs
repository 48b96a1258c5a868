//! Append-only JSONL files: one JSON record per line, written and synced as a run goes.
//!
//! Every durable log of Hamlet is one of these: an agent's `trace.jsonl`
//! ([`crate::trace::TraceEvent`]) and a town's `events.jsonl` ([`crate::town::EventRecord`]).
//! They are written by one process, read back on resume and replay, followed live by the TUI, and
//! exported for training. A [`Journal`] is the writer; [`Journal::read_all`] and
//! [`Journal::read_each`] read a whole file; a [`Tail`] follows one that is still growing. All of
//! them share one rule for what a line means, so a file reads the same everywhere.
//!
//! # The rule
//!
//! A writer puts each record and its newline down in one write and syncs before it goes on, so
//! a crash can only leave the **last** line unfinished. Reading a file:
//!
//! - A line that ends in a newline was written whole. It must be a record: if it does not parse,
//!   the read fails with `file:line` and the parser's reason, wherever that line is (the file was
//!   edited or corrupted, and guessing would hide it). Blank lines are skipped.
//! - The text after the last newline, if any, is the only place a torn write can be. If it parses,
//!   it is a record whose newline is missing (a file written by hand, or a crash between the
//!   record and its newline) and is kept. If it does not parse, it is a torn write: it is dropped
//!   and reported as [`Extent::torn_tail`], and [`Extent::valid_len`] says where it starts, so a
//!   writer resuming the file cuts it off with [`Journal::truncate_to`].
//! - A [`Tail`] never parses the text after the last newline: the writer may be in the middle of
//!   it, so it waits for the newline and returns the record on a later poll.
//!
//! A [`Journal`] opened on a file whose last line has no newline writes one before its first
//! record, so appending never joins two records on one line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::IoError;

/// What can go wrong writing or reading a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be created, opened, read, written or synced.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A complete line (or one in the middle of the file) that is not a record.
    #[error("{}:{line}: not a valid record ({detail}); only an unfinished last line can be a torn write, so the file was changed by something else: fix or remove that line", path.display())]
    BadLine {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// The parser's reason.
        detail: String,
    },
    /// A record could not be turned into JSON (a map with non-string keys, a failing `Serialize`).
    #[error("{}: cannot encode a record: {detail}", path.display())]
    Encode { path: PathBuf, detail: String },
    /// [`Journal::truncate_to`] was asked to make the file longer.
    #[error("{}: cannot cut the file to {wanted} bytes: it is only {len} bytes long", path.display())]
    TooShort {
        path: PathBuf,
        len: u64,
        wanted: u64,
    },
    /// A followed file became shorter than what was already read (it was truncated or replaced).
    #[error("{}: the file shrank from {was} to {now} bytes while it was followed (a resumed run cuts its log back): follow it again from the start", path.display())]
    Shrank { path: PathBuf, was: u64, now: u64 },
}

/// Result alias of this module.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// Appends records of type `T` to a JSONL file, syncing each append to disk.
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    file: File,
    len: u64,
    /// The file ends without a newline: the next append writes one first.
    mid_line: bool,
    _record: PhantomData<fn(&T)>,
}

/// How far a read got: the part of the file that holds records, and the torn tail after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of the file that hold records (and blank lines); a torn tail starts here.
    pub valid_len: u64,
    /// The unfinished last line that did not parse, dropped.
    pub torn_tail: Option<TornTail>,
}

/// An unfinished last line that was dropped (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Its 1-based line number.
    pub line: usize,
    /// Its length in bytes.
    pub len: u64,
}

/// Every record of a file, and how far they go.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents<T> {
    pub records: Vec<T>,
    pub extent: Extent,
}

impl<T> Journal<T> {
    /// Creates a new, empty journal at `path`; fails if a file is there already, so a run never
    /// writes over another's log.
    pub fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| IoError::new("creating", path, e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            len: 0,
            mid_line: false,
            _record: PhantomData,
        })
    }

    /// Opens the existing journal at `path` to append to it. It does not read the records: a
    /// resuming caller reads them first and cuts a torn tail off with [`Journal::truncate_to`].
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| IoError::new("opening", path, e))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            len: 0,
            mid_line: false,
            _record: PhantomData,
        };
        journal.len = journal.file_len()?;
        journal.mid_line = journal.ends_mid_line()?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The length of the file in bytes (what a checkpoint records to cut the log back to).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cuts the file to its first `len` bytes (a torn tail, or the records after a checkpoint),
    /// synced; appending continues from there.
    pub fn truncate_to(&mut self, len: u64) -> Result<()> {
        if len > self.len {
            return Err(JournalError::TooShort {
                path: self.path.clone(),
                len: self.len,
                wanted: len,
            });
        }
        self.file
            .set_len(len)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| IoError::new("truncating", &self.path, e))?;
        self.len = len;
        self.mid_line = self.ends_mid_line()?;
        Ok(())
    }

    fn file_len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| IoError::new("reading", &self.path, e))?
            .len())
    }

    /// Whether the file's last byte is something other than a newline.
    fn ends_mid_line(&mut self) -> Result<bool> {
        if self.len == 0 {
            return Ok(false);
        }
        let mut last = [0u8];
        // Appends go to the end whatever the position, so moving it to read is safe.
        self.file
            .seek(SeekFrom::Start(self.len - 1))
            .and_then(|_| self.file.read_exact(&mut last))
            .map_err(|e| IoError::new("reading", &self.path, e))?;
        Ok(last[0] != b'\n')
    }
}

impl<T: Serialize> Journal<T> {
    /// Writes one record as a line and syncs it to disk before returning.
    pub fn append(&mut self, record: &T) -> Result<()> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Writes the records as lines in one write and syncs once: a batch (a town step's events)
    /// costs one sync, and a crash leaves at most its last line torn.
    pub fn append_all<'a>(&mut self, records: impl IntoIterator<Item = &'a T>) -> Result<()>
    where
        T: 'a,
    {
        let mut buf = Vec::new();
        if self.mid_line {
            buf.push(b'\n');
        }
        let mut any = false;
        for record in records {
            serde_json::to_writer(&mut buf, record).map_err(|e| JournalError::Encode {
                path: self.path.clone(),
                detail: e.to_string(),
            })?;
            buf.push(b'\n');
            any = true;
        }
        if !any {
            return Ok(());
        }
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|_| self.file.sync_data())
        {
            // Part of the batch may be on disk: the length is the file's, not ours.
            if let Ok(len) = self.file_len() {
                self.len = len;
                self.mid_line = true;
            }
            return Err(IoError::new("writing", &self.path, e).into());
        }
        self.len += buf.len() as u64;
        self.mid_line = false;
        Ok(())
    }
}

impl<T: DeserializeOwned> Journal<T> {
    /// Every record of the file at `path`, by the rule in the module docs.
    pub fn read_all(path: &Path) -> Result<Contents<T>> {
        let mut records = Vec::new();
        let extent = Self::read_each(path, |r| records.push(r))?;
        Ok(Contents { records, extent })
    }

    /// Hands each record of the file at `path` to `on_record` as it is read, without holding
    /// them all (a town's log can be long); same rule as [`Journal::read_all`].
    pub fn read_each(path: &Path, mut on_record: impl FnMut(T)) -> Result<Extent> {
        let file = File::open(path).map_err(|e| IoError::new("opening", path, e))?;
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut extent = Extent::default();
        let mut line = 0;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| IoError::new("reading", path, e))?;
            if n == 0 {
                break;
            }
            line += 1;
            match parse::<T>(&buf) {
                Ok(Some(record)) => on_record(record),
                Ok(None) => {}
                // No newline: this is the last line, and a torn write.
                Err(_) if buf.last() != Some(&b'\n') => {
                    extent.torn_tail = Some(TornTail {
                        line,
                        len: n as u64,
                    });
                    break;
                }
                Err(detail) => {
                    return Err(JournalError::BadLine {
                        path: path.to_path_buf(),
                        line,
                        detail,
                    })
                }
            }
            extent.valid_len += n as u64;
        }
        Ok(extent)
    }
}

/// One line: `None` when blank, else the record or the parser's reason.
fn parse<T: DeserializeOwned>(line: &[u8]) -> std::result::Result<Option<T>, String> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Follows a journal that is still being written: each [`Tail::poll`] returns the records in the
/// complete lines appended since the last poll. A line still being written (no newline yet)
/// waits for the next poll; a complete line that is not a record is an error naming `file:line`.
#[derive(Debug)]
pub struct Tail<T> {
    path: PathBuf,
    /// Bytes read so far, complete lines and the pending part.
    offset: u64,
    /// Complete lines read so far.
    line: usize,
    /// The start of a line whose newline has not come yet.
    pending: Vec<u8>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Tail<T> {
    /// Follows `path` from its beginning; the file need not exist yet.
    pub fn new(path: &Path) -> Self {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            line: 0,
            pending: Vec::new(),
            _record: PhantomData,
        }
    }

    /// How many bytes of the file have been read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The records in complete lines added since the last poll (none while the file is missing).
    pub fn poll(&mut self) -> Result<Vec<T>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(IoError::new("opening", &self.path, e).into()),
        };
        let reading = |e| IoError::new("reading", &self.path, e);
        let now = file.metadata().map_err(reading)?.len();
        if now < self.offset {
            return Err(JournalError::Shrank {
                path: self.path.clone(),
                was: self.offset,
                now,
            });
        }
        let read = file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_end(&mut self.pending))
            .map_err(reading)?;
        self.offset += read as u64;
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let raw = &self.pending[start..=start + end];
            start += end + 1;
            self.line += 1;
            match parse(raw) {
                Ok(Some(record)) => out.push(record),
                Ok(None) => {}
                Err(detail) => {
                    self.pending.drain(..start);
                    return Err(JournalError::BadLine {
                        path: self.path.clone(),
                        line: self.line,
                        detail,
                    });
                }
            }
        }
        self.pending.drain(..start);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A log file in a fresh folder, holding `text`.
    fn log_holding(text: &str) -> PathBuf {
        let path = dir().join("log.jsonl");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn dir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "hamlet-journal-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Rec {
        n: u32,
    }

    fn rec(n: u32) -> Rec {
        Rec { n }
    }

    #[test]
    fn appends_read_back_and_create_refuses_an_existing_file() {
        let path = dir().join("log.jsonl");
        let mut j = Journal::<Rec>::create(&path).expect("create");
        j.append(&rec(1)).expect("append");
        j.append_all(&[rec(2), rec(3)]).expect("append");
        j.append_all(&[]).expect("nothing");
        assert_eq!(j.len(), std::fs::metadata(&path).expect("meta").len());
        let read = Journal::<Rec>::read_all(&path).expect("read");
        assert_eq!(read.records, vec![rec(1), rec(2), rec(3)]);
        assert_eq!(read.extent.valid_len, j.len());
        assert_eq!(read.extent.torn_tail, None);
        let err = Journal::<Rec>::create(&path).expect_err("exists");
        assert!(err.to_string().starts_with("creating "), "{err}");
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_truncate_cuts_it_off() {
        let path = log_holding("{\"n\":1}\n\n{\"n\":2}\n{\"n\":");
        let read = Journal::<Rec>::read_all(&path).expect("read");
        assert_eq!(read.records, vec![rec(1), rec(2)]);
        let torn = read.extent.torn_tail.expect("torn");
        assert_eq!((torn.line, torn.len), (4, 5));
        assert_eq!(read.extent.valid_len, 17);
        let mut j = Journal::<Rec>::open(&path).expect("open");
        j.truncate_to(read.extent.valid_len).expect("truncate");
        j.append(&rec(3)).expect("append");
        let again = Journal::<Rec>::read_all(&path).expect("read");
        assert_eq!(again.records, vec![rec(1), rec(2), rec(3)]);
        assert_eq!(again.extent.torn_tail, None);
        let err = j.truncate_to(1000).expect_err("longer");
        assert!(err.to_string().contains("only 25 bytes"), "{err}");
    }

    #[test]
    fn an_unterminated_last_record_is_kept_and_appending_starts_a_new_line() {
        let path = log_holding("{\"n\":1}\n{\"n\":2}");
        let read = Journal::<Rec>::read_all(&path).expect("read");
        assert_eq!(read.records, vec![rec(1), rec(2)]);
        assert_eq!(read.extent.valid_len, 15);
        let mut j = Journal::<Rec>::open(&path).expect("open");
        j.append(&rec(3)).expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    }

    #[test]
    fn a_bad_complete_line_is_an_error_naming_file_and_line() {
        let d = dir();
        for (text, line) in [
            ("{\"n\":1}\nnope\n{\"n\":2}\n", 2),
            ("{\"n\":1}\n{\"n\":\n{\"n\":2}", 2),
            // A bad last line with its newline was written whole: not torn.
            ("{\"n\":1}\n{\"x\":2}\n", 2),
        ] {
            let path = d.join("log.jsonl");
            std::fs::write(&path, text).expect("write");
            let err = Journal::<Rec>::read_all(&path).expect_err(text);
            let msg = err.to_string();
            assert!(msg.contains(&format!("log.jsonl:{line}: ")), "{msg}");
            assert!(matches!(err, JournalError::BadLine { line: l, .. } if l == line));
        }
        let err = Journal::<Rec>::read_all(&d.join("missing.jsonl")).expect_err("missing");
        assert!(err.to_string().starts_with("opening "), "{err}");
    }

    #[test]
    fn read_each_streams_the_same_records() {
        let path = log_holding("{\"n\":1}\n{\"n\":2}\n{\"n\"");
        let mut seen = Vec::new();
        let extent = Journal::<Rec>::read_each(&path, |r| seen.push(r.n)).expect("read");
        assert_eq!(seen, vec![1, 2]);
        assert_eq!(
            extent,
            Journal::<Rec>::read_all(&path).expect("read").extent
        );
    }

    #[test]
    fn tail_waits_for_complete_lines_and_names_bad_ones() {
        let path = dir().join("log.jsonl");
        let mut tail = Tail::<u32>::new(&path);
        assert_eq!(tail.poll().expect("missing file"), Vec::<u32>::new());
        let mut f = File::create(&path).expect("create");
        write!(f, "1\n2\n3").expect("write");
        assert_eq!(tail.poll().expect("poll"), vec![1, 2]);
        assert_eq!(tail.poll().expect("poll"), Vec::<u32>::new());
        writeln!(f, "4\n5").expect("write");
        assert_eq!(tail.poll().expect("poll"), vec![34, 5]);
        assert_eq!(tail.offset(), 9);
        writeln!(f, "nope").expect("write");
        let err = tail.poll().expect_err("bad line");
        assert!(err.to_string().contains("log.jsonl:5"), "{err}");
    }

    #[test]
    fn tail_follows_a_journal_across_partial_writes_and_notices_a_cut() {
        let path = dir().join("log.jsonl");
        let mut j = Journal::<Rec>::create(&path).expect("create");
        let mut tail = Tail::<Rec>::new(&path);
        j.append(&rec(1)).expect("append");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"n\"").expect("write");
        assert_eq!(tail.poll().expect("poll"), vec![rec(1)]);
        f.write_all(b":2").expect("write");
        assert_eq!(tail.poll().expect("poll"), Vec::<Rec>::new());
        f.write_all(b"}\n{\"n\":3}\n").expect("write");
        assert_eq!(tail.poll().expect("poll"), vec![rec(2), rec(3)]);
        let mut j = Journal::<Rec>::open(&path).expect("open");
        assert_eq!(j.len(), tail.offset());
        j.truncate_to(8).expect("truncate");
        let err = tail.poll().expect_err("shrank");
        assert!(
            matches!(
                err,
                JournalError::Shrank {
                    was: 24,
                    now: 8,
                    ..
                }
            ),
            "{err}"
        );
    }
}
