//! 8.3 short names: which names fit one, how a unique one is made for a long name, the
//! checksum that ties long-name entries to it, and how a stored one is shown.
//!
//! The rules follow what Windows and Linux's vfat do, made deterministic: a name that fits
//! 8.3 in one case per part is stored without long-name entries and with the NT lowercase
//! flags; any other name gets a basis name and a `~N` tail. Non-ASCII characters become `_`
//! in short names (no OEM code page conversion). This module does no I/O.

use std::collections::HashSet;

/// Byte 12 flag: the base name is shown in lowercase.
pub const NT_LOWER_BASE: u8 = 0x08;
/// Byte 12 flag: the extension is shown in lowercase.
pub const NT_LOWER_EXT: u8 = 0x10;

/// Characters of code page 437 from 0x80 to 0xFF, the usual OEM code page of FAT media.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// Characters a long name may not contain (besides control characters).
const LONG_FORBIDDEN: &str = "\"*/:<>?\\|";

/// The longest long name in UTF-16 units.
pub const MAX_LONG_UNITS: usize = 255;

/// The checksum of an 11-byte short name stored in each of its long-name entries.
pub fn checksum(raw: &[u8; 11]) -> u8 {
    raw.iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// The name a reader shows for a stored short name, honouring the NT lowercase flags.
pub fn display(raw: &[u8; 11], nt_flags: u8) -> String {
    let mut raw = *raw;
    // 0x05 in the first byte stands for 0xE5, which would otherwise mark a deleted entry.
    if raw[0] == 0x05 {
        raw[0] = 0xE5;
    }
    let base = oem_text(&raw[..8], nt_flags & NT_LOWER_BASE != 0);
    let ext = oem_text(&raw[8..], nt_flags & NT_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Text of space-padded OEM bytes (code page 437), optionally with ASCII in lowercase.
pub fn oem_text(bytes: &[u8], lower: bool) -> String {
    let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    bytes[..end]
        .iter()
        .map(|&b| {
            if b >= 0x80 {
                CP437_HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('_')
            } else if lower {
                char::from(b.to_ascii_lowercase())
            } else {
                char::from(b)
            }
        })
        .collect()
}

/// Whether a byte may appear in a short name we write (uppercase ASCII subset).
fn is_short_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || b"!#$%&'()-@^_`{}~".contains(&c)
}

/// Checks a name for a long-name entry and returns its UTF-16 form.
pub fn check_long(name: &str) -> Result<Vec<u16>, String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty, \".\" and \"..\" are not file names".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| (c as u32) < 0x20 || LONG_FORBIDDEN.contains(c))
    {
        return Err(format!(
            "it contains {c:?}; FAT names may not contain control characters or any of {LONG_FORBIDDEN}"
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("it ends with a dot or a space, which FAT drivers strip".into());
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > MAX_LONG_UNITS {
        return Err(format!(
            "it is {} UTF-16 units long; FAT allows at most {MAX_LONG_UNITS}",
            units.len()
        ));
    }
    Ok(units)
}

/// How a name is stored in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The name fits 8.3: stored as `raw` with the NT lowercase flags, no long-name entries.
    Short {
        /// The 11-byte short name, uppercase.
        raw: [u8; 11],
        /// NT lowercase flags for byte 12.
        nt_flags: u8,
    },
    /// The name needs long-name entries and a generated short name made from this basis.
    Long(Basis),
}

/// The starting point of a generated short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basis {
    base: Vec<u8>,
    ext: Vec<u8>,
    /// Whether information was lost, so the plain basis may not be used without a tail.
    lossy: bool,
}

/// A part of an 8.3 name that can be stored as is: its uppercase bytes and whether it was
/// written in lowercase.
fn exact_part(part: &str, max: usize) -> Option<(Vec<u8>, bool)> {
    if part.len() > max || !part.is_ascii() {
        return None;
    }
    let upper = part.to_ascii_uppercase().into_bytes();
    if !upper.iter().all(|&c| is_short_char(c)) {
        return None;
    }
    let has_lower = part.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = part.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        return None;
    }
    Some((upper, has_lower))
}

