//! Applying a read [`DebPackage`] to a [`Tree`] the way `dpkg --unpack` changes a root.
//!
//! What dpkg does, and so what this does (checked against dpkg 1.21 with `--root`):
//! - Parent components are resolved through symlinks inside the tree, so `./lib/x` on an
//!   image where `/lib -> usr/lib` lands in `/usr/lib/x`; the last component is not
//!   followed (a file replaces a symlink), except that a symlink to a directory stands for
//!   the directory.
//! - A directory the package ships is created with the package's mode, owner and time; an
//!   existing one keeps its own attributes. A symlink where the tree has a directory leaves
//!   the directory alone. Other entries replace whatever is at their path, a directory
//!   with everything below it included, as dpkg does.
//! - A path another package diverted is written at the divert-to name.
//! - Conffiles are written as `<path>.dpkg-new` and the current file is left alone, first
//!   install included: dpkg only puts them in place at `--configure`, which runs on first
//!   boot. (So after unpacking, `/etc/foo.conf` may be absent and only
//!   `/etc/foo.conf.dpkg-new` present; dpkg records the conffile's hash as `newconffile`.)
//! - On upgrade, files of the old version that the new one lacks are removed afterwards,
//!   unless another package owns them, they are obsolete conffiles (dpkg keeps those), they
//!   are the same tree entry as a new file (the `/lib` vs `/usr/lib` alias), or they are
//!   non-empty directories or symlinks to directories.
//!
//! - Owners are the archive's numeric ids. dpkg prefers the owner and group *names* when
//!   the system knows them; for the fixed system accounts Debian packages use, names and
//!   ids agree, and [`super::DataEntry`] keeps the names for a caller that wants to map them.
//! - `remove-on-upgrade` conffiles are not acted on here.
//!
//! Either the whole package is applied or nothing is: every change is logged and undone in
//! reverse order if a later entry fails, so the cost of a failure is proportional to the
//! package, not to the tree. This module does not write the dpkg database; it returns the
//! `.list` and `.md5sums` contents for the caller to write, and it does not decide whether
//! a package may overwrite another's files (that is the resolver's `Replaces` business).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::content::hex;
use super::deb::{DataEntry, DataKind, DebPackage};
use super::diversion::{DiversionError, Diversions};
use crate::tree::{Inode, InodeId, Kind, Timestamp, Tree, TreeError, TreePath};

/// The files an installed version of the package owns, from its `.list` and `.conffiles`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstalledFiles {
    /// Every path of its `.list`, in order.
    pub files: Vec<TreePath>,
    /// Its conffiles.
    pub conffiles: Vec<TreePath>,
}

impl InstalledFiles {
    /// Reads a `.list` file (one absolute path a line, `/.` for the root) and the
    /// conffiles' paths.
    pub fn from_list(list: &[u8], conffiles: Vec<TreePath>) -> Result<Self, TreeError> {
        let files = list
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(TreePath::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { files, conffiles })
    }
}

/// What unpacking produced, for the dpkg database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedFiles {
    /// The package name from `control`.
    pub package: String,
    /// The package's paths in `.list` order: the root first, then archive order.
    pub files: Vec<TreePath>,
    /// MD5 of each regular file (hard links included), archive order, package paths.
    pub md5sums: Vec<(TreePath, [u8; 16])>,
    /// The conffiles, each unpacked at `<path>.dpkg-new`.
    pub conffiles: Vec<TreePath>,
    /// Paths of the old version removed from the tree.
    pub removed: Vec<TreePath>,
}

impl UnpackedFiles {
    /// The `info/<pkg>.list` file: `/.`, then one path a line.
    pub fn list_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for path in &self.files {
            if path.is_root() {
                out.extend_from_slice(b"/.");
            } else {
                out.extend_from_slice(&path.to_bytes());
            }
            out.push(b'\n');
        }
        out
    }

    /// An `info/<pkg>.md5sums` file as dpkg generates one for a package that ships none:
    /// `<md5>  <path without the leading slash>`.
    pub fn md5sums_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, md5) in &self.md5sums {
            out.extend_from_slice(hex(md5).as_bytes());
            out.extend_from_slice(b"  ");
            out.extend_from_slice(&path.to_relative_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// Why a package could not be unpacked. The tree is unchanged after any of these.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// `control` has no `Package` field.
    #[error("{deb}: the control file has no Package field")]
    NoPackageName {
        /// The package file.
        deb: PathBuf,
    },
    /// A file's digest differs from the package's own `md5sums`.
    #[error(
        "{deb}: {path} has MD5 {found} but the package's md5sums says {expected}; the .deb is corrupt"
    )]
    Md5Mismatch {
        /// The package file.
        deb: PathBuf,
        /// The file.
        path: TreePath,
        /// The digest in `md5sums`.
        expected: String,
        /// The digest of the unpacked data.
        found: String,
    },
    /// `md5sums` or `conffiles` cannot be read.
    #[error("{deb}: control file `{file}`: {reason}")]
    BadControlFile {
        /// The package file.
        deb: PathBuf,
        /// `md5sums` or `conffiles`.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A diversion forbids the path.
    #[error("{deb}: {source}")]
    Diversion {
        /// The package file.
        deb: PathBuf,
        /// The refusal.
        source: DiversionError,
    },
    /// The tree refused a change (missing parent directory, non-directory parent, …).
    #[error("{deb}: cannot unpack {path}: {source}")]
    Tree {
        /// The package file.
        deb: PathBuf,
        /// The package's path.
        path: TreePath,
        /// The refusal.
        source: TreeError,
    },
}

