//! What can go wrong reading or writing a partition table.
//!
//! Every variant carries the values that were wrong, so the message alone tells a user which
//! partition or structure to look at. This module only describes failures; the checks live
//! beside the formats they check.

use std::io;

/// An error reading, validating or writing an MBR or GPT partition table.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The image could not be read where a table structure should be.
    #[error("could not read {len} bytes at byte offset {offset} of the image: {source}")]
    Read {
        /// Byte offset of the read.
        offset: u64,
        /// Length of the read.
        len: u64,
        /// What the reader reported.
        source: io::Error,
    },

    /// The output file could not be written or inspected.
    #[error("could not write {len} bytes at byte offset {offset} of the output image: {source}")]
    Write {
        /// Byte offset of the write.
        offset: u64,
        /// Length of the write.
        len: u64,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The image cannot even hold a master boot record.
    #[error("no partition table: the image is only {size} bytes, smaller than one 512-byte sector")]
    TooSmall {
        /// Size of the image in bytes.
        size: u64,
    },

    /// The first sector is blank.
    #[error("no partition table: the first sector of the image is all zeros")]
    NoPartitionTable,

    /// The first sector does not end with the MBR signature.
    #[error(
        "no partition table: the first sector ends with {:#04x} {:#04x} instead of the MBR \
         signature 0x55 0xaa; the image is not a partitioned disk or its first sector is damaged",
        found[0], found[1]
    )]
    BadMbrSignature {
        /// The two bytes found at offset 510.
        found: [u8; 2],
    },

    /// The first sector has the signature but is not an MBR (e.g. a FAT boot sector).
    #[error(
        "no partition table: the first sector has the 0x55 0xaa signature but entry {number} has \
         boot flag {flag:#04x} (only 0x00 and 0x80 are valid); it is probably the boot sector of \
         an unpartitioned filesystem"
    )]
    NotAnMbr {
        /// The 1-based entry with the invalid flag.
        number: u32,
        /// The flag byte found.
        flag: u8,
    },

    /// A GPT header, or the entry array it describes, is unusable.
    #[error("the {which} GPT header at sector {lba} is damaged: {problem}")]
    BadGptHeader {
        /// "primary" or "backup".
        which: &'static str,
        /// The sector the header was read from.
        lba: u64,
        /// What is wrong with it.
        problem: GptHeaderProblem,
    },

    /// Neither GPT header can be used.
    #[error("both GPT headers are unusable: {primary}; and {backup}")]
    BothGptHeadersDamaged {
        /// Why the primary header was refused.
        primary: Box<PartitionError>,
        /// Why the backup header was refused.
        backup: Box<PartitionError>,
    },

    /// A GPT entry whose last sector comes before its first.
    #[error("partition {number} ends at sector {last_lba}, before it starts at sector {first_lba}")]
    EndsBeforeStart {
        /// 1-based partition number.
        number: u32,
        /// First sector of the entry.
        first_lba: u64,
        /// Last (inclusive) sector of the entry.
        last_lba: u64,
    },

    /// A partition with no sectors.
    #[error("partition {number} has a size of zero")]
    ZeroSized {
        /// 1-based partition number.
        number: u32,
    },

    /// A partition that reaches past the end of the image.
    #[error(
        "partition {number} ends at byte {end}, past the end of the image ({disk_size} bytes); \
         the image may be truncated"
    )]
    PastEnd {
        /// 1-based partition number.
        number: u32,
        /// Byte offset one past the partition's last byte (saturated if it overflows).
        end: u64,
        /// Size of the image or disk in bytes.
        disk_size: u64,
    },

    /// A partition outside the sectors the table leaves for partitions.
    #[error(
        "partition {number} covers sectors {start_lba} to {end_lba}, outside the usable sectors \
         {first_usable} to {last_usable}"
    )]
    OutsideUsable {
        /// 1-based partition number.
        number: u32,
        /// First sector of the partition.
        start_lba: u64,
        /// Last (inclusive) sector of the partition.
        end_lba: u64,
        /// First sector a partition may use.
        first_usable: u64,
        /// Last sector a partition may use.
        last_usable: u64,
    },

    /// Two partitions share sectors.
    #[error(
        "partitions {first} and {second} overlap: partition {first} ends at byte {first_end} \
         but partition {second} starts at byte {second_start}"
    )]
    Overlap {
        /// The partition that starts first.
        first: u32,
        /// The partition that starts inside it.
        second: u32,
        /// One past the last byte of `first`.
        first_end: u64,
        /// First byte of `second`.
        second_start: u64,
    },

    /// Text that is not a GUID.
    #[error(
        "{text:?} is not a GUID: expected 32 hexadecimal digits grouped 8-4-4-4-12, \
         such as c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    )]
    BadGuidText {
        /// The refused text.
        text: String,
    },

    /// A disk size that is not a whole number of sectors, or too small for the table.
    #[error("a disk of {size} bytes cannot hold this table: {reason}")]
    BadDiskSize {
        /// The requested disk size in bytes.
        size: u64,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The output file is shorter than the disk the table describes.
    #[error(
        "the output file is {file_len} bytes but the table is for a {disk_size}-byte disk; set \
         the file's length first"
    )]
    FileTooShort {
        /// Current length of the output file.
        file_len: u64,
        /// Requested disk size.
        disk_size: u64,
    },

    /// More partitions than the table can hold.
    #[error("{count} partitions were requested but this table holds at most {max}")]
    TooManyPartitions {
        /// Requested count.
        count: usize,
        /// The table's limit.
        max: usize,
    },

    /// A start or size that is not a whole number of 512-byte sectors.
    #[error(
        "partition {number}: its {what} of {value} bytes is not a multiple of the 512-byte \
         sector size"
    )]
    NotSectorMultiple {
        /// 1-based partition number.
        number: u32,
        /// "start" or "size".
        what: &'static str,
        /// The offending value in bytes.
        value: u64,
    },

    /// A start or size too large for the 32-bit sector fields of an MBR entry.
    #[error(
        "partition {number}: its {what} of {sectors} sectors does not fit an MBR entry (at most \
         4294967295); use GPT for disks over 2 TiB"
    )]
    BeyondMbrRange {
        /// 1-based partition number.
        number: u32,
        /// "start" or "size".
        what: &'static str,
        /// The offending value in sectors.
        sectors: u64,
    },

    /// A partition type that would mark the entry unused.
    #[error(
        "partition {number}: its type is empty (0x00 or the nil GUID), which marks an unused entry"
    )]
    EmptyType {
        /// 1-based partition number.
        number: u32,
    },

    /// A GPT unique partition GUID that is nil or used twice.
    #[error(
        "partition {number}: its unique GUID {guid} is nil or already used by another partition"
    )]
    BadUniqueGuid {
        /// 1-based partition number.
        number: u32,
        /// The offending GUID.
        guid: super::Guid,
    },

    /// A GPT partition name longer than the 36 UTF-16 units an entry holds.
    #[error("partition {number}: its name {name:?} is longer than the 36 UTF-16 units GPT allows")]
    NameTooLong {
        /// 1-based partition number.
        number: u32,
        /// The offending name.
        name: String,
    },
}

