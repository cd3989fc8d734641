//! [`Tree`]: the whole filesystem as a value, paths mapped to shared inodes.
//!
//! Several paths may share one inode (hard links). Operations work on tree paths only:
//! symbolic links are resolved *inside the tree*, never on the host, with `..` stopping at
//! the tree's root as it would in a chroot. Iteration is in path order, so parents come
//! before children and the same tree always iterates the same way.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::entry::{Inode, Kind};
use super::error::TreeError;
use super::path::{TreePath, check_name};

/// The most symbolic links followed while resolving one path, as Linux allows.
const MAX_SYMLINKS: usize = 40;

/// Identifies an inode of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeId(usize);

/// A filesystem as a value.
#[derive(Debug, Clone)]
pub struct Tree {
    /// Inodes by id; an inode no path refers to any more is simply never visited.
    inodes: Vec<Inode>,
    paths: BTreeMap<TreePath, InodeId>,
}

impl Tree {
    /// A tree holding only its root directory.
    pub fn new(root: Inode) -> Self {
        let mut paths = BTreeMap::new();
        paths.insert(TreePath::root(), InodeId(0));
        Self {
            inodes: vec![root],
            paths,
        }
    }

    /// The number of paths, the root included.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Never true: a tree always has its root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The inode at `path`, without following a final symlink.
    pub fn get(&self, path: &TreePath) -> Option<&Inode> {
        self.paths.get(path).map(|id| &self.inodes[id.0])
    }

    /// The inode id at `path`, without following a final symlink.
    pub fn id(&self, path: &TreePath) -> Option<InodeId> {
        self.paths.get(path).copied()
    }

    /// The inode with `id`.
    pub fn inode(&self, id: InodeId) -> &Inode {
        &self.inodes[id.0]
    }

    /// Changes the inode at `path` (every hard link to it sees the change).
    pub fn get_mut(&mut self, path: &TreePath) -> Option<&mut Inode> {
        let id = *self.paths.get(path)?;
        Some(&mut self.inodes[id.0])
    }

    /// Checks that `path`'s parent exists and is a directory (not a symlink to one: callers
    /// that want dpkg's behaviour resolve the parent first with [`Tree::resolve`]).
    fn check_parent(&self, path: &TreePath) -> Result<(), TreeError> {
        let Some(parent) = path.parent() else {
            return Err(TreeError::Exists {
                path: path.to_string(),
            });
        };
        match self.get(&parent) {
            Some(inode) if inode.is_dir() => Ok(()),
            Some(_) => Err(TreeError::NotADirectory {
                path: parent.to_string(),
            }),
            None => Err(TreeError::NotFound {
                path: parent.to_string(),
            }),
        }
    }

    /// Adds a new entry; its parent directory must exist and nothing may be at `path`.
    pub fn insert(&mut self, path: TreePath, inode: Inode) -> Result<InodeId, TreeError> {
        if self.paths.contains_key(&path) {
            return Err(TreeError::Exists {
                path: path.to_string(),
            });
        }
        self.check_parent(&path)?;
        let id = InodeId(self.inodes.len());
        self.inodes.push(inode);
        self.paths.insert(path, id);
        Ok(id)
    }

    /// Puts `inode` at `path`, replacing what is there. A directory replacing a directory
    /// keeps its entries (only its attributes change); anything replacing a non-empty
    /// directory is refused. Replacing a hard-linked file detaches this path only.
    pub fn replace(&mut self, path: TreePath, inode: Inode) -> Result<InodeId, TreeError> {
        match self.paths.get(&path).copied() {
            None => self.insert(path, inode),
            Some(id) if self.inodes[id.0].is_dir() && inode.is_dir() => {
                self.inodes[id.0] = inode;
                Ok(id)
            }
            Some(id) => {
                if self.inodes[id.0].is_dir() && self.children(&path).next().is_some() {
                    return Err(TreeError::DirectoryNotEmpty {
                        path: path.to_string(),
                    });
                }
                if path.is_root() {
                    return Err(TreeError::NotADirectory {
                        path: path.to_string(),
                    });
                }
                let id = InodeId(self.inodes.len());
                self.inodes.push(inode);
                self.paths.insert(path, id);
                Ok(id)
            }
        }
    }

    /// Makes `new` another name of the inode at `existing` (a hard link).
    pub fn link(&mut self, existing: &TreePath, new: TreePath) -> Result<InodeId, TreeError> {
        let id = self.id(existing).ok_or_else(|| TreeError::NotFound {
            path: existing.to_string(),
        })?;
        if self.inodes[id.0].is_dir() {
            return Err(TreeError::LinkToDirectory {
                path: existing.to_string(),
            });
        }
        if self.paths.contains_key(&new) {
            return Err(TreeError::Exists {
                path: new.to_string(),
            });
        }
        self.check_parent(&new)?;
        self.paths.insert(new, id);
        Ok(id)
    }

