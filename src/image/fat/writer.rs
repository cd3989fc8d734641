//! Writing a new FAT32 volume into a region of an image file.
//!
//! The region must already read as zeros (an image file just sized with `set_len`, so
//! its holes stay holes): only the boot sectors, FSInfo, the used part of both FATs, the
//! directories and the non-zero blocks of file content are written, with positioned
//! writes. Clusters are allocated in one pass in sorted order, each file and directory
//! contiguous, root first. Every date is the caller's timestamp, so equal inputs give
//! identical bytes. File content is pulled from the caller while writing, never held
//! whole. This does not read an existing volume or preserve anything in the region.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use super::boot_sector::{self, BACKUP_BOOT_SECTOR, FSINFO_SECTOR, Fat32Params};
use super::datetime::{self, FatDateTime};
use super::dir_entry::{
    ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_VOLUME_ID, SLOT_SIZE, ShortEntry, encode_long,
};
use super::layout::{self, FatLayout, SECTOR};
use super::namespace::{Declared, Namespace, NodeId, NodeKind, ROOT};
use super::{FatError, short_name};

/// The most slots a directory may have.
const MAX_DIR_SLOTS: u64 = 65_536;
/// Bytes buffered from a content source before they are written.
const WRITE_CHUNK: usize = 1024 * 1024;
/// Granularity at which all-zero content is skipped instead of written.
const ZERO_BLOCK: usize = 4096;
/// Characters a volume label may not contain.
const LABEL_FORBIDDEN: &[u8] = b"\"*+,./:;<=>?[\\]|";

/// A function that writes a file's whole content to the writer it is given.
pub type ContentSource<'a> = Box<dyn FnMut(&mut dyn Write) -> io::Result<()> + 'a>;

/// Settings of a new FAT32 volume.
#[derive(Debug, Clone)]
pub struct FatOptions {
    /// Volume label, up to 11 ASCII characters, stored as given (mkfs.fat 4.2 keeps case
    /// too); empty for none.
    pub label: String,
    /// Volume serial number.
    pub volume_id: u32,
    /// Unix seconds used for every creation, modification and access time.
    pub timestamp: i64,
    /// Bytes per cluster; `None` chooses as mkfs.fat does for the volume size.
    pub cluster_size: Option<u32>,
}

/// What an entry is.
pub enum FatEntryKind<'a> {
    /// A directory.
    Directory,
    /// A file of `len` bytes whose content `source` writes when asked.
    File {
        /// Exactly the number of bytes `source` must write.
        len: u64,
        /// Called once while the volume is written.
        source: ContentSource<'a>,
    },
}

/// A file or directory to put in the volume.
///
/// `path` is relative and `/`-separated (`overlays/README`). Parent directories may be
/// listed or left implied by deeper paths; entries may come in any order.
pub struct FatEntry<'a> {
    /// Where the entry goes.
    pub path: String,
    /// Directory or file.
    pub kind: FatEntryKind<'a>,
}

impl<'a> FatEntry<'a> {
    /// A directory entry.
    pub fn dir(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: FatEntryKind::Directory,
        }
    }

    /// A file whose content `source` writes.
    pub fn file(path: impl Into<String>, len: u64, source: ContentSource<'a>) -> Self {
        Self {
            path: path.into(),
            kind: FatEntryKind::File { len, source },
        }
    }

    /// A file with content already in memory.
    pub fn bytes(path: impl Into<String>, data: impl AsRef<[u8]> + 'a) -> Self {
        let len = data.as_ref().len() as u64;
        Self::file(path, len, Box::new(move |w| w.write_all(data.as_ref())))
    }
}

