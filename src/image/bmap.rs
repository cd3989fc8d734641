//! Block maps in bmaptool's format, version 2.0 with SHA-256 range digests: made from a
//! sparse image file, written as XML, parsed back and checked against an image.
//!
//! A flasher such as `bmaptool copy` writes only the mapped blocks and leaves every other
//! block of the card as it was. So a block the filesystems rely on being zero must be
//! mapped; this module maps every block that holds data (found with `SEEK_DATA` and
//! `SEEK_HOLE`), and only treats explicit all-zero blocks as unmapped when the caller says
//! nothing relies on them. It does not write or flash images and knows nothing about the
//! filesystems inside them.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::io::{ImageFile, ReadAt};

/// The block size of every map this module makes, as bmaptool uses by default.
pub const BLOCK_SIZE: u64 = 4096;

/// Streaming buffer for digests: large enough to keep reads efficient, small enough to
/// keep memory flat whatever the image size.
const BUFFER_SIZE: usize = 1 << 20;

const ZERO_DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why a block map could not be made, parsed or checked.
#[derive(Debug, thiserror::Error)]
pub enum BmapError {
    /// Reading the image failed.
    #[error("cannot read image {path}: {source}")]
    Io {
        /// The image.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The XML lacks a required element.
    #[error("the bmap has no <{0}> element; is it a bmaptool block map?")]
    MissingElement(&'static str),
    /// An element's text is not what the format allows.
    #[error("the bmap's <{element}> holds {value:?}, which is not valid there")]
    BadValue {
        /// The element.
        element: &'static str,
        /// Its text.
        value: String,
    },
    /// A format version other than 2.x.
    #[error("bmap format version {0:?} is not supported; only version 2.x is")]
    Version(String),
    /// A checksum type other than sha256.
    #[error("bmap checksum type {0:?} is not supported; only sha256 is")]
    ChecksumType(String),
    /// The file's own checksum does not match its contents.
    #[error(
        "the bmap file checksum is {stated} but its contents hash to {computed}: the file was changed or damaged"
    )]
    FileChecksum {
        /// The checksum in the file.
        stated: String,
        /// The checksum of the file.
        computed: String,
    },
    /// A comment is never closed.
    #[error("the bmap has an unterminated comment")]
    UnterminatedComment,
    /// A range element is malformed.
    #[error("bmap range {0:?} is malformed (expected `<Range chksum=\"…\"> a-b </Range>`)")]
    BadRange(String),
    /// Ranges are not ascending or leave the image.
    #[error(
        "bmap range {first}-{last} is out of order, overlaps the previous one or lies past block {blocks_count}"
    )]
    RangeOrder {
        /// First block of the range.
        first: u64,
        /// Last block of the range.
        last: u64,
        /// The image's block count.
        blocks_count: u64,
    },
    /// Header counts disagree with each other or with the ranges.
    #[error("the bmap's {what} is {stated} but should be {expected}")]
    Count {
        /// Which count.
        what: &'static str,
        /// The value in the file.
        stated: u64,
        /// The value implied by the rest of the file.
        expected: u64,
    },
    /// The image is shorter than the map says.
    #[error("image {path} is {actual} bytes but the bmap describes {expected} bytes")]
    ImageTooShort {
        /// The image.
        path: PathBuf,
        /// Its size.
        actual: u64,
        /// The size in the map.
        expected: u64,
    },
}

/// An inclusive run of mapped blocks with the SHA-256 of its bytes (the last block of the
/// image counts only up to the end of the image, as bmaptool reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRange {
    /// First block.
    pub first: u64,
    /// Last block, inclusive.
    pub last: u64,
    /// SHA-256 of the range's bytes.
    pub sha256: [u8; 32],
}

/// A range whose bytes in the image do not match its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeMismatch {
    /// First block.
    pub first: u64,
    /// Last block, inclusive.
    pub last: u64,
    /// The digest in the map.
    pub expected: [u8; 32],
    /// The digest of the image's bytes.
    pub actual: [u8; 32],
}

/// A block map: which blocks of an image hold data, and their digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bmap {
    /// Image size in bytes; need not be a multiple of the block size.
    pub image_size: u64,
    /// Block size in bytes.
    pub block_size: u64,
    /// Mapped ranges, ascending and disjoint.
    pub ranges: Vec<BlockRange>,
}

impl Bmap {
    /// Maps every block of `path` that holds data: holes are skipped, explicit zeros kept.
    pub fn from_image(path: &Path) -> Result<Bmap, BmapError> {
        Self::from_image_with(path, false)
    }

