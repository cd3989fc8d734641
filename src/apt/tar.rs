//! A streaming reader of the tar archives inside a `.deb`: ustar, GNU (long names and link
//! names, base-256 numbers) and pax extended headers (`path`, `linkpath`, `size`, `uid`,
//! `gid`, `mtime`), the formats `dpkg-deb` and GNU tar write.
//!
//! Headers are decoded into [`TarHeader`] with every field checked (the header checksum,
//! octal and base-256 numbers, entry types); paths are returned as the raw bytes the archive
//! holds: deciding what a path means inside the root filesystem is the caller's job. Long
//! names and pax records are capped in size, and an entry's data can only be read through
//! [`TarReader::data`], which yields exactly the declared number of bytes or an error.
//! Sparse files, multi-volume archives and other rarely used types are refused, as dpkg
//! refuses them.

use std::io::{self, Read};

const BLOCK: usize = 512;
/// The longest GNU long name or link name accepted: far above Linux's `PATH_MAX`.
const MAX_LONG_NAME: u64 = 64 << 10;
/// The largest pax extended header accepted.
const MAX_PAX: u64 = 1 << 20;

/// Why a tar stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Reading the (decompressed) stream failed.
    #[error("reading the tar stream failed at byte {offset}: {source}")]
    Io {
        /// Offset in the tar stream.
        offset: u64,
        /// The error.
        source: io::Error,
    },
    /// The stream ends inside a header or an entry's data.
    #[error("the tar stream ends early, at byte {offset}, inside {what}")]
    Truncated {
        /// Offset in the tar stream.
        offset: u64,
        /// What was being read.
        what: String,
    },
    /// A header's checksum does not match.
    #[error("the tar header at byte {offset} has a wrong checksum; the archive is corrupt")]
    Checksum {
        /// Offset of the header.
        offset: u64,
    },
    /// A numeric field cannot be read.
    #[error("the tar header at byte {offset} has an unreadable {field} field")]
    BadNumber {
        /// Offset of the header.
        offset: u64,
        /// The field's name.
        field: &'static str,
    },
    /// An entry type this reader (and dpkg) does not unpack.
    #[error("the tar entry at byte {offset} has type `{}`, which dpkg does not unpack", char::from(*kind))]
    UnsupportedType {
        /// Offset of the header.
        offset: u64,
        /// The type byte.
        kind: u8,
    },
    /// A long name or pax header larger than any real one.
    #[error(
        "the tar entry at byte {offset} has a {what} of {size} bytes, more than the {limit} allowed"
    )]
    TooLong {
        /// Offset of the header.
        offset: u64,
        /// Which extension.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A pax record that does not follow `<len> <key>=<value>\n`.
    #[error("the pax header at byte {offset} is malformed")]
    BadPax {
        /// Offset of the header.
        offset: u64,
    },
    /// An entry whose declared size is larger than what the stream may still hold.
    #[error(
        "the tar entry `{path}` declares {size} bytes, more than the {room} bytes left in the member"
    )]
    SizeTooLarge {
        /// The entry's path.
        path: String,
        /// The declared size.
        size: u64,
        /// What the stream may still hold.
        room: u64,
    },
}

/// The type of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    /// A regular file.
    File,
    /// A hard link to an earlier entry (named by `link`).
    HardLink,
    /// A symbolic link to `link`.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory.
    Dir,
    /// A named pipe.
    Fifo,
}

/// One decoded tar header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarHeader {
    /// Offset of the (first) header of this entry in the stream, for messages.
    pub offset: u64,
    /// The path as stored (`./usr/bin/x`).
    pub path: Vec<u8>,
    /// The type.
    pub kind: TarKind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Owner name, when the archive records one.
    pub uname: Vec<u8>,
    /// Group name, when the archive records one.
    pub gname: Vec<u8>,
    /// Modification time in seconds since the epoch.
    pub mtime: i64,
    /// Data length (regular files only; 0 for the others).
    pub size: u64,
    /// Symlink target or hard-link target path.
    pub link: Vec<u8>,
    /// Device major number.
    pub dev_major: u32,
    /// Device minor number.
    pub dev_minor: u32,
}

/// Extensions that apply to the next real header.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<i64>,
    uname: Option<Vec<u8>>,
    gname: Option<Vec<u8>>,
}

