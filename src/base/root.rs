//! The root partition: the first partition holding an ext2/3/4 filesystem, read into a
//! tree with every attribute the filesystem records (owners, modes, nanosecond times,
//! xattrs, devices, hard links), file data left in place as ranges of the image.
//!
//! A root with any filesystem error is refused with the list of problems: building on a
//! damaged base would copy the damage into every image.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{BaseError, RootFs};
use crate::image::ext4::{Ext4, Ext4Error, FileType, Inode as Ext4Inode};
use crate::image::io::{ImageFile, Slice};
use crate::image::partition::PartitionTable;
use crate::tree::{Content, Extent, Inode, Kind, Timestamp, Tree, TreePath};

/// Finds and reads the root partition.
pub(super) fn find(
    path: &Path,
    file: &Arc<ImageFile>,
    table: &PartitionTable,
) -> Result<RootFs, BaseError> {
    let mut refusal = String::from("none has an ext superblock");
    for partition in &table.partitions {
        if partition.kind.is_extended() {
            continue;
        }
        let Ok(slice) = Slice::new(&**file, partition.start, partition.size) else {
            continue;
        };
        let fs = match Ext4::open(slice) {
            Ok(fs) => fs,
            Err(Ext4Error::BadMagic { .. }) => continue,
            Err(error) => {
                refusal = format!("partition {}: {error}", partition.number);
                continue;
            }
        };
        let ext4_error = |problems| BaseError::Ext4 {
            path: path.to_path_buf(),
            partition: partition.number,
            problems,
        };
        let walk = fs.walk();
        if !walk.errors.is_empty() {
            return Err(ext4_error(walk.errors));
        }
        let mut tree: Option<Tree> = None;
        let mut by_ino: HashMap<u32, TreePath> = HashMap::new();
        let mut problems = Vec::new();
        for entry in walk.entries {
            let tree_error = |source| BaseError::Tree {
                path: path.to_path_buf(),
                partition: partition.number,
                source,
            };
            let at = TreePath::parse(&entry.path).map_err(tree_error)?;
            let inode = match convert(&fs, &entry.inode, file, partition.start) {
                Ok(inode) => inode,
                Err(error) => {
                    problems.push(error);
                    continue;
                }
            };
            let Some(tree) = tree.as_mut() else {
                tree = Some(Tree::new(inode));
                continue;
            };
            if !inode.is_dir() {
                if let Some(first) = by_ino.get(&entry.ino) {
                    tree.link(first, at).map_err(tree_error)?;
                    continue;
                }
                by_ino.insert(entry.ino, at.clone());
            }
            tree.insert(at, inode).map_err(tree_error)?;
        }
        if !problems.is_empty() {
            return Err(ext4_error(problems));
        }
        let Some(tree) = tree else {
            return Err(ext4_error(Vec::new()));
        };
        return Ok(RootFs {
            partition: partition.clone(),
            superblock: fs.superblock().clone(),
            tree,
        });
    }
    Err(BaseError::NoRootPartition {
        path: path.to_path_buf(),
        problem: refusal,
    })
}

/// Turns one ext4 inode into a tree inode; file data stays in the image.
fn convert<R: crate::image::io::ReadAt>(
    fs: &Ext4<R>,
    inode: &Ext4Inode,
    file: &Arc<ImageFile>,
    partition_start: u64,
) -> Result<Inode, Ext4Error> {
    let device = || inode.rdev.map_or((0, 0), |d| (d.major, d.minor));
    let kind = match inode.file_type() {
        Some(FileType::Regular) => {
            let mut extents = Vec::new();
            for e in fs.file_map_of(inode)? {
                let image_offset =
                    partition_start
                        .checked_add(e.physical)
                        .ok_or(Ext4Error::BadInode {
                            ino: inode.ino,
                            why: "data offset overflows".to_string(),
                        })?;
                extents.push(Extent {
                    file_offset: e.logical,
                    image_offset,
                    len: e.len,
                });
            }
            Kind::File {
                size: inode.size,
                content: Content::Image {
                    file: Arc::clone(file),
                    extents: extents.into(),
                },
            }
        }
        Some(FileType::Directory) => Kind::Dir,
        Some(FileType::Symlink) => Kind::Symlink(fs.read_link_of(inode)?),
        Some(FileType::CharDevice) => {
            let (major, minor) = device();
            Kind::CharDevice { major, minor }
        }
        Some(FileType::BlockDevice) => {
            let (major, minor) = device();
            Kind::BlockDevice { major, minor }
        }
        Some(FileType::Fifo) => Kind::Fifo,
        Some(FileType::Socket) => Kind::Socket,
        None => {
            return Err(Ext4Error::BadInode {
                ino: inode.ino,
                why: format!("mode {:o} names no file type", inode.mode),
            });
        }
    };
    let mut out = Inode::new(
        kind,
        u32::from(inode.permissions()),
        Timestamp {
            secs: inode.mtime.secs,
            nanos: inode.mtime.nanos,
        },
    );
    out.uid = inode.uid;
    out.gid = inode.gid;
    for x in &inode.xattrs {
        out.xattrs.insert(x.name.clone(), x.value.clone());
    }
    Ok(out)
}
