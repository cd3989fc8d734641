//! Errors of writing a tree as a tar archive. Each names the tree path it concerns.

use std::io;

/// Why the archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Writing the archive failed (for a pipe: the reader went away).
    #[error("writing the archive failed at {path}: {source}")]
    Write {
        /// The path being written.
        path: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A file's content source could not be read, or is not as long as the file.
    #[error("cannot read the contents of {path}: {source}")]
    Content {
        /// The file.
        path: String,
        /// What went wrong, including a wrong length.
        #[source]
        source: io::Error,
    },
    /// A content source that ended before the file's size.
    #[error(
        "the contents of {path} ended after {got} of {expected} bytes; the source changed or its extents are wrong"
    )]
    ShortContent {
        /// The file.
        path: String,
        /// The file's size in the tree.
        expected: u64,
        /// Bytes the source gave.
        got: u64,
    },
    /// An xattr name that a pax record cannot carry.
    #[error(
        "{path}: the extended attribute name `{name}` is empty or holds `=` or NUL, which a tar archive cannot store"
    )]
    XattrName {
        /// The file.
        path: String,
        /// The name, lossily decoded.
        name: String,
    },
    /// A count or offset that overflowed (an absurdly large tree).
    #[error("the archive grows past 2^64 bytes at {path}")]
    Overflow {
        /// The path being written.
        path: String,
    },
}

impl TarError {
    /// True when the reader of the archive closed it early: the reader's own error is then
    /// the one to report.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Write { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}