/// The 11-byte label field for `label`, checked.
fn label_bytes(label: &str) -> Result<Option<[u8; 11]>, FatError> {
    let bad = |reason: &str| FatError::BadLabel {
        label: label.to_string(),
        reason: reason.to_string(),
    };
    if label.is_empty() {
        return Ok(None);
    }
    if label.len() > 11 {
        return Err(bad("it is longer than 11 characters"));
    }
    if label
        .bytes()
        .any(|b| !b.is_ascii() || b < 0x20 || LABEL_FORBIDDEN.contains(&b))
    {
        return Err(bad(
            "only ASCII letters, digits, spaces and !#$%&'()-@^_`{}~ are allowed",
        ));
    }
    if label.starts_with(' ') {
        return Err(bad("it starts with a space"));
    }
    let mut raw = [b' '; 11];
    raw[..label.len()].copy_from_slice(label.as_bytes());
    Ok(Some(raw))
}

/// Writes positioned chunks into the volume, skipping blocks that are all zero.
struct SparseWriter<'f> {
    file: &'f File,
    /// Absolute file offset of the first byte in `buf`.
    pos: u64,
    buf: Vec<u8>,
    written: u64,
    limit: u64,
    overflow: bool,
}

impl SparseWriter<'_> {
    fn flush_buf(&mut self) -> io::Result<()> {
        let mut at = 0;
        while at < self.buf.len() {
            let block = |i: usize| &self.buf[i..(i + ZERO_BLOCK).min(self.buf.len())];
            if block(at).iter().all(|&b| b == 0) {
                at += ZERO_BLOCK;
                continue;
            }
            let start = at;
            while at < self.buf.len() && block(at).iter().any(|&b| b != 0) {
                at += ZERO_BLOCK;
            }
            let end = at.min(self.buf.len());
            self.file
                .write_all_at(&self.buf[start..end], self.pos + start as u64)?;
        }
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl Write for SparseWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.limit - self.written;
        if data.len() as u64 > room {
            self.overflow = true;
            return Err(io::Error::other("the content is longer than declared"));
        }
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Clusters a directory or file takes.
fn clusters_of(ns: &Namespace, id: NodeId, cluster_size: u64) -> Result<u64, FatError> {
    match &ns.nodes[id].kind {
        NodeKind::File { len, .. } => Ok(len.div_ceil(cluster_size)),
        NodeKind::Dir(children) => {
            let own = if id == ROOT { 1 } else { 2 };
            let slots = own
                + children
                    .iter()
                    .map(|&c| ns.nodes[c].slots() as u64)
                    .sum::<u64>();
            if slots > MAX_DIR_SLOTS {
                return Err(FatError::TooManyEntries {
                    path: if id == ROOT {
                        "/".into()
                    } else {
                        ns.nodes[id].path.clone()
                    },
                    slots,
                });
            }
            Ok((slots * SLOT_SIZE as u64).div_ceil(cluster_size).max(1))
        }
    }
}

/// Gives every node its first cluster: depth-first, each directory before its contents.
fn allocate(
    ns: &Namespace,
    id: NodeId,
    cluster_size: u64,
    next: &mut u64,
    first: &mut [u64],
    order: &mut Vec<NodeId>,
) -> Result<(), FatError> {
    let n = clusters_of(ns, id, cluster_size)?;
    if n > 0 {
        first[id] = *next;
        *next += n;
    }
    order.push(id);
    for &child in ns.children(id) {
        allocate(ns, child, cluster_size, next, first, order)?;
    }
    Ok(())
}

fn short_entry(
    raw: [u8; 11],
    attr: u8,
    nt_flags: u8,
    cluster: u64,
    size: u32,
    t: FatDateTime,
) -> ShortEntry {
    ShortEntry {
        name: raw,
        attr,
        nt_flags,
        ctime_tenths: t.tenths,
        ctime: t.time,
        cdate: t.date,
        adate: t.date,
        // Allocation never goes past the cluster count, which fits 28 bits.
        first_cluster: cluster as u32,
        mtime: t.time,
        mdate: t.date,
        size,
    }
}

/// The used slots of a directory.
fn dir_bytes(
    ns: &Namespace,
    id: NodeId,
    parent: Option<NodeId>,
    first: &[u64],
    label: Option<[u8; 11]>,
    t: FatDateTime,
) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(parent) = parent {
        let mut dot = [b' '; 11];
        dot[0] = b'.';
        out.extend_from_slice(&short_entry(dot, ATTR_DIRECTORY, 0, first[id], 0, t).encode());
        dot[1] = b'.';
        let up = if parent == ROOT { 0 } else { first[parent] };
        out.extend_from_slice(&short_entry(dot, ATTR_DIRECTORY, 0, up, 0, t).encode());
    } else if let Some(label) = label {
        out.extend_from_slice(&short_entry(label, ATTR_VOLUME_ID, 0, 0, 0, t).encode());
    }
    for &child in ns.children(id) {
        let node = &ns.nodes[child];
        if let Some(units) = &node.long {
            for slot in encode_long(units, short_name::checksum(&node.short)) {
                out.extend_from_slice(&slot);
            }
        }
        let (attr, size) = match node.kind {
            NodeKind::Dir(_) => (ATTR_DIRECTORY, 0),
            // Sizes were checked to fit 32 bits before allocation.
            NodeKind::File { len, .. } => (ATTR_ARCHIVE, len as u32),
        };
        let e = short_entry(node.short, attr, node.nt_flags, first[child], size, t);
        out.extend_from_slice(&e.encode());
    }
    out
}

