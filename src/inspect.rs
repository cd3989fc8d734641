//! `pi-imager inspect`: what an image holds, read without mounting it.
//!
//! Shows the partition table, each filesystem (type, label, UUID, features, size, used), the
//! OS release found in the root, and on request a listing of one path (`--ls`). The JSON form
//! ([`Report`]) is stable like `check`'s: fields are only added; see `docs/inspect-json.md`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::base::{BaseError, BaseImage};
use crate::image::partition::TableKind;
use crate::profile::Generation;
use crate::tree::{Inode, Kind, Tree, TreePath};

/// The version of the JSON report's schema.
pub const REPORT_VERSION: u32 = 1;

/// Which filesystem `--ls` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// The ext4 root.
    Root,
    /// The FAT boot partition.
    Boot,
}

/// The JSON report of `inspect --json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `pi-imager-inspect`.
    pub format: &'static str,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The image path as given.
    pub image: String,
    /// The image's size in bytes.
    pub size: u64,
    /// The partition table.
    pub table: TableReport,
    /// The boot filesystem.
    pub boot: FilesystemReport,
    /// The root filesystem.
    pub root: FilesystemReport,
    /// The root's os-release fields, if it has one.
    pub os_release: Option<std::collections::BTreeMap<String, String>>,
    /// The Raspberry Pi OS generation (Debian codename) the node stage would write for,
    /// or null when it cannot be told (a profile then sets `base.generation`).
    pub generation: Option<Generation>,
    /// The `--ls` listing, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<Vec<ListEntry>>,
}

/// A partition table.
#[derive(Debug, Serialize)]
pub struct TableReport {
    /// `mbr` or `gpt`.
    pub kind: &'static str,
    /// MBR disk id as 8 hex digits, or the GPT disk GUID.
    pub id: String,
    /// The partitions in table order.
    pub partitions: Vec<PartitionReport>,
    /// Problems that did not stop reading (a damaged backup GPT, …).
    pub warnings: Vec<String>,
}

/// One partition.
#[derive(Debug, Serialize)]
pub struct PartitionReport {
    /// 1-based number.
    pub number: u32,
    /// Start in bytes.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// `0x0c` or a GPT type GUID.
    pub kind: String,
    /// The type's usual name, if known.
    pub kind_name: Option<&'static str>,
    /// As Linux names it in `root=PARTUUID=`.
    pub partuuid: String,
    /// The MBR boot flag or GPT legacy-bootable attribute.
    pub bootable: bool,
}

/// One filesystem.
#[derive(Debug, Serialize)]
pub struct FilesystemReport {
    /// The partition it is on.
    pub partition: u32,
    /// `vfat` (FAT16/FAT32) or `ext4`.
    pub kind: String,
    /// Its label, if any.
    pub label: Option<String>,
    /// Its UUID (FAT: the volume id as `XXXX-XXXX`).
    pub uuid: Option<String>,
    /// ext4 features, as `mke2fs -O` names them.
    pub features: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Bytes in use.
    pub used: u64,
    /// Block (cluster) size in bytes.
    pub block_size: u64,
    /// ext4 inode size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode_size: Option<u16>,
}

