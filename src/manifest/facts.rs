//! What the build knows that the image does not say: the profile, the inputs and their
//! digests, the packages, and which paths the builder wrote. The build stage fills
//! [`BuildFacts`]; `describe` copies it into the manifest next to what it reads from the
//! image. Nothing here is read from the build machine: names are file names or URLs, never
//! host paths, so two machines write the same manifest.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::checksum::Checksum;
use crate::tree::TreePath;

/// The lock file a build used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRef {
    /// Its file name (`blog.lock`), without a directory.
    pub name: String,
    /// The digest of its bytes.
    pub sha256: Checksum,
}

/// What kind of input a digest is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// The base image as downloaded or given (before decompression).
    Base,
    /// A repository's signed `InRelease`.
    Repository,
    /// A repository signing key.
    Key,
    /// A `.deb` archive.
    Package,
    /// The web server binary.
    Server,
    /// An overlay directory or file.
    Overlay,
    /// Content copied onto the USB drive image.
    DriveContent,
}

/// One input of the build and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDigest {
    /// What it is.
    pub kind: InputKind,
    /// Its name in the profile (repository name, package name, overlay path, …).
    pub name: String,
    /// Where it came from: a URL, or a path relative to the profile file.
    pub source: String,
    /// The digest of its bytes.
    pub sha256: Checksum,
}

/// One installed package, as the lock file pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRecord {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture (`armhf`, `arm64`, `all`).
    pub architecture: String,
    /// The repository it came from, by its profile name (or `base`).
    pub repository: String,
    /// The `Filename` field of the repository's index.
    pub filename: String,
    /// The `.deb`'s digest.
    pub sha256: Checksum,
}

/// Paths the builder wrote or changed, per filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Paths of the root filesystem.
    pub root: BTreeSet<TreePath>,
    /// Paths of the boot filesystem, relative to its root (`/config.txt`).
    pub boot: BTreeSet<TreePath>,
}

/// Another file the build wrote next to the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// Its file name (`blog-pi3.img.xz`), without a directory.
    pub name: String,
    /// The digest of its bytes.
    pub sha256: Checksum,
    /// Its length in bytes.
    pub size: u64,
}

/// What the build stage knows that the image does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFacts {
    /// The pi-imager version that built the image.
    pub tool_version: String,
    /// The profile's file name (`blog.toml`), never a path of the build machine.
    pub profile: String,
    /// The digest of the profile file.
    pub profile_digest: Checksum,
    /// The node's name in the profile.
    pub node: String,
    /// The node's host name.
    pub hostname: String,
    /// The board (`pi3`).
    pub board: String,
    /// The Raspberry Pi OS generation of the base (`jessie`, `bookworm`).
    pub generation: String,
    /// The lock file used, if any.
    pub lock: Option<LockRef>,
    /// The time every timestamp of the image was set to, Unix seconds.
    pub epoch: i64,
    /// Every input with its digest.
    pub inputs: Vec<InputDigest>,
    /// Every installed package.
    pub packages: Vec<PackageRecord>,
    /// Packages removed from the base.
    pub removed: Vec<String>,
    /// Paths the builder wrote or changed.
    pub written: Written,
    /// Sentences worth keeping with the image (how PHP-FPM was sized, …).
    pub notes: Vec<String>,
    /// The build's other output files; may be empty and filled in later.
    pub outputs: Vec<OutputFile>,
}
