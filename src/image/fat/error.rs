//! The errors of the FAT reader and writer.
//!
//! One enum for the whole `fat` module: each variant carries the offending values so the
//! message alone tells the user what was wrong and where. Nothing here does any I/O.

use std::io;

/// Everything that can go wrong while reading or writing a FAT filesystem.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// The underlying source or output failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },

    /// The boot sector does not describe a usable FAT filesystem.
    #[error("not a usable FAT filesystem: {0}; check that the partition offset is right")]
    BadBootSector(String),

    /// The filesystem is FAT12, which this reader does not support.
    #[error("the filesystem is FAT12 ({clusters} clusters); only FAT16 and FAT32 are supported")]
    Fat12Unsupported {
        /// The cluster count that made it FAT12.
        clusters: u32,
    },

    /// The filesystem claims more bytes than the source holds.
    #[error(
        "the filesystem claims {claimed} bytes but the partition holds only {available}; the image is truncated or the partition table is wrong"
    )]
    Truncated {
        /// Bytes the boot sector says the filesystem spans.
        claimed: u64,
        /// Bytes the source actually holds.
        available: u64,
    },

    /// A cluster chain leaves the data area or hits a free, bad or reserved cluster.
    #[error(
        "{path}: cluster chain reaches invalid cluster {cluster:#x} (valid clusters are 2..{end:#x}); the filesystem is corrupt, run fsck.fat"
    )]
    BadCluster {
        /// The file or directory whose chain is broken.
        path: String,
        /// The offending cluster number or FAT value.
        cluster: u32,
        /// One past the last valid cluster number.
        end: u32,
    },

    /// A cluster chain visits the same cluster twice.
    #[error(
        "{path}: cluster chain loops back to cluster {cluster}; the filesystem is corrupt, run fsck.fat"
    )]
    ChainLoop {
        /// The file or directory whose chain loops.
        path: String,
        /// The cluster seen twice.
        cluster: u32,
    },

    /// A file's cluster chain ends before its size is covered.
    #[error(
        "{path}: the file is {size} bytes but its cluster chain ends after {clusters} clusters of {cluster_size} bytes; the filesystem is corrupt, run fsck.fat"
    )]
    ChainTooShort {
        /// The file.
        path: String,
        /// The size the directory entry states.
        size: u64,
        /// Clusters found in the chain.
        clusters: u64,
        /// Bytes per cluster.
        cluster_size: u32,
    },

    /// A directory is longer than FAT allows (65536 entries).
    #[error(
        "{path}: directory spans more than {limit} bytes, more than FAT allows; the filesystem is corrupt"
    )]
    DirectoryTooLong {
        /// The directory.
        path: String,
        /// The largest directory size FAT allows.
        limit: u64,
    },

    /// A directory is reached twice while walking: a loop or a cross-link.
    #[error(
        "{path}: directory at cluster {cluster} was already visited (a directory loop or cross-link); the filesystem is corrupt, run fsck.fat"
    )]
    DirectoryLoop {
        /// The path under which it was reached the second time.
        path: String,
        /// Its first cluster.
        cluster: u32,
    },

    /// A read was asked for more bytes than the caller allows.
    #[error("{path}: the file is {size} bytes, more than the limit of {cap} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The caller's limit.
        cap: u64,
    },

    /// The entry is a directory where a file was needed, or the other way round.
    #[error("{path}: expected a {expected}")]
    WrongKind {
        /// The entry.
        path: String,
        /// "file" or "directory".
        expected: &'static str,
    },

    /// A path given to the writer is malformed.
    #[error("invalid path {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },

    /// A name cannot be stored on FAT.
    #[error("{path}: the name cannot be stored on FAT: {reason}")]
    BadName {
        /// The path whose last component is refused.
        path: String,
        /// Why.
        reason: String,
    },

    /// Two names differ only in case, which FAT cannot hold apart.
    #[error(
        "{first} and {second} differ only in case; FAT is case-insensitive, rename one of them"
    )]
    CaseCollision {
        /// One path.
        first: String,
        /// The other path.
        second: String,
    },

    /// The same path is given twice, or as both a file and a directory.
    #[error("{path} is listed twice (or both as a file and as a directory)")]
    Duplicate {
        /// The path.
        path: String,
    },

    /// No unique 8.3 name could be made for a long name.
    #[error("{path}: no free 8.3 short name is left in its directory")]
    ShortNamesExhausted {
        /// The path.
        path: String,
    },

    /// The volume label cannot be stored.
    #[error("invalid volume label {label:?}: {reason}")]
    BadLabel {
        /// The label as given.
        label: String,
        /// Why.
        reason: String,
    },

    /// A directory has more entries than FAT allows.
    #[error("{path}: the directory needs {slots} entries; FAT allows at most 65536 per directory")]
    TooManyEntries {
        /// The directory.
        path: String,
        /// 32-byte slots it would need.
        slots: u64,
    },

    /// The partition is too small for FAT32 or for the content.
    #[error("{what}: the partition is {size} bytes but needs at least {needed} bytes")]
    TooSmall {
        /// What does not fit.
        what: String,
        /// The partition size given.
        size: u64,
        /// The size needed.
        needed: u64,
    },

    /// The options cannot make a valid FAT32 filesystem.
    #[error("invalid FAT32 options: {0}")]
    BadOptions(String),

    /// A content source wrote a different number of bytes than the entry declared.
    #[error("{path}: the content source wrote {written} bytes but the entry declares {declared}")]
    ContentLength {
        /// The file.
        path: String,
        /// Bytes declared in the entry.
        declared: u64,
        /// Bytes the source produced (at least this many if more than declared).
        written: u64,
    },
}

impl FatError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        FatError::Io {
            context: context.into(),
            source,
        }
    }
}
