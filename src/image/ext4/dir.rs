//! Directory entries, from linear, hashed (htree) and inline directories.
//!
//! Hashed directories are read linearly: their index blocks look like one empty entry
//! spanning the block, so every leaf entry is found without computing a hash. `.`, `..`,
//! deleted entries and metadata_csum tail entries are skipped. Every `rec_len` and
//! `name_len` is checked against the block. This module does not follow entries to their
//! inodes.

use super::error::Ext4Error;
use super::field::{le16, le32, u8_at};
use super::inode::FileType;

/// Size of an entry before its name.
const ENTRY_HEADER_LEN: usize = 8;

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as stored (any bytes but `/` and NUL).
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u32,
    /// The type recorded in the entry, when the filetype feature is on.
    pub file_type: Option<FileType>,
}

/// How to parse entries of one directory.
pub(crate) struct DirFormat {
    pub(crate) dir_ino: u32,
    pub(crate) block_size: u32,
    /// Whether `name_len` is one byte followed by a type byte (filetype feature).
    pub(crate) has_filetype: bool,
}

impl DirFormat {
    fn bad(&self, offset: u64, why: String) -> Ext4Error {
        Ext4Error::BadDirEntry {
            ino: self.dir_ino,
            offset,
            why,
        }
    }

    /// `rec_len` as stored; 64 KiB blocks need a 17th bit, kept in the low two bits.
    fn rec_len(&self, raw: u16) -> usize {
        if self.block_size < 65536 {
            return usize::from(raw);
        }
        if raw == u16::MAX || raw == 0 {
            return self.block_size as usize;
        }
        usize::from(raw & 0xFFFC) | (usize::from(raw & 3) << 16)
    }

    /// Parses the entries filling `data`, which starts at byte `base` of the directory,
    /// and appends the live ones to `out`.
    pub(crate) fn parse(
        &self,
        data: &[u8],
        base: u64,
        out: &mut Vec<DirEntry>,
    ) -> Result<(), Ext4Error> {
        let mut off = 0usize;
        while off < data.len() {
            let at = base.saturating_add(off as u64);
            if off + ENTRY_HEADER_LEN > data.len() {
                return Err(self.bad(at, "entry header runs past the block".into()));
            }
            let ino = le32(data, off);
            let rec_len = self.rec_len(le16(data, off + 4));
            let (name_len, type_byte) = if self.has_filetype {
                (usize::from(u8_at(data, off + 6)), u8_at(data, off + 7))
            } else {
                (usize::from(le16(data, off + 6)), 0)
            };
            if rec_len < ENTRY_HEADER_LEN
                || !rec_len.is_multiple_of(4)
                || rec_len > data.len() - off
            {
                return Err(self.bad(
                    at,
                    format!(
                        "rec_len {rec_len} is not a multiple of 4 between 8 and the {} bytes left",
                        data.len() - off
                    ),
                ));
            }
            if ENTRY_HEADER_LEN + name_len > rec_len {
                return Err(self.bad(
                    at,
                    format!("name_len {name_len} does not fit rec_len {rec_len}"),
                ));
            }
            let name = data
                .get(off + ENTRY_HEADER_LEN..off + ENTRY_HEADER_LEN + name_len)
                .unwrap_or_default();
            if ino != 0 && name != b"." && name != b".." {
                if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                    return Err(self.bad(
                        at,
                        format!("invalid name {:?}", name.escape_ascii().to_string()),
                    ));
                }
                out.push(DirEntry {
                    name: name.to_vec(),
                    ino,
                    file_type: FileType::from_dirent(type_byte),
                });
            }
            off += rec_len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ino: u32, rec_len: u16, name: &[u8], t: u8) -> Vec<u8> {
        let mut e = ino.to_le_bytes().to_vec();
        e.extend_from_slice(&rec_len.to_le_bytes());
        e.push(name.len() as u8);
        e.push(t);
        e.extend_from_slice(name);
        e.resize(usize::from(rec_len), 0);
        e
    }

    fn fmt() -> DirFormat {
        DirFormat {
            dir_ino: 2,
            block_size: 1024,
            has_filetype: true,
        }
    }

    #[test]
    fn skips_dots_deleted_and_tail_entries() {
        let mut b = entry(2, 12, b".", 2);
        b.extend(entry(2, 12, b"..", 2));
        b.extend(entry(0, 16, b"gone", 1));
        b.extend(entry(12, 1024 - 40 - 12, b"hello", 1));
        b.extend(entry(0, 12, b"", 0xDE));
        let mut out = Vec::new();
        fmt().parse(&b, 0, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"hello");
        assert_eq!(out[0].file_type, Some(FileType::Regular));
    }

    #[test]
    fn refuses_bad_lengths() {
        for b in [
            entry(12, 6, b"", 1),
            entry(12, 13, b"a", 1),
            entry(12, 12, b"abcdefgh", 1),
            entry(12, 12, b"a/b", 1),
        ] {
            let mut padded = b.clone();
            padded.resize(16, 0);
            assert!(fmt().parse(&padded, 0, &mut Vec::new()).is_err());
        }
        let mut b = entry(12, 12, b"a", 1);
        b[4..6].copy_from_slice(&2000u16.to_le_bytes());
        assert!(fmt().parse(&b, 0, &mut Vec::new()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_blocks_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048), ft in proptest::prelude::any::<bool>()) {
            let f = DirFormat { dir_ino: 2, block_size: 65536, has_filetype: ft };
            let _ = f.parse(&data, 0, &mut Vec::new());
            let _ = fmt().parse(&data, 0, &mut Vec::new());
        }
    }
}
