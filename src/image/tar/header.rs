//! One archive member's headers: the POSIX ustar block and, before it, a pax extended
//! header holding what ustar cannot (long or non-ASCII names, sub-second and out-of-range
//! times, big sizes and ids, extended attributes).
//!
//! This file only turns values into bytes; it neither walks a tree nor streams contents.
//! Field choices follow what libarchive (which `mke2fs -d` uses to read archives) and GNU
//! tar read back.

use crate::tree::Timestamp;

/// Size of a tar block: headers are one block, contents are padded to whole blocks.
pub const BLOCK: usize = 512;

/// The largest value an octal field of `width` bytes holds (one byte is the terminator).
const fn octal_max(width: usize) -> u64 {
    (1u64 << (3 * (width - 1))) - 1
}

/// The ustar type of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFlag {
    /// A regular file with contents.
    File,
    /// Another name of a file stored earlier.
    HardLink,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory.
    Dir,
    /// A named pipe.
    Fifo,
    /// A pax extended header for the next member.
    Pax,
}

impl TypeFlag {
    fn byte(self) -> u8 {
        match self {
            Self::File => b'0',
            Self::HardLink => b'1',
            Self::Symlink => b'2',
            Self::CharDevice => b'3',
            Self::BlockDevice => b'4',
            Self::Dir => b'5',
            Self::Fifo => b'6',
            Self::Pax => b'x',
        }
    }
}

/// Everything the headers of one member say.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// Name relative to the archive root, `./` for the root directory.
    pub name: &'a [u8],
    /// Type.
    pub flag: TypeFlag,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes of contents that follow the header.
    pub size: u64,
    /// Modification time; also written as access and change time (see `pax_records`).
    pub mtime: Timestamp,
    /// Symlink target or hard-link target name.
    pub link: &'a [u8],
    /// Device numbers for device members.
    pub dev: (u32, u32),
    /// Extended attributes as (full name, raw value).
    pub xattrs: Vec<(&'a [u8], &'a [u8])>,
}

/// Formats `value` as a NUL-terminated octal field of `field.len()` bytes. The caller
/// checks the range first; a value that does not fit leaves the field zero.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() == digits {
        field[..digits].copy_from_slice(text.as_bytes());
    } else {
        field[..digits].fill(b'0');
    }
    field[digits] = 0;
}

/// Formats a time the way pax `mtime` records hold it: seconds, then a fraction only when
/// there is one. Negative times with a fraction count down from zero (`-1.5`), as the
/// standard reads them.
pub fn pax_time(t: Timestamp) -> String {
    if t.nanos == 0 {
        return t.secs.to_string();
    }
    if t.secs >= 0 {
        return format!("{}.{:09}", t.secs, t.nanos);
    }
    // secs + nanos/1e9 with secs < 0: the magnitude is |secs| - 1 and 1e9 - nanos.
    let whole = t.secs.unsigned_abs() - 1;
    let frac = 1_000_000_000 - t.nanos;
    format!("-{whole}.{frac:09}")
}

/// Appends one pax record `"<len> <key>=<value>\n"`, where `<len>` counts the whole record
/// including its own digits.
pub fn push_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The pax records `member` needs, in a fixed order so the same member always gives the
/// same bytes. Access and change time repeat the modification time: `mke2fs -d` sets an
/// inode's atime and ctime from the archive and would otherwise write 1970.
pub fn pax_records(member: &Member<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let name_fits = member.name.len() <= 100 && member.name.is_ascii();
    let link_fits = member.link.len() <= 100 && member.link.is_ascii();
    if std::str::from_utf8(member.name).is_err() || std::str::from_utf8(member.link).is_err() {
        // pax names are UTF-8; a name that is not is marked as raw bytes, which libarchive
        // then stores unconverted (GNU tar warns about the keyword but reads the name).
        push_record(&mut out, b"hdrcharset", b"BINARY");
    }
    if !name_fits {
        push_record(&mut out, b"path", member.name);
    }
    if !link_fits {
        push_record(&mut out, b"linkpath", member.link);
    }
    let time = pax_time(member.mtime);
    for key in [&b"mtime"[..], b"atime", b"ctime"] {
        push_record(&mut out, key, time.as_bytes());
    }
    if member.size > octal_max(12) {
        push_record(&mut out, b"size", member.size.to_string().as_bytes());
    }
    if u64::from(member.uid) > octal_max(8) {
        push_record(&mut out, b"uid", member.uid.to_string().as_bytes());
    }
    if u64::from(member.gid) > octal_max(8) {
        push_record(&mut out, b"gid", member.gid.to_string().as_bytes());
    }
    let (major, minor) = member.dev;
    if u64::from(major) > octal_max(8) || u64::from(minor) > octal_max(8) {
        push_record(&mut out, b"SCHILY.devmajor", major.to_string().as_bytes());
        push_record(&mut out, b"SCHILY.devminor", minor.to_string().as_bytes());
    }
    for (name, value) in &member.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        push_record(&mut out, &key, value);
    }
    out
}

