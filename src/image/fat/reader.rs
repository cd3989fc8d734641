//! Reading a FAT16 or FAT32 volume: its identity, its directories and where each file's
//! bytes lie.
//!
//! Files are described by byte ranges in the volume rather than read, so a caller can
//! stream them from the image later. Directories are listed in their on-disk order; a
//! walk is depth-first, each directory right before its contents. Nothing here writes or
//! caches file data, and nothing knows what the files are for.

use std::collections::HashSet;
use std::io::Write;

use super::boot_sector::{BootSector, FatType};
use super::dir_entry::{
    ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_HIDDEN, ATTR_READ_ONLY, ATTR_SYSTEM, ATTR_VOLUME_ID,
    LongNameCollector, SLOT_SIZE, ShortEntry, Slot, decode_slot,
};
use super::table::{FatTable, Run};
use super::{FatError, datetime, short_name};
use crate::image::io::ReadAt;

/// The most bytes a FAT directory may span (65536 entries of 32 bytes).
const MAX_DIR_BYTES: u64 = 65_536 * SLOT_SIZE as u64;

/// The attribute bits of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes(pub u8);

impl Attributes {
    /// The entry is a directory.
    pub fn is_dir(self) -> bool {
        self.0 & ATTR_DIRECTORY != 0
    }
    /// The file may not be written.
    pub fn read_only(self) -> bool {
        self.0 & ATTR_READ_ONLY != 0
    }
    /// The entry is hidden from listings.
    pub fn hidden(self) -> bool {
        self.0 & ATTR_HIDDEN != 0
    }
    /// The entry belongs to the operating system.
    pub fn system(self) -> bool {
        self.0 & ATTR_SYSTEM != 0
    }
    /// The file changed since the last backup.
    pub fn archive(self) -> bool {
        self.0 & ATTR_ARCHIVE != 0
    }
}

/// A file or directory found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The path from the root, `/`-separated, without a leading `/`.
    pub path: String,
    /// The long name, or the short name (NT case flags applied) when there is none.
    pub name: String,
    /// The 8.3 name as stored, shown as `BASE.EXT` in uppercase.
    pub short_name: String,
    /// The attribute bits.
    pub attributes: Attributes,
    /// Size in bytes (0 for directories).
    pub size: u32,
    /// Modification time in Unix seconds, reading FAT's local time as UTC.
    pub mtime: i64,
    /// The first cluster (0 for an empty file).
    pub first_cluster: u32,
    /// For files, the `(offset, length)` byte ranges in the volume that hold the content,
    /// in order, consecutive clusters merged; empty for directories.
    pub extents: Vec<(u64, u64)>,
}

impl DirEntry {
    /// Whether the entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.attributes.is_dir()
    }
}

/// A directory's 8.3 entries with their display names, and the volume label if the
/// directory is the root and has one.
type RawListing = (Vec<(String, ShortEntry)>, Option<String>);

/// Where a directory's slots are.
#[derive(Debug, Clone, Copy)]
enum DirLocation {
    /// The fixed root directory region of FAT16.
    FixedRoot,
    /// A cluster chain.
    Chain(u32),
}

/// An open FAT16 or FAT32 volume.
#[derive(Debug)]
pub struct Fat<R> {
    src: R,
    bs: BootSector,
    table: FatTable,
    root_label: Option<String>,
}

impl<R: ReadAt> Fat<R> {
    /// Opens the volume that fills `src`, validating its boot sector and loading its FAT.
    pub fn open(src: R) -> Result<Self, FatError> {
        let mut sector = [0u8; 512];
        src.read_exact_at(&mut sector, 0)
            .map_err(|e| FatError::io("reading the boot sector", e))?;
        let bs = BootSector::parse(&sector, src.size())?;
        let table = FatTable::load(&src, &bs)?;
        let mut fat = Self {
            src,
            bs,
            table,
            root_label: None,
        };
        let (_, label) = fat.slots(fat.root_location(), "")?;
        fat.root_label = label;
        Ok(fat)
    }

    /// The FAT variant.
    pub fn fat_type(&self) -> FatType {
        self.bs.fat_type
    }