/// Why a GPT header (or its entry array) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GptHeaderProblem {
    /// The first eight bytes are not "EFI PART".
    #[error("its signature is {found:02x?} instead of \"EFI PART\"")]
    Signature {
        /// The bytes found.
        found: [u8; 8],
    },
    /// A major revision other than 1.
    #[error("its revision is {found:#010x}; only revision 1.x (0x0001xxxx) is understood")]
    Revision {
        /// The revision found.
        found: u32,
    },
    /// A header size outside 92..=512.
    #[error("its header size is {found} bytes; it must be between 92 and 512")]
    HeaderSize {
        /// The size found.
        found: u32,
    },
    /// The header checksum does not match.
    #[error("its CRC32 is {stored:#010x} but its contents give {computed:#010x}")]
    HeaderCrc {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the header as read.
        computed: u32,
    },
    /// The header does not say it lives where it was found.
    #[error("it says it lives at sector {found}, not at sector {expected} where it was read")]
    MyLba {
        /// The header's own-location field.
        found: u64,
        /// Where it was read.
        expected: u64,
    },
    /// First and last usable sectors that make no sense.
    #[error("its usable sectors run from {first} to {last}")]
    UsableRange {
        /// First usable sector.
        first: u64,
        /// Last usable sector.
        last: u64,
    },
    /// An entry size that is not 128 times a power of two.
    #[error("its partition entry size is {found} bytes; it must be 128 times a power of two")]
    EntrySize {
        /// The size found.
        found: u32,
    },
    /// An entry array larger than this reader accepts.
    #[error(
        "it declares {count} entries of {entry_size} bytes, more than the {max} bytes this \
         reader accepts for an entry array"
    )]
    EntryArrayTooLarge {
        /// Declared entry count.
        count: u32,
        /// Declared entry size.
        entry_size: u32,
        /// The accepted maximum in bytes.
        max: u64,
    },
    /// An entry array overlapping the header or the usable sectors, or past the image's end.
    #[error(
        "its entry array ({bytes} bytes at sector {entries_lba}) is not between the header and \
         the usable sectors, or lies past the end of the image"
    )]
    EntriesMisplaced {
        /// Sector of the entry array.
        entries_lba: u64,
        /// Size of the entry array in bytes.
        bytes: u64,
    },
    /// The entry array checksum does not match.
    #[error("its entry array CRC32 is {stored:#010x} but the entries give {computed:#010x}")]
    EntriesCrc {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the entries as read.
        computed: u32,
    },
}
