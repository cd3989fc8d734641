//! FAT filesystems: a reader for FAT16 and FAT32 volumes and a writer of FAT32 volumes.
//!
//! The reader ([`Fat`]) opens a volume through [`ReadAt`](crate::image::io::ReadAt),
//! validates its boot sector, and lists directories with long names, times and the byte
//! ranges holding each file, so content can be streamed from the image later. The writer
//! ([`write_fat32`]) lays out a fresh FAT32 volume from a list of paths with contiguous
//! clusters, sorted directories and fixed times, writing only non-zero bytes into an
//! already-zeroed region. Neither knows about Raspberry Pi, Debian or any in-memory tree
//! type; callers translate to and from [`DirEntry`] and [`FatEntry`].

mod boot_sector;
mod datetime;
mod dir_entry;
mod error;
mod layout;
mod namespace;
mod reader;
mod short_name;
mod table;
mod writer;

pub use boot_sector::{BootSector, FatType};
pub use error::FatError;
pub use layout::FatLayout;
pub use reader::{Attributes, DirEntry, Fat};
pub use writer::{ContentSource, FatEntry, FatEntryKind, FatOptions, write_fat32};