    /// Maps `path`; with `zero_blocks_unmapped`, all-zero blocks inside data regions are
    /// left unmapped too. Only pass `true` when nothing relies on those blocks being zero on
    /// the card, since a flasher leaves unmapped blocks with their old contents.
    pub fn from_image_with(path: &Path, zero_blocks_unmapped: bool) -> Result<Bmap, BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let image = ImageFile::open(path).map_err(io_err)?;
        let file = File::open(path).map_err(io_err)?;
        let image_size = image.size();
        let regions = data_regions(&file, image_size).map_err(io_err)?;
        let mut blocks: Vec<(u64, u64)> = Vec::new();
        for (start, end) in regions {
            let first = start / BLOCK_SIZE;
            let last = end.div_ceil(BLOCK_SIZE).saturating_sub(1);
            if zero_blocks_unmapped {
                for (a, b) in non_zero_blocks(&image, first, last).map_err(io_err)? {
                    push_merged(&mut blocks, a, b);
                }
            } else {
                push_merged(&mut blocks, first, last);
            }
        }
        let mut ranges = Vec::with_capacity(blocks.len());
        for (first, last) in blocks {
            let sha256 = hash_range(&image, BLOCK_SIZE, first, last).map_err(io_err)?;
            ranges.push(BlockRange {
                first,
                last,
                sha256,
            });
        }
        Ok(Bmap {
            image_size,
            block_size: BLOCK_SIZE,
            ranges,
        })
    }

    /// Number of blocks in the image, the last one possibly partial.
    pub fn blocks_count(&self) -> u64 {
        self.image_size.div_ceil(self.block_size.max(1))
    }

    /// Number of mapped blocks.
    pub fn mapped_blocks_count(&self) -> u64 {
        self.ranges.iter().map(|r| r.last - r.first + 1).sum()
    }

    /// The XML text, laid out as bmaptool writes it, with the file checksum filled in.
    pub fn to_xml(&self) -> String {
        let zeroed = self.xml_with_checksum(ZERO_DIGEST);
        let digest = hex(&Sha256::digest(zeroed.as_bytes()).into());
        self.xml_with_checksum(&digest)
    }

    fn xml_with_checksum(&self, checksum: &str) -> String {
        use std::fmt::Write;
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" ?>\n");
        x.push_str("<!-- Block map of an image: the blocks listed here hold data and must be\n");
        x.push_str("     written; the others are left as they are on the target. -->\n\n");
        x.push_str("<bmap version=\"2.0\">\n");
        let _ = writeln!(x, "    <ImageSize> {} </ImageSize>\n", self.image_size);
        let _ = writeln!(x, "    <BlockSize> {} </BlockSize>\n", self.block_size);
        let _ = writeln!(
            x,
            "    <BlocksCount> {} </BlocksCount>\n",
            self.blocks_count()
        );
        let _ = writeln!(
            x,
            "    <MappedBlocksCount> {} </MappedBlocksCount>\n",
            self.mapped_blocks_count()
        );
        x.push_str("    <ChecksumType> sha256 </ChecksumType>\n\n");
        let _ = writeln!(x, "    <BmapFileChecksum> {checksum} </BmapFileChecksum>\n");
        x.push_str("    <BlockMap>\n");
        for r in &self.ranges {
            let sum = hex(&r.sha256);
            if r.first == r.last {
                let _ = writeln!(x, "        <Range chksum=\"{sum}\"> {} </Range>", r.first);
            } else {
                let _ = writeln!(
                    x,
                    "        <Range chksum=\"{sum}\"> {}-{} </Range>",
                    r.first, r.last
                );
            }
        }
        x.push_str("    </BlockMap>\n</bmap>\n");
        x
    }

    /// Parses and validates a bmap: version 2.x, sha256, the file checksum, and ranges
    /// ascending, disjoint and inside the image.
    pub fn parse(xml: &str) -> Result<Bmap, BmapError> {
        let text = strip_comments(xml)?;
        let version =
            attribute_after(&text, "<bmap", "version").ok_or(BmapError::MissingElement("bmap"))?;
        if version.split('.').next() != Some("2") {
            return Err(BmapError::Version(version.to_string()));
        }
        let image_size = number(&text, "ImageSize")?;
        let block_size = number(&text, "BlockSize")?;
        if block_size == 0 || !block_size.is_power_of_two() {
            return Err(BmapError::BadValue {
                element: "BlockSize",
                value: block_size.to_string(),
            });
        }
        let blocks_count = number(&text, "BlocksCount")?;
        let expected_blocks = image_size.div_ceil(block_size);
        if blocks_count != expected_blocks {
            return Err(BmapError::Count {
                what: "BlocksCount",
                stated: blocks_count,
                expected: expected_blocks,
            });
        }
        let mapped = number(&text, "MappedBlocksCount")?;
        let ctype = element(&text, "ChecksumType")?;
        if ctype != "sha256" {
            return Err(BmapError::ChecksumType(ctype.to_string()));
        }
        let stated = element(&text, "BmapFileChecksum")?;
        if parse_digest(stated).is_none() {
            return Err(BmapError::BadValue {
                element: "BmapFileChecksum",
                value: stated.to_string(),
            });
        }
        // Like bmaptool: the first occurrence of the digest in the file is the one zeroed.
        let computed = match xml.find(stated) {
            Some(pos) => {
                let mut bytes = xml.as_bytes().to_vec();
                if let Some(field) = bytes.get_mut(pos..pos + stated.len()) {
                    field.fill(b'0');
                }
                hex(&Sha256::digest(&bytes).into())
            }
            None => String::new(),
        };
        if computed != stated.to_ascii_lowercase() {
            return Err(BmapError::FileChecksum {
                stated: stated.to_string(),
                computed,
            });
        }
        let ranges = parse_ranges(element(&text, "BlockMap")?, blocks_count)?;
        let bmap = Bmap {
            image_size,
            block_size,
            ranges,
        };
        if bmap.mapped_blocks_count() != mapped {
            return Err(BmapError::Count {
                what: "MappedBlocksCount",
                stated: mapped,
                expected: bmap.mapped_blocks_count(),
            });
        }
        Ok(bmap)
    }

    /// Checks every range's digest against the image at `path`; returns the ranges whose
    /// bytes differ (empty when the image matches).
    pub fn verify_image(&self, path: &Path) -> Result<Vec<RangeMismatch>, BmapError> {
        let image = ImageFile::open(path).map_err(|source| BmapError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // A block device reports no length through metadata; its reads are checked instead.
        if image.size() != 0 && image.size() < self.image_size {
            return Err(BmapError::ImageTooShort {
                path: path.to_path_buf(),
                actual: image.size(),
                expected: self.image_size,
            });
        }
        self.verify(&image).map_err(|source| BmapError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks every range's digest against `image`.
    pub fn verify(&self, image: &(impl ReadAt + ?Sized)) -> io::Result<Vec<RangeMismatch>> {
        let mut bad = Vec::new();
        for r in &self.ranges {
            let actual =
                hash_range_sized(image, self.block_size, self.image_size, r.first, r.last)?;
            if actual != r.sha256 {
                bad.push(RangeMismatch {
                    first: r.first,
                    last: r.last,
                    expected: r.sha256,
                    actual,
                });
            }
        }
        Ok(bad)
    }
}

/// Appends `first..=last`, merging with the previous range when adjacent or overlapping.
fn push_merged(blocks: &mut Vec<(u64, u64)>, first: u64, last: u64) {
    if let Some(prev) = blocks.last_mut()
        && first <= prev.1.saturating_add(1)
    {
        prev.1 = prev.1.max(last);
        return;
    }
    blocks.push((first, last));
}

/// Byte regions `[start, end)` holding data. A filesystem without `SEEK_DATA` support is
/// treated as all data, which is always safe.
fn data_regions(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    let mut regions = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let Ok(off) = libc::off_t::try_from(offset) else {
            break;
        };
        // SAFETY: lseek on a descriptor we own has no memory effects.
        let data = unsafe { libc::lseek(fd, off, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENXIO) => Ok(regions),
                Some(libc::EINVAL) if regions.is_empty() => Ok(vec![(0, size)]),
                _ => Err(err),
            };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let (start, end) = (data as u64, (hole as u64).min(size));
        if end <= start {
            break;
        }
        regions.push((start, end));
        offset = end;
    }
    Ok(regions)
}

/// Sub-ranges of `first..=last` whose blocks are not all zeros.
fn non_zero_blocks(image: &impl ReadAt, first: u64, last: u64) -> io::Result<Vec<(u64, u64)>> {
    let size = image.size();
    let mut out = Vec::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let per_buf = BUFFER_SIZE as u64 / BLOCK_SIZE;
    let mut block = first;
    while block <= last {
        let count = per_buf.min(last - block + 1);
        let start = block * BLOCK_SIZE;
        let end = ((block + count) * BLOCK_SIZE).min(size);
        let len = end.saturating_sub(start) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        image.read_exact_at(chunk, start)?;
        for (i, b) in chunk.chunks(BLOCK_SIZE as usize).enumerate() {
            if b.iter().any(|&x| x != 0) {
                push_merged(&mut out, block + i as u64, block + i as u64);
            }
        }
        block += count;
    }
    Ok(out)
}

fn hash_range(image: &impl ReadAt, block_size: u64, first: u64, last: u64) -> io::Result<[u8; 32]> {
    hash_range_sized(image, block_size, image.size(), first, last)
}

/// SHA-256 of blocks `first..=last`, cut at `image_size` (bmaptool hashes what it reads,
/// and it reads a partial last block).
fn hash_range_sized(
    image: &(impl ReadAt + ?Sized),
    block_size: u64,
    image_size: u64,
    first: u64,
    last: u64,
) -> io::Result<[u8; 32]> {
    let overflow = || io::Error::new(io::ErrorKind::InvalidInput, "block range overflows");
    let start = first.checked_mul(block_size).ok_or_else(overflow)?;
    let end = last
        .checked_add(1)
        .and_then(|n| n.checked_mul(block_size))
        .ok_or_else(overflow)?
        .min(image_size);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut pos = start;
    while pos < end {
        let len = (end - pos).min(BUFFER_SIZE as u64) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        image.read_exact_at(chunk, pos)?;
        hasher.update(&*chunk);
        pos += len as u64;
    }
    Ok(hasher.finalize().into())
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The text with every `<!-- … -->` removed, since bmaptool's comments mention tag names.
fn strip_comments(xml: &str) -> Result<String, BmapError> {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(pos) = rest.find("<!--") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 4..];
        let end = after.find("-->").ok_or(BmapError::UnterminatedComment)?;
        rest = &after[end + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of `name="…"` in the tag that starts with `tag`.
fn attribute_after<'a>(text: &'a str, tag: &str, name: &str) -> Option<&'a str> {
    let start = text.find(tag)? + tag.len();
    let close = text.get(start..)?.find('>')? + start;
    attribute(text.get(start..close)?, name)
}

fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = attrs.find(&key)? + key.len();
    let len = attrs.get(start..)?.find('"')?;
    attrs.get(start..start + len)
}