/// The ustar header block of `member`. Fields that cannot hold a value are left zero:
/// the pax records carry it.
pub fn ustar_block(member: &Member<'_>) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let name = if member.name.len() <= 100 && member.name.is_ascii() {
        member.name
    } else {
        // A readable stand-in for readers without pax; pax `path` overrides it.
        let cut = member.name.len().min(100);
        let stub = &member.name[..cut];
        if stub.is_ascii() {
            stub
        } else {
            b"././@LongName"
        }
    };
    b[..name.len()].copy_from_slice(name);
    put_octal(&mut b[100..108], u64::from(member.mode & 0o7777));
    put_octal(&mut b[108..116], u64::from(member.uid));
    put_octal(&mut b[116..124], u64::from(member.gid));
    put_octal(&mut b[124..136], member.size);
    put_octal(
        &mut b[136..148],
        u64::try_from(member.mtime.secs).unwrap_or(0),
    );
    b[156] = member.flag.byte();
    if member.link.len() <= 100 && member.link.is_ascii() {
        b[157..157 + member.link.len()].copy_from_slice(member.link);
    }
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if matches!(member.flag, TypeFlag::CharDevice | TypeFlag::BlockDevice) {
        put_octal(&mut b[329..337], u64::from(member.dev.0));
        put_octal(&mut b[337..345], u64::from(member.dev.1));
    }
    // The checksum is computed with its own field read as spaces.
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let text = format!("{sum:06o}");
    b[148..154].copy_from_slice(text.as_bytes());
    b[154] = 0;
    b[155] = b' ';
    b
}

/// The header block of a pax extended header carrying `records_len` bytes of records.
pub fn pax_block(records_len: u64) -> [u8; BLOCK] {
    ustar_block(&Member {
        name: b"././@PaxHeader",
        flag: TypeFlag::Pax,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: records_len,
        mtime: Timestamp::default(),
        link: b"",
        dev: (0, 0),
        xattrs: Vec::new(),
    })
}

/// The zero bytes that pad `len` bytes of contents to a whole block.
pub fn padding(len: u64) -> usize {
    let rem = (len % BLOCK as u64) as usize;
    if rem == 0 { 0 } else { BLOCK - rem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_length_counts_its_own_digits() {
        let mut out = Vec::new();
        push_record(&mut out, b"path", b"a");
        assert_eq!(out, b"9 path=a\n");
        // 98 + 2 digits = 100 bytes: the length gains a digit exactly at the boundary.
        let mut out = Vec::new();
        push_record(&mut out, b"k", &[b'v'; 94]);
        assert_eq!(out.len(), 101);
        assert!(out.starts_with(b"101 k="));
    }

    #[test]
    fn times_keep_nanoseconds_and_negative_fractions() {
        assert_eq!(pax_time(Timestamp::from_secs(5)), "5");
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(pax_time(t), "1700000000.000000005");
        let t = Timestamp {
            secs: -2,
            nanos: 500_000_000,
        };
        assert_eq!(pax_time(t), "-1.500000000");
    }

    #[test]
    fn ustar_block_has_a_valid_checksum_and_octal_fields() {
        let member = Member {
            name: b"etc/passwd",
            flag: TypeFlag::File,
            mode: 0o4755,
            uid: 1234,
            gid: 5678,
            size: 3,
            mtime: Timestamp::from_secs(1_456_704_000),
            link: b"",
            dev: (0, 0),
            xattrs: Vec::new(),
        };
        let b = ustar_block(&member);
        assert_eq!(&b[100..108], b"0004755\0");
        assert_eq!(&b[108..116], b"0002322\0");
        let mut copy = b;
        copy[148..156].fill(b' ');
        let sum: u32 = copy.iter().map(|&x| u32::from(x)).sum();
        let stored = std::str::from_utf8(&b[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert!(pax_records(&member).starts_with(b"20 mtime=1456704000\n"));
    }

    #[test]
    fn big_values_go_to_pax() {
        let long = "é".repeat(60);
        let member = Member {
            name: long.as_bytes(),
            flag: TypeFlag::File,
            mode: 0o644,
            uid: 3_000_000,
            gid: 7,
            size: 9 << 30,
            mtime: Timestamp::from_secs(-1),
            link: b"",
            dev: (0, 0),
            xattrs: vec![(b"user.a", b"\0\x01")],
        };
        let records = pax_records(&member);
        let text = String::from_utf8_lossy(&records);
        assert!(!text.contains("hdrcharset"));
        assert!(text.contains(" path=é"));
        assert!(text.contains(" size=9663676416\n"));
        assert!(text.contains(" uid=3000000\n"));
        assert!(!text.contains(" gid="));
        let xattr = b"SCHILY.xattr.user.a=\0\x01\n";
        assert!(records.windows(xattr.len()).any(|w| w == xattr));
        let b = ustar_block(&member);
        assert_eq!(&b[124..136], b"00000000000\0");
        assert_eq!(&b[..13], b"././@LongName");
    }
}