    /// Removes `path` and, for a directory, everything below it. Removing the root is
    /// refused.
    pub fn remove(&mut self, path: &TreePath) -> Result<(), TreeError> {
        if path.is_root() || !self.paths.contains_key(path) {
            return Err(TreeError::NotFound {
                path: path.to_string(),
            });
        }
        let below: Vec<TreePath> = self
            .paths
            .range((Bound::Included(path.clone()), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.paths.remove(&p);
        }
        Ok(())
    }

    /// The entries directly inside directory `dir`, in name order.
    pub fn children<'a>(
        &'a self,
        dir: &'a TreePath,
    ) -> impl Iterator<Item = (&'a TreePath, InodeId)> + 'a {
        let depth = dir.depth() + 1;
        self.paths
            .range((Bound::Excluded(dir.clone()), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(dir))
            .filter(move |(p, _)| p.depth() == depth)
            .map(|(p, id)| (p, *id))
    }

    /// Every path with its inode, in path order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = (&TreePath, InodeId, &Inode)> {
        self.paths
            .iter()
            .map(|(p, id)| (p, *id, &self.inodes[id.0]))
    }

    /// How many paths name `id`.
    pub fn link_count(&self, id: InodeId) -> usize {
        self.paths.values().filter(|v| **v == id).count()
    }

    /// For each inode named by more than one path, its paths in order: the first is the
    /// one an archive stores the data under.
    pub fn hard_links(&self) -> BTreeMap<InodeId, Vec<&TreePath>> {
        let mut by_id: BTreeMap<InodeId, Vec<&TreePath>> = BTreeMap::new();
        for (path, id) in &self.paths {
            if !self.inodes[id.0].is_dir() {
                by_id.entry(*id).or_default().push(path);
            }
        }
        by_id.retain(|_, paths| paths.len() > 1);
        by_id
    }

    /// Resolves symbolic links in `path` inside the tree. Intermediate components are always
    /// followed; the last one only when `follow_last`. Absolute targets start at the tree's
    /// root, `..` stops at the root. Components that do not exist are kept as written, so
    /// the result is also where a new file at `path` would go.
    pub fn resolve(&self, path: &TreePath, follow_last: bool) -> Result<TreePath, TreeError> {
        let mut pending: Vec<Vec<u8>> = path.components().rev().map(<[u8]>::to_vec).collect();
        let mut current = TreePath::root();
        let mut followed = 0;
        while let Some(name) = pending.pop() {
            if name == b".." {
                current.pop();
                continue;
            }
            if name.is_empty() || name == b"." {
                continue;
            }
            check_name(&name)?;
            current.push(name);
            let is_last = pending.is_empty();
            if is_last && !follow_last {
                break;
            }
            if let Some(Inode {
                kind: Kind::Symlink(target),
                ..
            }) = self.get(&current)
            {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(TreeError::SymlinkLoop {
                        path: path.to_string(),
                    });
                }
                current.pop();
                if target.starts_with(b"/") {
                    current = TreePath::root();
                }
                pending.extend(target.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
            }
        }
        Ok(current)
    }

    /// The inode `path` leads to, following every symbolic link inside the tree.
    pub fn lookup(&self, path: &TreePath) -> Result<&Inode, TreeError> {
        let resolved = self.resolve(path, true)?;
        self.get(&resolved).ok_or_else(|| TreeError::NotFound {
            path: path.to_string(),
        })
    }

    /// Creates `path` and any missing parents as directories like `template` (an existing
    /// directory is left as it is). Parents are resolved through symlinks.
    pub fn create_dir_all(
        &mut self,
        path: &TreePath,
        template: &Inode,
    ) -> Result<TreePath, TreeError> {
        let mut current = TreePath::root();
        for name in path.components() {
            let next = self.resolve(&current.join(name)?, true)?;
            match self.get(&next) {
                Some(inode) if inode.is_dir() => {}
                Some(_) => {
                    return Err(TreeError::NotADirectory {
                        path: next.to_string(),
                    });
                }
                None => {
                    self.insert(next.clone(), template.clone())?;
                }
            }
            current = next;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::entry::Timestamp;

    fn p(text: &str) -> TreePath {
        TreePath::parse(text).unwrap()
    }

    fn sample() -> Tree {
        let t = Timestamp::from_secs(1_456_704_000);
        let mut tree = Tree::new(Inode::dir(0o755, t));
        for dir in ["usr", "usr/lib", "etc", "var"] {
            tree.insert(p(dir), Inode::dir(0o755, t)).unwrap();
        }
        tree.insert(p("lib"), Inode::symlink("usr/lib", t)).unwrap();
        tree.insert(p("usr/lib/libc.so"), Inode::file("elf", 0o644, t))
            .unwrap();
        tree.insert(p("etc/loop1"), Inode::symlink("loop2", t))
            .unwrap();
        tree.insert(p("etc/loop2"), Inode::symlink("/etc/loop1", t))
            .unwrap();
        tree.insert(
            p("etc/escape"),
            Inode::symlink("../../../../usr/lib/libc.so", t),
        )
        .unwrap();
        tree
    }

    #[test]
    fn insert_needs_a_directory_parent() {
        let mut tree = sample();
        let t = Timestamp::default();
        assert!(matches!(
            tree.insert(p("missing/x"), Inode::file("", 0o644, t)),
            Err(TreeError::NotFound { .. })
        ));
        assert!(matches!(
            tree.insert(p("usr/lib/libc.so/x"), Inode::file("", 0o644, t)),
            Err(TreeError::NotADirectory { .. })
        ));
        assert!(matches!(
            tree.insert(p("etc"), Inode::dir(0o755, t)),
            Err(TreeError::Exists { .. })
        ));
        // A symlinked parent is not followed by insert; resolve first, as dpkg does.
        assert!(tree.insert(p("lib/x"), Inode::file("", 0o644, t)).is_err());
        let target = tree.resolve(&p("lib/x"), false).unwrap();
        assert_eq!(target, p("usr/lib/x"));
        tree.insert(target, Inode::file("x", 0o644, t)).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_the_tree() {
        let tree = sample();
        assert_eq!(
            tree.resolve(&p("lib/libc.so"), true).unwrap(),
            p("usr/lib/libc.so")
        );
        // `..` above the root stays at the root, as in a chroot.
        assert!(matches!(
            tree.lookup(&p("etc/escape")).unwrap().kind,
            Kind::File { .. }
        ));
        assert!(matches!(
            tree.lookup(&p("etc/loop1")),
            Err(TreeError::SymlinkLoop { .. })
        ));
        assert_eq!(
            tree.resolve(&p("etc/loop1"), false).unwrap(),
            p("etc/loop1")
        );
    }

    #[test]
    fn remove_takes_the_subtree_and_iteration_is_sorted() {
        let mut tree = sample();
        tree.remove(&p("usr")).unwrap();
        assert!(tree.get(&p("usr/lib/libc.so")).is_none());
        assert!(tree.remove(&TreePath::root()).is_err());
        let paths: Vec<String> = tree.iter().map(|(p, _, _)| p.to_string()).collect();
        let mut sorted = paths.clone();
        sorted.sort_by_key(|s| TreePath::parse(s).unwrap());
        assert_eq!(paths, sorted);
        assert_eq!(paths[0], "/");
    }

    #[test]
    fn hard_links_share_an_inode() {
        let mut tree = sample();
        tree.link(&p("usr/lib/libc.so"), p("etc/libc-link"))
            .unwrap();
        let id = tree.id(&p("etc/libc-link")).unwrap();
        assert_eq!(tree.link_count(id), 2);
        tree.get_mut(&p("etc/libc-link")).unwrap().mode = 0o600;
        assert_eq!(tree.get(&p("usr/lib/libc.so")).unwrap().mode, 0o600);
        let links = tree.hard_links();
        assert_eq!(links.len(), 1);
        assert_eq!(links[&id][0].to_string(), "/etc/libc-link");
        assert!(matches!(
            tree.link(&p("usr"), p("x")),
            Err(TreeError::LinkToDirectory { .. })
        ));
    }

    #[test]
    fn replace_keeps_directory_entries_and_refuses_to_clobber_them() {
        let mut tree = sample();
        let t = Timestamp::from_secs(7);
        tree.replace(p("usr"), Inode::dir(0o700, t)).unwrap();
        assert_eq!(tree.get(&p("usr")).unwrap().mode, 0o700);
        assert!(tree.get(&p("usr/lib/libc.so")).is_some());
        assert!(matches!(
            tree.replace(p("usr"), Inode::file("", 0o644, t)),
            Err(TreeError::DirectoryNotEmpty { .. })
        ));
        tree.replace(p("usr/lib/libc.so"), Inode::file("new", 0o644, t))
            .unwrap();
        assert_eq!(tree.get(&p("usr/lib/libc.so")).unwrap().size(), 3);
    }

    #[test]
    fn create_dir_all_follows_symlinked_parents() {
        let mut tree = sample();
        let made = tree
            .create_dir_all(&p("lib/a/b"), &Inode::dir(0o755, Timestamp::default()))
            .unwrap();
        assert_eq!(made, p("usr/lib/a/b"));
        assert!(tree.get(&p("usr/lib/a/b")).unwrap().is_dir());
    }
}
