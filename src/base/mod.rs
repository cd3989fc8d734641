//! The base image: a Raspberry Pi OS image file read into trees, without mounting it.
//!
//! [`BaseImage::open`] reads the partition table (MBR or GPT), finds the FAT boot partition
//! and the ext4 root partition by probing their filesystems, and reads each into a [`Tree`]
//! whose file contents are ranges of the image file, so nothing is copied. It knows which
//! partition is which on a Raspberry Pi OS card; it does not change anything: later stages
//! change the trees.
//!
//! Before that, [`fetch_base`] turns the profile's `[base]` source (a URL or a local
//! `.img`, `.img.xz`, `.img.gz` or `.zip`, the last read by the small reader in `zip`) into a
//! plain sparse `.img` in the download cache, keyed by the published file's digest, which it
//! checks against the pin or returns for the caller to pin.

mod boot;
mod os_release;
mod root;
mod source;
mod sparse;
mod zip;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use os_release::OsRelease;
pub use source::{
    BaseFormat, BaseSourceError, FetchedBase, MAX_IMAGE_SIZE, fetch_base, fetch_base_pinned,
};
pub use zip::{EntryReader, METHOD_DEFLATE, METHOD_STORED, ZipArchive, ZipEntry, ZipError};

use crate::image::ext4::{Ext4Error, Superblock};
use crate::image::fat::{FatError, FatType};
use crate::image::io::ImageFile;
use crate::image::partition::{self, Partition, PartitionError, PartitionTable};
use crate::tree::{Tree, TreeError};

/// How many filesystem problems a refusal lists before "and N more".
const MAX_LISTED_PROBLEMS: usize = 10;

/// Why a base image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The file could not be opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The image file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The partition table is missing or broken.
    #[error("{}: {source}", path.display())]
    Table {
        /// The image file.
        path: PathBuf,
        /// What is wrong with it.
        source: PartitionError,
    },
    /// No partition holds a FAT filesystem.
    #[error("{}: no partition holds a FAT boot filesystem; is this a Raspberry Pi OS image?", path.display())]
    NoBootPartition {
        /// The image file.
        path: PathBuf,
    },
    /// No partition holds an ext4 filesystem.
    #[error("{}: no partition holds an ext2/3/4 root filesystem ({problem}); is this a Raspberry Pi OS image?", path.display())]
    NoRootPartition {
        /// The image file.
        path: PathBuf,
        /// Why the likeliest candidate was refused.
        problem: String,
    },
    /// The boot filesystem is damaged.
    #[error("{}: partition {partition} (boot): {source}", path.display())]
    Fat {
        /// The image file.
        path: PathBuf,
        /// The partition number.
        partition: u32,
        /// What is wrong.
        source: FatError,
    },
    /// The root filesystem is damaged.
    #[error("{}: partition {partition} (root): {}", path.display(), list(problems))]
    Ext4 {
        /// The image file.
        path: PathBuf,
        /// The partition number.
        partition: u32,
        /// Every problem met while reading it.
        problems: Vec<Ext4Error>,
    },
    /// The filesystem holds something the tree refuses (a bad name, a path escape).
    #[error("{}: partition {partition}: {source}", path.display())]
    Tree {
        /// The image file.
        path: PathBuf,
        /// The partition number.
        partition: u32,
        /// What was refused.
        source: TreeError,
    },
}

fn list(problems: &[Ext4Error]) -> String {
    let mut shown: Vec<String> = problems
        .iter()
        .take(MAX_LISTED_PROBLEMS)
        .map(ToString::to_string)
        .collect();
    if problems.len() > MAX_LISTED_PROBLEMS {
        shown.push(format!(
            "and {} more problems",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    shown.join("; ")
}

/// The boot partition, read.
#[derive(Debug, Clone)]
pub struct BootFs {
    /// Its partition.
    pub partition: Partition,
    /// FAT16 or FAT32.
    pub fat_type: FatType,
    /// Its volume label, if any.
    pub label: Option<String>,
    /// Its volume id.
    pub volume_id: Option<u32>,
    /// Bytes in use.
    pub used: u64,
    /// Its files; the tree's root is the partition's root.
    pub tree: Tree,
}

/// The root partition, read.
#[derive(Debug, Clone)]
pub struct RootFs {
    /// Its partition.
    pub partition: Partition,
    /// Its superblock: features, block size, inode size, label, UUID.
    pub superblock: Superblock,
    /// Its files.
    pub tree: Tree,
}

/// A base image read into trees.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The image file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its partition table.
    pub table: PartitionTable,
    /// The FAT boot partition.
    pub boot: BootFs,
    /// The ext4 root partition.
    pub root: RootFs,
}

impl BaseImage {
    /// Reads the image at `path`: table, boot and root filesystems.
    pub fn open(path: &Path) -> Result<Self, BaseError> {
        let file = ImageFile::open(path).map_err(|source| BaseError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let file = Arc::new(file);
        let table = partition::read(&*file).map_err(|source| BaseError::Table {
            path: path.to_path_buf(),
            source,
        })?;
        let boot = boot::find(path, &file, &table)?;
        let root = root::find(path, &file, &table)?;
        Ok(Self {
            path: path.to_path_buf(),
            size: crate::image::io::ReadAt::size(&*file),
            table,
            boot,
            root,
        })
    }

    /// The OS release recorded in the root filesystem, if it has one.
    pub fn os_release(&self) -> Option<OsRelease> {
        OsRelease::from_tree(&self.root.tree)
    }
}
