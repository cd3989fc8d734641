//! Where the base image comes from: [`fetch_base`] turns the profile's `[base]` source (a
//! URL or a local file; `.img`, `.img.xz`, `.img.gz` or `.zip`) into a plain, seekable,
//! sparse `.img` in the cache that [`super::BaseImage::open`] reads.
//!
//! The digest that pins a base is the one of the file as published (the `.zip`, the
//! `.img.xz`): it is what a download page lists and what the lock records. With a pin, a URL
//! goes through [`Fetcher::fetch_verified`] (cached by digest, resumed, retried, offline) and
//! a local file is hashed and compared; without one, the file is downloaded or hashed once
//! and its digest returned for the caller to pin. The format is read from the first bytes,
//! not the name. The unpacked image is cached as `base/<download sha256>.img`, written beside
//! its final name, synced and renamed, so a second build (or a second process) finds it ready
//! and nothing ever sees half of it. The cache is not trusted on its own word: a cached
//! image is reused only when its sha256 equals the unpacked digest the caller pins (the
//! lock's `base.image_sha256`, written from an earlier unpacking); without that pin, or when
//! the bytes differ (damaged, or changed by whoever can write the cache), the verified
//! download is unpacked again. Even a raw `.img` is copied (sparsely)
//! into the cache: the trees read from it refer to its bytes for the whole build, and a file
//! beside the profile may be changed while the build runs.
//!
//! This module does not read the image's partitions or filesystems ([`super::BaseImage`]
//! does), nor write the lock: the caller prints and records what was newly pinned.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::sparse::{CopyError, copy_sparse};
use super::zip::{ZipArchive, ZipError};
use crate::fetch::{Expected, FetchError, Fetcher, hex};
use crate::image::compress::{CompressError, open_decompressed};
use crate::image::io::ImageFile;
use crate::profile::Source;

/// The largest unpacked image accepted: four times the largest SD card images published, far
/// below what an endless compressed stream would fill a disk with.
pub const MAX_IMAGE_SIZE: u64 = 64 << 30;

/// How many zip entries an error lists before "and N more".
const MAX_LISTED_ENTRIES: usize = 20;

/// What the published file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseFormat {
    /// A raw disk image.
    Img,
    /// An xz stream (`.img.xz`).
    Xz,
    /// A gzip stream (`.img.gz`).
    Gz,
    /// A zip archive holding one `.img` (`.zip`).
    Zip,
}

impl BaseFormat {
    /// The format whose magic bytes `head` starts with; anything else is a raw image.
    pub fn from_magic(head: &[u8]) -> Self {
        if head.starts_with(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            Self::Xz
        } else if head.starts_with(&[0x1F, 0x8B]) {
            Self::Gz
        } else if head.starts_with(b"PK\x03\x04") {
            Self::Zip
        } else {
            Self::Img
        }
    }

    /// The format a file name claims, when it claims a compressed one.
    fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".xz") {
            Some(Self::Xz)
        } else if lower.ends_with(".gz") {
            Some(Self::Gz)
        } else if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else {
            None
        }
    }
}

impl fmt::Display for BaseFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Img => "a raw image",
            Self::Xz => "xz",
            Self::Gz => "gzip",
            Self::Zip => "zip",
        })
    }
}

/// The base image as a plain, seekable `.img` in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBase {
    /// SHA-256 of the file as downloaded or as found on disk (the `.zip`, `.img.xz`, …):
    /// what the profile's `sha256` and the lock pin.
    pub download_sha256: [u8; 32],
    /// The unpacked `.img`, in the cache (sparse: all-zero 4 KiB blocks are holes).
    pub image: PathBuf,
    /// What the published file was.
    pub format: BaseFormat,
    /// Whether this call learnt a digest that neither the profile nor the lock gave (the
    /// caller records it in the lock and says so).
    pub newly_pinned: bool,
    /// SHA-256 of the unpacked image, checked or computed by this call: what the lock pins
    /// so a later build can trust the cached image.
    pub image_sha256: [u8; 32],
}

