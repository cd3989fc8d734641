//! A POSIX pax archive of a [`Tree`](crate::tree::Tree), streamed to any writer.
//!
//! The archive is what `mke2fs -d -` reads to build the root filesystem, so its choices
//! follow e2fsprogs' reader (libarchive): every path in tree order with parents first,
//! numeric owners only, the root directory as `./` so the filesystem root takes the tree
//! root's mode, owner and time, hard links pointing at the first path of their inode, and
//! xattrs as `SCHILY.xattr.*` records with raw values. Sockets cannot be stored in tar and
//! are left out (see [`TarSummary`]). Contents stream from their sources in chunks; nothing
//! here reads an archive back.

mod error;
mod header;
mod writer;

pub use error::TarError;
pub use writer::{TarSummary, write_tar};
