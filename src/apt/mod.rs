//! Debian packages: reading `.deb` archives and unpacking them into the tree as
//! `dpkg --unpack` would.
//!
//! A `.deb` is read whole before it touches the tree ([`DebPackage::open`]): the `ar`
//! container ([`ar`]), the member's compression ([`compression`]), the tar streams
//! ([`tar`]) and the control files ([`control_files`]), with file contents streamed into a
//! content-addressed cache ([`content`]). [`unpack()`] then applies the package to a [`crate::tree::Tree`], honouring diversions
//! ([`diversion`]), and returns what dpkg would record in `info/<pkg>.list` and `.md5sums`.
//! Repository metadata, dependency resolution and writing the dpkg database are not here.

pub mod ar;
pub mod compression;
pub mod content;
pub mod control_files;
pub mod deb;
pub mod diversion;
pub mod tar;
pub mod unpack;

pub use compression::Compression;
pub use content::{ContentError, ContentStore, StoredContent};
pub use control_files::{Conffile, ControlFile, ControlFiles, Md5Sums};
pub use deb::{DataEntry, DataKind, DebError, DebLimits, DebPackage};
pub use diversion::{Diversion, DiversionError, Diversions};
pub use unpack::{InstalledFiles, UnpackError, UnpackedFiles, unpack};
