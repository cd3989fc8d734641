//! The boot partition: the first partition holding a FAT filesystem, read into a tree.
//!
//! FAT has no owners or permissions: files become root-owned 0644, directories 0755, which
//! is how Raspberry Pi OS mounts the partition. Times are FAT's, read as UTC.

use std::path::Path;
use std::sync::Arc;

use super::{BaseError, BootFs};
use crate::image::fat::Fat;
use crate::image::io::{ImageFile, Slice};
use crate::image::partition::PartitionTable;
use crate::tree::{Content, Extent, Inode, Kind, Timestamp, Tree, TreePath};

/// Finds and reads the boot partition.
pub(super) fn find(
    path: &Path,
    file: &Arc<ImageFile>,
    table: &PartitionTable,
) -> Result<BootFs, BaseError> {
    for partition in &table.partitions {
        if partition.kind.is_extended() {
            continue;
        }
        let Ok(slice) = Slice::new(&**file, partition.start, partition.size) else {
            continue;
        };
        let Ok(fat) = Fat::open(slice) else {
            continue;
        };
        let fat_error = |source| BaseError::Fat {
            path: path.to_path_buf(),
            partition: partition.number,
            source,
        };
        let entries = fat.walk().map_err(fat_error)?;
        let mut tree = Tree::new(Inode::dir(0o755, Timestamp::default()));
        for entry in entries {
            let tree_error = |source| BaseError::Tree {
                path: path.to_path_buf(),
                partition: partition.number,
                source,
            };
            let at = TreePath::parse(entry.path.as_bytes()).map_err(tree_error)?;
            let mtime = Timestamp::from_secs(entry.mtime);
            let inode = if entry.is_dir() {
                Inode::dir(0o755, mtime)
            } else {
                let mut extents = Vec::with_capacity(entry.extents.len());
                let mut file_offset = 0u64;
                for (offset, len) in &entry.extents {
                    extents.push(Extent {
                        file_offset,
                        image_offset: partition.start.saturating_add(*offset),
                        len: *len,
                    });
                    file_offset = file_offset.saturating_add(*len);
                }
                let kind = Kind::File {
                    size: u64::from(entry.size),
                    content: Content::Image {
                        file: Arc::clone(file),
                        extents: extents.into(),
                    },
                };
                Inode::new(kind, 0o644, mtime)
            };
            tree.insert(at, inode).map_err(tree_error)?;
        }
        let used = u64::from(fat.cluster_count().saturating_sub(fat.free_clusters()))
            .saturating_mul(u64::from(fat.cluster_size()));
        return Ok(BootFs {
            partition: partition.clone(),
            fat_type: fat.fat_type(),
            label: fat.label(),
            volume_id: fat.volume_id(),
            used,
            tree,
        });
    }
    Err(BaseError::NoBootPartition {
        path: path.to_path_buf(),
    })
}
