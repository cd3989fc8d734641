//! The image to flash: a raw `.img`, or an `.img.xz` / `.img.gz`, with the block map
//! found beside it (`X.img.bmap` for `X.img`, `X.img.xz` and `X.img.gz`; also `X.bmap`).
//!
//! Everything that can be checked before writing is checked here: the block map's own
//! checksum, that it describes an image of this size, and, for a raw image, every range's
//! digest (hashed on every core, each taking a share of the ranges), so a stale or
//! damaged image is refused before the card is touched. A
//! compressed image can only be checked as it is decompressed; the writer does that and
//! holds back the partition table. Without a block map, a raw image is mapped by its
//! holes, and a compressed one is decompressed once to learn its size and digest.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::FlashError;
use crate::image::bmap::{BLOCK_SIZE, BlockRange, Bmap};
use crate::image::compress::open_decompressed;
use crate::image::io::{ImageFile, ReadAt};

const XZ_MAGIC: [u8; 6] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
const GZ_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// An image ready to write.
#[derive(Debug)]
pub struct Source {
    /// The image file.
    pub path: PathBuf,
    /// Whether it is `.xz` or `.gz` (recognised by its magic bytes).
    pub compressed: bool,
    /// The block map: given, found beside the image, or made from it.
    pub bmap: Bmap,
    /// Where the block map came from, if it was a file.
    pub bmap_path: Option<PathBuf>,
}

impl Source {
    /// Bytes of mapped data, the amount a flash writes.
    pub fn mapped_bytes(&self) -> u64 {
        self.bmap
            .ranges
            .iter()
            .map(|r| span_len(r, self.bmap.block_size, self.bmap.image_size))
            .sum()
    }

    /// One past the last mapped byte.
    pub fn data_end(&self) -> u64 {
        self.bmap.ranges.last().map_or(0, |r| {
            r.last
                .saturating_add(1)
                .saturating_mul(self.bmap.block_size)
                .min(self.bmap.image_size)
        })
    }
}

/// Length of a range in bytes, cut at the image's end.
pub(crate) fn span_len(r: &BlockRange, block_size: u64, image_size: u64) -> u64 {
    let start = r.first.saturating_mul(block_size).min(image_size);
    let end = r
        .last
        .saturating_add(1)
        .saturating_mul(block_size)
        .min(image_size);
    end.saturating_sub(start)
}

/// The block map beside `image`, if one exists.
pub fn bmap_beside(image: &Path) -> Option<PathBuf> {
    let name = image.file_name()?.to_str()?;
    let raw = name
        .strip_suffix(".xz")
        .or_else(|| name.strip_suffix(".gz"))
        .unwrap_or(name);
    let mut candidates = vec![format!("{raw}.bmap")];
    if let Some(stem) = raw.strip_suffix(".img") {
        candidates.push(format!("{stem}.bmap"));
    }
    candidates.push(format!("{name}.bmap"));
    candidates
        .into_iter()
        .map(|c| image.with_file_name(c))
        .find(|p| p.is_file())
}

/// Opens `image` with `bmap` (or the one beside it) and checks all that can be checked
/// before writing.
pub fn open(image: &Path, bmap: Option<&Path>) -> Result<Source, FlashError> {
    let image_error = |source| FlashError::Image {
        path: image.to_path_buf(),
        source,
    };
    let compressed = is_compressed(image).map_err(image_error)?;
    let bmap_path = bmap.map(Path::to_path_buf).or_else(|| bmap_beside(image));
    let map = match &bmap_path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| FlashError::Bmap {
                path: path.clone(),
                source: crate::image::bmap::BmapError::Io {
                    path: path.clone(),
                    source: e,
                },
            })?;
            let map = Bmap::parse(&text).map_err(|source| FlashError::Bmap {
                path: path.clone(),
                source,
            })?;
            if !compressed {
                check_raw(image, path, &map)?;
            }
            map
        }
        None if compressed => map_stream(image)?,
        None => Bmap::from_image(image).map_err(|source| FlashError::Bmap {
            path: image.to_path_buf(),
            source,
        })?,
    };
    Ok(Source {
        path: image.to_path_buf(),
        compressed,
        bmap: map,
        bmap_path,
    })
}

fn is_compressed(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 6];
    let mut file = File::open(path)?;
    let mut have = 0;
    while have < head.len() {
        match file.read(head.get_mut(have..).unwrap_or_default())? {
            0 => break,
            n => have += n,
        }
    }
    let head = head.get(..have).unwrap_or_default();
    Ok(head == XZ_MAGIC || head.starts_with(&GZ_MAGIC))
}

/// A raw image against its map: the size, then every range's digest.
fn check_raw(image: &Path, bmap_path: &Path, map: &Bmap) -> Result<(), FlashError> {
    let mismatch = |why: String| FlashError::ImageMismatch {
        image: image.to_path_buf(),
        bmap: bmap_path.to_path_buf(),
        why,
    };
    let file = ImageFile::open(image).map_err(|source| FlashError::Image {
        path: image.to_path_buf(),
        source,
    })?;
    if file.size() != map.image_size {
        return Err(mismatch(format!(
            "the image is {} bytes but the map describes {} bytes",
            file.size(),
            map.image_size
        )));
    }
    let bad = check_ranges(&file, map).map_err(|source| FlashError::Image {
        path: image.to_path_buf(),
        source,
    })?;
    if let Some(&(first, last)) = bad.first() {
        return Err(mismatch(format!(
            "{} ranges differ, the first blocks {first}-{last}",
            bad.len(),
        )));
    }
    Ok(())
}

