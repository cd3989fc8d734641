//! Why the dpkg database in the image could not be read, changed or written. Each variant
//! names the file or package it concerns.

use crate::apt::diversion::DiversionError;
use crate::apt::package::PackageError;
use crate::tree::TreeError;

/// A failure reading or changing `/var/lib/dpkg` in the tree.
#[derive(Debug, thiserror::Error)]
pub enum DpkgError {
    /// The image has no `/var/lib/dpkg/status`.
    #[error("{path} is missing from the image; is this a Debian-based root filesystem?")]
    NoStatus {
        /// The path looked for.
        path: String,
    },
    /// A database file is not a regular file or cannot be read.
    #[error("{path} in the image cannot be read: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The `status` file is malformed.
    #[error("the image's dpkg status file is malformed: {source}")]
    Status {
        /// The parse error (names the line).
        #[from]
        source: PackageError,
    },
    /// The `diversions` file is malformed.
    #[error("the image's dpkg diversions file: {source}")]
    Diversions {
        /// The parse error.
        #[from]
        source: DiversionError,
    },
    /// A path in a `.list` file is not a valid path.
    #[error("{file} in the image lists an invalid path: {source}")]
    BadList {
        /// The `.list` file.
        file: String,
        /// Why the path is refused.
        source: TreeError,
    },
    /// Neither `/var/lib/dpkg/arch` nor the `dpkg` entry of `status` says the image's
    /// architecture.
    #[error(
        "cannot tell the image's architecture: no /var/lib/dpkg/arch and no installed dpkg in status"
    )]
    NoArchitecture,
    /// A package's `control` file cannot be made into a status entry.
    #[error("{deb}: its control file cannot be recorded: {reason}")]
    BadControl {
        /// The package file.
        deb: String,
        /// What is wrong.
        reason: String,
    },
    /// The unpacked files are not those of this package.
    #[error("{deb} is package `{expected}` but the unpacked files are of `{found}`")]
    WrongPackage {
        /// The package file.
        deb: String,
        /// The package name in its control file.
        expected: String,
        /// The name the unpack result carries.
        found: String,
    },
    /// Writing into the tree failed.
    #[error("cannot write {path} into the image: {source}")]
    Tree {
        /// The path.
        path: String,
        /// The tree's refusal.
        source: TreeError,
    },
    /// A purge named a package that is not in `status`.
    #[error("cannot purge `{package}`: it is not installed in the image")]
    NotInstalled {
        /// The name given.
        package: String,
    },
    /// A purge named a package installed for several architectures.
    #[error(
        "cannot purge `{package}`: it is installed for several architectures ({architectures}); name one as `{package}:<arch>`"
    )]
    Ambiguous {
        /// The name given.
        package: String,
        /// The installed architectures, comma-separated.
        architectures: String,
    },
    /// A purge named an Essential package, which dpkg refuses to remove.
    #[error(
        "refusing to purge `{package}`: it is Essential, and the system needs it to work; remove it from the profile's removals"
    )]
    Essential {
        /// The package.
        package: String,
    },
}
