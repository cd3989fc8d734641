//! ext4 filesystems written by the host's e2fsprogs: `mke2fs -d -` reads the tree as a tar
//! stream on standard input, so no directory is ever unpacked on the host and no step
//! needs root.
//!
//! We pin everything mke2fs would otherwise take from the host: a private `MKE2FS_CONFIG`,
//! the exact feature list (`-O none,…`), UUID, hash seed, block and inode sizes, and the
//! clock (`E2FSPROGS_FAKE_TIME`), so the same tree and [`Ext4Params`] give the same bytes.
//! The filesystem goes straight into a range of an existing image file with
//! `-E offset=`. mke2fs 1.47 keeps whole seconds only and no xattr but
//! `security.capability`: a `debugfs -w` pass puts the rest back. Sockets cannot travel in
//! tar and are left out; the returned [`Ext4Report`] lists them. This module does not read
//! ext4 back; tests check it with `e2fsck` and `debugfs`.

mod debugfs;
mod error;
mod estimate;
mod listing;
mod params;
mod version;
mod writer;

pub use error::Mke2fsError;
pub use estimate::estimate_size;
pub use params::{Ext4Params, FsUuid};
pub use version::{MIN_VERSION, Version, check_version};
pub use writer::{Ext4Report, write_ext4};
