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
//! Everything here reads untrusted input: errors name the file (as the caller named it) and
//! the line, sizes are capped, and nothing panics.

mod certificate;
mod cleartext;
pub mod deb822;
mod keyring;
pub mod package;
pub mod packages;
pub mod relation;
pub mod release;
pub mod rewrite;
mod signature;
pub mod sources;
pub mod status;
pub mod version;

pub use deb822::{Deb822Error, Field, OwnedParagraph, Paragraph};
pub use keyring::{Keyring, KeyringError, MAX_KEYRING_BYTES, is_keyring_file_name};
pub use package::{Control, MultiArch, PackageError, Relations, SourceRef};
pub use packages::{IndexEntry, PackagesIndex};
pub use relation::{ArchQualifier, Constraint, Op, Relation, RelationError, RelationList};
pub use release::{IndexFile, Release, ReleaseError};
pub use rewrite::Rewrites;
pub use signature::{
    MAX_DETACHED_BYTES, MAX_RELEASE_BYTES, SignatureError, SignaturePolicy, Verified,
    verify_detached, verify_inrelease,
};
pub use sources::{SignedBy, SourceEntry, SourcesError, SourcesFormat};
pub use status::{Conffile, Flag, State, Status, StatusEntry, StatusFile, Want};
pub use version::{Version, VersionError};