/// Why the base image could not be fetched or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum BaseSourceError {
    /// The download failed or was refused (a wrong digest included); the error names the URL.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A local base image cannot be read.
    #[error("cannot read the base image {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A local base image is not the pinned one.
    #[error(
        "the base image {} has sha256 {found}, but {expected} is pinned; if the new file is the one you want, update `sha256` in [base] or the lock",
        path.display()
    )]
    DigestMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned digest (hex).
        expected: String,
        /// The file's digest (hex).
        found: String,
    },
    /// Offline, with no digest to look the download up by.
    #[error(
        "cannot use the base image {url} offline: no sha256 is pinned for it, so the cache cannot be searched; run once without --offline (the digest is then pinned in the lock) or give `sha256` in [base]"
    )]
    NeedsPin {
        /// The URL.
        url: String,
    },
    /// The name promises a compressed format the bytes are not.
    #[error(
        "the base image {what} is named as {claimed}, but its bytes are {found}; check the address (a server may have sent an error page instead)"
    )]
    Misnamed {
        /// The URL or path.
        what: String,
        /// The format the name gives.
        claimed: BaseFormat,
        /// The format the bytes show.
        found: BaseFormat,
    },
    /// The zip archive is damaged or uses what the reader does not support.
    #[error("cannot read the zip archive {what}: {source}")]
    Zip {
        /// The URL or path.
        what: String,
        /// What is wrong.
        source: ZipError,
    },
    /// The zip archive does not hold exactly one `.img`.
    #[error(
        "the zip archive {what} holds {images} .img files, but exactly one is needed; its entries: {}",
        listed(entries)
    )]
    ZipImages {
        /// The URL or path.
        what: String,
        /// How many `.img` entries it holds.
        images: usize,
        /// Every entry's name.
        entries: Vec<String>,
    },
    /// The compressed file cannot be opened for reading.
    #[error("cannot open the base image {what}: {source}")]
    Open {
        /// The URL or path.
        what: String,
        /// What failed.
        source: CompressError,
    },
    /// Unpacking failed: the compressed stream is corrupt or truncated.
    #[error("cannot unpack the base image {what} ({format}): {source}")]
    Unpack {
        /// The URL or path.
        what: String,
        /// Its format.
        format: BaseFormat,
        /// What failed.
        source: io::Error,
    },
    /// The image unpacks (or a zip entry claims to unpack) to more than [`MAX_IMAGE_SIZE`].
    #[error(
        "the base image {what} unpacks to more than {limit} bytes, more than any SD card image; it is not a base image, or it is damaged"
    )]
    TooLarge {
        /// The URL or path.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The download unpacked to other bytes than the lock says it did.
    #[error(
        "the base image {what} unpacks to an image with sha256 {found}, but the lock records {expected} for it; the lock was edited or written by another tool: run `pi-imager lock` to record the image again"
    )]
    UnpackedMismatch {
        /// The URL or path.
        what: String,
        /// The lock's digest of the unpacked image (hex).
        expected: String,
        /// The digest of what it unpacked to now (hex).
        found: String,
    },
    /// The unpacked image cannot be written into the cache.
    #[error("cannot write the unpacked base image at {}: {source}", path.display())]
    Cache {
        /// The path in the cache.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

fn listed(entries: &[String]) -> String {
    let mut shown: Vec<&str> = entries
        .iter()
        .take(MAX_LISTED_ENTRIES)
        .map(String::as_str)
        .collect();
    let more;
    if entries.len() > MAX_LISTED_ENTRIES {
        more = format!("and {} more", entries.len() - MAX_LISTED_ENTRIES);
        shown.push(&more);
    }
    if shown.is_empty() {
        "none".to_owned()
    } else {
        shown.join(", ")
    }
}

/// Fetches the base image `source` and unpacks it into the cache. `pinned` is the digest the
/// profile or the lock gives for the published file; without one, the file is fetched and
/// its digest returned with `newly_pinned` set. With no digest of the unpacked image to
/// check a cached one against, the download is unpacked again: see [`fetch_base_pinned`].
pub fn fetch_base(
    fetcher: &Fetcher,
    source: &Source,
    pinned: Option<[u8; 32]>,
) -> Result<FetchedBase, BaseSourceError> {
    fetch_base_pinned(fetcher, source, pinned, None)
}

/// [`fetch_base`], given also `unpacked`: the sha256 of the image the pinned download
/// unpacks to (the lock's `base.image_sha256`). A cached image with that digest is reused;
/// one without it is replaced by unpacking the verified download again, and if that gives
/// other bytes than `unpacked`, the lock is wrong and the call fails.
pub fn fetch_base_pinned(
    fetcher: &Fetcher,
    source: &Source,
    pinned: Option<[u8; 32]>,
    unpacked: Option<[u8; 32]>,
) -> Result<FetchedBase, BaseSourceError> {
    let what = source.to_string();
    let (download, digest) = obtain(fetcher, source, pinned)?;
    let format = detect(&download)?;
    if let Some(claimed) = name_of(source).as_deref().and_then(BaseFormat::from_name)
        && claimed != format
    {
        return Err(BaseSourceError::Misnamed {
            what,
            claimed,
            found: format,
        });
    }
    let image = fetcher
        .cache_dir()
        .join("base")
        .join(format!("{}.img", hex(&digest)));
    // The unpacked pin belongs to the pinned download only.
    let unpacked = unpacked.filter(|_| pinned.is_some());
    let cached = match unpacked {
        Some(expected) if image.is_file() => (hash_file(&image)? == expected).then_some(expected),
        _ => None,
    };
    let image_sha256 = match cached {
        Some(digest) => digest,
        None => {
            let found = unpack(&download, format, &image, &what)?;
            if let Some(expected) = unpacked.filter(|e| *e != found) {
                return Err(BaseSourceError::UnpackedMismatch {
                    what,
                    expected: hex(&expected),
                    found: hex(&found),
                });
            }
            found
        }
    };
    Ok(FetchedBase {
        download_sha256: digest,
        image,
        format,
        newly_pinned: pinned.is_none(),
        image_sha256,
    })
}

/// The published file (in the cache for a URL, where it is for a local path) and its digest.
fn obtain(
    fetcher: &Fetcher,
    source: &Source,
    pinned: Option<[u8; 32]>,
) -> Result<(PathBuf, [u8; 32]), BaseSourceError> {
    match (source, pinned) {
        (Source::Url(url), Some(sha256)) => {
            let expected = Expected { sha256, size: None };
            Ok((fetcher.fetch_verified(url.as_str(), &expected)?, sha256))
        }
        (Source::Url(url), None) if fetcher.is_offline() && url.scheme() != "file" => {
            Err(BaseSourceError::NeedsPin {
                url: url.to_string(),
            })
        }
        (Source::Url(url), None) => Ok(fetcher.fetch_pinning(url.as_str(), MAX_IMAGE_SIZE)?),
        (Source::Path(path), pinned) => {
            let found = hash_file(path)?;
            match pinned {
                Some(expected) if expected != found => Err(BaseSourceError::DigestMismatch {
                    path: path.clone(),
                    expected: hex(&expected),
                    found: hex(&found),
                }),
                _ => Ok((path.clone(), found)),
            }
        }
    }
}

/// The last component of the source's path, which may name its format.
fn name_of(source: &Source) -> Option<String> {
    match source {
        Source::Url(url) => url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .map(str::to_owned),
        Source::Path(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
    }
}

fn hash_file(path: &Path) -> Result<[u8; 32], BaseSourceError> {
    crate::fetch::hash_file(path)
        .map(|(digest, _)| digest)
        .map_err(|source| BaseSourceError::Read {
            path: path.to_path_buf(),
            source,
        })
}

fn detect(path: &Path) -> Result<BaseFormat, BaseSourceError> {
    let failed = |source| BaseSourceError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(6);
    File::open(path)
        .map_err(failed)?
        .take(6)
        .read_to_end(&mut head)
        .map_err(failed)?;
    Ok(BaseFormat::from_magic(&head))
}

/// Unpacks `download` into `image` (beside it first, then synced and renamed, replacing
/// any image there) and returns the sha256 of the unpacked bytes.
fn unpack(
    download: &Path,
    format: BaseFormat,
    image: &Path,
    what: &str,
) -> Result<[u8; 32], BaseSourceError> {
    let dir = image.parent().unwrap_or(Path::new("."));
    let cache = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BaseSourceError::Cache { path, source }
    };
    std::fs::create_dir_all(dir).map_err(cache(dir))?;
    // Removed on drop: a failed unpack leaves nothing behind.
    let temp = tempfile::Builder::new()
        .prefix(".unpack-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(cache(dir))?;
    let copied = |result: Result<u64, CopyError>| match result {
        Ok(_) => Ok(()),
        Err(CopyError::Read(source)) => Err(BaseSourceError::Unpack {
            what: what.to_owned(),
            format,
            source,
        }),
        Err(CopyError::Write(source)) => Err(BaseSourceError::Cache {
            path: temp.path().to_path_buf(),
            source,
        }),
        Err(CopyError::TooLarge) => Err(BaseSourceError::TooLarge {
            what: what.to_owned(),
            limit: MAX_IMAGE_SIZE,
        }),
    };
    let digest = match format {
        BaseFormat::Img | BaseFormat::Xz | BaseFormat::Gz => {
            let mut reader =
                open_decompressed(download).map_err(|source| BaseSourceError::Open {
                    what: what.to_owned(),
                    source,
                })?;
            let mut hashing = Hashing::new(&mut reader);
            copied(copy_sparse(&mut hashing, temp.as_file(), MAX_IMAGE_SIZE))?;
            hashing.digest()
        }
        BaseFormat::Zip => {
            let file = ImageFile::open(download).map_err(|source| BaseSourceError::Read {
                path: download.to_path_buf(),
                source,
            })?;
            let zip_error = |source| BaseSourceError::Zip {
                what: what.to_owned(),
                source,
            };
            let archive = ZipArchive::open(&file).map_err(zip_error)?;
            let images: Vec<_> = archive
                .entries()
                .iter()
                .filter(|e| !e.is_dir() && e.name.to_ascii_lowercase().ends_with(".img"))
                .collect();
            let [entry] = images.as_slice() else {
                return Err(BaseSourceError::ZipImages {
                    what: what.to_owned(),
                    images: images.len(),
                    entries: archive.entries().iter().map(|e| e.name.clone()).collect(),
                });
            };
            if entry.uncompressed_size > MAX_IMAGE_SIZE {
                return Err(BaseSourceError::TooLarge {
                    what: what.to_owned(),
                    limit: MAX_IMAGE_SIZE,
                });
            }
            let mut reader = archive.reader(entry).map_err(zip_error)?;
            let mut hashing = Hashing::new(&mut reader);
            copied(copy_sparse(&mut hashing, temp.as_file(), MAX_IMAGE_SIZE))?;
            hashing.digest()
        }
    };
    temp.as_file().sync_all().map_err(cache(temp.path()))?;
    temp.persist(image).map_err(|e| BaseSourceError::Cache {
        path: image.to_path_buf(),
        source: e.error,
    })?;
    // Best effort: some file systems cannot sync a directory.
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(digest)
}

/// A reader that hashes what passes through it: the unpacked image's digest, in the same
/// pass that writes it.
struct Hashing<'a> {
    inner: &'a mut dyn Read,
    sha: Sha256,
}

impl<'a> Hashing<'a> {
    fn new(inner: &'a mut dyn Read) -> Self {
        Hashing {
            inner,
            sha: Sha256::new(),
        }
    }

    fn digest(self) -> [u8; 32] {
        self.sha.finalize().into()
    }
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_bytes() {
        assert_eq!(
            BaseFormat::from_magic(&[0xFD, b'7', b'z', b'X', b'Z', 0]),
            BaseFormat::Xz
        );
        assert_eq!(BaseFormat::from_magic(&[0x1F, 0x8B, 8]), BaseFormat::Gz);
        assert_eq!(BaseFormat::from_magic(b"PK\x03\x04rest"), BaseFormat::Zip);
        // An empty archive or a bare end record is not a base image in a zip.
        assert_eq!(BaseFormat::from_magic(b"PK\x05\x06"), BaseFormat::Img);
        assert_eq!(BaseFormat::from_magic(&[0xFD, b'7']), BaseFormat::Img);
        assert_eq!(BaseFormat::from_magic(b""), BaseFormat::Img);
    }

    #[test]
    fn names_claim_formats() {
        assert_eq!(
            BaseFormat::from_name("2016-02-26-raspbian-jessie-lite.ZIP"),
            Some(BaseFormat::Zip)
        );
        assert_eq!(BaseFormat::from_name("a.img.xz"), Some(BaseFormat::Xz));
        assert_eq!(BaseFormat::from_name("a.img.gz"), Some(BaseFormat::Gz));
        assert_eq!(BaseFormat::from_name("a.img"), None);
        let url = Source::Url(url::Url::parse("https://example.org/x/a.zip?dl=1").unwrap());
        assert_eq!(name_of(&url).as_deref(), Some("a.zip"));
    }

    #[test]
    fn long_entry_lists_are_cut() {
        let entries: Vec<String> = (0..25).map(|i| format!("e{i}")).collect();
        let text = listed(&entries);
        assert!(text.starts_with("e0, e1, "), "{text}");
        assert!(text.ends_with("e19, and 5 more"), "{text}");
        assert_eq!(listed(&[]), "none");
    }
}
