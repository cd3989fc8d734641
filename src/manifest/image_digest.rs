//! The image's own digests, computed in streaming passes: the whole image (holes read as
//! zeros, as `sha256sum` sees the file), each partition, and each block-map range, which is
//! checked against the map's digest. Two passes run side by side on fixed buffers, so the
//! time is that of one pass on two cores and memory does not grow with the image. This
//! module does not read filesystems; `describe` does.

use sha2::{Digest, Sha256};

use super::checksum::Checksum;
use super::error::ManifestError;
use crate::image::bmap::Bmap;
use crate::image::io::{ImageFile, ReadAt};
use crate::image::partition::Partition;

/// Streaming buffer: big enough for efficient reads, small enough to keep memory flat.
const BUFFER_SIZE: usize = 1 << 20;

/// The digests of one pass over the image.
pub(super) struct ImageDigests {
    pub(super) image: Checksum,
    /// In the order of the partitions given.
    pub(super) partitions: Vec<Checksum>,
}

/// A read failure (the caller names the image) or a finding about the map or table.
pub(super) enum HashError {
    /// Reading the image failed.
    Io(std::io::Error),
    /// The bmap or the partition table does not fit the image.
    Other(ManifestError),
}

impl From<std::io::Error> for HashError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// A byte span `[start, end)` being hashed.
struct Span {
    start: u64,
    end: u64,
    hasher: Sha256,
}

impl Span {
    /// Feeds the part of `chunk` (which starts at `at`) that lies in the span.
    fn feed(&mut self, chunk: &[u8], at: u64) {
        let chunk_end = at.saturating_add(chunk.len() as u64);
        let from = self.start.max(at);
        let to = self.end.min(chunk_end);
        if from < to {
            let (a, b) = ((from - at) as usize, (to - at) as usize);
            self.hasher.update(chunk.get(a..b).unwrap_or_default());
        }
    }
}

/// Hashes the whole image on one thread while another hashes each partition and each
/// bmap range: the two passes read the same (page-cached) bytes, so two free cores finish
/// both in about the time of one.
pub(super) fn hash_image(
    file: &ImageFile,
    partitions: &[&Partition],
    bmap: &Bmap,
) -> Result<ImageDigests, HashError> {
    std::thread::scope(|scope| {
        let whole = scope.spawn(|| hash_whole(file));
        let partitions = hash_parts(file, partitions, bmap)?;
        let image = whole
            .join()
            .map_err(|_| std::io::Error::other("the thread hashing the image failed"))??;
        Ok(ImageDigests { image, partitions })
    })
}

/// The digest of every byte of the image, holes read as zeros.
fn hash_whole(file: &ImageFile) -> std::io::Result<Checksum> {
    let size = file.size();
    let mut whole = Sha256::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut pos = 0u64;
    while pos < size {
        let len = (size - pos).min(BUFFER_SIZE as u64) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        file.read_exact_at(chunk, pos)?;
        whole.update(&*chunk);
        pos += len as u64;
    }
    Ok(Checksum(whole.finalize().into()))
}

/// The digest of each partition (in the order given), checking each bmap range's digest
/// on the way, in one pass.
fn hash_parts(
    file: &ImageFile,
    partitions: &[&Partition],
    bmap: &Bmap,
) -> Result<Vec<Checksum>, HashError> {
    let size = file.size();
    let mut spans = Vec::with_capacity(partitions.len());
    for p in partitions {
        let end = p.start.checked_add(p.size).filter(|end| *end <= size);
        let Some(end) = end else {
            return Err(HashError::Other(ManifestError::inconsistent(
                format!("partition {}", p.number),
                format!("it ends past the image's end at byte {size}"),
            )));
        };
        spans.push(Span {
            start: p.start,
            end,
            hasher: Sha256::new(),
        });
    }
    let block_size = bmap.block_size;
    let range_span = |first: u64, last: u64| -> Result<(u64, u64), HashError> {
        let start = first.checked_mul(block_size);
        let end = last.checked_add(1).and_then(|n| n.checked_mul(block_size));
        match (start, end) {
            (Some(start), Some(end)) if start < size => Ok((start, end.min(size))),
            _ => Err(HashError::Other(ManifestError::BmapSize {
                bmap_size: bmap.image_size,
                image_size: size,
            })),
        }
    };

    let mut ranges = bmap.ranges.iter().peekable();
    let mut current: Option<(Span, &crate::image::bmap::BlockRange)> = None;
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut pos = 0u64;
    while pos < size {
        let len = (size - pos).min(BUFFER_SIZE as u64) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        file.read_exact_at(chunk, pos)?;
        let chunk = &*chunk;
        for span in &mut spans {
            span.feed(chunk, pos);
        }
        let chunk_end = pos + len as u64;
        loop {
            if current.is_none() {
                let Some(r) = ranges.next_if(|r| {
                    r.first
                        .checked_mul(block_size)
                        .is_some_and(|start| start < chunk_end)
                }) else {
                    break;
                };
                let (start, end) = range_span(r.first, r.last)?;
                let span = Span {
                    start,
                    end,
                    hasher: Sha256::new(),
                };
                current = Some((span, r));
            }
            let Some((span, r)) = current.as_mut() else {
                break;
            };
            span.feed(chunk, pos);
            if span.end > chunk_end {
                break;
            }
            let actual: [u8; 32] = std::mem::take(&mut span.hasher).finalize().into();
            if actual != r.sha256 {
                return Err(HashError::Other(ManifestError::BmapMismatch {
                    first: r.first,
                    last: r.last,
                    expected: Checksum(r.sha256).to_hex(),
                    actual: Checksum(actual).to_hex(),
                }));
            }
            current = None;
        }
        pos = chunk_end;
    }
    if current.is_some() || ranges.next().is_some() {
        // A range that reaches past the image: the map is of a larger image.
        return Err(HashError::Other(ManifestError::BmapSize {
            bmap_size: bmap.image_size,
            image_size: size,
        }));
    }
    Ok(spans
        .into_iter()
        .map(|s| Checksum(s.hasher.finalize().into()))
        .collect())
}