/// A change to undo if the package fails part-way.
enum Undo {
    /// The path did not exist before.
    Created(TreePath),
    /// These paths (one entry, or a directory and everything below it, parents first)
    /// held these inodes.
    Replaced(Vec<(TreePath, InodeId, Inode)>),
}

/// Unpacks `deb` into `tree` as `dpkg --unpack` would; `old` is the installed version's
/// files on an upgrade, `owned_by_other` tells whether another package also owns a path
/// (so it is not removed with the old version).
pub fn unpack(
    tree: &mut Tree,
    deb: &DebPackage,
    old: Option<&InstalledFiles>,
    diversions: &Diversions,
    owned_by_other: &dyn Fn(&TreePath) -> bool,
) -> Result<UnpackedFiles, UnpackError> {
    let name = deb
        .control
        .field("Package")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| UnpackError::NoPackageName {
            deb: deb.file.clone(),
        })?;
    check_md5sums(deb)?;
    let conffiles: Vec<TreePath> = deb
        .control
        .conffiles()
        .map_err(|e| UnpackError::BadControlFile {
            deb: deb.file.clone(),
            file: "conffiles",
            reason: e.to_string(),
        })?
        .into_iter()
        .map(|c| c.path)
        .collect();

    let mut applier = Applier {
        tree,
        deb,
        package: &name,
        conffiles: &conffiles,
        diversions,
        log: Vec::new(),
        placed: Placed::default(),
    };
    for entry in &deb.entries {
        if let Err(e) = applier.apply(entry) {
            applier.rollback();
            return Err(e);
        }
    }
    let Applier { tree, placed, .. } = applier;

    let root = TreePath::root();
    let mut files = vec![root.clone()];
    let mut listed: HashSet<&TreePath> = HashSet::new();
    listed.insert(&root);
    let mut md5sums = Vec::new();
    for entry in &deb.entries {
        if listed.insert(&entry.path) {
            files.push(entry.path.clone());
        }
        match &entry.kind {
            DataKind::File { md5, .. } => md5sums.push((entry.path.clone(), *md5)),
            DataKind::HardLink(target) => {
                if let Some(md5) = placed.md5.get(target) {
                    md5sums.push((entry.path.clone(), *md5));
                }
            }
            _ => {}
        }
    }
    let removed = match old {
        Some(old) => remove_obsolete(
            tree,
            &name,
            old,
            &listed,
            &placed.dests,
            diversions,
            owned_by_other,
        ),
        None => Vec::new(),
    };
    Ok(UnpackedFiles {
        package: name,
        files,
        md5sums,
        conffiles,
        removed,
    })
}

/// Where the package's entries went.
#[derive(Default)]
struct Placed {
    /// Package path to tree path, for hard links.
    by_path: HashMap<TreePath, TreePath>,
    /// Every tree path written (or kept, for directories).
    dests: HashSet<TreePath>,
    /// MD5 of each regular file by package path.
    md5: HashMap<TreePath, [u8; 16]>,
}

impl Placed {
    fn record(&mut self, entry: &DataEntry, dest: TreePath) {
        self.dests.insert(dest.clone());
        self.by_path.insert(entry.path.clone(), dest);
    }
}

fn check_md5sums(deb: &DebPackage) -> Result<(), UnpackError> {
    let Some(sums) = deb.control.md5sums() else {
        return Ok(());
    };
    let sums = sums.map_err(|reason| UnpackError::BadControlFile {
        deb: deb.file.clone(),
        file: "md5sums",
        reason,
    })?;
    let expected: HashMap<&TreePath, &[u8; 16]> = sums.iter().map(|(p, m)| (p, m)).collect();
    for entry in &deb.entries {
        if let DataKind::File { md5, .. } = &entry.kind
            && let Some(want) = expected.get(&entry.path)
            && *want != md5
        {
            return Err(UnpackError::Md5Mismatch {
                deb: deb.file.clone(),
                path: entry.path.clone(),
                expected: hex(*want),
                found: hex(md5),
            });
        }
    }
    Ok(())
}

