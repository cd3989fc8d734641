//! What the written ext4 filesystem looks like: features, sizes, label, UUID, hash seed,
//! clock, and how that becomes mke2fs arguments and a private `mke2fs.conf`.
//!
//! Every choice that would otherwise come from the host's `/etc/mke2fs.conf` or from mke2fs
//! built-in defaults that changed between releases is written out here, so two hosts with
//! the same mke2fs write the same bytes. Nothing here runs a program.

use std::fmt;
use std::str::FromStr;

use super::error::Mke2fsError;

/// The usage type (`-T`) we define in our config file; its only purpose is to keep mke2fs
/// from looking up `small`, `default` or `big` stanzas the config does not have.
pub(super) const USAGE_TYPE: &str = "pi_imager";

/// A filesystem UUID or hash seed: 16 bytes, written 8-4-4-4-12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FsUuid(pub [u8; 16]);

impl FromStr for FsUuid {
    type Err = Mke2fsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || Mke2fsError::BadUuid {
            text: text.to_string(),
        };
        let groups: Vec<&str> = text.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let hex: String = groups.concat();
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for FsUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// How to format the filesystem. Build one with [`Ext4Params::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Ext4Params {
    /// Volume label (`-L`), at most 16 bytes.
    pub label: String,
    /// Filesystem UUID (`-U`).
    pub uuid: FsUuid,
    /// Directory hash seed (`-E hash_seed=`).
    pub hash_seed: FsUuid,
    /// The exact feature set, by e2fsprogs names (`has_journal`, `metadata_csum`, …):
    /// mke2fs starts from none and turns on only these.
    pub features: Vec<String>,
    /// Block size in bytes (`-b`).
    pub block_size: u32,
    /// Inode size in bytes (`-I`).
    pub inode_size: u32,
    /// Bytes per inode (`-i`); `None` gives 16384, e2fsprogs' default.
    pub inode_ratio: Option<u64>,
    /// An exact inode count (`-N`), instead of `inode_ratio`.
    pub inode_count: Option<u64>,
    /// Percentage of blocks reserved for root (`-m`), 0 to 50.
    pub reserved_percent: f64,
    /// Journal size in MiB (`-J size=`); `None` lets mke2fs size it from the filesystem.
    pub journal_mib: Option<u32>,
    /// The time written into the superblock and into every inode mke2fs creates itself
    /// (`E2FSPROGS_FAKE_TIME`), in seconds since the epoch.
    pub epoch: i64,
}

/// Features of Raspbian jessie-era root filesystems (no `metadata_csum`, no `64bit`).
const JESSIE_FEATURES: &[&str] = &[
    "has_journal",
    "ext_attr",
    "resize_inode",
    "dir_index",
    "filetype",
    "extent",
    "flex_bg",
    "sparse_super",
    "large_file",
    "huge_file",
    "uninit_bg",
    "dir_nlink",
    "extra_isize",
];

/// Features of Raspberry Pi OS bookworm root filesystems (pi-gen's `-O ^huge_file`).
const BOOKWORM_FEATURES: &[&str] = &[
    "has_journal",
    "ext_attr",
    "resize_inode",
    "dir_index",
    "filetype",
    "extent",
    "64bit",
    "flex_bg",
    "sparse_super",
    "large_file",
    "dir_nlink",
    "extra_isize",
    "metadata_csum",
];

impl Ext4Params {
    /// Parameters with 4 KiB blocks, 256-byte inodes, e2fsprogs' default inode ratio and
    /// journal size, and 5 % reserved blocks.
    pub fn new(
        label: &str,
        uuid: FsUuid,
        hash_seed: FsUuid,
        features: &[&str],
        epoch: i64,
    ) -> Self {
        Self {
            label: label.to_string(),
            uuid,
            hash_seed,
            features: features.iter().map(|f| (*f).to_string()).collect(),
            block_size: 4096,
            inode_size: 256,
            inode_ratio: None,
            inode_count: None,
            reserved_percent: 5.0,
            journal_mib: None,
            epoch,
        }
    }

