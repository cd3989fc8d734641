//! The 32-byte directory slots: 8.3 entries and VFAT long-name entries, decoded and encoded.
//!
//! A long name is stored as up to 20 slots of 13 UTF-16 units placed, last part first, just
//! before its 8.3 entry, each carrying a checksum of the 8.3 name. [`LongNameCollector`]
//! reassembles them and drops any that do not match. This module does not follow clusters
//! or know where a directory lives.

use super::short_name;

/// Bytes in one directory slot.
pub const SLOT_SIZE: usize = 32;
/// Attribute bit: the file is read-only.
pub const ATTR_READ_ONLY: u8 = 0x01;
/// Attribute bit: the entry is hidden.
pub const ATTR_HIDDEN: u8 = 0x02;
/// Attribute bit: the entry belongs to the system.
pub const ATTR_SYSTEM: u8 = 0x04;
/// Attribute bit: the entry is the volume label.
pub const ATTR_VOLUME_ID: u8 = 0x08;
/// Attribute bit: the entry is a directory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Attribute bit: the file changed since the last backup.
pub const ATTR_ARCHIVE: u8 = 0x20;
/// The attribute value that marks a long-name slot.
pub const ATTR_LONG_NAME: u8 = 0x0F;
/// UTF-16 units in one long-name slot.
pub const UNITS_PER_SLOT: usize = 13;
/// Byte offsets of the 13 UTF-16 units inside a long-name slot.
const UNIT_OFFSETS: [usize; UNITS_PER_SLOT] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
/// The marker for the last (first stored) long-name slot.
const LAST_LONG: u8 = 0x40;
/// The most long-name slots one name can need (255 units / 13).
const MAX_LONG_SLOTS: u8 = 20;

/// An 8.3 directory entry as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShortEntry {
    /// The 11-byte name, base padded to 8 and extension to 3 with spaces.
    pub name: [u8; 11],
    /// The attribute bits.
    pub attr: u8,
    /// NT lowercase flags (byte 12).
    pub nt_flags: u8,
    /// Creation time refinement in 10 ms units.
    pub ctime_tenths: u8,
    /// Creation time.
    pub ctime: u16,
    /// Creation date.
    pub cdate: u16,
    /// Last access date.
    pub adate: u16,
    /// First cluster (high word only meaningful on FAT32).
    pub first_cluster: u32,
    /// Modification time.
    pub mtime: u16,
    /// Modification date.
    pub mdate: u16,
    /// File size in bytes (0 for directories).
    pub size: u32,
}

