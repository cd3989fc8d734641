//! Inodes: type, permissions, owner, size, times, device numbers and flags.
//!
//! [`Inode::parse`] decodes one on-disk inode record. It does not follow the inode's data
//! (see [`super::extent`] and [`super::blockmap`]) and leaves extended attributes to
//! [`super::xattr`], which [`super::Ext4::inode`] calls to fill [`Inode::xattrs`].

use super::error::Ext4Error;
use super::field::{array, le16, le32, lo_hi};
use super::xattr::Xattr;

/// `i_flags` bit: the data is mapped by an extent tree.
pub const FLAG_EXTENTS: u32 = 0x0008_0000;
/// `i_flags` bit: the data lives inside the inode (inline_data feature).
pub const FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// `i_flags` bit: this inode holds a large extended attribute value.
pub const FLAG_EA_INODE: u32 = 0x0020_0000;
/// `i_flags` bit: `i_blocks` counts filesystem blocks instead of 512-byte sectors.
pub const FLAG_HUGE_FILE: u32 = 0x0004_0000;
/// `i_flags` bit: the directory has a hashed index.
pub const FLAG_INDEX: u32 = 0x0000_1000;

/// Bytes of `i_block`, the 15 words that hold a block map, extent root or inline data.
pub const I_BLOCK_LEN: usize = 60;
/// Offset of `i_block` within the inode record.
pub(crate) const I_BLOCK_OFFSET: usize = 0x28;
const GOOD_OLD_INODE_SIZE: usize = 128;

/// The kind of file an inode holds, from the top bits of its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A unix domain socket.
    Socket,
}

impl FileType {
    /// The type from the `S_IFMT` bits of a mode, if they name one.
    pub fn from_mode(mode: u16) -> Option<Self> {
        Some(match mode & 0xF000 {
            0x8000 => Self::Regular,
            0x4000 => Self::Directory,
            0xA000 => Self::Symlink,
            0x2000 => Self::CharDevice,
            0x6000 => Self::BlockDevice,
            0x1000 => Self::Fifo,
            0xC000 => Self::Socket,
            _ => return None,
        })
    }

    /// The type from a directory entry's `file_type` byte, if it names one.
    pub fn from_dirent(t: u8) -> Option<Self> {
        Some(match t {
            1 => Self::Regular,
            2 => Self::Directory,
            3 => Self::CharDevice,
            4 => Self::BlockDevice,
            5 => Self::Fifo,
            6 => Self::Socket,
            7 => Self::Symlink,
            _ => return None,
        })
    }

    /// A short human name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Regular => "regular file",
            Self::Directory => "directory",
            Self::Symlink => "symbolic link",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
        }
    }
}

/// A point in time with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Seconds since the epoch (may be negative).
    pub secs: i64,
    /// Nanoseconds, 0 when the inode is too small to hold them.
    pub nanos: u32,
}

impl Timestamp {
    /// Decodes a 32-bit seconds field and its optional `_extra` word: the low two bits of
    /// `extra` extend the seconds past 2038, the upper 30 bits are nanoseconds.
    fn decode(secs: u32, extra: Option<u32>) -> Self {
        let mut t = Self {
            secs: i64::from(secs as i32),
            nanos: 0,
        };
        if let Some(extra) = extra {
            t.secs += i64::from(extra & 3) << 32;
            t.nanos = extra >> 2;
        }
        t
    }
}

/// A device number, as Linux splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceNumber {
    /// The major number.
    pub major: u32,
    /// The minor number.
    pub minor: u32,
}

impl DeviceNumber {
    /// Decodes the device number of a device inode from `i_block`: the old 16-bit encoding
    /// in word 0, or the new 32-bit one in word 1 (Linux `old_decode_dev`/`new_decode_dev`).
    fn from_i_block(block: &[u8]) -> Self {
        let old = le32(block, 0);
        if old != 0 {
            return Self {
                major: (old >> 8) & 0xff,
                minor: old & 0xff,
            };
        }
        let new = le32(block, 4);
        Self {
            major: (new & 0xfff00) >> 8,
            minor: (new & 0xff) | ((new >> 12) & 0xfff00),
        }
    }
}

