//! The whole card image: partition layout, then the table, the FAT boot filesystem and the
//! ext4 root written into one sparse file.
//!
//! The layout keeps the base's boot partition where it was (its start and, unless told
//! otherwise, its size), starts the root at the next 4 MiB boundary and lets it fill the
//! card. Every id comes from the caller, so the same trees and spec give the same bytes.
//! Nothing here knows which Raspberry Pi OS generation it writes.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::fat::{FatEntry, FatError, FatOptions, write_fat32};
use super::mke2fs::{Ext4Params, Ext4Report, Mke2fsError, write_ext4};
use super::partition::{
    ALIGN_4MIB, GPT_LINUX_FILESYSTEM, GPT_MICROSOFT_BASIC_DATA, GptPartitionSpec, Guid,
    MBR_FAT32_LBA, MBR_LINUX, MbrPartitionSpec, PartitionError, align_up, write_gpt, write_mbr,
};
use crate::tree::{Kind, Tree};

/// Sectors at the end of a GPT disk that hold the backup table.
const GPT_BACKUP_BYTES: u64 = 33 * 512;

/// The smallest root partition worth making.
const MIN_ROOT: u64 = 16 << 20;

/// Which partition table to write, with its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableSpec {
    /// MBR with this disk id; partitions are `<id>-01` and `<id>-02`.
    Mbr {
        /// The disk id (MBR bytes 440–443).
        disk_id: u32,
    },
    /// GPT with these GUIDs.
    Gpt {
        /// The disk GUID.
        disk: Guid,
        /// The boot partition's unique GUID.
        boot: Guid,
        /// The root partition's unique GUID.
        root: Guid,
    },
}

/// The FAT boot filesystem to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSpec {
    /// Where the partition starts, in bytes (a multiple of 512).
    pub start: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The volume label.
    pub label: String,
    /// The volume id.
    pub volume_id: u32,
    /// The time every entry gets, Unix seconds.
    pub timestamp: i64,
}

/// Everything that decides the image's bytes, besides the two trees.
#[derive(Debug, Clone)]
pub struct DiskSpec {
    /// The card's size in bytes: the image file's length.
    pub size: u64,
    /// The partition table.
    pub table: TableSpec,
    /// The boot partition.
    pub boot: BootSpec,
    /// The root filesystem's parameters.
    pub root: Ext4Params,
}

