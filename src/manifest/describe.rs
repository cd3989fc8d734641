//! [`Manifest::describe`]: reads a written image back with our own readers and describes
//! it. This is the round trip of a build: the digests come from the bytes on disk, read
//! through the partition table, FAT and ext4 readers, not from the trees the build wrote.
//!
//! The image's own digests come from `image_digest`; file contents are streamed from the
//! image through their extents with a fixed buffer, and a hard-linked file is hashed once.
//! Nothing here writes the manifest to disk.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::change::{ChangeRule, builtin_rules};
use super::checksum::Checksum;
use super::error::ManifestError;
use super::facts::BuildFacts;
use super::image_digest::{HashError, hash_image};
use super::model::{
    BlockMap, BlockRange, BuildInfo, FileEntry, Filesystem, FilesystemInfo, FsType, ImageInfo,
    Manifest, PartitionEntry, PartitionRole, SymlinkEntry, TableFormat, TableInfo,
};
use super::path::{EncodedBytes, EncodedPath};
use super::validate;
use crate::base::BaseImage;
use crate::image::bmap::Bmap;
use crate::image::ext4::format_uuid;
use crate::image::fat::FatType;
use crate::image::io::{ImageFile, ReadAt};
use crate::image::partition::{Partition, TableKind};
use crate::tree::{InodeId, Kind, Tree, TreePath};

/// Streaming buffer: big enough for efficient reads, small enough to keep memory flat.
const BUFFER_SIZE: usize = 1 << 20;

/// Features only ext4 has; a filesystem with none of them is ext3 (journal) or ext2.
const EXT4_ONLY: &[&str] = &[
    "extent",
    "flex_bg",
    "64bit",
    "huge_file",
    "dir_nlink",
    "extra_isize",
    "metadata_csum",
    "uninit_bg",
];

impl Manifest {
    /// Reads the written image back with our own readers and describes it, with the
    /// build's `facts`. `bmap` must be the block map of this image: its ranges are
    /// checked against the image's bytes.
    pub fn describe(
        image: &Path,
        bmap: &Bmap,
        facts: BuildFacts,
    ) -> Result<Manifest, ManifestError> {
        let name = image
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| ManifestError::NotAFileName {
                field: "image.name",
                value: image.display().to_string(),
            })?;
        validate::file_name("build.profile", &facts.profile)?;
        if let Some(lock) = &facts.lock {
            validate::file_name("build.lock.name", &lock.name)?;
        }
        validate::inputs(&facts.inputs)?;
        validate::outputs(&facts.outputs)?;

        let base = BaseImage::open(image)?;
        let io_error = |source| ManifestError::Io {
            path: image.to_path_buf(),
            source,
        };
        let file = ImageFile::open(image).map_err(io_error)?;
        if bmap.image_size != file.size() {
            return Err(ManifestError::BmapSize {
                bmap_size: bmap.image_size,
                image_size: file.size(),
            });
        }
        let partitions: Vec<&Partition> = base
            .table
            .partitions
            .iter()
            .filter(|p| !p.kind.is_extended())
            .collect();
        let digests = hash_image(&file, &partitions, bmap).map_err(|e| match e {
            HashError::Io(source) => io_error(source),
            HashError::Other(error) => error,
        })?;

        let rules = builtin_rules();
        let mut files = Vec::new();
        let mut symlinks = Vec::new();
        let trees = [
            (Filesystem::Boot, &base.boot.tree, &facts.written.boot),
            (Filesystem::Root, &base.root.tree, &facts.written.root),
        ];
        for (filesystem, tree, written) in trees {
            let lister = Lister {
                image,
                filesystem,
                rules: &rules,
                written,
            };
            lister.list(tree, &mut files, &mut symlinks)?;
        }
        files.sort_by(|a, b| (a.filesystem, &a.path).cmp(&(b.filesystem, &b.path)));
        symlinks.sort_by(|a, b| (a.filesystem, &a.path).cmp(&(b.filesystem, &b.path)));

        let entries = partitions
            .iter()
            .zip(&digests.partitions)
            .map(|(p, sha256)| partition_entry(&base, p, *sha256))
            .collect();
        let manifest = Manifest {
            schema: super::SCHEMA.to_string(),
            build: BuildInfo {
                tool_version: facts.tool_version,
                profile: facts.profile,
                profile_digest: facts.profile_digest,
                node: facts.node,
                hostname: facts.hostname,
                board: facts.board,
                generation: facts.generation,
                lock: facts.lock,
                epoch: facts.epoch,
            },
            inputs: facts.inputs,
            packages: facts.packages,
            removed: facts.removed,
            notes: facts.notes,
            image: ImageInfo {
                name,
                size: file.size(),
                sha256: digests.image,
                table: table_info(&base.table.kind),
            },
            partitions: entries,
            blocks: BlockMap {
                block_size: bmap.block_size,
                mapped_blocks: bmap.mapped_blocks_count(),
                ranges: bmap
                    .ranges
                    .iter()
                    .map(|r| BlockRange {
                        first: r.first,
                        last: r.last,
                        sha256: Checksum(r.sha256),
                    })
                    .collect(),
            },
            files,
            symlinks,
            expected_to_change: rules,
            outputs: facts.outputs,
        };
        // What describe writes, parse must accept: check it the same way.
        validate::check(&manifest)?;
        Ok(manifest)
    }
}

