//! Errors of building an ext4 filesystem with mke2fs. Each says what to do about it.

use std::io;
use std::path::PathBuf;

use super::version::Version;
use crate::image::tar::TarError;

/// How to get a new enough e2fsprogs, repeated in every message that needs it.
pub const INSTALL_HINT: &str = "install e2fsprogs 1.47.1 or later with libarchive \
     (on Debian bookworm: apt-get install -t bookworm-backports e2fsprogs libarchive13)";

/// Why the filesystem could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Mke2fsError {
    /// No such e2fsprogs program on `PATH`, in `/usr/sbin` or in `/sbin`.
    #[error("{program} was not found on PATH, in /usr/sbin or in /sbin; {INSTALL_HINT}")]
    NotFound {
        /// `mke2fs` or `debugfs`.
        program: &'static str,
    },
    /// The program could not be started or waited for.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// `mke2fs -V` printed something we cannot read a version from.
    #[error("cannot read a version from `mke2fs -V`, which printed: {output}")]
    VersionUnreadable {
        /// What it printed.
        output: String,
    },
    /// An mke2fs that cannot read tar archives.
    #[error(
        "mke2fs {found} is too old to read a tar archive (1.47.1 or later is needed); {INSTALL_HINT}"
    )]
    TooOld {
        /// The version found.
        found: Version,
    },
    /// mke2fs was built without libarchive or cannot load it.
    #[error("mke2fs cannot read tar archives because libarchive is missing; {INSTALL_HINT}")]
    NoLibarchive,
    /// A parameter mke2fs would refuse or misread.
    #[error("invalid ext4 parameter: {0}")]
    BadParams(String),
    /// A UUID that is not 32 hex digits in the 8-4-4-4-12 form.
    #[error("`{text}` is not a UUID (expected the form 01234567-89ab-cdef-0123-456789abcdef)")]
    BadUuid {
        /// The text given.
        text: String,
    },
    /// The image file cannot hold the requested range.
    #[error(
        "{path} is {len} bytes long but the filesystem is to end at byte {end}; create the image file at its full size first"
    )]
    ImageTooShort {
        /// The image file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// `offset + size`.
        end: u64,
    },
    /// The image file or our config file could not be opened or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// The tree could not be streamed (a content source failed, a bad xattr name, …).
    #[error("cannot stream the root filesystem to mke2fs: {0}")]
    Tar(#[from] TarError),
    /// The tree does not fit in the filesystem.
    #[error(
        "the root filesystem does not fit in {size} bytes; it needs about {estimate} bytes ({} MiB) or more. mke2fs said: {stderr}",
        estimate.div_ceil(1 << 20)
    )]
    TooSmall {
        /// The size asked for.
        size: u64,
        /// A rough estimate of the size needed.
        estimate: u64,
        /// What mke2fs printed.
        stderr: String,
    },
    /// debugfs could not put back the times or xattrs mke2fs leaves out.
    #[error("debugfs failed ({status}) while restoring sub-second times and xattrs: {stderr}")]
    Debugfs {
        /// Its exit status.
        status: String,
        /// Its error lines.
        stderr: String,
    },
    /// mke2fs failed for another reason.
    #[error("mke2fs failed ({status}): {stderr}")]
    Failed {
        /// Its exit status.
        status: String,
        /// What it printed on standard error.
        stderr: String,
    },
}
