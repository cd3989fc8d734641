//! Reading and changing files of a tree on behalf of the node stage, recording every path
//! touched so the manifest can list what the builder wrote.
//!
//! Paths are absolute-looking text (`/etc/hostname`) as node settings are written; symlinks
//! in parent directories resolve inside the tree, never on the host. This module decides
//! nothing about what goes into a file.

use std::collections::BTreeSet;

use crate::tree::{Content, Inode, Kind, Timestamp, Tree, TreeError, TreePath};

/// The largest file the node stage reads back from a tree (config files are small; a
/// hostile base must not make it read gigabytes).
pub const MAX_READ: u64 = 16 << 20;

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The path is not valid in a tree, or the tree refused the change.
    #[error("{path}: {source}")]
    Tree {
        /// The path.
        path: String,
        /// What the tree said.
        source: TreeError,
    },
    /// The file exists but cannot be read as the node stage needs.
    #[error("{path} in the base image cannot be read: {reason}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Changes one tree (the root or the boot filesystem), recording each path it touches.
pub struct Editor<'a> {
    tree: &'a mut Tree,
    changed: &'a mut BTreeSet<TreePath>,
    mtime: Timestamp,
}

fn parse(path: &str) -> Result<TreePath, EditError> {
    TreePath::parse(path.trim_start_matches('/')).map_err(|source| EditError::Tree {
        path: path.to_owned(),
        source,
    })
}

impl<'a> Editor<'a> {
    /// An editor of `tree` that gives written files time `mtime` and records paths in
    /// `changed`.
    pub fn new(tree: &'a mut Tree, changed: &'a mut BTreeSet<TreePath>, mtime: Timestamp) -> Self {
        Self {
            tree,
            changed,
            mtime,
        }
    }

    /// The tree as it is now.
    pub fn tree(&self) -> &Tree {
        self.tree
    }

    /// The time written files get.
    pub fn mtime(&self) -> Timestamp {
        self.mtime
    }

    /// Whether `path` exists (the last component not followed if it is a symlink).
    pub fn exists(&self, path: &str) -> Result<bool, EditError> {
        let path = self.resolve(path, false)?;
        Ok(self.tree.get(&path).is_some())
    }

    /// The inode at `path`, following symlinks; `None` when absent.
    pub fn inode(&self, path: &str) -> Result<Option<&Inode>, EditError> {
        let path = self.resolve(path, true)?;
        Ok(self.tree.get(&path))
    }

