//! The superblock: the geometry and identity of the filesystem, checked against the source.
//!
//! Parsing validates every field later arithmetic relies on (block size, counts, group
//! geometry) against the size of the source, so the rest of the reader can compute
//! offsets without meeting absurd values. It does not verify the superblock checksum.

use super::error::Ext4Error;
use super::feature::{Features, INCOMPAT_64BIT, RO_COMPAT_BIGALLOC};
use super::field::{array, le16, le32, lo_hi, u8_at};

/// Byte offset of the primary superblock.
pub(crate) const SUPERBLOCK_OFFSET: u64 = 1024;
/// Size of the superblock record.
pub(crate) const SUPERBLOCK_SIZE: usize = 1024;
const MAGIC: u16 = 0xEF53;

/// What the filesystem does when the kernel finds an error (`s_errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsBehaviour {
    /// Keep going (`continue`).
    Continue,
    /// Remount read-only (`remount-ro`).
    RemountReadOnly,
    /// Panic the kernel (`panic`).
    Panic,
    /// A value e2fsprogs has no name for.
    Unknown(u16),
}

impl ErrorsBehaviour {
    /// The name `mke2fs -e` and `tune2fs -e` take, if the value has one.
    pub fn mkfs_name(&self) -> Option<&'static str> {
        match self {
            Self::Continue => Some("continue"),
            Self::RemountReadOnly => Some("remount-ro"),
            Self::Panic => Some("panic"),
            Self::Unknown(_) => None,
        }
    }
}

/// The parsed and checked superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// The volume label (`s_volume_name`), without trailing NULs.
    pub label: Vec<u8>,
    /// The filesystem UUID (`s_uuid`).
    pub uuid: [u8; 16],
    /// The feature words.
    pub features: Features,
    /// Bytes per block, 1024 to 65536.
    pub block_size: u32,
    /// Bytes per inode record on disk.
    pub inode_size: u16,
    /// Total blocks.
    pub blocks_count: u64,
    /// Blocks reserved for the superuser.
    pub reserved_blocks_count: u64,
    /// Free blocks.
    pub free_blocks_count: u64,
    /// Total inodes.
    pub inodes_count: u32,
    /// Free inodes.
    pub free_inodes_count: u32,
    /// The first block of block group 0 (1 for 1 KiB blocks, else 0).
    pub first_data_block: u32,
    /// Blocks per block group.
    pub blocks_per_group: u32,
    /// Inodes per block group.
    pub inodes_per_group: u32,
    /// Blocks reserved after the group descriptors for online growth.
    pub reserved_gdt_blocks: u16,
    /// The directory hash seed (`s_hash_seed`).
    pub hash_seed: [u8; 16],
    /// The default directory hash algorithm number (`s_def_hash_version`).
    pub default_hash_version: u8,
    /// What to do on errors.
    pub errors: ErrorsBehaviour,
    /// When the filesystem was made (`s_mkfs_time`), seconds since the epoch; 0 if unset.
    pub created: u64,
    /// First inode number usable for ordinary files.
    pub first_ino: u32,
    /// Size of group descriptors in bytes (32, or more with 64bit).
    pub desc_size: u16,
    /// `s_first_meta_bg`, for the meta_bg layout.
    pub first_meta_bg: u32,
    /// `s_log_groups_per_flex`.
    pub log_groups_per_flex: u8,
    /// `s_min_extra_isize`.
    pub min_extra_isize: u16,
    /// `s_want_extra_isize`.
    pub want_extra_isize: u16,
    /// `s_rev_level`: 0 for the original fixed-inode-size format.
    pub rev_level: u32,
}

fn bad(field: &'static str, value: impl Into<u64>, why: &'static str) -> Ext4Error {
    Ext4Error::BadSuperblock {
        field,
        value: value.into(),
        why,
    }
}

