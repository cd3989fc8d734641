//! Checks on a parsed manifest beyond the form of each field: names carry no build-machine
//! paths, lists are sorted without duplicates, partitions and block ranges lie inside the
//! image. After these checks `verify` can trust the manifest's shape; whether the image
//! matches it is `verify`'s question, not this module's.

use super::error::ManifestError;
use super::facts::{InputDigest, OutputFile};
use super::model::{BlockMap, Manifest, PartitionEntry, PartitionRole, TableFormat, TableInfo};
use crate::image::partition::Guid;

/// Runs every check; the first failure is returned.
pub(super) fn check(m: &Manifest) -> Result<(), ManifestError> {
    file_name("build.profile", &m.build.profile)?;
    file_name("image.name", &m.image.name)?;
    if let Some(lock) = &m.build.lock {
        file_name("build.lock.name", &lock.name)?;
    }
    inputs(&m.inputs)?;
    outputs(&m.outputs)?;
    table(&m.image.table)?;
    partitions(&m.partitions, m.image.size)?;
    blocks(&m.blocks, m.image.size)?;
    sorted("files", m.files.iter().map(|f| (f.filesystem, &f.path)))?;
    sorted(
        "symlinks",
        m.symlinks.iter().map(|s| (s.filesystem, &s.path)),
    )?;
    Ok(())
}

/// A name that must not carry a directory: `blog.toml`, not a path of the build machine.
pub(super) fn file_name(field: &'static str, value: &str) -> Result<(), ManifestError> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains('/')
        && !value.contains('\\')
        && !value.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(ManifestError::NotAFileName {
            field,
            value: value.chars().take(200).collect(),
        })
    }
}

pub(super) fn inputs(inputs: &[InputDigest]) -> Result<(), ManifestError> {
    for input in inputs {
        if input.source.starts_with('/') || input.source.starts_with('~') {
            return Err(ManifestError::AbsoluteSource {
                name: input.name.chars().take(200).collect(),
                source_text: input.source.chars().take(200).collect(),
            });
        }
    }
    Ok(())
}

pub(super) fn outputs(outputs: &[OutputFile]) -> Result<(), ManifestError> {
    outputs
        .iter()
        .try_for_each(|o| file_name("outputs.name", &o.name))
}