/// Reads a tar stream entry by entry.
pub struct TarReader<R> {
    inner: R,
    /// Bytes consumed from `inner`.
    offset: u64,
    /// The most bytes the stream may hold (the member size, or the decompression cap).
    limit: u64,
    /// Data bytes of the current entry not yet read, and its padding.
    remaining: u64,
    padding: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    /// Reads from `inner`, which holds at most `limit` bytes (used to refuse entries that
    /// declare more data than can follow, before reading any of it).
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            offset: 0,
            limit,
            remaining: 0,
            padding: 0,
            done: false,
        }
    }

    /// The next entry's header, skipping any unread data of the current one; `None` at
    /// the end of the archive.
    pub fn next_header(&mut self) -> Result<Option<TarHeader>, TarError> {
        let skip = self.remaining.saturating_add(self.padding);
        self.skip(skip, "an entry's data")?;
        self.remaining = 0;
        self.padding = 0;
        let mut pending = Pending::default();
        loop {
            if self.done {
                return Ok(None);
            }
            let at = self.offset;
            let Some(block) = self.read_block()? else {
                self.done = true;
                return Ok(None);
            };
            if block.iter().all(|b| *b == 0) {
                // One zero block ends the archive for dpkg; a second is optional.
                self.done = true;
                return Ok(None);
            }
            check_sum(&block, at)?;
            let typeflag = block[156];
            let size = number(&block[124..136], at, "size")?;
            match typeflag {
                b'L' | b'K' => {
                    let bytes = self.read_extension(size, MAX_LONG_NAME, at, "long name")?;
                    let name = bytes.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
                    if typeflag == b'L' {
                        pending.path = Some(name);
                    } else {
                        pending.link = Some(name);
                    }
                }
                b'x' => {
                    let bytes = self.read_extension(size, MAX_PAX, at, "pax header")?;
                    parse_pax(&bytes, at, &mut pending)?;
                }
                b'g' => {
                    // Global pax records carry defaults dpkg ignores (comments, mtime).
                    self.read_extension(size, MAX_PAX, at, "pax header")?;
                }
                _ => {
                    return self
                        .finish_header(&block, at, typeflag, size, pending)
                        .map(Some);
                }
            }
        }
    }

    fn finish_header(
        &mut self,
        block: &[u8; BLOCK],
        at: u64,
        typeflag: u8,
        size: u64,
        pending: Pending,
    ) -> Result<TarHeader, TarError> {
        let kind = match typeflag {
            b'0' | b'\0' | b'7' => TarKind::File,
            b'1' => TarKind::HardLink,
            b'2' => TarKind::Symlink,
            b'3' => TarKind::CharDevice,
            b'4' => TarKind::BlockDevice,
            b'5' => TarKind::Dir,
            b'6' => TarKind::Fifo,
            other => {
                return Err(TarError::UnsupportedType {
                    offset: at,
                    kind: other,
                });
            }
        };
        let ustar = &block[257..263] == b"ustar\0";
        let path = pending.path.unwrap_or_else(|| {
            let name = cstr(&block[0..100]);
            let prefix = if ustar { cstr(&block[345..500]) } else { &[] };
            if prefix.is_empty() {
                name.to_vec()
            } else {
                [prefix, b"/", name].concat()
            }
        });
        let link = pending
            .link
            .unwrap_or_else(|| cstr(&block[157..257]).to_vec());
        let size = pending.size.unwrap_or(size);
        let data_size = if kind == TarKind::File { size } else { 0 };
        let mode = number(&block[100..108], at, "mode")?;
        let id = |field: &[u8], name| {
            number(field, at, name).and_then(|n| {
                u32::try_from(n).map_err(|_| TarError::BadNumber {
                    offset: at,
                    field: name,
                })
            })
        };
        let uid = match pending.uid {
            Some(v) => v,
            None => id(&block[108..116], "uid")?,
        };
        let gid = match pending.gid {
            Some(v) => v,
            None => id(&block[116..124], "gid")?,
        };
        let mtime = match pending.mtime {
            Some(v) => v,
            None => i64::try_from(number(&block[136..148], at, "mtime")?).unwrap_or(i64::MAX),
        };
        let (dev_major, dev_minor) = if matches!(kind, TarKind::CharDevice | TarKind::BlockDevice) {
            (
                id(&block[329..337], "devmajor")?,
                id(&block[337..345], "devminor")?,
            )
        } else {
            (0, 0)
        };
        let header = TarHeader {
            offset: at,
            path,
            kind,
            mode: u32::try_from(mode & 0o7777).unwrap_or(0),
            uid,
            gid,
            uname: pending
                .uname
                .unwrap_or_else(|| cstr(&block[265..297]).to_vec()),
            gname: pending
                .gname
                .unwrap_or_else(|| cstr(&block[297..329]).to_vec()),
            mtime,
            size: data_size,
            link,
            dev_major,
            dev_minor,
        };
        let room = self.limit.saturating_sub(self.offset);
        if data_size > room {
            return Err(TarError::SizeTooLarge {
                path: String::from_utf8_lossy(&header.path).into_owned(),
                size: data_size,
                room,
            });
        }
        self.remaining = data_size;
        self.padding = pad(data_size);
        Ok(header)
    }

    /// A reader of the current entry's data: exactly its size, or an error if the stream
    /// ends first.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }

    /// Bytes consumed from the underlying stream so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn read_extension(
        &mut self,
        size: u64,
        limit: u64,
        at: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, TarError> {
        if size > limit {
            return Err(TarError::TooLong {
                offset: at,
                what,
                size,
                limit,
            });
        }
        let len = usize::try_from(size).unwrap_or(0);
        let mut bytes = vec![0u8; len];
        self.fill(&mut bytes, what)?;
        self.skip(pad(size), what)?;
        Ok(bytes)
    }

    /// Reads a whole block; `None` on a clean end of stream at a block boundary.
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, TarError> {
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut block[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(TarError::Io {
                        offset: self.offset,
                        source: e,
                    });
                }
            }
        }
        self.offset = self.offset.saturating_add(got as u64);
        match got {
            0 => Ok(None),
            BLOCK => Ok(Some(block)),
            _ => Err(TarError::Truncated {
                offset: self.offset,
                what: "a header".to_string(),
            }),
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), TarError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(TarError::Truncated {
                        offset: self.offset,
                        what: what.to_string(),
                    });
                }
                Ok(n) => {
                    got += n;
                    self.offset = self.offset.saturating_add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(TarError::Io {
                        offset: self.offset,
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    fn skip(&mut self, mut n: u64, what: &str) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let chunk = usize::try_from(n.min(buf.len() as u64)).unwrap_or(buf.len());
            self.fill(&mut buf[..chunk], what)?;
            n -= chunk as u64;
        }
        Ok(())
    }
}

