use std::path::{Component, Path, PathBuf};

use crate::{ToolError, ToolResult};

/// The directory an agent's file tools are confined to.
///
/// Paths from the model are relative to it. [`Workspace::resolve`] refuses absolute paths and `..`
/// outright, then follows every existing component through symlinks and refuses the path when
/// any of them leads outside the (canonical) root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Opens (creating if needed) a workspace directory.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)?;
        Ok(Workspace {
            root: root.canonicalize()?,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path for a workspace-relative path, or a refusal saying why.
    pub fn resolve(&self, rel: &str) -> ToolResult<PathBuf> {
        let rel = rel.trim();
        let path = Path::new(rel);
        let mut cur = self.root.clone();
        for comp in path.components() {
            match comp {
                Component::CurDir => {}
                Component::Normal(name) => {
                    cur.push(name);
                    if std::fs::symlink_metadata(&cur).is_ok() {
                        let real = cur.canonicalize().map_err(|e| {
                            ToolError::failed(format!("cannot resolve {rel:?}: {e}"))
                        })?;
                        if !real.starts_with(&self.root) {
                            return Err(ToolError::refused(format!(
                                "{rel:?} is a link that leads outside the workspace; only files inside the workspace can be used"
                            )));
                        }
                        cur = real;
                    }
                }
                Component::ParentDir => {
                    return Err(ToolError::refused(format!(
                    "{rel:?} contains '..'; use a path inside the workspace, relative to its root"
                )))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(ToolError::refused(format!(
                        "{rel:?} is an absolute path; use a path relative to the workspace root"
                    )))
                }
            }
        }
        Ok(cur)
    }

    /// The workspace-relative form of an absolute path inside it (for display).
    pub fn relative(&self, abs: &Path) -> String {
        abs.strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| abs.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_resolve_inside() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        let p = ws.resolve("a/b.txt").unwrap();
        assert!(p.starts_with(ws.root()));
        assert_eq!(ws.resolve("").unwrap(), ws.root());
        assert_eq!(ws.resolve("./x").unwrap(), ws.root().join("x"));
    }

    #[test]
    fn traversal_and_absolute_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path()).unwrap();
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/.."] {
            let err = ws.resolve(bad).unwrap_err();
            assert!(err.is_refusal(), "{bad}: {err}");
        }
    }
}
