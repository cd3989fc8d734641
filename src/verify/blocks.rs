//! `verify --blocks`, for a fresh card or an image: every mapped range's digest against
//! the manifest's block map. For each range that differs it names the partition, then
//! reads that partition's filesystem from the target and indexes where each file's data
//! lies (ext4 extents, FAT cluster runs), keeping only files that touch a damaged range,
//! and hashes those files to say which of them differ from the manifest.
//!
//! Unmapped blocks are never read: a flasher leaves them as they were, so they say
//! nothing about the image. This module does not compare whole files (see `files`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::files::filesystem_spans;
use super::report::{FsProblem, RangeFile, RangeFinding, escape};
use super::target::Target;
use super::volume::{NodeKind, Volume};
use crate::image::io::ReadAt;
use crate::manifest::{Filesystem, Manifest, PartitionRole};

/// Read size while hashing ranges.
const BUFFER_SIZE: usize = 4 << 20;

/// When no file in a damaged range differs, at most this many of the files lying there
/// are named, to point at where to look without flooding the report.
const MAX_BYSTANDERS: usize = 20;

/// What the range comparison found.
pub(crate) struct RangeFindings {
    pub(crate) ranges: Vec<RangeFinding>,
    pub(crate) problems: Vec<FsProblem>,
    pub(crate) checked: u64,
}

/// A byte span `[start, end)` of the target.
type Span = (u64, u64);

/// Compares every mapped range, then explains the ones that differ.
pub(crate) fn compare(target: &Target, manifest: &Manifest) -> std::io::Result<RangeFindings> {
    let block_size = manifest.blocks.block_size;
    let image_size = manifest.image.size;
    let mut damaged: Vec<(u64, u64, Span)> = Vec::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    for range in &manifest.blocks.ranges {
        let span = byte_span(range.first, range.last, block_size, image_size)?;
        if hash_span(target, span, &mut buf)? != range.sha256.0 {
            damaged.push((range.first, range.last, span));
        }
    }
    let mut findings = RangeFindings {
        ranges: Vec::new(),
        problems: Vec::new(),
        checked: manifest.blocks.ranges.len() as u64,
    };
    if damaged.is_empty() {
        return Ok(findings);
    }
    let spans: Vec<Span> = damaged.iter().map(|d| d.2).collect();
    let mut located: BTreeMap<usize, Vec<RangeFile>> = BTreeMap::new();
    for (filesystem, start, size) in filesystem_spans(manifest) {
        let end = start.saturating_add(size);
        if !spans.iter().any(|&(a, b)| a < end && start < b) {
            continue;
        }
        let volume = Volume::read(target, filesystem, start, size);
        findings
            .problems
            .extend(volume.problems.iter().map(|message| FsProblem {
                filesystem: Some(filesystem),
                message: message.clone(),
            }));
        locate(manifest, &volume, &spans, &mut located);
    }
    for (index, (first, last, (start, end))) in damaged.into_iter().enumerate() {
        let (partition, area) = area_of(manifest, start);
        let mut files = located.remove(&index).unwrap_or_default();
        if files.iter().any(|f| f.differs) {
            files.retain(|f| f.differs);
        } else {
            files.truncate(MAX_BYSTANDERS);
        }
        findings.ranges.push(RangeFinding {
            first,
            last,
            offset: start,
            length: end - start,
            partition,
            area,
            files,
        });
    }
    Ok(findings)
}

/// Finds the files of `volume` whose data lies in a damaged span and whether each
/// differs from the manifest; results are keyed by the span's index.
fn locate(
    manifest: &Manifest,
    volume: &Volume<'_>,
    spans: &[Span],
    located: &mut BTreeMap<usize, Vec<RangeFile>>,
) {
    let filesystem = volume.filesystem;
    for (path, node) in &volume.nodes {
        if node.kind != NodeKind::File {
            continue;
        }
        let data = volume.data_ranges(node);
        let hits: Vec<usize> = spans
            .iter()
            .enumerate()
            .filter(|(_, (a, b))| {
                data.iter()
                    .any(|&(off, len)| off < *b && *a < off.saturating_add(len))
            })
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            continue;
        }
        let expected = manifest_digest(manifest, filesystem, path);
        let differs = match (expected, volume.digest(node)) {
            (Some(want), Ok(got)) => want != got,
            _ => true,
        };
        let file = RangeFile {
            filesystem,
            path: escape(path),
            differs,
            expected_to_change: manifest.expects_change(filesystem, path),
        };
        for i in hits {
            located.entry(i).or_default().push(file.clone());
        }
    }
}

/// The manifest's digest of a file, found by binary search in its sorted list.
fn manifest_digest(manifest: &Manifest, filesystem: Filesystem, path: &[u8]) -> Option<[u8; 32]> {
    let tree_path = crate::tree::TreePath::parse(path).ok()?;
    manifest
        .files
        .binary_search_by(|f| (f.filesystem, &f.path.0).cmp(&(filesystem, &tree_path)))
        .ok()
        .and_then(|i| manifest.files.get(i))
        .map(|f| f.sha256.0)
}

/// The partition holding byte `offset`, and the name of the area.
fn area_of(manifest: &Manifest, offset: u64) -> (Option<u32>, String) {
    for p in &manifest.partitions {
        if offset >= p.start && offset - p.start < p.size {
            let role = match p.role {
                PartitionRole::Boot => "boot",
                PartitionRole::Root => "root",
                PartitionRole::Other => "other",
            };
            return (Some(p.number), role.to_string());
        }
    }
    let first = manifest.partitions.iter().map(|p| p.start).min();
    if first.is_none_or(|first| offset < first) {
        (None, "table".to_string())
    } else {
        (None, "outside the partitions".to_string())
    }
}

/// Bytes of blocks `first..=last`, cut at the image's end.
fn byte_span(first: u64, last: u64, block_size: u64, image_size: u64) -> std::io::Result<Span> {
    let overflow = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("block range {first}-{last} overflows"),
        )
    };
    let start = first.checked_mul(block_size).ok_or_else(overflow)?;
    let end = last
        .checked_add(1)
        .and_then(|n| n.checked_mul(block_size))
        .ok_or_else(overflow)?
        .min(image_size);
    Ok((start, end.max(start)))
}

/// SHA-256 of a span of the target.
pub(crate) fn hash_span(
    target: &(impl ReadAt + ?Sized),
    (start, end): Span,
    buf: &mut [u8],
) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut pos = start;
    while pos < end {
        let len = (end - pos).min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..len).unwrap_or_default();
        target.read_exact_at(chunk, pos)?;
        hasher.update(&*chunk);
        pos += len as u64;
    }
    Ok(hasher.finalize().into())
}
