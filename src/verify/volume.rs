//! One filesystem of the target, read with our own readers into a path listing that
//! survives damage: each problem the readers meet is recorded and the rest is still read,
//! so a broken directory hides only what lies below it.
//!
//! A [`Volume`] also streams a file's contents to a digest and says where in the image a
//! file's data lies, which `blocks` uses to name the files of a damaged range. It does not
//! compare anything with the manifest.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use sha2::{Digest, Sha256};

use super::target::Target;
use crate::image::ext4::{Ext4, FileType, Inode};
use crate::image::fat::{DirEntry, Fat};
use crate::image::io::Slice;
use crate::manifest::Filesystem;

/// Streaming buffer for digests.
const BUFFER_SIZE: usize = 1 << 20;

/// A FAT directory tree deeper than this is treated as damaged.
const MAX_FAT_DEPTH: usize = 256;

/// What a path is on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A symbolic link with its target.
    Symlink(Vec<u8>),
    /// A directory.
    Directory,
    /// A device, fifo or socket, named.
    Other(&'static str),
}

/// One path of a filesystem of the target.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Length in bytes.
    pub size: u64,
    /// Permission bits (`0644` on FAT).
    pub mode: u32,
    /// Owner (0 on FAT).
    pub uid: u32,
    /// Group (0 on FAT).
    pub gid: u32,
    /// Last data change, Unix seconds.
    pub mtime: i64,
    handle: Handle,
}

#[derive(Debug, Clone)]
enum Handle {
    Ext4(Box<Inode>),
    Fat(Box<DirEntry>),
}

/// The reader of one filesystem.
pub enum Reader<'a> {
    /// The boot partition.
    Fat(Fat<Slice<'a, Target>>),
    /// The root partition.
    Ext4(Ext4<Slice<'a, Target>>),
}

/// A filesystem of the target as far as it could be read.
pub struct Volume<'a> {
    /// Which filesystem of the manifest this is.
    pub filesystem: Filesystem,
    /// Offset of the partition in the target.
    pub start: u64,
    /// Every path read, `/` first.
    pub nodes: BTreeMap<Vec<u8>, Node>,
    /// Every problem met, as sentences.
    pub problems: Vec<String>,
    reader: Option<Reader<'a>>,
}

impl<'a> Volume<'a> {
    /// Reads the filesystem of `filesystem`'s kind in `[start, start + size)` of `target`.
    /// Never fails: a filesystem that cannot be opened gives an empty listing with the
    /// reason among its problems.
    pub fn read(target: &'a Target, filesystem: Filesystem, start: u64, size: u64) -> Self {
        let mut volume = Volume {
            filesystem,
            start,
            nodes: BTreeMap::new(),
            problems: Vec::new(),
            reader: None,
        };
        let slice = match Slice::new(target, start, size) {
            Ok(slice) => slice,
            Err(e) => {
                volume
                    .problems
                    .push(format!("the partition cannot be read: {e}"));
                return volume;
            }
        };
        match filesystem {
            Filesystem::Boot => match Fat::open(slice) {
                Ok(fat) => {
                    volume.list_fat(&fat);
                    volume.reader = Some(Reader::Fat(fat));
                }
                Err(e) => volume.problems.push(e.to_string()),
            },
            Filesystem::Root => match Ext4::open(slice) {
                Ok(ext4) => {
                    volume.list_ext4(&ext4);
                    volume.reader = Some(Reader::Ext4(ext4));
                }
                Err(e) => volume.problems.push(e.to_string()),
            },
        }
        volume
    }