fn pack(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut raw = [b' '; 11];
    for (dst, &src) in raw[..8].iter_mut().zip(base) {
        *dst = src;
    }
    for (dst, &src) in raw[8..].iter_mut().zip(ext) {
        *dst = src;
    }
    raw
}

/// Decides how `name` (already checked by [`check_long`]) is stored.
pub fn plan(name: &str) -> Stored {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    if !base.is_empty()
        && !base.contains('.')
        && let (Some((b, bl)), Some((e, el))) = (exact_part(base, 8), exact_part(ext, 3))
    {
        let nt_flags = if bl { NT_LOWER_BASE } else { 0 } | if el { NT_LOWER_EXT } else { 0 };
        return Stored::Short {
            raw: pack(&b, &e),
            nt_flags,
        };
    }
    Stored::Long(basis(name))
}

/// The short-name basis of a long name, as Windows forms it.
fn basis(name: &str) -> Basis {
    let mut lossy = false;
    let convert = |s: &str, lossy: &mut bool| -> Vec<u8> {
        let mut out = Vec::new();
        for c in s.chars() {
            if c == ' ' || c == '.' {
                *lossy = true;
                continue;
            }
            let u = c.to_ascii_uppercase();
            // Case alone is not lossy: the long name keeps it.
            if u.is_ascii() && is_short_char(u as u8) {
                out.push(u as u8);
            } else {
                *lossy = true;
                out.push(b'_');
            }
        }
        out
    };
    let trimmed = name.trim_start_matches('.');
    if trimmed.len() != name.len() {
        lossy = true;
    }
    let (base, ext) = match trimmed.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (trimmed, ""),
    };
    let mut base = convert(base, &mut lossy);
    let mut ext = convert(ext, &mut lossy);
    if base.len() > 8 {
        base.truncate(8);
        lossy = true;
    }
    if ext.len() > 3 {
        ext.truncate(3);
        lossy = true;
    }
    if base.is_empty() {
        base.push(b'_');
        lossy = true;
    }
    Basis { base, ext, lossy }
}

impl Basis {
    /// The basis itself as a short name, when forming it lost nothing but case.
    pub fn exact(&self) -> Option<[u8; 11]> {
        (!self.lossy).then(|| pack(&self.base, &self.ext))
    }
}

/// A 16-bit hash of a long name for the hashed tails used after many collisions.
fn name_hash(name: &str) -> u16 {
    let h = name.encode_utf16().fold(0x811c_9dc5u32, |h, u| {
        (h ^ u32::from(u)).wrapping_mul(0x0100_0193)
    });
    (h ^ (h >> 16)) as u16
}

