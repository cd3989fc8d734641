//! The `apt` stage: Debian repositories and packages, handled as apt and dpkg would, without
//! running either.
//!
//! Metadata (text formats, parsed without network, OpenPGP or archives):
//! - [`deb822`]: the control-paragraph syntax every other format here is written in.
//! - [`version`]: Debian versions and dpkg's order on them.
//! - [`relation`]: `Depends`-style fields and version constraints.
//! - [`package`]: the control fields of one binary package.
//! - [`release`]: a suite's `Release` (the body of `InRelease`), with index digests.
//! - [`packages`]: a `Packages` index.
//! - [`status`]: dpkg's `status` database, read and written.
//! - [`sources`]: apt's source lists.
//! - [`rewrite`]: the profile's URI prefix rewrites, applied to entries and list files.
//! - [`resolver`]: choosing what to install and remove, as apt would.
//!
//! Signatures (which keys a repository is trusted with, and whether its `InRelease` or
//! `Release` + `Release.gpg` carries a good signature by one of them):
//! - `keyring`: keys from binary keyrings, armored files, `Signed-By:` blocks and
//!   fingerprint-pinned downloads.
//! - `signature`: the verification entry points, the weak-algorithm policy and the errors.
//! - `cleartext`: the InRelease framing (dash-escaping, `Hash:` headers, nothing unsigned).
//! - `certificate`: whether the key that signed was fit to (bindings, flags, expiry,
//!   revocation, strength).
//!
//! Repositories (fetched through [`crate::fetch`], verified, indexes parsed):
//! - [`source_set`]: which repositories a build reads (the base image's sources, the
//!   profile's) and the keyring each is verified with.
//! - [`repository`]: one repository loaded: signed Release, expiry, `Packages` indexes.
//!
//! Packages (a `.deb` is read whole before it touches the tree, then applied as
//! `dpkg --unpack` would):
//! - [`ar`], [`compression`], [`tar`], [`control_files`]: the archive, its members'
//!   compression, the tar streams and the control files.
//! - [`content`]: file contents streamed into a content-addressed cache.
//! - [`deb`]: a whole package, read and checked.
//! - [`diversion`], [`unpack()`]: applying a package to a [`crate::tree::Tree`], honouring
//!   diversions, returning what dpkg records in `info/<pkg>.list` and `.md5sums`.
//! - [`dpkg`]: the image's dpkg database, recording unpacked packages and purging
//!   installed ones as dpkg would.
//! - [`config`]: the image's own apt configuration, made to agree with the build.
//! - [`install()`](install::install): all of the above as one stage, from the profile to
//!   the packages unpacked and recorded in the image.
//! - [`firstboot`]: the unit that runs the deferred `preinst` steps and
//!   `dpkg --configure -a` once on the node.
//!
//! Everything here reads untrusted input: errors name the file (as the caller named it) and
//! the line, sizes are capped, and nothing panics.

pub mod ar;
mod certificate;
mod cleartext;
pub mod compression;
pub mod config;
pub mod content;
pub mod control_files;
pub mod deb;
pub mod deb822;
pub mod diversion;
pub mod dpkg;
pub mod firstboot;
pub mod install;
mod keyring;
pub mod package;
pub mod packages;
pub mod relation;
pub mod release;
pub mod repository;
pub mod resolver;
pub mod rewrite;
mod signature;
pub mod source_set;
pub mod sources;
pub mod status;
pub mod tar;
pub mod unpack;
pub mod version;

pub use compression::Compression;
pub use content::{ContentError, ContentStore, StoredContent};
pub use control_files::{ControlFile, ControlFiles, Md5Sums};
pub use deb::{DataEntry, DataKind, DebError, DebLimits, DebPackage};
pub use deb822::{Deb822Error, Field, OwnedParagraph, Paragraph};
pub use diversion::{Diversion, DiversionError, Diversions};
pub use dpkg::{Database, DpkgError, PreinstStep, PurgeReport};
pub use firstboot::{FirstbootError, install_firstboot};
pub use keyring::{Keyring, KeyringError, MAX_KEYRING_BYTES, is_keyring_file_name};
pub use package::{Control, MultiArch, PackageError, Relations, SourceRef};
pub use packages::{IndexEntry, PackagesIndex};
pub use relation::{ArchQualifier, Constraint, Op, Relation, RelationError, RelationList};
pub use release::{IndexFile, Release, ReleaseError};
pub use repository::{
    LoadPolicy, LoadedIndex, LoadedRepository, RepositoryError, RepositorySource, fetch_deb, load,
};
pub use rewrite::Rewrites;
pub use signature::{
    MAX_DETACHED_BYTES, MAX_RELEASE_BYTES, SignatureError, SignaturePolicy, Verified,
    verify_detached, verify_inrelease,
};
pub use source_set::{ConfiguredRepository, base_repositories, profile_repository};
pub use sources::{SignedBy, SourceEntry, SourcesError, SourcesFormat};
pub use status::{Conffile, Flag, State, Status, StatusEntry, StatusFile, Want};
pub use unpack::{InstalledFiles, UnpackError, UnpackedFiles, unpack};
pub use version::{Version, VersionError};
