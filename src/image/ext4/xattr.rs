//! Extended attributes: the in-inode area and the external attribute block.
//!
//! Names get their namespace prefix back from the on-disk name index (as the kernel's
//! handler table does), and POSIX ACLs are converted from ext4's compact form to the
//! `system.posix_acl_*` value user space sees, as `getfattr` and `debugfs ea_get` show
//! them. Values kept in a separate inode (ea_inode feature) are returned as references for
//! [`super::Ext4`] to read; this module does no I/O.

use super::error::Ext4Error;
use super::field::{le16, le32, u8_at};

/// The magic number opening both the in-inode area and the attribute block.
const XATTR_MAGIC: u32 = 0xEA02_0000;
/// Size of the attribute block header.
const BLOCK_HEADER_LEN: usize = 32;
/// Size of an entry before its name.
const ENTRY_HEADER_LEN: usize = 16;
/// The largest value Linux lets an attribute hold.
pub(crate) const MAX_VALUE_LEN: u32 = 65536;

/// One extended attribute with its full name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Xattr {
    /// The full name, namespace included: `user.foo`, `security.capability`, ...
    pub name: Vec<u8>,
    /// The value as user space sees it.
    pub value: Vec<u8>,
}

/// Where an entry's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueRef {
    /// The bytes, read from the area or block.
    Here(Vec<u8>),
    /// `size` bytes held as the data of inode `ino`.
    InInode { ino: u32, size: u32 },
}

/// An entry whose value may still have to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawXattr {
    pub(crate) name: Vec<u8>,
    pub(crate) value: ValueRef,
    /// Offset of an in-place value from the start of the value area, so inline data can be
    /// mapped to its place on disk.
    pub(crate) value_offset: usize,
}

fn bad(ino: u32, why: String) -> Ext4Error {
    Ext4Error::BadXattr { ino, why }
}

/// The prefix for a name index, as in the kernel's `ext4_xattr_handler_map`.
fn prefix(index: u8) -> Option<&'static [u8]> {
    Some(match index {
        1 => b"user.",
        2 => b"system.posix_acl_access",
        3 => b"system.posix_acl_default",
        4 => b"trusted.",
        6 => b"security.",
        7 => b"system.",
        8 => b"system.richacl",
        _ => return None,
    })
}

/// Parses the in-inode attribute area (the bytes after `i_extra_isize`). An area without
/// the magic number holds no attributes.
pub(crate) fn parse_inode_area(ino: u32, area: &[u8]) -> Result<Vec<RawXattr>, Ext4Error> {
    if area.len() < 4 || le32(area, 0) != XATTR_MAGIC {
        return Ok(Vec::new());
    }
    let entries = area.get(4..).unwrap_or_default();
    parse_entries(ino, entries, 0, entries)
}

/// Parses an external attribute block.
pub(crate) fn parse_block(ino: u32, block: &[u8]) -> Result<Vec<RawXattr>, Ext4Error> {
    let magic = le32(block, 0);
    if magic != XATTR_MAGIC {
        return Err(bad(ino, format!("attribute block magic is {magic:#x}")));
    }
    let h_blocks = le32(block, 8);
    if h_blocks != 1 {
        return Err(bad(
            ino,
            format!("attribute block spans {h_blocks} blocks, not 1"),
        ));
    }
    parse_entries(ino, block, BLOCK_HEADER_LEN, block)
}

/// Parses the entry table of `region` starting at `start`; value offsets count from the
/// start of `values`.
fn parse_entries(
    ino: u32,
    region: &[u8],
    start: usize,
    values: &[u8],
) -> Result<Vec<RawXattr>, Ext4Error> {
    let mut out = Vec::new();
    let mut off = start;
    loop {
        // The table ends with four zero bytes, or with the area itself.
        if off.saturating_add(4) > region.len() || le32(region, off) == 0 {
            return Ok(out);
        }
        let name_len = usize::from(u8_at(region, off));
        let index = u8_at(region, off + 1);
        let value_offs = usize::from(le16(region, off + 2));
        let value_inum = le32(region, off + 4);
        let value_size = le32(region, off + 8);
        let name_start = off + ENTRY_HEADER_LEN;
        let name = region
            .get(name_start..name_start + name_len)
            .ok_or_else(|| bad(ino, format!("entry at byte {off} runs past the area")))?;
        let prefix = prefix(index).ok_or_else(|| {
            bad(
                ino,
                format!("entry at byte {off} has unknown name index {index}"),
            )
        })?;
        let mut full = prefix.to_vec();
        full.extend_from_slice(name);
        if value_size > MAX_VALUE_LEN {
            return Err(bad(
                ino,
                format!("value of {value_size} bytes is over 64 KiB"),
            ));
        }
        let value = if value_inum != 0 {
            ValueRef::InInode {
                ino: value_inum,
                size: value_size,
            }
        } else {
            let v = values
                .get(value_offs..value_offs + value_size as usize)
                .ok_or_else(|| {
                    bad(
                        ino,
                        format!("value at {value_offs} of {value_size} bytes runs past the area"),
                    )
                })?;
            ValueRef::Here(user_value(index, v))
        };
        out.push(RawXattr {
            name: full,
            value,
            value_offset: value_offs,
        });
        off = name_start + ((name_len + 3) & !3);
    }
}

