//! File tools, all confined to the run's workspace.

use std::io::{Read, Write};
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::{ToolContext, ToolError, ToolResult};

fn io_err(what: &str, path: &str, e: std::io::Error) -> ToolError {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => " (use list_dir to see which files exist)",
        std::io::ErrorKind::IsADirectory => " (it is a directory: use list_dir)",
        _ => "",
    };
    ToolError::failed(format!("cannot {what} {path:?}: {e}{hint}"))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    /// Path relative to the workspace root.
    pub path: String,
}

pub(crate) fn read_file(ctx: &ToolContext, a: PathArgs) -> ToolResult<String> {
    let path = ctx.workspace.resolve(&a.path)?;
    if path.is_dir() {
        return Err(ToolError::failed(format!(
            "{:?} is a directory; use list_dir to see its files",
            a.path
        )));
    }
    let file = open_regular(
        &path,
        &a.path,
        std::fs::OpenOptions::new().read(true),
        "read",
    )?;
    let mut bytes = Vec::new();
    let limit = ctx.policy.max_read_bytes;
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err("read", &a.path, e))?;
    let cut = bytes.len() as u64 > limit;
    bytes.truncate(limit as usize);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        text.push_str(&format!("\n[file cut at {limit} bytes]"));
    }
    Ok(text)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// Path relative to the workspace root; parent directories are created.
    pub path: String,
    /// The text to write.
    pub content: String,
}

/// Opens `path` (`rel` in the workspace) without waiting on a FIFO or a device, and refuses
/// anything but a regular file: reading a FIFO would wait for a writer forever, and a device may
/// never end. The check is on the opened file, so nothing can be swapped in after it.
fn open_regular(
    path: &Path,
    rel: &str,
    opts: &mut std::fs::OpenOptions,
    verb: &str,
) -> ToolResult<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = opts.open(path).map_err(|e| io_err(verb, rel, e))?;
    let meta = file.metadata().map_err(|e| io_err(verb, rel, e))?;
    if !meta.is_file() {
        return Err(ToolError::refused(format!(
            "{rel:?} is not a regular file (a FIFO, socket or device): the file tools only read and write regular files"
        )));
    }
    Ok(file)
}

fn write(ctx: &ToolContext, a: &WriteArgs, append: bool) -> ToolResult<String> {
    if a.path.trim().is_empty() {
        return Err(ToolError::InvalidArgs("path is empty: name a file".into()));
    }
    let path = ctx.workspace.resolve(&a.path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create the folder for", &a.path, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true)
        .write(true)
        .append(append)
        .truncate(!append);
    let mut file = open_regular(&path, &a.path, &mut opts, "open")?;
    file.write_all(a.content.as_bytes())
        .map_err(|e| io_err("write", &a.path, e))?;
    drop(file);
    let verb = if append { "appended" } else { "wrote" };
    Ok(format!(
        "{verb} {} bytes to {}. {}",
        a.content.len(),
        a.path,
        now_holds(&path)
    ))
}

/// What a file holds after a write, so the agent sees the result of its edit (all of it when the
/// file is small).
fn now_holds(path: &Path) -> String {
    const SHOWN: usize = 600;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= 1 << 20 => {}
        Ok(m) => return format!("It now holds {} bytes.", m.len()),
        Err(_) => return "It cannot be read back now.".into(),
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return "It is not readable as text now.".into();
    };
    let lines = match text.lines().count() {
        1 => "1 line".to_string(),
        n => format!("{n} lines"),
    };
    if text.chars().count() <= SHOWN {
        format!("It now holds ({lines}):\n{text}")
    } else {
        format!("It now holds {} bytes ({lines}).", text.len())
    }
}

pub(crate) fn write_file(ctx: &ToolContext, a: WriteArgs) -> ToolResult<String> {
    write(ctx, &a, false)
}

pub(crate) fn append_file(ctx: &ToolContext, a: WriteArgs) -> ToolResult<String> {
    write(ctx, &a, true)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Folder relative to the workspace root ("." or empty for the root).
    #[serde(default)]
    pub path: Option<String>,
}

pub(crate) fn list_dir(ctx: &ToolContext, a: ListArgs) -> ToolResult<String> {
    let rel = a.path.unwrap_or_default();
    let dir = ctx.workspace.resolve(&rel)?;
    if dir.is_file() {
        return Err(ToolError::failed(format!(
            "{rel:?} is a file, not a folder: use read_file to read it, or list_dir with no path to list the workspace"
        )));
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| io_err("list", &rel, e))?;
    let mut lines = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match entry.metadata() {
            Ok(m) if m.is_dir() => lines.push(format!("{name}/")),
            Ok(m) => lines.push(match text_lines(&entry.path(), &m) {
                Some(1) => format!("{name} ({} bytes, 1 line)", m.len()),
                Some(n) => format!("{name} ({} bytes, {n} lines)", m.len()),
                None => format!("{name} ({} bytes)", m.len()),
            }),
            Err(_) => lines.push(name),
        }
    }
    lines.sort();
    if lines.is_empty() {
        return Ok("(empty folder)".into());
    }
    Ok(lines.join("\n"))
}

/// Lines of a small UTF-8 text file (a last line without a newline counts), for listings:
/// counting is what small models get wrong when they read a file themselves.
fn text_lines(path: &Path, meta: &std::fs::Metadata) -> Option<usize> {
    const MAX: u64 = 1 << 20;
    // Regular files only: reading a FIFO or a device would block or never end.
    if !meta.is_file() || meta.len() == 0 || meta.len() > MAX {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().count())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Text to look for (case-insensitive), or a regular expression when `regex` is true.
    pub pattern: String,
    /// Folder to search, relative to the workspace root (default: everything).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub regex: Option<bool>,
}

const MAX_MATCHES: usize = 50;
const MAX_SEARCH_FILE: u64 = 1 << 20;

pub(crate) fn search_files(ctx: &ToolContext, a: SearchArgs) -> ToolResult<String> {
    if a.pattern.is_empty() {
        return Err(ToolError::InvalidArgs("pattern is empty".into()));
    }
    let source = if a.regex.unwrap_or(false) {
        a.pattern.clone()
    } else {
        regex::escape(&a.pattern)
    };
    let re = regex::RegexBuilder::new(&source)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| ToolError::InvalidArgs(format!("bad regular expression: {e}")))?;
    let root = ctx.workspace.resolve(a.path.as_deref().unwrap_or(""))?;
    let mut hits = Vec::new();
    let mut more = false;
    // Symlinks are not followed, so the walk cannot leave the workspace.
    for entry in walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = ctx.workspace.relative(entry.path());
        if re.is_match(&rel) {
            hits.push(format!("{rel}: (file name matches)"));
        }
        let too_big = entry
            .metadata()
            .map(|m| m.len() > MAX_SEARCH_FILE)
            .unwrap_or(true);
        if too_big {
            continue;
        }
        let mut opts = std::fs::OpenOptions::new();
        let Ok(mut file) = open_regular(entry.path(), &rel, opts.read(true), "read") else {
            continue;
        };
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if re.is_match(line) {
                let line: String = line.chars().take(200).collect();
                hits.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
        if hits.len() > MAX_MATCHES {
            more = true;
            break;
        }
    }
    hits.truncate(MAX_MATCHES);
    if hits.is_empty() {
        return Ok(format!("no matches for {:?}", a.pattern));
    }
    let mut out = hits.join("\n");
    if more {
        out.push_str(&format!(
            "\n[more matches not shown; the first {MAX_MATCHES} are above]"
        ));
    }
    Ok(out)
}
