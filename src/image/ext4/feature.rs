//! Feature flags of the superblock, named as e2fsprogs names them.
//!
//! The names and their order follow `dumpe2fs -h` (compat, then incompat, then ro_compat,
//! each by ascending bit), so a list read from one filesystem can be handed to
//! `mke2fs -O` to make another with the same features. This module does not decide what
//! the rest of the reader supports beyond listing the incompat features it refuses.

/// The three feature words of a superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// `s_feature_compat`: safe to ignore for reading and writing.
    pub compat: u32,
    /// `s_feature_incompat`: a reader that does not know one must refuse.
    pub incompat: u32,
    /// `s_feature_ro_compat`: safe to ignore for reading only.
    pub ro_compat: u32,
}

/// incompat bits the reader looks at.
pub(crate) const INCOMPAT_FILETYPE: u32 = 0x2;
pub(crate) const INCOMPAT_RECOVER: u32 = 0x4;
pub(crate) const INCOMPAT_META_BG: u32 = 0x10;
pub(crate) const INCOMPAT_EXTENTS: u32 = 0x40;
pub(crate) const INCOMPAT_64BIT: u32 = 0x80;
pub(crate) const INCOMPAT_EA_INODE: u32 = 0x400;
pub(crate) const INCOMPAT_INLINE_DATA: u32 = 0x8000;

/// ro_compat bits the reader looks at.
pub(crate) const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
pub(crate) const RO_COMPAT_BIGALLOC: u32 = 0x200;

/// incompat bits this reader understands; any other set bit makes `open` refuse.
const INCOMPAT_READABLE: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_META_BG
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | 0x100 // mmp: only matters to writers
    | 0x200 // flex_bg: placement only
    | INCOMPAT_EA_INODE
    | 0x2000 // metadata_csum_seed
    | 0x4000 // large_dir: htree leaves are read linearly anyway
    | INCOMPAT_INLINE_DATA
    | 0x20000; // casefold: names are stored as given

const COMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "dir_prealloc"),
    (0x2, "imagic_inodes"),
    (0x4, "has_journal"),
    (0x8, "ext_attr"),
    (0x10, "resize_inode"),
    (0x20, "dir_index"),
    (0x40, "lazy_bg"),
    (0x100, "snapshot_bitmap"),
    (0x200, "sparse_super2"),
    (0x400, "fast_commit"),
    (0x800, "stable_inodes"),
    (0x1000, "orphan_file"),
];

const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x4, "needs_recovery"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x40, "extent"),
    (0x80, "64bit"),
    (0x100, "mmp"),
    (0x200, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];

const RO_COMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "sparse_super"),
    (0x2, "large_file"),
    (0x8, "huge_file"),
    (0x10, "uninit_bg"),
    (0x20, "dir_nlink"),
    (0x40, "extra_isize"),
    (0x100, "quota"),
    (0x200, "bigalloc"),
    (0x400, "metadata_csum"),
    (0x800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];

/// Features that describe a state of one filesystem rather than its format, or that make a
/// journal device instead of a filesystem: `mke2fs -O` must not be given them.
const NOT_FOR_MKFS: &[&str] = &[
    "needs_recovery",
    "journal_dev",
    "orphan_present",
    "read-only",
];

/// The e2fsprogs name of one bit; unknown bits get e2fsprogs' `FEATURE_<C|I|R><bit>` form.
fn bit_name(table: &[(u32, &'static str)], kind: char, bit: u32) -> String {
    let mask = 1u32 << bit;
    match table.iter().find(|(m, _)| *m == mask) {
        Some((_, name)) => (*name).to_string(),
        None => format!("FEATURE_{kind}{bit}"),
    }
}

fn names_of(word: u32, table: &[(u32, &'static str)], kind: char) -> Vec<String> {
    (0..32)
        .filter(|bit| word & (1u32 << bit) != 0)
        .map(|bit| bit_name(table, kind, bit))
        .collect()
}

impl Features {
    /// Every set feature, in the order `dumpe2fs -h` prints them.
    pub fn names(&self) -> Vec<String> {
        let mut all = names_of(self.compat, COMPAT_NAMES, 'C');
        all.extend(names_of(self.incompat, INCOMPAT_NAMES, 'I'));
        all.extend(names_of(self.ro_compat, RO_COMPAT_NAMES, 'R'));
        all
    }

    /// The features to give `mke2fs -O` to make a filesystem of the same format: every set
    /// feature except state flags (`needs_recovery`, `orphan_present`, ...) and bits
    /// e2fsprogs has no name for.
    pub fn mkfs_features(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| !n.starts_with("FEATURE_") && !NOT_FOR_MKFS.contains(&n.as_str()))
            .collect()
    }

    /// The argument for `mke2fs -O`: `none,` then [`Self::mkfs_features`], so the defaults
    /// of the local `mke2fs.conf` do not leak in.
    pub fn mkfs_option(&self) -> String {
        let mut s = String::from("none");
        for f in self.mkfs_features() {
            s.push(',');
            s.push_str(&f);
        }
        s
    }

    /// Whether an incompat bit is set.
    pub(crate) fn has_incompat(&self, mask: u32) -> bool {
        self.incompat & mask != 0
    }

    /// Names of the set incompat features this reader cannot read, including
    /// `needs_recovery` which `open` reports separately.
    pub(crate) fn unreadable(&self) -> Vec<String> {
        names_of(self.incompat & !INCOMPAT_READABLE, INCOMPAT_NAMES, 'I')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookworm_features_read_as_dumpe2fs_prints_them() {
        let f = Features {
            compat: 0x4 | 0x8 | 0x10 | 0x20,
            incompat: 0x2 | 0x40 | 0x80 | 0x200,
            ro_compat: 0x1 | 0x2 | 0x20 | 0x40 | 0x400,
        };
        assert_eq!(
            f.names().join(" "),
            "has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg \
             sparse_super large_file dir_nlink extra_isize metadata_csum"
        );
        assert!(f.unreadable().is_empty());
    }

    #[test]
    fn unknown_and_state_bits() {
        let f = Features {
            compat: 0x80,
            incompat: INCOMPAT_RECOVER | INCOMPAT_FILETYPE | 0x10000 | (1 << 30),
            ro_compat: 0x10000,
        };
        assert_eq!(
            f.names(),
            [
                "FEATURE_C7",
                "filetype",
                "needs_recovery",
                "encrypt",
                "FEATURE_I30",
                "orphan_present"
            ]
        );
        assert_eq!(f.mkfs_option(), "none,filetype,encrypt");
        assert_eq!(f.unreadable(), ["needs_recovery", "encrypt", "FEATURE_I30"]);
    }
}