/// Applies one package's entries, logging every change so a failure can be undone.
struct Applier<'a> {
    tree: &'a mut Tree,
    deb: &'a DebPackage,
    package: &'a str,
    conffiles: &'a [TreePath],
    diversions: &'a Diversions,
    log: Vec<Undo>,
    placed: Placed,
}

impl Applier<'_> {
    fn tree_err(&self, entry: &DataEntry, source: TreeError) -> UnpackError {
        UnpackError::Tree {
            deb: self.deb.file.clone(),
            path: entry.path.clone(),
            source,
        }
    }

    /// Where `entry` goes in the tree: diverted, `.dpkg-new` for a conffile, parents
    /// resolved through symlinks, the last component not followed.
    fn destination(&self, entry: &DataEntry) -> Result<TreePath, UnpackError> {
        let mut target = self
            .diversions
            .destination(&entry.path, self.package)
            .map_err(|source| UnpackError::Diversion {
                deb: self.deb.file.clone(),
                source,
            })?;
        if matches!(entry.kind, DataKind::File { .. }) && self.conffiles.contains(&entry.path) {
            let mut name = target.file_name().unwrap_or_default().to_vec();
            name.extend_from_slice(b".dpkg-new");
            let parent = target.parent().unwrap_or_default();
            target = parent.join(&name).map_err(|e| self.tree_err(entry, e))?;
        }
        self.tree
            .resolve(&target, false)
            .map_err(|e| self.tree_err(entry, e))
    }

    fn apply(&mut self, entry: &DataEntry) -> Result<(), UnpackError> {
        if entry.path.is_root() {
            // dpkg lists the root as `/.` but never changes it.
            return Ok(());
        }
        let dest = self.destination(entry)?;
        let existing_dir = self.tree.get(&dest).is_some_and(Inode::is_dir);
        let kind = match &entry.kind {
            DataKind::Dir => {
                let keep = match self.tree.get(&dest) {
                    Some(inode) if inode.is_dir() => true,
                    Some(Inode {
                        kind: Kind::Symlink(_),
                        ..
                    }) => self.tree.lookup(&dest).is_ok_and(Inode::is_dir),
                    _ => false,
                };
                if keep {
                    self.placed.record(entry, dest);
                    return Ok(());
                }
                Kind::Dir
            }
            // dpkg keeps a directory where a package ships a symlink (hence
            // dpkg-maintscript-helper's dir_to_symlink).
            DataKind::Symlink(_) if existing_dir => {
                self.placed.record(entry, dest);
                return Ok(());
            }
            DataKind::Symlink(target) => Kind::Symlink(target.clone()),
            DataKind::File { size, content, md5 } => {
                self.placed.md5.insert(entry.path.clone(), *md5);
                Kind::File {
                    size: *size,
                    content: content.clone(),
                }
            }
            DataKind::CharDevice { major, minor } => Kind::CharDevice {
                major: *major,
                minor: *minor,
            },
            DataKind::BlockDevice { major, minor } => Kind::BlockDevice {
                major: *major,
                minor: *minor,
            },
            DataKind::Fifo => Kind::Fifo,
            DataKind::HardLink(link_target) => {
                let existing = self
                    .placed
                    .by_path
                    .get(link_target)
                    .cloned()
                    .ok_or_else(|| {
                        self.tree_err(
                            entry,
                            TreeError::NotFound {
                                path: link_target.to_string(),
                            },
                        )
                    })?;
                self.clear(entry, &dest)?;
                self.tree
                    .link(&existing, dest.clone())
                    .map_err(|e| self.tree_err(entry, e))?;
                self.log.push(Undo::Created(dest.clone()));
                self.placed.record(entry, dest);
                return Ok(());
            }
        };
        let mut inode = Inode::new(kind, entry.mode, Timestamp::from_secs(entry.mtime));
        inode.uid = entry.uid;
        inode.gid = entry.gid;
        self.clear(entry, &dest)?;
        self.tree
            .insert(dest.clone(), inode)
            .map_err(|e| self.tree_err(entry, e))?;
        self.log.push(Undo::Created(dest.clone()));
        self.placed.record(entry, dest);
        Ok(())
    }

    /// Removes what is at `dest`, logging it. A directory goes with everything below it,
    /// as dpkg removes a directory a package replaces with a file.
    fn clear(&mut self, entry: &DataEntry, dest: &TreePath) -> Result<(), UnpackError> {
        if self.tree.id(dest).is_none() {
            return Ok(());
        }
        // Parents first, so a rollback can put them back in order.
        let mut removed = Vec::new();
        let mut pending = vec![dest.clone()];
        while let Some(path) = pending.pop() {
            let Some(id) = self.tree.id(&path) else {
                continue;
            };
            if self.tree.inode(id).is_dir() {
                let mut children: Vec<TreePath> =
                    self.tree.children(&path).map(|(p, _)| p.clone()).collect();
                children.reverse();
                pending.extend(children);
            }
            removed.push((path, id, self.tree.inode(id).clone()));
        }
        self.log.push(Undo::Replaced(removed));
        self.tree.remove(dest).map_err(|e| self.tree_err(entry, e))
    }

    /// Undoes the log in reverse. A replaced hard-linked file is relinked to a surviving
    /// name of its inode, so link identity is restored too.
    fn rollback(self) {
        let Applier { tree, log, .. } = self;
        let wanted: HashSet<InodeId> = log
            .iter()
            .flat_map(|u| match u {
                Undo::Replaced(entries) => entries.iter().map(|(_, id, _)| *id).collect(),
                Undo::Created(_) => Vec::new(),
            })
            .collect();
        let mut survivors: HashMap<InodeId, TreePath> = HashMap::new();
        if !wanted.is_empty() {
            for (path, id, _) in tree.iter() {
                if wanted.contains(&id) {
                    survivors.entry(id).or_insert_with(|| path.clone());
                }
            }
        }
        for undo in log.into_iter().rev() {
            match undo {
                Undo::Created(path) => {
                    let _ = tree.remove(&path);
                }
                Undo::Replaced(entries) => {
                    for (path, id, inode) in entries {
                        if tree.get(&path).is_some() {
                            let _ = tree.remove(&path);
                        }
                        let linked = !inode.is_dir()
                            && survivors
                                .get(&id)
                                .filter(|other| **other != path)
                                .cloned()
                                .is_some_and(|other| tree.link(&other, path.clone()).is_ok());
                        if !linked && tree.insert(path.clone(), inode).is_ok() {
                            // Later restores of the same inode link to this name.
                            survivors.entry(id).or_insert(path);
                        }
                    }
                }
            }
        }
    }
}