/// Formats 16 bytes as a lowercase 8-4-4-4-12 UUID string.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Superblock {
    /// Parses and checks the 1024 superblock bytes against a source of `source_size` bytes.
    pub(crate) fn parse(b: &[u8], source_size: u64) -> Result<Self, Ext4Error> {
        if b.len() < SUPERBLOCK_SIZE {
            return Err(bad("length", b.len() as u64, "shorter than 1024 bytes"));
        }
        let magic = le16(b, 0x38);
        if magic != MAGIC {
            return Err(Ext4Error::BadMagic { found: magic });
        }
        let features = Features {
            compat: le32(b, 0x5C),
            incompat: le32(b, 0x60),
            ro_compat: le32(b, 0x64),
        };
        let is64 = features.has_incompat(INCOMPAT_64BIT);
        let log = le32(b, 0x18);
        if log > 6 {
            return Err(bad(
                "s_log_block_size",
                log,
                "block sizes above 64 KiB do not exist",
            ));
        }
        let block_size = 1024u32 << log;
        let rev_level = le32(b, 0x4C);
        let (inode_size, first_ino) = if rev_level == 0 {
            (128u16, 11u32)
        } else {
            (le16(b, 0x58), le32(b, 0x54))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u32::from(inode_size) > block_size {
            return Err(bad(
                "s_inode_size",
                inode_size,
                "must be a power of two from 128 to the block size",
            ));
        }
        let hi = |off| if is64 { le32(b, off) } else { 0 };
        let blocks_count = lo_hi(le32(b, 0x4), hi(0x150));
        let reserved_blocks_count = lo_hi(le32(b, 0x8), hi(0x154));
        let free_blocks_count = lo_hi(le32(b, 0xC), hi(0x158));
        let inodes_count = le32(b, 0x0);
        let free_inodes_count = le32(b, 0x10);
        let first_data_block = le32(b, 0x14);
        let blocks_per_group = le32(b, 0x20);
        let inodes_per_group = le32(b, 0x28);
        let desc_size = if is64 { le16(b, 0xFE) } else { 32 };

        if blocks_count == 0 || blocks_count > (1u64 << 48) {
            return Err(bad(
                "s_blocks_count",
                blocks_count,
                "must be between 1 and 2^48",
            ));
        }
        let claimed = blocks_count
            .checked_mul(u64::from(block_size))
            .ok_or_else(|| bad("s_blocks_count", blocks_count, "overflows the byte size"))?;
        if claimed > source_size {
            return Err(Ext4Error::Truncated {
                claimed,
                available: source_size,
            });
        }
        if u64::from(first_data_block) >= blocks_count || first_data_block > 1 {
            return Err(bad(
                "s_first_data_block",
                first_data_block,
                "must be 0 or 1",
            ));
        }
        // With bigalloc, bitmaps count clusters, so a group spans more blocks.
        let cluster_shift = if features.ro_compat & RO_COMPAT_BIGALLOC != 0 {
            let clog = le32(b, 0x1C);
            if clog < log || clog - log > 16 {
                return Err(bad(
                    "s_log_cluster_size",
                    clog,
                    "must be the block size to 2^16 blocks",
                ));
            }
            clog - log
        } else {
            0
        };
        let max_per_group = (u64::from(block_size) * 8) << cluster_shift;
        if blocks_per_group == 0 || u64::from(blocks_per_group) > max_per_group {
            return Err(bad(
                "s_blocks_per_group",
                blocks_per_group,
                "must be 1 to 8 times the block size (in clusters)",
            ));
        }
        if inodes_per_group == 0 || inodes_per_group > block_size.saturating_mul(8) {
            return Err(bad(
                "s_inodes_per_group",
                inodes_per_group,
                "must be 1 to 8 times the block size",
            ));
        }
        if free_blocks_count > blocks_count {
            return Err(bad(
                "s_free_blocks_count",
                free_blocks_count,
                "exceeds s_blocks_count",
            ));
        }
        if free_inodes_count > inodes_count {
            return Err(bad(
                "s_free_inodes_count",
                free_inodes_count,
                "exceeds s_inodes_count",
            ));
        }
        if desc_size < 32 || !desc_size.is_power_of_two() || u32::from(desc_size) > block_size {
            return Err(bad(
                "s_desc_size",
                desc_size,
                "must be a power of two from 32 to the block size",
            ));
        }
        let sb = Self {
            label: trim_nuls(b.get(0x78..0x88).unwrap_or_default()),
            uuid: array::<16>(b, 0x68).unwrap_or_default(),
            features,
            block_size,
            inode_size,
            blocks_count,
            reserved_blocks_count,
            free_blocks_count,
            inodes_count,
            free_inodes_count,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            reserved_gdt_blocks: le16(b, 0xCE),
            hash_seed: array::<16>(b, 0xEC).unwrap_or_default(),
            default_hash_version: u8_at(b, 0xFC),
            errors: match le16(b, 0x3C) {
                1 => ErrorsBehaviour::Continue,
                2 => ErrorsBehaviour::RemountReadOnly,
                3 => ErrorsBehaviour::Panic,
                other => ErrorsBehaviour::Unknown(other),
            },
            created: u64::from(le32(b, 0x108)),
            first_ino,
            desc_size,
            first_meta_bg: le32(b, 0x104),
            log_groups_per_flex: u8_at(b, 0x174),
            min_extra_isize: le16(b, 0x15C),
            want_extra_isize: le16(b, 0x15E),
            rev_level,
        };
        let groups = sb.group_count();
        let needed = u64::from(groups).saturating_mul(u64::from(inodes_per_group));
        if u64::from(inodes_count) != needed {
            return Err(bad(
                "s_inodes_count",
                inodes_count,
                "differs from groups times s_inodes_per_group",
            ));
        }
        Ok(sb)
    }

    /// The number of block groups.
    pub fn group_count(&self) -> u32 {
        let data = self.blocks_count - u64::from(self.first_data_block);
        let groups = data.div_ceil(u64::from(self.blocks_per_group));
        // blocks_count <= 2^48 and blocks_per_group >= 1 keep this in range for real
        // filesystems; a hostile value saturates and then fails the inode count check.
        u32::try_from(groups).unwrap_or(u32::MAX)
    }

    /// The UUID as a lowercase 8-4-4-4-12 string, as `blkid` prints it.
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }

    /// The hash seed as a UUID-style string, as `dumpe2fs` prints it.
    pub fn hash_seed_string(&self) -> String {
        format_uuid(&self.hash_seed)
    }

    /// The name of the default directory hash algorithm, as the kernel names it.
    pub fn default_hash_name(&self) -> Option<&'static str> {
        match self.default_hash_version {
            0 => Some("legacy"),
            1 => Some("half_md4"),
            2 => Some("tea"),
            3 => Some("legacy_unsigned"),
            4 => Some("half_md4_unsigned"),
            5 => Some("tea_unsigned"),
            6 => Some("siphash"),
            _ => None,
        }
    }

    /// Feature names in `dumpe2fs -h` order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features.names()
    }

    /// The `mke2fs -O` argument that recreates this feature set (see
    /// [`super::Features::mkfs_option`]).
    pub fn mkfs_feature_option(&self) -> String {
        self.features.mkfs_option()
    }

    /// Whether this group holds a superblock backup (and group descriptors).
    pub(crate) fn group_has_super(&self, group: u32) -> bool {
        if group <= 1 || self.features.ro_compat & super::feature::RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| is_power_of(group, base))
    }
}