    /// The contents of the regular file at `path` (symlinks followed); `None` when absent.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, EditError> {
        let Some(inode) = self.inode(path)? else {
            return Ok(None);
        };
        match &inode.kind {
            Kind::File { size, content } => {
                content
                    .read_to_vec(*size, MAX_READ)
                    .map(Some)
                    .map_err(|e| EditError::Read {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })
            }
            _ => Err(EditError::Read {
                path: path.to_owned(),
                reason: "it is not a regular file".to_owned(),
            }),
        }
    }

    /// The file at `path` as UTF-8 text (invalid sequences replaced); `None` when absent.
    pub fn read_text(&self, path: &str) -> Result<Option<String>, EditError> {
        Ok(self
            .read(path)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Writes a root-owned regular file, replacing whatever was at `path`.
    pub fn write(
        &mut self,
        path: &str,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Result<(), EditError> {
        self.write_owned(path, bytes, mode, 0, 0)
    }

    /// Writes a regular file with an owner and group, replacing whatever was at `path`.
    /// Missing parent directories are created root-owned, mode 0755.
    pub fn write_owned(
        &mut self,
        path: &str,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(), EditError> {
        let bytes = bytes.into();
        let mut inode = Inode::new(
            Kind::File {
                size: bytes.len() as u64,
                content: Content::inline(bytes),
            },
            mode,
            self.mtime,
        );
        inode.uid = uid;
        inode.gid = gid;
        self.put(path, inode)
    }

    /// Puts a symbolic link at `path`, replacing whatever was there.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), EditError> {
        let inode = Inode::symlink(target.as_bytes().to_vec(), self.mtime);
        self.put(path, inode)
    }

    /// Makes sure a directory exists at `path` (and its parents); a new one gets `mode`,
    /// `uid` and `gid`, an existing one keeps its own.
    pub fn mkdir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<(), EditError> {
        let parsed = parse(path)?;
        let resolved = self.resolve(path, true)?;
        if self.tree.get(&resolved).is_some_and(Inode::is_dir) {
            return Ok(());
        }
        if let Some(parent) = parsed.parent() {
            self.tree
                .create_dir_all(&parent, &Inode::dir(0o755, self.mtime))
                .map_err(|source| EditError::Tree {
                    path: path.to_owned(),
                    source,
                })?;
        }
        let mut dir = Inode::dir(mode, self.mtime);
        dir.uid = uid;
        dir.gid = gid;
        self.put(path, dir)
    }

    /// Puts any inode at `path` (symlinks in parents resolved, the last component
    /// replaced, missing parents created), and records the path.
    pub fn put(&mut self, path: &str, inode: Inode) -> Result<(), EditError> {
        let err = |source| EditError::Tree {
            path: path.to_owned(),
            source,
        };
        let parsed = parse(path)?;
        let parent = parsed.parent().unwrap_or_default();
        self.tree
            .create_dir_all(&parent, &Inode::dir(0o755, self.mtime))
            .map_err(err)?;
        let dest = self.tree.resolve(&parsed, false).map_err(err)?;
        self.tree.replace(dest.clone(), inode).map_err(err)?;
        self.changed.insert(dest);
        Ok(())
    }

    /// Removes `path` (a directory with everything below it); returns whether it existed.
    pub fn remove(&mut self, path: &str) -> Result<bool, EditError> {
        let dest = self.resolve(path, false)?;
        if self.tree.get(&dest).is_none() {
            return Ok(false);
        }
        self.tree.remove(&dest).map_err(|source| EditError::Tree {
            path: path.to_owned(),
            source,
        })?;
        self.changed.insert(dest);
        Ok(true)
    }

    fn resolve(&self, path: &str, follow_last: bool) -> Result<TreePath, EditError> {
        let parsed = parse(path)?;
        self.tree
            .resolve(&parsed, follow_last)
            .map_err(|source| EditError::Tree {
                path: path.to_owned(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let t = Timestamp::from_secs(1_456_704_000);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        tree.insert(TreePath::parse("etc").unwrap(), Inode::dir(0o755, t))
            .unwrap();
        tree.insert(
            TreePath::parse("etc/hostname").unwrap(),
            Inode::file(b"raspberrypi\n".to_vec(), 0o644, t),
        )
        .unwrap();
        tree.insert(
            TreePath::parse("boot").unwrap(),
            Inode::symlink(b"firmware".to_vec(), t),
        )
        .unwrap();
        tree
    }

    #[test]
    fn writes_through_parent_symlinks_and_records_the_real_path() {
        let mut tree = tree();
        let mut changed = BTreeSet::new();
        let mut edit = Editor::new(&mut tree, &mut changed, Timestamp::from_secs(7));
        edit.write("/boot/ssh", Vec::new(), 0o644).unwrap();
        assert!(edit.exists("/firmware/ssh").unwrap());
        assert_eq!(
            changed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["/firmware/ssh".to_owned()]
        );
    }

    #[test]
    fn reads_replaces_and_removes() {
        let mut tree = tree();
        let mut changed = BTreeSet::new();
        let mut edit = Editor::new(&mut tree, &mut changed, Timestamp::from_secs(7));
        assert_eq!(
            edit.read_text("/etc/hostname").unwrap().as_deref(),
            Some("raspberrypi\n")
        );
        edit.write_owned("/etc/hostname", b"blog\n".to_vec(), 0o600, 0, 42)
            .unwrap();
        let inode = edit.inode("/etc/hostname").unwrap().unwrap();
        assert_eq!((inode.mode, inode.gid), (0o600, 42));
        assert!(edit.remove("/etc/hostname").unwrap());
        assert!(!edit.remove("/etc/hostname").unwrap());
        assert_eq!(edit.read("/etc/hostname").unwrap(), None);
        assert!(edit.read("/etc").is_err());
    }
}