/// One line of `--ls`.
#[derive(Debug, Serialize)]
pub struct ListEntry {
    /// The path in the filesystem.
    pub path: String,
    /// `ls -l` style type and permissions, such as `-rwsr-xr-x`.
    pub mode: String,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes (regular files and symlinks).
    pub size: u64,
    /// Modification time, seconds and nanoseconds since the epoch.
    pub mtime: String,
    /// Link count.
    pub links: usize,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Device numbers, `major,minor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Extended attributes, values as hex.
    pub xattrs: std::collections::BTreeMap<String, String>,
}

/// Why inspect could not answer.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The image could not be read.
    #[error(transparent)]
    Base(#[from] BaseError),
    /// `--ls` named nothing.
    #[error("{path}: not found in the {which} filesystem")]
    NotFound {
        /// The path asked for.
        path: String,
        /// `root` or `boot`.
        which: &'static str,
    },
}

/// Reads `image` and reports on it; `ls` lists one path of one filesystem.
pub fn inspect(image: &Path, ls: Option<(&str, Filesystem)>) -> Result<Report, InspectError> {
    let base = BaseImage::open(image)?;
    let table = TableReport {
        kind: match base.table.kind {
            TableKind::Mbr { .. } => "mbr",
            TableKind::Gpt { .. } => "gpt",
        },
        id: match &base.table.kind {
            TableKind::Mbr { disk_id } => format!("{disk_id:08x}"),
            TableKind::Gpt { disk_guid } => disk_guid.to_string(),
        },
        partitions: base
            .table
            .partitions
            .iter()
            .map(|p| PartitionReport {
                number: p.number,
                start: p.start,
                size: p.size,
                kind: p.kind.to_string(),
                kind_name: p.kind.name(),
                partuuid: p.partuuid.clone(),
                bootable: p.bootable,
            })
            .collect(),
        warnings: base
            .table
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    let boot = &base.boot;
    let boot_report = FilesystemReport {
        partition: boot.partition.number,
        kind: "vfat".to_string(),
        label: boot.label.clone(),
        uuid: boot
            .volume_id
            .map(|id| format!("{:04X}-{:04X}", id >> 16, id & 0xffff)),
        features: vec![format!("{:?}", boot.fat_type).to_lowercase()],
        size: boot.partition.size,
        used: boot.used,
        block_size: 0,
        inode_size: None,
    };
    let sb = &base.root.superblock;
    let block_size = u64::from(sb.block_size);
    let root_report = FilesystemReport {
        partition: base.root.partition.number,
        kind: "ext4".to_string(),
        label: Some(String::from_utf8_lossy(&sb.label).into_owned()).filter(|l| !l.is_empty()),
        uuid: Some(sb.uuid_string()),
        features: sb.feature_names(),
        size: sb.blocks_count.saturating_mul(block_size),
        used: sb
            .blocks_count
            .saturating_sub(sb.free_blocks_count)
            .saturating_mul(block_size),
        block_size,
        inode_size: Some(sb.inode_size),
    };
    let listing = match ls {
        None => None,
        Some((path, which)) => {
            let (tree, name) = match which {
                Filesystem::Root => (&base.root.tree, "root"),
                Filesystem::Boot => (&base.boot.tree, "boot"),
            };
            Some(list(tree, path).ok_or_else(|| InspectError::NotFound {
                path: path.to_string(),
                which: name,
            })?)
        }
    };
    Ok(Report {
        format: "pi-imager-inspect",
        version: REPORT_VERSION,
        image: image.display().to_string(),
        size: base.size,
        table,
        boot: boot_report,
        root: root_report,
        os_release: base.os_release().map(|r| r.fields),
        generation: crate::node::generation::detect(&base.root.tree, None).ok(),
        listing,
    })
}

/// The entries `ls -l PATH` would show: a directory's children, or the entry itself.
fn list(tree: &Tree, path: &str) -> Option<Vec<ListEntry>> {
    let at = TreePath::parse(path).ok()?;
    let id = tree.id(&at)?;
    let inode = tree.inode(id);
    if inode.is_dir() {
        Some(
            tree.children(&at)
                .map(|(p, id)| list_entry(tree, p, id))
                .collect(),
        )
    } else {
        Some(vec![list_entry(tree, &at, id)])
    }
}

fn list_entry(tree: &Tree, path: &TreePath, id: crate::tree::InodeId) -> ListEntry {
    let inode = tree.inode(id);
    ListEntry {
        path: path.to_string(),
        mode: mode_string(inode),
        uid: inode.uid,
        gid: inode.gid,
        size: inode.size(),
        mtime: format!("{}.{:09}", inode.mtime.secs, inode.mtime.nanos),
        links: tree.link_count(id),
        target: match &inode.kind {
            Kind::Symlink(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        },
        device: match inode.kind {
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                Some(format!("{major},{minor}"))
            }
            _ => None,
        },
        xattrs: inode
            .xattrs
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), hex(v)))
            .collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `ls -l`'s mode column.
pub fn mode_string(inode: &Inode) -> String {
    let kind = match inode.kind {
        Kind::File { .. } => '-',
        Kind::Dir => 'd',
        Kind::Symlink(_) => 'l',
        Kind::CharDevice { .. } => 'c',
        Kind::BlockDevice { .. } => 'b',
        Kind::Fifo => 'p',
        Kind::Socket => 's',
    };
    let m = inode.mode;
    let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
    let special = |exec: bool, set: bool, lower: char, upper: char| match (exec, set) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(m & 0o100 != 0, m & 0o4000 != 0, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(m & 0o010 != 0, m & 0o2000 != 0, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(m & 0o001 != 0, m & 0o1000 != 0, 't', 'T'));
    s
}

/// `1.5 MiB`: a size for people (binary units, one decimal).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The human form of a report.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} bytes ({})",
        report.image,
        report.size,
        human_size(report.size)
    );
    let _ = writeln!(
        out,
        "partition table: {}, id {}",
        report.table.kind, report.table.id
    );
    for p in &report.table.partitions {
        let _ = writeln!(
            out,
            "  {}: start {} ({}), size {} ({}), type {}{}{}, partuuid {}",
            p.number,
            p.start,
            human_size(p.start),
            p.size,
            human_size(p.size),
            p.kind,
            p.kind_name.map(|n| format!(" {n}")).unwrap_or_default(),
            if p.bootable { ", bootable" } else { "" },
            p.partuuid
        );
    }
    for w in &report.table.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for (name, fs) in [("boot", &report.boot), ("root", &report.root)] {
        let _ = writeln!(
            out,
            "{name}: partition {}, {} ({}), label {}, uuid {}, {} used of {}",
            fs.partition,
            fs.kind,
            fs.features.join(" "),
            fs.label
                .as_deref()
                .map_or("(none)".to_string(), |l| format!("`{l}`")),
            fs.uuid.as_deref().unwrap_or("(none)"),
            human_size(fs.used),
            human_size(fs.size),
        );
        if let Some(inode_size) = fs.inode_size {
            let _ = writeln!(
                out,
                "  block size {}, inode size {inode_size}",
                fs.block_size
            );
        }
    }
    match &report.os_release {
        Some(fields) => {
            let name = fields
                .get("PRETTY_NAME")
                .cloned()
                .unwrap_or_else(|| "(no PRETTY_NAME)".to_string());
            let _ = writeln!(out, "os: {name}");
        }
        None => {
            let _ = writeln!(out, "os: no os-release in the root filesystem");
        }
    }
    match report.generation {
        Some(generation) => {
            let _ = writeln!(out, "generation: {generation}");
        }
        None => {
            let _ = writeln!(
                out,
                "generation: unknown (a profile building on this image sets base.generation)"
            );
        }
    }
    for e in report.listing.iter().flatten() {
        let mut line = format!(
            "{} {:>3} {:>5}:{:<5} {:>12} {} {}",
            e.mode, e.links, e.uid, e.gid, e.size, e.mtime, e.path
        );
        if let Some(t) = &e.target {
            let _ = write!(line, " -> {t}");
        }
        if let Some(d) = &e.device {
            let _ = write!(line, " [{d}]");
        }
        let _ = writeln!(out, "{line}");
        for (k, v) in &e.xattrs {
            let _ = writeln!(out, "    xattr {k}=0x{v}");
        }
    }
    out
}