fn is_power_of(mut n: u32, base: u32) -> bool {
    if n == 0 {
        return false;
    }
    while n.is_multiple_of(base) {
        n /= base;
    }
    n == 1
}

fn trim_nuls(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b.get(..end).unwrap_or_default().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        let put32 = |b: &mut Vec<u8>, off: usize, v: u32| {
            b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        };
        put32(&mut b, 0x0, 64); // inodes
        put32(&mut b, 0x4, 1024); // blocks
        put32(&mut b, 0x14, 1); // first data block
        put32(&mut b, 0x20, 8192);
        put32(&mut b, 0x28, 64);
        put32(&mut b, 0x4C, 1);
        b[0x38..0x3A].copy_from_slice(&MAGIC.to_le_bytes());
        b[0x58..0x5A].copy_from_slice(&256u16.to_le_bytes());
        b[0x78..0x7B].copy_from_slice(b"abc");
        b
    }

    #[test]
    fn parses_a_minimal_superblock_and_checks_the_size() {
        let sb = Superblock::parse(&minimal(), 1 << 20).unwrap();
        assert_eq!(sb.block_size, 1024);
        assert_eq!(sb.label, b"abc");
        assert_eq!(sb.group_count(), 1);
        assert!(matches!(
            Superblock::parse(&minimal(), 1000),
            Err(Ext4Error::Truncated { .. })
        ));
    }

    #[test]
    fn refuses_bad_geometry() {
        let mut b = minimal();
        b[0x18] = 7;
        assert!(matches!(
            Superblock::parse(&b, 1 << 30),
            Err(Ext4Error::BadSuperblock {
                field: "s_log_block_size",
                ..
            })
        ));
        let mut b = minimal();
        b[0x0] = 65;
        assert!(Superblock::parse(&b, 1 << 30).is_err());
        let mut b = minimal();
        b[0x38] = 0;
        assert!(matches!(
            Superblock::parse(&b, 1 << 30),
            Err(Ext4Error::BadMagic { .. })
        ));
    }

    #[test]
    fn uuid_and_backup_groups() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ];
        assert_eq!(format_uuid(&u), "12345678-9abc-def0-0001-020304050607");
        let mut b = minimal();
        b[0x64] = 1;
        let sb = Superblock::parse(&b, 1 << 20).unwrap();
        let backups: Vec<u32> = (0..30).filter(|&g| sb.group_has_super(g)).collect();
        assert_eq!(backups, [0, 1, 3, 5, 7, 9, 25, 27]);
    }

    proptest::proptest! {
        #[test]
        fn random_superblocks_never_panic(
            edits in proptest::collection::vec((0usize..1024, proptest::prelude::any::<u8>()), 0..32),
            size in proptest::prelude::any::<u64>(),
        ) {
            let mut b = minimal();
            for (at, v) in edits {
                b[at] = v;
            }
            if let Ok(sb) = Superblock::parse(&b, size) {
                let _ = (sb.group_count(), sb.feature_names(), sb.mkfs_feature_option());
                let _ = (0..64).filter(|&g| sb.group_has_super(g)).count();
            }
        }
    }
}
