//! Where unpacked file contents live: small files in memory, larger ones in a cache
//! directory addressed by their SHA-256 (`<cache>/sha256/ab/abcd…`), so a package's data is
//! streamed once from the archive to disk and the tree refers to it with
//! [`Content::HostFile`].
//!
//! Files are written to a temporary name inside the cache and renamed into place, so a
//! cache entry is either complete or absent, whatever interrupts the build; an entry that
//! already exists is replaced by the bytes just read from the verified package, never
//! trusted as it is. MD5 is computed in the same pass for
//! dpkg's `md5sums`. This module does not decide what to store: it is handed readers.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::tree::Content;

/// Files up to this size are kept in memory rather than in the cache directory.
pub const INLINE_MAX: u64 = 64 << 10;

/// Makes temporary names unique within this process; the process id separates processes.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Why a content could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The source ended before `size` bytes, or failed.
    #[error("reading the file's data failed after {read} of {size} bytes: {source}")]
    Read {
        /// Bytes read before the failure.
        read: u64,
        /// The declared size.
        size: u64,
        /// The error.
        source: io::Error,
    },
    /// The source ended before `size` bytes.
    #[error("the file's data ends after {read} of its {size} bytes")]
    Short {
        /// Bytes read.
        read: u64,
        /// The declared size.
        size: u64,
    },
    /// Writing the cache failed.
    #[error(
        "writing the content cache at {path} failed: {source}; check free space and permissions"
    )]
    Write {
        /// The cache path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A stored file content with the digests computed while storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContent {
    /// Where the bytes are.
    pub content: Content,
    /// The length.
    pub size: u64,
    /// MD5, as dpkg's `md5sums` lists it.
    pub md5: [u8; 16],
    /// SHA-256.
    pub sha256: [u8; 32],
}

/// A content-addressed cache directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// A store in directory `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads exactly `size` bytes from `source` and stores them.
    pub fn store(&self, source: &mut dyn Read, size: u64) -> Result<StoredContent, ContentError> {
        if size <= INLINE_MAX {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            let read =
                source
                    .take(size)
                    .read_to_end(&mut bytes)
                    .map_err(|e| ContentError::Read {
                        read: 0,
                        size,
                        source: e,
                    })? as u64;
            if read != size {
                return Err(ContentError::Short { read, size });
            }
            return Ok(StoredContent {
                md5: Md5::digest(&bytes).into(),
                sha256: Sha256::digest(&bytes).into(),
                content: Content::inline(bytes),
                size,
            });
        }
        self.store_file(source, size)
    }

    fn store_file(&self, source: &mut dyn Read, size: u64) -> Result<StoredContent, ContentError> {
        let tmp_dir = self.root.join("tmp");
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ContentError::Write { path, source }
        };
        std::fs::create_dir_all(&tmp_dir).map_err(write_err(&tmp_dir))?;
        let tmp = tmp_dir.join(format!(
            "{}-{}",
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self.copy_into(source, size, &tmp);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let (md5, sha256) = result?;
        let hex = hex(&sha256);
        let dir = self.root.join("sha256").join(&hex[..2]);
        std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
        let path = dir.join(&hex);
        // Ours replaces any existing entry: its bytes were just hashed from a verified
        // package, while an entry already there is only as good as whoever wrote the cache
        // (a restored CI cache, another tool). The rename is atomic, so a reader of the old
        // entry keeps whole bytes.
        std::fs::rename(&tmp, &path).map_err(write_err(&path))?;
        Ok(StoredContent {
            content: Content::HostFile(path),
            size,
            md5,
            sha256,
        })
    }

    fn copy_into(
        &self,
        source: &mut dyn Read,
        size: u64,
        tmp: &Path,
    ) -> Result<([u8; 16], [u8; 32]), ContentError> {
        let write_err = |source| ContentError::Write {
            path: tmp.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(write_err)?;
        let mut md5 = Md5::new();
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut read: u64 = 0;
        while read < size {
            let want = usize::try_from((size - read).min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match source.read(&mut buf[..want]) {
                Ok(0) => return Err(ContentError::Short { read, size }),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ContentError::Read {
                        read,
                        size,
                        source: e,
                    });
                }
            };
            md5.update(&buf[..n]);
            sha.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(write_err)?;
            read += n as u64;
        }
        file.flush().map_err(write_err)?;
        Ok((md5.finalize().into(), sha.finalize().into()))
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inline_large_cached_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        let small = store.store(&mut &b"hello\n"[..], 6).unwrap();
        assert!(matches!(small.content, Content::Inline(_)));
        assert_eq!(hex(&small.md5), "b1946ac92492d2347c6235b4d2611184");

        let big = vec![3u8; 100_000];
        let a = store.store(&mut big.as_slice(), 100_000).unwrap();
        let b = store.store(&mut big.as_slice(), 100_000).unwrap();
        assert_eq!(a, b);
        let Content::HostFile(path) = &a.content else {
            panic!("large content should be cached");
        };
        assert!(path.ends_with(hex(&a.sha256)));
        assert_eq!(std::fs::read(path).unwrap(), big);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_tampered_entry_is_replaced_by_the_packages_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        let good = vec![7u8; 100_000];
        let first = store.store(&mut good.as_slice(), 100_000).unwrap();
        let Content::HostFile(path) = &first.content else {
            panic!("large content should be cached");
        };
        // Someone who can write the cache puts other bytes under the same digest.
        std::fs::write(path, vec![9u8; 100_000]).unwrap();
        let again = store.store(&mut good.as_slice(), 100_000).unwrap();
        assert_eq!(again, first);
        assert_eq!(std::fs::read(path).unwrap(), good);
    }

    #[test]
    fn short_source_is_an_error_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        let data = vec![1u8; 70_000];
        assert!(matches!(
            store.store(&mut data.as_slice(), 80_000),
            Err(ContentError::Short { read: 70_000, .. })
        ));
        assert!(matches!(
            store.store(&mut &b"abc"[..], 4),
            Err(ContentError::Short { read: 3, .. })
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
