//! The ways reading an ext4 filesystem can fail.
//!
//! Every variant carries the offending values so a message says what was found and where.
//! Corruption found while walking a tree is reported per entry (see [`super::walk`]); this
//! module only defines the error values, it does not decide which are fatal.

use std::io;

/// An error reading an ext4 filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    /// The source could not be read at the given offset.
    #[error("cannot read {len} bytes at byte offset {offset} of the filesystem: {source}")]
    Io {
        /// Byte offset of the failed read.
        offset: u64,
        /// Length of the failed read.
        len: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// The superblock does not carry the ext2/3/4 magic number.
    #[error(
        "no ext2/3/4 filesystem here: superblock magic is {found:#06x}, expected 0xef53; check that the partition offset is right"
    )]
    BadMagic {
        /// The magic number found.
        found: u16,
    },
    /// A superblock field holds a value no valid filesystem has.
    #[error("the superblock is corrupt: {field} is {value} ({why})")]
    BadSuperblock {
        /// The field name, as in the kernel's `struct ext4_super_block`.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Why the value is refused.
        why: &'static str,
    },
    /// The filesystem claims more bytes than the source holds.
    #[error(
        "the filesystem claims {claimed} bytes but the source holds only {available}; the image is truncated or the partition table is wrong"
    )]
    Truncated {
        /// Bytes the superblock claims.
        claimed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The filesystem uses features this reader cannot interpret.
    #[error(
        "the filesystem uses features this reader cannot read: {features}; convert or copy the files with the kernel's ext4 driver first"
    )]
    UnsupportedFeatures {
        /// Space-separated feature names, as e2fsprogs spells them.
        features: String,
    },
    /// The journal holds changes not yet written to the filesystem.
    #[error(
        "the filesystem was not cleanly unmounted (needs_recovery is set): replay its journal with `e2fsck` before reading it"
    )]
    NeedsRecovery,
    /// A group descriptor points outside the filesystem.
    #[error("group descriptor {group} is corrupt: {field} is {value}, outside the filesystem")]
    BadGroupDescriptor {
        /// Block group number.
        group: u32,
        /// The field name.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// An inode number outside `1..=inodes_count`.
    #[error("inode number {ino} is out of range: the filesystem has inodes 1 to {count}")]
    InodeOutOfRange {
        /// The inode number asked for.
        ino: u64,
        /// The number of inodes in the filesystem.
        count: u32,
    },
    /// An inode holds an inconsistent field.
    #[error("inode {ino} is corrupt: {why}")]
    BadInode {
        /// The inode number.
        ino: u32,
        /// What is wrong.
        why: String,
    },
    /// An inode's extent tree is corrupt.
    #[error("inode {ino} has a corrupt extent tree at block {block}: {why}")]
    BadExtentTree {
        /// The inode number.
        ino: u32,
        /// The tree block (0 for the root in the inode).
        block: u64,
        /// What is wrong.
        why: String,
    },
    /// An inode's legacy block map is corrupt.
    #[error("inode {ino} has a corrupt block map: {why}")]
    BadBlockMap {
        /// The inode number.
        ino: u32,
        /// What is wrong.
        why: String,
    },
    /// A directory entry is malformed.
    #[error("directory inode {ino} has a corrupt entry at byte {offset}: {why}")]
    BadDirEntry {
        /// The directory's inode number.
        ino: u32,
        /// Byte offset of the entry within the directory.
        offset: u64,
        /// What is wrong.
        why: String,
    },
    /// Extended attributes of an inode are malformed.
    #[error("inode {ino} has corrupt extended attributes: {why}")]
    BadXattr {
        /// The inode number.
        ino: u32,
        /// What is wrong.
        why: String,
    },
    /// An operation needs a different kind of inode.
    #[error("inode {ino} is a {found}, not a {wanted}")]
    WrongType {
        /// The inode number.
        ino: u32,
        /// The kind found.
        found: &'static str,
        /// The kind needed.
        wanted: &'static str,
    },
    /// A file is bigger than the caller allowed.
    #[error("inode {ino} holds {size} bytes, more than the {cap}-byte limit given")]
    TooLarge {
        /// The inode number.
        ino: u32,
        /// Its size.
        size: u64,
        /// The limit.
        cap: u64,
    },
    /// A directory appears inside itself.
    #[error("directory loop: {path} is directory inode {ino}, already seen at {first}")]
    DirectoryLoop {
        /// The path where the loop closes.
        path: String,
        /// The directory inode seen twice.
        ino: u32,
        /// The path where it was first seen.
        first: String,
    },
    /// Directories nest deeper than any real filesystem.
    #[error("{path} is nested {depth} directories deep, beyond the limit of {limit}")]
    TooDeep {
        /// The path.
        path: String,
        /// Its depth.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// A walk entry could not be read; wraps the cause with the path.
    #[error("{path}: {source}")]
    AtPath {
        /// The path of the entry.
        path: String,
        /// The cause.
        source: Box<Ext4Error>,
    },
}

impl Ext4Error {
    pub(crate) fn io(offset: u64, len: u64, source: io::Error) -> Self {
        Self::Io {
            offset,
            len,
            source,
        }
    }
}