/// Converts a value from its on-disk form to the one user space sees: only POSIX ACLs
/// differ. A malformed ACL is passed through unchanged so nothing is lost.
pub(crate) fn user_value(index: u8, v: &[u8]) -> Vec<u8> {
    if matches!(index, 2 | 3)
        && let Some(acl) = acl_to_user(v)
    {
        return acl;
    }
    v.to_vec()
}

/// ext4's compact ACL (version 1; short entries for owner, group, mask and other) to the
/// `posix_acl_xattr` form (version 2, every entry 8 bytes, undefined ids as 0xffffffff).
fn acl_to_user(v: &[u8]) -> Option<Vec<u8>> {
    if le32(v, 0) != 1 || v.len() < 4 {
        return None;
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut off = 4;
    while off < v.len() {
        let tag = le16(v, off);
        let perm = le16(v, off + 2);
        let (id, len) = match tag {
            // ACL_USER and ACL_GROUP carry an id.
            2 | 8 => (le32(v, off + 4), 8),
            1 | 4 | 0x10 | 0x20 => (u32::MAX, 4),
            _ => return None,
        };
        if off + len > v.len() {
            return None;
        }
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        off += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u8, name: &[u8], offs: u16, size: u32) -> Vec<u8> {
        let mut e = vec![name.len() as u8, index];
        e.extend_from_slice(&offs.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(name);
        while e.len() % 4 != 0 {
            e.push(0);
        }
        e
    }

    #[test]
    fn reads_in_inode_entries_with_prefixes() {
        let mut area = XATTR_MAGIC.to_le_bytes().to_vec();
        area.extend(entry(6, b"capability", 60, 3));
        area.extend(entry(1, b"x", 64, 2));
        area.resize(4 + 60, 0);
        area.extend_from_slice(b"cap\0hi");
        let got = parse_inode_area(7, &area).unwrap();
        assert_eq!(got[0].name, b"security.capability");
        assert_eq!(got[0].value, ValueRef::Here(b"cap".to_vec()));
        assert_eq!(got[1].name, b"user.x");
        assert_eq!(got[1].value, ValueRef::Here(b"hi".to_vec()));
    }

    #[test]
    fn refuses_values_and_names_past_the_end() {
        let mut area = XATTR_MAGIC.to_le_bytes().to_vec();
        area.extend(entry(1, b"x", 60000, 3));
        assert!(parse_inode_area(7, &area).is_err());
        let mut area = XATTR_MAGIC.to_le_bytes().to_vec();
        area.extend(entry(9, b"x", 0, 0));
        assert!(parse_inode_area(7, &area).is_err());
        assert!(parse_block(7, &[0u8; 64]).is_err());
    }

    #[test]
    fn converts_compact_acls() {
        let mut v = 1u32.to_le_bytes().to_vec();
        v.extend_from_slice(&[1, 0, 6, 0]); // user::rw-
        v.extend_from_slice(&[2, 0, 4, 0, 0xe8, 3, 0, 0]); // user:1000:r--
        let user = user_value(2, &v);
        assert_eq!(&user[..4], &2u32.to_le_bytes());
        assert_eq!(&user[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&user[12..20], &[2, 0, 4, 0, 0xe8, 3, 0, 0]);
    }

    proptest::proptest! {
        #[test]
        fn random_areas_never_panic(mut data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            let _ = parse_block(1, &data);
            let _ = user_value(2, &data);
            if data.len() >= 4 {
                data[..4].copy_from_slice(&XATTR_MAGIC.to_le_bytes());
            }
            let _ = parse_inode_area(1, &data);
            if data.len() >= 12 {
                data[8..12].copy_from_slice(&1u32.to_le_bytes());
            }
            let _ = parse_block(1, &data);
        }
    }
}