/// The data of the current entry of a [`TarReader`].
pub struct EntryData<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tar = &mut *self.tar;
        if tar.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(tar.remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = tar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the tar stream ends early, at byte {}, inside an entry's data",
                    tar.offset
                ),
            ));
        }
        tar.offset = tar.offset.saturating_add(n as u64);
        tar.remaining -= n as u64;
        Ok(n)
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// The bytes of a NUL-terminated (or full-width) field.
fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

fn check_sum(block: &[u8; BLOCK], at: u64) -> Result<(), TarError> {
    let stored = number(&block[148..156], at, "checksum")?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    // Some old tars summed signed bytes; GNU tar accepts either, and so do we.
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(TarError::Checksum { offset: at })
    }
}

/// An octal field (spaces and NULs around the digits) or a GNU base-256 field (high bit of
/// the first byte set; negative values refused).
fn number(field: &[u8], at: u64, name: &'static str) -> Result<u64, TarError> {
    let bad = || TarError::BadNumber {
        offset: at,
        field: name,
    };
    if let Some((first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return Err(bad());
        }
        let mut value = u64::from(first & 0x3f);
        for b in rest {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(*b)))
                .ok_or_else(bad)?;
        }
        return Ok(value);
    }
    let text = field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| **b != b' ' && **b != 0);
    let mut value: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(b) {
            return Err(bad());
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(value)
}

