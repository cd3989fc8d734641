//! The build manifest, `<name>-<node>.manifest.json`: what went into an image and what
//! came out, in a documented, versioned JSON schema (`docs/manifest-json.md`).
//!
//! [`Manifest::describe`] reads a written image back with our own readers (partition
//! table, FAT, ext4) and records the whole image's digest, each partition's digest, the
//! block map's ranges and every regular file of both filesystems, together with the
//! [`BuildFacts`] the build stage knows (profile, inputs, packages). [`Manifest::parse`]
//! reads one back for `verify`: any input, however hostile, gives a [`ManifestError`],
//! never a panic, and what it returns has been checked (sorted, in range, well formed).
//! This module does not build or flash images and does not compare a card with a
//! manifest: that is `verify`'s work.

mod change;
mod checksum;
mod describe;
mod error;
mod facts;
mod image_digest;
mod model;
mod path;
mod validate;

pub use change::{ChangeRule, Pattern, builtin_rules, is_expected_to_change};
pub use checksum::Checksum;
pub use error::ManifestError;
pub use facts::{BuildFacts, InputDigest, InputKind, LockRef, OutputFile, PackageRecord, Written};
pub use model::{
    BlockMap, BlockRange, BuildInfo, FileEntry, Filesystem, FilesystemInfo, ImageInfo, Manifest,
    PartitionEntry, PartitionRole, SymlinkEntry, TableInfo,
};
pub use path::{EncodedBytes, EncodedPath};

/// The schema identifier, the manifest's `schema` field. Additive changes (a new field,
/// which must then be `#[serde(default)]` so older `/1` files still parse, or a new enum
/// value) keep `/1`; anything else (a field renamed, removed, re-encoded or given another
/// meaning) bumps it. See `docs/manifest-json.md`.
pub const SCHEMA: &str = "pi-imager-manifest/1";