    /// Parameters that recreate the filesystem described by `sb`: its exact feature set,
    /// block size, inode size, inode density, reserved blocks and label, so the kernel and
    /// fsck that accepted it accept the new one. Only the ids and the clock are new.
    pub fn like(
        sb: &crate::image::ext4::Superblock,
        uuid: FsUuid,
        hash_seed: FsUuid,
        epoch: i64,
    ) -> Self {
        let block_size = u64::from(sb.block_size);
        let bytes = sb.blocks_count.saturating_mul(block_size);
        // mke2fs rounds the inode count up to fill whole groups, so bytes / inodes lands a
        // little under the ratio it was made with (4095 for `-i 4096`): round to the nearest
        // KiB, and never below one inode per block, which mke2fs refuses.
        let block_size = u64::from(sb.block_size).max(1024);
        let inode_ratio = (sb.inodes_count > 0)
            .then(|| bytes / u64::from(sb.inodes_count))
            .map(|r| (r.saturating_add(512) / 1024 * 1024).clamp(block_size, 64 << 20));
        let reserved_percent = if sb.blocks_count == 0 {
            5.0
        } else {
            // Whole percent, as mke2fs -m takes it and pi-gen's images use.
            ((sb.reserved_blocks_count as f64 * 100.0) / sb.blocks_count as f64)
                .round()
                .min(50.0)
        };
        Self {
            label: String::from_utf8_lossy(&sb.label).into_owned(),
            uuid,
            hash_seed,
            features: sb.features.mkfs_features(),
            block_size: sb.block_size,
            inode_size: u32::from(sb.inode_size),
            inode_ratio,
            inode_count: None,
            reserved_percent,
            journal_mib: None,
            epoch,
        }
    }

