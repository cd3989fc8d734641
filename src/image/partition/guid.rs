//! GUIDs as GPT stores them, and their canonical text form.
//!
//! GPT stores the first three fields of a GUID little-endian and the last eight bytes as they
//! are, so the on-disk bytes and the printed form differ in order ("mixed-endian"). This
//! module converts between the two; it does not generate GUIDs: every id comes from the caller
//! so that images are reproducible.

use std::fmt;
use std::str::FromStr;

use super::PartitionError;

/// A GUID, held in GPT's on-disk byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The all-zero GUID, which GPT uses to mark an unused partition entry.
    pub const NIL: Guid = Guid([0; 16]);

    /// A GUID from its on-disk (mixed-endian) bytes.
    pub const fn from_bytes(on_disk: [u8; 16]) -> Self {
        Self(on_disk)
    }

    /// A GUID from the fields of its canonical form `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// The on-disk (mixed-endian) bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Whether this is the all-zero GUID.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// The canonical form in capitals, as `sfdisk` and `gdisk` print GUIDs.
    pub fn to_uppercase_string(&self) -> String {
        self.to_string().to_ascii_uppercase()
    }

    /// The bytes in the order they are printed.
    fn printed_order(&self) -> [u8; 16] {
        let b = self.0;
        [
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]
    }
}

/// Lowercase canonical form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as Linux prints a PARTUUID.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.printed_order().iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Uppercase canonical form, as `sfdisk` prints type GUIDs: `format!("{guid:X}")`.
impl fmt::UpperHex for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uppercase_string())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Parses the canonical form in either case, optionally in braces.
impl FromStr for Guid {
    type Err = PartitionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || PartitionError::BadGuidText {
            text: text.to_owned(),
        };
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let groups: Vec<&str> = inner.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let mut printed = [0u8; 16];
        let hex: String = groups.concat();
        // `from_str_radix` alone would accept a sign such as "+1".
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        for (slot, pair) in printed.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *slot = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        let p = printed;
        Ok(Self([
            p[3], p[2], p[1], p[0], p[5], p[4], p[7], p[6], p[8], p[9], p[10], p[11], p[12], p[13],
            p[14], p[15],
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_round_trips_through_mixed_endian_bytes() {
        let text = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
        let guid: Guid = text.parse().unwrap();
        assert_eq!(
            guid.to_bytes(),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(guid.to_string(), text);
        assert_eq!(
            guid.to_uppercase_string(),
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        );
        assert_eq!(format!("{guid:X}"), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(
            guid,
            Guid::from_fields(
                0xC12A7328,
                0xF81F,
                0x11D2,
                [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B]
            )
        );
        assert_eq!(
            "{C12A7328-F81F-11D2-BA4B-00A0C93EC93B}"
                .parse::<Guid>()
                .unwrap(),
            guid
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "c12a7328f81f11d2ba4b00a0c93ec93b",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93",
            "g12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93b-",
            "+12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec9é",
        ] {
            assert!(text.parse::<Guid>().is_err(), "{text:?} was accepted");
        }
    }
}