fn table_info(kind: &TableKind) -> TableInfo {
    match kind {
        TableKind::Mbr { disk_id } => TableInfo {
            kind: TableFormat::Mbr,
            id: format!("{disk_id:08x}"),
        },
        TableKind::Gpt { disk_guid } => TableInfo {
            kind: TableFormat::Gpt,
            id: disk_guid.to_string(),
        },
    }
}

fn partition_entry(base: &BaseImage, p: &Partition, sha256: Checksum) -> PartitionEntry {
    let (role, filesystem) = if p.number == base.boot.partition.number {
        let kind = match base.boot.fat_type {
            FatType::Fat12 => FsType::Fat12,
            FatType::Fat16 => FsType::Fat16,
            FatType::Fat32 => FsType::Fat32,
        };
        let info = FilesystemInfo {
            kind,
            label: base.boot.label.clone(),
            uuid: base
                .boot
                .volume_id
                .map(|id| format!("{:04X}-{:04X}", id >> 16, id & 0xffff)),
        };
        (PartitionRole::Boot, Some(info))
    } else if p.number == base.root.partition.number {
        let sb = &base.root.superblock;
        let features = sb.feature_names();
        let has = |name: &str| features.iter().any(|f| f == name);
        let kind = if EXT4_ONLY.iter().any(|f| has(f)) {
            FsType::Ext4
        } else if has("has_journal") {
            FsType::Ext3
        } else {
            FsType::Ext2
        };
        let info = FilesystemInfo {
            kind,
            label: (!sb.label.is_empty()).then(|| String::from_utf8_lossy(&sb.label).into_owned()),
            uuid: Some(format_uuid(&sb.uuid)),
        };
        (PartitionRole::Root, Some(info))
    } else {
        (PartitionRole::Other, None)
    };
    PartitionEntry {
        number: p.number,
        role,
        kind: p.kind.to_string(),
        start: p.start,
        size: p.size,
        partuuid: p.partuuid.clone(),
        name: p.name.clone(),
        bootable: p.bootable,
        filesystem,
        sha256,
    }
}

/// Lists one filesystem's regular files and symlinks.
struct Lister<'a> {
    image: &'a Path,
    filesystem: Filesystem,
    rules: &'a [ChangeRule],
    written: &'a std::collections::BTreeSet<TreePath>,
}

impl Lister<'_> {
    fn list(
        &self,
        tree: &Tree,
        files: &mut Vec<FileEntry>,
        symlinks: &mut Vec<SymlinkEntry>,
    ) -> Result<(), ManifestError> {
        let mut hashed: HashMap<InodeId, Checksum> = HashMap::new();
        let mut buf = vec![0u8; BUFFER_SIZE];
        for (path, id, inode) in tree.iter() {
            let bytes = path.to_bytes();
            let expected_to_change = self
                .rules
                .iter()
                .any(|rule| rule.matches(self.filesystem, &bytes));
            let written = self.written.contains(path);
            match &inode.kind {
                Kind::File { size, content } => {
                    let sha256 = match hashed.get(&id) {
                        Some(sum) => *sum,
                        None => {
                            let sum =
                                hash_reader(content.reader(*size), &mut buf).map_err(|source| {
                                    ManifestError::FileContent {
                                        image: self.image.to_path_buf(),
                                        filesystem: self.filesystem,
                                        path: path.to_string(),
                                        source,
                                    }
                                })?;
                            hashed.insert(id, sum);
                            sum
                        }
                    };
                    files.push(FileEntry {
                        filesystem: self.filesystem,
                        path: EncodedPath(path.clone()),
                        size: *size,
                        mode: inode.mode & 0o7777,
                        uid: inode.uid,
                        gid: inode.gid,
                        sha256,
                        written,
                        expected_to_change,
                    });
                }
                Kind::Symlink(target) => symlinks.push(SymlinkEntry {
                    filesystem: self.filesystem,
                    path: EncodedPath(path.clone()),
                    target: EncodedBytes(target.clone()),
                    uid: inode.uid,
                    gid: inode.gid,
                    written,
                    expected_to_change,
                }),
                _ => {}
            }
        }
        Ok(())
    }
}

fn hash_reader(
    reader: std::io::Result<Box<dyn Read + Send + '_>>,
    buf: &mut [u8],
) -> std::io::Result<Checksum> {
    let mut reader = reader?;
    let mut hasher = Sha256::new();
    loop {
        let n = reader.read(buf)?;
        if n == 0 {
            return Ok(Checksum(hasher.finalize().into()));
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}
