//! Disk formats: partition tables and filesystems, read and written without mounting
//! anything. Nothing here knows about Raspberry Pi or Debian.

pub mod bmap;
pub mod compress;
pub mod disk;
pub mod ext4;
pub mod fat;
pub mod io;
pub mod mke2fs;
pub mod partition;
pub mod tar;
