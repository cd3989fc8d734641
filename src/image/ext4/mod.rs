//! A read-only ext2/ext3/ext4 reader that exposes the filesystem's own view: superblock
//! facts, inodes with owners, times, device numbers and extended attributes, directory
//! entries, and where each file's data lies in the image. It knows nothing of Raspberry Pi,
//! Debian or the in-memory tree another stage builds from it, and it never writes.
//!
//! Why not the `rsext4` crate (0.9.2, evaluated for this reader): it does expose xattrs,
//! device numbers, inode numbers and an extent inspector, but it is a mount-style
//! read-write `no_std` filesystem whose block size is a compile-time 4 KiB constant, so
//! 1 KiB-block ext2/3/4 images cannot be opened, and it reads through its own mutable
//! block-device trait instead of positioned reads of a window of an image. Its parsers
//! have no fuzz or property tests, so refusing hostile images without panics is unproven.
//! As it does not clearly meet every requirement, this module reads ext4 itself, with
//! every on-disk offset and length checked.
//!
//! Start at [`Ext4::open`]; [`Ext4::walk`] visits every path, [`Ext4::file_map`] gives
//! the byte extents of a file so its contents can be streamed from the image.
//! Read: extent trees of any depth and legacy block maps, htree directories, inline data,
//! attribute values in their own inodes (ea_inode), 32- and 64-byte group descriptors,
//! meta_bg, bigalloc, 128-byte inodes. Refused with an error naming the feature:
//! encryption, compression, `dirdata`, journal devices and unknown incompat features;
//! an image with `needs_recovery` is refused rather than read without its journal.
//! Checksums (metadata_csum) are not verified.

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
