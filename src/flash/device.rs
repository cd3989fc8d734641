//! The target of a flash: what it is (block device or regular file), how big, and whether
//! it is safe to overwrite. A device is refused when it or one of its partitions is
//! mounted, when it holds the running system's root, or when it is smaller than the
//! image; each refusal has its own override flag.
//!
//! Mounts are read from a mount table in `/proc/self/mountinfo` format, whose path is
//! injectable so tests can hand a fixture. A mount matches the target by device number
//! (the target's and its partitions', from sysfs) or by its source path (the target's
//! own path, or a partition name built on it such as `sdb1` or `mmcblk0p1`). This module
//! does not write anything.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::FlashError;

/// The mount table read by default.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// A mount table line of more than this many bytes is ignored as hostile.
const MAX_LINE: usize = 64 * 1024;

/// One line of a mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// `major:minor` of the mounted filesystem's device.
    pub device: (u32, u32),
    /// Where it is mounted, unescaped.
    pub mount_point: Vec<u8>,
    /// The mount source (`/dev/sdb1`), unescaped.
    pub source: Vec<u8>,
}

/// Parses `/proc/self/mountinfo` text. Malformed lines are skipped: a line this parser
/// cannot read names no device it could match.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter(|line| line.len() <= MAX_LINE)
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    let (head, tail) = line.split_once(" - ")?;
    let mut fields = head.split(' ');
    let _id = fields.next()?;
    let _parent = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let _root = fields.next()?;
    let mount_point = unescape(fields.next()?);
    let mut rest = tail.split(' ');
    let _fstype = rest.next()?;
    let source = unescape(rest.next()?);
    Some(MountEntry {
        device: (major.parse().ok()?, minor.parse().ok()?),
        mount_point,
        source,
    })
}

/// Undoes the kernel's `\ooo` octal escapes of spaces, tabs, newlines and backslashes.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3');
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// What kind of target it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A block device: a card reader's disk.
    Block,
    /// A regular file (created when missing): an image written as a card would be.
    File,
}

/// The target, measured and checked.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its path.
    pub path: PathBuf,
    /// What it is.
    pub kind: DeviceKind,
    /// Its size in bytes (0 for a file that does not exist yet).
    pub size: u64,
}

/// Which refusals to skip, and where the mount table is.
#[derive(Debug, Clone)]
pub struct DeviceChecks {
    /// The mount table, `/proc/self/mountinfo` by default.
    pub mountinfo: PathBuf,
    /// Write even when the device or one of its partitions is mounted.
    pub allow_mounted: bool,
    /// Write even when the device holds the running system.
    pub allow_system_disk: bool,
    /// Write even when the device is smaller than the image, if the data fits.
    pub allow_smaller: bool,
}

impl Default for DeviceChecks {
    fn default() -> Self {
        Self {
            mountinfo: PathBuf::from(MOUNTINFO),
            allow_mounted: false,
            allow_system_disk: false,
            allow_smaller: false,
        }
    }
}

