//! The thing `verify` reads: an image file or a block device, opened read-only.
//!
//! A block device reports no length through its metadata, so the size is taken by
//! seeking to its end, which works for both. Reads are positioned and bounds-checked
//! like every other [`ReadAt`]. This module never writes and never decides what the
//! bytes mean.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::image::io::ReadAt;

/// An image file or block device open for reading.
#[derive(Debug)]
pub struct Target {
    file: File,
    size: u64,
    path: PathBuf,
}

impl Target {
    /// Opens `path` read-only and measures it.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let size = file.seek(SeekFrom::End(0))?;
        Ok(Self {
            file,
            size,
            path: path.to_path_buf(),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ReadAt for Target {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at offset {offset} goes past the end ({} bytes)",
                    buf.len(),
                    self.size
                ),
            ));
        }
        self.file.read_exact_at(buf, offset)
    }

    fn size(&self) -> u64 {
        self.size
    }
}
