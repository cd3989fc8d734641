//! Partition tables: reading, validating and writing MBR and GPT, with one common view.
//!
//! [`read`] takes any [`ReadAt`](crate::image::io::ReadAt) and returns a [`PartitionTable`]
//! whichever format the image has; [`write_mbr`] and [`write_gpt`] write a table the caller
//! laid out into an already-sized (sparse) file, touching only the table sectors. Every
//! identifier (disk id, disk GUID, partition GUIDs) comes from the caller, never from a random
//! source, so the same inputs give the same bytes.
//!
//! Limits, by design: 512-byte sectors only; MBR extended partitions are listed but the
//! logical partitions inside them are not read; no boot code is written. This module knows
//! nothing of Raspberry Pi or Debian: callers choose the layout and the identifiers.

mod error;
mod gpt;
mod gpt_header;
mod guid;
mod layout;
mod mbr;
mod table;
mod type_names;

pub use error::{GptHeaderProblem, PartitionError};
pub use gpt::{GPT_MAX_PARTITIONS, GptPartitionSpec, write_gpt};
pub use gpt_header::MAX_ENTRY_ARRAY_BYTES;
pub use guid::Guid;
pub use layout::{ALIGN_4MIB, SECTOR_SIZE, align_up};
pub use mbr::{MBR_MAX_PARTITIONS, MbrPartitionSpec, write_mbr};
pub use table::{Partition, PartitionKind, PartitionTable, TableKind, TableWarning, read};
pub use type_names::{
    GPT_EFI_SYSTEM, GPT_LINUX_FILESYSTEM, GPT_LINUX_ROOT_ARM64, GPT_MICROSOFT_BASIC_DATA,
    MBR_FAT16, MBR_FAT16_LBA, MBR_FAT32, MBR_FAT32_LBA, MBR_GPT_PROTECTIVE, MBR_LINUX,
    gpt_type_name, mbr_type_name,
};
