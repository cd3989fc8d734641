//! The `ar` container of a `.deb`: the member names, offsets and sizes.
//!
//! Only the common `ar` format that `dpkg-deb` writes is read (the `!<arch>\n` magic, 60-byte
//! headers, data padded to an even length); GNU and BSD long-name tables are not needed by
//! `.deb` files and are refused by the caller as unknown members. Nothing is decompressed
//! here and no member data is read: every header field is checked and every member is
//! checked to lie inside the file, so later readers can trust the offsets.

use crate::image::io::ReadAt;

/// The magic that opens every `ar` archive.
pub const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
/// Length of a member header.
const HEADER_LEN: u64 = 60;
/// More members than any `.deb` has: a limit so a hostile file cannot make us walk forever.
const MAX_MEMBERS: usize = 64;

/// Why an `ar` archive could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArError {
    /// The file does not start with `!<arch>\n`.
    #[error("the file does not start with the `ar` magic `!<arch>`; it is not a .deb")]
    BadMagic,
    /// A header was cut short by the end of the file.
    #[error("the member header at offset {offset} is cut short by the end of the file")]
    TruncatedHeader {
        /// Offset of the header.
        offset: u64,
    },
    /// A header's terminator or a numeric field is malformed.
    #[error("the member header at offset {offset} is malformed: {what}")]
    BadHeader {
        /// Offset of the header.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A member's declared size runs past the end of the file.
    #[error(
        "member `{name}` declares {size} bytes at offset {offset}, past the end of the file ({file_size} bytes); the .deb is truncated or corrupt"
    )]
    PastEnd {
        /// Member name.
        name: String,
        /// Offset of its data.
        offset: u64,
        /// Its declared size.
        size: u64,
        /// The file's size.
        file_size: u64,
    },
    /// More members than a `.deb` ever has.
    #[error("the archive has more than {limit} members; a .deb has three or four")]
    TooManyMembers {
        /// The limit.
        limit: usize,
    },
    /// Reading the file failed.
    #[error("reading the archive at offset {offset} failed: {message}")]
    Read {
        /// Where.
        offset: u64,
        /// The I/O error's text.
        message: String,
    },
}

/// One member of an `ar` archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember {
    /// The name, without the padding spaces and without a trailing `/` (GNU style).
    pub name: String,
    /// Offset of the member's data in the archive.
    pub offset: u64,
    /// Length of the member's data.
    pub size: u64,
}

/// Lists the members of the `ar` archive in `src`, in archive order.
pub fn read_members<R: ReadAt + ?Sized>(src: &R) -> Result<Vec<ArMember>, ArError> {
    let file_size = src.size();
    let mut magic = [0u8; 8];
    if file_size < AR_MAGIC.len() as u64 {
        return Err(ArError::BadMagic);
    }
    read(src, &mut magic, 0)?;
    if &magic != AR_MAGIC {
        return Err(ArError::BadMagic);
    }
    let mut members = Vec::new();
    let mut offset = AR_MAGIC.len() as u64;
    while offset < file_size {
        if members.len() >= MAX_MEMBERS {
            return Err(ArError::TooManyMembers { limit: MAX_MEMBERS });
        }
        let data_offset = offset
            .checked_add(HEADER_LEN)
            .filter(|end| *end <= file_size)
            .ok_or(ArError::TruncatedHeader { offset })?;
        let mut header = [0u8; HEADER_LEN as usize];
        read(src, &mut header, offset)?;
        let member = parse_header(&header, offset, data_offset)?;
        let end = data_offset
            .checked_add(member.size)
            .filter(|end| *end <= file_size)
            .ok_or_else(|| ArError::PastEnd {
                name: member.name.clone(),
                offset: data_offset,
                size: member.size,
                file_size,
            })?;
        // Data is padded to an even length; a missing final pad byte is tolerated, as
        // binutils and dpkg tolerate it.
        offset = end.saturating_add(end % 2);
        members.push(member);
    }
    Ok(members)
}

fn read<R: ReadAt + ?Sized>(src: &R, buf: &mut [u8], offset: u64) -> Result<(), ArError> {
    src.read_exact_at(buf, offset).map_err(|e| ArError::Read {
        offset,
        message: e.to_string(),
    })
}

fn parse_header(header: &[u8; 60], offset: u64, data_offset: u64) -> Result<ArMember, ArError> {
    let bad = |what: &str| ArError::BadHeader {
        offset,
        what: what.to_string(),
    };
    if &header[58..60] != b"`\n" {
        return Err(bad("the header does not end with the `ar` terminator"));
    }
    let raw_name = &header[0..16];
    let name_end = raw_name
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(0, |i| i + 1);
    let mut name = &raw_name[..name_end];
    if let Some(stripped) = name.strip_suffix(b"/") {
        name = stripped;
    }
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the member name is empty or not printable"));
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let size = decimal(&header[48..58]).ok_or_else(|| bad("the size field is not a number"))?;
    Ok(ArMember {
        name,
        offset: data_offset,
        size,
    })
}

/// A decimal field padded with spaces on the right.
fn decimal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_end_matches(' ');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One `ar` member with its header and padding.
    pub(crate) fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            "100644",
            data.len()
        )
        .into_bytes();
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn lists_members_with_offsets_and_gnu_names() {
        let mut ar = AR_MAGIC.to_vec();
        ar.extend(member("debian-binary", b"2.0\n"));
        ar.extend(member("control.tar.gz/", b"abc"));
        ar.extend(member("data.tar", b"12345"));
        let members = read_members(&ar).unwrap();
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["debian-binary", "control.tar.gz", "data.tar"]);
        assert_eq!(members[0].offset, 68);
        assert_eq!(members[1].size, 3);
        assert_eq!(&ar[members[2].offset as usize..][..5], b"12345");
    }

    #[test]
    fn refuses_bad_magic_sizes_and_terminators() {
        assert_eq!(read_members(&b"!<arch>".to_vec()), Err(ArError::BadMagic));
        let mut ar = AR_MAGIC.to_vec();
        ar.extend(member("data.tar", b"12345"));
        let cut = ar[..ar.len() - 3].to_vec();
        assert!(matches!(read_members(&cut), Err(ArError::PastEnd { .. })));
        let mut bad = ar.clone();
        bad[8 + 58] = b'x';
        assert!(matches!(read_members(&bad), Err(ArError::BadHeader { .. })));
        let mut bad = ar.clone();
        bad[8 + 48] = b'-';
        assert!(matches!(read_members(&bad), Err(ArError::BadHeader { .. })));
        let short = [AR_MAGIC.as_slice(), b"debian"].concat();
        assert!(matches!(
            read_members(&short),
            Err(ArError::TruncatedHeader { offset: 8 })
        ));
    }
}
