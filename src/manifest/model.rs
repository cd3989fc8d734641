//! The manifest's JSON schema as Rust types. Field order here is key order in the file;
//! every struct refuses unknown fields when parsed. `docs/manifest-json.md` describes each
//! field for people; this module is its single source for programs. It does not read
//! images (see `describe`) or check the values beyond their form (see `validate`).

use serde::{Deserialize, Serialize};

use super::change::{ChangeRule, builtin_rules};
use super::checksum::Checksum;
use super::error::ManifestError;
use super::facts::{InputDigest, LockRef, OutputFile, PackageRecord};
use super::path::{EncodedBytes, EncodedPath};

/// The two filesystems of a Raspberry Pi OS card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    /// The FAT boot partition; its paths are relative to the partition's root.
    Boot,
    /// The ext4 root filesystem.
    Root,
}

/// A build manifest: `<name>-<node>.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`SCHEMA`](super::SCHEMA).
    pub schema: String,
    /// The build: tool, profile, node.
    pub build: BuildInfo,
    /// Every input with its digest.
    pub inputs: Vec<InputDigest>,
    /// Every installed package.
    pub packages: Vec<PackageRecord>,
    /// Packages removed from the base.
    pub removed: Vec<String>,
    /// Sentences worth keeping with the image.
    pub notes: Vec<String>,
    /// The raw image file.
    pub image: ImageInfo,
    /// Every partition of the table, in table order.
    pub partitions: Vec<PartitionEntry>,
    /// The block map: the same ranges and digests as the `.bmap` file.
    pub blocks: BlockMap,
    /// Every regular file of both filesystems, sorted by (filesystem, path).
    pub files: Vec<FileEntry>,
    /// Every symbolic link of both filesystems, sorted by (filesystem, path).
    pub symlinks: Vec<SymlinkEntry>,
    /// The rules that set `expected_to_change`, kept so `verify` can apply them to paths
    /// the manifest does not list (files a running node adds).
    pub expected_to_change: Vec<ChangeRule>,
    /// The build's other output files (compressed image, drive image).
    pub outputs: Vec<OutputFile>,
}

/// What built the image, from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    /// The pi-imager version.
    pub tool_version: String,
    /// The profile's file name.
    pub profile: String,
    /// The profile file's digest.
    pub profile_digest: Checksum,
    /// The node's name in the profile.
    pub node: String,
    /// The node's host name.
    pub hostname: String,
    /// The board.
    pub board: String,
    /// The Raspberry Pi OS generation.
    pub generation: String,
    /// The lock file used, if any.
    pub lock: Option<LockRef>,
    /// Every timestamp of the image, Unix seconds.
    pub epoch: i64,
}

/// The raw image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInfo {
    /// Its file name, without a directory.
    pub name: String,
    /// Its length in bytes: the card size it was made for.
    pub size: u64,
    /// The digest of all its bytes, holes read as zeros.
    pub sha256: Checksum,
    /// Its partition table.
    pub table: TableInfo,
}

/// The partition table's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// A DOS/MBR table.
    Mbr,
    /// A GUID partition table.
    Gpt,
}

/// The partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableInfo {
    /// `mbr` or `gpt`.
    pub kind: TableFormat,
    /// MBR: the disk id as 8 lowercase hex digits; GPT: the disk GUID, lowercase.
    pub id: String,
}

/// What a partition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionRole {
    /// The FAT boot partition.
    Boot,
    /// The ext4 root partition.
    Root,
    /// Any other partition.
    Other,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionEntry {
    /// 1-based number, as in `/dev/mmcblk0p1`.
    pub number: u32,
    /// What it is for.
    pub role: PartitionRole,
    /// The type: `0x0c` (MBR) or the type GUID in capitals (GPT), as `fdisk` shows it.
    #[serde(rename = "type")]
    pub kind: String,
    /// Offset of its first byte in the image.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// As Linux names it in `root=PARTUUID=`.
    pub partuuid: String,
    /// The GPT partition name; empty for MBR.
    pub name: String,
    /// The MBR active flag or GPT legacy-bootable attribute.
    pub bootable: bool,
    /// The filesystem on it, for the boot and root partitions.
    pub filesystem: Option<FilesystemInfo>,
    /// The digest of the partition's bytes.
    pub sha256: Checksum,
}