    /// The volume serial number from the boot sector, if it has one.
    pub fn volume_id(&self) -> Option<u32> {
        self.bs.volume_id
    }

    /// The label field of the boot sector, trimmed; `None` if absent or "NO NAME".
    pub fn bpb_label(&self) -> Option<String> {
        let label = short_name::oem_text(&self.bs.label?, false);
        (!label.is_empty() && label != "NO NAME").then_some(label)
    }

    /// The label from the root directory's volume-label entry, trimmed.
    pub fn root_label(&self) -> Option<&str> {
        self.root_label.as_deref()
    }

    /// The volume label as tools show it: the root directory's, else the boot sector's.
    pub fn label(&self) -> Option<String> {
        self.root_label.clone().or_else(|| self.bpb_label())
    }

    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u32 {
        self.bs.cluster_size()
    }

    /// Number of data clusters.
    pub fn cluster_count(&self) -> u32 {
        self.bs.cluster_count
    }

    /// Clusters the FAT marks free.
    pub fn free_clusters(&self) -> u32 {
        self.table.free_clusters()
    }

    /// The validated boot sector.
    pub fn boot_sector(&self) -> &BootSector {
        &self.bs
    }

    fn root_location(&self) -> DirLocation {
        match self.bs.fat_type {
            FatType::Fat32 => DirLocation::Chain(self.bs.root_cluster),
            _ => DirLocation::FixedRoot,
        }
    }

    fn run_ranges(&self, runs: &[Run]) -> Vec<(u64, u64)> {
        let cs = u64::from(self.bs.cluster_size());
        runs.iter()
            .filter_map(|&(start, count)| {
                let offset = self.bs.cluster_offset(start)?;
                Some((offset, u64::from(count) * cs))
            })
            .collect()
    }