/// Where the partitions went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLayout {
    /// The image's length.
    pub size: u64,
    /// Boot partition start in bytes.
    pub boot_start: u64,
    /// Boot partition size in bytes.
    pub boot_size: u64,
    /// Root partition start in bytes.
    pub root_start: u64,
    /// Root partition size in bytes.
    pub root_size: u64,
}

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The card cannot hold the layout.
    #[error(
        "a {size}-byte card cannot hold a boot partition ending at byte {boot_end} and a root partition of at least 16 MiB"
    )]
    TooSmall {
        /// The card size.
        size: u64,
        /// Where the boot partition ends.
        boot_end: u64,
    },
    /// A boot start or size that is not whole sectors.
    #[error(
        "the boot partition's start ({start}) and size ({size}) must be multiples of 512 bytes"
    )]
    Unaligned {
        /// Start in bytes.
        start: u64,
        /// Size in bytes.
        size: u64,
    },
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The image file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The partition table was refused.
    #[error("partition table: {0}")]
    Table(#[from] PartitionError),
    /// The boot filesystem could not be written.
    #[error("boot partition: {0}")]
    Fat(#[from] FatError),
    /// The boot tree holds something FAT cannot.
    #[error("boot partition: {path} is a {what}, which FAT cannot hold")]
    NotFatCompatible {
        /// The path in the boot tree.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// The root filesystem could not be written.
    #[error("root filesystem: {0}")]
    Ext4(#[from] Mke2fsError),
}

/// Places the partitions on a card of `size` bytes. The image is a whole number of
/// sectors: a card size that is not (`1.5GB` is 2,929,687.5 sectors) is rounded down.
pub fn plan(
    size: u64,
    boot_start: u64,
    boot_size: u64,
    gpt: bool,
) -> Result<DiskLayout, DiskError> {
    let size = size - size % 512;
    if !boot_start.is_multiple_of(512) || !boot_size.is_multiple_of(512) || boot_start == 0 {
        return Err(DiskError::Unaligned {
            start: boot_start,
            size: boot_size,
        });
    }
    let boot_end = boot_start
        .checked_add(boot_size)
        .ok_or(DiskError::TooSmall {
            size,
            boot_end: u64::MAX,
        })?;
    let too_small = DiskError::TooSmall { size, boot_end };
    let root_start =
        align_up(boot_end, ALIGN_4MIB).ok_or(DiskError::TooSmall { size, boot_end })?;
    let usable_end = if gpt {
        size.saturating_sub(GPT_BACKUP_BYTES)
    } else {
        size
    };
    // Whole 4 KiB blocks, so the filesystem fills the partition exactly.
    let root_end = usable_end - usable_end % 4096;
    let root_size = root_end
        .checked_sub(root_start)
        .filter(|s| *s >= MIN_ROOT)
        .ok_or(too_small)?;
    Ok(DiskLayout {
        size,
        boot_start,
        boot_size,
        root_start,
        root_size,
    })
}

/// What [`write_disk`] wrote.
#[derive(Debug, Clone)]
pub struct DiskReport {
    /// Where the partitions are.
    pub layout: DiskLayout,
    /// What the root filesystem writer reported (sockets left out, times put back).
    pub root: Ext4Report,
}

/// Writes the image at `path` (created or truncated) from the two trees.
pub fn write_disk(
    path: &Path,
    spec: &DiskSpec,
    boot: &Tree,
    root: &Tree,
) -> Result<DiskReport, DiskError> {
    let layout = plan(
        spec.size,
        spec.boot.start,
        spec.boot.size,
        matches!(spec.table, TableSpec::Gpt { .. }),
    )?;
    let io_error = |source| DiskError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(io_error)?;
    // A fresh, fully sparse file: everything the writers skip reads as zeros.
    file.set_len(layout.size).map_err(io_error)?;
    write_table(&file, spec, &layout)?;
    write_boot(&file, spec, &layout, boot)?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    let root = write_ext4(root, path, layout.root_start, layout.root_size, &spec.root)?;
    Ok(DiskReport { layout, root })
}

fn write_table(file: &File, spec: &DiskSpec, layout: &DiskLayout) -> Result<(), DiskError> {
    match &spec.table {
        TableSpec::Mbr { disk_id } => write_mbr(
            file,
            layout.size,
            *disk_id,
            &[
                MbrPartitionSpec {
                    start: layout.boot_start,
                    size: layout.boot_size,
                    type_byte: MBR_FAT32_LBA,
                    bootable: false,
                },
                MbrPartitionSpec {
                    start: layout.root_start,
                    size: layout.root_size,
                    type_byte: MBR_LINUX,
                    bootable: false,
                },
            ],
        )?,
        TableSpec::Gpt { disk, boot, root } => write_gpt(
            file,
            layout.size,
            *disk,
            &[
                GptPartitionSpec {
                    start: layout.boot_start,
                    size: layout.boot_size,
                    type_guid: GPT_MICROSOFT_BASIC_DATA,
                    unique_guid: *boot,
                    name: "bootfs".to_string(),
                },
                GptPartitionSpec {
                    start: layout.root_start,
                    size: layout.root_size,
                    type_guid: GPT_LINUX_FILESYSTEM,
                    unique_guid: *root,
                    name: "rootfs".to_string(),
                },
            ],
        )?,
    }
    Ok(())
}

/// The boot tree as FAT entries whose contents stream from their sources.
fn fat_entries(boot: &Tree) -> Result<Vec<FatEntry<'_>>, DiskError> {
    let mut entries = Vec::new();
    for (path, _, inode) in boot.iter() {
        if path.is_root() {
            continue;
        }
        let name = String::from_utf8(path.to_relative_bytes()).map_err(|_| {
            DiskError::NotFatCompatible {
                path: path.to_string(),
                what: "name that is not UTF-8",
            }
        })?;
        let entry = match &inode.kind {
            Kind::Dir => FatEntry::dir(name),
            Kind::File { size, content } => {
                let size = *size;
                FatEntry::file(
                    name,
                    size,
                    Box::new(move |out: &mut dyn Write| {
                        let mut reader = content.reader(size)?;
                        io::copy(&mut reader, out)?;
                        Ok(())
                    }),
                )
            }
            Kind::Symlink(_) => return Err(not_fat(path, "symbolic link")),
            Kind::CharDevice { .. } | Kind::BlockDevice { .. } => {
                return Err(not_fat(path, "device"));
            }
            Kind::Fifo => return Err(not_fat(path, "fifo")),
            Kind::Socket => return Err(not_fat(path, "socket")),
        };
        entries.push(entry);
    }
    Ok(entries)
}

fn not_fat(path: &crate::tree::TreePath, what: &'static str) -> DiskError {
    DiskError::NotFatCompatible {
        path: path.to_string(),
        what,
    }
}

fn write_boot(
    file: &File,
    spec: &DiskSpec,
    layout: &DiskLayout,
    boot: &Tree,
) -> Result<(), DiskError> {
    let options = FatOptions {
        label: spec.boot.label.clone(),
        volume_id: spec.boot.volume_id,
        timestamp: spec.boot.timestamp,
        cluster_size: None,
    };
    write_fat32(
        file,
        layout.boot_start,
        layout.boot_size,
        &options,
        fat_entries(boot)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_fills_the_card_after_an_aligned_root() {
        let l = plan(8_000_000_000, 8 << 20, 512 << 20, false).unwrap();
        assert_eq!(l.root_start, 520 << 20);
        assert_eq!(l.root_start + l.root_size, 8_000_000_000);
        let jessie = plan(4_000_000_000, 8192 * 512, 122_880 * 512, false).unwrap();
        assert_eq!(jessie.root_start, 131_072 * 512);
        let gpt = plan(8_000_000_000, 8 << 20, 512 << 20, true).unwrap();
        assert!(gpt.root_start + gpt.root_size <= 8_000_000_000 - GPT_BACKUP_BYTES);
        assert!(matches!(
            plan(530 << 20, 8 << 20, 512 << 20, false),
            Err(DiskError::TooSmall { .. })
        ));
        assert!(matches!(
            plan(8 << 30, 1000, 512 << 20, false),
            Err(DiskError::Unaligned { .. })
        ));
    }
}
