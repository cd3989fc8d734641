//! A POSIX pax archive of a [`Tree`](crate::tree::Tree), streamed to any writer.
//!
//! The archive is what `mke2fs -d -` reads to build the root filesystem, so its choices
//! follow e2fsprogs' reader (libarchive): every path in tree order with parents first,
//! numeric owners only, the root directory as `./` (without it mke2fs gives the root its
//! own defaults: mode 0755, owner 0, the build time), hard links pointing at the first path
//! of their inode, names as raw bytes (`hdrcharset=BINARY` when not UTF-8), times with
//! nanoseconds, and xattrs as `SCHILY.xattr.*` records with raw values, which libarchive
//! and GNU tar read as binary. Sockets cannot be stored in tar and are left out (see
//! [`TarSummary`]). Contents stream from their sources in chunks; nothing here reads an
//! archive back.

mod error;
mod header;
mod writer;

pub use error::TarError;
pub use writer::{TarSummary, write_tar};
