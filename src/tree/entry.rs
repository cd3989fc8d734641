//! What a path of the tree points at: an inode with its type, permissions, owner, time,
//! extended attributes, and for regular files a content *source*.
//!
//! File contents are never held whole in memory unless they are small: a source names where
//! the bytes are (ranges of the base image file, a file in the cache, or inline bytes), and
//! [`Content::reader`] streams them when the image is written.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::image::io::{ImageFile, ReadAt};

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds (may be negative).
    pub secs: i64,
    /// Nanoseconds, below 1,000,000,000.
    pub nanos: u32,
}

impl Timestamp {
    /// A time with no fractional part.
    pub const fn from_secs(secs: i64) -> Self {
        Self { secs, nanos: 0 }
    }
}

/// One run of file data stored in an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// Offset of the run in the file.
    pub file_offset: u64,
    /// Offset of the run in the image file.
    pub image_offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// Small contents held in memory (generated config files, test data).
    Inline(Arc<[u8]>),
    /// Runs of an image file, in file order; the gaps between runs are holes (zeros).
    Image {
        /// The open image file, shared by every file read from it.
        file: Arc<ImageFile>,
        /// The runs, sorted by `file_offset`, not overlapping.
        extents: Arc<[Extent]>,
    },
    /// A file on the build host that pi-imager owns (a cache entry), read whole.
    HostFile(PathBuf),
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Inline(a), Self::Inline(b)) => a == b,
            (
                Self::Image {
                    file: fa,
                    extents: ea,
                },
                Self::Image {
                    file: fb,
                    extents: eb,
                },
            ) => Arc::ptr_eq(fa, fb) && ea == eb,
            (Self::HostFile(a), Self::HostFile(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Content {}

impl Content {
    /// Inline contents from bytes.
    pub fn inline(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Inline(Arc::from(bytes.into().into_boxed_slice()))
    }

    /// A reader of exactly `size` bytes of this content: holes read as zeros, and a source
    /// shorter or longer than `size` is an error rather than a silently different file.
    pub fn reader(&self, size: u64) -> io::Result<Box<dyn Read + Send + '_>> {
        match self {
            Self::Inline(bytes) => {
                if bytes.len() as u64 != size {
                    return Err(size_mismatch(size, bytes.len() as u64));
                }
                Ok(Box::new(&bytes[..]))
            }
            Self::Image { file, extents } => Ok(Box::new(ExtentReader {
                file,
                extents,
                size,
                pos: 0,
                next: 0,
            })),
            Self::HostFile(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                let len = file.metadata()?.len();
                if len != size {
                    return Err(size_mismatch(size, len));
                }
                Ok(Box::new(file.take(size)))
            }
        }
    }

    /// Reads the whole content into memory, refusing more than `limit` bytes.
    pub fn read_to_vec(&self, size: u64, limit: u64) -> io::Result<Vec<u8>> {
        if size > limit {
            return Err(io::Error::other(format!(
                "file of {size} bytes is larger than the {limit} bytes allowed here"
            )));
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.reader(size)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

fn size_mismatch(expected: u64, found: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("content has {found} bytes where the file has {expected}"),
    )
}

/// Streams runs of an image file, with zeros for the holes between them.
struct ExtentReader<'a> {
    file: &'a ImageFile,
    extents: &'a [Extent],
    size: u64,
    pos: u64,
    /// Index of the first extent that ends after `pos`.
    next: usize,
}

impl Read for ExtentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        while self
            .extents
            .get(self.next)
            .is_some_and(|e| e.file_offset.saturating_add(e.len) <= self.pos)
        {
            self.next += 1;
        }
        let remaining = self.size - self.pos;
        let want = (buf.len() as u64).min(remaining);
        let n = match self.extents.get(self.next) {
            Some(e) if e.file_offset <= self.pos => {
                let within = self.pos - e.file_offset;
                let n = want.min(e.len - within);
                let at = e.image_offset.checked_add(within).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "extent offset overflows")
                })?;
                let n_usize = usize::try_from(n).unwrap_or(buf.len());
                self.file.read_exact_at(&mut buf[..n_usize], at)?;
                n_usize
            }
            Some(e) => {
                let n = want.min(e.file_offset - self.pos);
                let n_usize = usize::try_from(n).unwrap_or(buf.len());
                buf[..n_usize].fill(0);
                n_usize
            }
            None => {
                let n_usize = usize::try_from(want).unwrap_or(buf.len());
                buf[..n_usize].fill(0);
                n_usize
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// The type of an inode, with what only that type has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of `size` bytes.
    File {
        /// Its length.
        size: u64,
        /// Where its bytes are.
        content: Content,
    },
    /// A directory; its entries are the tree's paths below it.
    Dir,
    /// A symbolic link and its target, as stored (never resolved on the host).
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

impl Kind {
    /// The file-type bits of `st_mode` (`S_IFREG`, `S_IFDIR`, …).
    pub fn type_bits(&self) -> u32 {
        match self {
            Self::File { .. } => 0o100_000,
            Self::Dir => 0o040_000,
            Self::Symlink(_) => 0o120_000,
            Self::CharDevice { .. } => 0o020_000,
            Self::BlockDevice { .. } => 0o060_000,
            Self::Fifo => 0o010_000,
            Self::Socket => 0o140_000,
        }
    }
}

/// An inode: one file, however many paths name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Type and type-specific data.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Extended attributes by full name (`security.capability`, `user.x`, …).
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Inode {
    /// A directory owned by root with mode `mode`.
    pub fn dir(mode: u32, mtime: Timestamp) -> Self {
        Self::new(Kind::Dir, mode, mtime)
    }

    /// A regular file owned by root holding `bytes`.
    pub fn file(bytes: impl Into<Vec<u8>>, mode: u32, mtime: Timestamp) -> Self {
        let bytes = bytes.into();
        let size = bytes.len() as u64;
        Self::new(
            Kind::File {
                size,
                content: Content::inline(bytes),
            },
            mode,
            mtime,
        )
    }

    /// A symbolic link owned by root.
    pub fn symlink(target: impl Into<Vec<u8>>, mtime: Timestamp) -> Self {
        Self::new(Kind::Symlink(target.into()), 0o777, mtime)
    }

    /// An inode of `kind` owned by root.
    pub fn new(kind: Kind, mode: u32, mtime: Timestamp) -> Self {
        Self {
            kind,
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: BTreeMap::new(),
        }
    }

    /// `st_mode`: type bits and permission bits.
    pub fn st_mode(&self) -> u32 {
        self.kind.type_bits() | (self.mode & 0o7777)
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }

    /// The length of a regular file or symlink target; 0 for others.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { size, .. } => *size,
            Kind::Symlink(target) => target.len() as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn extent_reader_fills_holes_and_reads_runs() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        tmp.write_all(&data).unwrap();
        let file = Arc::new(ImageFile::open(tmp.path()).unwrap());
        let extents: Arc<[Extent]> = Arc::from(vec![
            Extent {
                file_offset: 10,
                image_offset: 100,
                len: 5,
            },
            Extent {
                file_offset: 20,
                image_offset: 200,
                len: 3,
            },
        ]);
        let content = Content::Image { file, extents };
        let bytes = content.read_to_vec(30, 1 << 20).unwrap();
        let mut expected = vec![0u8; 30];
        expected[10..15].copy_from_slice(&data[100..105]);
        expected[20..23].copy_from_slice(&data[200..203]);
        assert_eq!(bytes, expected);
        assert!(content.read_to_vec(30, 10).is_err());
    }

    #[test]
    fn inline_size_must_match() {
        let content = Content::inline(b"abc".to_vec());
        assert!(content.read_to_vec(3, 10).is_ok());
        assert!(content.reader(4).is_err());
    }
}