/// One inode, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// The inode number.
    pub ino: u32,
    /// The full mode: type bits and permissions including setuid, setgid and sticky.
    pub mode: u16,
    /// The owner, with the high 16 bits.
    pub uid: u32,
    /// The group, with the high 16 bits.
    pub gid: u32,
    /// The size in bytes.
    pub size: u64,
    /// The number of hard links.
    pub links_count: u16,
    /// Last access.
    pub atime: Timestamp,
    /// Last data change.
    pub mtime: Timestamp,
    /// Last inode change.
    pub ctime: Timestamp,
    /// Creation, when the inode is large enough to record it.
    pub crtime: Option<Timestamp>,
    /// `i_flags`.
    pub flags: u32,
    /// The device number, for character and block devices.
    pub rdev: Option<DeviceNumber>,
    /// Extended attributes, in-inode ones first, then those of the external block.
    pub xattrs: Vec<Xattr>,
    /// The file generation number.
    pub generation: u32,
    /// `i_block`: block map, extent root, fast symlink target or inline data.
    pub(crate) i_block: [u8; I_BLOCK_LEN],
    /// The external extended-attribute block (`i_file_acl`, 48 bits), 0 if none.
    pub(crate) file_acl: u64,
    /// `i_blocks` in 512-byte units (or blocks with `FLAG_HUGE_FILE`), as stored.
    pub(crate) blocks: u64,
    /// The in-inode extended attribute area (after `i_extra_isize`), possibly empty.
    pub(crate) xattr_area: Vec<u8>,
    /// Byte offset of the inode record in the filesystem.
    pub(crate) location: u64,
}

impl Inode {
    /// Decodes the inode record `raw` of inode `ino`, which was read at byte `location`.
    pub(crate) fn parse(ino: u32, raw: &[u8], location: u64) -> Result<Self, Ext4Error> {
        if raw.len() < GOOD_OLD_INODE_SIZE {
            return Err(Ext4Error::BadInode {
                ino,
                why: format!("record of {} bytes is shorter than 128", raw.len()),
            });
        }
        let extra_isize = if raw.len() > GOOD_OLD_INODE_SIZE {
            usize::from(le16(raw, 0x80))
        } else {
            0
        };
        let extra_end = GOOD_OLD_INODE_SIZE + extra_isize;
        if extra_end > raw.len() || extra_isize % 4 != 0 {
            return Err(Ext4Error::BadInode {
                ino,
                why: format!(
                    "i_extra_isize {extra_isize} does not fit the {}-byte inode",
                    raw.len()
                ),
            });
        }
        // An `_extra` field exists only if i_extra_isize covers it.
        let extra = |off: usize| (off + 4 <= extra_end).then(|| le32(raw, off));
        let mode = le16(raw, 0x0);
        let i_block = array::<I_BLOCK_LEN>(raw, I_BLOCK_OFFSET).unwrap_or([0; I_BLOCK_LEN]);
        let is_device = matches!(
            FileType::from_mode(mode),
            Some(FileType::CharDevice | FileType::BlockDevice)
        );
        Ok(Self {
            ino,
            mode,
            uid: u32::from(le16(raw, 0x2)) | (u32::from(le16(raw, 0x78)) << 16),
            gid: u32::from(le16(raw, 0x18)) | (u32::from(le16(raw, 0x7A)) << 16),
            size: lo_hi(le32(raw, 0x4), le32(raw, 0x6C)),
            links_count: le16(raw, 0x1A),
            atime: Timestamp::decode(le32(raw, 0x8), extra(0x8C)),
            ctime: Timestamp::decode(le32(raw, 0xC), extra(0x84)),
            mtime: Timestamp::decode(le32(raw, 0x10), extra(0x88)),
            crtime: extra(0x90).map(|secs| Timestamp::decode(secs, extra(0x94))),
            flags: le32(raw, 0x20),
            rdev: is_device.then(|| DeviceNumber::from_i_block(&i_block)),
            xattrs: Vec::new(),
            generation: le32(raw, 0x64),
            i_block,
            file_acl: lo_hi(le32(raw, 0x68), u32::from(le16(raw, 0x76))),
            blocks: lo_hi(le32(raw, 0x1C), u32::from(le16(raw, 0x74))),
            xattr_area: raw.get(extra_end..).unwrap_or_default().to_vec(),
            location,
        })
    }