/// The trimmed text of the first `<name>…</name>`.
fn element<'a>(text: &'a str, name: &'static str) -> Result<&'a str, BmapError> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open).ok_or(BmapError::MissingElement(name))? + open.len();
    let len = text
        .get(start..)
        .and_then(|t| t.find(&close))
        .ok_or(BmapError::MissingElement(name))?;
    Ok(text.get(start..start + len).unwrap_or_default().trim())
}

fn number(text: &str, name: &'static str) -> Result<u64, BmapError> {
    let value = element(text, name)?;
    value.parse().map_err(|_| BmapError::BadValue {
        element: name,
        value: value.to_string(),
    })
}

fn parse_ranges(map: &str, blocks_count: u64) -> Result<Vec<BlockRange>, BmapError> {
    let mut ranges: Vec<BlockRange> = Vec::new();
    let mut rest = map.trim();
    while !rest.is_empty() {
        let bad = || BmapError::BadRange(rest.chars().take(120).collect());
        let after = rest.strip_prefix("<Range").ok_or_else(bad)?;
        let gt = after.find('>').ok_or_else(bad)?;
        let attrs = &after[..gt];
        let body = &after[gt + 1..];
        let end = body.find("</Range>").ok_or_else(bad)?;
        let span = body[..end].trim();
        let sha256 = attribute(attrs, "chksum")
            .and_then(parse_digest)
            .ok_or_else(bad)?;
        let (first, last) = match span.split_once('-') {
            Some((a, b)) => (a.trim().parse(), b.trim().parse()),
            None => (span.parse(), span.parse()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            return Err(bad());
        };
        let after_prev = ranges.last().is_none_or(|p| first > p.last);
        if first > last || last >= blocks_count || !after_prev {
            return Err(BmapError::RangeOrder {
                first,
                last,
                blocks_count,
            });
        }
        ranges.push(BlockRange {
            first,
            last,
            sha256,
        });
        rest = body[end + "</Range>".len()..].trim_start();
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bmap {
        Bmap {
            image_size: 3 * 4096 + 10,
            block_size: 4096,
            ranges: vec![
                BlockRange {
                    first: 0,
                    last: 1,
                    sha256: [1; 32],
                },
                BlockRange {
                    first: 3,
                    last: 3,
                    sha256: [2; 32],
                },
            ],
        }
    }

    #[test]
    fn xml_round_trips() {
        let b = sample();
        assert_eq!(Bmap::parse(&b.to_xml()).unwrap(), b);
    }

    #[test]
    fn tampered_checksum_is_refused() {
        let xml = sample().to_xml().replace("> 0-1 <", "> 0-2 <");
        assert!(matches!(
            Bmap::parse(&xml),
            Err(BmapError::FileChecksum { .. })
        ));
    }

    #[test]
    fn hashes_a_partial_last_block() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let got = hash_range(&data, 4096, 0, 1).unwrap();
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(got, want);
    }

    #[test]
    fn merges_adjacent_blocks() {
        let mut v = Vec::new();
        push_merged(&mut v, 0, 1);
        push_merged(&mut v, 2, 2);
        push_merged(&mut v, 4, 5);
        assert_eq!(v, vec![(0, 2), (4, 5)]);
    }
}