fn u16_at(b: &[u8; SLOT_SIZE], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl ShortEntry {
    /// Decodes an 8.3 slot.
    pub fn decode(b: &[u8; SLOT_SIZE]) -> Self {
        let mut name = [0u8; 11];
        name.copy_from_slice(&b[..11]);
        Self {
            name,
            attr: b[11],
            nt_flags: b[12],
            ctime_tenths: b[13],
            ctime: u16_at(b, 14),
            cdate: u16_at(b, 16),
            adate: u16_at(b, 18),
            first_cluster: (u32::from(u16_at(b, 20)) << 16) | u32::from(u16_at(b, 26)),
            mtime: u16_at(b, 22),
            mdate: u16_at(b, 24),
            size: u32::from_le_bytes([b[28], b[29], b[30], b[31]]),
        }
    }

    /// Encodes the entry as a slot.
    pub fn encode(&self) -> [u8; SLOT_SIZE] {
        let mut b = [0u8; SLOT_SIZE];
        b[..11].copy_from_slice(&self.name);
        b[11] = self.attr;
        b[12] = self.nt_flags;
        b[13] = self.ctime_tenths;
        b[14..16].copy_from_slice(&self.ctime.to_le_bytes());
        b[16..18].copy_from_slice(&self.cdate.to_le_bytes());
        b[18..20].copy_from_slice(&self.adate.to_le_bytes());
        b[20..22].copy_from_slice(&((self.first_cluster >> 16) as u16).to_le_bytes());
        b[22..24].copy_from_slice(&self.mtime.to_le_bytes());
        b[24..26].copy_from_slice(&self.mdate.to_le_bytes());
        b[26..28].copy_from_slice(&(self.first_cluster as u16).to_le_bytes());
        b[28..32].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

/// What one directory slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// No entries follow in this directory.
    End,
    /// A deleted entry, to be skipped.
    Deleted,
    /// A part of a long name.
    Long {
        /// Position of this part, 1 for the first 13 units.
        ord: u8,
        /// Whether this is the last part (stored first).
        last: bool,
        /// Checksum of the 8.3 name it belongs to.
        checksum: u8,
        /// The 13 UTF-16 units.
        units: [u16; UNITS_PER_SLOT],
    },
    /// An 8.3 entry (file, directory, volume label, `.` or `..`).
    Short(ShortEntry),
}

/// Decodes one slot.
pub fn decode_slot(b: &[u8; SLOT_SIZE]) -> Slot {
    match b[0] {
        0x00 => Slot::End,
        0xE5 => Slot::Deleted,
        _ if b[11] & 0x3F == ATTR_LONG_NAME => {
            let mut units = [0u16; UNITS_PER_SLOT];
            for (u, &at) in units.iter_mut().zip(UNIT_OFFSETS.iter()) {
                *u = u16_at(b, at);
            }
            Slot::Long {
                ord: b[0] & !LAST_LONG,
                last: b[0] & LAST_LONG != 0,
                checksum: b[13],
                units,
            }
        }
        _ => Slot::Short(ShortEntry::decode(b)),
    }
}

/// The long-name slots for `units`, in the order they are stored (last part first).
pub fn encode_long(units: &[u16], checksum: u8) -> Vec<[u8; SLOT_SIZE]> {
    let count = units.len().div_ceil(UNITS_PER_SLOT);
    (1..=count)
        .rev()
        .map(|ord| {
            let mut b = [0u8; SLOT_SIZE];
            b[0] = ord as u8 | if ord == count { LAST_LONG } else { 0 };
            b[11] = ATTR_LONG_NAME;
            b[13] = checksum;
            for (i, &at) in UNIT_OFFSETS.iter().enumerate() {
                let idx = (ord - 1) * UNITS_PER_SLOT + i;
                // The name ends with one NUL if there is room, then 0xFFFF padding.
                let unit = match idx.cmp(&units.len()) {
                    std::cmp::Ordering::Less => units[idx],
                    std::cmp::Ordering::Equal => 0x0000,
                    std::cmp::Ordering::Greater => 0xFFFF,
                };
                b[at..at + 2].copy_from_slice(&unit.to_le_bytes());
            }
            b
        })
        .collect()
}

/// The number of slots a long name of `units` UTF-16 units takes.
pub fn long_slot_count(units: usize) -> usize {
    units.div_ceil(UNITS_PER_SLOT)
}

/// Reassembles long names from their slots as a directory is read in order.
#[derive(Debug, Default)]
pub struct LongNameCollector {
    units: Vec<u16>,
    checksum: u8,
    /// The `ord` the next slot must have; 0 when the sequence is complete or absent.
    next: u8,
    active: bool,
}

impl LongNameCollector {
    /// Forgets any partial long name, e.g. after a deleted entry.
    pub fn reset(&mut self) {
        self.active = false;
        self.next = 0;
        self.units.clear();
    }

    /// Takes one long-name slot; slots out of sequence drop the name being collected.
    pub fn push(&mut self, ord: u8, last: bool, checksum: u8, units: &[u16; UNITS_PER_SLOT]) {
        if ord == 0 || ord > MAX_LONG_SLOTS {
            self.reset();
            return;
        }
        if last {
            self.units.clear();
            self.units.resize(usize::from(ord) * UNITS_PER_SLOT, 0xFFFF);
            self.checksum = checksum;
            self.next = ord;
            self.active = true;
        } else if !self.active || ord != self.next || checksum != self.checksum {
            self.reset();
            return;
        }
        let start = usize::from(ord - 1) * UNITS_PER_SLOT;
        if let Some(dst) = self.units.get_mut(start..start + UNITS_PER_SLOT) {
            dst.copy_from_slice(units);
        }
        self.next = ord - 1;
    }

    /// The long name for the 8.3 entry `short`, if a complete one with a matching checksum
    /// precedes it and decodes as UTF-16. Always leaves the collector empty.
    pub fn finish(&mut self, short: &[u8; 11]) -> Option<String> {
        let complete =
            self.active && self.next == 0 && self.checksum == short_name::checksum(short);
        let name = if complete {
            let end = self
                .units
                .iter()
                .position(|&u| u == 0)
                .unwrap_or(self.units.len());
            String::from_utf16(&self.units[..end])
                .ok()
                .filter(|n| !n.is_empty())
        } else {
            None
        };
        self.reset();
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_entry_round_trips() {
        let e = ShortEntry {
            name: *b"HELLO   TXT",
            attr: ATTR_ARCHIVE,
            nt_flags: 0x18,
            ctime_tenths: 100,
            ctime: 0x1234,
            cdate: 0x5678,
            adate: 0x5678,
            first_cluster: 0x0012_3456,
            mtime: 0x4321,
            mdate: 0x8765,
            size: 123_456,
        };
        assert_eq!(ShortEntry::decode(&e.encode()), e);
    }

    #[test]
    fn long_names_round_trip_through_slots() {
        for name in [
            "a",
            "exactly13char",
            "Überblick über alles.txt",
            &"y".repeat(255),
        ] {
            let short = *b"ABCDEF~1TXT";
            let units: Vec<u16> = name.encode_utf16().collect();
            let slots = encode_long(&units, short_name::checksum(&short));
            assert_eq!(slots.len(), long_slot_count(units.len()));
            let mut c = LongNameCollector::default();
            for s in &slots {
                let Slot::Long {
                    ord,
                    last,
                    checksum,
                    units,
                } = decode_slot(s)
                else {
                    panic!("not a long slot")
                };
                c.push(ord, last, checksum, &units);
            }
            assert_eq!(c.finish(&short).as_deref(), Some(name));
        }
    }

    #[test]
    fn wrong_checksum_or_order_drops_the_long_name() {
        let units: Vec<u16> = "a rather long name.txt".encode_utf16().collect();
        let slots = encode_long(&units, short_name::checksum(b"ARATHE~1TXT"));
        let mut c = LongNameCollector::default();
        for s in &slots {
            if let Slot::Long {
                ord,
                last,
                checksum,
                units,
            } = decode_slot(s)
            {
                c.push(ord, last, checksum, &units);
            }
        }
        assert_eq!(c.finish(b"OTHER   TXT"), None);
        let mut c = LongNameCollector::default();
        if let Slot::Long {
            ord,
            last,
            checksum,
            units,
        } = decode_slot(&slots[1])
        {
            c.push(ord, last, checksum, &units);
        }
        assert_eq!(c.finish(b"ARATHE~1TXT"), None);
    }
}