    /// The file type, if the mode names one.
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }

    /// The permission bits, including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub fn permissions(&self) -> u16 {
        self.mode & 0o7777
    }

    /// `i_blocks` as stored: 512-byte units, or filesystem blocks when the inode has
    /// [`FLAG_HUGE_FILE`]. A checker compares it with the mapped data.
    pub fn i_blocks(&self) -> u64 {
        self.blocks
    }

    /// The external extended-attribute block (`i_file_acl`), 0 if there is none.
    pub fn xattr_block(&self) -> u64 {
        self.file_acl
    }

    /// Whether the data is an extent tree.
    pub fn uses_extents(&self) -> bool {
        self.flags & FLAG_EXTENTS != 0
    }

    /// Whether the data lives inside the inode.
    pub fn has_inline_data(&self) -> bool {
        self.flags & FLAG_INLINE_DATA != 0
    }

    /// Whether this is a symlink whose target is stored in `i_block` itself.
    pub fn is_fast_symlink(&self) -> bool {
        self.file_type() == Some(FileType::Symlink)
            && !self.has_inline_data()
            && self.size < I_BLOCK_LEN as u64
            && self.size > 0
    }

    /// Byte offset of `i_block` in the filesystem, where inline data starts.
    pub(crate) fn i_block_location(&self) -> u64 {
        self.location + I_BLOCK_OFFSET as u64
    }

    /// Byte offset of the in-inode xattr area in the filesystem.
    pub(crate) fn xattr_area_location(&self, inode_size: u16) -> u64 {
        let len = self.xattr_area.len() as u64;
        self.location + u64::from(inode_size) - len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_times_owner_and_devices() {
        let mut raw = vec![0u8; 256];
        raw[0..2].copy_from_slice(&0x21A4u16.to_le_bytes()); // char device, 0644
        raw[2..4].copy_from_slice(&0x1234u16.to_le_bytes());
        raw[0x78..0x7A].copy_from_slice(&0x0001u16.to_le_bytes());
        raw[0x10..0x14].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes()); // -1
        raw[0x80..0x82].copy_from_slice(&32u16.to_le_bytes());
        raw[0x88..0x8C].copy_from_slice(&((5u32 << 2) | 1).to_le_bytes());
        // new encoding of major 259, minor 70000
        let dev: u32 = (70000 & 0xff) | (259 << 8) | ((70000 & !0xff) << 12);
        raw[0x2C..0x30].copy_from_slice(&dev.to_le_bytes());
        let ino = Inode::parse(12, &raw, 0).unwrap();
        assert_eq!(ino.file_type(), Some(FileType::CharDevice));
        assert_eq!(ino.uid, 0x1_1234);
        assert_eq!(
            ino.mtime,
            Timestamp {
                secs: (1i64 << 32) - 1,
                nanos: 5
            }
        );
        assert_eq!(
            ino.rdev,
            Some(DeviceNumber {
                major: 259,
                minor: 70000
            })
        );
        assert!(ino.crtime.is_some());
    }

    #[test]
    fn refuses_extra_isize_past_the_record() {
        let mut raw = vec![0u8; 256];
        raw[0x80..0x82].copy_from_slice(&200u16.to_le_bytes());
        assert!(Inode::parse(3, &raw, 0).is_err());
        assert!(Inode::parse(3, &raw[..100], 0).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_inodes_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            if let Ok(i) = Inode::parse(5, &raw, u64::MAX / 2) {
                let _ = (i.file_type(), i.is_fast_symlink(), i.xattr_area_location(1024));
            }
        }
    }
}