    /// The feature list of Raspbian jessie-era root filesystems (no `metadata_csum`, no
    /// `64bit`), for [`Ext4Params::new`].
    pub const JESSIE: &'static [&'static str] = JESSIE_FEATURES;
    /// The feature list of Raspberry Pi OS bookworm root filesystems (pi-gen formats with
    /// bookworm's defaults and `-O ^huge_file`), for [`Ext4Params::new`].
    pub const BOOKWORM: &'static [&'static str] = BOOKWORM_FEATURES;

    /// Bytes per inode, defaulted.
    pub fn ratio(&self) -> u64 {
        self.inode_ratio.unwrap_or(16384)
    }

    /// Refuses values mke2fs would reject or read differently.
    pub fn validate(&self) -> Result<(), Mke2fsError> {
        let bad = |msg: String| Err(Mke2fsError::BadParams(msg));
        if self.label.len() > 16 || self.label.contains('\0') {
            return bad(format!(
                "the label `{}` is longer than 16 bytes or holds NUL",
                self.label
            ));
        }
        if self.features.is_empty() {
            return bad("the feature list is empty; give the exact list to enable".into());
        }
        for feature in &self.features {
            let ok = !feature.is_empty()
                && feature
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return bad(format!(
                    "`{feature}` is not an e2fsprogs feature name (lowercase letters, digits, `_`)"
                ));
            }
        }
        if !self.block_size.is_power_of_two() || !(1024..=65536).contains(&self.block_size) {
            return bad(format!(
                "block size {} is not a power of two from 1024 to 65536",
                self.block_size
            ));
        }
        if !self.inode_size.is_power_of_two()
            || self.inode_size < 128
            || self.inode_size > self.block_size
        {
            return bad(format!(
                "inode size {} is not a power of two from 128 to the block size",
                self.inode_size
            ));
        }
        if self.inode_ratio.is_some() && self.inode_count.is_some() {
            return bad("give an inode ratio or an inode count, not both".into());
        }
        if self.ratio() < u64::from(self.block_size) {
            return bad(format!(
                "inode ratio {} is smaller than the block size {}",
                self.ratio(),
                self.block_size
            ));
        }
        if self.journal_mib.is_some() && !self.features.iter().any(|f| f == "has_journal") {
            // `-J` would turn the journal on: the feature list must say so itself.
            return bad(
                "a journal size is given but `has_journal` is not among the features".into(),
            );
        }
        if self.inode_count == Some(0) {
            return bad("an inode count of 0".into());
        }
        if !(0.0..=50.0).contains(&self.reserved_percent) {
            return bad(format!(
                "reserved blocks {} % is not between 0 and 50",
                self.reserved_percent
            ));
        }
        if self.epoch <= 0 {
            return bad(format!(
                "the epoch {} is not a positive time; mke2fs would use the clock instead",
                self.epoch
            ));
        }
        Ok(())
    }

    /// Our `mke2fs.conf`: no host defaults (Debian's turn on `orphan_file` and
    /// `metadata_csum_seed`), and stanzas for the types we name so mke2fs does not warn.
    pub(super) fn config_text(&self) -> String {
        let stanza = format!("\t\tinode_size = {}\n", self.inode_size);
        format!(
            "[defaults]\n\
             \tbase_features = {features}\n\
             \tdefault_mntopts = acl,user_xattr\n\
             \tenable_periodic_fsck = 0\n\
             \tblocksize = {bs}\n\
             \tinode_size = {is}\n\
             \tinode_ratio = {ratio}\n\
             \thash_alg = half_md4\n\
             [fs_types]\n\
             \text4 = {{\n{stanza}\t}}\n\
             \t{USAGE_TYPE} = {{\n{stanza}\t}}\n",
            features = self.features.join(","),
            bs = self.block_size,
            is = self.inode_size,
            ratio = self.ratio(),
        )
    }

    /// The options that shape the filesystem (everything but input, offset and target).
    pub(super) fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-t".into(),
            "ext4".into(),
            "-T".into(),
            USAGE_TYPE.into(),
            "-O".into(),
            format!("none,{}", self.features.join(",")),
            "-b".into(),
            self.block_size.to_string(),
            "-I".into(),
            self.inode_size.to_string(),
            "-m".into(),
            self.reserved_percent.to_string(),
            "-L".into(),
            self.label.clone(),
            "-U".into(),
            self.uuid.to_string(),
        ];
        match self.inode_count {
            Some(count) => args.extend(["-N".into(), count.to_string()]),
            None => args.extend(["-i".into(), self.ratio().to_string()]),
        }
        if let Some(mib) = self.journal_mib {
            args.extend(["-J".into(), format!("size={mib}")]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_and_bad_ones_are_refused() {
        let text = "01234567-89ab-cdef-0123-456789abcdef";
        let uuid: FsUuid = text.parse().unwrap();
        assert_eq!(uuid.0[0], 0x01);
        assert_eq!(uuid.0[15], 0xef);
        assert_eq!(uuid.to_string(), text);
        for bad in [
            "",
            "0123456789abcdef0123456789abcdef",
            "0123456g-89ab-cdef-0123-456789abcdef",
        ] {
            assert!(bad.parse::<FsUuid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_catches_what_mke2fs_would_misread() {
        let ok = Ext4Params::new(
            "rootfs",
            FsUuid::default(),
            FsUuid::default(),
            Ext4Params::BOOKWORM,
            1,
        );
        ok.validate().unwrap();
        let mut p = ok.clone();
        p.label = "x".repeat(17);
        assert!(p.validate().is_err());
        let mut p = ok.clone();
        p.features.push("^huge_file".into());
        assert!(p.validate().is_err());
        let mut p = ok.clone();
        p.inode_size = 8192;
        assert!(p.validate().is_err());
        let mut p = ok.clone();
        p.epoch = 0;
        assert!(p.validate().is_err());
        let mut p = ok.clone();
        p.journal_mib = Some(16);
        p.features.retain(|f| f != "has_journal");
        assert!(p.validate().is_err());
        let args = ok.args().join(" ");
        assert!(args.contains("-O none,has_journal,ext_attr"), "{args}");
        assert!(ok.config_text().contains("ext4 = {"));
        assert!(!ok.config_text().contains("orphan_file"));
    }
}