/// A filesystem's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// FAT12 (never written by pi-imager, but readable).
    Fat12,
    /// FAT16, as old Raspbian images have.
    Fat16,
    /// FAT32.
    Fat32,
    /// ext2: no journal, no extents.
    Ext2,
    /// ext3: a journal, no extents.
    Ext3,
    /// ext4.
    Ext4,
}

/// A filesystem's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemInfo {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FsType,
    /// Its label, if any.
    pub label: Option<String>,
    /// ext4: the UUID (lowercase); FAT: the volume id as `blkid` shows it (`1234-ABCD`).
    pub uuid: Option<String>,
}

/// The block map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMap {
    /// Bytes per block.
    pub block_size: u64,
    /// Blocks in all ranges.
    pub mapped_blocks: u64,
    /// Mapped ranges, ascending and disjoint.
    pub ranges: Vec<BlockRange>,
}

/// A run of mapped blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRange {
    /// First block.
    pub first: u64,
    /// Last block, inclusive.
    pub last: u64,
    /// The digest of the range's bytes (cut at the image's end).
    pub sha256: Checksum,
}

/// A regular file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The filesystem it is on.
    pub filesystem: Filesystem,
    /// Its path there.
    pub path: EncodedPath,
    /// Its length in bytes.
    pub size: u64,
    /// Permission bits, four octal digits (`0644`, `4755`). FAT files read as `0644`.
    #[serde(with = "octal_mode")]
    pub mode: u32,
    /// Owner (0 on FAT).
    pub uid: u32,
    /// Group (0 on FAT).
    pub gid: u32,
    /// The digest of its contents.
    pub sha256: Checksum,
    /// The builder wrote or changed it.
    pub written: bool,
    /// A running node changes it by itself (see `expected_to_change`).
    pub expected_to_change: bool,
}

/// A symbolic link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkEntry {
    /// The filesystem it is on.
    pub filesystem: Filesystem,
    /// Its path there.
    pub path: EncodedPath,
    /// Its target as stored, escaped like paths.
    pub target: EncodedBytes,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The builder wrote or changed it.
    pub written: bool,
    /// A running node changes it by itself.
    pub expected_to_change: bool,
}

/// Modes as four octal digits, the way people read them.
mod octal_mode {
    use serde::de::{self, Deserialize, Deserializer};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(mode: &u32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:04o}", mode & 0o7777))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits_ok = text.len() == 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u32::from_str_radix(&text, 8) {
            Ok(mode) if digits_ok => Ok(mode),
            _ => Err(de::Error::custom(format!(
                "mode {:?} is not four octal digits such as \"0644\"",
                text.chars().take(20).collect::<String>()
            ))),
        }
    }
}

/// Only the schema field, read first so an unknown version gets a clear message.
#[derive(Deserialize)]
struct SchemaOnly {
    schema: String,
}

impl Manifest {
    /// The JSON text: pretty, keys in schema order, a trailing newline. Equal manifests
    /// give identical bytes.
    pub fn to_json(&self) -> String {
        // Plain structs with string keys and infallible field serialisers cannot fail.
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        text.push('\n');
        text
    }

    /// Parses and checks a manifest: the schema version, every field's form, the lists'
    /// order, and that every range lies inside the image.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let head: SchemaOnly = serde_json::from_str(text).map_err(ManifestError::json)?;
        if head.schema != super::SCHEMA {
            return Err(ManifestError::Schema {
                found: head.schema.chars().take(100).collect(),
            });
        }
        let manifest: Manifest = serde_json::from_str(text).map_err(ManifestError::json)?;
        super::validate::check(&manifest)?;
        Ok(manifest)
    }

    /// Whether a running node changes `path` of `filesystem` by itself, by this version's
    /// built-in rules. See [`Manifest::expects_change`] for a manifest's own rules.
    pub fn is_expected_to_change(filesystem: Filesystem, path: &str) -> bool {
        super::change::is_expected_to_change(filesystem, path)
    }

    /// Whether a running node changes `path` (absolute, as bytes) by the rules this
    /// manifest was written with: what `verify` applies to paths the manifest lacks.
    pub fn expects_change(&self, filesystem: Filesystem, path: &[u8]) -> bool {
        self.expected_to_change
            .iter()
            .any(|rule| rule.matches(filesystem, path))
    }

    /// The rules new manifests carry.
    pub fn builtin_rules() -> Vec<ChangeRule> {
        builtin_rules()
    }
}