/// Removes the old version's paths the new one does not ship, deepest first.
fn remove_obsolete(
    tree: &mut Tree,
    package: &str,
    old: &InstalledFiles,
    new_paths: &HashSet<&TreePath>,
    new_dests: &HashSet<TreePath>,
    diversions: &Diversions,
    owned_by_other: &dyn Fn(&TreePath) -> bool,
) -> Vec<TreePath> {
    let conffiles: HashSet<&TreePath> = old.conffiles.iter().collect();
    let mut removed = Vec::new();
    let mut candidates: Vec<&TreePath> = old
        .files
        .iter()
        .filter(|p| !p.is_root() && !new_paths.contains(p) && !conffiles.contains(p))
        .collect();
    // Children before their directories, whatever order the old list had.
    candidates.sort_by(|a, b| b.cmp(a));
    candidates.dedup();
    for path in candidates {
        if owned_by_other(path) {
            continue;
        }
        let Ok(target) = diversions.destination(path, package) else {
            continue;
        };
        let Ok(dest) = tree.resolve(&target, false) else {
            continue;
        };
        if new_dests.contains(&dest) {
            continue;
        }
        let Some(inode) = tree.get(&dest) else {
            continue;
        };
        let keep = match &inode.kind {
            Kind::Dir => tree.children(&dest).next().is_some(),
            Kind::Symlink(_) => tree.lookup(&dest).is_ok_and(Inode::is_dir),
            _ => false,
        };
        if !keep && tree.remove(&dest).is_ok() {
            removed.push(path.clone());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TreePath {
        TreePath::parse(s).unwrap()
    }

    #[test]
    fn list_and_md5sums_text_follow_dpkg() {
        let files = UnpackedFiles {
            package: "x".into(),
            files: vec![TreePath::root(), p("usr"), p("usr/bin"), p("usr/bin/x")],
            md5sums: vec![(p("usr/bin/x"), [0xab; 16])],
            conffiles: Vec::new(),
            removed: Vec::new(),
        };
        assert_eq!(files.list_text(), b"/.\n/usr\n/usr/bin\n/usr/bin/x\n");
        assert_eq!(
            files.md5sums_text(),
            format!("{}  usr/bin/x\n", "ab".repeat(16)).into_bytes()
        );
        let old = InstalledFiles::from_list(&files.list_text(), Vec::new()).unwrap();
        assert_eq!(old.files, files.files);
        assert!(InstalledFiles::from_list(b"/usr/../etc\n", Vec::new()).is_err());
    }
}
