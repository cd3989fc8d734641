//! Dependency resolution with apt's semantics, as pure computation over parsed indexes and
//! dpkg's status: which versions of which packages to unpack (and in what order), which to
//! purge, and what the lock records. No file, network or archive is touched here.
//!
//! - [`universe`]: every version offered by the origins and installed, indexed by name
//!   and by provided virtual name.
//! - [`policy`]: pin priorities, `-t` and candidate choice (apt_preferences(5)).
//! - [`solve`]: apt's `MarkInstall`: alternatives, providers, upgrades, Conflicts and
//!   Breaks, successors.
//! - [`explain`]: the errors, each naming the chain from the request to the failure.
//! - [`resolution`]: the profile-level driver ([`resolve`]), the unpack order and the
//!   result types.
//! - [`mod@check`]: an independent consistency check of a resolved installed set.

pub mod check;
pub mod explain;
pub mod policy;
pub mod resolution;
pub mod solve;
pub mod universe;

pub use check::{Inconsistency, check};
pub use explain::{Chain, ResolveError, Step};
pub use policy::Policy;
pub use resolution::{LockEntry, Removal, Resolution, Unpack, resolve, unpack_order};
pub use solve::RemovalReason;
pub use universe::{Origin, PackageVersion, Source, Universe, VersionId};