    /// Whether the filesystem could be opened at all.
    pub fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    fn list_ext4(&mut self, ext4: &Ext4<Slice<'a, Target>>) {
        let walk = ext4.walk();
        self.problems
            .extend(walk.errors.iter().map(ToString::to_string));
        for entry in walk.entries {
            let inode = entry.inode;
            let kind = match inode.file_type() {
                Some(FileType::Regular) => NodeKind::File,
                Some(FileType::Directory) => NodeKind::Directory,
                Some(FileType::Symlink) => match ext4.read_link_of(&inode) {
                    Ok(target) => NodeKind::Symlink(target),
                    Err(e) => {
                        self.problems
                            .push(format!("{}: {e}", entry.path.escape_ascii()));
                        continue;
                    }
                },
                Some(other) => NodeKind::Other(other.name()),
                None => NodeKind::Other("unknown"),
            };
            self.nodes.insert(
                entry.path,
                Node {
                    kind,
                    size: inode.size,
                    mode: u32::from(inode.permissions()),
                    uid: inode.uid,
                    gid: inode.gid,
                    mtime: inode.mtime.secs,
                    handle: Handle::Ext4(Box::new(inode)),
                },
            );
        }
    }

    /// Walks the FAT tree directory by directory, so one broken directory is reported and
    /// skipped instead of ending the walk.
    fn list_fat(&mut self, fat: &Fat<Slice<'a, Target>>) {
        let root = match fat.root_dir() {
            Ok(entries) => entries,
            Err(e) => {
                self.problems.push(format!("the root directory: {e}"));
                return;
            }
        };
        let mut seen = HashSet::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((entries, depth)) = stack.pop() {
            for entry in entries {
                let mut path = b"/".to_vec();
                path.extend_from_slice(entry.path.as_bytes());
                if entry.is_dir() {
                    if !seen.insert(entry.first_cluster) {
                        self.problems.push(format!(
                            "/{}: directory cluster {} is reached twice (a loop or a cross-link)",
                            entry.path, entry.first_cluster
                        ));
                        continue;
                    }
                    if depth >= MAX_FAT_DEPTH {
                        self.problems
                            .push(format!("/{}: directories nest too deep", entry.path));
                        continue;
                    }
                    match fat.read_dir(&entry) {
                        Ok(children) => stack.push((children, depth + 1)),
                        Err(e) => self.problems.push(e.to_string()),
                    }
                }
                let kind = if entry.is_dir() {
                    NodeKind::Directory
                } else {
                    NodeKind::File
                };
                self.nodes.insert(
                    path,
                    Node {
                        kind,
                        size: u64::from(entry.size),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                        mtime: entry.mtime,
                        handle: Handle::Fat(Box::new(entry)),
                    },
                );
            }
        }
    }

    /// The SHA-256 of a file's contents as the target holds them.
    pub fn digest(&self, node: &Node) -> Result<[u8; 32], String> {
        match (&self.reader, &node.handle) {
            (Some(Reader::Ext4(ext4)), Handle::Ext4(inode)) => {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; BUFFER_SIZE];
                let mut offset = 0u64;
                loop {
                    let n = ext4
                        .read_file(inode.ino, offset, &mut buf)
                        .map_err(|e| e.to_string())?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(buf.get(..n).unwrap_or_default());
                    offset = offset.saturating_add(n as u64);
                }
                Ok(hasher.finalize().into())
            }
            (Some(Reader::Fat(fat)), Handle::Fat(entry)) => {
                let mut out = HashWriter(Sha256::new());
                let copied = fat.copy_to(entry, &mut out).map_err(|e| e.to_string())?;
                if copied < u64::from(entry.size) {
                    return Err(format!(
                        "its cluster chain holds {copied} bytes but its size is {}",
                        entry.size
                    ));
                }
                Ok(out.0.finalize().into())
            }
            _ => Err("the filesystem could not be opened".to_string()),
        }
    }

    /// Where a file's data lies in the target: `(offset, length)` byte ranges.
    pub fn data_ranges(&self, node: &Node) -> Vec<(u64, u64)> {
        match (&self.reader, &node.handle) {
            (Some(Reader::Ext4(ext4)), Handle::Ext4(inode)) => ext4
                .file_map_of(inode)
                .map(|map| {
                    map.iter()
                        .map(|e| (self.start.saturating_add(e.physical), e.len))
                        .collect()
                })
                .unwrap_or_default(),
            (Some(Reader::Fat(_)), Handle::Fat(entry)) => entry
                .extents
                .iter()
                .map(|&(offset, len)| (self.start.saturating_add(offset), len))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Feeds written bytes to a digest, so FAT's streaming copy can hash a file.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
