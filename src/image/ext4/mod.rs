//! A read-only ext2/ext3/ext4 reader that exposes the filesystem's own view: superblock
//! facts, inodes with owners, times, device numbers and extended attributes, directory
//! entries, and where each file's data lies in the image. It knows nothing of Raspberry Pi,
//! Debian or the in-memory tree another stage builds from it, and it never writes.
//!
//! Why not the `rsext4` crate (0.9.2, evaluated for this reader): it does expose xattrs,
//! device numbers, inode numbers and an extent inspector, but it is a mount-style
//! read-write `no_std` filesystem whose block size is fixed at compile time to 4 KiB (so
//! 1 KiB-block ext2/3 images cannot be read), its parsers index slices directly with
//! on-disk offsets (about a thousand `unwrap`/`expect`/panics in the crate, no fuzzing),
//! and it cannot read a window of an image without our own block-device adapter. Refusing
//! hostile images without panics is the requirement it clearly misses, so we read ext4
//! ourselves with every offset checked.
//!
//! Start at [`Ext4::open`]; [`Ext4::walk`] visits every path, [`Ext4::file_map`] gives
//! the byte extents of a file so its contents can be streamed from the image.
//! Not supported: encryption, compression, `dirdata`, journal replay (an image with
//! `needs_recovery` is refused), and checksum verification (metadata_csum is read but
//! checksums are not checked).

mod blockmap;
mod dir;
mod error;
mod extent;
mod feature;
mod field;
mod filesystem;
mod group;
mod inode;
mod map;
mod superblock;
mod walk;
mod xattr;

pub use dir::DirEntry;
pub use error::Ext4Error;
pub use feature::Features;
pub use filesystem::{Ext4, ROOT_INO};
pub use inode::{
    DeviceNumber, FLAG_EA_INODE, FLAG_EXTENTS, FLAG_HUGE_FILE, FLAG_INDEX, FLAG_INLINE_DATA,
    FileType, Inode, Timestamp,
};
pub use map::Extent;
pub use superblock::{ErrorsBehaviour, Superblock, format_uuid};
pub use walk::{MAX_DEPTH, Walk, WalkEntry};
pub use xattr::Xattr;