/// Writes a FAT32 volume of `size` bytes at byte `offset` of `out` holding `entries`.
///
/// The region must read as zeros beforehand and lie inside the file. The boot sector's
/// hidden-sector count is `offset / 512`, right when `out` is the whole disk image and
/// `offset` the partition's start. Parent directories
/// may be implied. Returns where everything was put. Fails before writing anything if a
/// name, the label or the size is unusable; a content source that fails or writes a
/// different length than declared stops the write with an error.
pub fn write_fat32(
    out: &File,
    offset: u64,
    size: u64,
    opts: &FatOptions,
    entries: Vec<FatEntry<'_>>,
) -> Result<FatLayout, FatError> {
    let label = label_bytes(&opts.label)?;
    let mut layout = layout::choose(size, opts.cluster_size)?;
    let file_len = out
        .metadata()
        .map_err(|e| FatError::io("reading the output file's size", e))?
        .len();
    let end = offset.checked_add(size).ok_or_else(|| {
        FatError::BadOptions(format!("offset {offset} plus size {size} overflows"))
    })?;
    if file_len < end {
        return Err(FatError::BadOptions(format!(
            "the output file is {file_len} bytes but the volume ends at byte {end}; size the file first"
        )));
    }
    let declared: Vec<(&str, Declared)> = entries
        .iter()
        .map(|e| match &e.kind {
            FatEntryKind::Directory => Ok((e.path.as_str(), Declared::Dir)),
            FatEntryKind::File { len, .. } if *len > u64::from(u32::MAX) => {
                Err(FatError::BadPath {
                    path: e.path.clone(),
                    reason: format!("{len} bytes is more than a FAT file can hold (4 GiB - 1)"),
                })
            }
            FatEntryKind::File { len, .. } => Ok((e.path.as_str(), Declared::File(*len))),
        })
        .collect::<Result<_, _>>()?;
    let ns = Namespace::build(&declared)?;
    let mut sources: Vec<Option<ContentSource<'_>>> = entries
        .into_iter()
        .map(|e| match e.kind {
            FatEntryKind::File { source, .. } => Some(source),
            FatEntryKind::Directory => None,
        })
        .collect();

    let cs = u64::from(layout.cluster_size);
    let mut first = vec![0u64; ns.nodes.len()];
    let mut order = Vec::with_capacity(ns.nodes.len());
    let mut next = 2u64;
    allocate(&ns, ROOT, cs, &mut next, &mut first, &mut order)?;
    let used = next - 2;
    if used > u64::from(layout.cluster_count) {
        return Err(FatError::TooSmall {
            what: format!("the content ({used} clusters of {cs} bytes)"),
            size,
            needed: layout::size_for(used, u64::from(layout.sectors_per_cluster)),
        });
    }
    // used <= cluster_count, a u32.
    layout.used_clusters = used as u32;
    layout.free_clusters = layout.cluster_count - used as u32;

    let t = datetime::from_unix(opts.timestamp);
    let at = |pos: u64| offset + pos;
    let write = |data: &[u8], pos: u64, what: &str| {
        out.write_all_at(data, at(pos))
            .map_err(|e| FatError::io(format!("writing {what}"), e))
    };

    let mut parents = vec![None; ns.nodes.len()];
    for &id in &order {
        for &child in ns.children(id) {
            parents[child] = Some(id);
        }
    }
    for &id in &order {
        let node = &ns.nodes[id];
        let pos = layout.cluster_offset(first[id] as u32);
        match node.kind {
            NodeKind::Dir(_) => {
                let bytes = dir_bytes(&ns, id, parents[id], &first, label, t);
                let shown = if id == ROOT { "/" } else { node.path.as_str() };
                write(&bytes, pos, &format!("directory {shown}"))?;
            }
            NodeKind::File { len, source } => {
                let Some(mut content) = sources.get_mut(source).and_then(Option::take) else {
                    continue;
                };
                let mut w = SparseWriter {
                    file: out,
                    pos: at(pos),
                    buf: Vec::with_capacity(WRITE_CHUNK.min(len as usize)),
                    written: 0,
                    limit: len,
                    overflow: false,
                };
                let result = content(&mut w).and_then(|()| w.flush_buf());
                if w.overflow || (result.is_ok() && w.written != len) {
                    return Err(FatError::ContentLength {
                        path: node.path.clone(),
                        declared: len,
                        written: if w.overflow { len + 1 } else { w.written },
                    });
                }
                result.map_err(|e| FatError::io(format!("writing {}", node.path), e))?;
            }
        }
    }

    // The FAT: two reserved entries, then one chain per allocated node.
    let mut fat = Vec::with_capacity((used as usize + 2) * 4);
    fat.extend_from_slice(&0x0FFF_FFF8u32.to_le_bytes());
    fat.extend_from_slice(&0x0FFF_FFFFu32.to_le_bytes());
    for &id in &order {
        let n = clusters_of(&ns, id, cs)?;
        for i in 1..=n {
            let value = if i == n {
                0x0FFF_FFFF
            } else {
                (first[id] + i) as u32
            };
            fat.extend_from_slice(&value.to_le_bytes());
        }
    }
    let fat_bytes = u64::from(layout.fat_sectors) * SECTOR;
    write(&fat, layout.fat_offset(), "the first FAT")?;
    write(&fat, layout.fat_offset() + fat_bytes, "the second FAT")?;

    let hidden_sectors = if offset.is_multiple_of(SECTOR) {
        u32::try_from(offset / SECTOR).unwrap_or(0)
    } else {
        0
    };
    let boot = boot_sector::encode_fat32(&Fat32Params {
        total_sectors: layout.total_sectors,
        // Layout keeps sectors per cluster at 128 or less.
        sectors_per_cluster: layout.sectors_per_cluster as u8,
        reserved_sectors: layout.reserved_sectors as u16,
        fat_sectors: layout.fat_sectors,
        hidden_sectors,
        volume_id: opts.volume_id,
        label: label.unwrap_or(*b"NO NAME    "),
    });
    let next_free = if layout.free_clusters == 0 {
        0xFFFF_FFFF
    } else {
        layout.used_clusters + 2
    };
    let fsinfo = boot_sector::encode_fsinfo(layout.free_clusters, next_free);
    for base in [0, u64::from(BACKUP_BOOT_SECTOR)] {
        write(&boot, base * SECTOR, "the boot sector")?;
        write(
            &fsinfo,
            (base + u64::from(FSINFO_SECTOR)) * SECTOR,
            "the FSInfo sector",
        )?;
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked() {
        assert_eq!(label_bytes("bootfs").unwrap(), Some(*b"bootfs     "));
        assert_eq!(label_bytes("").unwrap(), None);
        assert!(label_bytes("TWELVE CHARS").is_err());
        assert!(label_bytes("A.B").is_err());
        assert!(label_bytes("Ü").is_err());
    }
}