fn parse_pax(bytes: &[u8], at: u64, pending: &mut Pending) -> Result<(), TarError> {
    let bad = || TarError::BadPax { offset: at };
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|len| *len > space + 1 && *len <= rest.len())
            .ok_or_else(bad)?;
        let record = &rest[space + 1..len];
        rest = &rest[len..];
        let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
        let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let num = || -> Result<u64, TarError> {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)
        };
        match key {
            b"path" => pending.path = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => pending.size = Some(num()?),
            b"uid" => pending.uid = Some(u32::try_from(num()?).map_err(|_| bad())?),
            b"gid" => pending.gid = Some(u32::try_from(num()?).map_err(|_| bad())?),
            b"uname" => pending.uname = Some(value.to_vec()),
            b"gname" => pending.gname = Some(value.to_vec()),
            b"mtime" => {
                // Fractional seconds are dropped: dpkg keeps whole seconds.
                let whole = value.split(|b| *b == b'.').next().unwrap_or(&[]);
                let secs = std::str::from_utf8(whole)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(bad)?;
                pending.mtime = Some(secs);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ustar header; `link` is the link target for hard and symbolic links.
    fn header(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[157..157 + link.len()].copy_from_slice(link.as_bytes());
        b[100..107].copy_from_slice(b"0000644");
        b[108..115].copy_from_slice(b"0000000");
        b[116..123].copy_from_slice(b"0000000");
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[136..147].copy_from_slice(b"00000000000");
        b[156] = typeflag;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b
    }

    /// A tar of (name, type, data) entries; a link's target is its data.
    pub(crate) fn archive(parts: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, t, data) in parts {
            let (data, link): (&[u8], &str) = if matches!(t, b'1' | b'2') {
                (&[], std::str::from_utf8(data).unwrap())
            } else {
                (data, "")
            };
            out.extend_from_slice(&header(name, *t, data.len() as u64, link));
            out.extend_from_slice(data);
            out.resize(out.len() + pad(data.len() as u64) as usize, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn reads_entries_long_names_and_pax() {
        let long = "./".to_string() + &"d/".repeat(80) + "file";
        let pax = format!("{} path=./pax-name\n", 17 + 2);
        assert_eq!(pax.len(), 19);
        let bytes = archive(&[
            ("./", b'5', b""),
            ("././@LongLink", b'L', format!("{long}\0").as_bytes()),
            ("ignored", b'0', b"hello"),
            ("pax", b'x', pax.as_bytes()),
            ("short", b'0', b"x"),
        ]);
        let mut tar = TarReader::new(bytes.as_slice(), bytes.len() as u64);
        let root = tar.next_header().unwrap().unwrap();
        assert_eq!(
            (root.path.as_slice(), root.kind),
            (&b"./"[..], TarKind::Dir)
        );
        let file = tar.next_header().unwrap().unwrap();
        assert_eq!(file.path, long.as_bytes());
        let mut data = Vec::new();
        tar.data().read_to_end(&mut data).unwrap();
        assert_eq!(data, b"hello");
        let named = tar.next_header().unwrap().unwrap();
        assert_eq!(named.path, b"./pax-name");
        assert!(tar.next_header().unwrap().is_none());
    }

    #[test]
    fn refuses_bad_checksum_truncation_and_oversize() {
        let mut bytes = archive(&[("a", b'0', b"abc")]);
        bytes[0] = b'b';
        let mut tar = TarReader::new(bytes.as_slice(), u64::MAX);
        assert!(matches!(tar.next_header(), Err(TarError::Checksum { .. })));

        let bytes = archive(&[("a", b'0', &[7u8; 600])]);
        let cut = &bytes[..700];
        let mut tar = TarReader::new(cut, u64::MAX);
        tar.next_header().unwrap().unwrap();
        assert!(tar.data().read_to_end(&mut Vec::new()).is_err());

        let mut tar = TarReader::new(bytes.as_slice(), 600);
        assert!(matches!(
            tar.next_header(),
            Err(TarError::SizeTooLarge { .. })
        ));

        let bytes = archive(&[("s", b'S', b"")]);
        let mut tar = TarReader::new(bytes.as_slice(), u64::MAX);
        assert!(matches!(
            tar.next_header(),
            Err(TarError::UnsupportedType { kind: b'S', .. })
        ));
    }

    #[test]
    fn numbers_octal_and_base256() {
        assert_eq!(number(b"0000644 \0", 0, "mode").unwrap(), 0o644);
        assert_eq!(number(b"   12\0", 0, "x").unwrap(), 0o12);
        assert_eq!(number(&[0x80, 0, 0, 1, 0], 0, "x").unwrap(), 256);
        assert!(number(&[0xff, 0xff], 0, "x").is_err());
        assert!(number(b"9", 0, "x").is_err());
        assert!(
            number(
                &[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                0,
                "x"
            )
            .is_err()
        );
    }
}
