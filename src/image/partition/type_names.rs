//! Names for the handful of partition types found on Raspberry Pi style disks, for display.
//!
//! The names follow what `fdisk` prints. Unknown types have no name; callers show the raw
//! byte or GUID instead. Nothing here decides which type a partition should get.

use super::Guid;

/// MBR type 0x06: FAT16.
pub const MBR_FAT16: u8 = 0x06;
/// MBR type 0x0b: FAT32 addressed by CHS.
pub const MBR_FAT32: u8 = 0x0b;
/// MBR type 0x0c: FAT32 addressed by LBA, the Raspberry Pi boot partition.
pub const MBR_FAT32_LBA: u8 = 0x0c;
/// MBR type 0x0e: FAT16 addressed by LBA.
pub const MBR_FAT16_LBA: u8 = 0x0e;
/// MBR type 0x83: a Linux filesystem.
pub const MBR_LINUX: u8 = 0x83;
/// MBR type 0xee: the protective entry in front of a GPT.
pub const MBR_GPT_PROTECTIVE: u8 = 0xee;

/// GPT type of an EFI System Partition.
pub const GPT_EFI_SYSTEM: Guid = Guid::from_fields(
    0xC12A7328,
    0xF81F,
    0x11D2,
    [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B],
);
/// GPT type of a Microsoft basic data partition (FAT or NTFS without an ESP role).
pub const GPT_MICROSOFT_BASIC_DATA: Guid = Guid::from_fields(
    0xEBD0A0A2,
    0xB9E5,
    0x4433,
    [0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7],
);
/// GPT type of a generic Linux filesystem.
pub const GPT_LINUX_FILESYSTEM: Guid = Guid::from_fields(
    0x0FC63DAF,
    0x8483,
    0x4772,
    [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4],
);
/// GPT type of a Linux root filesystem for 64-bit ARM (Discoverable Partitions Specification).
pub const GPT_LINUX_ROOT_ARM64: Guid = Guid::from_fields(
    0xB921B045,
    0x1DF0,
    0x41C3,
    [0xAF, 0x44, 0x4C, 0x6F, 0x28, 0x0D, 0x3F, 0xAE],
);

/// The `fdisk` name of an MBR type byte, if it is one this crate knows.
pub fn mbr_type_name(byte: u8) -> Option<&'static str> {
    Some(match byte {
        0x05 => "Extended",
        MBR_FAT16 => "FAT16",
        MBR_FAT32 => "W95 FAT32",
        MBR_FAT32_LBA => "W95 FAT32 (LBA)",
        MBR_FAT16_LBA => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x82 => "Linux swap / Solaris",
        MBR_LINUX => "Linux",
        0x85 => "Linux extended",
        MBR_GPT_PROTECTIVE => "GPT",
        _ => return None,
    })
}

/// The `fdisk` name of a GPT type GUID, if it is one this crate knows.
pub fn gpt_type_name(guid: &Guid) -> Option<&'static str> {
    [
        (GPT_EFI_SYSTEM, "EFI System"),
        (GPT_MICROSOFT_BASIC_DATA, "Microsoft basic data"),
        (GPT_LINUX_FILESYSTEM, "Linux filesystem"),
        (GPT_LINUX_ROOT_ARM64, "Linux root (ARM-64)"),
    ]
    .into_iter()
    .find_map(|(known, name)| (known == *guid).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_fdisk_names() {
        assert_eq!(mbr_type_name(0x0c), Some("W95 FAT32 (LBA)"));
        assert_eq!(mbr_type_name(0x83), Some("Linux"));
        assert_eq!(mbr_type_name(0x42), None);
        let esp: Guid = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B".parse().unwrap();
        assert_eq!(gpt_type_name(&esp), Some("EFI System"));
        let root: Guid = "b921b045-1df0-41c3-af44-4c6f280d3fae".parse().unwrap();
        assert_eq!(gpt_type_name(&root), Some("Linux root (ARM-64)"));
        assert_eq!(gpt_type_name(&Guid::NIL), None);
    }
}
