//! A depth-first traversal of the whole filesystem from the root.
//!
//! Entries come in byte-sorted name order within each directory, one per path, so a hard
//! link appears once for each of its names (callers group by inode number). A corrupt
//! entry is recorded and skipped instead of ending the walk, so a checker can list every
//! problem. Directory loops and absurd nesting are reported, never followed. The walk
//! reads inodes and directories only; it does not read file data.

use std::collections::HashMap;

use super::error::Ext4Error;
use super::filesystem::{Ext4, ROOT_INO};
use super::inode::{FileType, Inode};
use crate::image::io::ReadAt;

/// Deeper nesting than this is refused; `PATH_MAX` allows at most 2048 levels of
/// one-byte names, and real systems stay far below this.
pub const MAX_DEPTH: usize = 1024;

/// One path of the filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    /// The absolute path, `/` for the root, `/usr/bin/x` below it.
    pub path: Vec<u8>,
    /// The inode number.
    pub ino: u32,
    /// The inode, with extended attributes.
    pub inode: Inode,
}

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Every readable path, in depth-first byte-sorted order.
    pub entries: Vec<WalkEntry>,
    /// Every problem met, each naming its path.
    pub errors: Vec<Ext4Error>,
}

/// A path waiting to be visited.
struct Pending {
    path: Vec<u8>,
    ino: u32,
    depth: usize,
    /// The type the directory entry claims, checked against the inode.
    claimed: Option<FileType>,
}

fn at(path: &[u8], source: Ext4Error) -> Ext4Error {
    Ext4Error::AtPath {
        path: path.escape_ascii().to_string(),
        source: Box::new(source),
    }
}

impl<R: ReadAt> Ext4<R> {
    /// Walks the whole tree from the root. Never fails as a whole: problems are collected
    /// in [`Walk::errors`] and the rest of the tree is still visited.
    pub fn walk(&self) -> Walk {
        let mut walk = Walk::default();
        let mut seen_dirs: HashMap<u32, Vec<u8>> = HashMap::new();
        let mut stack = vec![Pending {
            path: b"/".to_vec(),
            ino: ROOT_INO,
            depth: 0,
            claimed: Some(FileType::Directory),
        }];
        while let Some(p) = stack.pop() {
            let inode = match self.inode(p.ino) {
                Ok(inode) => inode,
                Err(e) => {
                    walk.errors.push(at(&p.path, e));
                    continue;
                }
            };
            let Some(kind) = inode.file_type() else {
                walk.errors.push(at(
                    &p.path,
                    Ext4Error::BadInode {
                        ino: p.ino,
                        why: format!("mode {:#o} names no file type (unused inode?)", inode.mode),
                    },
                ));
                continue;
            };
            if p.claimed.is_some_and(|c| c != kind) {
                walk.errors.push(at(
                    &p.path,
                    Ext4Error::BadInode {
                        ino: p.ino,
                        why: format!(
                            "the directory entry says {} but the inode is a {}",
                            p.claimed.map_or("", |c| c.name()),
                            kind.name()
                        ),
                    },
                ));
            }
            if kind == FileType::Directory {
                if let Some(first) = seen_dirs.get(&p.ino) {
                    walk.errors.push(Ext4Error::DirectoryLoop {
                        path: p.path.escape_ascii().to_string(),
                        ino: p.ino,
                        first: first.escape_ascii().to_string(),
                    });
                    continue;
                }
                seen_dirs.insert(p.ino, p.path.clone());
                if p.depth >= MAX_DEPTH {
                    walk.errors.push(Ext4Error::TooDeep {
                        path: p.path.escape_ascii().to_string(),
                        depth: p.depth,
                        limit: MAX_DEPTH,
                    });
                } else {
                    match self.read_dir_of(&inode) {
                        Ok(mut children) => {
                            children.sort_by(|a, b| b.name.cmp(&a.name));
                            for child in children {
                                let mut path = p.path.clone();
                                if path.len() > 1 {
                                    path.push(b'/');
                                }
                                path.extend_from_slice(&child.name);
                                stack.push(Pending {
                                    path,
                                    ino: child.ino,
                                    depth: p.depth + 1,
                                    claimed: child.file_type,
                                });
                            }
                        }
                        Err(e) => walk.errors.push(at(&p.path, e)),
                    }
                }
            }
            walk.entries.push(WalkEntry {
                path: p.path,
                ino: p.ino,
                inode,
            });
        }
        walk
    }
}