/// Threads for the pre-write check: hashing is the bottleneck and ranges are
/// independent, so each core takes a contiguous share of the mapped bytes.
const MAX_THREADS: usize = 4;

/// The ranges of `map` whose bytes in `image` differ from their digest, as first and
/// last block, in map order. The ranges are split into contiguous shares of about equal
/// bytes, one per core; a single huge range stays on one core (its digest is sequential).
pub(crate) fn check_ranges(
    image: &(impl ReadAt + Sync + ?Sized),
    map: &Bmap,
) -> io::Result<Vec<(u64, u64)>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS);
    let lens: Vec<u64> = map
        .ranges
        .iter()
        .map(|r| span_len(r, map.block_size, map.image_size))
        .collect();
    let total: u64 = lens.iter().sum();
    let share = total.div_ceil(threads as u64).max(1);
    // Cut after the range that brings a share to its quota.
    let mut shares: Vec<&[BlockRange]> = Vec::new();
    let (mut begin, mut acc) = (0usize, 0u64);
    for (i, len) in lens.iter().enumerate() {
        acc = acc.saturating_add(*len);
        if acc >= share {
            shares.push(map.ranges.get(begin..=i).unwrap_or_default());
            (begin, acc) = (i + 1, 0);
        }
    }
    shares.push(map.ranges.get(begin..).unwrap_or_default());
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .filter(|share| !share.is_empty())
            .map(|share| scope.spawn(move || bad_ranges(image, map, share)))
            .collect();
        let mut bad = Vec::new();
        for handle in handles {
            let found = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a digest thread stopped")))?;
            bad.extend(found);
        }
        Ok(bad)
    })
}

fn bad_ranges(
    image: &(impl ReadAt + ?Sized),
    map: &Bmap,
    ranges: &[BlockRange],
) -> io::Result<Vec<(u64, u64)>> {
    let mut buf = vec![0u8; HASH_BUFFER];
    let mut bad = Vec::new();
    for range in ranges {
        let start = range
            .first
            .checked_mul(map.block_size)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let end = start.saturating_add(span_len(range, map.block_size, map.image_size));
        let mut hasher = Sha256::new();
        let mut pos = start;
        while pos < end {
            let len = usize::try_from(end - pos).map_or(HASH_BUFFER, |n| n.min(HASH_BUFFER));
            let chunk = buf.get_mut(..len).unwrap_or_default();
            image.read_exact_at(chunk, pos)?;
            hasher.update(&*chunk);
            pos = pos.saturating_add(len as u64);
        }
        if <[u8; 32]>::from(hasher.finalize()) != range.sha256 {
            bad.push((range.first, range.last));
        }
    }
    Ok(bad)
}

/// Read size for hashing: small enough that the copy stays in the core's cache until
/// the hash reads it.
const HASH_BUFFER: usize = 1 << 20;

/// Without a map, a compressed image is one range: decompressed once here for its size
/// and digest, so the size check and the read-back have something to hold on to.
fn map_stream(image: &Path) -> Result<Bmap, FlashError> {
    let mut reader = open_decompressed(image)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|source| FlashError::Image {
            path: image.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size = size.saturating_add(n as u64);
    }
    let ranges = if size == 0 {
        Vec::new()
    } else {
        vec![BlockRange {
            first: 0,
            last: size.div_ceil(BLOCK_SIZE) - 1,
            sha256: hasher.finalize().into(),
        }]
    };
    Ok(Bmap {
        image_size: size,
        block_size: BLOCK_SIZE,
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map_of(image: &[u8], block_size: u64, blocks: &[(u64, u64)]) -> Bmap {
        let size = image.len() as u64;
        let ranges = blocks
            .iter()
            .map(|&(first, last)| {
                let start = (first * block_size).min(size) as usize;
                let end = ((last + 1) * block_size).min(size) as usize;
                BlockRange {
                    first,
                    last,
                    sha256: Sha256::digest(&image[start..end]).into(),
                }
            })
            .collect();
        Bmap {
            image_size: size,
            block_size,
            ranges,
        }
    }

    #[test]
    fn every_share_is_checked_and_bad_ranges_come_in_map_order() {
        let image: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
        let blocks: Vec<(u64, u64)> = (0..16).map(|i| (i * 4, i * 4 + 2)).collect();
        let map = map_of(&image, 1024, &blocks);
        assert!(check_ranges(&image, &map).unwrap().is_empty());
        let mut damaged = image.clone();
        damaged[61 * 1024] ^= 1;
        damaged[1024] ^= 1;
        assert_eq!(
            check_ranges(&damaged, &map).unwrap(),
            vec![(0, 2), (60, 62)]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_map_over_any_image_gives_an_answer_not_a_panic(
            image in proptest::collection::vec(any::<u8>(), 0..4096),
            shift in 0u32..16,
            ranges in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<[u8; 32]>()), 0..8),
        ) {
            let map = Bmap {
                image_size: image.len() as u64,
                block_size: 1 << shift,
                ranges: ranges
                    .into_iter()
                    .map(|(first, last, sha256)| BlockRange { first, last, sha256 })
                    .collect(),
            };
            let _ = check_ranges(&image, &map);
        }
    }
}