    /// The raw short entries of a directory with their long names, and any volume label.
    fn slots(&self, loc: DirLocation, path: &str) -> Result<RawListing, FatError> {
        let ranges = match loc {
            DirLocation::FixedRoot => vec![(self.bs.root_dir_offset(), self.bs.root_dir_len())],
            DirLocation::Chain(first) => {
                let max = (MAX_DIR_BYTES / u64::from(self.bs.cluster_size())).max(1);
                let runs = self.table.dir_runs(first, max, path, MAX_DIR_BYTES)?;
                self.run_ranges(&runs)
            }
        };
        let mut items = Vec::new();
        let mut label = None;
        let mut collector = LongNameCollector::default();
        let shown = if path.is_empty() { "/" } else { path };
        'ranges: for (offset, len) in ranges {
            // Both are bounded by the directory limit checked above and by the source size.
            let mut buf = vec![0u8; len as usize];
            self.src
                .read_exact_at(&mut buf, offset)
                .map_err(|e| FatError::io(format!("reading directory {shown}"), e))?;
            for slot in buf.chunks_exact(SLOT_SIZE) {
                let Ok(slot) = <&[u8; SLOT_SIZE]>::try_from(slot) else {
                    continue;
                };
                match decode_slot(slot) {
                    Slot::End => break 'ranges,
                    Slot::Deleted => collector.reset(),
                    Slot::Long {
                        ord,
                        last,
                        checksum,
                        units,
                    } => collector.push(ord, last, checksum, &units),
                    Slot::Short(e) if e.attr & ATTR_VOLUME_ID != 0 => {
                        collector.reset();
                        // Only the root's label names the volume.
                        if path.is_empty() {
                            label.get_or_insert_with(|| short_name::oem_text(&e.name, false));
                        }
                    }
                    Slot::Short(e) if e.name[0] == b'.' => collector.reset(),
                    Slot::Short(e) => {
                        let name = collector
                            .finish(&e.name)
                            .unwrap_or_else(|| short_name::display(&e.name, e.nt_flags));
                        items.push((name, e));
                    }
                }
            }
        }
        Ok((items, label))
    }

    fn list(&self, loc: DirLocation, path: &str) -> Result<Vec<DirEntry>, FatError> {
        let (items, _) = self.slots(loc, path)?;
        let mut out = Vec::with_capacity(items.len());
        for (name, e) in items {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                return Err(FatError::BadName {
                    path: child,
                    reason: "a directory entry has a name no file can have".into(),
                });
            }
            let first_cluster = match self.bs.fat_type {
                FatType::Fat32 => e.first_cluster & 0x0FFF_FFFF,
                _ => e.first_cluster & 0xFFFF,
            };
            let attributes = Attributes(e.attr);
            let (size, extents) = if attributes.is_dir() {
                (0, Vec::new())
            } else {
                let cs = self.bs.cluster_size();
                let runs = self
                    .table
                    .file_runs(first_cluster, u64::from(e.size), cs, &child)?;
                let mut extents = self.run_ranges(&runs);
                // The last cluster is only partly used.
                let over = extents
                    .iter()
                    .map(|r| r.1)
                    .sum::<u64>()
                    .saturating_sub(u64::from(e.size));
                if let Some(last) = extents.last_mut() {
                    last.1 = last.1.saturating_sub(over);
                }
                (e.size, extents)
            };
            out.push(DirEntry {
                path: child,
                name,
                short_name: short_name::display(&e.name, 0),
                attributes,
                size,
                mtime: datetime::to_unix(e.mdate, e.mtime),
                first_cluster,
                extents,
            });
        }
        Ok(out)
    }

    /// The entries of the root directory, in on-disk order.
    pub fn root_dir(&self) -> Result<Vec<DirEntry>, FatError> {
        self.list(self.root_location(), "")
    }

    /// The entries of directory `dir`, in on-disk order, without `.` and `..`.
    pub fn read_dir(&self, dir: &DirEntry) -> Result<Vec<DirEntry>, FatError> {
        if !dir.is_dir() {
            return Err(FatError::WrongKind {
                path: dir.path.clone(),
                expected: "directory",
            });
        }
        // Cluster 0 in a subdirectory entry means the root on FAT16 and is never valid.
        if dir.first_cluster < 2 {
            return Err(FatError::BadCluster {
                path: dir.path.clone(),
                cluster: dir.first_cluster,
                end: self.table.end(),
            });
        }
        self.list(DirLocation::Chain(dir.first_cluster), &dir.path)
    }

    /// Every file and directory below the root, depth-first: each directory comes right
    /// before its contents, siblings in on-disk order.
    ///
    /// A directory reached twice (a loop or a cross-link) is an error, so the walk reads
    /// each directory cluster at most once.
    pub fn walk(&self) -> Result<Vec<DirEntry>, FatError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if let DirLocation::Chain(root) = self.root_location() {
            seen.insert(root);
        }
        let mut stack = vec![self.root_dir()?.into_iter()];
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.next() else {
                stack.pop();
                continue;
            };
            if entry.is_dir() {
                if !seen.insert(entry.first_cluster) {
                    return Err(FatError::DirectoryLoop {
                        path: entry.path,
                        cluster: entry.first_cluster,
                    });
                }
                let children = self.read_dir(&entry)?;
                out.push(entry);
                stack.push(children.into_iter());
            } else {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Streams a file's content to `out`; returns the bytes written.
    pub fn copy_to(&self, entry: &DirEntry, out: &mut dyn Write) -> Result<u64, FatError> {
        if entry.is_dir() {
            return Err(FatError::WrongKind {
                path: entry.path.clone(),
                expected: "file",
            });
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        for &(offset, len) in &entry.extents {
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(buf.len() as u64) as usize;
                let chunk = &mut buf[..n];
                let at = offset + done;
                self.src
                    .read_exact_at(chunk, at)
                    .map_err(|e| FatError::io(format!("reading {}", entry.path), e))?;
                out.write_all(chunk)
                    .map_err(|e| FatError::io(format!("copying {}", entry.path), e))?;
                done += n as u64;
            }
            total += len;
        }
        Ok(total)
    }

    /// A file's content in memory, refusing files larger than `cap` bytes.
    pub fn read_to_vec(&self, entry: &DirEntry, cap: u64) -> Result<Vec<u8>, FatError> {
        if u64::from(entry.size) > cap {
            return Err(FatError::FileTooLarge {
                path: entry.path.clone(),
                size: u64::from(entry.size),
                cap,
            });
        }
        let mut out = Vec::with_capacity(entry.size as usize);
        self.copy_to(entry, &mut out)?;
        Ok(out)
    }
}