/// A short name for `basis` that is not in `taken`, or `None` when every candidate is used.
///
/// Order: the plain basis when nothing was lost, `~1`..`~4`, then two basis characters,
/// four hex digits of a hash of the long name and `~1`..`~9`, then `~5`..`~999999`.
pub fn generate(basis: &Basis, long: &str, taken: &HashSet<[u8; 11]>) -> Option<[u8; 11]> {
    let with_tail = |base: &[u8], tail: &str| -> [u8; 11] {
        let keep = base.len().min(8 - tail.len());
        let mut b = base[..keep].to_vec();
        b.extend_from_slice(tail.as_bytes());
        pack(&b, &basis.ext)
    };
    if !basis.lossy {
        let raw = pack(&basis.base, &basis.ext);
        if !taken.contains(&raw) {
            return Some(raw);
        }
    }
    let tails = (1..=4).map(|n| with_tail(&basis.base, &format!("~{n}")));
    let mut hashed_base = basis.base[..basis.base.len().min(2)].to_vec();
    hashed_base.extend_from_slice(format!("{:04X}", name_hash(long)).as_bytes());
    let hashed = (1..=9).map(move |n| with_tail(&hashed_base, &format!("~{n}")));
    let linear = (5..=999_999).map(|n| with_tail(&basis.base, &format!("~{n}")));
    tails
        .chain(hashed)
        .chain(linear)
        .find(|raw| !taken.contains(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(s: &str) -> [u8; 11] {
        let (b, e) = s.split_once('.').unwrap_or((s, ""));
        pack(b.as_bytes(), e.as_bytes())
    }

    #[test]
    fn checksum_matches_known_value() {
        // The specification's formula, written out the long way.
        let raw = *b"README  TXT";
        let mut sum = 0u8;
        for b in raw {
            sum = (if sum & 1 != 0 { 0x80u8 } else { 0 })
                .wrapping_add(sum >> 1)
                .wrapping_add(b);
        }
        assert_eq!(checksum(&raw), sum);
    }

    #[test]
    fn lowercase_83_names_use_nt_flags() {
        assert_eq!(
            plan("config.txt"),
            Stored::Short {
                raw: short("CONFIG.TXT"),
                nt_flags: NT_LOWER_BASE | NT_LOWER_EXT
            }
        );
        assert_eq!(
            plan("KERNEL8.img"),
            Stored::Short {
                raw: short("KERNEL8.IMG"),
                nt_flags: NT_LOWER_EXT
            }
        );
        assert_eq!(
            plan("overlays"),
            Stored::Short {
                raw: short("OVERLAYS"),
                nt_flags: NT_LOWER_BASE
            }
        );
        assert!(matches!(plan("Makefile"), Stored::Long(_)));
        assert!(matches!(plan("COPYING.linux"), Stored::Long(_)));
        assert!(matches!(plan("a.b.c"), Stored::Long(_)));
        assert!(matches!(plan("a b"), Stored::Long(_)));
    }

    #[test]
    fn generated_names_follow_windows_rules() {
        let mut taken = HashSet::new();
        let Stored::Long(b) = plan("Makefile") else {
            panic!("Makefile needs a long name")
        };
        assert_eq!(generate(&b, "Makefile", &taken), Some(short("MAKEFILE")));
        let Stored::Long(b) = plan("bcm2710-rpi-3-b.dtb") else {
            panic!()
        };
        let first = generate(&b, "bcm2710-rpi-3-b.dtb", &taken).unwrap();
        assert_eq!(first, short("BCM271~1.DTB"));
        taken.insert(first);
        assert_eq!(
            generate(&b, "bcm2710-rpi-3-b.dtb", &taken),
            Some(short("BCM271~2.DTB"))
        );
        let Stored::Long(b) = plan("Überblick.txt") else {
            panic!()
        };
        assert_eq!(
            generate(&b, "Überblick.txt", &taken),
            Some(short("_BERBL~1.TXT"))
        );
    }

    #[test]
    fn many_collisions_stay_unique() {
        let mut taken = HashSet::new();
        for i in 1..=300 {
            let name = format!("longfilename{i}.txt");
            let Stored::Long(b) = plan(&name) else {
                panic!()
            };
            let raw = generate(&b, &name, &taken).unwrap();
            assert!(taken.insert(raw), "{name} got a duplicate short name");
        }
    }

    #[test]
    fn long_names_are_checked() {
        assert!(check_long("ok name.txt").is_ok());
        assert!(check_long("a:b").is_err());
        assert!(check_long("trailing.").is_err());
        assert!(check_long("..").is_err());
        assert!(check_long(&"x".repeat(256)).is_err());
        assert_eq!(check_long(&"x".repeat(255)).map(|u| u.len()), Ok(255));
    }

    #[test]
    fn display_honours_flags_and_e5() {
        assert_eq!(display(&short("CONFIG.TXT"), 0x18), "config.txt");
        assert_eq!(display(&short("CONFIG.TXT"), 0x08), "config.TXT");
        let mut raw = short("X.Y");
        raw[0] = 0x05;
        assert_eq!(display(&raw, 0), "σ.Y");
        assert_eq!(display(&[0x80; 11], 0), "ÇÇÇÇÇÇÇÇ.ÇÇÇ");
    }
}
