//! The `apt` stage's metadata layer: the text formats of Debian repositories and of dpkg's
//! database, parsed into typed values without network, OpenPGP or archives.
//!
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
//! Everything here reads untrusted repository text: errors name the file (as the caller
//! named it) and the line, sizes are capped, and nothing panics. Verifying signatures,
//! downloading, unpacking `.deb` archives and resolving dependencies live elsewhere.

pub mod deb822;
pub mod package;
pub mod packages;
pub mod relation;
pub mod release;
pub mod rewrite;
pub mod sources;
pub mod status;
pub mod version;

pub use deb822::{Deb822Error, Field, OwnedParagraph, Paragraph};
pub use package::{Control, MultiArch, PackageError, Relations, SourceRef};
pub use packages::{IndexEntry, PackagesIndex};
pub use relation::{ArchQualifier, Constraint, Op, Relation, RelationError, RelationList};
pub use release::{IndexFile, Release, ReleaseError};
pub use rewrite::Rewrites;
pub use sources::{SignedBy, SourceEntry, SourcesError, SourcesFormat};
pub use status::{Conffile, Flag, State, Status, StatusEntry, StatusFile, Want};
pub use version::{Version, VersionError};