/// Opens nothing for writing: measures `path` and refuses it when it is unsafe to
/// overwrite with an image of `image_size` bytes whose data ends at `data_end`.
pub fn check(
    path: &Path,
    image_size: u64,
    data_end: u64,
    checks: &DeviceChecks,
) -> Result<Device, FlashError> {
    let device_error = |source| FlashError::Device {
        path: path.to_path_buf(),
        source,
    };
    let (kind, size, rdev) = match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_block_device() => {
            let size = File::open(path)
                .and_then(|mut f| f.seek(SeekFrom::End(0)))
                .map_err(device_error)?;
            (DeviceKind::Block, size, Some(meta.rdev()))
        }
        Ok(meta) if meta.is_file() => (DeviceKind::File, meta.len(), None),
        Ok(_) => {
            return Err(FlashError::NotADevice {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (DeviceKind::File, 0, None),
        Err(e) => return Err(device_error(e)),
    };
    let table = match std::fs::read(&checks.mountinfo) {
        Ok(bytes) => parse_mountinfo(&String::from_utf8_lossy(&bytes)),
        Err(e) => {
            return Err(FlashError::Device {
                path: checks.mountinfo.clone(),
                source: e,
            });
        }
    };
    let numbers = rdev.map(device_numbers).unwrap_or_default();
    let names = source_names(path);
    for entry in &table {
        let by_number = numbers.contains(&entry.device);
        let by_name = names.iter().any(|n| names_partition(n, &entry.source));
        if !(by_number || by_name) {
            continue;
        }
        let source_name = String::from_utf8_lossy(&entry.source).into_owned();
        if entry.mount_point == b"/" && !checks.allow_system_disk {
            return Err(FlashError::RunningSystem {
                path: path.to_path_buf(),
                source_name,
            });
        }
        if !checks.allow_mounted {
            return Err(FlashError::Mounted {
                path: path.to_path_buf(),
                source_name,
                mount_point: String::from_utf8_lossy(&entry.mount_point).into_owned(),
            });
        }
    }
    if kind == DeviceKind::Block && size < image_size {
        if !checks.allow_smaller {
            return Err(FlashError::TooSmall {
                path: path.to_path_buf(),
                device_size: size,
                image_size,
            });
        }
        if size < data_end {
            return Err(FlashError::DataDoesNotFit {
                path: path.to_path_buf(),
                device_size: size,
                data_end,
            });
        }
    }
    Ok(Device {
        path: path.to_path_buf(),
        kind,
        size,
    })
}

/// The device's own number and its partitions' (from sysfs), as `(major, minor)`.
fn device_numbers(rdev: u64) -> Vec<(u32, u32)> {
    let own = (libc::major(rdev), libc::minor(rdev));
    let mut out = vec![own];
    let dir = PathBuf::from(format!("/sys/dev/block/{}:{}", own.0, own.1));
    if let Ok(children) = std::fs::read_dir(&dir) {
        for child in children.flatten() {
            let dev = child.path().join("dev");
            if !child.path().join("partition").exists() {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(dev)
                && let Some((major, minor)) = text.trim().split_once(':')
                && let (Ok(major), Ok(minor)) = (major.parse(), minor.parse())
            {
                out.push((major, minor));
            }
        }
    }
    out
}

/// The spellings of the target a mount source may use: as given and canonical.
fn source_names(path: &Path) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let mut names = vec![path.as_os_str().as_bytes().to_vec()];
    if let Ok(canonical) = std::fs::canonicalize(path) {
        names.push(canonical.as_os_str().as_bytes().to_vec());
    }
    names
}

/// Whether mount `source` is `device` or one of its partitions (`sdb1`, `mmcblk0p1`).
fn names_partition(device: &[u8], source: &[u8]) -> bool {
    let Some(rest) = source.strip_prefix(device) else {
        return false;
    };
    let digits = rest.strip_prefix(b"p").unwrap_or(rest);
    rest.is_empty() || (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 179:2 / /media/pi\\040card rw,nosuid - vfat /dev/mmcblk0p1 rw,fmask=0022
40 22 0:5 / /dev rw - devtmpfs udev rw
garbage line
";

    #[test]
    fn reads_mount_points_sources_and_numbers() {
        let t = parse_mountinfo(SAMPLE);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].device, (254, 0));
        assert_eq!(t[0].mount_point, b"/");
        assert_eq!(t[1].mount_point, b"/media/pi card");
        assert_eq!(t[1].source, b"/dev/mmcblk0p1");
    }

    #[test]
    fn partition_names() {
        assert!(names_partition(b"/dev/mmcblk0", b"/dev/mmcblk0p1"));
        assert!(names_partition(b"/dev/sdb", b"/dev/sdb2"));
        assert!(names_partition(b"/dev/sdb", b"/dev/sdb"));
        assert!(!names_partition(b"/dev/sdb", b"/dev/sdba"));
        assert!(!names_partition(b"/dev/sd", b"/dev/sdb"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn hostile_mount_tables_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_mountinfo(&text);
        }

        #[test]
        fn mangled_lines_never_panic(line in "[0-9 :/\\\\a-z-]{0,80}") {
            let _ = parse_mountinfo(&format!("{SAMPLE}{line}\n"));
        }
    }
}