fn table(table: &TableInfo) -> Result<(), ManifestError> {
    let ok = match table.kind {
        TableFormat::Mbr => {
            table.id.len() == 8
                && table
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        TableFormat::Gpt => table
            .id
            .parse::<Guid>()
            .is_ok_and(|g| g.to_string() == table.id),
    };
    if ok {
        Ok(())
    } else {
        Err(ManifestError::inconsistent(
            "image.table.id",
            format!(
                "{:?} is not an MBR disk id (8 lowercase hex digits) or a lowercase GUID as its kind requires",
                table.id.chars().take(100).collect::<String>()
            ),
        ))
    }
}

fn partitions(parts: &[PartitionEntry], image_size: u64) -> Result<(), ManifestError> {
    let mut previous: Option<u32> = None;
    let (mut boot, mut root) = (0, 0);
    for p in parts {
        let what = || format!("partition {}", p.number);
        if previous.is_some_and(|n| p.number <= n) || p.number == 0 {
            return Err(ManifestError::Order {
                list: "partitions",
                at: what(),
            });
        }
        previous = Some(p.number);
        let end = p.start.checked_add(p.size);
        if end.is_none_or(|end| end > image_size) {
            return Err(ManifestError::inconsistent(
                what(),
                format!(
                    "it starts at byte {} and is {} bytes long, past the image's end at {image_size}",
                    p.start, p.size
                ),
            ));
        }
        match p.role {
            PartitionRole::Boot => boot += 1,
            PartitionRole::Root => root += 1,
            PartitionRole::Other => {}
        }
        if p.role != PartitionRole::Other && p.filesystem.is_none() {
            return Err(ManifestError::inconsistent(
                what(),
                "a boot or root partition must name its filesystem",
            ));
        }
    }
    if boot > 1 || root > 1 {
        return Err(ManifestError::inconsistent(
            "partitions",
            "more than one partition has the boot or the root role",
        ));
    }
    Ok(())
}

fn blocks(map: &BlockMap, image_size: u64) -> Result<(), ManifestError> {
    if map.block_size < 512 || !map.block_size.is_power_of_two() {
        return Err(ManifestError::inconsistent(
            "blocks.block_size",
            format!("{} is not a power of two of at least 512", map.block_size),
        ));
    }
    let blocks_count = image_size.div_ceil(map.block_size);
    let mut mapped = 0u64;
    let mut next_free = 0u64;
    for r in &map.ranges {
        if r.first < next_free || r.first > r.last || r.last >= blocks_count {
            return Err(ManifestError::inconsistent(
                format!("block range {}-{}", r.first, r.last),
                format!(
                    "ranges must be ascending, disjoint and below block {blocks_count} (the image's end)"
                ),
            ));
        }
        // Cannot overflow: last < blocks_count <= u64::MAX / 512.
        next_free = r.last + 1;
        mapped = mapped.saturating_add(r.last - r.first + 1);
    }
    if mapped != map.mapped_blocks {
        return Err(ManifestError::inconsistent(
            "blocks.mapped_blocks",
            format!("it says {} but the ranges hold {mapped}", map.mapped_blocks),
        ));
    }
    Ok(())
}

fn sorted<'a, K: Ord + std::fmt::Display + 'a>(
    list: &'static str,
    keys: impl Iterator<Item = (super::model::Filesystem, &'a K)>,
) -> Result<(), ManifestError> {
    let mut previous = None;
    for key in keys {
        if previous.is_some_and(|p| p >= key) {
            return Err(ManifestError::Order {
                list,
                at: format!("{:?} {}", key.0, key.1),
            });
        }
        previous = Some(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Checksum;
    use crate::manifest::model::{BlockRange, BuildInfo, FilesystemInfo, FsType, ImageInfo};

    fn sample() -> Manifest {
        let sum = Checksum([7; 32]);
        Manifest {
            schema: crate::manifest::SCHEMA.to_string(),
            build: BuildInfo {
                tool_version: "0.1.0".into(),
                profile: "blog.toml".into(),
                profile_digest: sum,
                node: "pi3".into(),
                hostname: "blog".into(),
                board: "pi3".into(),
                generation: "jessie".into(),
                lock: None,
                epoch: 0,
            },
            inputs: Vec::new(),
            packages: Vec::new(),
            removed: Vec::new(),
            notes: Vec::new(),
            image: ImageInfo {
                name: "blog-pi3.img".into(),
                size: 1 << 20,
                sha256: sum,
                table: TableInfo {
                    kind: TableFormat::Mbr,
                    id: "0b5e1a2c".into(),
                },
            },
            partitions: vec![PartitionEntry {
                number: 1,
                role: PartitionRole::Boot,
                kind: "0x0c".into(),
                start: 4096,
                size: 8192,
                partuuid: "0b5e1a2c-01".into(),
                name: String::new(),
                bootable: false,
                filesystem: Some(FilesystemInfo {
                    kind: FsType::Fat32,
                    label: None,
                    uuid: None,
                }),
                sha256: sum,
            }],
            blocks: BlockMap {
                block_size: 4096,
                mapped_blocks: 2,
                ranges: vec![BlockRange {
                    first: 0,
                    last: 1,
                    sha256: sum,
                }],
            },
            files: Vec::new(),
            symlinks: Vec::new(),
            expected_to_change: Vec::new(),
            outputs: Vec::new(),
        }
    }

    #[test]
    fn extreme_numbers_give_errors_not_overflows() {
        assert!(check(&sample()).is_ok());
        let mut m = sample();
        m.partitions[0].start = u64::MAX;
        assert!(matches!(check(&m), Err(ManifestError::Inconsistent { .. })));
        let mut m = sample();
        m.blocks.ranges[0].last = u64::MAX;
        assert!(check(&m).is_err());
        let mut m = sample();
        m.image.size = u64::MAX;
        m.blocks.ranges[0].last = u64::MAX / 4096;
        m.blocks.mapped_blocks = u64::MAX / 4096 + 1;
        assert!(
            check(&m).is_ok(),
            "the largest range of the largest image is fine"
        );
        let mut m = sample();
        m.blocks.block_size = 0;
        assert!(check(&m).is_err());
        let mut m = sample();
        m.blocks.mapped_blocks = 3;
        assert!(check(&m).is_err());
    }

    #[test]
    fn overlapping_ranges_and_repeated_partitions_are_refused() {
        let mut m = sample();
        m.blocks.ranges.push(BlockRange {
            first: 1,
            last: 2,
            sha256: Checksum([0; 32]),
        });
        m.blocks.mapped_blocks = 4;
        assert!(check(&m).is_err());
        let mut m = sample();
        m.partitions.push(m.partitions[0].clone());
        assert!(matches!(check(&m), Err(ManifestError::Order { .. })));
        let mut m = sample();
        let mut second = m.partitions[0].clone();
        second.number = 2;
        m.partitions.push(second);
        assert!(check(&m).is_err(), "two boot partitions");
        let mut m = sample();
        m.partitions[0].filesystem = None;
        assert!(check(&m).is_err());
    }

    #[test]
    fn names_carry_no_directory() {
        for bad in ["", ".", "..", "a/b", "/abs", "a\\b"] {
            assert!(file_name("x", bad).is_err(), "{bad:?}");
        }
        assert!(file_name("x", "blog.toml").is_ok());
        let mut m = sample();
        m.image.table = TableInfo {
            kind: TableFormat::Gpt,
            id: "0b5e1a2c".into(),
        };
        assert!(check(&m).is_err());
    }
}
