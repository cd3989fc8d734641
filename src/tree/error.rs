//! Errors of tree operations. Each names the path it concerns.

/// Why a tree operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// A name that cannot be a file name (empty, `.`, `..`, or holding `/` or NUL).
    #[error("`{name}` is not a valid file name")]
    BadName {
        /// The name.
        name: String,
    },
    /// A name longer than Linux allows.
    #[error("`{name}` is longer than 255 bytes")]
    NameTooLong {
        /// The name.
        name: String,
    },
    /// A path that climbs out of the tree with `..`.
    #[error("`{path}` uses `..`, which could escape the root filesystem")]
    Escape {
        /// The path.
        path: String,
    },
    /// Nothing at this path.
    #[error("{path}: no such file or directory in the image")]
    NotFound {
        /// The path.
        path: String,
    },
    /// Something already at this path.
    #[error("{path}: already exists in the image")]
    Exists {
        /// The path.
        path: String,
    },
    /// A path component that should be a directory and is not.
    #[error("{path}: not a directory in the image")]
    NotADirectory {
        /// The path.
        path: String,
    },
    /// A non-empty directory in the way of a replacement.
    #[error("{path}: is a non-empty directory in the image")]
    DirectoryNotEmpty {
        /// The path.
        path: String,
    },
    /// A hard link to a directory, which no Linux filesystem allows.
    #[error("{path}: cannot hard-link a directory")]
    LinkToDirectory {
        /// The path.
        path: String,
    },
    /// Symbolic links that point at each other, or more than 40 in a row.
    #[error("{path}: too many levels of symbolic links in the image")]
    SymlinkLoop {
        /// The path.
        path: String,
    },
}
